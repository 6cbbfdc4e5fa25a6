/*
 * sampler.c: next-token choice. temperature 0 is greedy (argmax, lowest id on
 * ties); otherwise softmax(logits / temperature), then, if top_p < 1, sampling
 * within the smallest set of most probable tokens whose mass reaches top_p.
 * The random stream is xorshift64*, so a seed gives the same text everywhere.
 */
#include "internal.h"

#include <stdlib.h>

typedef struct {
    float p;
    int id;
} candidate;

struct hw_sampler {
    int vocab;
    hw_sampler_params p;
    uint64_t state;
    candidate *cand; /* (V) scratch for top-p */
};

hw_sampler_params hw_sampler_params_default(void) {
    return (hw_sampler_params){.temperature = 1.0f, .top_p = 0.9f, .seed = 0};
}

hw_sampler *hw_sampler_new(int vocab_size, hw_sampler_params p) {
    if (vocab_size <= 0 || p.temperature < 0 || !(p.top_p > 0 && p.top_p <= 1)) {
        hw_fail(HW_ERR_ARG, "sampler: need vocab > 0, temperature >= 0, 0 < top_p <= 1");
        return NULL;
    }
    hw_sampler *s = calloc(1, sizeof *s);
    candidate *cand = malloc((size_t)vocab_size * sizeof *cand);
    if (!s || !cand) {
        free(s);
        free(cand);
        hw_fail(HW_ERR_NOMEM, "sampler: out of memory");
        return NULL;
    }
    s->vocab = vocab_size;
    s->p = p;
    s->state = p.seed ? p.seed : 0x9e3779b97f4a7c15ull; /* xorshift must not start at 0 */
    s->cand = cand;
    return s;
}

void hw_sampler_free(hw_sampler *s) {
    if (!s) return;
    free(s->cand);
    free(s);
}

static float random_unit(hw_sampler *s) { /* in [0, 1) */
    s->state ^= s->state >> 12;
    s->state ^= s->state << 25;
    s->state ^= s->state >> 27;
    return (float)((s->state * 0x2545f4914f6cdd1dull) >> 40) / 16777216.0f;
}

static int by_prob_desc(const void *a, const void *b) {
    const candidate *x = a, *y = b;
    if (x->p != y->p) return x->p < y->p ? 1 : -1;
    return x->id - y->id;
}

int hw_sampler_sample(hw_sampler *s, float *logits) {
    const int V = s->vocab;
    if (s->p.temperature == 0.0f) return hw_argmax(logits, V);
    for (int i = 0; i < V; i++) logits[i] /= s->p.temperature;
    hw_softmax(logits, V);
    float coin = random_unit(s);
    if (s->p.top_p >= 1.0f) {
        float cdf = 0;
        for (int i = 0; i < V; i++) {
            cdf += logits[i];
            if (coin < cdf) return i;
        }
        return V - 1; /* rounding left the sum a little under 1 */
    }
    /* Tokens below (1 - top_p) / (V - 1) cannot be in the nucleus: skip sorting them. */
    const float cutoff = (1.0f - s->p.top_p) / (float)(V > 1 ? V - 1 : 1);
    int n = 0;
    for (int i = 0; i < V; i++)
        if (logits[i] >= cutoff) s->cand[n++] = (candidate){logits[i], i};
    qsort(s->cand, (size_t)n, sizeof *s->cand, by_prob_desc);
    float mass = 0;
    int last = n - 1;
    for (int i = 0; i < n; i++) {
        mass += s->cand[i].p;
        if (mass > s->p.top_p) {
            last = i;
            break;
        }
    }
    float r = coin * mass, cdf = 0;
    for (int i = 0; i <= last; i++) {
        cdf += s->cand[i].p;
        if (r < cdf) return s->cand[i].id;
    }
    return s->cand[last].id;
}

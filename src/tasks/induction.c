/*
 * induction.c: the `induction` task. Every sequence is <bos> then uniformly
 * random tokens t0..t(N-1), in which one segment of random length L in
 * [min_len, max_len] appears twice: first at a random start, again at a random
 * later start. Only an induction circuit predicts the second copy: a
 * previous-token head marks each token with the one before it, and an induction
 * head attends from the current token to the token after its earlier occurrence
 * and copies it. The offset between the copies is random on purpose: at a fixed
 * offset a model learns a positional head ("attend 63 back") instead.
 *
 * Around that scored pair the rest of the sequence alternates random runs (4-16
 * tokens) with further copies of earlier stretches (also of random length and
 * offset), so about half of every sequence rewards induction.
 *
 * Targets: the next token everywhere (a language-modelling loss; the random
 * tokens are unpredictable, the repeat is not). Score: next-token accuracy on the
 * second copy after its first token (the first is random), i.e. predictions made
 * at positions dst .. dst + L - 2.
 *
 * Defaults: N = 256, L in [8, 32], T = 72. Measured with the C trainer (2 layers
 * x 4 heads, d 64, attention-only, batch 32, lr 2e-3): 2000 steps reach 98.7% with
 * a layer-0 previous-token head (0.96) and layer-1 induction heads (0.80-0.91).
 * The `induction` organism (src/train/organisms.c) uses 2 heads a layer instead, with
 * head dropout on layer 1, so that its one previous-token head is essential and
 * its induction heads back each other up (99.3%, previous-token 0.83, induction
 * 0.96 each).
 * What did not work: N = 512 with T = 96 or 128, with one repeat per sequence or
 * these dense copies, lr 2e-3 to 1e-2, weight decay 0 or 0.1, q/k/v/o biases: the
 * loss stayed at the uniform ln N for 1500 steps. (A PyTorch prototype with N = 512
 * reached 96% after 2000 steps of batch 64.)
 */
#include "tasks/task.h"

#include <stdlib.h>
#include <string.h>

static hw_status init(hw_task *t) {
    hw_task_params *p = &t->p;
    if (!p->seq_len) p->seq_len = 72;
    if (!p->n_symbols) p->n_symbols = 256;
    if (!p->min_len) p->min_len = 8;
    if (!p->max_len) p->max_len = 32;
    if (p->n_symbols < 256 || p->n_symbols > 1 << 20)
        return hw_fail(HW_ERR_ARG, "induction: %d random tokens (256 to 2^20)", p->n_symbols);
    if (p->min_len < 2 || p->max_len < p->min_len)
        return hw_fail(HW_ERR_ARG, "induction: segment lengths %d..%d (need 2 <= min <= max)", p->min_len, p->max_len);
    if (p->seq_len < 1 + 2 * p->max_len)
        return hw_fail(HW_ERR_ARG, "induction: a sequence of %d cannot hold two segments of %d", p->seq_len,
                       p->max_len);
    for (int i = 0; i < p->n_symbols; i++)
        if (hw_task_add_symbol(t, "t%d", i) < 0) return HW_ERR_NOMEM;
    return HW_OK;
}

/* Fill [i0, i1) with random runs and, between them, copies of earlier stretches
 * (from anywhere in [1, i)), so most of a sequence can be predicted by induction
 * and the signal that forms the circuit is dense. */
static void fill(const hw_task_params *p, hw_rng *r, int *tok, int i0, int i1) {
    for (int i = i0; i < i1;) {
        int room = i1 - i, before = i - 1;
        if (room >= p->min_len && before >= p->min_len && hw_rng_int(r, 2)) {
            int most = p->max_len < room ? p->max_len : room;
            if (most > before) most = before;
            int L = p->min_len + hw_rng_int(r, most - p->min_len + 1), src = 1 + hw_rng_int(r, i - L);
            memmove(tok + i, tok + src, (size_t)L * sizeof *tok);
            i += L;
        } else {
            int run = 4 + hw_rng_int(r, 13);
            for (int k = 0; k < run && i < i1; k++) tok[i++] = 1 + hw_rng_int(r, p->n_symbols);
        }
    }
}

static void sample(const hw_task *t, hw_rng *r, int *tok, int *tgt, hw_task_layout *lay) {
    const hw_task_params *p = &t->p;
    int T = p->seq_len;
    tok[0] = 0;
    int L = p->min_len + hw_rng_int(r, p->max_len - p->min_len + 1);
    /* The scored segment: first copy at [src, src + L), second at [dst, dst + L). */
    int src = 1 + hw_rng_int(r, T - 2 * L);          /* src <= T - 2L */
    int dst = src + L + hw_rng_int(r, T - L - (src + L) + 1);
    fill(p, r, tok, 1, src);
    for (int i = src; i < src + L; i++) tok[i] = 1 + hw_rng_int(r, p->n_symbols);
    fill(p, r, tok, src + L, dst);
    memcpy(tok + dst, tok + src, (size_t)L * sizeof *tok);
    fill(p, r, tok, dst + L, T);
    for (int i = 0; i + 1 < T; i++) tgt[i] = tok[i + 1];
    tgt[T - 1] = -1;
    if (lay) *lay = (hw_task_layout){src, dst, L};
}

/* A full cache: hw_task_evaluate is the trainer's score of the model it made; a run with
 * a KV-cache policy scores through hw_task_evaluate_hooked in its own context. */
static hw_status evaluate(const hw_task *t, const hw_model *m, uint64_t seed, int n, hw_task_score *out) {
    int T = t->p.seq_len;
    int *tok = malloc((size_t)T * sizeof *tok), *tgt = malloc((size_t)T * sizeof *tgt);
    unsigned char *want = malloc((size_t)T);
    hw_context *c = hw_context_new(m, T);
    hw_status s = tok && tgt && want && c ? HW_OK : hw_fail(HW_ERR_NOMEM, "induction: out of memory");
    int right = 0, total = 0;
    for (int k = 0; k < n && s == HW_OK; k++) {
        hw_task_layout lay;
        hw_task_sample(t, seed, k, tok, tgt, &lay);
        memset(want, 0, (size_t)T);
        for (int i = lay.dst; i < lay.dst + lay.len - 1; i++) want[i] = 1;
        s = hw_task_teacher_forced(m, c, tok, tgt, want, T, &right, &total);
    }
    *out = (hw_task_score){.metric = "next-token accuracy on repeated segments after their first token",
                           .accuracy = total ? (double)right / total : 0, .n = n};
    hw_context_free(c);
    free(tok);
    free(tgt);
    free(want);
    return s;
}

const hw_task_kind hw_task_induction = {"induction", init, sample, evaluate, NULL, NULL};

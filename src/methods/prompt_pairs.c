/*
 * prompt_pairs.c: clean / corrupted prompt pairs and the metric read at their last
 * position (methods.md sections 7 and 9), what activation patching, path patching and
 * CD-T compare: from two prompts files, or generated from a synthetic task.
 */
#include "protocol.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    int *clean, *corrupt;   /* (n) each */
    int n, target, minus;
    char *label;
} pair;

struct hw_prompt_pairs {
    pair *p;
    int n, cap;
};

hw_prompt_pairs *hw_prompt_pairs_new(void) {
    hw_prompt_pairs *p = calloc(1, sizeof *p);
    if (!p) hw_fail(HW_ERR_NOMEM, "prompt pairs: out of memory");
    return p;
}

void hw_prompt_pairs_free(hw_prompt_pairs *p) {
    if (!p) return;
    for (int i = 0; i < p->n; i++) {
        free(p->p[i].clean);
        free(p->p[i].corrupt);
        free(p->p[i].label);
    }
    free(p->p);
    free(p);
}

hw_status hw_prompt_pairs_add(hw_prompt_pairs *p, const int *clean, int n_clean, const int *corrupt,
                              int n_corrupt, int target, int minus, const char *label) {
    if (!p || !clean || !corrupt) return hw_fail(HW_ERR_ARG, "prompt pairs: no pairs or no tokens");
    char name[32];
    snprintf(name, sizeof name, "pair %d", p->n);
    if (!label) label = name;
    if (n_clean != n_corrupt)
        return hw_fail(HW_ERR_ARG, "%s: the clean prompt has %d tokens and the corrupted one %d "
                       "(a pair must have equal lengths)", label, n_clean, n_corrupt);
    if (n_clean < 1) return hw_fail(HW_ERR_ARG, "%s: empty prompts", label);
    if (target < 0 || minus < -1) return hw_fail(HW_ERR_ARG, "%s: no target token (%d) or a bad minus (%d)",
                                                 label, target, minus);
    if (p->n == p->cap) {
        int cap = p->cap ? 2 * p->cap : 16;
        pair *np = realloc(p->p, sizeof *np * (size_t)cap);
        if (!np) return hw_fail(HW_ERR_NOMEM, "prompt pairs: out of memory");
        p->p = np;
        p->cap = cap;
    }
    pair *q = &p->p[p->n];
    q->clean = malloc(sizeof(int) * (size_t)n_clean);
    q->corrupt = malloc(sizeof(int) * (size_t)n_clean);
    q->label = strdup(label);
    if (!q->clean || !q->corrupt || !q->label) {
        free(q->clean);
        free(q->corrupt);
        free(q->label);
        return hw_fail(HW_ERR_NOMEM, "prompt pairs: out of memory");
    }
    memcpy(q->clean, clean, sizeof(int) * (size_t)n_clean);
    memcpy(q->corrupt, corrupt, sizeof(int) * (size_t)n_clean);
    q->n = n_clean;
    q->target = target;
    q->minus = minus;
    p->n++;
    return HW_OK;
}

int hw_prompt_pairs_count(const hw_prompt_pairs *p) { return p ? p->n : 0; }

int hw_prompt_pairs_get(const hw_prompt_pairs *p, int i, const int **clean, const int **corrupt,
                        int *target, int *minus) {
    if (!p || i < 0 || i >= p->n) return -1;
    const pair *q = &p->p[i];
    if (clean) *clean = q->clean;
    if (corrupt) *corrupt = q->corrupt;
    if (target) *target = q->target;
    if (minus) *minus = q->minus;
    return q->n;
}

const char *hw_prompt_pairs_label(const hw_prompt_pairs *p, int i) {
    return p && i >= 0 && i < p->n ? p->p[i].label : NULL;
}

hw_status hw_prompt_pairs_check(const hw_prompt_pairs *p, const hw_model *m) {
    if (!p || !m) return hw_fail(HW_ERR_ARG, "prompt pairs: no pairs or no model");
    if (!p->n) return hw_fail(HW_ERR_ARG, "prompt pairs: none given");
    const int V = m->cfg.vocab_size, C = m->cfg.n_ctx;
    for (int i = 0; i < p->n; i++) {
        const pair *q = &p->p[i];
        if (q->n > C)
            return hw_fail(HW_ERR_ARG, "%s: %d tokens, longer than the model's context (%d)", q->label, q->n, C);
        if (q->target >= V || q->minus >= V)
            return hw_fail(HW_ERR_ARG, "%s: target %d or minus %d outside the vocabulary (%d)", q->label,
                           q->target, q->minus, V);
        for (int k = 0; k < q->n; k++)
            if (q->clean[k] < 0 || q->clean[k] >= V || q->corrupt[k] < 0 || q->corrupt[k] >= V)
                return hw_fail(HW_ERR_ARG, "%s: token at position %d outside the vocabulary (%d)", q->label, k, V);
    }
    return HW_OK;
}

/* ---------------------------------------------------------------- from prompts files */

/* An answer's token, or an error naming where it came from. */
static hw_status answer_token(const hw_tokenizer *t, const char *text, const char *what, int *id) {
    *id = text && *text ? hw_tokenizer_answer_token(t, text) : -1;
    if (*id < 0) return hw_fail(HW_ERR_ARG, "%s '%s' is no token of this tokenizer", what, text ? text : "");
    return HW_OK;
}

static hw_status read_pair(hw_prompt_pairs *pp, const hw_tokenizer *t, const hw_prompts *cl,
                           const hw_prompts *co, int i, const char *target, const char *minus,
                           const char *clean_path, const char *corrupt_path) {
    char where[512];
    snprintf(where, sizeof where, "%s / %s: pair %d", clean_path, corrupt_path, i + 1);
    const char *tt = target ? target : hw_prompts_answer(cl, i, 0);
    const char *mt = minus ? minus : target ? NULL : hw_prompts_answer(cl, i, 1);
    if (!tt) return hw_fail(HW_ERR_ARG, "%s: no target (give --target or a first answer on the clean line)", where);
    int tid, mid = -1;
    hw_status s = answer_token(t, tt, "target", &tid);
    if (!s && mt) s = answer_token(t, mt, "minus", &mid);
    char why[256];
    snprintf(why, sizeof why, "%s", hw_last_error()); /* hw_fail writes the buffer it would read */
    if (s) return hw_fail(s, "%s: %s", where, why);
    int *a = NULL, *b = NULL;
    int na = hw_tokenizer_encode_alloc(t, hw_prompts_text(cl, i), HW_TOK_BOS, &a);
    int nb = na < 0 ? -1 : hw_tokenizer_encode_alloc(t, hw_prompts_text(co, i), HW_TOK_BOS, &b);
    snprintf(why, sizeof why, "%s", hw_last_error());
    if (na < 0 || nb < 0) s = hw_fail(HW_ERR_ARG, "%s: %s", where, why);
    if (!s) s = hw_prompt_pairs_add(pp, a, na, b, nb, tid, mid, where);
    free(a);
    free(b);
    return s;
}

hw_prompt_pairs *hw_prompt_pairs_read(const hw_tokenizer *t, const char *clean_path,
                                      const char *corrupt_path, const char *target,
                                      const char *minus) {
    if (!t || !clean_path || !corrupt_path)
        return hw_fail(HW_ERR_ARG, "prompt pairs: give a tokenizer and two prompts files"), NULL;
    hw_prompts *cl = hw_prompts_read(clean_path, 0);
    hw_prompts *co = cl ? hw_prompts_read(corrupt_path, 0) : NULL;
    hw_prompt_pairs *pp = co ? hw_prompt_pairs_new() : NULL;
    hw_status s = pp ? HW_OK : HW_ERR_ARG;
    if (!s && hw_prompts_count(cl) != hw_prompts_count(co))
        s = hw_fail(HW_ERR_ARG, "%s has %d prompts and %s %d (one pair per line)", clean_path,
                    hw_prompts_count(cl), corrupt_path, hw_prompts_count(co));
    for (int i = 0; !s && i < hw_prompts_count(cl); i++)
        s = read_pair(pp, t, cl, co, i, target, minus, clean_path, corrupt_path);
    hw_prompts_free(cl);
    hw_prompts_free(co);
    if (s) {
        hw_prompt_pairs_free(pp);
        return NULL;
    }
    return pp;
}

/* ---------------------------------------------------------------- from a task */

/* k distinct ids from [lo, hi) not marked in used (marked as drawn); hi - lo >= 2k. */
static void draw_distinct(hw_rng *r, int lo, int hi, int k, unsigned char *used, int *out) {
    for (int i = 0; i < k;) {
        int id = lo + hw_rng_int(r, hi - lo);
        if (used[id]) continue;
        used[id] = 1;
        out[i++] = id;
    }
}

static hw_status induction_pairs(const hw_model *m, int n, int block, uint64_t seed, hw_prompt_pairs *pp) {
    const hw_config *cfg = &m->cfg;
    const int V = cfg->vocab_size, bos = cfg->bos_id >= 0 && cfg->bos_id < V ? 1 : 0;
    const int lo = V <= 12500 ? V / 2 : 10000, hi = V <= 12500 ? V : 12500;
    if (block <= 0) block = (cfg->n_ctx - bos) / 2 < 16 ? (cfg->n_ctx - bos) / 2 : 16;
    const int T = bos + 2 * block - 1;
    if (block < 3 || T > cfg->n_ctx)
        return hw_fail(HW_ERR_ARG, "induction pairs: blocks of %d tokens (at least 3, and %d tokens within "
                       "the context of %d)", block, T, cfg->n_ctx);
    if (hi - lo < 4 * block)
        return hw_fail(HW_ERR_ARG, "induction pairs: %d ids in [%d, %d) for two blocks of %d", hi - lo, lo, hi, block);
    int *cl = malloc(sizeof(int) * (size_t)T * 2), *a = malloc(sizeof(int) * (size_t)block * 2);
    unsigned char *used = malloc((size_t)V);
    hw_status s = cl && a && used ? HW_OK : hw_fail(HW_ERR_NOMEM, "induction pairs: out of memory");
    for (int i = 0; !s && i < n; i++) {
        hw_rng r = {hw_seed_mix(seed, 0x1d0c7105, (uint64_t)i)};
        memset(used, 0, (size_t)V);
        draw_distinct(&r, lo, hi, 2 * block, used, a); /* A = a[0..block), B = a[block..) */
        int *co = cl + T;
        if (bos) cl[0] = co[0] = cfg->bos_id;
        for (int k = 0; k < block; k++) {
            cl[bos + k] = a[k];
            co[bos + k] = a[block + k];
        }
        for (int k = 0; k < block - 1; k++) cl[bos + block + k] = co[bos + block + k] = a[k];
        char label[64];
        snprintf(label, sizeof label, "induction %d", i);
        s = hw_prompt_pairs_add(pp, cl, T, co, T, a[block - 1], a[2 * block - 1], label);
    }
    free(cl);
    free(a);
    free(used);
    return s;
}

/* mcq: held-out sample i up to its answer against its counterfactual, the answer moved
 * 1, 2, 3 letters on in turn (as hw_task_write_prompts pairs them); target the correct
 * label, minus the label the counterfactual names. */
static hw_status mcq_pairs(const hw_model *m, int n, uint64_t seed, hw_prompt_pairs *pp) {
    hw_task_eval_params ep = hw_task_eval_params_default();
    ep.name = "mcq";
    hw_task *t = hw_task_new_for_model(m, &ep);
    if (!t) return HW_ERR_ARG; /* error set */
    const int T = hw_task_seq_len(t);
    int *tok = malloc(sizeof(int) * (size_t)T * 4), *targets = tok + T, *co = tok + 2 * T;
    hw_status s = tok ? HW_OK : hw_fail(HW_ERR_NOMEM, "mcq pairs: out of memory");
    for (int i = 0; !s && i < n; i++) {
        hw_task_layout a, b;
        char label[64];
        snprintf(label, sizeof label, "mcq %d", i);
        s = hw_task_sample(t, seed, i, tok, targets, &a);
        if (!s) s = hw_task_counterfactual(t, tok, -1 - i % 3, co, co + T, &b);
        if (!s) s = hw_prompt_pairs_add(pp, tok, a.dst, co, b.dst, tok[a.dst], co[b.dst], label);
    }
    free(tok);
    hw_task_free(t);
    return s;
}

hw_prompt_pairs *hw_prompt_pairs_task(const hw_model *m, const char *task, int n, int block,
                                      uint64_t seed) {
    if (!m || !task) return hw_fail(HW_ERR_ARG, "prompt pairs: no model or task"), NULL;
    if (n < 1) return hw_fail(HW_ERR_ARG, "prompt pairs: %d samples (at least 1)", n), NULL;
    const int mcq = !strcmp(task, "mcq");
    if (!mcq && strcmp(task, "induction"))
        return hw_fail(HW_ERR_ARG, "prompt pairs: no pairs for task '%s' (induction, mcq)", task), NULL;
    hw_prompt_pairs *pp = hw_prompt_pairs_new();
    if (pp && (mcq ? mcq_pairs(m, n, seed, pp) : induction_pairs(m, n, block, seed, pp))) {
        hw_prompt_pairs_free(pp);
        return NULL;
    }
    return pp;
}

/* ---------------------------------------------------------------- the metric */

static const char *const metric_names[] = {"logit-diff", "prob", "logprob"};

hw_status hw_metric_parse(const char *name, hw_metric *out) {
    for (int i = 0; name && i < 3; i++)
        if (!strcmp(name, metric_names[i])) {
            *out = (hw_metric)i;
            return HW_OK;
        }
    return hw_fail(HW_ERR_ARG, "unknown metric '%s' (logit-diff, prob or logprob)", name ? name : "");
}

const char *hw_metric_name(hw_metric metric) {
    return metric >= 0 && metric <= HW_METRIC_LOGPROB ? metric_names[metric] : "?";
}

double hw_metric_value(hw_metric metric, const float *logits, int V, int target, int minus) {
    if (metric == HW_METRIC_LOGIT_DIFF) return (double)logits[target] - (minus >= 0 ? logits[minus] : 0.0);
    double mx = logits[hw_argmax(logits, V)], z = 0;
    for (int i = 0; i < V; i++) z += exp((double)logits[i] - mx);
    double lp = (double)logits[target] - mx - log(z);
    return metric == HW_METRIC_PROB ? exp(lp) : lp;
}

hw_status hw_prompt_pairs_baselines(const hw_model *m, const hw_prompt_pairs *p, hw_metric metric,
                                    double *clean, double *corrupt) {
    if (!clean || !corrupt) return hw_fail(HW_ERR_ARG, "prompt pairs: nowhere to put the baselines");
    hw_status s = hw_prompt_pairs_check(p, m);
    if (s) return s;
    const int V = m->cfg.vocab_size;
    hw_context *c = hw_context_new(m, 0);
    float *logits = malloc(sizeof(float) * (size_t)V);
    if (!c || !logits) s = c ? hw_fail(HW_ERR_NOMEM, "prompt pairs: out of memory") : HW_ERR_NOMEM;
    for (int i = 0; !s && i < p->n; i++) {
        const pair *q = &p->p[i];
        for (int k = 0; !s && k < 2; k++) {
            hw_context_reset(c);
            s = hw_forward(c, k ? q->corrupt : q->clean, q->n, HW_LOGITS_LAST, logits);
            if (!s) (k ? corrupt : clean)[i] = hw_metric_value(metric, logits, V, q->target, q->minus);
        }
    }
    hw_context_free(c);
    free(logits);
    return s;
}

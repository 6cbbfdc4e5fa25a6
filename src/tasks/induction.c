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
 * Targets: the next token everywhere (a language-modelling loss; the random
 * tokens are unpredictable, the repeat is not). Score: next-token accuracy on the
 * second copy after its first token (the first is random), i.e. predictions made
 * at positions dst .. dst + L - 2.
 *
 * Defaults (as measured with a PyTorch prototype: a 2-layer attention-only model,
 * 4 heads, d 64, reached 96% on the repeat): N = 512, L in [8, 32], T = 128.
 */
#include "tasks/task.h"

#include <stdlib.h>
#include <string.h>

static hw_status init(hw_task *t) {
    hw_task_params *p = &t->p;
    if (!p->seq_len) p->seq_len = 128;
    if (!p->n_symbols) p->n_symbols = 512;
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

static void sample(const hw_task *t, hw_rng *r, int *tok, int *tgt, hw_task_layout *lay) {
    const hw_task_params *p = &t->p;
    int T = p->seq_len;
    tok[0] = 0;
    for (int i = 1; i < T; i++) tok[i] = 1 + hw_rng_int(r, p->n_symbols);
    int L = p->min_len + hw_rng_int(r, p->max_len - p->min_len + 1);
    /* first copy at [src, src + L), second at [dst, dst + L), dst >= src + L */
    int src = 1 + hw_rng_int(r, T - 2 * L);          /* src <= T - 2L */
    int dst = src + L + hw_rng_int(r, T - L - (src + L) + 1);
    memcpy(tok + dst, tok + src, (size_t)L * sizeof *tok);
    for (int i = 0; i + 1 < T; i++) tgt[i] = tok[i + 1];
    tgt[T - 1] = -1;
    if (lay) *lay = (hw_task_layout){src, dst, L};
}

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

const hw_task_kind hw_task_induction = {"induction", init, sample, evaluate};

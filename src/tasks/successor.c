/*
 * successor.c: the `successor` task. A sequence is
 *
 *   <bos> a1 .. an SEP succ(a1) .. succ(an)
 *
 * where the a_i are random items of one ordinal class, chosen per sequence:
 * numbers 1..20, days (cyclic), months (cyclic) or letters a..z; the last
 * number and "z" are never drawn, as they have no successor. n is in
 * [min_len, max_len] (default 8..8: a fixed n lets the copy be positional, so the
 * successor map itself is what must be learned). Only the successors carry a
 * loss. Measured with a PyTorch prototype: the plain "predict the next item of a
 * run" task put the successor map in the MLPs, while this form on an
 * attention-only model put it in one head's OV circuit.
 *
 * Score: next-token accuracy on succ(a1) .. succ(an).
 */
#include "tasks/task.h"

#include <stdlib.h>
#include <string.h>

static const char *const days[] = {"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"};
static const char *const months[] = {"january", "february", "march",     "april",   "may",      "june",
                                     "july",    "august",   "september", "october", "november", "december"};
enum { N_NUMBERS = 20, N_CLASSES = 4 };

typedef struct {
    int first[N_CLASSES], count[N_CLASSES], cyclic[N_CLASSES];
    int sep;
} world;

static hw_status init(hw_task *t) {
    hw_task_params *p = &t->p;
    if (!p->min_len) p->min_len = 8;
    if (!p->max_len) p->max_len = p->min_len;
    if (p->min_len < 1 || p->max_len < p->min_len || p->max_len > 64)
        return hw_fail(HW_ERR_ARG, "successor: items per run %d..%d (1 <= min <= max <= 64)", p->min_len, p->max_len);
    if (!p->seq_len) p->seq_len = 2 * p->max_len + 2;
    if (p->seq_len < 2 * p->max_len + 2)
        return hw_fail(HW_ERR_ARG, "successor: a sequence of %d cannot hold a run of %d and its successors",
                       p->seq_len, p->max_len);
    world *w = calloc(1, sizeof *w);
    if (!w) return hw_fail(HW_ERR_NOMEM, "successor: out of memory");
    t->world = w;
    if ((w->sep = hw_task_add_symbol(t, "SEP")) < 0) return HW_ERR_NOMEM;
    w->first[0] = t->n_sym, w->count[0] = N_NUMBERS;
    for (int i = 1; i <= N_NUMBERS; i++)
        if (hw_task_add_symbol(t, "%d", i) < 0) return HW_ERR_NOMEM;
    w->first[1] = t->n_sym, w->count[1] = 7, w->cyclic[1] = 1;
    for (int i = 0; i < 7; i++)
        if (hw_task_add_symbol(t, "%s", days[i]) < 0) return HW_ERR_NOMEM;
    w->first[2] = t->n_sym, w->count[2] = 12, w->cyclic[2] = 1;
    for (int i = 0; i < 12; i++)
        if (hw_task_add_symbol(t, "%s", months[i]) < 0) return HW_ERR_NOMEM;
    w->first[3] = t->n_sym, w->count[3] = 26;
    for (int i = 0; i < 26; i++)
        if (hw_task_add_symbol(t, "%c", 'a' + i) < 0) return HW_ERR_NOMEM;
    return HW_OK;
}

static void sample(const hw_task *t, hw_rng *r, int *tok, int *tgt, hw_task_layout *lay) {
    const world *w = t->world;
    int T = t->p.seq_len, n = t->p.min_len + hw_rng_int(r, t->p.max_len - t->p.min_len + 1);
    int c = hw_rng_int(r, N_CLASSES), span = w->count[c] - !w->cyclic[c];
    for (int i = 0; i < T; i++) tok[i] = 0, tgt[i] = -1;
    /* Shorter runs leave <bos> padding at the end, with no loss. */
    for (int i = 0; i < n; i++) {
        int k = hw_rng_int(r, span);
        tok[1 + i] = w->first[c] + k;
        tok[2 + n + i] = w->first[c] + (k + 1) % w->count[c];
    }
    tok[1 + n] = w->sep;
    for (int i = 0; i < n; i++) tgt[1 + n + i] = tok[2 + n + i];
    if (lay) *lay = (hw_task_layout){1, 2 + n, n};
}

/* A full cache: hw_task_evaluate is the trainer's score of the model it made; a run with
 * a KV-cache policy scores through hw_task_evaluate_hooked in its own context. */
static hw_status evaluate(const hw_task *t, const hw_model *m, uint64_t seed, int n, hw_task_score *out) {
    return hw_task_evaluate_targets(t, m, seed, n, "next-token accuracy on the successors", out);
}

const hw_task_kind hw_task_successor = {"successor", init, sample, evaluate, NULL, NULL};

/*
 * icl.c: the `icl` task, in-context learning of a function (methods.md section 11, the
 * SITE paper's setting). A sequence is k demonstrations of one function f, then a
 * query:
 *
 *   <bos> x1 -> f(x1) , x2 -> f(x2) , ... , xk -> f(xk) , x -> f(x)
 *
 * with the items x drawn from n_symbols items i0.. (default 16) and f drawn per sequence
 * from a family of functions on them, so the model must read f off the demonstrations:
 *   1 successor (i + 1 mod n)   2 predecessor (i - 1 mod n)   3 copy (i)
 *   4, 5 two fixed random permutations (from world_seed)     6 reversal (n - 1 - i)
 * Every answer f(x_j) carries a loss (after the first demonstration it can be read from
 * the earlier ones, as an induction task's repeats can); k is drawn in [min_len,
 * max_len] (default 0..10) and shorter sequences end in <bos> padding without loss.
 * Without demonstrations f is unknown, so a zero-shot query is right about 1 time in 6.
 * `function` (hw_task_params) fixes f for every sequence (1..6; 0: drawn), which is how
 * SITE builds a task's embeddings and scores it.
 *
 * Layout of a sample: dst = the answer f(x) after the query's "->", src =
 * -1, len = 1.
 */
#include "tasks/task.h"

#include <stdlib.h>
#include <string.h>

enum { N_FUNCTIONS = 6, MAX_ITEMS = 1024, MAX_SHOTS = 64 };

typedef struct {
    int arrow, comma, item0, n;
    int perm[2][MAX_ITEMS]; /* the two fixed permutations of the n items */
} world;

static hw_status init(hw_task *t) {
    hw_task_params *p = &t->p;
    if (!p->n_symbols) p->n_symbols = 16;
    if (!p->max_len && !p->min_len) p->max_len = 10;
    if (p->max_len < p->min_len) p->max_len = p->min_len;
    if (p->n_symbols < 4 || p->n_symbols > MAX_ITEMS)
        return hw_fail(HW_ERR_ARG, "icl: %d items (4 to %d)", p->n_symbols, MAX_ITEMS);
    if (p->min_len < 0 || p->max_len > MAX_SHOTS)
        return hw_fail(HW_ERR_ARG, "icl: %d to %d demonstrations (0 <= min <= max <= %d)", p->min_len, p->max_len,
                       MAX_SHOTS);
    if (p->function < 0 || p->function > N_FUNCTIONS)
        return hw_fail(HW_ERR_ARG, "icl: function %d (1 to %d, or 0: drawn per sequence)", p->function, N_FUNCTIONS);
    const int T0 = 4 * p->max_len + 4; /* <bos>, k x (x -> y ,), x -> y */
    if (!p->seq_len) p->seq_len = T0;
    if (p->seq_len < T0)
        return hw_fail(HW_ERR_ARG, "icl: a sequence of %d cannot hold %d demonstrations and the query (%d)",
                       p->seq_len, p->max_len, T0);
    world *w = calloc(1, sizeof *w);
    if (!w) return hw_fail(HW_ERR_NOMEM, "icl: out of memory");
    t->world = w;
    w->n = p->n_symbols;
    if ((w->arrow = hw_task_add_symbol(t, "->")) < 0 || (w->comma = hw_task_add_symbol(t, ",")) < 0)
        return HW_ERR_NOMEM;
    w->item0 = t->n_sym;
    for (int i = 0; i < w->n; i++)
        if (hw_task_add_symbol(t, "i%d", i) < 0) return HW_ERR_NOMEM;
    hw_rng r = {p->world_seed ^ 0x1c1c1c1cULL};
    for (int k = 0; k < 2; k++) {
        for (int i = 0; i < w->n; i++) w->perm[k][i] = i;
        for (int i = w->n - 1; i > 0; i--) { /* Fisher-Yates */
            int j = hw_rng_int(&r, i + 1), x = w->perm[k][i];
            w->perm[k][i] = w->perm[k][j], w->perm[k][j] = x;
        }
    }
    return HW_OK;
}

static int apply(const world *w, int f, int x) {
    switch (f) {
    case 1: return (x + 1) % w->n;
    case 2: return (x + w->n - 1) % w->n;
    case 3: return x;
    case 4: return w->perm[0][x];
    case 5: return w->perm[1][x];
    default: return w->n - 1 - x;
    }
}

static void sample(const hw_task *t, hw_rng *r, int *tok, int *tgt, hw_task_layout *lay) {
    const world *w = t->world;
    const hw_task_params *p = &t->p;
    const int T = p->seq_len, k = p->min_len + hw_rng_int(r, p->max_len - p->min_len + 1);
    const int f = p->function ? p->function : 1 + hw_rng_int(r, N_FUNCTIONS);
    for (int i = 0; i < T; i++) tok[i] = 0, tgt[i] = -1;
    int i = 1;
    for (int d = 0; d <= k; d++) { /* k demonstrations, then the query */
        int x = hw_rng_int(r, w->n);
        if (d) tok[i++] = w->comma;
        tok[i++] = w->item0 + x;
        tok[i++] = w->arrow;
        tok[i] = w->item0 + apply(w, f, x);
        tgt[i - 1] = tok[i];
        i++;
    }
    if (lay) *lay = (hw_task_layout){-1, i - 1, 1};
}

static hw_status evaluate(const hw_task *t, const hw_model *m, uint64_t seed, int n, hw_task_score *out) {
    return hw_task_evaluate_targets(t, m, seed, n, "every answer f(x) (teacher-forced)", out);
}

const hw_task_kind hw_task_icl = {"icl", init, sample, evaluate, NULL, NULL};

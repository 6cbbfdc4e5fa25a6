/*
 * recall.c: the `recall` task: facts memorised in training, queried plainly and
 * after a conflicting in-context statement (the counterfactual-prefix setting).
 *
 * The world (fixed by world_seed) gives each of S subjects s0.. (S = n_symbols,
 * default 64) one of 16 attributes a0..a15, and a chance k_s drawn uniformly in
 * [0, override] (default 0.6). A sequence is <bos> then statements "s is a ."
 * (T = 25 by default: six statements). A subject's first mention in a sequence
 * takes its memorised attribute, or with probability 1/4 a random other one (a
 * counterfactual); a later mention of the same subject (about one statement in
 * three repeats one) takes the attribute stated before, except that after a
 * counterfactual the repeats keep it only with chance k_s and otherwise revert to
 * the memorised attribute. So the in-context statement is sometimes right and
 * sometimes wrong, and how often depends on the fact (as the paper found the
 * counterfactual followed more for some facts than others). A model that learns
 * the k_s follows a counterfactual prefix for the subjects with k_s > 1/2 (about
 * one in six by default) and is torn for many more, so scaling a head that carries
 * the in-context attribute moves the in-context rate both ways. (When every repeat
 * kept the counterfactual, the organism followed all of them: a rate that scaling
 * could only lower.)
 *
 * Held-out samples take one of two shapes at random (layout dst = the answer):
 *   plain: "<bos> s is a" with a memorised (src = -1)
 *   counterfactual prefix: "<bos> s is a' . s is a'" with a' not the memorised
 *               attribute (src = the first a')
 * each followed by ordinary statements. Scores: accuracy of plain recall, and how
 * often the model follows the counterfactual prefix.
 */
#include "tasks/task.h"

#include <stdlib.h>
#include <string.h>

enum { N_ATTR = 16, MAX_STATEMENTS = 64 };
#define P_COUNTERFACTUAL 0.25
#define P_REPEAT 0.35
#define DEFAULT_OVERRIDE 0.6f

typedef struct {
    int is, dot, subject0, attr0, n_subjects;
    float *keep; /* (n_subjects) chance a repeat follows a counterfactual first mention */
    int attr[]; /* (n_subjects) memorised attribute of each subject, 0..N_ATTR-1 */
} world;

static hw_status init(hw_task *t) {
    hw_task_params *p = &t->p;
    if (!p->seq_len) p->seq_len = 25;
    if (!p->n_symbols) p->n_symbols = 64;
    if (p->override < 0) p->override = DEFAULT_OVERRIDE;
    if (p->seq_len < 9 || p->seq_len > 1 + 4 * MAX_STATEMENTS)
        return hw_fail(HW_ERR_ARG, "recall: a sequence of %d (two to %d statements: 9 to %d tokens)", p->seq_len,
                       MAX_STATEMENTS, 1 + 4 * MAX_STATEMENTS);
    if (!(p->override <= 1))
        return hw_fail(HW_ERR_ARG, "recall: override chance %g (0 to 1)", (double)p->override);
    if (p->n_symbols < 2 || p->n_symbols > 65536)
        return hw_fail(HW_ERR_ARG, "recall: %d subjects (2 to 65536)", p->n_symbols);
    world *w = calloc(1, sizeof *w + (size_t)p->n_symbols * (sizeof(int) + sizeof(float)));
    if (!w) return hw_fail(HW_ERR_NOMEM, "recall: out of memory");
    t->world = w;
    w->n_subjects = p->n_symbols;
    if ((w->is = hw_task_add_symbol(t, "is")) < 0 || (w->dot = hw_task_add_symbol(t, ".")) < 0) return HW_ERR_NOMEM;
    w->subject0 = t->n_sym;
    for (int i = 0; i < w->n_subjects; i++)
        if (hw_task_add_symbol(t, "s%d", i) < 0) return HW_ERR_NOMEM;
    w->attr0 = t->n_sym;
    for (int i = 0; i < N_ATTR; i++)
        if (hw_task_add_symbol(t, "a%d", i) < 0) return HW_ERR_NOMEM;
    hw_rng r = {hw_seed_mix(p->world_seed, 0x46414354ull, 0)};
    for (int i = 0; i < w->n_subjects; i++) w->attr[i] = hw_rng_int(&r, N_ATTR);
    w->keep = (float *)(w->attr + w->n_subjects);
    /* Drawn after the facts, so the facts do not depend on --override. */
    for (int i = 0; i < w->n_subjects; i++) w->keep[i] = (float)(p->override * hw_rng_unit(&r));
    return HW_OK;
}

/* An attribute other than the memorised one. */
static int other_attr(hw_rng *r, int mem) { return (mem + 1 + hw_rng_int(r, N_ATTR - 1)) % N_ATTR; }

/* Statements from position i on, given the (subject, attribute) pairs already stated. */
static void fill(const world *w, hw_rng *r, int *tok, int T, int i, int *subj, int *attr, int n_stated) {
    while (i + 4 <= T) {
        int s = -1;
        if (n_stated > 0 && hw_rng_unit(r) < P_REPEAT) s = subj[hw_rng_int(r, n_stated)];
        if (s < 0) s = hw_rng_int(r, w->n_subjects);
        int a = -1;
        for (int j = 0; j < n_stated; j++)
            if (subj[j] == s) a = attr[j];
        if (a < 0) {
            int later = a = w->attr[s];
            if (hw_rng_unit(r) < P_COUNTERFACTUAL) {
                a = other_attr(r, w->attr[s]);
                if (hw_rng_unit(r) < w->keep[s]) later = a;
            }
            subj[n_stated] = s, attr[n_stated] = later, n_stated++;
        }
        tok[i++] = w->subject0 + s;
        tok[i++] = w->is;
        tok[i++] = w->attr0 + a;
        tok[i++] = w->dot;
    }
    while (i < T) tok[i++] = 0; /* <bos> padding, no loss */
}

static void targets_of(const world *w, const int *tok, int *tgt, int T) {
    /* Subjects come at random: no loss on them (nor on padding). */
    for (int k = 0; k + 1 < T; k++) {
        int nx = tok[k + 1];
        tgt[k] = nx == 0 || (nx >= w->subject0 && nx < w->subject0 + w->n_subjects) ? -1 : nx;
    }
    tgt[T - 1] = -1;
}

/* Training sequences (lay NULL), or a held-out shape drawn from the stream. */
static void sample(const hw_task *t, hw_rng *r, int *tok, int *tgt, hw_task_layout *lay) {
    const world *w = t->world;
    int T = t->p.seq_len, subj[MAX_STATEMENTS], attr[MAX_STATEMENTS], n = 0, i = 1;
    tok[0] = 0;
    if (lay) {
        int s = hw_rng_int(r, w->n_subjects), a = w->attr[s];
        if (hw_rng_int(r, 2) == 0) {
            *lay = (hw_task_layout){-1, 3, 1};
        } else { /* a counterfactual statement first */
            a = other_attr(r, a);
            tok[i++] = w->subject0 + s, tok[i++] = w->is, tok[i++] = w->attr0 + a, tok[i++] = w->dot;
            *lay = (hw_task_layout){3, 7, 1};
        }
        tok[i++] = w->subject0 + s, tok[i++] = w->is, tok[i++] = w->attr0 + a, tok[i++] = w->dot;
        subj[0] = s, attr[0] = a, n = 1;
    }
    fill(w, r, tok, T, i, subj, attr, n);
    targets_of(w, tok, tgt, T);
}

/* A full cache: hw_task_evaluate is the trainer's score of the model it made; a run with
 * a KV-cache policy scores through hw_task_evaluate_hooked in its own context. */
static hw_status evaluate(const hw_task *t, const hw_model *m, uint64_t seed, int n, hw_task_score *out) {
    int T = t->p.seq_len;
    int *tok = malloc((size_t)T * sizeof *tok), *tgt = malloc((size_t)T * sizeof *tgt);
    unsigned char *want = calloc((size_t)T, 1);
    hw_context *c = hw_context_new(m, T);
    hw_status s = tok && tgt && want && c ? HW_OK : hw_fail(HW_ERR_NOMEM, "recall: out of memory");
    int right[2] = {0, 0}, total[2] = {0, 0};
    for (int k = 0; k < n && s == HW_OK; k++) {
        hw_task_layout lay;
        hw_task_sample(t, seed, k, tok, tgt, &lay);
        want[lay.dst - 1] = 1;
        int cf = lay.src >= 0;
        s = hw_task_teacher_forced(m, c, tok, tgt, want, T, &right[cf], &total[cf]);
        want[lay.dst - 1] = 0;
    }
    *out = (hw_task_score){.metric = "plain recall of memorised attributes",
                           .accuracy = total[0] ? (double)right[0] / total[0] : 0,
                           .metric2 = "follows a counterfactual in-context statement",
                           .accuracy2 = total[1] ? (double)right[1] / total[1] : 0,
                           .n = n};
    hw_context_free(c);
    free(tok);
    free(tgt);
    free(want);
    return s;
}

const hw_task_kind hw_task_recall = {"recall", init, sample, evaluate, NULL, NULL};

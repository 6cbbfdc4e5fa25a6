/*
 * task.h: what the synthetic task files share, not part of the public API.
 *
 *   task.c        registry, symbols, seeds, batches, the tokenizer, evaluation helpers
 *   induction.c   retrieval.c   successor.c   recall.c   mcq.c   icl.c   one generator each
 *
 * A generator fills one sequence of T tokens from a random stream; every random
 * choice comes from that stream, so a sequence is a function of (task, stream seed).
 */
#ifndef HW_TASK_INTERNAL_H
#define HW_TASK_INTERNAL_H

#include "internal.h"

typedef struct hw_task_kind hw_task_kind;

struct hw_task {
    const hw_task_kind *kind;
    hw_task_params p;         /* with the task's defaults filled in */
    char **sym;               /* (V) symbols; sym[0] = "<bos>" */
    int n_sym;
    void *world;              /* the task's fixed parts (Markov chain, facts), owned */
};

struct hw_task_kind {
    const char *name;
    /* Fill defaults into t->p, check them, add the symbols and build the world. */
    hw_status (*init)(hw_task *t);
    /* One sequence (T = t->p.seq_len) from r; layout may be NULL. */
    void (*sample)(const hw_task *t, hw_rng *r, int *tokens, int *targets, hw_task_layout *layout);
    /* Score m on n held-out samples of seed. */
    hw_status (*evaluate)(const hw_task *t, const hw_model *m, uint64_t seed, int n, hw_task_score *out);
    /* Optional (NULL: the task has none): hw_task_counterfactual's change of a sequence
     * (T tokens) into out, its targets and layout (may be NULL); error set when tokens is
     * not the task's sequence or `to` is not a valid change. */
    hw_status (*counterfactual)(const hw_task *t, const int *tokens, int to, int *out, int *targets,
                                hw_task_layout *layout);
    /* Optional: a sample's wrong answers (one token each) that a logit difference
     * subtracts, into out (room for n_sym); returns how many. */
    int (*wrong_answers)(const hw_task *t, const int *tokens, const hw_task_layout *layout, int *out);
};

extern const hw_task_kind hw_task_induction, hw_task_retrieval, hw_task_successor, hw_task_recall, hw_task_mcq,
    hw_task_icl;

/* Append a symbol (printf-style); returns its id or -1 (error set). */
int hw_task_add_symbol(hw_task *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The id of a symbol, or -1. */
int hw_task_find_symbol(const hw_task *t, const char *s);

/* Evaluation helpers (task.c). Each works on a fresh context of m per call. */
/* Next-token accuracy of m on tokens (T) at the positions i with targets[i] >= 0
 * and want[i] != 0 (want NULL: every target). Adds to *right and *total. */
hw_status hw_task_teacher_forced(const hw_model *m, hw_context *c, const int *tokens, const int *targets,
                                 const unsigned char *want, int T, int *right, int *total);
/* Greedy continuation: prefill prompt (n), then decode len argmax tokens into out. */
hw_status hw_task_greedy(const hw_model *m, hw_context *c, const int *prompt, int n, int len, int *out);
/* An evaluate for tasks scored on every target: next-token accuracy of m (full cache)
 * over n held-out samples of seed, teacher-forced, described by metric. */
hw_status hw_task_evaluate_targets(const hw_task *t, const hw_model *m, uint64_t seed, int n, const char *metric,
                                   hw_task_score *out);
/* Checks every task's evaluate starts with: the model fits the task. */
hw_status hw_task_check_model(const hw_task *t, const hw_model *m);

#endif

/* task_eval.h: a synthetic task's held-out samples (hw_task_sample) scored with hooks,
 * for mask-test, sweep scale and score retrieval on model organisms. The metrics are
 * the tasks' own (src/tasks): retrieval exact greedy answers; induction next-token
 * accuracy on the repeated segment after its first token; successor next-token
 * accuracy on the successors; recall plain recall and counterfactual override. */
#ifndef HW_TASK_EVAL_H
#define HW_TASK_EVAL_H

#include "score_common.h"

typedef struct {
    const char *name;      /* --task */
    long seed, samples;    /* --task-seed (default 12345), --samples (default 100) */
    double depth;          /* --task-depth (retrieval; default: the task's, random) */
    int depth_set;
    long symbols;          /* --task-symbols (default: induction, the model's vocabulary
                            * less <bos>; others, the task's default) */
    hw_task *task;
} task_opts;

/* Parse --task --task-seed --samples --task-depth --task-symbols: 1 if argv[*i] was one, 0 if not, -1
 * on error (reported). */
int task_flag(task_opts *o, const char *cmd, int argc, char **argv, int *i);
/* Make the task for model m (sequence length = the model's context); non-zero on error. */
int task_open(task_opts *o, const char *cmd, const hw_model *m);
void task_close(task_opts *o);
/* 1 if the task is scored by greedy decoding (masking can be decode-only). */
int task_is_greedy(const task_opts *o);
/* Score the task with hooks: acc = the task's main metric; acc2 = retrieval: mean share
 * of answer tokens right; recall: counterfactual override rate; else acc. -1 on error. */
int task_accuracy(task_opts *o, const char *cmd, const hw_model *m, const hw_tokenizer *t,
                  hw_context *c, const hw_hooks *hooks, double *acc, double *acc2);

#endif

/* score_common.h: what the head-scoring commands share (cli/score_*.c, mask_test.c,
 * sweep.c, heads.c): loading, the per-head output table, progress lines, the flags of
 * the protocols' tasks. */
#ifndef HW_SCORE_COMMON_H
#define HW_SCORE_COMMON_H

#include "cli.h"

/* Load MODEL and, when tok_path is given or want_tok is set, its tokenizer (default as
 * `generate` finds it). Errors are reported for cmd; returns non-zero on failure. */
int score_load(const char *cmd, const char *model_path, const char *tok_path, int want_tok,
               hw_model **m, hw_tokenizer **t);

/* A per-head table: n_col values per query head, (L * H, n_col). */
typedef struct {
    int L, H, n_col;
    const char *const *cols;
    const double *v;
} score_table;
/* Write the table to path: TSV when path ends in ".tsv" (layer, head, columns; in rank
 * order), else JSON in the Retrieval Head layout {"L-H": [columns...]}; atomically. */
int score_table_write(const char *cmd, const score_table *tab, int rank_col, int ascending,
                      const char *path);
/* Print the top n (all if n <= 0) heads by column rank_col to stdout. */
void score_table_print(const score_table *tab, int rank_col, int ascending, int n);
/* The same for a library table, ranked by its rank column (ascending as given). */
void score_head_table_print(const hw_head_table *t, int ascending, int n);
/* An hw_progress_fn printing "<stage> done/total" with score_progress; user is the
 * command's name. Never stops the run. */
int score_progress_counted(const char *stage, int64_t done, int64_t total, void *user);

/* One progress line on stderr (overwritten in place on a terminal). */
void score_progress(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void score_progress_done(void);

int cmd_score_echo_induction(int argc, char **argv);
int cmd_score_retrieval(int argc, char **argv);
int cmd_score_successor(int argc, char **argv);
int cmd_score_attribution(int argc, char **argv);
int cmd_score_dla(int argc, char **argv);


/* The synthetic-task flags of score retrieval, score attribution, mask-test and sweep:
 * --task --task-seed --samples --task-depth --task-symbols, into p (p->name stays NULL
 * without --task). Returns 1 if argv[*i] was one (value consumed), 0 if not, -1 on a bad
 * value (reported). */
int score_task_flag(hw_task_eval_params *p, const char *cmd, int argc, char **argv, int *i);

/* The needle-in-a-haystack flags of score retrieval and mask-test: --needles --haystack
 * (repeatable) --template --lengths --depths --buffer --max-new. */
#define SCORE_MAX_HAYSTACKS 64
typedef struct {
    hw_niah_params p;
    const char *hay[SCORE_MAX_HAYSTACKS];   /* p.haystack_paths points here */
    int given;                              /* one of the flags was given */
} score_niah;
void score_niah_init(score_niah *n);
/* As score_task_flag. */
int score_niah_flag(score_niah *n, const char *cmd, int argc, char **argv, int *i);

/* A hw_progress_fn printing each stage as a progress line; user is the command name. */
int score_progress_fn(const char *stage, int64_t done, int64_t total, void *user);
/* Check output paths (NULL ones skipped) before a long run: parents made, writable;
 * non-zero on error (reported). */
int score_outputs_ok(const char *cmd, const char *const *paths, int n);
int cmd_score(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_heads(int argc, char **argv);
int cmd_mask_test(int argc, char **argv);

#endif

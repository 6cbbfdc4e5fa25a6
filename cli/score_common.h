/* score_common.h: what the head-scoring commands share (cli/score_*.c, mask_test.c,
 * sweep.c, heads.c): the per-head output table, output checks, the flags of the
 * protocols' tasks. */
#ifndef HW_SCORE_COMMON_H
#define HW_SCORE_COMMON_H

#include "cli.h"

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
/* Check output paths (NULL ones skipped) before a long run: parents made, writable;
 * non-zero on error (reported). */
int score_outputs_ok(const char *cmd, const char *const *paths, int n);

/* The synthetic-task flags of score retrieval, score attribution, mask-test and sweep,
 * into an hw_task_eval_params (its name stays NULL without --task). */
#define SCORE_TASK_FLAGS(t)                                                                  \
    {"--task", CLI_STR, &(t)->name}, {"--task-seed", CLI_U64, &(t)->seed, 0, 0x1p62},        \
    {"--samples", CLI_INT, &(t)->samples, 1, 1000000}, {"--task-depth", CLI_FLOAT, &(t)->depth, -1, 1}, \
    {"--task-symbols", CLI_INT, &(t)->n_symbols, 1, 1 << 20}

/* The needle-in-a-haystack flags of score retrieval and mask-test. */
#define SCORE_MAX_HAYSTACKS 64
typedef struct {
    hw_niah_params p;
    const char *hay[SCORE_MAX_HAYSTACKS];   /* p.haystack_paths points here */
    int given;                              /* flags given, but --haystack (p.n_haystacks) */
} score_niah;
void score_niah_init(score_niah *n);
/* --lengths A:B:N into the hw_niah_params at dst. */
int score_lengths_flag(const char *cmd, const char *flag, const char *value, void *dst);
#define SCORE_NIAH_FLAGS(nh)                                                                  \
    {"--needles", CLI_STR, &(nh)->p.needles_path, .n = &(nh)->given},                          \
    {"--template", CLI_STR, &(nh)->p.template_text, .n = &(nh)->given},                        \
    {"--depths", CLI_INT, &(nh)->p.n_depths, 1, 1000, .n = &(nh)->given},                      \
    {"--buffer", CLI_INT, &(nh)->p.buffer, 0, 1 << 24, .n = &(nh)->given},                     \
    {"--max-new", CLI_INT, &(nh)->p.max_new, 1, 100000, .n = &(nh)->given},                    \
    {"--lengths", CLI_FN, &(nh)->p, .fn = score_lengths_flag, .n = &(nh)->given},              \
    {"--haystack", CLI_LIST, (nh)->hay, 0, SCORE_MAX_HAYSTACKS, .n = &(nh)->p.n_haystacks}

#endif

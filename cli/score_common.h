/* score_common.h: what the head-scoring commands share (cli/score_*.c, mask_test.c,
 * sweep.c, heads.c): loading, the per-head output table, progress lines. */
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
/* hw_output_prepare for each non-NULL path, with cmd's error line; non-zero on failure. */
int score_check_outputs(const char *cmd, const char *const *paths, int n);
/* An hw_progress_fn printing "<stage> done/total" with score_progress; user is the
 * command's name. Never stops the run. */
int score_progress_fn(const char *stage, int64_t done, int64_t total, void *user);

/* "L.H" list to heads, with cmd's error line; returns the count or -1. */
int score_parse_heads(const char *cmd, const hw_model *m, const char *text, hw_head *heads,
                      int max);
/* One progress line on stderr (overwritten in place on a terminal). */
void score_progress(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void score_progress_done(void);
/* Token ids of text without BOS, or -1 (error reported); *ids malloc'd. */
int score_encode(const char *cmd, const hw_tokenizer *t, const char *text, int flags, int **ids);
/* The single token for an answer word: text as it encodes after a word (a leading
 * space first, then as is); -1 if neither is one token. */
int score_single_token(const hw_tokenizer *t, const char *text);

int cmd_score_echo_induction(int argc, char **argv);
int cmd_score_retrieval(int argc, char **argv);
int cmd_score_successor(int argc, char **argv);
int cmd_score_attribution(int argc, char **argv);
int cmd_score_dla(int argc, char **argv);

/* A TSV of prompts: each line "prompt<TAB>answer1[<TAB>answer2...]" (at least n_ans
 * answers); "\n" in a prompt stands for a newline. Lines starting with '#' are comments. */
typedef struct {
    char *prompt;
    char *ans[4];
} score_prompt;
int score_read_prompts(const char *cmd, const char *path, int n_ans, score_prompt **out, int *n);
void score_free_prompts(score_prompt *p, int n);
/* The token an answer starts with: the single token for it if there is one, else the
 * first token of its encoding; -1 if it encodes to nothing. */
int score_answer_token(const hw_tokenizer *t, const char *text);

/* Readers of the scorers' input files, apart from their commands so the fuzz targets
 * (tests/fuzz/fuzz_score_files.c) reach them. Each returns non-zero on error (reported).
 * (score successor --tasks FILE: hw_successor_tasks_read in the library.)
 * score retrieval's FILE.trials resume log: every logged trial's key (*done, malloc'd),
 * and the head scores of successful ones appended to s (L x H). A missing file is no
 * trials. */
typedef struct {
    int needle, length, depth;
} retrieval_trial_key;
int retrieval_read_log(const char *cmd, const char *path, int L, int H, hw_head_scores *s,
                       retrieval_trial_key **done, int *n_done);
int cmd_score(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_heads(int argc, char **argv);
int cmd_mask_test(int argc, char **argv);

#endif

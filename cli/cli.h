/* cli.h: what the command files share: the flag table, error and progress lines, a model
 * with its tokenizer, hooks and prompt, and the commands. Each command takes the arguments
 * after its name and returns the exit status: 0, 1 on a runtime error, 2 on a usage error. */
#ifndef HW_CLI_H
#define HW_CLI_H

#include "headwise.h"

#include <stdio.h>   /* what every command file uses */
#include <stdlib.h>
#include <string.h>

int cmd_generate(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_patterns(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_organism(int argc, char **argv);
int cmd_heads(int argc, char **argv);
int cmd_mask_test(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_niah(int argc, char **argv);
int cmd_score_echo_induction(int argc, char **argv);
int cmd_score_retrieval(int argc, char **argv);
int cmd_score_successor(int argc, char **argv);
int cmd_score_attribution(int argc, char **argv);
int cmd_score_dla(int argc, char **argv);
int cmd_duo(int argc, char **argv);
int cmd_patch(int argc, char **argv);
int cmd_cdt(int argc, char **argv);
int cmd_loss(int argc, char **argv);
int cmd_facts(int argc, char **argv);
int cmd_lens(int argc, char **argv);
int cmd_subspace(int argc, char **argv);
int cmd_samples(int argc, char **argv);
int cmd_influence(int argc, char **argv);
int cmd_quantize(int argc, char **argv);

/* A comma-separated list of integers >= 0 (--ids, --ranks), parsed by cli_ints_flag (a
 * CLI_FN for a cli_ints; lens.c). */
#define CLI_MAX_INTS 8192
typedef struct { int v[CLI_MAX_INTS]; int n; } cli_ints;
int cli_ints_flag(const char *cmd, const char *flag, const char *value, void *dst);

/* "headwise <cmd>: <message>" on stderr as one line; returns 1 (cli_usage_error: 2). */
int cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "headwise <cmd>: warning: <message>" on stderr, for what runs but not as asked. */
void cli_warn(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Seconds on the monotonic clock, for rates and ETAs. */
double cli_now(void);

/* One progress line on stderr, "headwise <cmd>: <message>": redrawn in place on a
 * terminal, else a line each; cli_progress_done ends it. */
void cli_progress(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cli_progress_done(void);
/* hw_progress_fn's for the library's runs: each stage as a progress line (the counted one
 * adds "done/total"); user is the command's name. They never stop the run. */
int cli_progress_stage(const char *stage, int64_t done, int64_t total, void *user);
int cli_progress_counted(const char *stage, int64_t done, int64_t total, void *user);

/* ---------------------------------------------------------------- flags (flags.c) */

/* How a flag's value is stored at dst. Numbers must be whole (CLI_INT, CLI_U64) or
 * finite (CLI_FLOAT, CLI_DOUBLE: nan, inf and overflows like 1e400 are refused), and
 * within [lo, hi]. */
typedef enum {
    CLI_STR,    /* const char *: the value */
    CLI_INT,    /* int */
    CLI_U64,    /* uint64_t */
    CLI_FLOAT,  /* float */
    CLI_DOUBLE, /* double */
    CLI_SET,    /* int set to lo; the flag takes no value */
    CLI_CHOICE, /* int set to the value's index in choices, "a|b|c" */
    CLI_LIST,   /* const char *[hi], repeatable; *n counts the values */
    CLI_FN,     /* fn(cmd, flag, value, dst) stores it, or reports and returns the status */
} cli_kind;
typedef int (*cli_flag_fn)(const char *cmd, const char *flag, const char *value, void *dst);
/* A table entry names the fields its kind uses; C makes the rest zero. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
typedef struct {
    const char *name;
    cli_kind kind;
    void *dst;
    double lo, hi;
    const char *choices;
    cli_flag_fn fn;
    int *n;     /* when set, counts the times the flag is given (CLI_LIST: required) */
} cli_flag;
/* Parse argv by flags (ended by {NULL}). -h/--help prints help and returns -1. An argument
 * that is not a flag goes to *pos (one at most; pos NULL: none taken). Otherwise 0, or 2
 * after one line on stderr: "unknown flag 'X' (see headwise CMD --help)", "flag X needs a
 * value", "flag X: 'V' is not an integer in [A, B]", ... */
int cli_parse_flags(const char *cmd, int argc, char **argv, const cli_flag *flags,
                    const char *help, const char **pos);
/* s as a finite number (all of it); 0 on success. */
int cli_number(const char *s, double *out);

/* ---------------------------------------------------------------- a model to run (load.c) */

/* The flags of the commands that run a model on a prompt: -m -z -p --threads --kv and the
 * head interventions (HEADS is "L.H[,L.H...]"; --scale takes HEADS=S). */
#define CLI_MAX_EDITS 32
typedef struct {
    const char *model, *tokenizer, *prompt, *out, *mean_ref;
    const char *kv;         /* --kv POLICY, made into cli_session.kv by cli_load */
    int threads, phase;     /* phase: the hw_phase the interventions act in */
    struct cli_edit {
        int kind;           /* index in --mask-uniform, --zero-output, --scale, --mean-ablate */
        const char *heads;
        float scale;
    } edit[CLI_MAX_EDITS];
    int n_edit;
} cli_model_flags;
int cli_edit_flag(const char *cmd, const char *flag, const char *value, void *model_flags);
#define CLI_LOAD_FLAGS(f) {"-m", CLI_STR, &(f)->model}, {"-z", CLI_STR, &(f)->tokenizer}
/* --kv, for every command whose runs can use a KV-cache policy (not info's own --kv). */
#define CLI_KV_FLAG(f) {"--kv", CLI_STR, &(f)->kv}
#define CLI_KV_HELP                                                                                \
    "  --kv POLICY            the KV cache of every forward pass: full (default);\n"              \
    "                         window[:sink=S,recent=R] each head keeps its S first and R last\n"  \
    "                         positions, the current one counted (default 64, 256);\n"           \
    "                         duo:heads=FILE[,top=F|sparsity=X][,sink=S,recent=R] full heads\n"  \
    "                         from a score, gates or 0/1 mask file, the others a window;\n"      \
    "                         razor[:sink=S,recent=R,compensation=weighted|mean|none,heads=\n"   \
    "                         FILE] RazorAttention; longheads[:chunk=W,heads_len=A,score=\n"   \
    "                         pooled|max] LongHeads: every head reads A positions in chunks\n"  \
    "                         of W it picks, positions re-indexed (default A = the model's\n"   \
    "                         context, W = A/16). The others take chunk=N: prefill N rows at\n" \
    "                         a time; a windowed head sees its whole chunk (DuoAttention)\n"
#define CLI_MODEL_FLAGS(f)                                                                        \
    CLI_LOAD_FLAGS(f), CLI_KV_FLAG(f), {"-p", CLI_STR, &(f)->prompt},                             \
    {"--threads", CLI_INT, &(f)->threads, 1, 1024}, {"--mean-ref", CLI_STR, &(f)->mean_ref},      \
    {"--phase", CLI_CHOICE, &(f)->phase, .choices = "both|prefill|decode"},                       \
    {"--mask-uniform", CLI_FN, (f), .fn = cli_edit_flag}, {"--zero-output", CLI_FN, (f), .fn = cli_edit_flag}, \
    {"--scale", CLI_FN, (f), .fn = cli_edit_flag}, {"--mean-ablate", CLI_FN, (f), .fn = cli_edit_flag}
#define CLI_EDITS_HELP                                                                             \
    "  --mask-uniform HEADS   heads attend uniformly (pre-softmax scores set to 0)\n"              \
    "  --zero-output HEADS    heads' outputs (z) set to 0\n"                                       \
    "  --scale HEADS=S        heads' outputs (equivalently values) times S\n"                      \
    "  --mean-ablate HEADS    heads' outputs replaced by their mean over --mean-ref\n"             \
    "  --mean-ref FILE        reference prompts for --mean-ablate, one per line (a prompts\n"      \
    "                         file: '#' comments, \\n for a newline, text after a tab unused)\n"   \
    "  --phase P              when interventions act: both (default), prefill, decode\n"           \
    "  HEADS is LAYER.HEAD[,LAYER.HEAD...], query-head indices from 0\n"

/* A model, its tokenizer, hooks (a capture, then the interventions' edits), the mean z
 * --mean-ablate reads (kept for the hooks' lifetime) and the -p prompt's tokens (with
 * BOS; T + extra + 1 ints). */
typedef struct {
    hw_model *m;
    hw_tokenizer *t;
    hw_kv_policy *kv;       /* --kv, or NULL: every head full */
    hw_hooks *hooks;
    float *mean_z;
    int *tok, T;
} cli_session;
/* Set --threads, load -m and its tokenizer (-z, else hw_tokenizer_load_for_model) when
 * want_tok or -z, and make --kv's policy (a bad one is a usage error, before any run).
 * Non-zero on error (reported). */
int cli_load(const char *cmd, const cli_model_flags *f, int want_tok, cli_session *s);
/* cli_load with the tokenizer, then hooks with cap (NULL: none) and the interventions, and
 * the prompt (if any) encoded, checked to fit the context with `extra` new tokens. */
int cli_open(const char *cmd, const cli_model_flags *f, hw_capture *cap, int extra, cli_session *s);
void cli_close(cli_session *s);

/* ---------------------------------------------------------------- scoring commands (flags.c) */

/* A head-score file as a table of (score, trials): each head's mean, or its column-th
 * value (0 where it has fewer) with column >= 0, and its number of values; t->values is
 * malloc'd. Non-zero when out of memory (reported). */
int score_trials_table(const char *cmd, const hw_head_scores *s, int column, hw_head_table *t);
/* Print the top n (all if n <= 0) heads of t by its rank column to stdout. */
void score_table_print(const hw_head_table *t, int ascending, int n);
/* Check output paths (NULL ones skipped) before a long run: parents made, writable;
 * non-zero on error (reported). */
int score_outputs_ok(const char *cmd, const char *const *paths, int n);

/* The synthetic-task flags of score retrieval, score attribution, mask-test and sweep,
 * into an hw_task_eval_params (its name stays NULL without --task). */
#define SCORE_TASK_FLAGS(t)                                                                    \
    {"--task", CLI_STR, &(t)->name}, {"--task-seed", CLI_U64, &(t)->seed, 0, 0x1p62},          \
    {"--samples", CLI_INT, &(t)->samples, 1, 1000000}, {"--task-depth", CLI_FLOAT, &(t)->depth, -1, 1}, \
    {"--task-symbols", CLI_INT, &(t)->n_symbols, 1, 1 << 20}
#define SCORE_TASK_HELP                                                                        \
    "  --samples N --task-seed S --task-depth X --task-symbols N   with --task: samples\n"     \
    "                  (default 100), their stream (default 12345), retrieval's needle depth\n" \
    "                  in [0, 1] (default random), the task's symbols (default: its own)\n"

/* The needle-in-a-haystack flags of score retrieval and mask-test, into an hw_niah_params
 * (its haystack_paths must then point at hay); *given counts them but --haystack. */
#define SCORE_MAX_HAYSTACKS 64
int score_lengths_flag(const char *cmd, const char *flag, const char *value, void *niah_params);
#define SCORE_NIAH_FLAGS(np, hay, given)                                                              \
    {"--needles", CLI_STR, &(np)->needles_path, .n = (given)},                                        \
    {"--template", CLI_STR, &(np)->template_text, .n = (given)},                                      \
    {"--depths", CLI_INT, &(np)->n_depths, 1, 1000, .n = (given)},                                    \
    {"--buffer", CLI_INT, &(np)->buffer, 0, 1 << 24, .n = (given)},                                   \
    {"--max-new", CLI_INT, &(np)->max_new, 1, 100000, .n = (given)},                                  \
    {"--lengths", CLI_FN, (np), .fn = score_lengths_flag, .n = (given)},                              \
    {"--haystack", CLI_LIST, (hay), 0, SCORE_MAX_HAYSTACKS, .n = &(np)->n_haystacks}


/* ---------------------------------------------------------------- prompt pairs (pair_flags.c) */

/* The flags of commands over clean/corrupted prompt pairs (patch, patch path, cdt). */
#define PAIRS_HELP                                                                                 \
    "  --clean FILE --corrupt FILE  prompts files, line k of each one pair (equal token lengths);\n" \
    "                  a clean line's answers (after tabs) are its target and minus\n"               \
    "  --task induction  instead: generated pairs, [BOS] A A[:k] vs [BOS] B A[:k], target A[k]\n"   \
    "  --task mcq      an mcq organism's samples against their counterfactuals (the answer\n"     \
    "                  moved 1, 2, 3 letters on in turn), target the label, minus the moved one\n" \
    "  --samples N --seed S --block N   task pairs, their stream and block length (default 20,\n"  \
    "                  1, min(16, (context-1)/2))\n"                                                  \
    "  --metric M      logit-diff (default; target - minus), prob or logprob of the target\n"        \
    "  --target TEXT --minus TEXT   the tokens for every pair (their first token)\n"

typedef struct {
    cli_model_flags f;
    const char *clean, *corrupt, *task, *target, *minus, *metric, *out, *tsv, *html;
    int samples, block, top;
    uint64_t seed;
} pair_flags;

#define PAIR_FLAGS(a)                                                                                \
    CLI_LOAD_FLAGS(&(a)->f), {"--threads", CLI_INT, &(a)->f.threads, 1, 1024},                      \
    {"--clean", CLI_STR, &(a)->clean}, {"--corrupt", CLI_STR, &(a)->corrupt}, {"--task", CLI_STR, &(a)->task}, \
    {"--samples", CLI_INT, &(a)->samples, 1, 100000}, {"--seed", CLI_U64, &(a)->seed, 0, 0x1p62},     \
    {"--block", CLI_INT, &(a)->block, 3, 1 << 20}, {"--metric", CLI_STR, &(a)->metric},                \
    {"--target", CLI_STR, &(a)->target}, {"--minus", CLI_STR, &(a)->minus}, {"-o", CLI_STR, &(a)->out}, \
    {"--tsv", CLI_STR, &(a)->tsv}, {"--top", CLI_INT, &(a)->top, 0, 1 << 30}

/* Flags that must come together, checked before loading anything; the metric parsed. */
int pair_flags_check(const char *cmd, const pair_flags *a, hw_metric *metric);
/* The pairs from the files or the task; NULL (error printed) on failure. */
hw_prompt_pairs *pairs_load(const char *cmd, const pair_flags *a, const cli_session *s);

#endif

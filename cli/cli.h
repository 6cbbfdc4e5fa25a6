/* cli.h: what the command files share: flag parsing helpers and the commands. */
#ifndef HW_CLI_H
#define HW_CLI_H

#include "headwise.h"

/* Each command takes the arguments after its name and returns the exit status. */
int cmd_generate(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_patterns(int argc, char **argv);
int cmd_train(int argc, char **argv);
int cmd_organism(int argc, char **argv);

/* ---------------------------------------------------------------- training (train.c, train_run.c) */

/* What `headwise train` and `headwise organism` run: a task, hw_task_train's
 * parameters (p.checkpoint NULL: OUT/checkpoint.hwt), and what happens after. */
typedef struct {
    const char *task;           /* "induction", ... */
    const char *out_dir;        /* Hugging Face folder written at the end */
    hw_task_params task_params;
    hw_task_train_params p;
    int eval_samples;           /* held-out samples scored at the end */
    int show;                   /* held-out examples printed with the model's answers */
    int threads;                /* 0: all cores */
} cli_train_opts;

/* Parse argv[*i] if it is a training flag (advancing *i): returns 1 when it was one,
 * with *bad set to non-zero on a bad value (already reported). */
int cli_train_flag(const char *cmd, int argc, char **argv, int *i, cli_train_opts *o, int *bad);
/* The help text of the training flags. */
extern const char cli_train_flags_help[];
/* Train, write the folder, evaluate; prints progress on stderr and a JSON summary
 * on stdout. Returns the exit status. */
int cli_train_run(const char *cmd, const cli_train_opts *o);

/* Print "headwise <cmd>: <message>" to stderr as one line; returns 1 (or 2 for usage). */
int cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Seconds on the monotonic clock, for rates and ETAs. */
double cli_now(void);
/* "headwise <cmd>: warning: <message>" on stderr, for what runs but not as asked. */
void cli_warn(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parse the value of flag argv[*i] (advancing *i); non-zero on error (already reported).
 * Numbers must be whole and finite: nan, inf and overflows (1e400) are refused. */
int cli_value(const char *cmd, int argc, char **argv, int *i, const char **out);
int cli_int(const char *cmd, int argc, char **argv, int *i, long lo, long hi, long *out);
int cli_float(const char *cmd, int argc, char **argv, int *i, double lo, double hi, double *out);
/* s as a finite number (all of it); 0 on success. */
int cli_number(const char *s, double *out);

/* Load -m MODEL and its tokenizer (-z, else hw_tokenizer_load_for_model: the model's
 * folder or tokenizer.bin beside a checkpoint); non-zero on error (already reported). */
int cli_load(const char *cmd, const char *model_path, const char *tok_path, hw_model **m,
             hw_tokenizer **t);
/* The tokenizer path hw_tokenizer_path_for_model gives ("" if too long); for the
 * scoring commands until they call hw_tokenizer_load_for_model. */

/* Head intervention flags shared by commands that run a model:
 *   --mask-uniform HEADS  --zero-output HEADS  --scale HEADS=S  --mean-ablate HEADS
 *   --mean-ref FILE (prompts, one per line, for --mean-ablate)  --phase both|prefill|decode
 * HEADS is "L.H[,L.H...]". cli_interventions_flag takes argv[*i] if it is one of
 * them (returns 1, or 2 on error, reported) and 0 if it is not; cli_interventions_add
 * then adds them to hooks once the model is loaded. */
typedef struct cli_interventions cli_interventions;
cli_interventions *cli_interventions_new(void);
void cli_interventions_free(cli_interventions *iv);
int cli_interventions_flag(cli_interventions *iv, const char *cmd, int argc, char **argv, int *i);
int cli_interventions_add(cli_interventions *iv, const char *cmd, const hw_model *m,
                          const hw_tokenizer *t, hw_hooks *hooks);
const char *cli_interventions_help(void);
hw_phase cli_interventions_phase(const cli_interventions *iv);   /* --phase */

/* The flags of commands that run one prompt through a model: -m MODEL, -z TOKENIZER,
 * -p TEXT, -o OUT, --threads N and the intervention flags. cli_model_flag takes
 * argv[*i] if it is one of them (returns 1, or 2 on error, reported) and 0 if not. */
typedef struct {
    const char *model, *tokenizer, *prompt, *out;
    long threads;
    cli_interventions *iv;
} cli_model_flags;
int cli_model_flag(cli_model_flags *f, const char *cmd, int argc, char **argv, int *i);
/* A command's own flags: take argv[*i] (advancing *i past a value) and return 1, or 2
 * on a bad value (reported), or 0 when it is not one of them. */
typedef int (*cli_flag_fn)(const char *cmd, int argc, char **argv, int *i, void *user);
/* Parse the flags of a command that runs a model: `more`'s (asked first; may be NULL),
 * then cli_model_flag's. -h/--help prints help (and the intervention flags' if f->iv)
 * and returns -1; otherwise 0, or the exit status of a bad flag (reported). */
int cli_parse(const char *cmd, int argc, char **argv, cli_model_flags *f, const char *help,
              cli_flag_fn more, void *user);

/* What a command that runs a model holds: the model, its tokenizer, hooks with the
 * capture (if any) and then the intervention flags' edits, and the -p prompt's tokens
 * (with BOS) with room for `extra` + 1 more. */
typedef struct {
    hw_model *m;
    hw_tokenizer *t;
    hw_hooks *hooks;
    int *tok, T;            /* (T + extra + 1) */
} cli_session;
/* Set --threads, load, add cap (NULL: none) and f->iv to the hooks, encode f->prompt
 * (if given) and check that it and `extra` new tokens fit the context. Non-zero on
 * error (reported; s is then closed). */
int cli_open(const char *cmd, const cli_model_flags *f, hw_capture *cap, int extra,
             cli_session *s);
void cli_close(cli_session *s);

#endif

/* niah.h: needle-in-a-haystack trials as the Retrieval Head protocol builds them
 * (methods.md section 1.2), shared by `score retrieval` and `mask-test`. */
#ifndef HW_NIAH_H
#define HW_NIAH_H

#include "score_common.h"

typedef struct {
    char *needle, *question, *real_needle;
    /* Token ids (no BOS), made once by niah_prepare: the needle, the template's part
     * after {context} with {question} filled in, and the answer. */
    int *needle_ids, n_needle_ids, *suffix_ids, n_suffix_ids, *answer_ids, n_answer_ids;
} niah_needle;

#define NIAH_MAX_HAYSTACKS 64

typedef struct {
    const char *cmd;
    /* Set by niah_flag (NULL / 0: the defaults): files and flag values as given. */
    const char *needles_path, *template_text, *lengths_text;
    const char *hay_paths[NIAH_MAX_HAYSTACKS];
    int n_hay_paths;
    long depth_count;
    const hw_model *m;
    const hw_tokenizer *t;
    niah_needle *needles;
    int n_needles;
    int *hay;               /* haystack tokens (no BOS), repeated to the longest length */
    int n_hay;
    char *prefix, *suffix;  /* template around {context}; suffix holds {question} */
    int *prefix_ids, n_prefix_ids;
    int buffer, max_new;
    int *lengths, n_lengths, *depths, n_depths;
} niah;

/* Parse flags shared by both commands: --needles --haystack --template --lengths
 * --depths --buffer --max-new. Returns 1 if argv[*i] was one of them (value consumed),
 * 0 if not, -1 on a bad value (reported). */
int niah_flag(niah *n, int argc, char **argv, int *i);
/* Fill defaults, read the needle and haystack files and tokenize; non-zero on error
 * (reported). */
int niah_prepare(niah *n);
void niah_free(niah *n);

/* The prompt of one trial (malloc'd, BOS first) and the needle span; -1 on error. */
int niah_prompt(const niah *n, int needle, int length, int depth, int **prompt, int *span_start,
                int *span_end);

/* Greedy decoding as the protocol does it: prefill prompt[0, n-1), then feed the last
 * prompt token and decode up to max_new tokens, stopping after a token that prints a
 * newline, or at EOS or BOS. hooks (may be NULL) run in every call; step (may be NULL) is
 * called after each decode step with the generated token. Writes the generated ids to
 * out (max_new) and the text (NUL-terminated, at most text_cap bytes); returns the count
 * or -1 (error reported for cmd). */
typedef int (*niah_step_fn)(int step, int token, int n_keys, void *user);
int niah_greedy(const char *cmd, const hw_model *m, const hw_tokenizer *t, hw_context *c,
                const int *prompt, int n, int max_new, const hw_hooks *hooks, niah_step_fn step,
                void *user, int *out, char *text, size_t text_cap);

#endif

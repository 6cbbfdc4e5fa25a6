/* load.c: a model, its tokenizer, hooks and prompt, as every command that runs a model
 * finds them, and the flags they share. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_load(const char *cmd, const char *model_path, const char *tok_path, hw_model **m,
             hw_tokenizer **t) {
    *t = NULL;
    if (!model_path) return cli_usage_error(cmd, "no model: give -m MODEL");
    if (!(*m = hw_model_load(model_path))) return cli_error(cmd, "%s", hw_last_error());
    int V = hw_model_config(*m)->vocab_size;
    if ((*t = tok_path ? hw_tokenizer_load(tok_path, V) : hw_tokenizer_load_for_model(model_path, V)))
        return 0;
    int rc = cli_error(cmd, "%s%s", hw_last_error(), tok_path ? "" : " (give the tokenizer with -z)");
    hw_model_free(*m);
    *m = NULL;
    return rc;
}

int cli_model_flag(cli_model_flags *f, const char *cmd, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    int r = f->iv ? cli_interventions_flag(f->iv, cmd, argc, argv, i) : 0;
    if (r) return r;
    if (!strcmp(a, "-m")) r = cli_value(cmd, argc, argv, i, &f->model);
    else if (!strcmp(a, "-z")) r = cli_value(cmd, argc, argv, i, &f->tokenizer);
    else if (!strcmp(a, "-p")) r = cli_value(cmd, argc, argv, i, &f->prompt);
    else if (!strcmp(a, "-o")) r = cli_value(cmd, argc, argv, i, &f->out);
    else if (!strcmp(a, "--threads")) r = cli_int(cmd, argc, argv, i, 1, 1024, &f->threads);
    else return 0;
    return r ? 2 : 1;
}

int cli_parse(const char *cmd, int argc, char **argv, cli_model_flags *f, const char *help,
              cli_flag_fn more, void *user) {
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(help, stdout);
            if (f->iv) fputs(cli_interventions_help(), stdout);
            return -1;
        }
        int r = more ? more(cmd, argc, argv, &i, user) : 0;
        if (!r) r = cli_model_flag(f, cmd, argc, argv, &i);
        if (r == 2) return 2;
        if (!r) return cli_usage_error(cmd, "unknown flag '%s' (see headwise %s --help)", a, cmd);
    }
    return 0;
}

/* The prompt's tokens, with room for extra + 1 after them. */
static int encode(const char *cmd, const char *prompt, int extra, cli_session *s) {
    const int n_ctx = hw_model_config(s->m)->n_ctx;
    s->T = hw_tokenizer_encode(s->t, prompt, HW_TOK_BOS, NULL, 0);
    if (s->T < 0) return cli_error(cmd, "%s", hw_last_error());
    if (s->T == 0)
        return cli_error(cmd, "empty prompt and the tokenizer has no BOS token to start from");
    if (s->T + extra > n_ctx)
        return extra ? cli_error(cmd, "the prompt (%d tokens) and %d steps do not fit the context "
                                 "of %d tokens", s->T, extra, n_ctx)
                     : cli_error(cmd, "the prompt has %d tokens; the context holds %d", s->T, n_ctx);
    if (!(s->tok = malloc((size_t)(s->T + extra + 1) * sizeof *s->tok)))
        return cli_error(cmd, "out of memory");
    hw_tokenizer_encode(s->t, prompt, HW_TOK_BOS, s->tok, s->T);
    return 0;
}

int cli_open(const char *cmd, const cli_model_flags *f, hw_capture *cap, int extra,
             cli_session *s) {
    *s = (cli_session){0};
    if (f->threads > 0) hw_set_threads((int)f->threads);
    int rc = cli_load(cmd, f->model, f->tokenizer, &s->m, &s->t);
    if (!rc && !(s->hooks = hw_hooks_new())) rc = cli_error(cmd, "out of memory");
    if (!rc && cap && hw_hooks_add_capture(s->hooks, cap) != HW_OK)
        rc = cli_error(cmd, "%s", hw_last_error());
    if (!rc && f->iv) rc = cli_interventions_add(f->iv, cmd, s->m, s->t, s->hooks);
    if (!rc && f->prompt) rc = encode(cmd, f->prompt, extra, s);
    if (rc) cli_close(s);
    return rc;
}

void cli_close(cli_session *s) {
    free(s->tok);
    hw_hooks_free(s->hooks);
    hw_tokenizer_free(s->t);
    hw_model_free(s->m);
    *s = (cli_session){0};
}

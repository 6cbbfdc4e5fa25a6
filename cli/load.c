/* load.c: a model, its tokenizer, hooks and prompt, as every command that runs a model
 * finds them. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>

int cli_load(const char *cmd, const cli_model_flags *f, int want_tok, cli_session *s) {
    *s = (cli_session){0};
    if (f->threads > 0) hw_set_threads(f->threads);
    if (!f->model) return cli_usage_error(cmd, "no model: give -m MODEL");
    if (!(s->m = hw_model_load(f->model))) return cli_error(cmd, "%s", hw_last_error());
    if (!want_tok && !f->tokenizer) return 0;
    int V = hw_model_config(s->m)->vocab_size;
    if ((s->t = f->tokenizer ? hw_tokenizer_load(f->tokenizer, V) : hw_tokenizer_load_for_model(f->model, V)))
        return 0;
    int rc = cli_error(cmd, "%s%s", hw_last_error(), f->tokenizer ? "" : " (give the tokenizer with -z)");
    cli_close(s);
    return rc;
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

int cli_open(const char *cmd, const cli_model_flags *f, hw_capture *cap, int extra, cli_session *s) {
    int rc = cli_load(cmd, f, 1, s);
    if (rc) return rc;
    if (!(s->hooks = hw_hooks_new())) rc = cli_error(cmd, "out of memory");
    if (!rc && cap && hw_hooks_add_capture(s->hooks, cap) != HW_OK) rc = cli_error(cmd, "%s", hw_last_error());
    if (!rc) rc = cli_edits_add(cmd, f, s);
    if (!rc && f->prompt) rc = encode(cmd, f->prompt, extra, s);
    if (rc) cli_close(s);
    return rc;
}

void cli_close(cli_session *s) {
    free(s->tok);
    free(s->mean_z);
    hw_hooks_free(s->hooks);
    hw_tokenizer_free(s->t);
    hw_model_free(s->m);
    *s = (cli_session){0};
}

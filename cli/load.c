/* load.c: a model and its tokenizer, as every command finds them. */
#include "cli.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

/* A Hugging Face folder holds its own tokenizer; a checkpoint file looks for
 * tokenizer.bin beside it. */
void cli_default_tokenizer(const char *model, char *out, size_t n) {
    struct stat st;
    if (stat(model, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(out, n, "%s", model);
        return;
    }
    const char *slash = strrchr(model, '/');
    int dir = slash ? (int)(slash - model) + 1 : 0;
    snprintf(out, n, "%.*stokenizer.bin", dir, model);
}

int cli_load(const char *cmd, const char *model_path, const char *tok_path, hw_model **m,
             hw_tokenizer **t) {
    char tok_default[4096];
    if (!model_path) return cli_usage_error(cmd, "no model: give -m MODEL");
    if (!tok_path) {
        cli_default_tokenizer(model_path, tok_default, sizeof tok_default);
        tok_path = tok_default;
    }
    *t = NULL;
    if (!(*m = hw_model_load(model_path))) return cli_error(cmd, "%s", hw_last_error());
    if (!(*t = hw_tokenizer_load(tok_path, hw_model_config(*m)->vocab_size))) {
        hw_model_free(*m);
        *m = NULL;
        return cli_error(cmd, "%s", hw_last_error());
    }
    return 0;
}

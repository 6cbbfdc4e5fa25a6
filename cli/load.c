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

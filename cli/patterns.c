/* patterns.c: `headwise patterns`: every head's attention pattern on a prompt,
 * as .npy files and one HTML page of heatmaps. */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char help[] =
    "usage: headwise patterns -m MODEL -p TEXT -o DIR [-z TOKENIZER] [--threads N] [interventions]\n"
    "  writes DIR/patterns.npy (layer, head, query, key), DIR/blocks.L.attn.hook_pattern.npy\n"
    "  (head, query, key) per layer, and DIR/patterns.html (open it in a browser: one heatmap\n"
    "  per head, layers as rows; click one to see it over the tokens)\n";

int cmd_patterns(int argc, char **argv) {
    const char *cmd = "patterns";
    cli_model_flags f = {.iv = cli_interventions_new()};
    int rc = 0;
    for (int i = 0; !rc && i < argc; i++) {
        int r = cli_model_flag(&f, cmd, argc, argv, &i);
        if (r) {
            rc = r == 2 ? 2 : 0;
        } else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(help, stdout);
            fputs(cli_interventions_help(), stdout);
            cli_interventions_free(f.iv);
            return 0;
        } else {
            rc = cli_usage_error(cmd, "unknown flag '%s' (see headwise patterns --help)", argv[i]);
        }
    }
    const char *model_path = f.model, *prompt = f.prompt, *out = f.out;
    cli_interventions *iv = f.iv;
    if (!rc && !prompt) rc = cli_usage_error(cmd, "no prompt: give -p TEXT");
    if (!rc && !out) rc = cli_usage_error(cmd, "no output folder: give -o DIR");
    if (rc) {
        cli_interventions_free(iv);
        return rc;
    }
    if (f.threads > 0) hw_set_threads((int)f.threads);
    hw_model *m = NULL;
    hw_tokenizer *t = NULL;
    hw_hooks *hooks = hw_hooks_new();
    hw_capture *cap = hw_capture_new();
    hw_context *c = NULL;
    int *tok = NULL, T = 0;
    float *all = NULL;
    char **pieces = NULL;
    rc = cli_load(cmd, f.model, f.tokenizer, &m, &t);
    if (!rc) rc = cli_interventions_add(iv, cmd, m, t, hooks);
    const hw_config *cfg = m ? hw_model_config(m) : NULL;
    if (!rc) {
        T = hw_tokenizer_encode(t, prompt, HW_TOK_BOS, NULL, 0);
        if (T < 0) rc = cli_error(cmd, "%s", hw_last_error());
        else if (T > cfg->n_ctx)
            rc = cli_error(cmd, "the prompt has %d tokens; the context holds %d", T, cfg->n_ctx);
    }
    if (!rc) {
        tok = malloc((size_t)T * sizeof *tok);
        c = hw_context_new(m, T);
        if (!tok || !c) rc = cli_error(cmd, "out of memory");
    }
    if (!rc) {
        hw_tokenizer_encode(t, prompt, HW_TOK_BOS, tok, T);
        hw_capture_want(cap, HW_HOOK_PATTERN, -1);
        hw_hooks_add_capture(hooks, cap);
        if (hw_forward_hooked(c, tok, T, HW_LOGITS_NONE, NULL, hooks) != HW_OK)
            rc = cli_error(cmd, "%s", hw_last_error());
    }
    if (!rc && mkdir(out, 0777) != 0 && errno != EEXIST)
        rc = cli_error(cmd, "cannot create %s: %s", out, strerror(errno));
    const int L = cfg ? cfg->n_layer : 0, H = cfg ? cfg->n_head : 0;
    const size_t per_layer = (size_t)H * T * T;
    if (!rc && !(all = malloc(per_layer * L * sizeof *all))) rc = cli_error(cmd, "out of memory");
    char path[4096], name[64];
    for (int l = 0; !rc && l < L; l++) {
        const hw_capture_entry *e = hw_capture_find(cap, HW_HOOK_PATTERN, l, 0);
        memcpy(all + per_layer * l, e->data, per_layer * sizeof *all);
        hw_hook_name(name, sizeof name, HW_HOOK_PATTERN, l);
        snprintf(path, sizeof path, "%s/%s.npy", out, name);
        int64_t shape[3] = {H, T, T};
        if (hw_npy_write(path, e->data, 3, shape) != HW_OK) rc = cli_error(cmd, "%s", hw_last_error());
    }
    snprintf(path, sizeof path, "%s/patterns.npy", out);
    int64_t shape4[4] = {L, H, T, T};
    if (!rc && hw_npy_write(path, all, 4, shape4) != HW_OK) rc = cli_error(cmd, "%s", hw_last_error());
    if (!rc && !(pieces = calloc((size_t)T, sizeof *pieces))) rc = cli_error(cmd, "out of memory");
    for (int i = 0; !rc && i < T; i++) {
        size_t len;
        const char *p = hw_tokenizer_decode(t, i ? tok[i - 1] : -1, tok[i], &len);
        pieces[i] = strndup(p ? p : "", p ? len : 0);
    }
    if (!rc) {
        char title[512];
        snprintf(title, sizeof title, "%s, %d tokens: %.200s", model_path, T, prompt);
        snprintf(path, sizeof path, "%s/patterns.html", out);
        if (hw_patterns_html(path, title, (const char *const *)pieces, T, L, H, all) != HW_OK)
            rc = cli_error(cmd, "%s", hw_last_error());
        else
            printf("%d layers x %d heads over %d tokens: %s/patterns.html, %s/patterns.npy\n", L,
                   H, T, out, out);
    }
    for (int i = 0; pieces && i < T; i++) free(pieces[i]);
    free(pieces);
    free(all);
    free(tok);
    hw_context_free(c);
    hw_capture_free(cap);
    hw_hooks_free(hooks);
    hw_tokenizer_free(t);
    hw_model_free(m);
    cli_interventions_free(iv);
    return rc;
}

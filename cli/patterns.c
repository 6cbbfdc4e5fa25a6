/* patterns.c: `headwise patterns`: every head's attention pattern on a prompt,
 * as .npy files and one HTML page of heatmaps (hw_capture_write_patterns). */
#include "cli.h"

#include <stdio.h>

static const char help[] =
    "usage: headwise patterns -m MODEL -p TEXT -o DIR [-z TOKENIZER] [--threads N] [interventions]\n"
    "  writes DIR/patterns.npy (layer, head, query, key), DIR/blocks.L.attn.hook_pattern.npy\n"
    "  (head, query, key) per layer, and DIR/patterns.html (open it in a browser: one heatmap\n"
    "  per head, layers as rows; click one to see it over the tokens); DIR and its parents\n"
    "  are made first\n" CLI_EDITS_HELP;

int cmd_patterns(int argc, char **argv) {
    const char *cmd = "patterns";
    cli_model_flags f = {0};
    const cli_flag flags[] = {CLI_MODEL_FLAGS(&f), {"-o", CLI_STR, &f.out}, {NULL}};
    int rc = cli_parse_flags(cmd, argc, argv, flags, help, NULL);
    if (!rc && !f.prompt) rc = cli_usage_error(cmd, "no prompt: give -p TEXT");
    if (!rc && !f.out) rc = cli_usage_error(cmd, "no output folder: give -o DIR");
    if (!rc && hw_dir_create(f.out) != HW_OK) rc = cli_error(cmd, "%s", hw_last_error());
    hw_capture *cap = hw_capture_new();
    cli_session s = {0};
    hw_context *c = NULL;
    if (!rc) rc = cap ? cli_open(cmd, &f, cap, 0, &s) : cli_error(cmd, "out of memory");
    if (!rc && (hw_capture_want(cap, HW_HOOK_PATTERN, -1) != HW_OK || !(c = hw_context_new(s.m, s.T)) ||
                hw_forward_hooked(c, s.tok, s.T, HW_LOGITS_NONE, NULL, s.hooks) != HW_OK))
        rc = cli_error(cmd, "%s", hw_last_error());
    if (!rc) {
        const hw_config *cfg = hw_model_config(s.m);
        char title[512];
        snprintf(title, sizeof title, "%s, %d tokens: %.200s", f.model, s.T, f.prompt);
        if (hw_capture_write_patterns(cap, s.t, s.tok, s.T, title, f.out) != HW_OK)
            rc = cli_error(cmd, "%s", hw_last_error());
        else
            printf("%d layers x %d heads over %d tokens: %s/patterns.html, %s/patterns.npy\n",
                   cfg->n_layer, cfg->n_head, s.T, f.out, f.out);
    }
    hw_context_free(c);
    cli_close(&s);
    hw_capture_free(cap);
    return rc < 0 ? 0 : rc;
}

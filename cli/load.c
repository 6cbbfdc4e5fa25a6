/* load.c: a model, its tokenizer, hooks (the head intervention flags) and prompt, as every
 * command that runs a model finds them. */
#include "cli.h"

#include <float.h>
#include <math.h>

int cli_load(const char *cmd, const cli_model_flags *f, int want_tok, cli_session *s) {
    *s = (cli_session){0};
    if (f->threads > 0) hw_set_threads(f->threads);
    if (!f->model) return cli_usage_error(cmd, "no model: give -m MODEL");
    if (!(s->m = hw_model_load(f->model))) return cli_error(cmd, "%s", hw_last_error());
    int rc = 0, V = hw_model_config(s->m)->vocab_size;
    if ((want_tok || f->tokenizer) &&
        !(s->t = f->tokenizer ? hw_tokenizer_load(f->tokenizer, V) : hw_tokenizer_load_for_model(f->model, V)))
        rc = cli_error(cmd, "%s%s", hw_last_error(), f->tokenizer ? "" : " (give the tokenizer with -z)");
    /* A bad --kv is a usage error, found before any run (a razor policy without heads=
     * runs its own selection probe here). */
    if (!rc && f->kv && !(s->kv = hw_kv_policy_parse(s->m, s->t, f->kv)))
        rc = cli_usage_error(cmd, "--kv: %s", hw_last_error());
    if (rc) cli_close(s);
    return rc;
}

enum { EDIT_MASK, EDIT_ZERO, EDIT_SCALE, EDIT_MEAN };
#define MAX_HEADS 4096
#define MAX_LIST 4096 /* bytes of one intervention's head list */

int cli_edit_flag(const char *cmd, const char *flag, const char *v, void *model_flags) {
    static const char *const flags[] = {"--mask-uniform", "--zero-output", "--scale", "--mean-ablate"};
    cli_model_flags *f = model_flags;
    int kind = 0;
    double s = 1;
    while (strcmp(flag, flags[kind])) kind++;
    if (f->n_edit == CLI_MAX_EDITS) return cli_usage_error(cmd, "more than %d interventions", CLI_MAX_EDITS);
    /* cli_edits_add copies the list into a buffer of MAX_LIST bytes. */
    if (strlen(v) >= MAX_LIST)
        return cli_usage_error(cmd, "%s: a head list of %zu bytes (at most %d)", flag, strlen(v), MAX_LIST - 1);
    const char *eq = strrchr(v, '=');
    if (kind == EDIT_SCALE && (!eq || cli_number(eq + 1, &s)))
        return cli_usage_error(cmd, "--scale: '%s' is not HEADS=S with S a finite number (e.g. 4.2=2.0)", v);
    /* A double past float's range would become inf in the hooks. */
    if (fabs(s) > FLT_MAX) return cli_usage_error(cmd, "--scale: %s is out of range", eq + 1);
    f->edit[f->n_edit++] = (struct cli_edit){kind, v, (float)s};
    return 0;
}

/* mean z over the prompts of --mean-ref (a prompts file, hw_prompts_read) into s->mean_z. */
static int mean_from_file(const char *cmd, const char *path, cli_session *s) {
    if (!path) return cli_usage_error(cmd, "--mean-ablate needs --mean-ref FILE");
    hw_prompts *ps = hw_prompts_read(path, 0);
    if (!ps) return cli_error(cmd, "%s", hw_last_error());
    const hw_config *cfg = hw_model_config(s->m);
    int n = hw_prompts_count(ps), rc = 0;
    int **seqs = calloc((size_t)n, sizeof *seqs + sizeof(int)), *lens = seqs ? (int *)(seqs + n) : NULL;
    if (!seqs) rc = cli_error(cmd, "out of memory");
    for (int i = 0; !rc && i < n; i++) {
        lens[i] = hw_tokenizer_encode_alloc(s->t, hw_prompts_text(ps, i), HW_TOK_BOS, &seqs[i]);
        if (lens[i] < 0) rc = cli_error(cmd, "%s: %s", path, hw_last_error());
        else if (lens[i] == 0 || lens[i] > cfg->n_ctx)
            rc = cli_error(cmd, "%s: prompt %d of %d tokens does not fit the context (%d)", path, i + 1,
                           lens[i], cfg->n_ctx);
    }
    if (!rc && !(s->mean_z = malloc(sizeof(float) * cfg->n_layer * cfg->n_head * cfg->head_dim)))
        rc = cli_error(cmd, "out of memory");
    if (!rc && hw_mean_z(s->m, (const int *const *)seqs, lens, n, s->mean_z) != HW_OK)
        rc = cli_error(cmd, "mean z: %s", hw_last_error());
    for (int i = 0; seqs && i < n; i++) free(seqs[i]);
    free(seqs);
    hw_prompts_free(ps);
    return rc;
}

/* The interventions' edits added to s->hooks. */
static int edits_add(const char *cmd, const cli_model_flags *f, cli_session *s) {
    static hw_head heads[MAX_HEADS];
    const hw_phase ph = (hw_phase)f->phase;
    for (int e = 0; e < f->n_edit; e++) {
        char list[MAX_LIST];
        snprintf(list, sizeof list, "%s", f->edit[e].heads);
        if (f->edit[e].kind == EDIT_SCALE) *strrchr(list, '=') = 0;
        int n = hw_heads_parse(s->m, list, heads, MAX_HEADS), rc;
        if (n < 0) return cli_usage_error(cmd, "%s", hw_last_error());
        if (f->edit[e].kind == EDIT_MEAN && !s->mean_z && (rc = mean_from_file(cmd, f->mean_ref, s))) return rc;
        hw_status st = f->edit[e].kind == EDIT_MASK   ? hw_hooks_mask_uniform(s->hooks, heads, n, ph)
                       : f->edit[e].kind == EDIT_ZERO ? hw_hooks_zero_output(s->hooks, heads, n, ph)
                       : f->edit[e].kind == EDIT_SCALE
                           ? hw_hooks_scale(s->hooks, heads, n, f->edit[e].scale, ph)
                           : hw_hooks_mean_ablate(s->hooks, heads, n, s->mean_z, ph);
        if (st != HW_OK) return cli_error(cmd, "%s", hw_last_error());
    }
    return 0;
}

/* The prompt's tokens, with room for extra + 1 after them. */
static int encode(const char *cmd, const char *prompt, int extra, cli_session *s) {
    const int n_ctx = hw_kv_policy_max_positions(s->m, s->kv);
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
    if (!rc) rc = edits_add(cmd, f, s);
    if (!rc && f->prompt) rc = encode(cmd, f->prompt, extra, s);
    if (rc) cli_close(s);
    return rc;
}

void cli_close(cli_session *s) {
    free(s->tok);
    free(s->mean_z);
    hw_kv_policy_free(s->kv);
    hw_hooks_free(s->hooks);
    hw_tokenizer_free(s->t);
    hw_model_free(s->m);
    *s = (cli_session){0};
}

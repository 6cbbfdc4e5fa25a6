/* run.c: `headwise run`: one prompt through a model with captures and head
 * interventions; the top next tokens on stdout, captured tensors as .npy. `headwise
 * patterns`: every head's attention pattern on a prompt, as .npy files and one HTML page
 * of heatmaps (hw_capture_write_patterns).
 *
 * -n counts new tokens after the prompt, chosen greedily (hw_greedy); 0 runs the prompt
 * only. The prompt and the new tokens must fit the context. Each new token but the last
 * is run as a one-token decode step, so -n 0 or 1 has no decode step and --phase decode
 * then changes nothing (said on stderr). */
#include "cli.h"

#include <math.h>

static const char help[] =
    "usage: headwise run -m MODEL -p TEXT [-z TOKENIZER] [--capture HOOK ...] [-n STEPS]\n"
    "                    [--top K] [-o DIR] [--threads N] [--kv POLICY] [interventions]\n"
    "  -m MODEL, -z TOKENIZER   as for generate; -p TEXT  the prompt (BOS is added)\n"
    "  --capture HOOK  save this hook point, e.g. blocks.3.attn.hook_pattern; blocks.*.NAME\n"
    "                  for every layer; repeatable (needs -o)\n"
    "  -n STEPS        then greedily generate STEPS new tokens (default 0); each but the\n"
    "                  last runs as a decode step (hooked too), so --phase decode needs 2\n"
    "  --top K         next tokens to list (default 10)\n"
    "  -o DIR          DIR/NAME.npy per captured point (decode steps as NAME.posP.npy),\n"
    "                  DIR/logits.npy (the next-token logits after the prompt), DIR/tokens.json\n"
    "                  and DIR/index.json listing every file (logits.npy as hook \"logits\",\n"
    "                  with \"kv\", the --kv policy, and \"kv_bytes\", the bytes of KV cache the\n"
    "                  run's context of prompt + STEPS positions held); DIR and its parents\n"
    "                  are made first\n"
    "  --threads N     threads (default: all cores)\n" CLI_KV_HELP CLI_EDITS_HELP;

static const char patterns_help[] =
    "usage: headwise patterns -m MODEL -p TEXT -o DIR [-z TOKENIZER] [--threads N] [--kv POLICY]\n"
    "                         [interventions]\n"
    "  writes DIR/patterns.npy (layer, head, query, key), DIR/blocks.L.attn.hook_pattern.npy\n"
    "  (head, query, key) per layer, and DIR/patterns.html (one heatmap per head, layers as\n"
    "  rows; click one to see it over the tokens); DIR and its parents are made first\n"
    CLI_KV_HELP CLI_EDITS_HELP;

typedef struct {
    const char *captures[256];
    int n_captures, steps, top;
} run_opts;

/* The k likeliest next tokens (ties to the lower id) with their probabilities. */
static void print_top(const hw_tokenizer *t, const float *logits, int V, int prev, int k) {
    double mx = -INFINITY, sum = 0, *d = malloc((size_t)V * sizeof *d);
    int *order = malloc((size_t)V * sizeof *order);
    if (!d || !order) k = 0;
    for (int i = 0; i < V && d; i++) mx = logits[i] > mx ? logits[i] : mx;
    for (int i = 0; i < V && d; i++) sum += exp(logits[i] - mx), d[i] = logits[i];
    if (k) hw_scores_rank(d, V, order);
    printf("rank  token  logit      prob    text\n");
    for (int r = 0; r < k && r < V; r++) {
        size_t len;
        const char *piece = hw_tokenizer_decode(t, prev, order[r], &len);
        printf("%4d  %5d  %9.4f  %.4f  '", r + 1, order[r], logits[order[r]],
               exp(logits[order[r]] - mx) / sum);
        for (size_t b = 0; piece && b < len; b++)
            putchar((unsigned char)piece[b] < 0x20 ? '?' : piece[b]);
        printf("'\n");
    }
    free(d);
    free(order);
}

/* hw_greedy's callback: the table after the prompt, then each new token's text. */
typedef struct {
    const hw_tokenizer *t;
    const int *tok;
    int T, V, top, steps;
    float *first;           /* (V) the logits after the prompt */
} run_state;

static int on_token(int step, int token, const float *logits, void *user) {
    run_state *r = user;
    if (step == 0) {
        memcpy(r->first, logits, (size_t)r->V * sizeof *logits);
        printf("prompt: %d tokens\n", r->T);
        print_top(r->t, logits, r->V, r->tok[r->T - 1], r->top);
        if (r->steps > 0) printf("greedy: ");
    }
    if (r->steps > 0) {
        size_t len;
        const char *piece = hw_tokenizer_decode(r->t, r->tok[r->T + step - 1], token, &len);
        printf("%.*s", (int)len, piece ? piece : "");
    }
    return 0;
}

/* The prompt and -n new tokens (one at least, for the table), then the files. */
static int run(const char *cmd, const run_opts *o, const char *out, cli_session *s,
               const hw_capture *cap) {
    const int V = hw_model_config(s->m)->vocab_size;
    run_state st = {s->t, s->tok, s->T, V, o->top, o->steps, malloc((size_t)V * sizeof(float))};
    hw_greedy_params p = hw_greedy_params_default();
    p.max_new = o->steps > 0 ? o->steps : 1;
    p.stop = 0;
    p.hooks = s->hooks;
    p.on_token = on_token;
    p.user = &st;
    hw_context *c = hw_context_new_kv(s->m, s->T + o->steps, s->kv);
    int rc = !c ? cli_error(cmd, "%s", hw_last_error()) : st.first ? 0 : cli_error(cmd, "out of memory");
    if (!rc && hw_greedy(c, s->t, s->tok, s->T, &p, s->tok + s->T, NULL, 0) < 0)
        rc = cli_error(cmd, "%s", hw_last_error());
    if (!rc && o->steps > 0) printf("\n");
    if (!rc && out &&
        hw_capture_write_npy_dir(cap, s->t, s->tok, s->T + o->steps, st.first, V, s->T - 1, c,
                                 out) != HW_OK)
        rc = cli_error(cmd, "%s", hw_last_error());
    if (!rc && out) printf("wrote %d tensors to %s (index.json)\n", hw_capture_count(cap), out);
    hw_context_free(c);
    free(st.first);
    return rc;
}

int cmd_run(int argc, char **argv) {
    const char *cmd = "run";
    run_opts o = {.top = 10};
    cli_model_flags f = {0};
    const cli_flag flags[] = {
        CLI_MODEL_FLAGS(&f), {"-o", CLI_STR, &f.out}, {"-n", CLI_INT, &o.steps, 0, 1 << 20},
        {"--top", CLI_INT, &o.top, 1, 1000}, {"--capture", CLI_LIST, o.captures, 0, 256, .n = &o.n_captures},
        {NULL}};
    int rc = cli_parse_flags(cmd, argc, argv, flags, help, NULL);
    if (!rc && !f.prompt) rc = cli_usage_error(cmd, "no prompt: give -p TEXT");
    if (!rc && o.n_captures && !f.out) rc = cli_usage_error(cmd, "--capture needs -o DIR");
    if (!rc && f.out && hw_dir_create(f.out) != HW_OK) rc = cli_error(cmd, "%s", hw_last_error());
    if (!rc && o.steps < 2 && f.phase == HW_PHASE_DECODE)
        cli_warn(cmd, "--phase decode with -n %d: no decode step runs (the last new token is "
                 "never run), so the interventions change nothing", o.steps);
    hw_capture *cap = hw_capture_new();
    cli_session s = {0};
    if (!rc) rc = cap ? cli_open(cmd, &f, cap, o.steps, &s) : cli_error(cmd, "out of memory");
    for (int i = 0; !rc && i < o.n_captures; i++)
        if (hw_capture_want_name(cap, s.m, o.captures[i]) != HW_OK)
            rc = cli_usage_error(cmd, "--capture: %s", hw_last_error());
    if (!rc) rc = run(cmd, &o, f.out, &s, cap);
    cli_close(&s);
    hw_capture_free(cap);
    return rc < 0 ? 0 : rc;
}

int cmd_patterns(int argc, char **argv) {
    const char *cmd = "patterns";
    cli_model_flags f = {0};
    const cli_flag flags[] = {CLI_MODEL_FLAGS(&f), {"-o", CLI_STR, &f.out}, {NULL}};
    int rc = cli_parse_flags(cmd, argc, argv, flags, patterns_help, NULL);
    if (!rc && !f.prompt) rc = cli_usage_error(cmd, "no prompt: give -p TEXT");
    if (!rc && !f.out) rc = cli_usage_error(cmd, "no output folder: give -o DIR");
    if (!rc && hw_dir_create(f.out) != HW_OK) rc = cli_error(cmd, "%s", hw_last_error());
    hw_capture *cap = hw_capture_new();
    cli_session s = {0};
    hw_context *c = NULL;
    if (!rc) rc = cap ? cli_open(cmd, &f, cap, 0, &s) : cli_error(cmd, "out of memory");
    /* The page shows one (T, T) pattern per head: a prefill in chunks gives pieces. */
    if (!rc && hw_kv_policy_chunk(s.kv) > 0 && hw_kv_policy_chunk(s.kv) < s.T)
        rc = cli_usage_error(cmd, "--kv %s: the patterns need the prompt's %d tokens in one prefill "
                             "(chunk=%d is less)", hw_kv_policy_name(s.kv), s.T, hw_kv_policy_chunk(s.kv));
    if (!rc && (hw_capture_want(cap, HW_HOOK_PATTERN, -1) != HW_OK || !(c = hw_context_new_kv(s.m, s.T, s.kv)) ||
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

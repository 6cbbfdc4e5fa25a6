/* loss.c: `headwise loss`: the next-token loss of a text as the model reads it in one
 * context, under a KV-cache policy and interventions (hw_text_loss). A text shorter
 * than --tokens is repeated, as the needle-in-a-haystack trials repeat their haystack;
 * past the model's context this is how a long-context method (LongHeads) is judged
 * against full attention on the same tokens. */
#include "cli.h"

#include <math.h>

static const char help[] =
    "usage: headwise loss -m MODEL (--text FILE | -p TEXT) [--tokens N] [--span S] [--kv POLICY]\n"
    "                     [--chunk N] [--greedy K] [-o LOSSES.npy] [interventions]\n"
    "  --text FILE   the text (UTF-8), BOS first; repeated (without BOS) up to --tokens\n"
    "  -p TEXT       the text on the command line instead\n"
    "  --tokens N    tokens to read (default: the text's own; past the model's context only\n"
    "                for rotary-position models)\n"
    "  --span S      mean loss per span of S positions (default: the model's context)\n"
    "  --chunk N     prefill rows per forward call (default 512)\n"
    "  -o FILE       every position's loss, (N - 1) float32 .npy\n"
    "  --greedy K    then K tokens decoded greedily after the text, printed\n"
    "  --threads N   threads (default: all cores)\n" CLI_KV_HELP CLI_EDITS_HELP;

/* The greedy tokens after the text's last one, as text, on one line. */
static void print_greedy(const cli_session *s, int last, const int *g, int n) {
    printf("greedy:");
    for (int i = 0; i < n; i++) {
        size_t len = 0;
        const char *piece = hw_tokenizer_decode(s->t, i ? g[i - 1] : last, g[i], &len);
        for (size_t k = 0; piece && k < len; k++) putchar(piece[k] == '\n' ? ' ' : piece[k]);
    }
    printf("\n");
}

static int report(const char *cmd, const cli_session *s, const float *loss, int n, int span, const char *out) {
    if (out && hw_npy_write(out, loss, 1, (const int64_t[]){n - 1}) != HW_OK)
        return cli_error(cmd, "%s", hw_last_error());
    printf("positions\tmean loss\n");
    double all = 0.0;
    for (int a = 0; a < n - 1; a += span) {
        const int b = a + span < n - 1 ? a + span : n - 1;
        double sum = 0.0;
        for (int i = a; i < b; i++) sum += loss[i];
        all += sum;
        printf("%d-%d\t%.4f\n", a, b - 1, sum / (b - a));
    }
    printf("all %d\t%.4f\t(%s)\n", n - 1, all / (n - 1), s->kv ? hw_kv_policy_name(s->kv) : "full");
    return 0;
}

int cmd_loss(int argc, char **argv) {
    const char *cmd = "loss", *text_path = NULL, *out = NULL;
    int n = 0, span = 0, n_greedy = 0;
    cli_model_flags f = {0};
    hw_text_loss_params p = hw_text_loss_params_default();
    const cli_flag flags[] = {
        CLI_MODEL_FLAGS(&f), {"--text", CLI_STR, &text_path}, {"--tokens", CLI_INT, &n, 2, 1 << 26},
        {"--span", CLI_INT, &span, 1, 1 << 26}, {"--chunk", CLI_INT, &p.chunk, 1, 1 << 26},
        {"--greedy", CLI_INT, &n_greedy, 0, 1 << 20}, {"-o", CLI_STR, &out}, {NULL}};
    cli_session s = {0};
    int rc = cli_parse_flags(cmd, argc, argv, flags, help, NULL), *tok = NULL;
    if (!rc && !text_path == !f.prompt) rc = cli_usage_error(cmd, "give the text with --text FILE or -p TEXT");
    if (!rc) rc = score_outputs_ok(cmd, (const char *const[]){out}, 1);
    const char *prompt = f.prompt;
    f.prompt = NULL; /* cli_open must not check it against the context: hw_text_loss does */
    if (!rc) rc = cli_open(cmd, &f, NULL, 0, &s);
    if (!rc && (n = hw_text_loss_tokens(s.t, prompt, text_path, n, &tok)) < 0)
        rc = cli_error(cmd, "%s", hw_last_error());
    float *loss = !rc ? malloc(sizeof(float) * (size_t)n + sizeof(int) * (size_t)n_greedy) : NULL;
    if (!rc && !loss) rc = cli_error(cmd, "out of memory");
    p.kv = s.kv, p.hooks = s.hooks, p.n_greedy = n_greedy, p.greedy = loss ? (int *)(loss + n) : NULL;
    if (!rc && hw_text_loss(s.m, tok, n, &p, cli_progress_counted, (void *)cmd, loss) != HW_OK)
        rc = cli_error(cmd, "%s", hw_last_error());
    cli_progress_done();
    if (!rc) rc = report(cmd, &s, loss, n, span ? span : hw_model_config(s.m)->n_ctx, out);
    if (!rc && n_greedy) print_greedy(&s, tok[n - 1], p.greedy, n_greedy);
    free(loss), free(tok);
    cli_close(&s);
    return rc < 0 ? 0 : rc;
}

/* generate.c: `headwise generate`: text from a model and a prompt, optionally with
 * heads edited (the intervention flags, as `headwise run`).
 *
 * -n counts positions as llama2.c's run.c does: the prompt (with BOS) included, so
 * -n 256 after a 6-token prompt makes up to 251 new tokens; 0 is the whole context. A
 * value past the context is capped at it, and one below the prompt's length still makes
 * one new token; either is said once on stderr. */
#include "cli.h"

#include <time.h>

static const char help[] =
    "usage: headwise generate -m MODEL [-z TOKENIZER] [-p PROMPT] [-n STEPS] [-t TEMP]\n"
    "                         [--top-p P] [-s SEED] [--threads N] [--kv POLICY] [interventions]\n"
    "  -m MODEL      llama2.c checkpoint (.bin) or Hugging Face model folder\n"
    "  -z TOKENIZER  tokenizer.bin, tokenizer.json, encoder.json or a folder (default: the\n"
    "                model's folder, or tokenizer.bin beside a .bin checkpoint)\n"
    "  -p PROMPT     text to continue (default: empty, start from BOS)\n"
    "  -n STEPS      positions to run, prompt included; 0: the whole context (default 256;\n"
    "                capped at the context, raised to the prompt's length, said on stderr)\n"
    "  -t TEMP       temperature, 0 greedy (default 1.0); --top-p P  nucleus threshold in\n"
    "                (0, 1] (default 0.9); -s SEED  random seed (default: from the clock)\n"
    "  --threads N   threads (default: all cores)\n" CLI_KV_HELP CLI_EDITS_HELP;

/* Pieces are printed as they come; a lone ASCII control byte (other than
 * whitespace) is dropped so raw byte tokens cannot garble a terminal. */
static int print_piece(const char *piece, size_t len, void *user) {
    unsigned char b = len == 1 ? (unsigned char)piece[0] : 0;
    if (len == 1 && ((b < 0x20 && b != '\n' && b != '\t' && b != '\r') || b == 0x7f)) return 0;
    fwrite(piece, 1, len, stdout);
    fflush(stdout);
    (*(long *)user)++;
    return 0;
}

static int generate(const char *cmd, const cli_session *s, hw_generate_params p, int seed, const char *prompt) {
    const int n_ctx = hw_kv_policy_max_positions(s->m, s->kv);
    if (p.n_steps > n_ctx)
        cli_warn(cmd, "-n %d is more than the context: running %d positions", p.n_steps, n_ctx);
    else if (p.n_steps > 0 && p.n_steps < s->T)
        cli_warn(cmd, "-n %d is less than the prompt's %d tokens: running %d positions (one new "
                 "token)", p.n_steps, s->T, s->T);
    p.sampler.seed = seed >= 0 ? (uint64_t)seed : (uint64_t)time(NULL);
    p.hooks = s->hooks;
    p.kv = s->kv;
    long n_generated = 0;
    double t0 = cli_now();
    hw_status st = hw_generate(s->m, s->t, prompt, p, print_piece, &n_generated);
    double secs = cli_now() - t0;
    fflush(stdout);
    if (st != HW_OK) return cli_error(cmd, "%s", hw_last_error());
    printf("\n");
    fflush(stdout);
    if (n_generated > 0 && secs > 0)
        fprintf(stderr, "%ld pieces in %.2f s, %.1f tok/s\n", n_generated, secs, (double)n_generated / secs);
    return 0;
}

int cmd_generate(int argc, char **argv) {
    const char *cmd = "generate";
    hw_generate_params p = hw_generate_params_default();
    int seed = -1;
    cli_model_flags f = {.prompt = ""};   /* hw_generate_params_default: -n 256, -t 1, --top-p 0.9 */
    const cli_flag flags[] = {
        CLI_MODEL_FLAGS(&f), {"-n", CLI_INT, &p.n_steps, 0, 1 << 30},
        {"-t", CLI_FLOAT, &p.sampler.temperature, 0, 100}, {"--top-p", CLI_FLOAT, &p.sampler.top_p, 1e-9, 1},
        {"-s", CLI_INT, &seed, 0, 0x7fffffff}, {NULL}};
    cli_session s = {0};
    int rc = cli_parse_flags(cmd, argc, argv, flags, help, NULL);
    if (!rc) rc = cli_open(cmd, &f, NULL, 0, &s);
    if (!rc) rc = generate(cmd, &s, p, seed, f.prompt);
    cli_close(&s);
    return rc < 0 ? 0 : rc;
}

/* generate.c: `headwise generate`: text from a model and a prompt. */
#include "cli.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static const char help[] =
    "usage: headwise generate -m MODEL [-z TOKENIZER] [-p PROMPT] [-n STEPS] [-t TEMP]\n"
    "                         [--top-p P] [-s SEED] [--threads N]\n"
    "  -m MODEL      llama2.c checkpoint (.bin) or Hugging Face model folder\n"
    "  -z TOKENIZER  tokenizer.bin, tokenizer.json, encoder.json or a folder (default: the\n"
    "                model's folder, or tokenizer.bin beside a .bin checkpoint)\n"
    "  -p PROMPT     text to continue (default: empty, start from BOS)\n"
    "  -n STEPS      positions to run, prompt included (default 256, at most the context)\n"
    "  -t TEMP       temperature; 0 is greedy (default 1.0)\n"
    "  --top-p P     nucleus sampling threshold in (0, 1] (default 0.9)\n"
    "  -s SEED       random seed (default: from the clock)\n"
    "  --threads N   threads (default: all cores)\n";

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

int cmd_generate(int argc, char **argv) {
    const char *cmd = "generate", *model_path = NULL, *tok_path = NULL, *prompt = "";
    long steps = 256, seed = -1, threads = 0;
    double temp = 1.0, top_p = 0.9;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int bad = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(help, stdout);
            return 0;
        } else if (!strcmp(a, "-m")) bad = cli_value(cmd, argc, argv, &i, &model_path);
        else if (!strcmp(a, "-z")) bad = cli_value(cmd, argc, argv, &i, &tok_path);
        else if (!strcmp(a, "-p")) bad = cli_value(cmd, argc, argv, &i, &prompt);
        else if (!strcmp(a, "-n")) bad = cli_int(cmd, argc, argv, &i, 0, 1L << 30, &steps);
        else if (!strcmp(a, "-t")) bad = cli_float(cmd, argc, argv, &i, 0, 100, &temp);
        else if (!strcmp(a, "--top-p")) bad = cli_float(cmd, argc, argv, &i, 1e-9, 1, &top_p);
        else if (!strcmp(a, "-s")) bad = cli_int(cmd, argc, argv, &i, 0, 0x7fffffffL, &seed);
        else if (!strcmp(a, "--threads")) bad = cli_int(cmd, argc, argv, &i, 1, 1024, &threads);
        else return cli_usage_error(cmd, "unknown flag '%s' (see headwise generate --help)", a);
        if (bad) return bad;
    }
    if (threads > 0) hw_set_threads((int)threads);
    hw_model *m;
    hw_tokenizer *t;
    int rc = cli_load(cmd, model_path, tok_path, &m, &t);
    if (rc) return rc;
    hw_generate_params p = hw_generate_params_default();
    p.n_steps = (int)steps;
    p.sampler.temperature = (float)temp;
    p.sampler.top_p = (float)top_p;
    p.sampler.seed = seed >= 0 ? (uint64_t)seed : (uint64_t)time(NULL);
    long n_generated = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    hw_status s = hw_generate(m, t, prompt, p, print_piece, &n_generated);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (s != HW_OK) {
        fflush(stdout);
        rc = cli_error(cmd, "%s", hw_last_error());
    } else {
        printf("\n");
        fflush(stdout);
        double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
        if (n_generated > 0 && secs > 0)
            fprintf(stderr, "%ld pieces in %.2f s, %.1f tok/s\n", n_generated, secs,
                    (double)n_generated / secs);
    }
    hw_tokenizer_free(t);
    hw_model_free(m);
    return rc;
}

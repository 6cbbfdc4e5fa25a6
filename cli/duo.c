/* duo.c: `headwise duo train`: DuoAttention's gates learned on a frozen model
 * (methods.md 2.1-2.2, hw_duo_train_run), written as duo-attention's pattern folder. */
#include "cli.h"

static const char help[] =
    "usage: headwise duo train -m MODEL -o DIR [flags]\n"
    "Learn one DuoAttention gate per (layer, KV head) with the model frozen: each step\n"
    "distils the full model's final hidden states on the answer positions into the mixed\n"
    "model alpha * full + (1 - alpha) * streaming attention, plus lambda * mean |alpha|.\n"
    "Writes DIR/full_attention_heads.tsv (L lines of KV-head gates in [0, 1]) and\n"
    "DIR/config.json in duo-attention's layout (their load_attn_pattern reads it; so does\n"
    "--kv duo:heads=DIR/full_attention_heads.tsv). Gates per layer go to stdout.\n"
    "  -m MODEL            the model (F32); -z TOKENIZER  its tokenizer (text data)\n"
    "  -o DIR              output folder (created if missing)\n"
    "  --task NAME         a model organism's task (its own needles and questions); default:\n"
    "                      the task training.json in MODEL names, else text passkeys\n"
    "  --haystack FILE     text: haystack (default data/haystack/stories.txt)\n"
    "  --steps N           optimizer steps (default 2000, the paper's)\n"
    "  --lr X              AdamW peak learning rate (default 0.02); warm-up over the first\n"
    "                      fifth, decay over the last fifth, floored at 0.1 x\n"
    "  --lambda X          weight of mean |alpha| (default 0.05)\n"
    "  --sink N, --recent N  streaming keys in training (default: seq_len / 16 and / 8,\n"
    "                      at most the paper's 128 and 256)\n"
    "  --seq-len N         tokens per sequence (default: the model's context)\n"
    "  --batch N           sequences per step (default: text 1; a task 512 / seq_len)\n"
    "  --passkeys N, --passkey-words N  text: needles per sequence (default seq_len / 256,\n"
    "                      1 to 10), words per passkey (default seq_len / 128, 2 to 32)\n"
    "  --seed S            data seed (default 42)\n"
    "  --threads N         threads (default: all cores)\n";

typedef struct {
    cli_model_flags f;
    const char *out;
    hw_duo_train_params p;
} duo_args;

/* The organism's task from training.json unless --task was given; 0, or a reported error. */
static int find_task(const char *cmd, duo_args *a, char *buf, size_t cap) {
    if (a->p.task) return 0;
    int k = hw_organism_task_name(a->f.model, buf, cap);
    if (k < 0) return cli_error(cmd, "%s", hw_last_error());
    if (k > 0) {
        a->p.task = buf;
        fprintf(stderr, "headwise %s: model organism of task %s: its own needles\n", cmd, buf);
    }
    return 0;
}

static void print_result(const hw_duo_train_result *r, const char *dir) {
    int L, Hk, steps;
    const float *g = hw_duo_train_gates(r, &L, &Hk), *loss = hw_duo_train_losses(r, &steps);
    const float *dist = hw_duo_train_distill(r, NULL);
    const hw_duo_train_params *p = hw_duo_train_settings(r);
    printf("# DuoAttention gates (%d layers x %d KV heads), %d steps of %d x %d tokens, sink %d, "
           "recent %d, %.1f s; loss %.5g -> %.5g (distill %.5g -> %.5g)\n",
           L, Hk, steps, p->batch, p->seq_len, p->sink, p->recent, hw_duo_train_seconds(r), loss[0],
           loss[steps - 1], dist[0], dist[steps - 1]);
    for (int l = 0; l < L; l++) {
        printf("layer %d:", l);
        for (int j = 0; j < Hk; j++) printf(" %.3f", g[l * Hk + j]);
        printf("\n");
    }
    fprintf(stderr, "headwise duo train: wrote %s (full_attention_heads.tsv, config.json)\n", dir);
}

static int duo_train(int argc, char **argv) {
    const char *cmd = "duo train";
    duo_args a = {.p = hw_duo_train_params_default()};
    const cli_flag flags[] = {
        CLI_LOAD_FLAGS(&a.f), {"-o", CLI_STR, &a.out}, {"--task", CLI_STR, &a.p.task},
        {"--haystack", CLI_STR, &a.p.haystack}, {"--steps", CLI_INT, &a.p.steps, 1, 10000000},
        {"--lr", CLI_FLOAT, &a.p.lr, 1e-9, 100}, {"--lambda", CLI_FLOAT, &a.p.lambda, 0, 100},
        {"--sink", CLI_INT, &a.p.sink, 1, 1 << 20}, {"--recent", CLI_INT, &a.p.recent, 1, 1 << 20},
        {"--seq-len", CLI_INT, &a.p.seq_len, 8, 1 << 22}, {"--batch", CLI_INT, &a.p.batch, 1, 4096},
        {"--passkeys", CLI_INT, &a.p.n_passkeys, 1, 10}, {"--passkey-words", CLI_INT, &a.p.passkey_words, 1, 32},
        {"--seed", CLI_U64, &a.p.seed, 0, 0x1p62}, {"--threads", CLI_INT, &a.f.threads, 1, 1024}, {NULL}};
    int rc = cli_parse_flags(cmd, argc, argv, flags, help, NULL);
    if (rc) return rc < 0 ? 0 : rc;
    if (!a.out) return cli_usage_error(cmd, "no output folder: give -o DIR");
    if (!a.f.model) return cli_usage_error(cmd, "no model: give -m MODEL");
    char task[64];
    cli_session s;
    if (find_task(cmd, &a, task, sizeof task)) return 1;
    if (cli_load(cmd, &a.f, !a.p.task, &s)) return 1;
    a.p.model_name = a.f.model;
    hw_duo_train_result *r = NULL;
    rc = hw_duo_train_run(s.m, s.t, &a.p, cli_progress_counted, (void *)cmd, &r);
    cli_progress_done();
    if (rc || hw_duo_train_write(r, a.out)) rc = cli_error(cmd, "%s", hw_last_error());
    else print_result(r, a.out);
    hw_duo_train_free(r);
    cli_close(&s);
    return rc;
}

int cmd_duo(int argc, char **argv) {
    static const char usage[] = "usage: headwise duo train -m MODEL -o DIR [flags]   (headwise duo train --help)\n";
    if (argc < 1) return fputs(usage, stderr), 2;
    if (!strcmp(argv[0], "-h") || !strcmp(argv[0], "--help")) return fputs(usage, stdout), 0;
    if (!strcmp(argv[0], "train")) return duo_train(argc - 1, argv + 1);
    return cli_usage_error("duo", "unknown subcommand '%s' (try: headwise duo train --help)", argv[0]);
}

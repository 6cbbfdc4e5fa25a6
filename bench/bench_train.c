/*
 * bench_train.c: time training of a small model (default: the organisms' shape, a
 * 2-layer attention-only Llama, d_model 64, 4 heads, vocab 512) on B x T batches.
 *
 *   bench_train [--steps N] [--batch B] [--seq T] [--layers L] [--d D] [--heads H]
 *               [--vocab V] [--ff F] [--threads N]
 *
 * Prints one line: steps, seconds, tokens/s, first and last loss. Batches are random
 * tokens whose target is the previous token (the first position has none).
 */
#include "headwise.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    int steps = 50, B = 64, T = 64, L = 2, D = 64, H = 4, V = 512, F = 0, threads = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        int v = atoi(argv[i + 1]);
        if (!strcmp(argv[i], "--steps")) steps = v;
        else if (!strcmp(argv[i], "--batch")) B = v;
        else if (!strcmp(argv[i], "--seq")) T = v;
        else if (!strcmp(argv[i], "--layers")) L = v;
        else if (!strcmp(argv[i], "--d")) D = v;
        else if (!strcmp(argv[i], "--heads")) H = v;
        else if (!strcmp(argv[i], "--vocab")) V = v;
        else if (!strcmp(argv[i], "--ff")) F = v;
        else if (!strcmp(argv[i], "--threads")) threads = v;
        else {
            fprintf(stderr, "bench_train: unknown flag %s\n", argv[i]);
            return 1;
        }
    }
    hw_set_threads(threads);
    hw_config c = {0};
    snprintf(c.arch, sizeof c.arch, "llama");
    c.n_layer = L, c.d_model = D, c.n_head = H, c.n_kv_head = H, c.head_dim = D / H;
    c.d_ff = F, c.vocab_size = V, c.n_ctx = T, c.norm = HW_NORM_RMS, c.norm_eps = 1e-5f;
    c.pos = HW_POS_ROTARY, c.rope_layout = HW_ROPE_HALVES, c.rope_theta = 10000.0f;
    c.rotary_frac = 1.0f, c.act = HW_ACT_SILU_GATED, c.bos_id = c.eos_id = -1;
    hw_model *m = hw_model_new_random(&c, 1);
    hw_train_params p = hw_train_params_default();
    p.steps = steps, p.warmup = steps / 10;
    hw_trainer *t = m ? hw_trainer_new(m, &p) : NULL;
    int *tokens = malloc((size_t)B * T * sizeof(int)), *targets = malloc((size_t)B * T * sizeof(int));
    if (!t || !tokens || !targets) {
        fprintf(stderr, "bench_train: %s\n", hw_last_error());
        return 1;
    }
    uint64_t s = 88172645463325252ull;
    float first = 0, loss = 0;
    double t0 = 0;
    for (int k = 0; k <= steps; k++) {
        for (int i = 0; i < B * T; i++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            tokens[i] = (int)(s % (uint64_t)V);
            targets[i] = i % T == 0 ? -1 : tokens[i - 1];
        }
        hw_batch b = {tokens, targets, B, T};
        if (hw_trainer_step(t, &b, &loss) != HW_OK) {
            fprintf(stderr, "bench_train: %s\n", hw_last_error());
            return 1;
        }
        if (k == 0) { /* the first step allocates: not timed */
            first = loss;
            t0 = now();
        }
    }
    double sec = now() - t0;
    printf("headwise: %d steps of %d x %d tokens in %.2f s: %.0f tokens/s, %.1f ms/step, "
           "loss %.3f -> %.3f\n",
           steps, B, T, sec, (double)steps * B * T / sec, 1e3 * sec / steps, first, loss);
    hw_trainer_free(t);
    hw_model_free(m);
    free(tokens);
    free(targets);
    return 0;
}

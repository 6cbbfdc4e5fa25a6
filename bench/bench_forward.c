/*
 * bench_forward.c: prefill and decode speed of any model headwise loads.
 *
 *   bench_forward MODEL THREADS PREFILL DECODE
 *
 * Prefills PREFILL tokens in one call, then decodes DECODE tokens one at a time
 * (greedy), three times; prints the best rates as
 *   headwise prefill_tok_s=... decode_tok_s=...
 * bench/gpt2_vs_torch.sh calls it on a GPT-2 folder; it works on any model.
 * With HW_BENCH_IDLE_HOOK=1 every call carries a hook that asks for nothing,
 * which measures what asking costs (bench/hooks_cost.sh).
 */
#include "headwise.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int wants_nothing(hw_hook_call *call, void *user) { return 0; }

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: bench_forward MODEL THREADS PREFILL DECODE (see bench/gpt2_vs_torch.sh)\n");
        return 2;
    }
    int threads = atoi(argv[2]), P = atoi(argv[3]), D = atoi(argv[4]);
    hw_set_threads(threads);
    hw_model *m = hw_model_load(argv[1]);
    if (!m) {
        fprintf(stderr, "bench_forward: %s\n", hw_last_error());
        return 1;
    }
    const hw_config *cfg = hw_model_config(m);
    int *ids = malloc((size_t)P * sizeof *ids);
    float *logits = malloc((size_t)cfg->vocab_size * sizeof *logits);
    hw_context *c = hw_context_new(m, P + D);
    if (!ids || !logits || !c) {
        fprintf(stderr, "bench_forward: %s\n", c ? "out of memory" : hw_last_error());
        return 1;
    }
    for (int i = 0; i < P; i++) ids[i] = (int)((i * 7L) % cfg->vocab_size);
    hw_hooks *hooks = NULL;
    const char *idle = getenv("HW_BENCH_IDLE_HOOK");
    if (idle && atoi(idle)) {
        hooks = hw_hooks_new();
        hw_hooks_add(hooks, wants_nothing, NULL);
    }
    double best_p = 0, best_d = 0;
    for (int rep = 0; rep < 3; rep++) {
        hw_context_reset(c);
        double t0 = now();
        if (hw_forward_hooked(c, ids, P, HW_LOGITS_LAST, logits, hooks) != HW_OK) {
            fprintf(stderr, "bench_forward: %s\n", hw_last_error());
            return 1;
        }
        double t1 = now();
        for (int i = 0; i < D; i++) {
            int tok = argmax(logits, cfg->vocab_size);
            hw_forward_hooked(c, &tok, 1, HW_LOGITS_LAST, logits, hooks);
        }
        double t2 = now();
        if (P / (t1 - t0) > best_p) best_p = P / (t1 - t0);
        if (D / (t2 - t1) > best_d) best_d = D / (t2 - t1);
    }
    printf("headwise prefill_tok_s=%.1f decode_tok_s=%.1f\n", best_p, best_d);
    hw_hooks_free(hooks);
    hw_context_free(c);
    hw_model_free(m);
    free(ids);
    free(logits);
    return 0;
}

/* tool_head_scores.c: head scores of a trained induction organism, for
 * organism_test.sh (a tool, not a test: tests/run.sh runs only test_*).
 *
 *   tool_head_scores DIR [N]
 *
 * loads the Hugging Face folder DIR, draws N (default 50) held-out induction
 * sequences of the task (default parameters, the folder's context length) and
 * prints, for every head, on stdout:
 *   prev L H S     previous-token score: mean attention from position i to i - 1
 *   induction L H S  mean attention from a token of the second copy of the repeated
 *                  segment to the token after its first occurrence
 * computed from the attention patterns (hook_pattern). */
#include "headwise.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: tool_head_scores DIR [N]\n");
        return 2;
    }
    int n = argc > 2 ? atoi(argv[2]) : 50;
    hw_model *m = hw_model_load(argv[1]);
    if (!m) {
        fprintf(stderr, "tool_head_scores: %s\n", hw_last_error());
        return 1;
    }
    const hw_config *c = hw_model_config(m);
    hw_task_params p = hw_task_params_default();
    p.seq_len = c->n_ctx;
    p.n_symbols = c->vocab_size - 1; /* t0.. after <bos> */
    hw_task *t = hw_task_new("induction", &p);
    hw_capture *cap = hw_capture_new();
    hw_hooks *hooks = hw_hooks_new();
    hw_context *ctx = hw_context_new(m, c->n_ctx);
    int L = c->n_layer, H = c->n_head, T = c->n_ctx;
    double *prev = calloc((size_t)L * H, sizeof *prev), *ind = calloc((size_t)L * H, sizeof *ind);
    long n_prev = 0, n_ind = 0;
    int *tok = malloc((size_t)T * sizeof *tok), *tgt = malloc((size_t)T * sizeof *tgt);
    if (!t || !cap || !hooks || !ctx || !prev || !ind || !tok || !tgt ||
        hw_capture_want(cap, HW_HOOK_PATTERN, -1) != HW_OK || hw_hooks_add_capture(hooks, cap) != HW_OK) {
        fprintf(stderr, "tool_head_scores: %s\n", hw_last_error());
        return 1;
    }
    for (int k = 0; k < n; k++) {
        hw_task_layout lay;
        hw_task_sample(t, 77, k, tok, tgt, &lay);
        hw_context_reset(ctx);
        hw_capture_clear(cap);
        if (hw_forward_hooked(ctx, tok, T, HW_LOGITS_NONE, NULL, hooks) != HW_OK) {
            fprintf(stderr, "tool_head_scores: %s\n", hw_last_error());
            return 1;
        }
        for (int l = 0; l < L; l++) {
            const hw_capture_entry *e = hw_capture_find(cap, HW_HOOK_PATTERN, l, 0);
            if (!e || e->shape[0] != H || e->shape[1] != T || e->shape[2] != T) {
                fprintf(stderr, "tool_head_scores: no (H, T, T) pattern for layer %d\n", l);
                return 1;
            }
            for (int h = 0; h < H; h++) {
                const float *A = e->data + (size_t)h * T * T;
                for (int i = 1; i < T; i++) prev[l * H + h] += A[(size_t)i * T + i - 1];
                for (int j = 0; j + 1 < lay.len; j++)
                    ind[l * H + h] += A[(size_t)(lay.dst + j) * T + lay.src + j + 1];
            }
        }
        n_prev += T - 1;
        n_ind += lay.len - 1;
    }
    for (int l = 0; l < L; l++)
        for (int h = 0; h < H; h++) printf("prev %d %d %.4f\n", l, h, prev[l * H + h] / n_prev);
    for (int l = 0; l < L; l++)
        for (int h = 0; h < H; h++) printf("induction %d %d %.4f\n", l, h, ind[l * H + h] / n_ind);
    free(prev);
    free(ind);
    free(tok);
    free(tgt);
    hw_context_free(ctx);
    hw_hooks_free(hooks);
    hw_capture_free(cap);
    hw_task_free(t);
    hw_model_free(m);
    return 0;
}

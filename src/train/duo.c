/*
 * duo.c: DuoAttention's gates in the training forward (methods.md 2.1). With the gates
 * set, every query head h of KV group j in layer l outputs
 *
 *   alpha[l][j] * FullAttn_h + (1 - alpha[l][j]) * StreamAttn_h
 *
 * before W_O (train_forward.c), StreamAttn the same softmax restricted to the sinks and
 * the recent window (the exact token mask of DuoAttention's SDPA fallback, not its
 * 128-token blocks). The loss distils the final hidden states of the full model (after
 * the final norm, before the classifier) at the supervised rows, plus an L1 pull of the
 * gates toward 0; its gradient reaches the gates through every later layer, with the
 * weights frozen (activation gradients only, backward.c).
 */
#include "train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

hw_status hw_train_duo_set(hw_grad *g, const float *alpha, int sink, int recent) {
    if (!g) return hw_fail(HW_ERR_ARG, "hw_train_duo_set: no gradient workspace");
    if (!alpha) {
        free(g->duo_alpha);
        g->duo_alpha = NULL;
        return HW_OK;
    }
    if (g->gates) return hw_fail(HW_ERR_UNSUPPORTED, "head gates and DuoAttention's gates together");
    if (sink < 0 || recent < 1)
        return hw_fail(HW_ERR_ARG, "DuoAttention: sink %d and recent %d (sink >= 0, recent >= 1)",
                       sink, recent);
    const size_t n = (size_t)g->m->cfg.n_layer * g->m->cfg.n_kv_head;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(alpha[i])) return hw_fail(HW_ERR_RANGE, "DuoAttention gate %zu is %g", i, alpha[i]);
    if (!g->duo_alpha && !(g->duo_alpha = malloc(n * sizeof(float))))
        return hw_fail(HW_ERR_NOMEM, "out of memory");
    if (!g->g_duo_alpha && !(g->g_duo_alpha = calloc(n, sizeof(float))))
        return hw_fail(HW_ERR_NOMEM, "out of memory");
    memcpy(g->duo_alpha, alpha, n * sizeof(float));
    g->duo_sink = sink;
    g->duo_recent = recent;
    return HW_OK;
}

hw_status hw_train_duo_loss(hw_grad *g, const hw_batch *b, const float *h_full,
                            const unsigned char *sup, float lambda, float *loss, float *distill,
                            float *g_alpha) {
    if (!g || !b || !h_full || !sup || !loss)
        return hw_fail(HW_ERR_ARG, "hw_train_duo_loss: missing argument");
    if (!g->duo_alpha) return hw_fail(HW_ERR_ARG, "hw_train_duo_loss: DuoAttention's gates not set");
    const float *h;
    hw_status s = hw_train_hidden(g, b, &h);
    if (s != HW_OK) return s;
    const int D = g->m->cfg.d_model, n_gates = g->m->cfg.n_layer * g->m->cfg.n_kv_head;
    const size_t N = (size_t)b->B * b->T;
    size_t n_sup = 0;
    for (size_t r = 0; r < N; r++) n_sup += sup[r] != 0;
    if (!n_sup) return hw_fail(HW_ERR_ARG, "DuoAttention's loss: no supervised position");
    /* Sums in double, in row order: the same bits whatever the threads. */
    double dsum = 0, reg = 0;
    for (size_t r = 0; r < N; r++) {
        if (!sup[r]) continue;
        double e = 0;
        for (int d = 0; d < D; d++) {
            const double x = (double)h_full[r * D + d] - h[r * D + d];
            e += x * x;
        }
        dsum += e / D;
    }
    for (int i = 0; i < n_gates; i++) reg += fabs(g->duo_alpha[i]);
    const float dl = (float)(dsum / (double)n_sup);
    *loss = dl + lambda * (float)(reg / n_gates);
    if (distill) *distill = dl;
    if (!g_alpha) return HW_OK;
    float *dh = calloc(N * D, sizeof(float));
    if (!dh) return hw_fail(HW_ERR_NOMEM, "out of memory");
    const float c = -2.0f / ((float)D * (float)n_sup); /* d/dh of mean_d (h_full - h)^2 / n_sup */
    for (size_t r = 0; r < N; r++)
        if (sup[r])
            for (int d = 0; d < D; d++) dh[r * D + d] = c * (h_full[r * D + d] - h[r * D + d]);
    const float *ga;
    s = hw_train_hidden_backward(g, dh, &ga);
    free(dh);
    if (s != HW_OK) return s;
    /* d mean|alpha| / dalpha = sign(alpha) / n, 0 at 0 (as torch's abs) */
    for (int i = 0; i < n_gates; i++) {
        const float a = g->duo_alpha[i], sg = a > 0 ? 1.0f : a < 0 ? -1.0f : 0.0f;
        g_alpha[i] = ga[i] + lambda * sg / (float)n_gates;
    }
    return HW_OK;
}

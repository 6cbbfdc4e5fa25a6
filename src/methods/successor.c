/*
 * successor.c: successor heads (methods.md section 5, Gould et al. 2024): heads whose
 * OV circuit maps a token of an ordinal sequence (Monday, 3, March) to its successor.
 * Everything here reads weights only; no forward pass is run.
 */
#include "weights_access.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void apply_norm(const hw_config *cfg, float *out, const float *x, const float *w,
                       const float *b) {
    if (cfg->norm == HW_NORM_RMS) hw_rmsnorm(out, x, w, 1, cfg->d_model, cfg->norm_eps);
    else hw_layernorm(out, x, w, b, 1, cfg->d_model, cfg->norm_eps);
}

/* out (D) = block 0's MLP applied to x (D), as the forward pass computes it. */
static void mlp0(const hw_model *m, const float *x, float *up, float *gate, float *out) {
    const hw_config *cfg = &m->cfg;
    const hw_layer_weights *w = &m->w.layers[0];
    hw_matmul(up, x, &w->w_up, w->b_up, 1);
    if (cfg->act == HW_ACT_SILU_GATED) hw_matmul(gate, x, &w->w_gate, w->b_gate, 1);
    hw_activate(up, gate, (size_t)cfg->d_ff, cfg->act);
    hw_matmul(out, up, &w->w_down, w->b_down, 1);
}

/* Section 5, effective token embedding. Mode 0 is the reimplementation the spec
 * follows: MLP0 fed W_E[t] directly (no ln2, no residual). Mode 1 is McDougall et al.'s:
 * all of block 0 on a one-token sequence, where attention can only read the token
 * itself, so each query head outputs its KV head's value vector. For a model without
 * MLPs (d_ff 0, attention-only) mode 0 gives W_E[t]. */
hw_status hw_effective_embedding(const hw_model *m, const int *tokens, int n, int mode,
                                 float *out) {
    const hw_config *cfg = &m->cfg;
    const int D = cfg->d_model, F = cfg->d_ff, H = cfg->n_head, Hk = cfg->n_kv_head,
              Dh = cfg->head_dim;
    if (mode != 0 && mode != 1) return hw_fail(HW_ERR_ARG, "effective embedding: mode %d", mode);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= cfg->vocab_size)
            return hw_fail(HW_ERR_ARG, "effective embedding: token %d outside the vocabulary",
                           tokens[i]);
    size_t need = (size_t)4 * D + 2 * (size_t)(F > 0 ? F : 1) + (size_t)H * Dh + (size_t)Hk * Dh;
    float *buf = malloc(need * sizeof(float));
    if (!buf) return hw_fail(HW_ERR_NOMEM, "effective embedding: out of memory");
    float *x = buf, *xn = x + D, *a = xn + D, *y = a + D, *up = y + D, *gate = up + (F > 0 ? F : 1),
          *z = gate + (F > 0 ? F : 1), *v = z + (size_t)H * Dh;
    const hw_layer_weights *w = &m->w.layers[0];
    for (int i = 0; i < n; i++) {
        float *o = out + (size_t)i * D;
        memcpy(x, m->w.tok_embed + (size_t)tokens[i] * D, (size_t)D * sizeof(float));
        if (mode == 0) {
            if (F > 0) mlp0(m, x, up, gate, o);
            else memcpy(o, x, (size_t)D * sizeof(float));
            continue;
        }
        if (m->w.pos_embed) hw_axpy(x, 1.0f, m->w.pos_embed, D);
        apply_norm(cfg, xn, x, w->attn_norm, w->attn_norm_b);
        hw_matmul(v, xn, &w->wv, w->bv, 1);
        for (int h = 0; h < H; h++)
            memcpy(z + (size_t)h * Dh, v + (size_t)(h / (H / Hk)) * Dh, (size_t)Dh * sizeof(float));
        hw_matmul(a, z, &w->wo, w->bo, 1);
        if (!cfg->parallel_residual) hw_axpy(x, 1.0f, a, D);
        memcpy(o, x, (size_t)D * sizeof(float));
        if (F > 0) {
            apply_norm(cfg, xn, x, w->mlp_norm, w->mlp_norm_b);
            mlp0(m, xn, up, gate, y);
            hw_axpy(o, 1.0f, y, D);
        }
        if (cfg->parallel_residual) hw_axpy(o, 1.0f, a, D);
    }
    free(buf);
    return HW_OK;
}

/* Section 5: z = W_U[task] . W_O^h W_V^h e, with head h's slice of W_O and the value
 * rows of the KV head it reads (no biases: the OV circuit of the weights). */
hw_status hw_ov_logits(const hw_model *m, int layer, int head, const float *e, int n_in,
                       const int *tokens, int n_tok, float *out) {
    const hw_config *cfg = &m->cfg;
    const int D = cfg->d_model, Dh = cfg->head_dim, H = cfg->n_head, Hk = cfg->n_kv_head;
    if (layer < 0 || layer >= cfg->n_layer || head < 0 || head >= H)
        return hw_fail(HW_ERR_ARG, "OV logits: no head %d.%d", layer, head);
    for (int j = 0; j < n_tok; j++)
        if (tokens[j] < 0 || tokens[j] >= cfg->vocab_size)
            return hw_fail(HW_ERR_ARG, "OV logits: token %d outside the vocabulary", tokens[j]);
    const hw_layer_weights *w = &m->w.layers[layer];
    int kv = head / (H / Hk);
    float *buf = malloc(((size_t)Dh + 2 * (size_t)D) * sizeof(float));
    if (!buf) return hw_fail(HW_ERR_NOMEM, "OV logits: out of memory");
    float *v = buf, *u = v + Dh, *row = u + D;
    for (int i = 0; i < n_in; i++) {
        const float *x = e + (size_t)i * D;
        for (int d = 0; d < Dh; d++) {
            double s = 0;
            for (int k = 0; k < D; k++) s += (double)hw_matrix_at(&w->wv, kv * Dh + d, k) * x[k];
            v[d] = (float)s;
        }
        for (int k = 0; k < D; k++) {
            double s = 0;
            for (int d = 0; d < Dh; d++) s += (double)hw_matrix_at(&w->wo, k, head * Dh + d) * v[d];
            u[k] = (float)s;
        }
        for (int j = 0; j < n_tok; j++) {
            hw_matrix_row(&m->w.classifier, tokens[j], row);
            double s = 0;
            for (int k = 0; k < D; k++) s += (double)row[k] * u[k];
            out[(size_t)i * n_tok + j] = (float)s;
        }
    }
    free(buf);
    return HW_OK;
}

/* Section 5: a pair succeeds when the argmax over the task's tokens (first on ties) is
 * the successor; the score is successes over pairs, pooled over tasks by the caller. */
int hw_successor_hits(const float *logits, const int *seq, int n, int U) {
    int hits = 0;
    for (int k = 0; k + 1 < n; k++) {
        const float *row = logits + (size_t)k * U;
        int best = hw_argmax(row, U);
        hits += best == seq[k + 1];
    }
    return hits;
}

/*
 * forward.c: one forward pass for every family, driven by hw_config.
 *
 * Per layer (pre-norm):
 *   sequential: x += attn(norm1(x));  x += mlp(norm2(x))
 *   parallel (GPT-NeoX): x += attn(norm1(x)) + mlp(norm2(x))
 * Tokens are processed in chunks of at most c->chunk rows. A chunk of T > 1 rows
 * runs every projection as one matrix-matrix product (prefill); T == 1 is the
 * decode path (matrix-vector products).
 */
#include "context.h"

#include <limits.h>
#include <math.h>
#include <string.h>

static void norm(float *out, const float *x, const hw_config *cfg, const float *w,
                 const float *b, int T) {
    if (cfg->norm == HW_NORM_RMS)
        hw_rmsnorm(out, x, w, T, cfg->d_model, cfg->norm_eps);
    else
        hw_layernorm(out, x, w, b, T, cfg->d_model, cfg->norm_eps);
}

/* Rotary frequencies for a chunk ending at position `end` (dynamic scaling
 * depends on how long the sequence has grown). */
static void rope_inv_freq(float *inv_freq, const hw_config *cfg, int rot, int end) {
    float theta = cfg->rope_theta;
    if (cfg->rope_scaling == HW_ROPE_SCALE_DYNAMIC && end > cfg->rope_orig_ctx) {
        float f = cfg->rope_factor;
        theta *= powf(f * end / cfg->rope_orig_ctx - (f - 1.0f), (float)rot / (rot - 2));
    }
    for (int i = 0; i < rot / 2; i++) {
        float fr = 1.0f / powf(theta, (float)(2 * i) / (float)rot);
        if (cfg->rope_scaling == HW_ROPE_SCALE_LINEAR) fr /= cfg->rope_factor;
        if (cfg->rope_scaling == HW_ROPE_SCALE_LLAMA3) {
            /* Llama 3.1: long wavelengths slowed by factor, short kept, a smooth ramp between. */
            const float pi = 3.14159265358979f;
            float wavelen = 2.0f * pi / fr;
            float low_wl = cfg->rope_orig_ctx / cfg->rope_low_freq_factor;
            float high_wl = cfg->rope_orig_ctx / cfg->rope_high_freq_factor;
            if (wavelen > low_wl) {
                fr /= cfg->rope_factor;
            } else if (wavelen >= high_wl) {
                float smooth = (cfg->rope_orig_ctx / wavelen - cfg->rope_low_freq_factor) /
                               (cfg->rope_high_freq_factor - cfg->rope_low_freq_factor);
                fr = (1.0f - smooth) * fr / cfg->rope_factor + smooth * fr;
            }
        }
        inv_freq[i] = fr;
    }
}

static void rope_tables(hw_context *c, int pos, int T) {
    int half = c->rot / 2;
    rope_inv_freq(c->inv_freq, &c->m->cfg, c->rot, pos + T);
    for (int t = 0; t < T; t++)
        for (int i = 0; i < half; i++) {
            float a = (float)(pos + t) * c->inv_freq[i];
            c->rope_cos[t * half + i] = cosf(a);
            c->rope_sin[t * half + i] = sinf(a);
        }
}

/* Rotate the first c->rot dims of each of n_heads heads in x (T, n_heads*Dh). */
static void rope_apply(const hw_context *c, float *x, int T, int n_heads) {
    const int Dh = c->m->cfg.head_dim, half = c->rot / 2;
    const int interleaved = c->m->cfg.rope_layout == HW_ROPE_INTERLEAVED;
    for (int t = 0; t < T; t++)
        for (int h = 0; h < n_heads; h++) {
            float *v = x + ((size_t)t * n_heads + h) * Dh;
            const float *cs = c->rope_cos + t * half, *sn = c->rope_sin + t * half;
            for (int i = 0; i < half; i++) {
                int a = interleaved ? 2 * i : i, b = interleaved ? 2 * i + 1 : i + half;
                float v0 = v[a], v1 = v[b];
                v[a] = v0 * cs[i] - v1 * sn[i];
                v[b] = v0 * sn[i] + v1 * cs[i];
            }
        }
}

/* Causal attention of T queries at positions pos.. against the cache of layer l,
 * writing each head's output to z (T, H*Dh). Heads are shared out by the pool,
 * whose caller starts at once, so even a short decode step loses nothing to it. */
typedef struct {
    hw_context *c;
    int l, pos, T, window;
} attention_job;

static void attention_heads(void *arg, int h0, int h1) {
    const attention_job *j = arg;
    hw_context *c = j->c;
    const hw_config *cfg = &c->m->cfg;
    const int H = cfg->n_head, Hk = cfg->n_kv_head, Dh = cfg->head_dim, C = c->n_ctx;
    const float scale = 1.0f / sqrtf((float)Dh);
    for (int h = h0; h < h1; h++) {
        const size_t kv = ((size_t)j->l * Hk + h / (H / Hk)) * C * Dh;
        hw_attend_rows(c->z + (size_t)h * Dh, H * Dh, c->q + (size_t)h * Dh, H * Dh,
                       c->k_cache + kv, c->v_cache + kv, j->T, j->pos + 1, j->window, Dh, scale,
                       c->att + (size_t)h * C);
    }
}

static void attention(hw_context *c, int l, int pos, int T) {
    const hw_config *cfg = &c->m->cfg;
    /* A sliding window shows each query only the last `window` positions, itself included. */
    const int window = cfg->sliding_window > 0 && l >= cfg->sliding_window_from
                           ? cfg->sliding_window : INT_MAX;
    attention_job j = {c, l, pos, T, window};
    hw_parallel_range(attention_heads, &j, cfg->n_head, 1);
}

static void attention_block(hw_context *c, const hw_layer_weights *w, int l, int pos, int T) {
    const hw_config *cfg = &c->m->cfg;
    const int Hk = cfg->n_kv_head, Dh = cfg->head_dim, C = c->n_ctx;
    hw_matmul(c->q, c->xn, &w->wq, w->bq, T);
    hw_matmul(c->k, c->xn, &w->wk, w->bk, T);
    hw_matmul(c->v, c->xn, &w->wv, w->bv, T);
    if (c->rot > 0) {
        rope_apply(c, c->q, T, cfg->n_head);
        rope_apply(c, c->k, T, Hk);
    }
    for (int t = 0; t < T; t++)
        for (int h = 0; h < Hk; h++) {
            size_t dst = (((size_t)l * Hk + h) * C + pos + t) * Dh;
            size_t src = ((size_t)t * Hk + h) * Dh;
            memcpy(c->k_cache + dst, c->k + src, (size_t)Dh * sizeof(float));
            memcpy(c->v_cache + dst, c->v + src, (size_t)Dh * sizeof(float));
        }
    attention(c, l, pos, T);
    hw_matmul(c->attn_out, c->z, &w->wo, w->bo, T);
}

static void mlp_block(hw_context *c, const hw_layer_weights *w, int T) {
    const hw_config *cfg = &c->m->cfg;
    const size_t n = (size_t)T * cfg->d_ff;
    hw_matmul(c->up, c->xn, &w->w_up, w->b_up, T);
    if (cfg->act == HW_ACT_SILU_GATED) hw_matmul(c->gate, c->xn, &w->w_gate, w->b_gate, T);
    hw_activate(c->up, c->gate, n, cfg->act);
    hw_matmul(c->mlp_out, c->up, &w->w_down, w->b_down, T);
}

static void add(float *x, const float *y, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

/* One chunk of T tokens at positions pos..pos+T-1. */
static void forward_chunk(hw_context *c, const int *tokens, int T, int pos, hw_logits_mode mode,
                          float *logits) {
    const hw_model *m = c->m;
    const hw_config *cfg = &m->cfg;
    const int D = cfg->d_model;
    const size_t n = (size_t)T * D;
    for (int t = 0; t < T; t++) {
        memcpy(c->x + (size_t)t * D, m->w.tok_embed + (size_t)tokens[t] * D, D * sizeof(float));
        if (m->w.pos_embed)
            hw_axpy(c->x + (size_t)t * D, 1.0f, m->w.pos_embed + (size_t)(pos + t) * D, D);
    }
    if (c->rot > 0) rope_tables(c, pos, T);
    for (int l = 0; l < cfg->n_layer; l++) {
        const hw_layer_weights *w = &m->w.layers[l];
        norm(c->xn, c->x, cfg, w->attn_norm, w->attn_norm_b, T);
        attention_block(c, w, l, pos, T);
        if (!cfg->parallel_residual) add(c->x, c->attn_out, n);
        if (cfg->d_ff > 0) { /* else attention-only */
            norm(c->xn, c->x, cfg, w->mlp_norm, w->mlp_norm_b, T);
            mlp_block(c, w, T);
        }
        if (cfg->parallel_residual) add(c->x, c->attn_out, n);
        if (cfg->d_ff > 0) add(c->x, c->mlp_out, n);
    }
    if (mode == HW_LOGITS_NONE) return;
    /* Only the rows whose logits are wanted go through the final norm and classifier. */
    int first = mode == HW_LOGITS_LAST ? T - 1 : 0;
    norm(c->xn, c->x + (size_t)first * D, cfg, m->w.final_norm, m->w.final_norm_b, T - first);
    hw_matmul(logits, c->xn, &m->w.classifier, NULL, T - first);
}

hw_status hw_forward(hw_context *c, const int *tokens, int T, hw_logits_mode mode,
                     float *logits) {
    const hw_config *cfg = &c->m->cfg;
    if (T <= 0 || !tokens) return hw_fail(HW_ERR_ARG, "hw_forward: no tokens given");
    if (mode != HW_LOGITS_NONE && !logits)
        return hw_fail(HW_ERR_ARG, "hw_forward: logits requested but no buffer given");
    if (T > c->n_ctx - c->pos)
        return hw_fail(HW_ERR_RANGE,
                       "%d tokens do not fit: context holds %d, %d already used", T, c->n_ctx,
                       c->pos);
    for (int t = 0; t < T; t++)
        if (tokens[t] < 0 || tokens[t] >= cfg->vocab_size)
            return hw_fail(HW_ERR_ARG, "token id %d at index %d is outside the vocabulary (%d)",
                           tokens[t], t, cfg->vocab_size);
    for (int done = 0; done < T;) {
        int n = T - done < c->chunk ? T - done : c->chunk;
        int last = done + n == T;
        hw_logits_mode cm = mode == HW_LOGITS_ALL ? mode : last ? mode : HW_LOGITS_NONE;
        float *out = mode == HW_LOGITS_ALL ? logits + (size_t)done * cfg->vocab_size : logits;
        forward_chunk(c, tokens + done, n, c->pos, cm, out);
        c->pos += n;
        done += n;
    }
    return HW_OK;
}

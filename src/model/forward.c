/*
 * forward.c: one forward pass for every family, driven by hw_config.
 *
 * Per layer (pre-norm):
 *   sequential: x += attn(norm1(x));  x += mlp(norm2(x))
 *   parallel (GPT-NeoX): x += attn(norm1(x)) + mlp(norm2(x))
 * Tokens are processed in chunks of at most c->chunk rows. A chunk of T > 1 rows
 * runs every projection as one matrix-matrix product (prefill); T == 1 is the
 * decode path (matrix-vector products).
 *
 * Hook points (headwise.h) are visited where their tensor is made. With no
 * hooks a visit is one branch; points that do not otherwise exist (scores,
 * pattern, per-head results, every row's logits) are made only when a hook
 * asks for them.
 */
#include "context.h"
#include "model/hooks.h"

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

static void rope_tables(hw_context *c, int pos, int T) {
    int half = c->rot / 2;
    hw_rope_inv_freq(c->inv_freq, &c->m->cfg, c->rot, pos + T);
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

/* One forward call's view of the hooks. */
typedef struct {
    hw_context *c;
    const hw_hooks *hooks;  /* NULL or empty: nothing is asked or called */
    int pos, T;
} run;

static hw_hook_call make_call(const run *r, hw_hook_point p, int layer, int ndim, int a, int b,
                              int d) {
    return (hw_hook_call){p, layer, 1, r->pos, r->T, r->T == 1 && r->pos > 0, ndim, {a, b, d},
                          NULL, r->c->m};
}

static bool wanted(const run *r, hw_hook_point p, int layer, int ndim, int a, int b, int d) {
    if (!r->hooks) return false;
    hw_hook_call call = make_call(r, p, layer, ndim, a, b, d);
    return hw_hooks_wanted(r->hooks, &call);
}

static hw_status visit(const run *r, hw_hook_point p, int layer, float *data, int ndim, int a,
                       int b, int d) {
    if (!r->hooks) return HW_OK;
    hw_hook_call call = make_call(r, p, layer, ndim, a, b, d);
    return hw_hooks_visit(r->hooks, &call, data);
}

/* Visit a point that exists only because it was asked for, and say whether a
 * hook changed it: if none did, the forward goes on by its usual path, so that
 * observing never changes a single bit of the result. */
static hw_status visit_watched(const run *r, hw_hook_point p, int layer, float *data, int ndim,
                               int a, int b, int d, bool *edited) {
    hw_context *c = r->c;
    const size_t n = (size_t)a * b * (ndim == 3 ? d : 1);
    float *snap = hw_context_grow(&c->hook_snap, &c->hook_snap_n, n);
    if (!snap) return HW_ERR_NOMEM;
    memcpy(snap, data, n * sizeof *snap);
    hw_status st = visit(r, p, layer, data, ndim, a, b, d);
    *edited |= memcmp(snap, data, n * sizeof *snap) != 0;
    return st;
}

#define TRY(expr)                        \
    do {                                 \
        hw_status st_ = (expr);          \
        if (st_ != HW_OK) return st_;    \
    } while (0)

/* Causal attention of T queries at positions pos.. against the cache of layer l,
 * writing each head's output to z (T, H*Dh). Heads are shared out by the pool,
 * whose caller starts at once, so even a short decode step loses nothing to it. */
typedef struct {
    hw_context *c;
    int l, pos, T;
} attention_job;

static void attention_heads(void *arg, int h0, int h1) {
    const attention_job *j = arg;
    for (int h = h0; h < h1; h++) hw_kv_attend(j->c, j->l, h, j->pos, j->T);
}

/* z from q and the cache: fused kernels, or scores and pattern written out when
 * a hook wants either. */
static hw_status attention(const run *r, int l) {
    hw_context *c = r->c;
    const hw_config *cfg = &c->m->cfg;
    const int H = cfg->n_head, T = r->T, P = r->pos + r->T;
    if (!wanted(r, HW_HOOK_ATTN_SCORES, l, 3, H, T, P) && !wanted(r, HW_HOOK_PATTERN, l, 3, H, T, P)) {
        attention_job j = {c, l, r->pos, T};
        hw_parallel_range(attention_heads, &j, H, 1);
        return HW_OK;
    }
    if (c->lh_len && P > c->lh_len)
        return hw_fail(HW_ERR_UNSUPPORTED, "attention scores and pattern are not written out for "
                       "LongHeads queries past %d tokens", c->lh_len);
    float *att = hw_context_grow(&c->hook_att, &c->hook_att_n, (size_t)H * T * P);
    if (!att) return HW_ERR_NOMEM;
    bool edited = false;
    hw_attention_scores(c, l, r->pos, T, att);
    TRY(visit_watched(r, HW_HOOK_ATTN_SCORES, l, att, 3, H, T, P, &edited));
    hw_attention_softmax(att, (size_t)H * T, P);
    TRY(visit_watched(r, HW_HOOK_PATTERN, l, att, 3, H, T, P, &edited));
    if (edited) {
        hw_attention_mix(c, l, r->pos, T, att);
    } else {
        attention_job j = {c, l, r->pos, T};
        hw_parallel_range(attention_heads, &j, H, 1);
    }
    return HW_OK;
}

/* attn_out from z: one matmul, or per-head results summed when a hook wants them. */
static hw_status output_projection(const run *r, const hw_layer_weights *w, int l) {
    hw_context *c = r->c;
    const hw_config *cfg = &c->m->cfg;
    const int H = cfg->n_head, D = cfg->d_model, T = r->T;
    if (!wanted(r, HW_HOOK_RESULT, l, 3, T, H, D)) {
        hw_matmul(c->attn_out, c->z, &w->wo, w->bo, T);
        return HW_OK;
    }
    float *res = hw_context_grow(&c->hook_big, &c->hook_big_n, (size_t)T * H * D);
    float *zh = hw_context_grow(&c->hook_row, &c->hook_row_n, (size_t)T * H * cfg->head_dim);
    float *out = hw_context_grow(&c->hook_out, &c->hook_out_n, (size_t)T * D);
    if (!res || !zh || !out) return HW_ERR_NOMEM;
    bool edited = false;
    hw_attention_results(c, &w->wo, T, res, zh, out);
    TRY(visit_watched(r, HW_HOOK_RESULT, l, res, 3, T, H, D, &edited));
    if (!edited) {
        hw_matmul(c->attn_out, c->z, &w->wo, w->bo, T);
        return HW_OK;
    }
    for (int t = 0; t < T; t++) {
        float *y = c->attn_out + (size_t)t * D;
        if (w->bo) memcpy(y, w->bo, (size_t)D * sizeof *y);
        else memset(y, 0, (size_t)D * sizeof *y);
        for (int h = 0; h < H; h++) hw_axpy(y, 1.0f, res + ((size_t)t * H + h) * D, D);
    }
    return HW_OK;
}

static hw_status attention_block(const run *r, const hw_layer_weights *w, int l) {
    hw_context *c = r->c;
    const hw_config *cfg = &c->m->cfg;
    const int H = cfg->n_head, Hk = cfg->n_kv_head, Dh = cfg->head_dim;
    const int T = r->T, pos = r->pos;
    hw_matmul(c->q, c->xn, &w->wq, w->bq, T);
    hw_matmul(c->k, c->xn, &w->wk, w->bk, T);
    hw_matmul(c->v, c->xn, &w->wv, w->bv, T);
    TRY(visit(r, HW_HOOK_Q, l, c->q, 3, T, H, Dh));
    TRY(visit(r, HW_HOOK_K, l, c->k, 3, T, Hk, Dh));
    TRY(visit(r, HW_HOOK_V, l, c->v, 3, T, Hk, Dh));
    if (c->lh_len) { /* LongHeads re-rotates them (kv_cache.c) */
        memcpy(c->q_raw, c->q, (size_t)T * H * Dh * sizeof *c->q);
        memcpy(c->k_raw, c->k, (size_t)T * Hk * Dh * sizeof *c->k);
    }
    if (c->rot > 0) {
        rope_apply(c, c->q, T, H);
        rope_apply(c, c->k, T, Hk);
        TRY(visit(r, HW_HOOK_ROT_Q, l, c->q, 3, T, H, Dh));
        TRY(visit(r, HW_HOOK_ROT_K, l, c->k, 3, T, Hk, Dh));
    }
    hw_kv_begin(c, l, pos, T);
    hw_status st = attention(r, l);
    hw_kv_end(c, l, pos, T); /* a ring's chunk is stored after its attention (kv_cache.c) */
    TRY(st);
    TRY(visit(r, HW_HOOK_Z, l, c->z, 3, T, H, Dh));
    TRY(output_projection(r, w, l));
    return visit(r, HW_HOOK_ATTN_OUT, l, c->attn_out, 2, T, cfg->d_model, 0);
}

static hw_status mlp_block(const run *r, const hw_layer_weights *w, int l) {
    hw_context *c = r->c;
    const hw_config *cfg = &c->m->cfg;
    const int T = r->T;
    hw_matmul(c->up, c->xn, &w->w_up, w->b_up, T);
    if (cfg->act == HW_ACT_SILU_GATED) hw_matmul(c->gate, c->xn, &w->w_gate, w->b_gate, T);
    hw_activate(c->up, c->gate, (size_t)T * cfg->d_ff, cfg->act);
    TRY(visit(r, HW_HOOK_MLP_POST, l, c->up, 2, T, cfg->d_ff, 0));
    hw_matmul(c->mlp_out, c->up, &w->w_down, w->b_down, T);
    return visit(r, HW_HOOK_MLP_OUT, l, c->mlp_out, 2, T, cfg->d_model, 0);
}

static void add(float *x, const float *y, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

static hw_status embed(const run *r, const int *tokens) {
    hw_context *c = r->c;
    const hw_model *m = c->m;
    const int D = m->cfg.d_model, T = r->T;
    for (int t = 0; t < T; t++)
        hw_embed_row(&m->w, tokens[t], D, c->x + (size_t)t * D);
    TRY(visit(r, HW_HOOK_EMBED, -1, c->x, 2, T, D, 0));
    if (!m->w.pos_embed) return HW_OK;
    const float *pe = m->w.pos_embed + (size_t)r->pos * D;
    if (wanted(r, HW_HOOK_POS_EMBED, -1, 2, T, D, 0)) {
        float *copy = hw_context_grow(&c->hook_row, &c->hook_row_n, (size_t)T * D);
        if (!copy) return HW_ERR_NOMEM;
        memcpy(copy, pe, (size_t)T * D * sizeof *copy);
        TRY(visit(r, HW_HOOK_POS_EMBED, -1, copy, 2, T, D, 0));
        pe = copy;
    }
    add(c->x, pe, (size_t)T * D);
    return HW_OK;
}

/* Final norm and classifier on the rows whose logits are wanted. A hook on
 * ln_final or the logits sees every row, whatever the mode, so shapes never
 * depend on it; the caller's logits change only if a hook edited something. */
static hw_status unembed(const run *r, hw_logits_mode mode, float *logits) {
    hw_context *c = r->c;
    const hw_model *m = c->m;
    const hw_config *cfg = &m->cfg;
    const int D = cfg->d_model, V = cfg->vocab_size, T = r->T;
    if (mode != HW_LOGITS_NONE) {
        const int first = mode == HW_LOGITS_LAST ? T - 1 : 0;
        norm(c->xn, c->x + (size_t)first * D, cfg, m->w.final_norm, m->w.final_norm_b, T - first);
        hw_matmul(logits, c->xn, &m->w.classifier, NULL, T - first);
    }
    if (!wanted(r, HW_HOOK_LN_FINAL, -1, 2, T, D, 0) && !wanted(r, HW_HOOK_LOGITS, -1, 2, T, V, 0))
        return HW_OK;
    float *all = hw_context_grow(&c->hook_big, &c->hook_big_n, (size_t)T * V);
    if (!all) return HW_ERR_NOMEM;
    bool edited = false;
    norm(c->xn, c->x, cfg, m->w.final_norm, m->w.final_norm_b, T);
    TRY(visit_watched(r, HW_HOOK_LN_FINAL, -1, c->xn, 2, T, D, 0, &edited));
    hw_matmul(all, c->xn, &m->w.classifier, NULL, T);
    TRY(visit_watched(r, HW_HOOK_LOGITS, -1, all, 2, T, V, 0, &edited));
    if (edited && mode == HW_LOGITS_ALL) memcpy(logits, all, (size_t)T * V * sizeof *all);
    if (edited && mode == HW_LOGITS_LAST)
        memcpy(logits, all + (size_t)(T - 1) * V, (size_t)V * sizeof *all);
    return HW_OK;
}

/* One chunk of r->T tokens at positions r->pos... */
static hw_status forward_chunk(const run *r, const int *tokens, hw_logits_mode mode,
                               float *logits) {
    hw_context *c = r->c;
    const hw_model *m = c->m;
    const hw_config *cfg = &m->cfg;
    const int D = cfg->d_model, T = r->T;
    const size_t n = (size_t)T * D;
    TRY(embed(r, tokens));
    if (c->rot > 0) rope_tables(c, r->pos, T);
    for (int l = 0; l < cfg->n_layer; l++) {
        const hw_layer_weights *w = &m->w.layers[l];
        TRY(visit(r, HW_HOOK_RESID_PRE, l, c->x, 2, T, D, 0));
        norm(c->xn, c->x, cfg, w->attn_norm, w->attn_norm_b, T);
        TRY(attention_block(r, w, l));
        if (!cfg->parallel_residual) {
            add(c->x, c->attn_out, n);
            TRY(visit(r, HW_HOOK_RESID_MID, l, c->x, 2, T, D, 0));
        }
        if (cfg->d_ff > 0) { /* else attention-only */
            norm(c->xn, c->x, cfg, w->mlp_norm, w->mlp_norm_b, T);
            TRY(mlp_block(r, w, l));
        }
        if (cfg->parallel_residual) add(c->x, c->attn_out, n);
        if (cfg->d_ff > 0) add(c->x, c->mlp_out, n);
        TRY(visit(r, HW_HOOK_RESID_POST, l, c->x, 2, T, D, 0));
    }
    return unembed(r, mode, logits);
}

hw_status hw_forward_hooked(hw_context *c, const int *tokens, int T, hw_logits_mode mode,
                            float *logits, const hw_hooks *hooks) {
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
    if (hooks && hooks->n == 0) hooks = NULL;
    for (int done = 0; done < T;) {
        int n = T - done < c->chunk ? T - done : c->chunk;
        int last = done + n == T;
        hw_logits_mode cm = mode == HW_LOGITS_ALL ? mode : last ? mode : HW_LOGITS_NONE;
        float *out = mode == HW_LOGITS_ALL ? logits + (size_t)done * cfg->vocab_size : logits;
        run r = {c, hooks, c->pos, n};
        /* A hook that stops the run leaves a full head's cache as it was before this
         * chunk (pos does not move); a ring head may have overwritten rows, so after a
         * stop the context is to be reset (hw_context_reset), not continued. */
        TRY(forward_chunk(&r, tokens + done, cm, out));
        c->pos += n;
        done += n;
    }
    return HW_OK;
}

hw_status hw_forward(hw_context *c, const int *tokens, int T, hw_logits_mode mode,
                     float *logits) {
    return hw_forward_hooked(c, tokens, T, mode, logits, NULL);
}

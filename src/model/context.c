/* context.c: allocate a run's KV cache and scratch once, sized from config and context. */
#include "context.h"

#include <stdlib.h>

/* Every buffer of the context, for allocation and release in one place. */
#define CONTEXT_BUFFERS(X)                                                    \
    X(k_cache, c->kv_rows * Dh + 1) X(v_cache, c->kv_rows * Dh + 1)             \
    X(k_gather, (size_t)Hk * c->gather_cap * Dh + 1)                          \
    X(v_gather, (size_t)Hk * c->gather_cap * Dh + 1)                          \
    X(x, (size_t)N * D) X(xn, (size_t)N * D) X(q, (size_t)N * H * Dh)         \
    X(k, (size_t)N * Hk * Dh) X(v, (size_t)N * Hk * Dh) X(z, (size_t)N * H * Dh) \
    X(attn_out, (size_t)N * D) X(mlp_out, (size_t)N * D) X(gate, (size_t)N * F + 1) \
    X(up, (size_t)N * F + 1) X(att, (size_t)H * (C + 1)) X(inv_freq, (size_t)R / 2 + 1)  \
    X(rope_cos, (size_t)N * (R / 2) + 1) X(rope_sin, (size_t)N * (R / 2) + 1)  \
    X(lh_k, lh ? (size_t)cfg->n_layer * Hk * C * Dh : 1)                        \
    X(lh_qpend, pooled ? (size_t)cfg->n_layer * H * c->lh_w * Dh : 1)           \
    X(lh_ckey, pooled ? (size_t)cfg->n_layer * H * c->lh_chunks * Dh + 1 : 1)   \
    X(lh_cos, lh ? (size_t)c->lh_len * (R / 2) + 1 : 1)                         \
    X(lh_sin, lh ? (size_t)c->lh_len * (R / 2) + 1 : 1)                         \
    X(q_raw, lh ? (size_t)N * H * Dh : 1) X(k_raw, lh ? (size_t)N * Hk * Dh : 1) \
    X(lh_work, lh ? (size_t)H * c->lh_stride : 1)

hw_context *hw_context_new(const hw_model *m, int n_ctx) {
    return hw_context_new_kv(m, n_ctx, NULL);
}

hw_context *hw_context_new_kv(const hw_model *m, int n_ctx, const hw_kv_policy *p) {
    if (!m) {
        hw_fail(HW_ERR_ARG, "hw_context_new: no model");
        return NULL;
    }
    const hw_config *cfg = &m->cfg;
    if (p && (hw_kv_policy_layers(p) != cfg->n_layer || hw_kv_policy_kv_heads(p) != cfg->n_kv_head)) {
        hw_fail(HW_ERR_ARG, "kv policy for %d layers x %d KV heads does not fit this model (%d x %d)",
                hw_kv_policy_layers(p), hw_kv_policy_kv_heads(p), cfg->n_layer, cfg->n_kv_head);
        return NULL;
    }
    if (n_ctx <= 0) n_ctx = cfg->n_ctx;
    if (n_ctx <= 0 || (cfg->pos == HW_POS_LEARNED && n_ctx > cfg->n_ctx)) {
        hw_fail(HW_ERR_RANGE, "context of %d tokens is not possible (model: %d)", n_ctx,
                cfg->n_ctx);
        return NULL;
    }
    hw_context *c = calloc(1, sizeof *c);
    if (!c) {
        hw_fail(HW_ERR_NOMEM, "out of memory for a context");
        return NULL;
    }
    const int D = cfg->d_model, H = cfg->n_head, Hk = cfg->n_kv_head;
    const int Dh = cfg->head_dim, F = cfg->d_ff, C = n_ctx;
    const int want = p && hw_kv_policy_chunk(p) > 0 ? hw_kv_policy_chunk(p) : HW_CHUNK;
    const int N = C < want ? C : want;
    int R = cfg->pos == HW_POS_ROTARY ? (int)(Dh * cfg->rotary_frac) : 0;
    R -= R % 2;
    c->m = m;
    c->n_ctx = C;
    c->chunk = N;
    c->rot = R;
    if (hw_kv_plan(c, p) != HW_OK || (p && !(c->policy = hw_kv_policy_copy(p)))) {
        hw_context_free(c);
        return NULL;
    }
    const int lh = c->lh_len > 0, pooled = lh && !c->lh_max;
    int ok = (c->lh_sel = calloc(lh ? (size_t)Hk * c->lh_sel_stride + 1 : 1, sizeof(int))) != NULL;
#define ALLOC(name, count) ok &= (c->name = calloc((count), sizeof(float))) != NULL;
    CONTEXT_BUFFERS(ALLOC)
#undef ALLOC
    if (!ok) {
        hw_context_free(c);
        hw_fail(HW_ERR_NOMEM, "out of memory for a context of %d tokens", C);
        return NULL;
    }
    if (hw_kv_init(c) != HW_OK) {
        hw_context_free(c);
        return NULL;
    }
    return c;
}

void hw_context_free(hw_context *c) {
    if (!c) return;
#define FREE(name, count) free(c->name);
    CONTEXT_BUFFERS(FREE) /* the count expressions are not evaluated */
#undef FREE
    free(c->hook_att);
    free(c->hook_big);
    free(c->hook_row);
    free(c->hook_out);
    free(c->hook_snap);
    free(c->kv);
    free(c->lh_sel);
    hw_kv_policy_free(c->policy);
    free(c);
}

int hw_context_pos(const hw_context *c) { return c->pos; }
int hw_context_size(const hw_context *c) { return c->n_ctx; }
const hw_model *hw_context_model(const hw_context *c) { return c->m; }
const hw_kv_policy *hw_context_kv_policy(const hw_context *c) { return c ? c->policy : NULL; }
void hw_context_reset(hw_context *c) {
    c->pos = 0;
    hw_kv_reset(c);
}

float *hw_context_grow(float **buf, size_t *cap, size_t n) {
    if (n <= *cap) return *buf;
    float *p = realloc(*buf, n * sizeof(float));
    if (!p) {
        hw_fail(HW_ERR_NOMEM, "out of memory for hook tensors (%zu floats)", n);
        return NULL;
    }
    *buf = p;
    *cap = n;
    return p;
}

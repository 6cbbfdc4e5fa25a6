/*
 * kv_cache.c: what each (layer, KV head) keeps of the past and what its queries see
 * (headwise.h, "KV-cache policies"; methods.md sections 2.4 and 3.2).
 *
 * A head without a ring keeps every position at its own row: the attention is the
 * one it always was, bit for bit. A ring head keeps `sink` positions and a ring of
 * `recent`; while the ring has not wrapped its rows are still positions in order, so a
 * window that covers the context is also bit for bit the full attention. Once it wraps:
 *   - a decode step (one row) stores its key first and attends over every row held,
 *     in ring order: attention is a sum over a set, so the order does not matter;
 *   - a prefill chunk cannot store first (its rows would overwrite keys its earlier
 *     rows still see), so the keys it sees are gathered in position order, the chunk's
 *     own rows last, attended by the same kernels as a full cache, and stored after.
 * A position leaving the ring is folded into the compensation row when the head has
 * one (a running mean of the dropped keys and values).
 */
#include "context.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static hw_kv_layout *layout(const hw_context *c, int l, int hk) {
    return &c->kv[(size_t)l * c->m->cfg.n_kv_head + hk];
}

hw_status hw_kv_plan(hw_context *c, const hw_kv_policy *p) {
    const hw_config *cfg = &c->m->cfg;
    const int L = cfg->n_layer, Hk = cfg->n_kv_head, C = c->n_ctx;
    if (!(c->kv = calloc((size_t)L * Hk, sizeof *c->kv)))
        return hw_fail(HW_ERR_NOMEM, "out of memory for a context's cache layout");
    size_t rows = 0;
    int most = 0; /* the largest sink + recent of a ring head */
    for (int l = 0; l < L; l++)
        for (int hk = 0; hk < Hk; hk++) {
            hw_kv_layout *k = layout(c, l, hk);
            const int sliding = cfg->sliding_window > 0 && l >= cfg->sliding_window_from;
            const int W = sliding ? cfg->sliding_window : INT_MAX;
            *k = (hw_kv_layout){.window = W};
            if (p && !hw_kv_policy_is_full(p, l, hk)) {
                /* A streaming head in a sliding layer keeps no more than the window. */
                k->sink = hw_kv_policy_sink(p);
                k->recent = hw_kv_policy_recent(p) < W ? hw_kv_policy_recent(p) : W;
                k->comp = hw_kv_policy_compensation(p);
                k->window = INT_MAX; /* DuoAttention's chunk semantics */
            } else if (sliding) {
                k->recent = W; /* the model's own window, exact per query */
            }
            if (k->recent && (long)k->sink + k->recent >= C) /* never wraps: keep all */
                *k = (hw_kv_layout){.window = W};
            k->cap = k->recent ? k->sink + k->recent + (k->comp != HW_KV_COMP_NONE) : C;
            k->off = rows;
            rows += (size_t)k->cap;
            if (k->recent && k->sink + k->recent > most) most = k->sink + k->recent;
        }
    c->kv_rows = rows;
    c->gather_cap = most ? most + c->chunk : 0;
    return HW_OK;
}

void hw_kv_reset(hw_context *c) {
    const hw_config *cfg = &c->m->cfg;
    for (size_t i = 0; i < (size_t)cfg->n_layer * cfg->n_kv_head; i++) c->kv[i].dropped = 0;
}

size_t hw_context_kv_bytes(const hw_context *c, int layer, int kv_head) {
    if (!c) return 0;
    const hw_config *cfg = &c->m->cfg;
    size_t rows = 0;
    for (int l = 0; l < cfg->n_layer; l++)
        for (int hk = 0; hk < cfg->n_kv_head; hk++)
            if ((layer < 0 || l == layer) && (kv_head < 0 || hk == kv_head))
                rows += (size_t)layout(c, l, hk)->cap;
    return 2 * rows * (size_t)cfg->head_dim * sizeof(float);
}

/* The row of position p in a head's cache. */
static int slot(const hw_kv_layout *k, int p) {
    return k->recent == 0 || p < k->sink ? p : k->sink + (p - k->sink) % k->recent;
}

static float *row(const hw_context *c, float *cache, const hw_kv_layout *k, int r) {
    return cache + (k->off + (size_t)r) * c->m->cfg.head_dim;
}

/* Fold every position before `until` that is still in the ring into the compensation
 * row, oldest first (each is still in its ring row: it is folded before anything
 * overwrites it). */
static void fold_until(hw_context *c, hw_kv_layout *k, int until) {
    if (k->comp == HW_KV_COMP_NONE) return;
    const int Dh = c->m->cfg.head_dim;
    float *kc = row(c, c->k_cache, k, k->sink + k->recent);
    float *vc = row(c, c->v_cache, k, k->sink + k->recent);
    for (int p; (p = k->sink + k->dropped) < until;) {
        const float *ks = row(c, c->k_cache, k, slot(k, p)), *vs = row(c, c->v_cache, k, slot(k, p));
        const float w = 1.0f / (float)++k->dropped;
        for (int d = 0; d < Dh; d++) {
            kc[d] = k->dropped == 1 ? ks[d] : kc[d] + (ks[d] - kc[d]) * w;
            vc[d] = k->dropped == 1 ? vs[d] : vc[d] + (vs[d] - vc[d]) * w;
        }
    }
}

/* Store chunk row t (position p) of KV head hk. */
static void store(hw_context *c, hw_kv_layout *k, int hk, int p, int t) {
    const int Dh = c->m->cfg.head_dim, Hk = c->m->cfg.n_kv_head;
    if (k->recent && p >= k->sink + k->recent) fold_until(c, k, p - k->recent + 1);
    const size_t src = ((size_t)t * Hk + hk) * Dh;
    memcpy(row(c, c->k_cache, k, slot(k, p)), c->k + src, (size_t)Dh * sizeof(float));
    memcpy(row(c, c->v_cache, k, slot(k, p)), c->v + src, (size_t)Dh * sizeof(float));
}

typedef struct {
    hw_context *c;
    int l, pos, T;
} chunk_job;

static void begin_heads(void *arg, int h0, int h1) {
    const chunk_job *j = arg;
    hw_context *c = j->c;
    const int Dh = c->m->cfg.head_dim, Hk = c->m->cfg.n_kv_head, pos = j->pos, T = j->T;
    for (int hk = h0; hk < h1; hk++) {
        hw_kv_layout *k = layout(c, j->l, hk);
        k->gathered = k->recent && T > 1 && pos + T > k->sink + k->recent;
        if (!k->gathered) {
            for (int t = 0; t < T; t++) store(c, k, hk, pos + t, t);
            continue;
        }
        /* What every row of the chunk sees from before it: the sinks and the last
         * recent - 1 positions, in position order; the chunk's rows follow. */
        fold_until(c, k, pos - k->recent + 1);
        float *gk = c->k_gather + (size_t)hk * c->gather_cap * Dh;
        float *gv = c->v_gather + (size_t)hk * c->gather_cap * Dh;
        const size_t bytes = (size_t)Dh * sizeof(float);
        int n = 0;
        for (int p = 0; p < pos; p++) {
            if (p >= k->sink && p < pos - k->recent + 1) {
                p = pos - k->recent; /* skip to the recent window */
                continue;
            }
            memcpy(gk + (size_t)n * Dh, row(c, c->k_cache, k, slot(k, p)), bytes);
            memcpy(gv + (size_t)n++ * Dh, row(c, c->v_cache, k, slot(k, p)), bytes);
        }
        k->n_before = n;
        for (int t = 0; t < T; t++, n++) {
            memcpy(gk + (size_t)n * Dh, c->k + ((size_t)t * Hk + hk) * Dh, bytes);
            memcpy(gv + (size_t)n * Dh, c->v + ((size_t)t * Hk + hk) * Dh, bytes);
        }
    }
}

void hw_kv_begin(hw_context *c, int l, int pos, int T) {
    chunk_job j = {c, l, pos, T};
    hw_parallel_range(begin_heads, &j, c->m->cfg.n_kv_head, 1);
}

void hw_kv_end(hw_context *c, int l, int pos, int T) {
    for (int hk = 0; hk < c->m->cfg.n_kv_head; hk++) {
        hw_kv_layout *k = layout(c, l, hk);
        if (!k->gathered) continue;
        for (int t = 0; t < T; t++) store(c, k, hk, pos + t, t);
        k->gathered = 0;
    }
}

/* One query row over n keys and the compensation row, whose score gets `bias`. */
static void attend_comp(float *z, float *att, const float *q, const float *K, const float *V,
                        int n, const float *kc, const float *vc, float bias, int Dh,
                        float scale) {
    for (int s = 0; s < n; s++) att[s] = hw_dot(q, K + (size_t)s * Dh, Dh) * scale;
    att[n] = hw_dot(q, kc, Dh) * scale + bias;
    hw_softmax(att, n + 1);
    memset(z, 0, (size_t)Dh * sizeof *z);
    for (int s = 0; s < n; s++) hw_axpy(z, att[s], V + (size_t)s * Dh, Dh);
    hw_axpy(z, att[n], vc, Dh);
}

void hw_kv_attend(hw_context *c, int l, int h, int pos, int T) {
    const hw_config *cfg = &c->m->cfg;
    const int H = cfg->n_head, Dh = cfg->head_dim, HD = H * Dh;
    const hw_kv_layout *k = layout(c, l, hw_kv_head(cfg, h));
    const float scale = 1.0f / sqrtf((float)Dh);
    float *z = c->z + (size_t)h * Dh, *att = c->att + (size_t)h * (c->n_ctx + 1);
    const float *q = c->q + (size_t)h * Dh;
    const float *K = row(c, c->k_cache, k, 0), *V = row(c, c->v_cache, k, 0);
    int end = pos + 1; /* keys row 0 sees, in K's order */
    if (k->gathered) {
        const size_t g = (size_t)hw_kv_head(cfg, h) * c->gather_cap * Dh;
        K = c->k_gather + g, V = c->v_gather + g, end = k->n_before + 1;
    } else if (k->recent && pos + 1 > k->sink + k->recent) { /* a wrapped decode step */
        end = k->sink + k->recent;
    }
    if (k->dropped == 0) {
        hw_attend_rows(z, HD, q, HD, K, V, T, end, k->window, Dh, scale, att);
        return;
    }
    const float *kc = row(c, c->k_cache, k, k->sink + k->recent);
    const float *vc = row(c, c->v_cache, k, k->sink + k->recent);
    const float bias = k->comp == HW_KV_COMP_WEIGHTED ? logf((float)k->dropped) : 0.0f;
    for (int t = 0; t < T; t++)
        attend_comp(z + (size_t)t * HD, att, q + (size_t)t * HD, K, V, end + t, kc, vc, bias, Dh,
                    scale);
}

const float *hw_kv_key(const hw_context *c, int l, int hk, int pos, int qpos, int key,
                       const float **v) {
    const hw_config *cfg = &c->m->cfg;
    const hw_kv_layout *k = layout(c, l, hk);
    const size_t Dh = (size_t)cfg->head_dim;
    *v = NULL;
    if (key > qpos) return NULL;
    if (key >= pos || !k->recent) { /* the chunk's own rows, or a cache of every position */
        if (qpos - key >= k->window) return NULL;
        if (key < pos) return *v = row(c, c->v_cache, k, key), row(c, c->k_cache, k, key);
        const size_t r = ((size_t)(key - pos) * cfg->n_kv_head + hk) * Dh;
        return *v = c->v + r, c->k + r;
    }
    if (key < k->sink || (key > pos - k->recent && qpos - key < k->window))
        return *v = row(c, c->v_cache, k, slot(k, key)), row(c, c->k_cache, k, slot(k, key));
    if (k->comp != HW_KV_COMP_NONE && key < k->sink + k->dropped &&
        (k->comp == HW_KV_COMP_WEIGHTED || key == k->sink)) {
        const int r = k->sink + k->recent;
        return *v = row(c, c->v_cache, k, r), row(c, c->k_cache, k, r);
    }
    return NULL;
}

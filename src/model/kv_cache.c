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
    int W, A;
    hw_longheads_score score;
    /* A context no longer than A never re-indexes: it is the full cache. */
    if (p && hw_kv_policy_longheads(p, &W, &A, &score) && A < C) {
        c->lh_w = W, c->lh_len = A, c->lh_chunks = C / W, c->lh_max = score == HW_LONGHEADS_MAX;
        /* kv_cache.c's lh_work and lh_sel layouts */
        c->lh_stride = (size_t)c->lh_chunks + 2 * (size_t)W + ((size_t)W + 1) * cfg->head_dim;
        c->lh_sel_stride = (size_t)c->lh_chunks + (size_t)c->chunk * (A / W);
    }
    return HW_OK;
}

hw_status hw_kv_init(hw_context *c) {
    if (!c->lh_len) return HW_OK;
    const int half = c->rot / 2;
    /* The table's frequencies are those of a chunk ending at A: the positions it rotates
     * to are all below A (only dynamic scaling would tell the difference). */
    hw_rope_inv_freq(c->inv_freq, &c->m->cfg, c->rot, c->lh_len);
    for (int p = 0; p < c->lh_len; p++)
        for (int i = 0; i < half; i++) {
            float a = (float)p * c->inv_freq[i];
            c->lh_cos[p * half + i] = cosf(a);
            c->lh_sin[p * half + i] = sinf(a);
        }
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
    size_t floats = 2 * rows * (size_t)cfg->head_dim;
    if (c->lh_len) { /* LongHeads' chunk-rotated keys, its chunk keys and pending queries */
        const size_t G = (size_t)(cfg->n_head / cfg->n_kv_head);
        const size_t heads = (size_t)(layer < 0 ? cfg->n_layer : 1) * (kv_head < 0 ? cfg->n_kv_head : 1);
        floats += heads * ((size_t)c->n_ctx + (c->lh_max ? 0 : G * (c->lh_chunks + c->lh_w))) *
                  cfg->head_dim;
    }
    return floats * sizeof(float);
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

static void lh_rotate(const hw_context *c, float *out, const float *in, int p);

/* Store chunk row t (position p) of KV head hk. */
static void store(hw_context *c, hw_kv_layout *k, int hk, int p, int t) {
    const int Dh = c->m->cfg.head_dim, Hk = c->m->cfg.n_kv_head;
    if (k->recent && p >= k->sink + k->recent) fold_until(c, k, p - k->recent + 1);
    const size_t src = ((size_t)t * Hk + hk) * Dh;
    memcpy(row(c, c->k_cache, k, slot(k, p)), c->k + src, (size_t)Dh * sizeof(float));
    memcpy(row(c, c->v_cache, k, slot(k, p)), c->v + src, (size_t)Dh * sizeof(float));
    if (c->lh_len) /* LongHeads: rotated within its chunk (see "LongHeads" below) */
        lh_rotate(c, c->lh_k + ((size_t)(k - c->kv) * c->n_ctx + p) * Dh, c->k_raw + src, p % c->lh_w);
}

/* ------------------------------------------------------------ LongHeads */

/* A head's keys are kept rotated within their chunk, R(p mod W) k, the only rotation
 * any use of them needs once the query is rotated instead (R(a)^T R(b) = R(b - a), as
 * rope_apply rotates):
 *   - pooling a chunk rotates its keys to 0 .. W-1: as stored;
 *   - a chunk placed at slot s of a re-indexed row (keys at s*W .. s*W + W-1, the query
 *     at n - 1) scores R(n-1) q . R(s*W + j) k = R(n-1 - s*W) q . R(j) k: one rotation
 *     of the query per chunk, by a distance in [0, A), where the keys sit in the cache;
 *   - the un-rotated q . k of score=max is R(j) q . R(j) k: W rotations of the query.
 * Two rotations composed round differently from one; tests/test_longheads.c's double
 * precision reference still agrees to 1.2e-7 in the logits, with the same choices. */

/* out = in rotated to position p (< A), as forward.c's rope_apply rotates (out may be in). */
static void lh_rotate(const hw_context *c, float *out, const float *in, int p) {
    const int Dh = c->m->cfg.head_dim, half = c->rot / 2;
    const int interleaved = c->m->cfg.rope_layout == HW_ROPE_INTERLEAVED;
    const float *cs = c->lh_cos + (size_t)p * half, *sn = c->lh_sin + (size_t)p * half;
    if (out != in) memcpy(out, in, (size_t)Dh * sizeof *out);
    for (int i = 0; i < half; i++) {
        int a = interleaved ? 2 * i : i, b = interleaved ? 2 * i + 1 : i + half;
        float v0 = out[a], v1 = out[b];
        out[a] = v0 * cs[i] - v1 * sn[i];
        out[b] = v0 * sn[i] + v1 * cs[i];
    }
}

/* Key p of (l, hk), rotated to p mod W. */
static float *lh_key(const hw_context *c, int l, int hk, int p) {
    const hw_config *cfg = &c->m->cfg;
    return c->lh_k + (((size_t)l * cfg->n_kv_head + hk) * c->n_ctx + p) * cfg->head_dim;
}

static float *lh_chunk_key(const hw_context *c, int l, int h, int ci) {
    const hw_config *cfg = &c->m->cfg;
    return c->lh_ckey + (((size_t)l * cfg->n_head + h) * c->lh_chunks + ci) * cfg->head_dim;
}

/* Part of query head h's scratch (lh_stride floats): chunk scores (lh_chunks), attention
 * over a chunk (W), its column sums (W), one vector (Dh), W rotated queries (W, Dh). A KV
 * head's pooling and choosing use its first query head's, in hw_kv_begin, before any
 * attention; attention uses each head's own vector. */
enum { LH_SCORES, LH_ATT, LH_COLS, LH_VEC, LH_ROTQ };
static float *lh_work(const hw_context *c, int h, int part) {
    const size_t C = (size_t)c->lh_chunks, W = (size_t)c->lh_w, Dh = (size_t)c->m->cfg.head_dim;
    const size_t at[] = {0, C, C + W, C + 2 * W, C + 2 * W + Dh};
    return c->lh_work + (size_t)h * c->lh_stride + at[part];
}

/* KV head hk's candidate chunk indices (lh_chunks), then the chunks each row t of the
 * pass reads, in chunk order (chunk rows, A/W): context.h, lh_sel_stride. */
static int *lh_cand(const hw_context *c, int hk) { return c->lh_sel + (size_t)hk * c->lh_sel_stride; }
static int *lh_sel(const hw_context *c, int hk, int t) {
    return lh_cand(c, hk) + c->lh_chunks + (size_t)t * (size_t)(c->lh_len / c->lh_w);
}

/* softmax_j(q . K_j * scale) over n rows of K into att; returns nothing, att sums to 1. */
static void lh_softmax_scores(float *att, const float *q, const float *K, int n, int Dh,
                              float scale) {
    for (int j = 0; j < n; j++) att[j] = hw_dot(q, K + (size_t)j * Dh, Dh) * scale;
    hw_softmax(att, n);
}

/* The pooled keys of completed chunk ci for the query heads of KV head hk (methods.md
 * 4, "Chunk representation"): the chunk's keys and queries rotated with chunk-local
 * positions (both kept so), every query attending to every key of the chunk (not
 * causal), the mean of those outputs as one query over the chunk's keys, whose weighted
 * keys are the chunk key. The mean output is sum_j (mean_t att_t[j]) V_j: the columns
 * are summed first, W value rows added once rather than W times. */
static void lh_pool_chunk(hw_context *c, const hw_kv_layout *k, int l, int hk, int ci) {
    const hw_config *cfg = &c->m->cfg;
    const int Dh = cfg->head_dim, W = c->lh_w, G = cfg->n_head / cfg->n_kv_head;
    const float scale = 1.0f / sqrtf((float)Dh);
    const float *Kt = lh_key(c, l, hk, ci * W); /* (W, Dh) */
    const float *V = c->v_cache + (k->off + (size_t)ci * W) * Dh;
    float *att = lh_work(c, hk * G, LH_ATT), *col = lh_work(c, hk * G, LH_COLS); /* (W), (W) */
    float *s = lh_work(c, hk * G, LH_VEC);                                      /* (Dh) */
    for (int h = hk * G; h < (hk + 1) * G; h++) {
        memset(col, 0, (size_t)W * sizeof *col);
        const float *Q = c->lh_qpend + ((size_t)l * cfg->n_head + h) * W * Dh;
        for (int t = 0; t < W; t++) {
            lh_softmax_scores(att, Q + (size_t)t * Dh, Kt, W, Dh, scale);
            for (int j = 0; j < W; j++) col[j] += att[j];
        }
        memset(s, 0, (size_t)Dh * sizeof *s);
        for (int j = 0; j < W; j++) hw_axpy(s, col[j] / (float)W, V + (size_t)j * Dh, Dh);
        lh_softmax_scores(att, s, Kt, W, Dh, scale);
        float *key = lh_chunk_key(c, l, h, ci);
        memset(key, 0, (size_t)Dh * sizeof *key);
        for (int j = 0; j < W; j++) hw_axpy(key, att[j], Kt + (size_t)j * Dh, Dh);
    }
}

/* After a chunk's rows are stored: keep their queries rotated within the chunk and pool
 * every chunk they complete. */
static void lh_begin(hw_context *c, const hw_kv_layout *k, int l, int hk, int pos, int T) {
    const hw_config *cfg = &c->m->cfg;
    const int H = cfg->n_head, Dh = cfg->head_dim, W = c->lh_w, G = H / cfg->n_kv_head;
    for (int t = 0; t < T; t++) {
        const int p = pos + t;
        for (int h = hk * G; h < (hk + 1) * G; h++)
            lh_rotate(c, c->lh_qpend + (((size_t)l * H + h) * W + p % W) * Dh,
                      c->q_raw + ((size_t)t * H + h) * Dh, p % W);
        if (p % W == W - 1 && p / W < c->lh_chunks) lh_pool_chunk(c, k, l, hk, p / W);
    }
}

/* Chunks that row i chooses besides 0, i's previous and its own: A/W - 3. Past A
 * there are always more candidates (1 .. i/W - 2) than that. */
static int lh_top(const hw_context *c) { return c->lh_len / c->lh_w - 3; }

/* KV head hk's chunks for row t, at position i >= A (methods.md 4, "Decoding" and
 * "Prefill"): chunk 0, the chunk before i's, and the A/W - 3 earlier chunks whose score,
 * the sum over the KV head's query group of un-rotated q . chunk key (or, lh_max, of the
 * largest un-rotated q . k in the chunk), is highest (ties to the lower index); into
 * lh_sel in chunk order. Chosen once per KV head: every head of the group reads the same
 * chunks. */
static void lh_choose(hw_context *c, int l, int hk, int i, int t) {
    const hw_config *cfg = &c->m->cfg;
    const int H = cfg->n_head, Dh = cfg->head_dim, W = c->lh_w, G = H / cfg->n_kv_head;
    const int cur = i / W, top = lh_top(c), m = cur - 2;
    float *sc = lh_work(c, hk * G, LH_SCORES), *rq = lh_work(c, hk * G, LH_ROTQ); /* (m), (W, Dh) */
    for (int ci = 1; ci <= m; ci++) sc[ci - 1] = 0.0f;
    for (int g = hk * G; g < (hk + 1) * G; g++) {
        const float *qg = c->q_raw + ((size_t)t * H + g) * Dh;
        if (!c->lh_max) {
            for (int ci = 1; ci <= m; ci++) sc[ci - 1] += hw_dot(qg, lh_chunk_key(c, l, g, ci), Dh);
            continue;
        }
        for (int j = 0; j < W; j++) lh_rotate(c, rq + (size_t)j * Dh, qg, j);
        for (int ci = 1; ci <= m; ci++) {
            const float *K = lh_key(c, l, hk, ci * W);
            float best = -INFINITY;
            for (int j = 0; j < W; j++) best = fmaxf(best, hw_dot(rq + (size_t)j * Dh, K + (size_t)j * Dh, Dh));
            sc[ci - 1] += best;
        }
    }
    int *cand = lh_cand(c, hk), *sel = lh_sel(c, hk, t);
    for (int ci = 1; ci <= m; ci++) cand[ci - 1] = ci;
    for (int a = 0; a < top; a++) { /* the top chunks to the front */
        int best = a;
        for (int b = a + 1; b < m; b++)
            if (sc[b] > sc[best] || (sc[b] == sc[best] && cand[b] < cand[best])) best = b;
        const float fs = sc[a];
        const int fi = cand[a];
        sc[a] = sc[best], cand[a] = cand[best], sc[best] = fs, cand[best] = fi;
        sel[a] = cand[a];
    }
    sel[top] = 0;
    sel[top + 1] = cur - 1;
    for (int a = 1; a < top + 2; a++) /* chunk order */
        for (int b = a; b > 0 && sel[b] < sel[b - 1]; b--) {
            int ti = sel[b];
            sel[b] = sel[b - 1], sel[b - 1] = ti;
        }
}

/* z += a * v over n values. hw_axpy's plain loop is not vectorised at -O2 (its pointers
 * may alias; the compiler would have to check): here, in blocks of 16, it is, the same
 * sums in the same order. Past A, adding a row's A value rows is most of its time. */
static void lh_add(float *restrict z, float a, const float *restrict v, int n) {
    int i = 0;
    for (; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; l++) z[i + l] += a * v[i + l];
    for (; i < n; i++) z[i] += a * v[i];
}

/* Query head h's row t at position i >= A: the chunks its KV head chose, placed at slots
 * 0 .. A/W - 2 in chunk order, i's own chunk up to i after them, the query at n - 1 (the
 * re-indexed positions of methods.md 4); each chunk scored where it sits in the cache
 * with the query rotated by its distance to the slot, then one softmax over the n
 * scores and the value rows added in place. */
static void lh_attend_row(hw_context *c, const hw_kv_layout *k, int l, int h, int i, int t) {
    const hw_config *cfg = &c->m->cfg;
    const int H = cfg->n_head, Dh = cfg->head_dim, W = c->lh_w, G = H / cfg->n_kv_head;
    const int hk = h / G, cur = i / W, slots = lh_top(c) + 2, n = slots * W + i % W + 1;
    const float scale = 1.0f / sqrtf((float)Dh), *q = c->q_raw + ((size_t)t * H + h) * Dh;
    const int *sel = lh_sel(c, hk, t);
    float *att = c->att + (size_t)h * (c->n_ctx + 1), *qd = lh_work(c, h, LH_VEC); /* (n), (Dh) */
    float *z = c->z + ((size_t)t * H + h) * Dh;
    for (int s = 0, r = 0; s <= slots; s++) {
        const int ci = s < slots ? sel[s] : cur, len = s < slots ? W : i % W + 1;
        const float *K = lh_key(c, l, hk, ci * W);
        lh_rotate(c, qd, q, n - 1 - s * W);
        for (int j = 0; j < len; j++, r++) att[r] = hw_dot(qd, K + (size_t)j * Dh, Dh) * scale;
    }
    hw_softmax(att, n);
    memset(z, 0, (size_t)Dh * sizeof *z);
    for (int s = 0, r = 0; s <= slots; s++) {
        const int ci = s < slots ? sel[s] : cur, len = s < slots ? W : i % W + 1;
        for (int j = 0; j < len; j++, r++) lh_add(z, att[r], row(c, c->v_cache, k, ci * W + j), Dh);
    }
}

/* After the pass's rows are stored and pooled: the chunks of every row from A on. */
static void lh_choose_rows(hw_context *c, int l, int hk, int pos, int T) {
    for (int t = pos < c->lh_len ? c->lh_len - pos : 0; t < T; t++) lh_choose(c, l, hk, pos + t, t);
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
            if (c->lh_len && !c->lh_max) lh_begin(c, k, j->l, hk, pos, T);
            if (c->lh_len) lh_choose_rows(c, j->l, hk, pos, T);
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
    if (c->lh_len && pos + T > c->lh_len) { /* rows from A on choose their chunks */
        const int below = pos < c->lh_len ? c->lh_len - pos : 0;
        if (below) hw_attend_rows(z, HD, q, HD, K, V, below, end, k->window, Dh, scale, att);
        for (int t = below; t < T; t++) lh_attend_row(c, k, l, h, pos + t, t);
        return;
    }
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

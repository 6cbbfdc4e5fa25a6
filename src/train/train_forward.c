/*
 * train_forward.c: the forward pass of training over a batch of B sequences of T
 * tokens (N = B*T rows), saving what the backward pass reads (train.h), and the
 * mean cross-entropy loss with its gradient with respect to the logits.
 *
 * It computes what hw_forward computes for each sequence from position 0 (tested to
 * 1e-5), but keeps every layer's activations and the explicit (T, T) pattern of each
 * (sequence, head). Projections are single sgemm calls over all N rows; attention and
 * row-wise work are shared by the pool per (sequence, head) or per row, each output
 * computed by one thread in a fixed order, so results do not depend on the thread count.
 *
 * With DuoAttention's gates set (duo.c) each head also gets a streaming pattern from the
 * same scores and W_O reads the gated mix; in hidden mode the forward ends at the final
 * norm. Neither changes a bit of the plain forward.
 */
#include "train.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <string.h>

/* y (N, R) = x (N, K) @ W^T (R, K) (+ b). */
static void linear(float *y, const float *x, const float *W, const float *b, int N, int R, int K) {
    if (b)
        for (int t = 0; t < N; t++) memcpy(y + (size_t)t * R, b, (size_t)R * sizeof(float));
    hw_train_gemm(0, 1, N, R, K, 1.0f, x, K, W, K, b ? 1.0f : 0.0f, y, R);
}

/* ---------------------------------------------------------------- norms */

typedef struct {
    float *out, *mean, *rstd;
    const float *x, *w, *b;
    int n, layer;
    float eps;
} norm_job;

/* LayerNorm statistics in double (as ops.c), RMSNorm's mean square as hw_dot. */
static void norm_rows(void *arg, int r0, int r1) {
    const norm_job *j = arg;
    const int n = j->n;
    for (int r = r0; r < r1; r++) {
        const float *x = j->x + (size_t)r * n;
        float *o = j->out + (size_t)r * n;
        if (j->layer) {
            double s = 0, ss = 0;
            for (int i = 0; i < n; i++) s += x[i];
            const double mean = s / n;
            for (int i = 0; i < n; i++) ss += (x[i] - mean) * (x[i] - mean);
            const float inv = (float)(1.0 / sqrt(ss / n + j->eps));
            for (int i = 0; i < n; i++) {
                float v = (float)(x[i] - mean) * inv * j->w[i];
                o[i] = j->b ? v + j->b[i] : v;
            }
            j->mean[r] = (float)mean;
            j->rstd[r] = inv;
        } else {
            const float inv = 1.0f / sqrtf(hw_dot(x, x, n) / (float)n + j->eps);
            for (int i = 0; i < n; i++) o[i] = j->w[i] * (inv * x[i]);
            j->mean[r] = 0;
            j->rstd[r] = inv;
        }
    }
}

static void norm_forward(float *out, float *mean, float *rstd, const float *x, const float *w,
                         const float *b, int N, const hw_config *cfg) {
    norm_job j = {out, mean, rstd, x, w, b, cfg->d_model, cfg->norm == HW_NORM_LAYER,
                  cfg->norm_eps};
    hw_parallel_range(norm_rows, &j, N, 64);
}

/* ---------------------------------------------------------------- rotary */

void hw_train_rope_tables(const hw_config *cfg, int rot, int T, float *cos_t, float *sin_t) {
    const int half = rot / 2;
    float f[512];
    hw_rope_inv_freq(f, cfg, rot, T);
    for (int t = 0; t < T; t++)
        for (int i = 0; i < half; i++) {
            float a = (float)t * f[i];
            cos_t[t * half + i] = cosf(a);
            sin_t[t * half + i] = sinf(a);
        }
}

typedef struct {
    const hw_grad *g;
    float *x;
    int T, n_heads;
    float sign;
} rope_job;

/* Rows r0..r1: each head's pairs rotated by its position's angle; the two layouts in
 * separate loops so that each vectorises (contiguous halves, or even/odd pairs). */
static void rope_rows(void *arg, int r0, int r1) {
    const rope_job *j = arg;
    const hw_config *cfg = &j->g->m->cfg;
    const int Dh = cfg->head_dim, half = j->g->rot / 2;
    const int il = cfg->rope_layout == HW_ROPE_INTERLEAVED;
    for (int r = r0; r < r1; r++) {
        const float *cs = j->g->rope_cos + (r % j->T) * half;
        const float *sn = j->g->rope_sin + (r % j->T) * half;
        for (int h = 0; h < j->n_heads; h++) {
            float *v = j->x + ((size_t)r * j->n_heads + h) * Dh;
            if (il) {
#pragma omp simd
                for (int i = 0; i < half; i++) {
                    float v0 = v[2 * i], v1 = v[2 * i + 1], s = j->sign * sn[i];
                    v[2 * i] = v0 * cs[i] - v1 * s;
                    v[2 * i + 1] = v0 * s + v1 * cs[i];
                }
            } else {
                float *w = v + half;
#pragma omp simd
                for (int i = 0; i < half; i++) {
                    float v0 = v[i], v1 = w[i], s = j->sign * sn[i];
                    v[i] = v0 * cs[i] - v1 * s;
                    w[i] = v0 * s + v1 * cs[i];
                }
            }
        }
    }
}

/* Rotate the first rot dims of every head of x (N rows of n_heads*Dh); sign -1
 * rotates backwards (the transpose, for gradients). */
void hw_train_rope(const hw_grad *g, float *x, int N, int T, int n_heads, float sign) {
    rope_job j = {g, x, T, n_heads, sign};
    hw_parallel_range(rope_rows, &j, N, 64);
}

/* ---------------------------------------------------------------- attention */

/* The window of keys query i sees: [lo, i]. */
static inline int window_lo(int i, int window) { return i - window + 1 > 0 ? i - window + 1 : 0; }

int hw_train_window(const hw_config *cfg, int l) {
    return cfg->sliding_window > 0 && l >= cfg->sliding_window_from ? cfg->sliding_window
                                                                    : INT_MAX;
}

typedef struct {
    const hw_grad *g;
    hw_layer_acts *a;
    int T, window;
    int duo;                    /* also the streaming pattern att_s and output z_s */
} attn_job;

/* DuoAttention's streaming softmax of rows i0..i1 of a block whose raw scores are in
 * att_s: row i sees the keys k in its window with k < sink or i - recent < k <= i;
 * every other key of the block's range (up to i1) gets 0. */
static void stream_softmax(float *att_s, int T, int i0, int i1, int window, int sink,
                           int recent) {
    for (int i = i0; i < i1; i++) {
        const int lo = window_lo(i, window);
        const int r0 = i - recent + 1 > lo ? i - recent + 1 : lo; /* the recent keys */
        const int s1 = sink < r0 ? sink : r0;                       /* sinks before them */
        float *p = att_s + (size_t)i * T;
        float mx = hw_train_max(p + r0, i - r0 + 1);
        for (int t = lo; t < s1; t++) mx = p[t] > mx ? p[t] : mx;
        float sum = 0;
        for (int t = lo; t < s1; t++) sum += p[t] = hw_train_exp(p[t] - mx);
        for (int t = r0; t <= i; t++) sum += p[t] = hw_train_exp(p[t] - mx);
        const float inv = 1.0f / sum;
        for (int t = 0; t < i1; t++)
            p[t] = (t >= lo && t < s1) || (t >= r0 && t <= i) ? p[t] * inv : 0.0f;
    }
}

/* Per (sequence, head), in blocks of HW_TRAIN_QBLOCK query rows: the block's scores
 * against the keys up to its last query (a small sgemm; the causal part only, bar the
 * block's own triangle), the softmax of each row over its window (0 elsewhere), and
 * z = pattern @ V over the same keys. Row i of the pattern is defined up to its block's
 * last key. OpenBLAS runs products this small on the calling thread, so the pool's
 * threads each run their own. */
static void attend_heads(void *arg, int j0, int j1) {
    const attn_job *j = arg;
    const hw_config *cfg = &j->g->m->cfg;
    const int H = cfg->n_head, Hk = cfg->n_kv_head, Dh = cfg->head_dim, T = j->T;
    const int Q = H * Dh, K = Hk * Dh;
    const float scale = 1.0f / sqrtf((float)Dh);
    for (int bh = j0; bh < j1; bh++) {
        const int b = bh / H, h = bh % H, kh = h / (H / Hk);
        const size_t row0 = (size_t)b * T;
        const float *q = j->a->q + row0 * Q + (size_t)h * Dh;
        const float *k = j->a->k + row0 * K + (size_t)kh * Dh;
        const float *v = j->a->v + row0 * K + (size_t)kh * Dh;
        float *z = j->a->z + row0 * Q + (size_t)h * Dh;
        float *att = j->a->att + (size_t)bh * T * T;
        for (int i0 = 0; i0 < T; i0 += HW_TRAIN_QBLOCK) {
            const int i1 = i0 + HW_TRAIN_QBLOCK < T ? i0 + HW_TRAIN_QBLOCK : T, m = i1 - i0;
            float *ab = att + (size_t)i0 * T;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, i1, Dh, scale,
                        q + (size_t)i0 * Q, Q, k, K, 0.0f, ab, T);
            if (j->duo) { /* the same scores, the streaming mask */
                float *sb = j->a->att_s + (size_t)bh * T * T + (size_t)i0 * T;
                for (int r = 0; r < m; r++)
                    memcpy(sb + (size_t)r * T, ab + (size_t)r * T, (size_t)i1 * sizeof(float));
                stream_softmax(j->a->att_s + (size_t)bh * T * T, T, i0, i1, j->window,
                               j->g->duo_sink, j->g->duo_recent);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, Dh, i1, 1.0f, sb, T, v,
                            K, 0.0f, j->a->z_s + row0 * Q + (size_t)h * Dh + (size_t)i0 * Q, Q);
            }
            for (int i = i0; i < i1; i++) {
                const int lo = window_lo(i, j->window);
                float *p = att + (size_t)i * T;
                const float mx = hw_train_max(p + lo, i - lo + 1);
                float sum = 0;
#pragma omp simd reduction(+ : sum)
                for (int t = lo; t <= i; t++) {
                    p[t] = hw_train_exp(p[t] - mx);
                    sum += p[t];
                }
                const float inv = 1.0f / sum;
                if (lo > 0) memset(p, 0, (size_t)lo * sizeof(float));
#pragma omp simd
                for (int t = lo; t <= i; t++) p[t] *= inv;
                /* Hidden keys the block's product reads are 0; later ones are never read. */
                if (i + 1 < i1) memset(p + i + 1, 0, (size_t)(i1 - i - 1) * sizeof(float));
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, Dh, i1, 1.0f, ab, T, v, K,
                        0.0f, z + (size_t)i0 * Q, Q);
        }
    }
}

/* ---------------------------------------------------------------- loss */

typedef struct {
    hw_grad *g;
    const int *targets;
    float inv_n;
} loss_job;

/* Per row: loss -log softmax(logits)[target] and its gradient (softmax - onehot) / n. */
static void loss_rows(void *arg, int r0, int r1) {
    const loss_job *j = arg;
    const int V = j->g->m->cfg.vocab_size;
    for (int r = r0; r < r1; r++) {
        const float *lg = j->g->logits + (size_t)r * V;
        float *dl = j->g->dlogits + (size_t)r * V;
        const int tgt = j->targets[r];
        if (tgt < 0) {
            memset(dl, 0, (size_t)V * sizeof(float));
            j->g->row_loss[r] = 0;
            continue;
        }
        const float mx = hw_train_max(lg, V);
        float sum = 0; /* of at most V values in (0, 1], one of them 1 */
#pragma omp simd reduction(+ : sum)
        for (int v = 0; v < V; v++) {
            dl[v] = hw_train_exp(lg[v] - mx);
            sum += dl[v];
        }
        const float scale = j->inv_n / sum;
#pragma omp simd
        for (int v = 0; v < V; v++) dl[v] *= scale;
        dl[tgt] -= j->inv_n;
        j->g->row_loss[r] = (float)(log((double)sum) + mx - lg[tgt]);
    }
}

/* ---------------------------------------------------------------- forward */

static void add(float *x, const float *y, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] += y[i];
}

hw_status hw_train_forward(hw_grad *g, const hw_batch *bt) {
    const hw_config *cfg = &g->m->cfg;
    const hw_params *w = &g->w;
    const int B = bt->B, T = bt->T, N = B * T, L = cfg->n_layer, D = cfg->d_model;
    const int H = cfg->n_head, Hk = cfg->n_kv_head, Dh = cfg->head_dim, F = cfg->d_ff;
    const int V = cfg->vocab_size, Q = H * Dh, K = Hk * Dh;
    const size_t ND = (size_t)N * D;
    float *x0 = g->acts[0].x;
    for (int r = 0; r < N; r++) {
        memcpy(x0 + (size_t)r * D, w->tok_embed + (size_t)bt->tokens[r] * D, D * sizeof(float));
        if (w->pos_embed) hw_axpy(x0 + (size_t)r * D, 1.0f, w->pos_embed + (size_t)(r % T) * D, D);
    }
    if (g->rot > 0) hw_train_rope_tables(cfg, g->rot, T, g->rope_cos, g->rope_sin);
    for (int l = 0; l < L; l++) {
        hw_layer_acts *a = &g->acts[l];
        const hw_layer_params *lw = &w->layers[l];
        float *x_next = l + 1 < L ? g->acts[l + 1].x : g->x_final;
        norm_forward(a->xn1, a->mean1, a->rstd1, a->x, lw->attn_norm, lw->attn_norm_b, N, cfg);
        linear(a->q, a->xn1, lw->wq, lw->bq, N, Q, D);
        linear(a->k, a->xn1, lw->wk, lw->bk, N, K, D);
        linear(a->v, a->xn1, lw->wv, lw->bv, N, K, D);
        if (g->rot > 0) {
            hw_train_rope(g, a->q, N, T, H, 1.0f);
            hw_train_rope(g, a->k, N, T, Hk, 1.0f);
        }
        attn_job aj = {g, a, T, hw_train_window(cfg, l), g->duo_alpha != NULL};
        hw_parallel_range(attend_heads, &aj, B * H, 1);
        float *zg = g->gates || g->duo_alpha ? a->zg : a->z;
        if (g->duo_alpha) { /* each head's mix alpha z + (1 - alpha) z_s, alpha of its group */
            const float *al = g->duo_alpha + (size_t)l * Hk;
            const size_t n = (size_t)N * Q;
            for (size_t i = 0; i < n; i++) {
                const float x = al[(i % Q) / Dh / (H / Hk)];
                a->zg[i] = x * a->z[i] + (1.0f - x) * a->z_s[i];
            }
        }
        if (g->gates) {
            const float *gl = g->gates + (size_t)l * H;
            for (int r = 0; r < N; r++)
                for (int h = 0; h < H; h++)
                    for (int d = 0; d < Dh; d++) {
                        size_t i = ((size_t)r * H + h) * Dh + d;
                        a->zg[i] = a->z[i] * gl[h];
                    }
        }
        linear(g->tmp, zg, lw->wo, lw->bo, N, D, Q);   /* attn_out */
        if (cfg->parallel_residual || F == 0) {
            memcpy(x_next, a->x, ND * sizeof(float));
            add(x_next, g->tmp, ND);
            if (F == 0) continue;
            norm_forward(a->xn2, a->mean2, a->rstd2, a->x, lw->mlp_norm, lw->mlp_norm_b, N, cfg);
        } else {
            memcpy(a->xmid, a->x, ND * sizeof(float));
            add(a->xmid, g->tmp, ND);
            memcpy(x_next, a->xmid, ND * sizeof(float));
            norm_forward(a->xn2, a->mean2, a->rstd2, a->xmid, lw->mlp_norm, lw->mlp_norm_b, N,
                         cfg);
        }
        const size_t NF = (size_t)N * F;
        linear(a->pre_up, a->xn2, lw->w_up, lw->b_up, N, F, D);
        memcpy(a->h, a->pre_up, NF * sizeof(float));
        if (cfg->act == HW_ACT_SILU_GATED) linear(a->pre_gate, a->xn2, lw->w_gate, lw->b_gate, N, F, D);
        hw_activate(a->h, cfg->act == HW_ACT_SILU_GATED ? a->pre_gate : NULL, NF, cfg->act);
        linear(g->tmp, a->h, lw->w_down, lw->b_down, N, D, F);   /* mlp_out */
        add(x_next, g->tmp, ND);
    }
    norm_forward(g->xnf, g->meanf, g->rstdf, g->x_final, w->final_norm, w->final_norm_b, N, cfg);
    if (g->hidden_only) { /* the hidden states are the output: no logits, no loss */
        g->B = B;
        g->T = T;
        return HW_OK;
    }
    linear(g->logits, g->xnf, w->classifier, NULL, N, V, D);

    int n = 0;
    for (int r = 0; r < N; r++) n += bt->targets[r] >= 0;
    g->n_targets = n;
    loss_job lj = {g, bt->targets, n ? 1.0f / (float)n : 0.0f};
    hw_parallel_range(loss_rows, &lj, N, 16);
    double total = 0;
    for (int r = 0; r < N; r++) total += g->row_loss[r];
    g->loss = n ? (float)(total / n) : 0.0f;
    g->B = B;
    g->T = T;
    g->have_loss = 1;
    return HW_OK;
}

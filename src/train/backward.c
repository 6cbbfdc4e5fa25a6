/*
 * backward.c: reverse-mode gradients of the mean cross-entropy through the training
 * forward (train_forward.c), layer by layer from the logits down to the embeddings.
 *
 * Weight gradients are sgemm products over all N rows; bias and norm-weight gradients
 * are sums over rows in row order; attention is done per (sequence, KV head), the
 * query heads of a group in order, so that a key's gradient is summed in one fixed
 * order. Nothing depends on how many threads run.
 *
 * DuoAttention (duo.c): the mix's gradient splits into the full and the streaming
 * branch, each run through the same attention backward into one dq, dk, dv, and the
 * gates' gradient is summed on the way; hidden mode starts from the final norm's output
 * and, for a frozen model, stops at layer 0's mix.
 */
#include "train.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* dx (N, K) (+)= dy (N, R) @ W (R, K). */
static void back_input(float *dx, const float *dy, const float *W, int N, int R, int K,
                       float beta) {
    hw_train_gemm(0, 0, N, K, R, 1.0f, dy, R, W, K, beta, dx, K);
}

/* dW (R, K) += dy^T (R, N) @ x (N, K); db (R) += column sums of dy. */
static void back_weight(hw_grad *g, float *dW, float *db, const float *dy, const float *x, int N,
                        int R, int K) {
    hw_train_gemm_wgrad(dW, dy, x, N, R, K, g->parts);
    if (db)
        for (int r = 0; r < N; r++) hw_axpy(db, 1.0f, dy + (size_t)r * R, R);
}

static void copy_if(float *dst, const float *src, size_t n) {
    if (dst) memcpy(dst, src, n * sizeof(float));
}

/* ---------------------------------------------------------------- norms */

typedef struct {
    float *dx;
    const float *dy, *x, *w, *mean, *rstd;
    int n, layer;
} norm_back_job;

/* dx of y = w * xhat (+ b), xhat = (x - mean) * rstd (LayerNorm) or x * rstd (RMSNorm). */
static void norm_back_rows(void *arg, int r0, int r1) {
    const norm_back_job *j = arg;
    const int n = j->n;
    for (int r = r0; r < r1; r++) {
        const float *dy = j->dy + (size_t)r * n, *x = j->x + (size_t)r * n;
        float *dx = j->dx + (size_t)r * n;
        const float mean = j->mean[r], rstd = j->rstd[r], *w = j->w;
        float s1 = 0, s2 = 0;
#pragma omp simd reduction(+ : s1, s2)
        for (int i = 0; i < n; i++) {
            float dxh = dy[i] * w[i], xh = (x[i] - mean) * rstd;
            s1 += dxh;
            s2 += dxh * xh;
        }
        const float m1 = j->layer ? s1 / n : 0.0f, m2 = s2 / n;
#pragma omp simd
        for (int i = 0; i < n; i++) {
            float dxh = dy[i] * j->w[i], xh = (x[i] - mean) * rstd;
            dx[i] = rstd * (dxh - m1 - xh * m2);
        }
    }
}

/* Backward of a norm over N rows: dx (N, D) from dy; weight and bias gradients added
 * to gw, gb when gw is given. */
static void norm_backward(float *dx, float *gw, float *gb, const float *dy, const float *x,
                          const float *w, const float *mean, const float *rstd, int N,
                          const hw_config *cfg) {
    const int D = cfg->d_model;
    norm_back_job j = {dx, dy, x, w, mean, rstd, D, cfg->norm == HW_NORM_LAYER};
    hw_parallel_range(norm_back_rows, &j, N, 64);
    if (!gw) return;
    for (int r = 0; r < N; r++) {
        const float *dyr = dy + (size_t)r * D, *xr = x + (size_t)r * D;
        for (int i = 0; i < D; i++) gw[i] += dyr[i] * ((xr[i] - mean[r]) * rstd[r]);
        if (gb) hw_axpy(gb, 1.0f, dyr, D);
    }
}

/* ---------------------------------------------------------------- MLP activation */

static float sigmoid(float x) { return 1.0f / (1.0f + expf(-x)); }

typedef struct {
    float *du, *dgate;
    const float *dh, *up, *gate;
    hw_activation act;
} act_back_job;

static void act_back_range(void *arg, int i0, int i1) {
    const act_back_job *j = arg;
    for (int i = i0; i < i1; i++) {
        const float dh = j->dh[i], u = j->up[i];
        if (j->act == HW_ACT_SILU_GATED) {
            const float gt = j->gate[i], s = sigmoid(gt);
            j->du[i] = dh * gt * s;
            j->dgate[i] = dh * u * s * (1.0f + gt * (1.0f - s));
        } else if (j->act == HW_ACT_GELU_TANH) {
            const float k = 0.7978845608028654f, c = 0.044715f;
            const float th = tanhf(k * (u + c * u * u * u));
            j->du[i] = dh * (0.5f * (1.0f + th) + 0.5f * u * (1.0f - th * th) * k *
                                                      (1.0f + 3.0f * c * u * u));
        } else {
            const float cdf = 0.5f * (1.0f + erff(u * 0.7071067811865476f));
            const float pdf = 0.3989422804014327f * expf(-0.5f * u * u);
            j->du[i] = dh * (cdf + u * pdf);
        }
    }
}

/* ---------------------------------------------------------------- attention */

typedef struct {
    hw_grad *g;
    const hw_layer_acts *a;
    const float *att;           /* (B, H, T, T) the pattern: a->att, or DuoAttention's a->att_s */
    float beta_q;               /* 0: dq is written; 1: added to (DuoAttention's second pass) */
    const float *dz;            /* (N, H*Dh) */
    float *d_pattern, *d_scores;/* (B, H, T, T) wanted gradients, or NULL */
    int T;
} attn_back_job;

/* Per (sequence, KV head): for each of its query heads in order, with P the pattern
 * and dZ the gradient of the head's output, per block of query rows and the keys it
 * sees (as forward; every key when hook_pattern's gradient is wanted):
 *   dP = dZ V^T,   dS = P * (dP - rowsum(P * dP)),
 *   dQ = scale dS K,   dK += scale dS^T Q,   dV += P^T dZ.
 * dS is 0 wherever P is (hidden keys). */
static void attn_back_groups(void *arg, int j0, int j1) {
    const attn_back_job *j = arg;
    hw_grad *g = j->g;
    const hw_config *cfg = &g->m->cfg;
    const int H = cfg->n_head, Hk = cfg->n_kv_head, Dh = cfg->head_dim, T = j->T;
    const int G = H / Hk, Q = H * Dh, K = Hk * Dh;
    const float scale = 1.0f / sqrtf((float)Dh);
    for (int bk = j0; bk < j1; bk++) {
        const int b = bk / Hk, kh = bk % Hk;
        const size_t row0 = (size_t)b * T;
        const float *k = j->a->k + row0 * K + (size_t)kh * Dh;
        const float *v = j->a->v + row0 * K + (size_t)kh * Dh;
        float *dk = g->dk + row0 * K + (size_t)kh * Dh, *dv = g->dv + row0 * K + (size_t)kh * Dh;
        for (int h = kh * G; h < (kh + 1) * G; h++) {
            const size_t bh = (size_t)b * H + h;
            const float *p = j->att + bh * T * T;
            const float *dz = j->dz + row0 * Q + (size_t)h * Dh;
            const float *q = j->a->q + row0 * Q + (size_t)h * Dh;
            float *dp = g->datt + bh * T * T, *dq = g->dq + row0 * Q + (size_t)h * Dh;
            for (int i0 = 0; i0 < T; i0 += HW_TRAIN_QBLOCK) {
                const int i1 = i0 + HW_TRAIN_QBLOCK < T ? i0 + HW_TRAIN_QBLOCK : T, m = i1 - i0;
                const int keys = j->d_pattern ? T : i1;
                const float *pb = p + (size_t)i0 * T, *dzb = dz + (size_t)i0 * Q;
                float *db = dp + (size_t)i0 * T;
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, keys, Dh, 1.0f, dzb, Q,
                            v, K, 0.0f, db, T);
                if (j->d_pattern)
                    memcpy(j->d_pattern + bh * T * T + (size_t)i0 * T, db,
                           (size_t)m * T * sizeof(float));
                for (int i = i0; i < i1; i++) {
                    const float *pi = p + (size_t)i * T;
                    float *di = dp + (size_t)i * T;
                    float s = 0;
#pragma omp simd reduction(+ : s)
                    for (int t = 0; t <= i; t++) s += pi[t] * di[t];
#pragma omp simd
                    for (int t = 0; t <= i; t++) di[t] = pi[t] * (di[t] - s);
                    const int end = j->d_scores ? T : i1; /* what is read after */
                    if (i + 1 < end) memset(di + i + 1, 0, (size_t)(end - i - 1) * sizeof(float));
                }
                if (j->d_scores)
                    memcpy(j->d_scores + bh * T * T + (size_t)i0 * T, db,
                           (size_t)m * T * sizeof(float));
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, Dh, i1, scale, db, T,
                            k, K, j->beta_q, dq + (size_t)i0 * Q, Q);
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, i1, Dh, m, scale, db, T,
                            q + (size_t)i0 * Q, Q, 1.0f, dk, K);
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, i1, Dh, m, 1.0f, pb, T, dzb,
                            Q, 1.0f, dv, K);
            }
        }
    }
}

/* ---------------------------------------------------------------- DuoAttention */

/* The mix y = alpha z + (1 - alpha) z_s of layer l, given dy in g->dz: dalpha (summed
 * over rows and the group's query heads, row order) into g->g_duo_alpha, then dz =
 * alpha dy in g->dz and dz_s = (1 - alpha) dy in g->dz_s. */
static void duo_split(hw_grad *g, const hw_layer_acts *a, int l) {
    const hw_config *cfg = &g->m->cfg;
    const int N = g->B * g->T, H = cfg->n_head, Hk = cfg->n_kv_head, Dh = cfg->head_dim;
    const int G = H / Hk, Q = H * Dh;
    const float *al = g->duo_alpha + (size_t)l * Hk;
    float *dal = g->g_duo_alpha + (size_t)l * Hk;
    for (int r = 0; r < N; r++)
        for (int h = 0; h < H; h++) {
            const size_t o = (size_t)r * Q + (size_t)h * Dh;
            const float x = al[h / G];
            float *dz = g->dz + o, *ds = g->dz_s + o;
            const float *z = a->z + o, *zs = a->z_s + o;
            float s = 0;
            for (int d = 0; d < Dh; d++) {
                s += dz[d] * (z[d] - zs[d]);
                ds[d] = (1.0f - x) * dz[d];
                dz[d] *= x;
            }
            dal[h / G] += s;
        }
}

/* Is a gradient at or below layer 0's hook_z wanted? (else a frozen model's backward
 * can stop there) */
static int wants_below_z(const hw_grad *g) {
    static const hw_hook_point pts[] = {HW_HOOK_Z, HW_HOOK_PATTERN, HW_HOOK_ATTN_SCORES,
                                        HW_HOOK_V, HW_HOOK_ROT_Q, HW_HOOK_ROT_K, HW_HOOK_Q,
                                        HW_HOOK_K, HW_HOOK_RESID_PRE};
    for (size_t i = 0; i < sizeof pts / sizeof *pts; i++)
        if (hw_grad_act(g, pts[i], 0)) return 1;
    return hw_grad_act(g, HW_HOOK_EMBED, -1) || hw_grad_act(g, HW_HOOK_POS_EMBED, -1);
}

/* ---------------------------------------------------------------- backward */

hw_status hw_train_backward(hw_grad *g, int what) {
    const hw_config *cfg = &g->m->cfg;
    const hw_params *w = &g->w;
    hw_params *gp = &g->g;
    const int wgt = (what & HW_GRAD_WEIGHTS) != 0;
    const int B = g->B, T = g->T, N = B * T, L = cfg->n_layer, D = cfg->d_model;
    const int H = cfg->n_head, Hk = cfg->n_kv_head, Dh = cfg->head_dim, F = cfg->d_ff;
    const int V = cfg->vocab_size, Q = H * Dh, K = Hk * Dh;
    const size_t ND = (size_t)N * D;
    if (wgt) memset(g->g_arena, 0, (size_t)g->n_params * sizeof(float));
    if (g->gates) memset(g->g_gates, 0, (size_t)L * H * sizeof(float));
    if (g->duo_alpha) memset(g->g_duo_alpha, 0, (size_t)L * Hk * sizeof(float));

    if (g->hidden_only) { /* from the hidden states' gradient (DuoAttention's distillation) */
        memcpy(g->dxn, g->dhidden, ND * sizeof(float));
    } else {
        copy_if(hw_grad_act(g, HW_HOOK_LOGITS, -1), g->dlogits, (size_t)N * V);
        back_input(g->dxn, g->dlogits, w->classifier, N, V, D, 0.0f);
    }
    if (wgt && !g->hidden_only)
        back_weight(g, cfg->tied_embeddings ? gp->tok_embed : gp->classifier, NULL, g->dlogits,
                    g->xnf, N, V, D);
    copy_if(hw_grad_act(g, HW_HOOK_LN_FINAL, -1), g->dxn, ND);
    norm_backward(g->dx, wgt ? gp->final_norm : NULL, gp->final_norm_b, g->dxn, g->x_final,
                  w->final_norm, g->meanf, g->rstdf, N, cfg);

    for (int l = L - 1; l >= 0; l--) {
        const hw_layer_acts *a = &g->acts[l];
        const hw_layer_params *lw = &w->layers[l];
        hw_layer_params *gl = &gp->layers[l];
        const int par = cfg->parallel_residual && F > 0;
        copy_if(hw_grad_act(g, HW_HOOK_RESID_POST, l), g->dx, ND);
        /* MLP: its output's gradient is dx. */
        if (F > 0) {
            const size_t NF = (size_t)N * F;
            copy_if(hw_grad_act(g, HW_HOOK_MLP_OUT, l), g->dx, ND);
            back_input(g->dh, g->dx, lw->w_down, N, D, F, 0.0f);
            if (wgt) back_weight(g, gl->w_down, gl->b_down, g->dx, a->h, N, D, F);
            copy_if(hw_grad_act(g, HW_HOOK_MLP_POST, l), g->dh, NF);
            act_back_job aj = {g->dpre_up, g->dpre_gate, g->dh, a->pre_up, a->pre_gate, cfg->act};
            for (size_t done = 0; done < NF;) {
                int len = NF - done < (1u << 30) ? (int)(NF - done) : 1 << 30;
                act_back_job part = aj;
                part.du += done, part.dh += done, part.up += done;
                if (part.gate) part.gate += done, part.dgate += done;
                hw_parallel_range(act_back_range, &part, len, 4096);
                done += (size_t)len;
            }
            const int gated = cfg->act == HW_ACT_SILU_GATED;
            back_input(g->dxn, g->dpre_up, lw->w_up, N, F, D, 0.0f);
            if (gated) back_input(g->dxn, g->dpre_gate, lw->w_gate, N, F, D, 1.0f);
            if (wgt) {
                back_weight(g, gl->w_up, gl->b_up, g->dpre_up, a->xn2, N, F, D);
                if (gated) back_weight(g, gl->w_gate, gl->b_gate, g->dpre_gate, a->xn2, N, F, D);
            }
            norm_backward(g->dx2, wgt ? gl->mlp_norm : NULL, gl->mlp_norm_b, g->dxn,
                          par ? a->x : a->xmid, lw->mlp_norm, a->mean2, a->rstd2, N, cfg);
            if (!par) {
                for (size_t i = 0; i < ND; i++) g->dx[i] += g->dx2[i];
                copy_if(hw_grad_act(g, HW_HOOK_RESID_MID, l), g->dx, ND);
            }
        }
        /* Attention: its output's gradient is dx (resid_mid's, or resid_post's). */
        copy_if(hw_grad_act(g, HW_HOOK_ATTN_OUT, l), g->dx, ND);
        const float *zg = g->gates || g->duo_alpha ? a->zg : a->z;
        back_input(g->dz, g->dx, lw->wo, N, D, Q, 0.0f);
        if (wgt) back_weight(g, gl->wo, gl->bo, g->dx, zg, N, D, Q);
        if (g->gates) {
            const float *gate = g->gates + (size_t)l * H;
            float *dgate = g->g_gates + (size_t)l * H;
            for (int r = 0; r < N; r++)
                for (int h = 0; h < H; h++) {
                    float *dz = g->dz + ((size_t)r * H + h) * Dh;
                    const float *z = a->z + ((size_t)r * H + h) * Dh;
                    float s = 0;
                    for (int d = 0; d < Dh; d++) {
                        s += dz[d] * z[d];
                        dz[d] *= gate[h];
                    }
                    dgate[h] += s;
                }
        }
        if (g->duo_alpha) duo_split(g, a, l);
        if (l == 0 && g->hidden_only && !wgt && !wants_below_z(g)) break; /* nothing reads more */
        copy_if(hw_grad_act(g, HW_HOOK_Z, l), g->dz, (size_t)N * Q);
        memset(g->dq, 0, (size_t)N * Q * sizeof(float));
        memset(g->dk, 0, (size_t)N * K * sizeof(float));
        memset(g->dv, 0, (size_t)N * K * sizeof(float));
        attn_back_job bj = {g, a, a->att, 0.0f, g->dz, hw_grad_act(g, HW_HOOK_PATTERN, l),
                            hw_grad_act(g, HW_HOOK_ATTN_SCORES, l), T};
        hw_parallel_range(attn_back_groups, &bj, B * Hk, 1);
        if (g->duo_alpha) { /* the streaming branch adds to the same q, k, v */
            attn_back_job sj = {g, a, a->att_s, 1.0f, g->dz_s, NULL, NULL, T};
            hw_parallel_range(attn_back_groups, &sj, B * Hk, 1);
        }
        copy_if(hw_grad_act(g, HW_HOOK_V, l), g->dv, (size_t)N * K);
        if (g->rot > 0) {
            copy_if(hw_grad_act(g, HW_HOOK_ROT_Q, l), g->dq, (size_t)N * Q);
            copy_if(hw_grad_act(g, HW_HOOK_ROT_K, l), g->dk, (size_t)N * K);
            hw_train_rope(g, g->dq, N, T, H, -1.0f);
            hw_train_rope(g, g->dk, N, T, Hk, -1.0f);
        }
        copy_if(hw_grad_act(g, HW_HOOK_Q, l), g->dq, (size_t)N * Q);
        copy_if(hw_grad_act(g, HW_HOOK_K, l), g->dk, (size_t)N * K);
        back_input(g->dxn, g->dq, lw->wq, N, Q, D, 0.0f);
        back_input(g->dxn, g->dk, lw->wk, N, K, D, 1.0f);
        back_input(g->dxn, g->dv, lw->wv, N, K, D, 1.0f);
        if (wgt) {
            back_weight(g, gl->wq, gl->bq, g->dq, a->xn1, N, Q, D);
            back_weight(g, gl->wk, gl->bk, g->dk, a->xn1, N, K, D);
            back_weight(g, gl->wv, gl->bv, g->dv, a->xn1, N, K, D);
        }
        norm_backward(g->tmp, wgt ? gl->attn_norm : NULL, gl->attn_norm_b, g->dxn, a->x,
                      lw->attn_norm, a->mean1, a->rstd1, N, cfg);
        for (size_t i = 0; i < ND; i++) g->dx[i] += g->tmp[i] + (par ? g->dx2[i] : 0.0f);
        copy_if(hw_grad_act(g, HW_HOOK_RESID_PRE, l), g->dx, ND);
    }
    copy_if(hw_grad_act(g, HW_HOOK_EMBED, -1), g->dx, ND);
    copy_if(hw_grad_act(g, HW_HOOK_POS_EMBED, -1), g->dx, ND);
    if (wgt) {
        for (int r = 0; r < N; r++) {
            const float *d = g->dx + (size_t)r * D;
            hw_axpy(gp->tok_embed + (size_t)g->tokens[r] * D, 1.0f, d, D);
            if (gp->pos_embed) hw_axpy(gp->pos_embed + (size_t)(r % T) * D, 1.0f, d, D);
        }
    }
    g->have_grads = what | HW_GRAD_GATES * (g->gates != NULL);
    return HW_OK;
}

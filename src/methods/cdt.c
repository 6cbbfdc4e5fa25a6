/*
 * cdt.c: contextual decomposition for transformers (CD-T; methods.md section 8, Hsu et
 * al.). Every activation of one prompt is split as x = beta + gamma, beta the part
 * caused by chosen sources (tokens at positions, heads at positions), gamma the rest,
 * through every layer type of the engine's families:
 *
 *   linear (W, b)      beta W and gamma W, the bias shared in proportion to |beta W|
 *                      and |gamma W|: beta's share b |beta W| / (|beta W| + |gamma W|),
 *                      gamma the rest of b (all of it where both are 0). The CD-T code
 *                      divides by the sum + 1e-8 instead, which drops a part of the bias
 *                      where activations are near 1e-8 (a half-precision checkpoint
 *                      with weights of std 0.02 lost 1e-3 of its attention output that
 *                      way); sharing exactly keeps beta + gamma the activation
 *   LayerNorm          both parts centred on their own means and divided by the total's
 *                      standard deviation, times the weight; the bias shared as a linear
 *                      layer's, by the magnitudes of the normalised parts
 *   RMSNorm            both parts divided by the total's RMS, times the weight (our
 *                      extension: the CD-T code has LayerNorm only)
 *   GELU               gamma' = f(gamma), beta' = f(beta + gamma) - f(gamma)
 *   gated MLP          silu by the same rule on the gate, then gamma' = gamma_act *
 *                      gamma_up, beta' = the full product - gamma'
 *   rotary             linear per position: each part rotated
 *   attention (a head) P from the totals, P_beta = softmax(q_beta k_beta^T / sqrt(Dh))
 *                      under the same causal (and sliding-window) mask; z_beta = P_beta
 *                      v_beta, z_gamma = P (v_beta + v_gamma) - z_beta; GQA: a query
 *                      head reads its KV head's parts
 *   residual adds      part by part; GPT-NeoX's parallel residual adds both blocks'
 *                      parts to the same stream
 *
 * A head source moves the head's whole output at its positions (its z, so W_O's
 * linear rule carries it) into beta; a token source makes its embedding row (with the
 * learned position) beta. Everything before the first source layer is gamma only, so
 * the decomposition starts there from the real forward's residual stream.
 */
#include "protocol.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* beta and gamma of one node, (rows, cols) each. */
typedef struct {
    float *b, *g;
} parts;

/* The nodes a decomposition keeps, per layer. */
enum { N_RESID_PRE, N_Q, N_K, N_V, N_Z, N_ATTN_OUT, N_MLP_OUT, N_RESID_POST, N_KINDS };
static const hw_hook_point node_point[N_KINDS] = {HW_HOOK_RESID_PRE, HW_HOOK_Q, HW_HOOK_K, HW_HOOK_V,
                                                  HW_HOOK_Z, HW_HOOK_ATTN_OUT, HW_HOOK_MLP_OUT, HW_HOOK_RESID_POST};

struct hw_cdt {
    int T, L;
    unsigned keep;              /* the node kinds kept (1 << N_...), besides the logits */
    int last_only;              /* 1: the logits of the last row only (the sweeps') */
    int first;                  /* the first layer decomposed (below it all is gamma) */
    parts *node;                /* (N_KINDS, L) */
    parts logits;               /* (T, V) */
};

/* ---------------------------------------------------------------- rules */

/* y (T, R) = x W^T for both parts, then the bias shared by magnitude. */
static void linear_rule(const hw_matrix *w, const float *bias, const float *xb, const float *xg, int T, float *yb,
                        float *yg) {
    hw_matmul(yb, xb, w, NULL, T);
    hw_matmul(yg, xg, w, NULL, T);
    if (!bias) return;
    const int R = w->rows;
    for (int t = 0; t < T; t++)
        for (int i = 0; i < R; i++) {
            size_t k = (size_t)t * R + i;
            float ab = fabsf(yb[k]), ag = fabsf(yg[k]), s = ab + ag;
            float share = s > 0 ? bias[i] * (ab / s) : 0;
            yb[k] += share;
            yg[k] += bias[i] - share;
        }
}

static void norm_rule(const hw_config *cfg, const float *w, const float *bias, const float *xb, const float *xg, int T,
                      float *ob, float *og) {
    const int D = cfg->d_model;
    for (int t = 0; t < T; t++) {
        const float *b = xb + (size_t)t * D, *g = xg + (size_t)t * D;
        float *yb = ob + (size_t)t * D, *yg = og + (size_t)t * D;
        double mb = 0, mg = 0, ss = 0;
        if (cfg->norm == HW_NORM_LAYER) {
            for (int i = 0; i < D; i++) mb += b[i], mg += g[i];
            mb /= D, mg /= D;
        }
        double mean = mb + mg;
        for (int i = 0; i < D; i++) {
            double x = (double)b[i] + g[i] - mean;
            ss += x * x;
        }
        float inv = (float)(1.0 / sqrt(ss / D + cfg->norm_eps));
        for (int i = 0; i < D; i++) {
            yb[i] = (float)(b[i] - mb) * inv * w[i];
            yg[i] = (float)(g[i] - mg) * inv * w[i];
            if (!bias) continue;
            float ab = fabsf(yb[i]), s = ab + fabsf(yg[i]), share = s > 0 ? bias[i] * (ab / s) : 0;
            yb[i] += share;
            yg[i] += bias[i] - share;
        }
    }
}

static float act(hw_activation a, float x) {
    return a == HW_ACT_GELU_TANH ? hw_gelu_tanh(x) : a == HW_ACT_GELU_EXACT ? hw_gelu_exact(x) : hw_silu(x);
}

/* The MLP's hidden layer (T, F) in place of up (and gate, for the gated MLP). */
static void activation_rule(hw_activation a, float *ub, float *ug, const float *gb, const float *gg, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (a == HW_ACT_SILU_GATED) {
            float act_g = hw_silu(gg[i]), act_t = hw_silu(gb[i] + gg[i]);
            float total = act_t * (ub[i] + ug[i]);
            ug[i] = act_g * ug[i];
            ub[i] = total - ug[i];
        } else {
            float f_g = act(a, ug[i]), f_t = act(a, ub[i] + ug[i]);
            ub[i] = f_t - f_g;
            ug[i] = f_g;
        }
    }
}

/* ---------------------------------------------------------------- the pass */

typedef struct {
    const hw_model *m;
    int T, rot, half;
    float *cos_t, *sin_t;           /* (T, rot/2) */
    /* scratch */
    float *xb, *xg, *nb, *ng;       /* (T, D) */
    float *qb, *qg, *kb, *kg, *vb, *vg, *zb, *zg; /* (T, H*Dh) / (T, Hk*Dh) */
    float *ab, *ag, *mb, *mg;       /* (T, D) block outputs */
    float *ub, *ug, *gb, *gg;       /* (T, F) */
    float *pt, *pb;                 /* (T) pattern rows */
    double *ratio;                  /* NULL, or (L*H receivers, 3): hw_cdt_sweep_prompt's */
} pass;

static void rotate(const pass *s, float *x, int n_heads) {
    const hw_config *cfg = &s->m->cfg;
    const int Dh = cfg->head_dim, interleaved = cfg->rope_layout == HW_ROPE_INTERLEAVED;
    for (int t = 0; t < s->T; t++)
        for (int h = 0; h < n_heads; h++) {
            float *v = x + ((size_t)t * n_heads + h) * Dh;
            const float *cs = s->cos_t + (size_t)t * s->half, *sn = s->sin_t + (size_t)t * s->half;
            for (int i = 0; i < s->half; i++) {
                int a = interleaved ? 2 * i : i, b = interleaved ? 2 * i + 1 : i + s->half;
                float v0 = v[a], v1 = v[b];
                v[a] = v0 * cs[i] - v1 * sn[i];
                v[b] = v0 * sn[i] + v1 * cs[i];
            }
        }
}

/* softmax over the visible keys of row t (j in [lo, t]); others 0. */
static void softmax_row(float *p, int lo, int t) {
    float mx = -INFINITY;
    for (int j = lo; j <= t; j++) mx = p[j] > mx ? p[j] : mx;
    double sum = 0;
    for (int j = lo; j <= t; j++) sum += p[j] = expf(p[j] - mx);
    for (int j = lo; j <= t; j++) p[j] = (float)(p[j] / sum);
}

/* z parts of every head of layer l from the rotated q, k and v parts. */
static void attention_rule(pass *s, int l) {
    const hw_config *cfg = &s->m->cfg;
    const int H = cfg->n_head, Hk = cfg->n_kv_head, Dh = cfg->head_dim, T = s->T, G = H / Hk;
    const int W = cfg->sliding_window > 0 && l >= cfg->sliding_window_from ? cfg->sliding_window : T + 1;
    const float scale = 1.0f / sqrtf((float)Dh);
    for (int h = 0; h < H; h++) {
        const int kh = h / G;
        for (int t = 0; t < T; t++) {
            const int lo = t - W + 1 > 0 ? t - W + 1 : 0;
            const float *qb = s->qb + ((size_t)t * H + h) * Dh, *qg = s->qg + ((size_t)t * H + h) * Dh;
            for (int j = lo; j <= t; j++) {
                const float *kb = s->kb + ((size_t)j * Hk + kh) * Dh, *kg = s->kg + ((size_t)j * Hk + kh) * Dh;
                float tot = 0, rel = 0;
                for (int i = 0; i < Dh; i++) tot += (qb[i] + qg[i]) * (kb[i] + kg[i]), rel += qb[i] * kb[i];
                s->pt[j] = tot * scale, s->pb[j] = rel * scale;
            }
            softmax_row(s->pt, lo, t);
            softmax_row(s->pb, lo, t);
            float *zb = s->zb + ((size_t)t * H + h) * Dh, *zg = s->zg + ((size_t)t * H + h) * Dh;
            memset(zb, 0, sizeof(float) * (size_t)Dh);
            memset(zg, 0, sizeof(float) * (size_t)Dh);
            for (int j = lo; j <= t; j++) {
                const float *vb = s->vb + ((size_t)j * Hk + kh) * Dh, *vg = s->vg + ((size_t)j * Hk + kh) * Dh;
                for (int i = 0; i < Dh; i++) zb[i] += s->pb[j] * vb[i], zg[i] += s->pt[j] * (vb[i] + vg[i]);
            }
            for (int i = 0; i < Dh; i++) zg[i] -= zb[i];
        }
    }
}

/* mean |beta| / (mean |beta| + mean |gamma|) over n values at stride `stride` from b, g:
 * the CD-T code's "l1" relevance of a node (0 when both are 0). */
static double l1_ratio(const float *b, const float *g, int n, int rows, size_t stride) {
    double sb = 0, sg = 0;
    for (int r = 0; r < rows; r++)
        for (int i = 0; i < n; i++) sb += fabsf(b[r * stride + i]), sg += fabsf(g[r * stride + i]);
    return sb + sg > 0 ? sb / (sb + sg) : 0;
}

/* Each head of layer l: the relevance of its query at the last position, and of its KV
 * head's keys and values at every position (what its attention reads there). */
static void record_ratios(pass *s, int l) {
    const hw_config *cfg = &s->m->cfg;
    const int H = cfg->n_head, Hk = cfg->n_kv_head, Dh = cfg->head_dim, T = s->T, G = H / Hk;
    for (int h = 0; h < H; h++) {
        double *out = s->ratio + ((size_t)l * H + h) * 3;
        const size_t q0 = ((size_t)(T - 1) * H + h) * Dh, k0 = (size_t)(h / G) * Dh, ks = (size_t)Hk * Dh;
        out[0] = l1_ratio(s->qb + q0, s->qg + q0, Dh, 1, 0);
        out[1] = l1_ratio(s->kb + k0, s->kg + k0, Dh, T, ks);
        out[2] = l1_ratio(s->vb + k0, s->vg + k0, Dh, T, ks);
    }
}

static int keep_node(hw_cdt *d, int kind, int l, const float *b, const float *g, size_t n) {
    if (!(d->keep >> kind & 1)) return 0;
    parts *node = &d->node[kind * d->L + l];
    if (!node->b && (!(node->b = malloc(n * sizeof(float))) || !(node->g = malloc(n * sizeof(float))))) return -1;
    memcpy(node->b, b, n * sizeof(float));
    memcpy(node->g, g, n * sizeof(float));
    return 0;
}

/* Whether head h of layer l at position t is a source. */
static int head_source(const hw_cdt_source *src, int n, int l, int h, int t) {
    for (int i = 0; i < n; i++)
        if (src[i].kind == HW_CDT_HEAD && src[i].layer == l && src[i].head == h && (src[i].pos < 0 || src[i].pos == t))
            return 1;
    return 0;
}

static hw_status layer_pass(pass *s, hw_cdt *d, int l, const hw_cdt_source *src, int n_src) {
    const hw_model *m = s->m;
    const hw_config *cfg = &m->cfg;
    const hw_layer_weights *w = &m->w.layers[l];
    const int T = s->T, D = cfg->d_model, H = cfg->n_head, Hk = cfg->n_kv_head, Dh = cfg->head_dim;
    const size_t nD = (size_t)T * D, nQ = (size_t)T * H * Dh, nK = (size_t)T * Hk * Dh;
    if (keep_node(d, N_RESID_PRE, l, s->xb, s->xg, nD)) return HW_ERR_NOMEM;
    norm_rule(cfg, w->attn_norm, w->attn_norm_b, s->xb, s->xg, T, s->nb, s->ng);
    linear_rule(&w->wq, w->bq, s->nb, s->ng, T, s->qb, s->qg);
    linear_rule(&w->wk, w->bk, s->nb, s->ng, T, s->kb, s->kg);
    linear_rule(&w->wv, w->bv, s->nb, s->ng, T, s->vb, s->vg);
    if (keep_node(d, N_Q, l, s->qb, s->qg, nQ) || keep_node(d, N_K, l, s->kb, s->kg, nK) ||
        keep_node(d, N_V, l, s->vb, s->vg, nK))
        return HW_ERR_NOMEM;
    if (s->ratio) record_ratios(s, l);
    if (s->rot > 0) {
        rotate(s, s->qb, H), rotate(s, s->qg, H);
        rotate(s, s->kb, Hk), rotate(s, s->kg, Hk);
    }
    attention_rule(s, l);
    for (int t = 0; t < T; t++) /* a source head's whole output is relevant */
        for (int h = 0; h < H; h++)
            if (head_source(src, n_src, l, h, t)) {
                float *zb = s->zb + ((size_t)t * H + h) * Dh, *zg = s->zg + ((size_t)t * H + h) * Dh;
                for (int i = 0; i < Dh; i++) zb[i] += zg[i], zg[i] = 0;
            }
    if (keep_node(d, N_Z, l, s->zb, s->zg, nQ)) return HW_ERR_NOMEM;
    linear_rule(&w->wo, w->bo, s->zb, s->zg, T, s->ab, s->ag);
    if (keep_node(d, N_ATTN_OUT, l, s->ab, s->ag, nD)) return HW_ERR_NOMEM;
    if (!cfg->parallel_residual)
        for (size_t i = 0; i < nD; i++) s->xb[i] += s->ab[i], s->xg[i] += s->ag[i];
    if (cfg->d_ff > 0) {
        const size_t nF = (size_t)T * cfg->d_ff;
        norm_rule(cfg, w->mlp_norm, w->mlp_norm_b, s->xb, s->xg, T, s->nb, s->ng);
        linear_rule(&w->w_up, w->b_up, s->nb, s->ng, T, s->ub, s->ug);
        if (cfg->act == HW_ACT_SILU_GATED) linear_rule(&w->w_gate, w->b_gate, s->nb, s->ng, T, s->gb, s->gg);
        activation_rule(cfg->act, s->ub, s->ug, s->gb, s->gg, nF);
        linear_rule(&w->w_down, w->b_down, s->ub, s->ug, T, s->mb, s->mg);
        if (keep_node(d, N_MLP_OUT, l, s->mb, s->mg, nD)) return HW_ERR_NOMEM;
    }
    for (size_t i = 0; i < nD; i++) {
        if (cfg->parallel_residual) s->xb[i] += s->ab[i], s->xg[i] += s->ag[i];
        if (cfg->d_ff > 0) s->xb[i] += s->mb[i], s->xg[i] += s->mg[i];
    }
    return keep_node(d, N_RESID_POST, l, s->xb, s->xg, nD) ? HW_ERR_NOMEM : HW_OK;
}

static void pass_free(pass *s) {
    float **all[] = {&s->cos_t, &s->sin_t, &s->xb, &s->xg, &s->nb, &s->ng, &s->qb, &s->qg, &s->kb, &s->kg,
                     &s->vb, &s->vg, &s->zb, &s->zg, &s->ab, &s->ag, &s->mb, &s->mg, &s->ub, &s->ug,
                     &s->gb, &s->gg, &s->pt, &s->pb};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) free(*all[i]), *all[i] = NULL;
}

static hw_status pass_open(pass *s, const hw_model *m, int T) {
    const hw_config *cfg = &m->cfg;
    const size_t D = (size_t)cfg->d_model, HD = (size_t)cfg->n_head * cfg->head_dim;
    const size_t KD = (size_t)cfg->n_kv_head * cfg->head_dim, F = cfg->d_ff > 0 ? (size_t)cfg->d_ff : 1;
    memset(s, 0, sizeof *s);
    s->m = m, s->T = T;
    int R = cfg->pos == HW_POS_ROTARY ? (int)(cfg->head_dim * cfg->rotary_frac) : 0;
    s->rot = R - R % 2, s->half = s->rot / 2;
    const size_t half = s->half > 0 ? (size_t)s->half : 1;
    struct { float **p; size_t n; } want[] = {
        {&s->cos_t, T * half}, {&s->sin_t, T * half}, {&s->xb, T * D}, {&s->xg, T * D}, {&s->nb, T * D},
        {&s->ng, T * D}, {&s->qb, T * HD}, {&s->qg, T * HD}, {&s->kb, T * KD}, {&s->kg, T * KD}, {&s->vb, T * KD},
        {&s->vg, T * KD}, {&s->zb, T * HD}, {&s->zg, T * HD}, {&s->ab, T * D}, {&s->ag, T * D}, {&s->mb, T * D},
        {&s->mg, T * D}, {&s->ub, T * F}, {&s->ug, T * F}, {&s->gb, T * F}, {&s->gg, T * F}, {&s->pt, (size_t)T},
        {&s->pb, (size_t)T}};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        if (!(*want[i].p = calloc(want[i].n, sizeof(float)))) {
            pass_free(s);
            return hw_fail(HW_ERR_NOMEM, "cdt: out of memory");
        }
    if (s->rot > 0) {
        float *inv = malloc(sizeof(float) * half);
        if (!inv) {
            pass_free(s);
            return hw_fail(HW_ERR_NOMEM, "cdt: out of memory");
        }
        hw_rope_inv_freq(inv, cfg, s->rot, T); /* as the forward's prefill from position 0 */
        for (int t = 0; t < T; t++)
            for (int i = 0; i < s->half; i++) {
                float a = (float)t * inv[i];
                s->cos_t[(size_t)t * s->half + i] = cosf(a);
                s->sin_t[(size_t)t * s->half + i] = sinf(a);
            }
        free(inv);
    }
    return HW_OK;
}

/* ---------------------------------------------------------------- decomposition */

void hw_cdt_free(hw_cdt *d) {
    if (!d) return;
    for (int i = 0; d->node && i < N_KINDS * d->L; i++) free(d->node[i].b), free(d->node[i].g);
    free(d->node);
    free(d->logits.b);
    free(d->logits.g);
    free(d);
}

static hw_status check_sources(const hw_model *m, int T, const hw_cdt_source *src, int n_src) {
    const hw_config *cfg = &m->cfg;
    if (n_src < 0 || (n_src > 0 && !src)) return hw_fail(HW_ERR_ARG, "cdt: %d sources and no list", n_src);
    for (int i = 0; i < n_src; i++) {
        const hw_cdt_source *s = &src[i];
        if (s->kind != HW_CDT_TOKEN && s->kind != HW_CDT_HEAD)
            return hw_fail(HW_ERR_ARG, "cdt: source %d is neither a token nor a head", i);
        if (s->pos < -1 || s->pos >= T)
            return hw_fail(HW_ERR_ARG, "cdt: source %d at position %d of a %d-token prompt", i, s->pos, T);
        if (s->kind == HW_CDT_HEAD && (s->layer < 0 || s->layer >= cfg->n_layer || s->head < 0 || s->head >= cfg->n_head))
            return hw_fail(HW_ERR_ARG, "cdt: source %d is head %d.%d, outside the model's %d x %d", i, s->layer,
                           s->head, cfg->n_layer, cfg->n_head);
    }
    return HW_OK;
}

/* The residual stream's parts before layer 0: token sources' embedding rows relevant. */
static void embed_parts(pass *s, const int *tokens, const hw_cdt_source *src, int n_src) {
    const hw_model *m = s->m;
    const int D = m->cfg.d_model;
    for (int t = 0; t < s->T; t++) {
        int rel = 0;
        for (int i = 0; i < n_src && !rel; i++) rel = src[i].kind == HW_CDT_TOKEN && (src[i].pos < 0 || src[i].pos == t);
        float *x = (rel ? s->xb : s->xg) + (size_t)t * D;
        hw_embed_row(&m->w, tokens[t], D, x);
        if (m->w.pos_embed)
            for (int i = 0; i < D; i++) x[i] += m->w.pos_embed[(size_t)t * D + i];
        memset((rel ? s->xg : s->xb) + (size_t)t * D, 0, sizeof(float) * (size_t)D);
    }
}

/* The layers from `first` (whose residual stream s->xb, s->xg already hold), then the
 * final norm and the unembedding into d's logits. */
static hw_status run_layers(pass *s, hw_cdt *d, int first, const hw_cdt_source *src, int n_src) {
    const hw_model *m = s->m;
    const hw_config *cfg = &m->cfg;
    const int T = s->T;
    hw_status st = HW_OK;
    d->first = first;
    for (int l = first; !st && l < cfg->n_layer; l++) st = layer_pass(s, d, l, src, n_src);
    if (st) return st;
    /* a sweep reads the last row's logits only: the (T, V) product would dominate it */
    const int first_row = d->last_only ? T - 1 : 0;
    const size_t D = (size_t)cfg->d_model, V = (size_t)cfg->vocab_size;
    norm_rule(cfg, m->w.final_norm, m->w.final_norm_b, s->xb + first_row * D, s->xg + first_row * D, T - first_row,
              s->nb, s->ng);
    linear_rule(&m->w.classifier, NULL, s->nb, s->ng, T - first_row, d->logits.b + first_row * V,
                d->logits.g + first_row * V);
    return HW_OK;
}

static hw_cdt *cdt_new(const hw_model *m, int T, unsigned keep) {
    hw_cdt *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->T = T, d->L = m->cfg.n_layer, d->keep = keep;
    const size_t n = (size_t)T * m->cfg.vocab_size;
    if (!(d->node = calloc((size_t)N_KINDS * d->L, sizeof *d->node)) || !(d->logits.b = malloc(n * sizeof(float))) ||
        !(d->logits.g = malloc(n * sizeof(float)))) {
        hw_cdt_free(d);
        return NULL;
    }
    return d;
}

hw_status hw_cdt_decompose(const hw_model *m, const int *tokens, int T, const hw_cdt_source *src, int n_src,
                           int keep, hw_cdt **out) {
    if (out) *out = NULL;
    if (!m || !tokens || !out) return hw_fail(HW_ERR_ARG, "cdt: no model, tokens or result");
    if (T < 1 || T > m->cfg.n_ctx)
        return hw_fail(HW_ERR_RANGE, "cdt: %d tokens (1 to the model's context, %d)", T, m->cfg.n_ctx);
    for (int t = 0; t < T; t++)
        if (tokens[t] < 0 || tokens[t] >= m->cfg.vocab_size)
            return hw_fail(HW_ERR_ARG, "cdt: token id %d at %d is outside the vocabulary (%d)", tokens[t], t,
                           m->cfg.vocab_size);
    hw_status st = check_sources(m, T, src, n_src);
    if (st) return st;
    pass s;
    if ((st = pass_open(&s, m, T))) return st;
    hw_cdt *d = cdt_new(m, T, keep ? (1u << N_KINDS) - 1 : 0);
    if (!d) st = hw_fail(HW_ERR_NOMEM, "cdt: out of memory");
    if (!st) {
        embed_parts(&s, tokens, src, n_src);
        st = run_layers(&s, d, 0, src, n_src);
    }
    pass_free(&s);
    if (st) {
        hw_cdt_free(d);
        return st == HW_ERR_NOMEM ? hw_fail(st, "cdt: out of memory") : st;
    }
    *out = d;
    return HW_OK;
}

const float *hw_cdt_part(const hw_cdt *d, hw_hook_point point, int layer, int relevant) {
    if (!d) return NULL;
    if (point == HW_HOOK_LOGITS) return relevant ? d->logits.b : d->logits.g;
    if (layer < 0 || layer >= d->L) return NULL;
    for (int k = 0; k < N_KINDS; k++)
        if (node_point[k] == point) return relevant ? d->node[k * d->L + layer].b : d->node[k * d->L + layer].g;
    return NULL;
}

int hw_cdt_tokens(const hw_cdt *d) {
    return d ? d->T : 0;
}

/* ---------------------------------------------------------------- sweeps (cdt_circuit.c) */

hw_status hw_cdt_sweep_prompt(const hw_model *m, const int *ids, int T, int target, int minus, double *logit,
                              double *ratio) {
    const hw_config *cfg = &m->cfg;
    const int L = cfg->n_layer, H = cfg->n_head, D = cfg->d_model, V = cfg->vocab_size;
    pass s;
    hw_status st = pass_open(&s, m, T);
    if (st) return st;
    hw_cdt *base = cdt_new(m, T, 1u << N_RESID_PRE), *d = cdt_new(m, T, 0);
    if (!base || !d) st = hw_fail(HW_ERR_NOMEM, "cdt: out of memory");
    else base->last_only = d->last_only = 1;
    if (!st) { /* no source: gamma is the forward; its residual stream starts each head's pass */
        embed_parts(&s, ids, NULL, 0);
        st = run_layers(&s, base, 0, NULL, 0);
    }
    const size_t nD = (size_t)T * D, last = (size_t)(T - 1) * V;
    for (int l = 0; !st && l < L; l++)
        for (int h = 0; !st && h < H; h++) {
            const hw_cdt_source src = {HW_CDT_HEAD, l, h, -1};
            const size_t sender = (size_t)l * H + h;
            memset(s.xb, 0, nD * sizeof(float));
            memcpy(s.xg, base->node[N_RESID_PRE * L + l].g, nD * sizeof(float));
            s.ratio = ratio + sender * (size_t)L * H * 3;
            st = run_layers(&s, d, l, &src, 1);
            /* no path to the heads of its own layer or earlier */
            for (size_t k = 0; k < (size_t)(l + 1) * H * 3; k++) s.ratio[k] = NAN;
            if (!st) logit[sender] = (double)d->logits.b[last + target] - (minus >= 0 ? d->logits.b[last + minus] : 0);
        }
    s.ratio = NULL;
    pass_free(&s);
    hw_cdt_free(base);
    hw_cdt_free(d);
    return st == HW_ERR_NOMEM ? hw_fail(st, "cdt: out of memory") : st;
}

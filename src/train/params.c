/*
 * params.c: the parameter layout (every weight tensor in one fixed order, the layout
 * of weight, gradient and Adam-moment arenas) and models with fresh random weights.
 */
#include "train.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

hw_status hw_config_check_train(const hw_config *c) {
    if (!c) return hw_fail(HW_ERR_ARG, "no config given");
    if (c->n_layer <= 0 || c->d_model <= 0 || c->n_head <= 0 || c->n_kv_head <= 0 ||
        c->head_dim <= 0 || c->vocab_size <= 0 || c->n_ctx <= 0 || c->d_ff < 0)
        return hw_fail(HW_ERR_ARG,
                       "config: layers %d, d_model %d, heads %d/%d, head_dim %d, vocab %d, "
                       "n_ctx %d must be positive (d_ff %d >= 0)",
                       c->n_layer, c->d_model, c->n_head, c->n_kv_head, c->head_dim,
                       c->vocab_size, c->n_ctx, c->d_ff);
    if (c->n_head % c->n_kv_head != 0)
        return hw_fail(HW_ERR_ARG, "config: %d query heads are not a multiple of %d KV heads",
                       c->n_head, c->n_kv_head);
    if (c->pos == HW_POS_ROTARY && (c->rotary_frac <= 0 || c->rotary_frac > 1 ||
                                    c->rope_theta <= 0))
        return hw_fail(HW_ERR_ARG, "config: rotary fraction %g or theta %g out of range",
                       c->rotary_frac, c->rope_theta);
    if (c->norm_eps <= 0) return hw_fail(HW_ERR_ARG, "config: norm_eps %g must be > 0", c->norm_eps);
    return HW_OK;
}

/* Appends one entry; returns the new count. */
static int entry(hw_param *out, hw_param_kind *kinds, int max, int n, int64_t *off,
                 hw_param_kind kind, int layer, const char *name, int rows, int cols, int decay) {
    if (n < max) {
        if (out) {
            hw_param *p = &out[n];
            memset(p, 0, sizeof *p);
            if (layer >= 0) snprintf(p->name, sizeof p->name, "layers.%d.%s", layer, name);
            else snprintf(p->name, sizeof p->name, "%s", name);
            p->layer = layer;
            p->ndim = cols ? 2 : 1;
            p->shape[0] = rows;
            p->shape[1] = cols;
            p->offset = *off;
            p->size = (int64_t)rows * (cols ? cols : 1);
            p->decay = decay;
        }
        if (kinds) kinds[n] = kind;
    }
    *off += (int64_t)rows * (cols ? cols : 1);
    return n + 1;
}

int hw_param_layout(const hw_config *c, hw_param *out, hw_param_kind *kinds, int max) {
    const int D = c->d_model, V = c->vocab_size, F = c->d_ff;
    const int Q = c->n_head * c->head_dim, K = c->n_kv_head * c->head_dim;
    const int lnb = c->norm == HW_NORM_LAYER && c->norm_bias;
    int n = 0;
    int64_t off = 0;
#define E(kind, layer, name, rows, cols, decay) \
    n = entry(out, kinds, max, n, &off, kind, layer, name, rows, cols, decay)
    E(HW_P_TOK, -1, "tok_embed", V, D, 1);
    if (c->pos == HW_POS_LEARNED) E(HW_P_POS, -1, "pos_embed", c->n_ctx, D, 1);
    for (int l = 0; l < c->n_layer; l++) {
        E(HW_P_ATTN_NORM, l, "attn_norm", D, 0, 0);
        if (lnb) E(HW_P_ATTN_NORM_B, l, "attn_norm_b", D, 0, 0);
        E(HW_P_WQ, l, "wq", Q, D, 1);
        if (c->qkv_bias) E(HW_P_BQ, l, "bq", Q, 0, 0);
        E(HW_P_WK, l, "wk", K, D, 1);
        if (c->qkv_bias) E(HW_P_BK, l, "bk", K, 0, 0);
        E(HW_P_WV, l, "wv", K, D, 1);
        if (c->qkv_bias) E(HW_P_BV, l, "bv", K, 0, 0);
        E(HW_P_WO, l, "wo", D, Q, 1);
        if (c->out_bias) E(HW_P_BO, l, "bo", D, 0, 0);
        if (F > 0) {
            E(HW_P_MLP_NORM, l, "mlp_norm", D, 0, 0);
            if (lnb) E(HW_P_MLP_NORM_B, l, "mlp_norm_b", D, 0, 0);
            if (c->act == HW_ACT_SILU_GATED) {
                E(HW_P_W_GATE, l, "w_gate", F, D, 1);
                if (c->mlp_bias) E(HW_P_B_GATE, l, "b_gate", F, 0, 0);
            }
            E(HW_P_W_UP, l, "w_up", F, D, 1);
            if (c->mlp_bias) E(HW_P_B_UP, l, "b_up", F, 0, 0);
            E(HW_P_W_DOWN, l, "w_down", D, F, 1);
            if (c->mlp_bias) E(HW_P_B_DOWN, l, "b_down", D, 0, 0);
        }
    }
    E(HW_P_FINAL_NORM, -1, "final_norm", D, 0, 0);
    if (lnb) E(HW_P_FINAL_NORM_B, -1, "final_norm_b", D, 0, 0);
    if (!c->tied_embeddings) E(HW_P_CLASSIFIER, -1, "classifier", V, D, 1);
#undef E
    return n;
}

/* The address of the field of p that an entry of `kind` in `layer` fills. */
static float **field(hw_params *p, hw_param_kind kind, int layer) {
    hw_layer_params *l = layer >= 0 ? &p->layers[layer] : NULL;
    switch (kind) {
    case HW_P_TOK: return &p->tok_embed;
    case HW_P_POS: return &p->pos_embed;
    case HW_P_ATTN_NORM: return &l->attn_norm;
    case HW_P_ATTN_NORM_B: return &l->attn_norm_b;
    case HW_P_WQ: return &l->wq;
    case HW_P_BQ: return &l->bq;
    case HW_P_WK: return &l->wk;
    case HW_P_BK: return &l->bk;
    case HW_P_WV: return &l->wv;
    case HW_P_BV: return &l->bv;
    case HW_P_WO: return &l->wo;
    case HW_P_BO: return &l->bo;
    case HW_P_MLP_NORM: return &l->mlp_norm;
    case HW_P_MLP_NORM_B: return &l->mlp_norm_b;
    case HW_P_W_GATE: return &l->w_gate;
    case HW_P_B_GATE: return &l->b_gate;
    case HW_P_W_UP: return &l->w_up;
    case HW_P_B_UP: return &l->b_up;
    case HW_P_W_DOWN: return &l->w_down;
    case HW_P_B_DOWN: return &l->b_down;
    case HW_P_FINAL_NORM: return &p->final_norm;
    case HW_P_FINAL_NORM_B: return &p->final_norm_b;
    case HW_P_CLASSIFIER: return &p->classifier;
    }
    return NULL;
}

void hw_params_bind(const hw_config *cfg, float *base, hw_params *p, hw_layer_params *layers) {
    memset(p, 0, sizeof *p);
    memset(layers, 0, (size_t)cfg->n_layer * sizeof *layers);
    p->layers = layers;
    int n = hw_param_layout(cfg, NULL, NULL, 0);
    hw_param *e = malloc((size_t)n * sizeof *e);
    hw_param_kind *k = malloc((size_t)n * sizeof *k);
    if (!e || !k) { /* tiny; the callers check the pointers they need */
        free(e);
        free(k);
        return;
    }
    hw_param_layout(cfg, e, k, n);
    for (int i = 0; i < n; i++) *field(p, k[i], e[i].layer) = base + e[i].offset;
    free(e);
    free(k);
}

static float *f32_of(const hw_matrix *w) { return w->dtype == HW_F32 ? (float *)w->f32 : NULL; }

hw_status hw_params_of_model(const hw_model *m, hw_params *p, hw_layer_params *layers) {
    const hw_config *c = &m->cfg;
    const hw_weights *w = &m->w;
    memset(layers, 0, (size_t)c->n_layer * sizeof *layers);
    /* The weights are only read through this view: the casts drop const for one type. */
    *p = (hw_params){(float *)w->tok_embed, (float *)w->pos_embed, layers,
                     (float *)w->final_norm, (float *)w->final_norm_b, f32_of(&w->classifier)};
    int bad = !p->tok_embed || !p->classifier || !p->final_norm ||
              (c->pos == HW_POS_LEARNED && !p->pos_embed);
    for (int l = 0; l < c->n_layer; l++) {
        const hw_layer_weights *lw = &w->layers[l];
        hw_layer_params *o = &layers[l];
        *o = (hw_layer_params){(float *)lw->attn_norm, (float *)lw->attn_norm_b,
                               f32_of(&lw->wq), (float *)lw->bq, f32_of(&lw->wk), (float *)lw->bk,
                               f32_of(&lw->wv), (float *)lw->bv, f32_of(&lw->wo), (float *)lw->bo,
                               (float *)lw->mlp_norm, (float *)lw->mlp_norm_b,
                               c->act == HW_ACT_SILU_GATED ? f32_of(&lw->w_gate) : NULL,
                               (float *)lw->b_gate, f32_of(&lw->w_up), (float *)lw->b_up,
                               f32_of(&lw->w_down), (float *)lw->b_down};
        bad |= !o->attn_norm || !o->wq || !o->wk || !o->wv || !o->wo;
        if (c->d_ff > 0)
            bad |= !o->mlp_norm || !o->w_up || !o->w_down ||
                   (c->act == HW_ACT_SILU_GATED && !o->w_gate);
    }
    if (bad)
        return hw_fail(HW_ERR_UNSUPPORTED,
                       "gradients need F32 weights (this model's are %s or incomplete)",
                       m->info.dtype ? m->info.dtype : "unknown");
    return HW_OK;
}

int hw_param_count(const hw_config *cfg) { return cfg ? hw_param_layout(cfg, NULL, NULL, 0) : 0; }

int64_t hw_param_total(const hw_config *cfg) {
    if (!cfg) return 0;
    int n = hw_param_layout(cfg, NULL, NULL, 0);
    hw_param *e = malloc((size_t)n * sizeof *e);
    if (!e) return 0;
    hw_param_layout(cfg, e, NULL, n);
    int64_t total = e[n - 1].offset + e[n - 1].size;
    free(e);
    return total;
}

hw_status hw_param_get(const hw_config *cfg, int i, hw_param *out) {
    int n = hw_param_count(cfg);
    if (i < 0 || i >= n) return hw_fail(HW_ERR_ARG, "parameter %d out of range (%d)", i, n);
    hw_param *e = malloc((size_t)n * sizeof *e);
    if (!e) return hw_fail(HW_ERR_NOMEM, "out of memory");
    hw_param_layout(cfg, e, NULL, n);
    *out = e[i];
    free(e);
    return HW_OK;
}

const float *hw_model_param(const hw_model *m, int i) {
    const hw_config *c = &m->cfg;
    int n = hw_param_count(c);
    if (i < 0 || i >= n) return NULL;
    hw_layer_params *layers = malloc((size_t)c->n_layer * sizeof *layers);
    hw_param *e = malloc((size_t)n * sizeof *e);
    hw_param_kind *k = malloc((size_t)n * sizeof *k);
    float *out = NULL;
    hw_params p;
    if (layers && e && k && hw_params_of_model(m, &p, layers) == HW_OK) {
        hw_param_layout(c, e, k, n);
        out = *field(&p, k[i], e[i].layer);
    }
    free(layers);
    free(e);
    free(k);
    return out;
}

/* ---------------------------------------------------------------- random models */

/* A standard normal value (Box-Muller on two uniforms in (0, 1]) from the seeded stream. */
static double normal(hw_rng *s) {
    double u1 = ((hw_rng_next(s) >> 11) + 1) * (1.0 / 9007199254740992.0);
    double u2 = hw_rng_unit(s);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static hw_matrix f32_matrix(const float *data, int rows, int cols) {
    return (hw_matrix){.dtype = HW_F32, .rows = rows, .cols = cols, .f32 = data};
}

hw_model *hw_model_new_random(const hw_config *cfg, uint64_t seed) {
    if (hw_config_check_train(cfg) != HW_OK) return NULL;
    hw_model *m = calloc(1, sizeof *m);
    if (!m) {
        hw_fail(HW_ERR_NOMEM, "out of memory for a model");
        return NULL;
    }
    m->cfg = *cfg;
    const hw_config *c = &m->cfg;
    const int L = c->n_layer, n = hw_param_count(c);
    const int64_t total = hw_param_total(c);
    /* The arena is the first owned buffer: tok_embed (offset 0) points at its start,
     * which is how the trainer finds it again. */
    float *arena = hw_model_alloc(m, (size_t)total * sizeof(float));
    hw_param *e = malloc((size_t)n * sizeof *e);
    hw_param_kind *k = malloc((size_t)n * sizeof *k);
    hw_layer_params *layers = malloc((size_t)L * sizeof *layers);
    m->w.layers = hw_model_alloc(m, (size_t)L * sizeof *m->w.layers);
    if (!arena || !e || !k || !layers || !m->w.layers) {
        free(e);
        free(k);
        free(layers);
        hw_model_free(m);
        hw_fail(HW_ERR_NOMEM, "out of memory for %lld parameters", (long long)total);
        return NULL;
    }
    hw_param_layout(c, e, k, n);
    hw_rng rng = {seed * 0x2545F4914F6CDD1Dull + 1};
    const double resid_scale = 1.0 / sqrt(2.0 * L);
    for (int i = 0; i < n; i++) {
        float *d = arena + e[i].offset;
        hw_param_kind kd = k[i];
        if (e[i].ndim == 1) { /* norms 1, biases 0 */
            int is_norm = kd == HW_P_ATTN_NORM || kd == HW_P_MLP_NORM || kd == HW_P_FINAL_NORM;
            for (int64_t j = 0; j < e[i].size; j++) d[j] = is_norm ? 1.0f : 0.0f;
            continue;
        }
        double std = 0.02 * (kd == HW_P_WO || kd == HW_P_W_DOWN ? resid_scale : 1.0);
        for (int64_t j = 0; j < e[i].size; j++) d[j] = (float)(std * normal(&rng));
    }
    hw_params p;
    hw_params_bind(c, arena, &p, layers);
    const int D = c->d_model, F = c->d_ff, V = c->vocab_size;
    const int Q = c->n_head * c->head_dim, K = c->n_kv_head * c->head_dim;
    hw_weights *w = &m->w;
    w->tok_embed = p.tok_embed;
    w->pos_embed = p.pos_embed;
    w->final_norm = p.final_norm;
    w->final_norm_b = p.final_norm_b;
    w->classifier = f32_matrix(c->tied_embeddings ? p.tok_embed : p.classifier, V, D);
    for (int l = 0; l < L; l++) {
        hw_layer_params *s = &layers[l];
        w->layers[l] = (hw_layer_weights){
            .attn_norm = s->attn_norm, .attn_norm_b = s->attn_norm_b,
            .wq = f32_matrix(s->wq, Q, D), .wk = f32_matrix(s->wk, K, D),
            .wv = f32_matrix(s->wv, K, D), .wo = f32_matrix(s->wo, D, Q),
            .bq = s->bq, .bk = s->bk, .bv = s->bv, .bo = s->bo,
            .mlp_norm = s->mlp_norm, .mlp_norm_b = s->mlp_norm_b,
            .w_gate = f32_matrix(s->w_gate, F, D), .w_up = f32_matrix(s->w_up, F, D),
            .w_down = f32_matrix(s->w_down, D, F),
            .b_up = s->b_up, .b_gate = s->b_gate, .b_down = s->b_down};
    }
    int64_t counted = total;
    m->info = (hw_model_info){.format = "random init", .dtype = "f32", .n_params = counted,
                              .file_bytes = 0, .weight_bytes = counted * 4};
    free(e);
    free(k);
    free(layers);
    return m;
}

/*
 * grad.c: the gradient workspace (public hw_grad_* API): buffers sized from the
 * config and the largest batch seen, which activation gradients are wanted, gates.
 */
#include "train.h"

#include <stdlib.h>
#include <string.h>

/* Every per-batch buffer with its size in floats, for allocation and release in one
 * place: X(pointer expression, count). Per-layer buffers are listed by layer_buffers. */
#define GRAD_BUFFERS(X)                                                                  \
    X(g->x_final, ND) X(g->xnf, ND) X(g->rstdf, N) X(g->meanf, N) X(g->logits, NV)      \
    X(g->dlogits, NV) X(g->row_loss, N) X(g->dx, ND) X(g->dx2, ND) X(g->dxn, ND)        \
    X(g->dq, NQ) X(g->dk, NK) X(g->dv, NK) X(g->dz, NQ) X(g->datt, BHTT) X(g->dh, NF)   \
    X(g->dpre_up, NF) X(g->dpre_gate, NF) X(g->tmp, ND) X(g->dz_s, DUO ? NQ : 0)
#define LAYER_BUFFERS(X)                                                                 \
    X(a->x, ND) X(a->xn1, ND) X(a->rstd1, N) X(a->mean1, N) X(a->q, NQ) X(a->k, NK)     \
    X(a->v, NK) X(a->att, BHTT) X(a->z, NQ) X(a->zg, NQ) X(a->xmid, ND) X(a->xn2, NF ? ND : 0) \
    X(a->rstd2, N) X(a->mean2, N) X(a->pre_up, NF) X(a->pre_gate, NF) X(a->h, NF)                  \
    X(a->att_s, DUO ? BHTT : 0) X(a->z_s, DUO ? NQ : 0)

static void free_buffers(hw_grad *g) {
#define FREE(ptr, count) free(ptr), ptr = NULL;
    GRAD_BUFFERS(FREE)
    for (int l = 0; g->acts && l < g->m->cfg.n_layer; l++) {
        hw_layer_acts *a = &g->acts[l];
        LAYER_BUFFERS(FREE)
    }
#undef FREE
    free(g->tokens);
    g->tokens = NULL;
    free(g->parts);
    g->parts = NULL;
    free(g->rope_cos);
    free(g->rope_sin);
    g->rope_cos = g->rope_sin = NULL;
    g->cap_N = 0;
    g->duo_bufs = 0;
}

/* Buffers for a (B, T) batch, reallocated only when it needs more than they hold. */
static hw_status ensure(hw_grad *g, int B, int T) {
    const hw_config *c = &g->m->cfg;
    const size_t N = (size_t)B * T, D = c->d_model, F = c->d_ff, V = c->vocab_size;
    const size_t ND = N * D, NF = N * F, NV = N * V, NQ = N * c->n_head * c->head_dim;
    const size_t NK = N * c->n_kv_head * c->head_dim, BHTT = N * c->n_head * T;
    /* DuoAttention's streaming buffers only while it is on: plain training keeps its size. */
    const int DUO = g->duo_alpha != NULL;
    if (N <= g->cap_N && BHTT <= g->cap_BT2 && T <= g->T_cap && (!DUO || g->duo_bufs))
        return HW_OK;
    free_buffers(g);
    int ok = 1;
#define ALLOC(ptr, count) ok &= (ptr = calloc((count) ? (count) : 1, sizeof(float))) != NULL;
    GRAD_BUFFERS(ALLOC)
    for (int l = 0; l < c->n_layer; l++) {
        hw_layer_acts *a = &g->acts[l];
        LAYER_BUFFERS(ALLOC)
    }
#undef ALLOC
    g->tokens = malloc(N * sizeof(int));
    /* The largest matrix: weight-gradient blocks (gemm.c) hold one each. */
    size_t big = 0;
    for (int i = 0; i < hw_param_count(c); i++) {
        hw_param p;
        hw_param_get(c, i, &p);
        if (p.ndim == 2 && (size_t)p.size > big) big = (size_t)p.size;
    }
    g->parts = malloc(big * HW_TRAIN_PARTS * sizeof(float));
    g->rope_cos = calloc((size_t)T * (g->rot / 2) + 1, sizeof(float));
    g->rope_sin = calloc((size_t)T * (g->rot / 2) + 1, sizeof(float));
    if (!ok || !g->tokens || !g->parts || !g->rope_cos || !g->rope_sin) {
        free_buffers(g);
        return hw_fail(HW_ERR_NOMEM, "out of memory for a batch of %d x %d tokens", B, T);
    }
    g->cap_N = N;
    g->duo_bufs = DUO;
    g->cap_BT2 = BHTT;
    g->T_cap = T;
    return HW_OK;
}

hw_grad *hw_grad_new(const hw_model *m) {
    if (!m) {
        hw_fail(HW_ERR_ARG, "hw_grad_new: no model");
        return NULL;
    }
    const hw_config *c = &m->cfg;
    if (hw_config_check_train(c) != HW_OK) return NULL;
    hw_grad *g = calloc(1, sizeof *g);
    if (!g) {
        hw_fail(HW_ERR_NOMEM, "out of memory");
        return NULL;
    }
    const int L = c->n_layer;
    const size_t slots = (size_t)HW_HOOK_COUNT * (L + 1);
    g->m = m;
    g->n_params = hw_param_total(c);
    g->w_layers = calloc((size_t)L, sizeof *g->w_layers);
    g->g_layers = calloc((size_t)L, sizeof *g->g_layers);
    g->g_arena = calloc((size_t)g->n_params, sizeof(float));
    g->g_gates = calloc((size_t)L * c->n_head, sizeof(float));
    g->acts = calloc((size_t)L, sizeof *g->acts);
    g->want = calloc(slots, 1);
    g->act_grad = calloc(slots, sizeof *g->act_grad);
    g->act_cap = calloc(slots, sizeof *g->act_cap);
    if (!g->w_layers || !g->g_layers || !g->g_arena || !g->g_gates || !g->acts || !g->want ||
        !g->act_grad || !g->act_cap) {
        hw_grad_free(g);
        hw_fail(HW_ERR_NOMEM, "out of memory for gradients of %lld parameters",
                (long long)g->n_params);
        return NULL;
    }
    if (hw_params_of_model(m, &g->w, g->w_layers) != HW_OK) {
        hw_grad_free(g);
        return NULL;
    }
    hw_params_bind(c, g->g_arena, &g->g, g->g_layers);
    int rot = c->pos == HW_POS_ROTARY ? (int)(c->head_dim * c->rotary_frac) : 0;
    g->rot = rot - rot % 2;
    if (g->rot > 1024) {
        hw_grad_free(g);
        hw_fail(HW_ERR_UNSUPPORTED, "rotary dimension %d too large", g->rot);
        return NULL;
    }
    return g;
}

void hw_grad_free(hw_grad *g) {
    if (!g) return;
    if (g->acts) free_buffers(g);
    if (g->act_grad)
        for (size_t i = 0; i < (size_t)HW_HOOK_COUNT * (g->m->cfg.n_layer + 1); i++)
            free(g->act_grad[i]);
    free(g->act_grad);
    free(g->act_cap);
    free(g->want);
    free(g->acts);
    free(g->w_layers);
    free(g->g_layers);
    free(g->g_arena);
    free(g->gates);
    free(g->g_gates);
    free(g->duo_alpha);
    free(g->g_duo_alpha);
    free(g);
}

static int is_global(hw_hook_point p) {
    return p == HW_HOOK_EMBED || p == HW_HOOK_POS_EMBED || p == HW_HOOK_LN_FINAL ||
           p == HW_HOOK_LOGITS;
}

hw_status hw_grad_want(hw_grad *g, hw_hook_point p, int layer) {
    const hw_config *c = &g->m->cfg;
    if ((int)p < 0 || p >= HW_HOOK_COUNT)
        return hw_fail(HW_ERR_ARG, "no hook point %d", (int)p);
    if (p == HW_HOOK_RESULT)
        return hw_fail(HW_ERR_UNSUPPORTED, "no gradient at hook_result (use hook_z: W_O is linear)");
    if (layer >= c->n_layer)
        return hw_fail(HW_ERR_ARG, "layer %d out of range (%d layers)", layer, c->n_layer);
    const int attn_only = c->d_ff == 0;
    if (((p == HW_HOOK_MLP_POST || p == HW_HOOK_MLP_OUT) && attn_only) ||
        (p == HW_HOOK_RESID_MID && (attn_only || c->parallel_residual)) ||
        ((p == HW_HOOK_ROT_Q || p == HW_HOOK_ROT_K) && c->pos != HW_POS_ROTARY) ||
        (p == HW_HOOK_POS_EMBED && c->pos != HW_POS_LEARNED)) {
        char name[96];
        hw_hook_name(name, sizeof name, p, layer < 0 ? 0 : layer);
        return hw_fail(HW_ERR_UNSUPPORTED, "this model has no %s", name);
    }
    if (is_global(p)) {
        g->want[hw_grad_slot(g, p, -1)] = 1;
        return HW_OK;
    }
    for (int l = layer < 0 ? 0 : layer; l < (layer < 0 ? c->n_layer : layer + 1); l++)
        g->want[hw_grad_slot(g, p, l)] = 1;
    return HW_OK;
}

hw_status hw_grad_set_gates(hw_grad *g, const float *gates) {
    const size_t n = (size_t)g->m->cfg.n_layer * g->m->cfg.n_head;
    if (gates && g->duo_alpha)
        return hw_fail(HW_ERR_UNSUPPORTED, "head gates and DuoAttention's gates together");
    if (!gates) {
        free(g->gates);
        g->gates = NULL;
        return HW_OK;
    }
    if (!g->gates && !(g->gates = malloc(n * sizeof(float))))
        return hw_fail(HW_ERR_NOMEM, "out of memory");
    memcpy(g->gates, gates, n * sizeof(float));
    return HW_OK;
}

/* The shape of (point) for a (B, T) batch; returns ndim. */
static int act_shape(const hw_config *c, hw_hook_point p, int B, int T, int shape[4]) {
    const int D = c->d_model, H = c->n_head, Hk = c->n_kv_head, Dh = c->head_dim;
    shape[0] = B;
    shape[1] = T;
    switch (p) {
    case HW_HOOK_Q: case HW_HOOK_ROT_Q: case HW_HOOK_Z:
        shape[2] = H, shape[3] = Dh;
        return 4;
    case HW_HOOK_K: case HW_HOOK_ROT_K: case HW_HOOK_V:
        shape[2] = Hk, shape[3] = Dh;
        return 4;
    case HW_HOOK_ATTN_SCORES: case HW_HOOK_PATTERN:
        shape[1] = H, shape[2] = T, shape[3] = T;
        return 4;
    case HW_HOOK_MLP_POST: shape[2] = c->d_ff; return 3;
    case HW_HOOK_LOGITS: shape[2] = c->vocab_size; return 3;
    default: shape[2] = D; return 3;
    }
}

static hw_status check_batch(const hw_grad *g, const hw_batch *b) {
    const hw_config *c = &g->m->cfg;
    if (!b || !b->tokens || !b->targets || b->B <= 0 || b->T <= 0)
        return hw_fail(HW_ERR_ARG, "empty batch");
    if ((int64_t)b->B * b->T > (1 << 28) / (c->d_model > c->vocab_size ? c->d_model : c->vocab_size))
        return hw_fail(HW_ERR_RANGE, "batch of %d x %d tokens is too large", b->B, b->T);
    if (c->pos == HW_POS_LEARNED && b->T > c->n_ctx)
        return hw_fail(HW_ERR_RANGE, "sequences of %d tokens exceed the model's %d positions",
                       b->T, c->n_ctx);
    for (int i = 0; i < b->B * b->T; i++) {
        if (b->tokens[i] < 0 || b->tokens[i] >= c->vocab_size)
            return hw_fail(HW_ERR_ARG, "token id %d at index %d is outside the vocabulary (%d)",
                           b->tokens[i], i, c->vocab_size);
        if (b->targets[i] < -1 || b->targets[i] >= c->vocab_size)
            return hw_fail(HW_ERR_ARG, "target %d at index %d is outside the vocabulary (%d)",
                           b->targets[i], i, c->vocab_size);
    }
    return HW_OK;
}

/* Forward over a checked batch, with buffers and wanted activation gradients sized. */
static hw_status run_forward(hw_grad *g, const hw_batch *b) {
    hw_status s = check_batch(g, b);
    if (s == HW_OK) s = ensure(g, b->B, b->T);
    if (s != HW_OK) return s;
    memcpy(g->tokens, b->tokens, (size_t)b->B * b->T * sizeof(int));
    g->have_grads = 0;
    hw_blas_one_thread(); /* the pool shares the products out (gemm.c) */
    return hw_train_forward(g, b);
}

hw_status hw_grad_loss(hw_grad *g, const hw_batch *b, float *loss) {
    if (!g) return hw_fail(HW_ERR_ARG, "no gradient workspace");
    hw_status s = run_forward(g, b);
    if (s == HW_OK && loss) *loss = g->loss;
    return s;
}

/* Buffers for the activation gradients wanted, for a (B, T) batch. */
static hw_status alloc_wanted(hw_grad *g, int B, int T) {
    const hw_config *c = &g->m->cfg;
    for (int p = 0; p < HW_HOOK_COUNT; p++)
        for (int l = 0; l <= c->n_layer; l++) {
            size_t slot = hw_grad_slot(g, (hw_hook_point)p, l);
            if (!g->want[slot]) continue;
            int shape[4], nd = act_shape(c, (hw_hook_point)p, B, T, shape);
            size_t n = 1;
            for (int i = 0; i < nd; i++) n *= (size_t)shape[i];
            if (n > g->act_cap[slot]) {
                free(g->act_grad[slot]);
                if (!(g->act_grad[slot] = malloc(n * sizeof(float)))) {
                    g->act_cap[slot] = 0;
                    g->want[slot] = 0;
                    return hw_fail(HW_ERR_NOMEM, "out of memory for activation gradients");
                }
                g->act_cap[slot] = n;
            }
        }
    return HW_OK;
}

hw_status hw_grad_compute(hw_grad *g, const hw_batch *b, int what, float *loss) {
    if (!g) return hw_fail(HW_ERR_ARG, "no gradient workspace");
    hw_status s = run_forward(g, b);
    if (s == HW_OK) s = alloc_wanted(g, b->B, b->T);
    if (s != HW_OK) return s;
    s = hw_train_backward(g, what); /* OpenBLAS still on one thread, from run_forward */
    if (s == HW_OK && loss) *loss = g->loss;
    return s;
}

hw_status hw_train_hidden(hw_grad *g, const hw_batch *b, const float **hidden) {
    if (!g) return hw_fail(HW_ERR_ARG, "no gradient workspace");
    g->hidden_only = 1;
    hw_status s = run_forward(g, b);
    g->hidden_only = 0;
    if (s != HW_OK) return s;
    g->have_loss = 0; /* no logits */
    if (hidden) *hidden = g->xnf;
    return HW_OK;
}

hw_status hw_train_hidden_backward(hw_grad *g, const float *dhidden, const float **g_alpha) {
    if (!g || !dhidden) return hw_fail(HW_ERR_ARG, "hw_train_hidden_backward: no workspace or gradient");
    if (!g->B) return hw_fail(HW_ERR_ARG, "hw_train_hidden_backward: no forward before it");
    hw_status s = alloc_wanted(g, g->B, g->T);
    if (s != HW_OK) return s;
    g->hidden_only = 1;
    g->dhidden = dhidden;
    hw_blas_one_thread();
    s = hw_train_backward(g, 0);
    g->hidden_only = 0;
    g->dhidden = NULL;
    if (s == HW_OK && g_alpha) *g_alpha = g->duo_alpha ? g->g_duo_alpha : NULL;
    return s;
}

const float *hw_grad_logits(const hw_grad *g) { return g && g->have_loss ? g->logits : NULL; }
const float *hw_grad_weights(const hw_grad *g) {
    return g && (g->have_grads & HW_GRAD_WEIGHTS) ? g->g_arena : NULL;
}
const float *hw_grad_gates(const hw_grad *g) {
    return g && g->gates && (g->have_grads & HW_GRAD_GATES) ? g->g_gates : NULL;
}

const float *hw_grad_activation(const hw_grad *g, hw_hook_point p, int layer, int *ndim,
                                int shape[4]) {
    if (!g || !g->have_grads || (int)p < 0 || p >= HW_HOOK_COUNT) return NULL;
    if (layer >= g->m->cfg.n_layer || (!is_global(p) && layer < 0)) return NULL;
    const float *d = hw_grad_act(g, p, is_global(p) ? -1 : layer);
    if (d) {
        int s[4], nd = act_shape(&g->m->cfg, p, g->B, g->T, s);
        if (ndim) *ndim = nd;
        if (shape) memcpy(shape, s, sizeof s);
    }
    return d;
}

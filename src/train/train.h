/*
 * train.h: types shared by the training files (src/train/): the parameter layout,
 * the training forward's saved activations, and the gradient workspace.
 *
 * N is B*T, the rows of one batch (B sequences of T tokens, each from position 0).
 */
#ifndef HW_TRAIN_H
#define HW_TRAIN_H

#include "internal.h"

/* Every tensor of one layer as a float pointer into an arena; NULL when absent. */
typedef struct {
    float *attn_norm, *attn_norm_b;     /* (D) */
    float *wq, *bq;                     /* (H*Dh, D), (H*Dh) */
    float *wk, *bk, *wv, *bv;           /* (Hk*Dh, D), (Hk*Dh) */
    float *wo, *bo;                     /* (D, H*Dh), (D) */
    float *mlp_norm, *mlp_norm_b;       /* (D) */
    float *w_gate, *b_gate;             /* (F, D), (F) SiLU-gated MLP only */
    float *w_up, *b_up;                 /* (F, D), (F) */
    float *w_down, *b_down;             /* (D, F), (D) */
} hw_layer_params;

/* A whole model's tensors. With tied embeddings classifier is NULL in an arena view
 * (its gradient goes to tok_embed); in a view of a model's weights it is tok_embed. */
typedef struct {
    float *tok_embed;                   /* (V, D) */
    float *pos_embed;                   /* (n_ctx, D) learned positions only */
    hw_layer_params *layers;            /* (L) */
    float *final_norm, *final_norm_b;   /* (D) */
    float *classifier;                  /* (V, D) */
} hw_params;

/* Which tensor an entry of the layout is. */
typedef enum {
    HW_P_TOK, HW_P_POS, HW_P_ATTN_NORM, HW_P_ATTN_NORM_B, HW_P_WQ, HW_P_BQ, HW_P_WK, HW_P_BK,
    HW_P_WV, HW_P_BV, HW_P_WO, HW_P_BO, HW_P_MLP_NORM, HW_P_MLP_NORM_B, HW_P_W_GATE,
    HW_P_B_GATE, HW_P_W_UP, HW_P_B_UP, HW_P_W_DOWN, HW_P_B_DOWN, HW_P_FINAL_NORM,
    HW_P_FINAL_NORM_B, HW_P_CLASSIFIER
} hw_param_kind;

/* The layout's entries in order (out may be NULL); returns their number. */
int hw_param_layout(const hw_config *cfg, hw_param *out, hw_param_kind *kinds, int max);
/* Point p's fields (and its layers array, L entries the caller provides) into base. */
void hw_params_bind(const hw_config *cfg, float *base, hw_params *p, hw_layer_params *layers);
/* A view of a model's F32 weights (read only, though the type says float *); fails
 * for a quantised model. layers: L entries the caller provides. */
hw_status hw_params_of_model(const hw_model *m, hw_params *p, hw_layer_params *layers);
/* Can a config be built and trained? (sizes positive and consistent) */
hw_status hw_config_check_train(const hw_config *cfg);

/* Activations the backward pass reads, per layer (N = B*T rows). */
typedef struct {
    float *x;                   /* (N, D) the layer's input: resid_pre */
    float *xn1, *rstd1;         /* (N, D) attention norm output, (N) 1/std */
    float *mean1;               /* (N) LayerNorm mean */
    float *q, *k, *v;           /* (N, H*Dh), (N, Hk*Dh) x2: after rotary */
    float *att;                 /* (B, H, T, T) softmax pattern, 0 outside the window (row i
                                 * defined up to the last key of its query block) */
    float *z;                   /* (N, H*Dh) attention output before the gate */
    float *zg;                  /* (N, H*Dh) z times the gates (used only with gates), or
                                 * DuoAttention's mix alpha z + (1 - alpha) z_s */
    float *att_s;               /* (B, H, T, T) DuoAttention only: the streaming pattern */
    float *z_s;                 /* (N, H*Dh) DuoAttention only: the streaming output */
    float *xmid;                /* (N, D) resid_mid (sequential blocks with an MLP) */
    float *xn2, *rstd2, *mean2; /* MLP norm output and statistics */
    float *pre_up, *pre_gate;   /* (N, F) before the activation */
    float *h;                   /* (N, F) after it: mlp hook_post */
} hw_layer_acts;

struct hw_grad {
    const hw_model *m;
    hw_params w;                /* view of the model's weights */
    hw_layer_params *w_layers;
    int64_t n_params;           /* floats in a parameter arena */
    float *g_arena;             /* (n_params) weight gradients */
    hw_params g;
    hw_layer_params *g_layers;
    float *gates;               /* (L, H) or NULL: no gates */
    float *g_gates;             /* (L, H) */
    int B, T;                   /* last batch */
    size_t cap_N;               /* rows the buffers hold */
    size_t cap_BT2;             /* floats per layer's (B, H, T, T) buffers */
    int T_cap;                  /* longest T the rotary tables hold */
    hw_layer_acts *acts;        /* (L) */
    float *x_final;             /* (N, D) */
    float *xnf, *rstdf, *meanf; /* final norm */
    float *logits;              /* (N, V) */
    float *dlogits;             /* (N, V) */
    float *row_loss;            /* (N) */
    int *tokens;                /* (N) the last batch's tokens */
    float *rope_cos, *rope_sin; /* (T, rot/2) */
    int rot;
    /* backward scratch */
    float *dx, *dx2;            /* (N, D) */
    float *dxn;                 /* (N, D) */
    float *dq, *dk, *dv, *dz;   /* like q, k, v, z */
    float *datt;                /* (B, H, T, T) */
    float *dh, *dpre_up, *dpre_gate; /* (N, F) */
    float *tmp;                 /* (N, D) */
    float *parts;               /* (HW_TRAIN_PARTS, largest matrix) weight-gradient blocks */
    int have_loss, have_grads;
    float loss;
    int n_targets;
    /* DuoAttention's mixed attention (duo.c; methods.md 2.1), off while duo_alpha is NULL:
     * each query head of KV group j in layer l outputs alpha z + (1 - alpha) z_s, z its
     * attention and z_s the same restricted to the keys k < duo_sink or i - duo_recent < k
     * <= i (within the model's own window). */
    float *duo_alpha;           /* (L, Hk) or NULL */
    float *g_duo_alpha;         /* (L, Hk) gradient of the last hw_train_hidden_backward */
    int duo_sink, duo_recent;
    int duo_bufs;               /* the buffers hold att_s, z_s and dz_s */
    float *dz_s;                /* (N, H*Dh) */
    /* Hidden mode (duo.c): the forward stops at the final norm (no logits, no loss) and
     * the backward starts from dhidden, the gradient of the final norm's output. */
    int hidden_only;
    const float *dhidden;       /* (N, D) */
    /* Activation gradients wanted: entry point * (L + 1) + layer (layer L: global). */
    unsigned char *want;
    float **act_grad;
    size_t *act_cap;
};

/* Index of (point, layer) in want/act_grad/act_cap; global points use layer L. */
static inline size_t hw_grad_slot(const hw_grad *g, hw_hook_point p, int layer) {
    int L = g->m->cfg.n_layer;
    return (size_t)p * (L + 1) + (layer < 0 ? L : layer);
}
/* The buffer of a wanted activation gradient, or NULL if not wanted. */
static inline float *hw_grad_act(const hw_grad *g, hw_hook_point p, int layer) {
    size_t s = hw_grad_slot(g, p, layer);
    return g->want[s] ? g->act_grad[s] : NULL;
}

/* The training forward over a batch: saves activations, computes logits and the
 * mean cross-entropy over targets >= 0 (train_forward.c). */
hw_status hw_train_forward(hw_grad *g, const hw_batch *b);
/* Backward from the loss of the last forward (backward.c). what: HW_GRAD_* flags. */
hw_status hw_train_backward(hw_grad *g, int what);

/* DuoAttention's gates (duo.c). alpha (L, Hk) is copied; NULL turns the mixed attention
 * off (plain attention, what hw_grad_compute runs). sink >= 0, recent >= 1. Per-head
 * gates (hw_grad_set_gates) and DuoAttention do not go together. */
hw_status hw_train_duo_set(hw_grad *g, const float *alpha, int sink, int recent);
/* Forward of batch b up to the final norm: *hidden (B*T, D) is the base model's last
 * hidden state (what DuoAttention distils), valid until g's next forward. Targets are
 * not read (they may be -1 everywhere). */
hw_status hw_train_hidden(hw_grad *g, const hw_batch *b, const float **hidden);
/* Backward of the last hw_train_hidden from dhidden (B*T, D), the loss's gradient at the
 * hidden states: activation gradients only (the model is frozen; no weight gradients)
 * and, with DuoAttention on, the gates' gradient (L, Hk) in *g_alpha (may be NULL). */
hw_status hw_train_hidden_backward(hw_grad *g, const float *dhidden, const float **g_alpha);
/* DuoAttention's loss at the gates set (methods.md 2.1): the mixed forward of b, its
 * final hidden states against h_full (B*T, D) at the rows where sup is non-zero,
 * L = (1 / n_sup) sum_sup mean_dims (h_full - h)^2 + lambda mean |alpha|, into *loss
 * (and its distillation part into *distill, may be NULL), and dL/dalpha (L, Hk) into
 * g_alpha (NULL: forward only). */
hw_status hw_train_duo_loss(hw_grad *g, const hw_batch *b, const float *h_full,
                            const unsigned char *sup, float lambda, float *loss, float *distill,
                            float *g_alpha);

/* e^x to about 1 ulp (x clamped to [-87, 88]) in plain arithmetic, so that loops
 * marked `omp simd` vectorise it (libm's expf is a call per value): 2^n by the
 * exponent bits times a degree-6 Taylor polynomial on |r| <= ln2 / 2. */
static inline float hw_train_exp(float x) {
    x = x < -87.0f ? -87.0f : x > 88.0f ? 88.0f : x;
    const float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* round */
    const float r = (x - n * 0.693145751953125f) - n * 1.428606765330187e-06f;
    const float p = 1.0f + r * (1.0f + r * (0.5f + r * (1.0f / 6 + r * (1.0f / 24 +
                    r * (1.0f / 120 + r * (1.0f / 720))))));
    union { int32_t i; float f; } s = {.i = ((int32_t)n + 127) << 23};
    return p * s.f;
}

/* C (M, N) = alpha op(A) (M, K) op(B) (K, N) + beta C, row-major, rows of C shared by
 * the pool, OpenBLAS single-threaded inside (gemm.c). Call with OpenBLAS at 1 thread. */
void hw_train_gemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                   int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* Query rows per block of the attention products: a block sees keys up to its last
 * row only, so about half of the hidden (future) scores are never computed. */
#define HW_TRAIN_QBLOCK 32

/* dW (R, K) += dy^T (R, N) x (N, K), the sum over N in HW_TRAIN_PARTS fixed blocks
 * computed apart (parts: HW_TRAIN_PARTS * R * K floats of scratch) and added in order. */
#define HW_TRAIN_PARTS 8
void hw_train_gemm_wgrad(float *dW, const float *dy, const float *x, int N, int R, int K,
                         float *parts);

/* The largest of x[0..n) (n >= 1), in 16 lanes so that it vectorises. */
static inline float hw_train_max(const float *x, int n) {
    float acc[16];
    for (int l = 0; l < 16; l++) acc[l] = x[0];
    int i = 0;
    for (; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; l++) acc[l] = x[i + l] > acc[l] ? x[i + l] : acc[l];
    float m = acc[0];
    for (int l = 1; l < 16; l++) m = acc[l] > m ? acc[l] : m;
    for (; i < n; i++) m = x[i] > m ? x[i] : m;
    return m;
}

/* Rotary tables for positions 0..T-1 (same frequencies as the inference forward). */
void hw_train_rope_tables(const hw_config *cfg, int rot, int T, float *cos_t, float *sin_t);

/* Rotate the first rot dims of each of n_heads heads in x (N rows, row r at position
 * r % T) by the tables in g; sign -1 applies the inverse rotation. */
void hw_train_rope(const hw_grad *g, float *x, int N, int T, int n_heads, float sign);
/* Keys a query of layer l sees: itself and window-1 before (INT_MAX: all). */
int hw_train_window(const hw_config *cfg, int l);

#endif

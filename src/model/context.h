/* context.h: the state of one run (KV cache and scratch), shared by context.c and forward.c. */
#ifndef HW_CONTEXT_H
#define HW_CONTEXT_H

#include "internal.h"

/* Tokens processed per pass of the layer loop; longer inputs go in chunks so
 * scratch stays (CHUNK, ...) whatever the context length. */
#define HW_CHUNK 512

struct hw_context {
    const hw_model *m;
    int n_ctx;          /* C */
    int pos;            /* tokens in the cache */
    int chunk;          /* rows of scratch: min(C, HW_CHUNK) */
    int rot;            /* rotated dimensions per head (even, <= Dh) */
    float *k_cache;     /* (L, Hk, C, Dh) */
    float *v_cache;     /* (L, Hk, C, Dh) */
    float *x;           /* (chunk, D) residual stream */
    float *xn;          /* (chunk, D) normalised input of a sublayer */
    float *q;           /* (chunk, H*Dh) */
    float *k, *v;       /* (chunk, Hk*Dh) */
    float *z;           /* (chunk, H*Dh) per-head attention output, before W_O */
    float *attn_out;    /* (chunk, D) */
    float *mlp_out;     /* (chunk, D) */
    float *gate, *up;   /* (chunk, F) */
    float *att;         /* (H, C) one row of attention weights per head */
    float *inv_freq;    /* (rot/2) */
    float *rope_cos;    /* (chunk, rot/2) */
    float *rope_sin;    /* (chunk, rot/2) */
    /* Scratch for hook points that exist only when asked for, allocated on first
     * use and grown as needed (hw_context_grow). */
    float *hook_att;    /* (H, T, P) scores, then pattern */
    float *hook_big;    /* (T, H, D) per-head results, or (T, V) logits */
    float *hook_row;    /* (T, H*Dh) one head's z, or (T, D) positions */
    float *hook_out;    /* (T, D) one head's result */
    float *hook_snap;   /* a copy of a hook tensor, to tell whether hooks edited it */
    size_t hook_att_n, hook_big_n, hook_row_n, hook_out_n, hook_snap_n;
};

/* *buf with room for n floats (grown if needed), or NULL with an error set. */
float *hw_context_grow(float **buf, size_t *cap, size_t n);

/* attention_explicit.c: attention with scores and pattern written out. */
void hw_attention_scores(hw_context *c, int l, int pos, int T, int window, float *att);
void hw_attention_softmax(float *att, size_t rows, int P);
void hw_attention_mix(hw_context *c, int l, int pos, int T, const float *pattern);
void hw_attention_results(hw_context *c, const hw_matrix *wo, int T, float *result, float *zh,
                          float *out);

#endif

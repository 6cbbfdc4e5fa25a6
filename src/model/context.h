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
};

#endif

/* context.h: the state of one run (KV cache and scratch), shared by context.c and forward.c. */
#ifndef HW_CONTEXT_H
#define HW_CONTEXT_H

#include "internal.h"

/* Tokens processed per pass of the layer loop; longer inputs go in chunks so
 * scratch stays (CHUNK, ...) whatever the context length. */
#define HW_CHUNK 512

/* How one (layer, KV head) keeps positions (kv_cache.c). Without a ring, row p of its
 * cache holds position p. A ring head's rows are sink positions, then a ring where
 * position p >= sink lives at row sink + (p - sink) % recent, then (with a compensation)
 * one row holding the mean key and value of every position dropped from the ring. */
typedef struct {
    size_t off;     /* its first row in k_cache / v_cache (rows of Dh floats) */
    int cap;        /* rows it holds */
    int sink;       /* positions kept at the front */
    int recent;     /* ring length, the current token counted; 0: no ring */
    int window;     /* a query sees keys within this distance: sliding layers, else INT_MAX */
    int comp;       /* hw_kv_compensation */
    int dropped;    /* positions sink .. sink + dropped - 1 are folded into the compensation */
    int gathered;   /* this chunk reads keys from the gather buffer (kv_cache.c) */
    int n_before;   /* ... of which the first n_before rows come from before the chunk */
} hw_kv_layout;

struct hw_context {
    const hw_model *m;
    int n_ctx;          /* C */
    int pos;            /* tokens in the cache */
    int chunk;          /* rows of scratch: min(C, HW_CHUNK) */
    int rot;            /* rotated dimensions per head (even, <= Dh) */
    hw_kv_policy *policy;   /* NULL: every head full */
    hw_kv_layout *kv;   /* (L, Hk) */
    size_t kv_rows;     /* rows of k_cache and of v_cache: the sum of the heads' cap */
    float *k_cache;     /* (kv_rows, Dh) every head's rows at its kv[].off */
    float *v_cache;     /* (kv_rows, Dh) */
    int gather_cap;     /* rows per KV head of the gather buffers; 0: none */
    float *k_gather;    /* (Hk, gather_cap, Dh) a ring head's keys as one chunk sees them */
    float *v_gather;    /* (Hk, gather_cap, Dh) */
    /* LongHeads (kv_cache.c, "LongHeads"); lh_len == 0: not in use, buffers of 1 float. */
    int lh_w, lh_len;   /* chunk W, tokens a head reads A */
    int lh_chunks;      /* chunks the context can hold: C / W */
    int lh_max;         /* chunks scored by their largest q . k, not a pooled key */
    float *lh_k;        /* (L, Hk, C, Dh) keys rotated within their chunk: R(p mod W) k */
    float *lh_qpend;    /* (L, H, W, Dh) each layer's current chunk's queries, R(p mod W) q */
    float *lh_ckey;     /* (L, H, lh_chunks, Dh) attention-pooled chunk keys */
    float *lh_cos, *lh_sin; /* (A, rot/2) rotary at positions 0 .. A-1 */
    float *q_raw;       /* (chunk, H*Dh) this pass's queries before rotary */
    float *k_raw;       /* (chunk, Hk*Dh) and keys */
    size_t lh_stride;   /* lh_chunks + 2 * W + (W + 1) * Dh */
    float *lh_work;     /* (H, lh_stride) scores and scratch per query head */
    size_t lh_sel_stride; /* lh_chunks + chunk * A / W */
    int *lh_sel;        /* (Hk, lh_sel_stride) candidate chunks, then each row's chosen ones */
    float *x;           /* (chunk, D) residual stream */
    float *xn;          /* (chunk, D) normalised input of a sublayer */
    float *q;           /* (chunk, H*Dh) */
    float *k, *v;       /* (chunk, Hk*Dh) */
    float *z;           /* (chunk, H*Dh) per-head attention output, before W_O */
    float *attn_out;    /* (chunk, D) */
    float *mlp_out;     /* (chunk, D) */
    float *gate, *up;   /* (chunk, F) */
    float *att;         /* (H, C + 1) one row of attention weights per head */
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

/* kv_cache.c: the layouts of a policy; chunk by chunk, what each KV head keeps and sees. */
hw_status hw_kv_plan(hw_context *c, const hw_kv_policy *p);
void hw_kv_reset(hw_context *c);
/* After the buffers exist: the tables the policy needs (LongHeads' rotary). */
hw_status hw_kv_init(hw_context *c);
/* Before layer l's attention over a chunk of T rows at pos (keys in c->k, c->v): store
 * them (or gather what each ring head sees); after it, finish storing. */
void hw_kv_begin(hw_context *c, int l, int pos, int T);
void hw_kv_end(hw_context *c, int l, int pos, int T);
/* The fused attention of query head h over its KV head, rows of the chunk into c->z. */
void hw_kv_attend(hw_context *c, int l, int h, int pos, int T);
/* For the explicit path: the key (and *v the value) that a query at qpos sees at key
 * position k, or NULL if it sees none there. A dropped position a compensation row stands
 * for reads that row: every dropped position for the weighted form (N_d equal scores are
 * its N_d weight), the first one only for the mean form (one ordinary entry). */
const float *hw_kv_key(const hw_context *c, int l, int hk, int pos, int qpos, int k,
                       const float **v);

/* attention_explicit.c: attention with scores and pattern written out. */
void hw_attention_scores(hw_context *c, int l, int pos, int T, float *att);
void hw_attention_softmax(float *att, size_t rows, int P);
void hw_attention_mix(hw_context *c, int l, int pos, int T, const float *pattern);
void hw_attention_results(hw_context *c, const hw_matrix *wo, int T, float *result, float *zh,
                          float *out);

#endif

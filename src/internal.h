/*
 * internal.h: types shared by the library's source files, not part of the API.
 * Dimension letters are defined in include/headwise.h.
 */
#ifndef HW_INTERNAL_H
#define HW_INTERNAL_H

#include "headwise.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---------------------------------------------------------------- errors */

/* Record a printf-style message for hw_last_error() and return s. */
hw_status hw_fail(hw_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* core/rng.c: splitmix64, the library's one seeded stream (task data, probes' random
 * blocks, random head sets). */
typedef struct { uint64_t s; } hw_rng;
uint64_t hw_rng_next(hw_rng *r);
/* Uniform in [0, n), n > 0. */
int hw_rng_int(hw_rng *r, int n);
/* Uniform in [0, 1). */
double hw_rng_unit(hw_rng *r);
/* A stream seed from a few numbers (each mixed in). */
uint64_t hw_seed_mix(uint64_t a, uint64_t b, uint64_t c);

/* Whether n bytes are strict UTF-8 (no overlong forms, surrogates or code
 * points above U+10FFFF); *bad (may be NULL) gets the offset of the first
 * invalid byte, or n. */
bool hw_utf8_valid(const char *s, size_t n, size_t *bad);

/* ---------------------------------------------------------------- files */

/* A read-only memory map of a whole file. */
typedef struct {
    const uint8_t *data;
    size_t size;
} hw_mapped_file;

hw_status hw_file_map(hw_mapped_file *f, const char *path);
void hw_file_unmap(hw_mapped_file *f);

/* ---------------------------------------------------------------- tensors */

/* Storage types of weight matrices. HW_Q8_0 is llama2.c's int8 export (values and
 * scales in separate arrays); the others are kept as their file stores them, read in
 * place from the map: 2-byte floats, and ggml's blocks (quant_kernels.c), each row of
 * cols values being cols / block whole blocks. */
typedef enum {
    HW_F32, HW_Q8_0,
    HW_F16, HW_BF16,
    HW_GQ4_0, HW_GQ4_1, HW_GQ5_0, HW_GQ5_1, HW_GQ8_0, /* blocks of 32 values */
    HW_GQ4_K, HW_GQ5_K, HW_GQ6_K,                     /* super-blocks of 256 */
    HW_N_DTYPES
} hw_dtype;

/* A weight matrix (rows, cols), row-major, used as y = W x.
 * Q8_0: int8 values q (rows*cols) and one float scale per `group` values.
 * F16, BF16 and the GQ block types: raw, rows of hw_dtype_row_bytes(dtype, cols). */
typedef struct {
    hw_dtype dtype;
    int rows, cols;
    const float *f32;       /* HW_F32 */
    const int8_t *q;        /* HW_Q8_0 */
    const float *scale;     /* HW_Q8_0: (rows*cols/group) */
    int group;
    const uint8_t *raw;     /* HW_F16, HW_BF16, HW_GQ* */
} hw_matrix;

/* IEEE half to float, including subnormals, infinities and NaN (quant_kernels.c). */
float hw_f16_to_f32(uint16_t h);

/* quant_kernels.c: the stored types. Values per block (1 for F32/F16/BF16) and bytes
 * per block; bytes of a row of cols values (cols a multiple of the block); a name. */
int hw_dtype_block(hw_dtype t);
int hw_dtype_block_bytes(hw_dtype t);
size_t hw_dtype_row_bytes(hw_dtype t, int cols);
const char *hw_dtype_name(hw_dtype t);
/* Bytes of the whole matrix as stored (what one product reads). */
size_t hw_matrix_bytes(const hw_matrix *w);
/* Decode n consecutive blocks of type t (a GQ type, F16 or BF16) at src into f32 at
 * out (n * hw_dtype_block(t) values): exact conversions, and each block's products
 * and sums in ggml's order, the same bits at every SIMD level. */
void hw_dequant(hw_dtype t, const uint8_t *src, int64_t n, float *out);
/* out (n, cols) = rows r0 .. r0+n-1 of w as f32, whatever its dtype. */
void hw_matrix_rows_f32(const hw_matrix *w, int r0, int n, float *out);
/* Rows [r0, r0 + n) of m as a matrix of their own, sharing m's storage. */
hw_matrix hw_matrix_row_view(const hw_matrix *m, int r0, int n);
/* Entry (r, c) of w as f32 (decodes the block holding it). */
float hw_matrix_value(const hw_matrix *w, int r, int c);
/* y (T, rows) = x (T, cols) W^T for a 2-byte or block dtype (no bias): rows decoded to
 * f32 in cache-sized pieces, then the f32 kernels (matvec at T == 1, fixed blocks of
 * sgemm otherwise), so the result is the decoded matrix's f32 product and does not
 * depend on the thread count. */
void hw_matmul_stored(float *y, const float *x, const hw_matrix *w, int T);

/* Per-layer weights. Shapes use the letters of headwise.h; NULL when absent. */
typedef struct {
    const float *attn_norm;     /* (D) */
    const float *attn_norm_b;   /* (D) LayerNorm bias */
    hw_matrix wq;               /* (H*Dh, D) */
    hw_matrix wk;               /* (Hk*Dh, D) */
    hw_matrix wv;               /* (Hk*Dh, D) */
    hw_matrix wo;               /* (D, H*Dh) */
    const float *bq, *bk, *bv;  /* (H*Dh), (Hk*Dh), (Hk*Dh) */
    const float *bo;            /* (D) */
    const float *mlp_norm;      /* (D) */
    const float *mlp_norm_b;    /* (D) */
    hw_matrix w_gate;           /* (F, D) SiLU-gated MLP only (w1) */
    hw_matrix w_up;             /* (F, D) (w3, or GELU MLP's first layer) */
    hw_matrix w_down;           /* (D, F) (w2) */
    const float *b_up, *b_gate; /* (F) */
    const float *b_down;        /* (D) */
} hw_layer_weights;

typedef struct {
    const float *tok_embed;     /* (V, D) f32, or NULL when `embed` is stored otherwise */
    hw_matrix embed;            /* (V, D) as stored (GGUF loads; else unset: tok_embed) */
    const float *pos_embed;     /* (n_ctx, D) learned positions, or NULL */
    hw_layer_weights *layers;   /* (L) */
    const float *final_norm;    /* (D) */
    const float *final_norm_b;  /* (D) */
    hw_matrix classifier;       /* (V, D) */
} hw_weights;

/* out (D) = token tok's embedding row, whatever its storage. */
void hw_embed_row(const hw_weights *w, int tok, int D, float *out);

/* The memory weights point into: file maps and malloc'd buffers, released together
 * (src/io/store.c). A loader fills one and the model takes it over, so a loader never
 * needs the model and the model never needs to know a format. */
typedef struct {
    hw_mapped_file *maps;       /* (n_maps) */
    int n_maps;
    void **bufs;                /* (n_bufs) */
    int n_bufs;
} hw_store;

/* A malloc'd buffer of `bytes` released with the store; NULL when out of memory. */
void *hw_store_alloc(hw_store *s, size_t bytes);
/* Take over map f (unmapped with the store); on failure f is unmapped at once. */
hw_status hw_store_keep_map(hw_store *s, hw_mapped_file f);
/* Unmap and free everything, leaving an empty store; safe on an empty one. */
void hw_store_free(hw_store *s);

struct hw_model {
    hw_config cfg;
    hw_weights w;
    hw_model_info info;
    hw_store store;             /* what w points into, freed with the model */
};

/* Track a malloc'd buffer so hw_model_free releases it; NULL on failure. */
void *hw_model_alloc(hw_model *m, size_t bytes);

/* ---------------------------------------------------------------- rotary */

/* inv_freq (rot/2): rotary frequencies of cfg (theta, linear / dynamic NTK / Llama-3
 * scaling) for a sequence that has grown to `end` tokens (rope.c). */
void hw_rope_inv_freq(float *inv_freq, const hw_config *cfg, int rot, int end);

/* ---------------------------------------------------------------- kernels */

/* y (T, rows) = x (T, cols) @ W^T (+ bias). T == 1 uses matrix-vector code. */
void hw_matmul(float *y, const float *x, const hw_matrix *w, const float *bias, int T);
/* fn(arg, begin, end) over [0, n) in chunks, shared by the caller and the pool's
 * threads (pool.c); returns when all are done. For the decode path's row loops. */
typedef void (*hw_range_fn)(void *arg, int begin, int end);
void hw_parallel_range(hw_range_fn fn, void *arg, int n, int chunk);
/* Put OpenBLAS back on one thread if anything changed it (threads.c); called before
 * products, which the pool shares out. */
void hw_blas_one_thread(void);
/* SIMD levels of simd.c's kernels, chosen at run time: the best the CPU has. */
enum { HW_SIMD_C = 0, HW_SIMD_AVX2 = 1, HW_SIMD_AVX512 = 2 };
/* Tests only: make the kernels use `level` (HW_SIMD_*), capped at what the CPU has; a
 * negative level restores the default. Returns the level now in effect. Call it only
 * while no kernel runs (it is one global switch). */
int hw_simd_force(int level);
/* y (R) = W (R, K) x (K), rows split between threads; SIMD chosen at run time (simd.c). */
void hw_matvec(float *y, const float *w, const float *x, int R, int K);
/* The same rows' products in the calling thread only (no pool): for kernels that
 * decode weights into a buffer first; row r's bits equal hw_matvec's. */
void hw_matvec_serial(float *y, const float *w, const float *x, int R, int K);
/* The SIMD level now in effect (HW_SIMD_*). */
int hw_simd_level(void);
/* Causal attention of R consecutive query rows of one head (simd.c). Row i (q + i*qs,
 * Dh floats) sees keys [max(0, end + i - window), end + i) of K and V (rows of Dh floats)
 * and writes softmax(scale * q K^T) V to z + i*zs. att (end + R - 1 floats) is scratch. */
void hw_attend_rows(float *z, int zs, const float *q, int qs, const float *K, const float *V,
                    int R, int end, int window, int Dh, float scale, float *att);
/* out (T, n) = RMSNorm over each row of x (T, n) times weight. */
void hw_rmsnorm(float *out, const float *x, const float *weight, int T, int n, float eps);
/* out (T, n) = LayerNorm over each row of x (T, n) times weight plus bias (may be NULL). */
void hw_layernorm(float *out, const float *x, const float *weight, const float *bias, int T,
                  int n, float eps);
/* In place softmax over x (n). */
void hw_softmax(float *x, int n);
/* Dot product with a fixed summation order (independent of thread count). */
float hw_dot(const float *a, const float *b, int n);
/* y += a * x */
void hw_axpy(float *y, float a, const float *x, int n);
/* The MLP activation over n values (simd.c), threads sharing long runs: up[i] *=
 * silu(gate[i]) for HW_ACT_SILU_GATED, else up[i] = gelu(up[i]) (gate unused). Each
 * value is computed alone, so results do not depend on the thread count. */
void hw_activate(float *up, const float *gate, size_t n, hw_activation act);
/* Scalar forms (ops.c): the plain C path of hw_activate, and references for tests. */
float hw_silu(float x);
float hw_gelu_tanh(float x);  /* GPT-2's gelu_new */
float hw_gelu_exact(float x); /* erf form */

#endif /* HW_INTERNAL_H */

/*
 * quant_kernels.c: weight matrices kept in their stored type (F16, BF16 and ggml's
 * block formats), decoded to f32 as products read them.
 *
 * A product decodes a few rows at a time into a buffer that stays in the L1/L2 cache
 * and runs the f32 kernels on it (simd.c's matrix-vector product at decode, sgemm on
 * fixed blocks of rows in prefill). Memory traffic is the stored bytes (2 bytes a value
 * for F16, 1.06 for Q8_0, 0.56 for Q4_K), the arithmetic the f32 kernels' own. Decoding
 * is exact for F16 and BF16 and, for the blocks, performs ggml's products and sums in
 * ggml's order (each its own statement: ISO C mode does not fuse them), so every SIMD
 * level decodes the same bits and a product equals the f32 product of the decoded
 * matrix computed by the same kernel; rows go whole to one thread and prefill blocks
 * are fixed by the shape alone, so results do not depend on the thread count.
 *
 * Block layouts (ggml-quants.c; little-endian, f16 scales):
 *   Q4_0 (32 values, 18 bytes): d, qs[16]            y = d (q - 8)
 *   Q4_1 (32, 20): d, m, qs[16]                      y = d q + m
 *   Q5_0 (32, 22): d, qh[4], qs[16]                  y = d (q - 16), q 5 bits
 *   Q5_1 (32, 24): d, m, qh[4], qs[16]               y = d q + m
 *   Q8_0 (32, 34): d, qs[32] int8                    y = d q
 *   Q4_K (256, 144): d, dmin, scales[12], qs[128]    y = d sc q - dmin m (8 sub-blocks)
 *   Q5_K (256, 176): d, dmin, scales[12], qh[32], qs[128]
 *   Q6_K (256, 210): ql[128], qh[64], scales[16] int8, d    y = d sc (q - 32)
 */
#include "internal.h"
#include "simd_inline.h"

#include <cblas.h>
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- scalar decoders */

float hw_f16_to_f32(uint16_t h16) {
    uint32_t h = h16;
    uint32_t sign = (h >> 15) << 31, exp = (h >> 10) & 31, man = h & 1023, bits;
    if (exp == 31) bits = sign | 0x7f800000u | man << 13;
    else if (exp) bits = sign | (exp + 112) << 23 | man << 13;
    else if (!man) bits = sign;
    else { /* subnormal: shift the mantissa up until its leading 1 is implicit */
        exp = 113;
        while (!(man & 1024)) man <<= 1, exp--;
        bits = sign | exp << 23 | (man & 1023) << 13;
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static float f16(const uint8_t *p) { return hw_f16_to_f32((uint16_t)(p[0] | p[1] << 8)); }

static float bf16(const uint8_t *p) {
    uint32_t bits = ((uint32_t)p[0] | (uint32_t)p[1] << 8) << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static void dec_f16(const uint8_t *b, float *y) { *y = f16(b); }
static void dec_bf16(const uint8_t *b, float *y) { *y = bf16(b); }

/* y = d * q, or (with a min) d * q + m, as separate operations. */
static float scaled(float d, int q) { return d * (float)q; }
static float affine(float d, int q, float m) {
    float p = d * (float)q;
    return p + m;
}

static void dec_q4_0(const uint8_t *b, float *y) {
    float d = f16(b);
    for (int j = 0; j < 16; j++) {
        y[j] = scaled(d, (b[2 + j] & 0x0F) - 8);
        y[j + 16] = scaled(d, (b[2 + j] >> 4) - 8);
    }
}

static void dec_q4_1(const uint8_t *b, float *y) {
    float d = f16(b), m = f16(b + 2);
    for (int j = 0; j < 16; j++) {
        y[j] = affine(d, b[4 + j] & 0x0F, m);
        y[j + 16] = affine(d, b[4 + j] >> 4, m);
    }
}

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void dec_q5_0(const uint8_t *b, float *y) {
    float d = f16(b);
    uint32_t qh = le32(b + 2);
    for (int j = 0; j < 16; j++) {
        int h0 = (int)((qh >> j) << 4 & 0x10), h1 = (int)(qh >> (j + 12) & 0x10);
        y[j] = scaled(d, ((b[6 + j] & 0x0F) | h0) - 16);
        y[j + 16] = scaled(d, ((b[6 + j] >> 4) | h1) - 16);
    }
}

static void dec_q5_1(const uint8_t *b, float *y) {
    float d = f16(b), m = f16(b + 2);
    uint32_t qh = le32(b + 4);
    for (int j = 0; j < 16; j++) {
        int h0 = (int)((qh >> j) << 4 & 0x10), h1 = (int)(qh >> (j + 12) & 0x10);
        y[j] = affine(d, (b[8 + j] & 0x0F) | h0, m);
        y[j + 16] = affine(d, (b[8 + j] >> 4) | h1, m);
    }
}

static void dec_q8_0(const uint8_t *b, float *y) {
    float d = f16(b);
    for (int j = 0; j < 32; j++) y[j] = scaled(d, (int8_t)b[2 + j]);
}

/* The 6-bit scale and min of sub-block j of a K-quant's 12 packed bytes. */
static void scale_min_k4(int j, const uint8_t *q, int *d, int *m) {
    if (j < 4) {
        *d = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *d = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* Q4_K and Q5_K: y = (d*sc) * q - (dmin*m), sub-blocks of 32. */
static void k4_k5(const uint8_t *b, float *y, bool five) {
    float d = f16(b), dmin = f16(b + 2);
    const uint8_t *sc = b + 4, *qh = b + 16, *q = five ? b + 48 : b + 16;
    for (int j = 0, is = 0; j < 256; j += 64, is += 2, q += 32) {
        int s1, m1, s2, m2;
        scale_min_k4(is, sc, &s1, &m1);
        scale_min_k4(is + 1, sc, &s2, &m2);
        float d1 = d * (float)s1, n1 = dmin * (float)m1, d2 = d * (float)s2, n2 = dmin * (float)m2;
        int u1 = 1 << (j / 32), u2 = 2 << (j / 32);
        for (int l = 0; l < 32; l++) {
            int lo = (q[l] & 0xF) + (five && (qh[l] & u1) ? 16 : 0);
            int hi = (q[l] >> 4) + (five && (qh[l] & u2) ? 16 : 0);
            float p = d1 * (float)lo, r = d2 * (float)hi;
            y[j + l] = p - n1;
            y[j + 32 + l] = r - n2;
        }
    }
}

static void dec_q4_k(const uint8_t *b, float *y) { k4_k5(b, y, false); }
static void dec_q5_k(const uint8_t *b, float *y) { k4_k5(b, y, true); }

static void dec_q6_k(const uint8_t *b, float *y) {
    const uint8_t *ql = b, *qh = b + 128;
    const int8_t *sc = (const int8_t *)(b + 192);
    float d = f16(b + 208);
    for (int n = 0; n < 256; n += 128, ql += 64, qh += 32, sc += 8) {
        for (int l = 0; l < 32; l++) {
            int is = l / 16;
            int q1 = ((ql[l] & 0xF) | ((qh[l] >> 0 & 3) << 4)) - 32;
            int q2 = ((ql[l + 32] & 0xF) | ((qh[l] >> 2 & 3) << 4)) - 32;
            int q3 = ((ql[l] >> 4) | ((qh[l] >> 4 & 3) << 4)) - 32;
            int q4 = ((ql[l + 32] >> 4) | ((qh[l] >> 6 & 3) << 4)) - 32;
            y[n + l] = scaled(d * (float)sc[is], q1);
            y[n + l + 32] = scaled(d * (float)sc[is + 2], q2);
            y[n + l + 64] = scaled(d * (float)sc[is + 4], q3);
            y[n + l + 96] = scaled(d * (float)sc[is + 6], q4);
        }
    }
}

typedef void (*block_fn)(const uint8_t *, float *);

static const struct {
    const char *name;
    int block, bytes;
    block_fn fn;
} types[HW_N_DTYPES] = {
    [HW_F32] = {"F32", 1, 4, NULL},         [HW_Q8_0] = {"Q8_0 (llama2.c)", 1, 1, NULL},
    [HW_F16] = {"F16", 1, 2, dec_f16},      [HW_BF16] = {"BF16", 1, 2, dec_bf16},
    [HW_GQ4_0] = {"Q4_0", 32, 18, dec_q4_0}, [HW_GQ4_1] = {"Q4_1", 32, 20, dec_q4_1},
    [HW_GQ5_0] = {"Q5_0", 32, 22, dec_q5_0}, [HW_GQ5_1] = {"Q5_1", 32, 24, dec_q5_1},
    [HW_GQ8_0] = {"Q8_0", 32, 34, dec_q8_0}, [HW_GQ4_K] = {"Q4_K", 256, 144, dec_q4_k},
    [HW_GQ5_K] = {"Q5_K", 256, 176, dec_q5_k}, [HW_GQ6_K] = {"Q6_K", 256, 210, dec_q6_k},
};

int hw_dtype_block(hw_dtype t) { return (unsigned)t < HW_N_DTYPES ? types[t].block : 0; }
int hw_dtype_block_bytes(hw_dtype t) { return (unsigned)t < HW_N_DTYPES ? types[t].bytes : 0; }
const char *hw_dtype_name(hw_dtype t) { return (unsigned)t < HW_N_DTYPES ? types[t].name : "?"; }

size_t hw_dtype_row_bytes(hw_dtype t, int cols) {
    if (t == HW_Q8_0) return (size_t)cols; /* plus its scales, kept apart */
    return (size_t)(cols / types[t].block) * (size_t)types[t].bytes;
}

size_t hw_matrix_bytes(const hw_matrix *w) {
    size_t b = hw_dtype_row_bytes(w->dtype, w->cols) * (size_t)w->rows;
    if (w->dtype == HW_Q8_0) b += (size_t)w->rows * w->cols / w->group * sizeof(float);
    return b;
}

/* ---------------------------------------------------------------- SIMD decoders */

/* n values of F16, BF16 or n / 32 blocks of Q8_0: the conversions are exact and Q8_0's
 * d * q is one rounding (exact, in fact: 11 + 8 bits), so these equal the scalar
 * decoders bit for bit. */
__attribute__((target("avx512f"))) static int64_t dec2_avx512(hw_dtype t, const uint8_t *s,
                                                            int64_t n, float *y) {
    int64_t i = 0;
    if (t == HW_F16)
        for (; i + 16 <= n; i += 16)
            _mm512_storeu_ps(y + i, _mm512_cvtph_ps(_mm256_loadu_si256((const void *)(s + 2 * i))));
    else
        for (; i + 16 <= n; i += 16) {
            __m512i v = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const void *)(s + 2 * i)));
            _mm512_storeu_ps(y + i, _mm512_castsi512_ps(_mm512_slli_epi32(v, 16)));
        }
    return i;
}

__attribute__((target("avx512f"))) static void q8_avx512(const uint8_t *b, int64_t n, float *y) {
    for (int64_t i = 0; i < n; i++, b += 34, y += 32) {
        __m512 d = _mm512_set1_ps(f16(b));
        __m512 lo = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const void *)(b + 2))));
        __m512 hi = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const void *)(b + 18))));
        _mm512_storeu_ps(y, _mm512_mul_ps(d, lo));
        _mm512_storeu_ps(y + 16, _mm512_mul_ps(d, hi));
    }
}

__attribute__((target("avx2,fma,f16c"))) static int64_t dec2_avx2(hw_dtype t, const uint8_t *s,
                                                                 int64_t n, float *y) {
    int64_t i = 0;
    if (t == HW_F16)
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const void *)(s + 2 * i))));
    else
        for (; i + 8 <= n; i += 8) {
            __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const void *)(s + 2 * i)));
            _mm256_storeu_ps(y + i, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
        }
    return i;
}

__attribute__((target("avx2,fma"))) static void q8_avx2(const uint8_t *b, int64_t n, float *y) {
    for (int64_t i = 0; i < n; i++, b += 34, y += 32) {
        __m256 d = _mm256_set1_ps(f16(b));
        for (int k = 0; k < 32; k += 8) {
            __m128i q = _mm_loadl_epi64((const void *)(b + 2 + k));
            _mm256_storeu_ps(y + k, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q))));
        }
    }
}

void hw_dequant(hw_dtype t, const uint8_t *src, int64_t n, float *out) {
    if ((unsigned)t >= HW_N_DTYPES || !types[t].fn) return;
    const int level = hw_simd_level();
    int64_t done = 0;
    if (t == HW_F16 || t == HW_BF16) {
        done = level == HW_SIMD_AVX512 ? dec2_avx512(t, src, n, out)
               : level == HW_SIMD_AVX2 ? dec2_avx2(t, src, n, out)
                                       : 0;
    } else if (t == HW_GQ8_0 && level != HW_SIMD_C) {
        (level == HW_SIMD_AVX512 ? q8_avx512 : q8_avx2)(src, n, out);
        done = n;
    }
    const int blk = types[t].block, bytes = types[t].bytes;
    for (int64_t i = done; i < n; i++) types[t].fn(src + (size_t)i * bytes, out + i * blk);
}

/* ---------------------------------------------------------------- matrix access */

void hw_matrix_rows_f32(const hw_matrix *w, int r0, int n, float *out) {
    const size_t K = (size_t)w->cols;
    if (w->dtype == HW_F32) {
        memcpy(out, w->f32 + (size_t)r0 * K, (size_t)n * K * sizeof(float));
    } else if (w->dtype == HW_Q8_0) {
        for (size_t i = 0; i < (size_t)n * K; i++) {
            size_t k = (size_t)r0 * K + i;
            out[i] = w->q[k] * w->scale[k / (size_t)w->group];
        }
    } else {
        hw_dequant(w->dtype, w->raw + (size_t)r0 * hw_dtype_row_bytes(w->dtype, w->cols),
                   (int64_t)n * w->cols / types[w->dtype].block, out);
    }
}

hw_matrix hw_matrix_row_view(const hw_matrix *m, int r0, int n) {
    hw_matrix v = *m;
    v.rows = n;
    if (m->dtype == HW_F32) v.f32 = m->f32 + (size_t)r0 * m->cols;
    else if (m->dtype == HW_Q8_0) {
        v.q = m->q + (size_t)r0 * m->cols;
        v.scale = m->scale + (size_t)r0 * m->cols / m->group;
    } else v.raw = m->raw + (size_t)r0 * hw_dtype_row_bytes(m->dtype, m->cols);
    return v;
}

float hw_matrix_value(const hw_matrix *w, int r, int c) {
    size_t i = (size_t)r * w->cols + c;
    if (w->dtype == HW_F32) return w->f32[i];
    if (w->dtype == HW_Q8_0) return w->q[i] * w->scale[i / (size_t)w->group];
    const int blk = types[w->dtype].block;
    float y[256];
    types[w->dtype].fn(w->raw + (size_t)r * hw_dtype_row_bytes(w->dtype, w->cols) +
                           (size_t)(c / blk) * types[w->dtype].bytes, y);
    return y[c % blk];
}

void hw_embed_row(const hw_weights *w, int tok, int D, float *out) {
    if (w->tok_embed) memcpy(out, w->tok_embed + (size_t)tok * D, (size_t)D * sizeof(float));
    else hw_matrix_rows_f32(&w->embed, tok, 1, out);
}

/* ---------------------------------------------------------------- fused products */

/*
 * Matrix-vector products that decode 16 values at a time into a register and multiply
 * them in at once: lane l of a row's accumulator takes k = l, l+16, ... in k order, one
 * fused multiply-add each, then simd.c's lane tree (simd_inline.h). That is exactly what
 * simd.c's f32 kernel does with the decoded row, and each decoded value is the scalar
 * decoder's (the same products and differences), so a row's result is bit for bit the
 * f32 kernel's on the decoded matrix, without writing the row anywhere.
 */

/* An f16 scale by the F16C instruction (exact, as f16() is). */
__attribute__((target("f16c"), always_inline)) static inline float f16_hw(const uint8_t *p) {
    return _cvtsh_ss((unsigned short)(p[0] | p[1] << 8));
}

/* Sub-block j's scale and min of a Q4_K super-block, as the scalar decoder forms them. */
__attribute__((target("f16c"), always_inline)) static inline void k4_scales(const uint8_t *b, int j, float *dd,
                                                                            float *dm) {
    int s, m;
    scale_min_k4(j, b + 4, &s, &m);
    *dd = f16_hw(b) * (float)s, *dm = f16_hw(b + 2) * (float)m;
}

/* Values k .. k+15 of a row (k a multiple of 16, within the row) of type t. */
__attribute__((target("avx512f,f16c"), always_inline)) static inline __m512 ld16_avx512(hw_dtype t, const uint8_t *row,
                                                                                   int k) {
    if (t == HW_F16) return _mm512_cvtph_ps(_mm256_loadu_si256((const void *)(row + 2 * (size_t)k)));
    if (t == HW_BF16)
        return _mm512_castsi512_ps(_mm512_slli_epi32(
            _mm512_cvtepu16_epi32(_mm256_loadu_si256((const void *)(row + 2 * (size_t)k))), 16));
    if (t == HW_GQ8_0) {
        const uint8_t *b = row + (size_t)(k / 32) * 34;
        __m512 q = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const void *)(b + 2 + k % 32))));
        return _mm512_mul_ps(_mm512_set1_ps(f16_hw(b)), q);
    }
    if (t == HW_GQ4_0) { /* low nibbles are values 0..15, high ones 16..31 */
        const uint8_t *b = row + (size_t)(k / 32) * 18;
        __m512i q = _mm512_cvtepu8_epi32(_mm_loadu_si128((const void *)(b + 2)));
        q = k % 32 ? _mm512_srli_epi32(q, 4) : _mm512_and_si512(q, _mm512_set1_epi32(15));
        q = _mm512_sub_epi32(q, _mm512_set1_epi32(8));
        return _mm512_mul_ps(_mm512_set1_ps(f16_hw(b)), _mm512_cvtepi32_ps(q));
    }
    if (t == HW_GQ4_K) { /* 64-value chunk c: bytes qs[32c .. 32c+32), low nibbles then high */
        const uint8_t *b = row + (size_t)(k / 256) * 144;
        const int v = k % 256, c = v / 64, hi = v % 64 >= 32, j = 2 * c + hi;
        float dd, dm;
        k4_scales(b, j, &dd, &dm);
        __m512i q = _mm512_cvtepu8_epi32(_mm_loadu_si128((const void *)(b + 16 + 32 * c + v % 32)));
        q = hi ? _mm512_srli_epi32(q, 4) : _mm512_and_si512(q, _mm512_set1_epi32(15));
        return _mm512_sub_ps(_mm512_mul_ps(_mm512_set1_ps(dd), _mm512_cvtepi32_ps(q)), _mm512_set1_ps(dm));
    }
    /* Q6_K: half n of the super-block, value l + 32 p of it (p = 0..3) */
    const uint8_t *b = row + (size_t)(k / 256) * 210;
    const int v = k % 256, n = v / 128, p = v % 128 / 32, l = v % 32;
    const uint8_t *ql = b + 64 * n + (p & 1) * 32 + l, *qh = b + 128 + 32 * n + l;
    __m512i lo = _mm512_cvtepu8_epi32(_mm_loadu_si128((const void *)ql));
    lo = p >= 2 ? _mm512_srli_epi32(lo, 4) : _mm512_and_si512(lo, _mm512_set1_epi32(15));
    __m512i h = _mm512_and_si512(_mm512_srli_epi32(_mm512_cvtepu8_epi32(_mm_loadu_si128((const void *)qh)), 2 * p),
                                 _mm512_set1_epi32(3));
    __m512i q = _mm512_sub_epi32(_mm512_or_si512(lo, _mm512_slli_epi32(h, 4)), _mm512_set1_epi32(32));
    const float ds = f16_hw(b + 208) * (float)((const int8_t *)(b + 192))[8 * n + l / 16 + 2 * p];
    return _mm512_mul_ps(_mm512_set1_ps(ds), _mm512_cvtepi32_ps(q));
}

/* A Q4_K super-block's 8 sub-block scales and mins, as the scalar decoder forms them. */
__attribute__((target("f16c"), always_inline)) static inline void q4k_scales(const uint8_t *b, float *dd, float *dm) {
    const float d = f16_hw(b), dmin = f16_hw(b + 2);
    for (int j = 0; j < 8; j++) {
        int s, m;
        scale_min_k4(j, b + 4, &s, &m);
        dd[j] = d * (float)s, dm[j] = dmin * (float)m;
    }
}

/* Q4_K's 64 values of chunk c of super-block b as 4 registers (ld16's values): one
 * 32-byte load, low nibbles then high ones, the scales computed once per super-block. */
__attribute__((target("avx512f,f16c"), always_inline)) static inline void q4k_chunk(const uint8_t *b, int c,
                                                                                    const float *dd, const float *dm,
                                                                                    __m512 v[4]) {
    const __m512i A = _mm512_cvtepu8_epi32(_mm_loadu_si128((const void *)(b + 16 + 32 * c)));
    const __m512i B = _mm512_cvtepu8_epi32(_mm_loadu_si128((const void *)(b + 32 + 32 * c)));
    const __m512i lo = _mm512_set1_epi32(15);
    const __m512 D1 = _mm512_set1_ps(dd[2 * c]), M1 = _mm512_set1_ps(dm[2 * c]);
    const __m512 D2 = _mm512_set1_ps(dd[2 * c + 1]), M2 = _mm512_set1_ps(dm[2 * c + 1]);
    v[0] = _mm512_sub_ps(_mm512_mul_ps(D1, _mm512_cvtepi32_ps(_mm512_and_si512(A, lo))), M1);
    v[1] = _mm512_sub_ps(_mm512_mul_ps(D1, _mm512_cvtepi32_ps(_mm512_and_si512(B, lo))), M1);
    v[2] = _mm512_sub_ps(_mm512_mul_ps(D2, _mm512_cvtepi32_ps(_mm512_srli_epi32(A, 4))), M2);
    v[3] = _mm512_sub_ps(_mm512_mul_ps(D2, _mm512_cvtepi32_ps(_mm512_srli_epi32(B, 4))), M2);
}

/* Rows r0..r1-1 of y = W x, two rows at a time sharing each load of x. */
__attribute__((target("avx512f,f16c"), always_inline)) static inline void rows_avx512(hw_dtype t, float *y, const uint8_t *w,
                                                                                 const float *x, int r0, int r1, int K) {
    const size_t rb = hw_dtype_row_bytes(t, K);
    const int kv = K & ~15;
    float xt[16] = {0}; /* the tail of x (F16, BF16 only), zero padded, as simd.c's masked loads */
    for (int k = kv; k < K; k++) xt[k - kv] = x[k];
    for (int r = r0; r < r1; r += 2) {
        const int two = r + 1 < r1;
        const uint8_t *w0 = w + (size_t)r * rb, *w1 = two ? w0 + rb : w0;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0;
        for (int k = 0; t == HW_GQ4_K && k < K; k += 256) {
            const uint8_t *b0 = w0 + (size_t)(k / 256) * 144, *b1 = w1 + (size_t)(k / 256) * 144;
            float d0[8], m0[8], d1[8], m1[8];
            q4k_scales(b0, d0, m0);
            q4k_scales(b1, d1, m1);
            for (int c = 0; c < 4; c++) {
                __m512 v0[4], v1[4];
                q4k_chunk(b0, c, d0, m0, v0);
                q4k_chunk(b1, c, d1, m1, v1);
                for (int i = 0; i < 4; i++) {
                    __m512 xv = _mm512_loadu_ps(x + k + 64 * c + 16 * i);
                    a0 = _mm512_fmadd_ps(v0[i], xv, a0);
                    a1 = _mm512_fmadd_ps(v1[i], xv, a1);
                }
            }
        }
        for (int k = 0; t != HW_GQ4_K && k < kv; k += 16) {
            __m512 xv = _mm512_loadu_ps(x + k);
            a0 = _mm512_fmadd_ps(ld16_avx512(t, w0, k), xv, a0);
            a1 = _mm512_fmadd_ps(ld16_avx512(t, w1, k), xv, a1);
        }
        if (kv < K) {
            float t0[16] = {0}, t1[16] = {0};
            for (int k = kv; k < K; k++) types[t].fn(w0 + 2 * (size_t)k, t0 + k - kv), types[t].fn(w1 + 2 * (size_t)k, t1 + k - kv);
            __m512 xv = _mm512_loadu_ps(xt);
            a0 = _mm512_fmadd_ps(_mm512_loadu_ps(t0), xv, a0);
            a1 = _mm512_fmadd_ps(_mm512_loadu_ps(t1), xv, a1);
        }
        y[r] = hsum16_avx512(a0);
        if (two) y[r + 1] = hsum16_avx512(a1);
    }
}

#define FUSED_512(name, T)                                                                                   \
    __attribute__((target("avx512f,f16c"))) static void name(float *y, const uint8_t *w, const float *x, int r0, \
                                                        int r1, int K) {                                     \
        rows_avx512(T, y, w, x, r0, r1, K);                                                                  \
    }
FUSED_512(f16_avx512, HW_F16)
FUSED_512(bf16_avx512, HW_BF16)
FUSED_512(gq8_avx512, HW_GQ8_0)
FUSED_512(gq4_avx512, HW_GQ4_0)
FUSED_512(gq4k_avx512, HW_GQ4_K)
FUSED_512(gq6k_avx512, HW_GQ6_K)

/* AVX2: the same values as two 8-lane halves (simd.c's matvec_avx2 layout). */
__attribute__((target("avx2,fma,f16c"), always_inline)) static inline __m256 ld8_avx2(hw_dtype t, const uint8_t *row,
                                                                                      int k) {
    if (t == HW_F16) return _mm256_cvtph_ps(_mm_loadu_si128((const void *)(row + 2 * (size_t)k)));
    if (t == HW_BF16)
        return _mm256_castsi256_ps(
            _mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const void *)(row + 2 * (size_t)k))), 16));
    const uint8_t *b = row + (size_t)(k / 32) * 34; /* Q8_0 */
    __m256 q = _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const void *)(b + 2 + k % 32))));
    return _mm256_mul_ps(_mm256_set1_ps(f16_hw(b)), q);
}

__attribute__((target("avx2,fma,f16c"), always_inline)) static inline void rows_avx2(hw_dtype t, float *y, const uint8_t *w,
                                                                                     const float *x, int r0, int r1,
                                                                                     int K) {
    const size_t rb = hw_dtype_row_bytes(t, K);
    const int kv = K & ~15;
    float xt[16] = {0};
    for (int k = kv; k < K; k++) xt[k - kv] = x[k];
    for (int r = r0; r < r1; r += 2) {
        const int two = r + 1 < r1;
        const uint8_t *w0 = w + (size_t)r * rb, *w1 = two ? w0 + rb : w0;
        __m256 l0 = _mm256_setzero_ps(), h0 = l0, l1 = l0, h1 = l0;
        for (int k = 0; k < kv; k += 16) {
            __m256 xl = _mm256_loadu_ps(x + k), xh = _mm256_loadu_ps(x + k + 8);
            l0 = _mm256_fmadd_ps(ld8_avx2(t, w0, k), xl, l0);
            h0 = _mm256_fmadd_ps(ld8_avx2(t, w0, k + 8), xh, h0);
            l1 = _mm256_fmadd_ps(ld8_avx2(t, w1, k), xl, l1);
            h1 = _mm256_fmadd_ps(ld8_avx2(t, w1, k + 8), xh, h1);
        }
        if (kv < K) {
            float t0[16] = {0}, t1[16] = {0};
            for (int k = kv; k < K; k++) types[t].fn(w0 + 2 * (size_t)k, t0 + k - kv), types[t].fn(w1 + 2 * (size_t)k, t1 + k - kv);
            __m256 xl = _mm256_loadu_ps(xt), xh = _mm256_loadu_ps(xt + 8);
            l0 = _mm256_fmadd_ps(_mm256_loadu_ps(t0), xl, l0);
            h0 = _mm256_fmadd_ps(_mm256_loadu_ps(t0 + 8), xh, h0);
            l1 = _mm256_fmadd_ps(_mm256_loadu_ps(t1), xl, l1);
            h1 = _mm256_fmadd_ps(_mm256_loadu_ps(t1 + 8), xh, h1);
        }
        y[r] = hsum16_avx2(l0, h0);
        if (two) y[r + 1] = hsum16_avx2(l1, h1);
    }
}

#define FUSED_AVX2(name, T)                                                                                  \
    __attribute__((target("avx2,fma,f16c"))) static void name(float *y, const uint8_t *w, const float *x,  \
                                                              int r0, int r1, int K) {                       \
        rows_avx2(T, y, w, x, r0, r1, K);                                                                    \
    }
FUSED_AVX2(f16_avx2, HW_F16)
FUSED_AVX2(bf16_avx2, HW_BF16)
FUSED_AVX2(gq8_avx2, HW_GQ8_0)

typedef void (*fused_fn)(float *, const uint8_t *, const float *, int, int, int);

/* The fused kernel for w at the current SIMD level, or NULL (decode into a buffer). */
static fused_fn pick_fused(hw_dtype t) {
    const int level = hw_simd_level();
    if (level == HW_SIMD_AVX512)
        return t == HW_F16 ? f16_avx512 : t == HW_BF16 ? bf16_avx512 : t == HW_GQ8_0 ? gq8_avx512
               : t == HW_GQ4_0 ? gq4_avx512 : t == HW_GQ4_K ? gq4k_avx512 : t == HW_GQ6_K ? gq6k_avx512 : NULL;
    if (level == HW_SIMD_AVX2) return t == HW_F16 ? f16_avx2 : t == HW_BF16 ? bf16_avx2 : t == HW_GQ8_0 ? gq8_avx2 : NULL;
    return NULL;
}

/* ---------------------------------------------------------------- products */

/* Decoded rows per step: about 16K floats (64 KiB, in L2 beside the activations). */
#define DEC_FLOATS 16384

typedef struct {
    float *y;
    const float *x;
    const hw_matrix *w;
    int T, block;
    fused_fn fused;
} stored_job;

/* Rows r0..r1-1 of y = W x (T == 1). */
static void matvec_rows(void *arg, int r0, int r1) {
    const stored_job *j = arg;
    const int K = j->w->cols;
    if (j->fused) {
        j->fused(j->y, j->w->raw, j->x, r0, r1, K);
        return;
    }
    float stack[DEC_FLOATS];
    int per = DEC_FLOATS / K;
    float *buf = per ? stack : malloc((size_t)K * sizeof(float));
    if (!buf) { /* a row longer than 16K values and no memory: one value at a time */
        for (int r = r0; r < r1; r++) {
            double s = 0;
            for (int k = 0; k < K; k++) s += (double)hw_matrix_value(j->w, r, k) * j->x[k];
            j->y[r] = (float)s;
        }
        return;
    }
    if (!per) per = 1;
    for (int r = r0; r < r1; r += per) {
        const int n = r1 - r < per ? r1 - r : per;
        hw_matrix_rows_f32(j->w, r, n, buf);
        hw_matvec_serial(j->y + r, buf, j->x, n, K);
    }
    if (buf != stack) free(buf);
}

/* Blocks of j->block rows: decoded into a tile, then one single-threaded sgemm each
 * (as ops.c's f32 prefill: the same rows always go in the same call). */
static void gemm_rows(void *arg, int r0, int r1) {
    const stored_job *j = arg;
    const int K = j->w->cols, R = j->w->rows;
    float *tile = malloc((size_t)j->block * K * sizeof(float));
    for (int r = r0; r < r1; r += j->block) {
        const int n = r1 - r < j->block ? r1 - r : j->block;
        if (!tile) { /* no memory for a tile: the decode kernel, one token at a time */
            for (int t = 0; t < j->T; t++) {
                stored_job one = {j->y + (size_t)t * R, j->x + (size_t)t * K, j->w, 1, 0, NULL};
                matvec_rows(&one, r, r + n);
            }
            continue;
        }
        hw_matrix_rows_f32(j->w, r, n, tile);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, j->T, n, K, 1.0f, j->x, K, tile, K,
                    0.0f, j->y + r, R);
    }
    free(tile);
}

void hw_matmul_stored(float *y, const float *x, const hw_matrix *w, int T) {
    const int R = w->rows, K = w->cols;
    if (T == 1) {
        stored_job j = {y, x, w, 1, 0, pick_fused(w->dtype)};
        int rows = (DEC_FLOATS / K) & ~3;
        hw_parallel_range(matvec_rows, &j, R, rows > 4 ? rows : 4);
        return;
    }
    /* Tiles of about 1 MiB of f32, whole 64-row groups: sgemm packs x again for each,
     * small beside the tile's product once it is 64 rows or more. */
    int block = (int)((262144 / (size_t)K) / 64 * 64);
    if (block < 64) block = 64;
    stored_job j = {y, x, w, T, block, NULL};
    hw_blas_one_thread();
    hw_parallel_range(gemm_rows, &j, R, block);
}

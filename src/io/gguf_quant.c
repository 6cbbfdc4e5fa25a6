/* gguf_quant.c: ggml's block formats to f32 (dequantisation), as ggml-quants.c defines
 * them: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 (blocks of 32) and Q4_K, Q5_K, Q6_K (super-blocks
 * of 256). Every block starts or ends with f16 scales; values are little-endian.
 *
 * Each product and sum is its own statement in the order ggml writes it, so that no
 * compiler fuses a multiply and an add (GCC does not in ISO C mode; clang would within
 * one expression): the results equal a plain float32 implementation of the
 * specification bit for bit (tests/gguf_quant_ref.py is one, in numpy). */
#include "io/gguf.h"
#include "io/safetensors.h"

#include <string.h>

static float f16(const uint8_t *p) { return hw_f16_to_f32((uint16_t)(p[0] | p[1] << 8)); }

/* y = d * q, or (with a min) d * q + m, as separate operations. */
static float scaled(float d, int q) { return d * (float)q; }
static float affine(float d, int q, float m) {
    float p = d * (float)q;
    return p + m;
}

static void q4_0(const uint8_t *b, float *y) { /* d, qs[16] */
    float d = f16(b);
    for (int j = 0; j < 16; j++) {
        y[j] = scaled(d, (b[2 + j] & 0x0F) - 8);
        y[j + 16] = scaled(d, (b[2 + j] >> 4) - 8);
    }
}

static void q4_1(const uint8_t *b, float *y) { /* d, m, qs[16] */
    float d = f16(b), m = f16(b + 2);
    for (int j = 0; j < 16; j++) {
        y[j] = affine(d, b[4 + j] & 0x0F, m);
        y[j + 16] = affine(d, b[4 + j] >> 4, m);
    }
}

static uint32_t le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void q5_0(const uint8_t *b, float *y) { /* d, qh[4], qs[16] */
    float d = f16(b);
    uint32_t qh = le32(b + 2);
    for (int j = 0; j < 16; j++) {
        int h0 = (int)((qh >> j) << 4 & 0x10), h1 = (int)(qh >> (j + 12) & 0x10);
        y[j] = scaled(d, ((b[6 + j] & 0x0F) | h0) - 16);
        y[j + 16] = scaled(d, ((b[6 + j] >> 4) | h1) - 16);
    }
}

static void q5_1(const uint8_t *b, float *y) { /* d, m, qh[4], qs[16] */
    float d = f16(b), m = f16(b + 2);
    uint32_t qh = le32(b + 4);
    for (int j = 0; j < 16; j++) {
        int h0 = (int)((qh >> j) << 4 & 0x10), h1 = (int)(qh >> (j + 12) & 0x10);
        y[j] = affine(d, (b[8 + j] & 0x0F) | h0, m);
        y[j + 16] = affine(d, (b[8 + j] >> 4) | h1, m);
    }
}

static void q8_0(const uint8_t *b, float *y) { /* d, qs[32] int8 */
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

/* Q4_K and Q5_K: d, dmin, scales[12], (Q5_K: qh[32]), qs[128]; y = d*sc * q - dmin*m. */
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

static void q4_k(const uint8_t *b, float *y) { k4_k5(b, y, false); }
static void q5_k(const uint8_t *b, float *y) { k4_k5(b, y, true); }

static void q6_k(const uint8_t *b, float *y) { /* ql[128], qh[64], scales[16] int8, d */
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

static const struct {
    uint32_t type;
    int blck, bytes;
    void (*fn)(const uint8_t *, float *);
} quants[] = {
    {HW_GGML_Q4_0, 32, 18, q4_0},   {HW_GGML_Q4_1, 32, 20, q4_1},   {HW_GGML_Q5_0, 32, 22, q5_0},
    {HW_GGML_Q5_1, 32, 24, q5_1},   {HW_GGML_Q8_0, 32, 34, q8_0},   {HW_GGML_Q4_K, 256, 144, q4_k},
    {HW_GGML_Q5_K, 256, 176, q5_k}, {HW_GGML_Q6_K, 256, 210, q6_k},
};

static int find(uint32_t type) {
    for (int i = 0; i < (int)(sizeof quants / sizeof quants[0]); i++)
        if (quants[i].type == type) return i;
    return -1;
}

bool hw_gguf_can_dequantize(uint32_t type) { return find(type) >= 0; }

void hw_gguf_dequantize(const hw_gguf_tensor *t, float *out) {
    int k = find(t->type);
    if (k < 0) return;
    int64_t blocks = t->numel / quants[k].blck;
    for (int64_t i = 0; i < blocks; i++)
        quants[k].fn(t->data + (size_t)i * (size_t)quants[k].bytes, out + i * quants[k].blck);
}

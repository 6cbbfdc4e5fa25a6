/*
 * gguf_encode.c: f32 values to ggml's block formats, as ggml-quants.c's reference
 * quantizers (quantize_row_*_ref) choose them: Q8_0, Q4_0, Q5_0 (32 values a block),
 * Q4_K and Q6_K (256), and F16. The layouts are those gguf_quant.c / quant_kernels.c
 * decode (see the table at the top of src/core/quant_kernels.c).
 *
 *   Q8_0  d = max|x| / 127, q = round(x / d)
 *   Q4_0  d = m / -8 (m: the value of largest magnitude, signed), q = min(15, trunc(x/d + 8.5))
 *   Q5_0  d = m / -16, q = min(31, trunc(x/d + 16.5)), bit 4 of each q in qh
 *   Q4_K  per 32-value sub-block a scale and a min fitted by weighted least squares
 *         (ggml's make_qkx2_quants, weights |x| + rms), both quantized to 6 bits against
 *         the super-block's d and dmin; q = clamp(round((x + min) / scale), 0, 15)
 *   Q6_K  per 16-value sub-block a scale (ggml's make_qx_quants, rmse_type 1), quantized
 *         to int8 against d; q = clamp(round(x / scale), -32, 31) + 32
 */
#include "io/gguf.h"

#include <math.h>
#include <string.h>

/* f32 to IEEE half, round to nearest even (overflow to infinity, subnormals kept). */
uint16_t hw_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000, ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) return (uint16_t)(sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 : 0));
    if (ax >= 0x477ff000u) return (uint16_t)(sign | 0x7c00); /* rounds past 65504 */
    if (ax < 0x38800000u) { /* below 2^-14: a subnormal half (or zero) */
        float a;
        memcpy(&a, &ax, 4);
        /* a * 2^24 is the subnormal's integer mantissa; rint rounds to nearest even. */
        return (uint16_t)(sign | (uint32_t)rintf(a * 16777216.0f));
    }
    uint32_t man = ax & 0x7fffff, exp = (ax >> 23) - 112;
    uint32_t h = exp << 10 | man >> 13, rest = man & 0x1fff;
    if (rest > 0x1000 || (rest == 0x1000 && (h & 1))) h++; /* carries into exp correctly */
    return (uint16_t)(sign | h);
}

static float half_round(float f) { /* f as stored in a half, back to f32 */
    uint16_t h = hw_f32_to_f16(f);
    uint8_t b[2] = {(uint8_t)h, (uint8_t)(h >> 8)};
    float y;
    hw_dequant(HW_F16, b, 1, &y);
    return y;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }

/* Round to the nearest integer, ties to even (ggml's nearest_int). */
static int nearest_int(float f) { return (int)lrintf(f); }

static void enc_q8_0(const float *x, uint8_t *b) {
    float amax = 0;
    for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(x[j]));
    const float d = amax / 127, id = d ? 1.0f / d : 0.0f;
    put16(b, hw_f32_to_f16(d));
    for (int j = 0; j < 32; j++) b[2 + j] = (uint8_t)(int8_t)roundf(x[j] * id);
}

/* The signed value of largest magnitude (the first of equals). */
static float signed_max(const float *x, int n) {
    float amax = 0, max = 0;
    for (int j = 0; j < n; j++)
        if (amax < fabsf(x[j])) amax = fabsf(x[j]), max = x[j];
    return max;
}

static void enc_q4_0(const float *x, uint8_t *b) {
    const float d = signed_max(x, 32) / -8, id = d ? 1.0f / d : 0.0f;
    put16(b, hw_f32_to_f16(d));
    for (int j = 0; j < 16; j++) {
        int q0 = (int)(int8_t)(x[j] * id + 8.5f), q1 = (int)(int8_t)(x[16 + j] * id + 8.5f);
        b[2 + j] = (uint8_t)((q0 < 15 ? q0 : 15) | (q1 < 15 ? q1 : 15) << 4);
    }
}

static void enc_q5_0(const float *x, uint8_t *b) {
    const float d = signed_max(x, 32) / -16, id = d ? 1.0f / d : 0.0f;
    put16(b, hw_f32_to_f16(d));
    uint32_t qh = 0;
    for (int j = 0; j < 16; j++) {
        int q0 = (int)(int8_t)(x[j] * id + 16.5f), q1 = (int)(int8_t)(x[16 + j] * id + 16.5f);
        q0 = q0 < 31 ? q0 : 31, q1 = q1 < 31 ? q1 : 31;
        b[6 + j] = (uint8_t)((q0 & 15) | (q1 & 15) << 4);
        qh |= (uint32_t)(q0 >> 4 & 1) << j | (uint32_t)(q1 >> 4 & 1) << (j + 16);
    }
    for (int k = 0; k < 4; k++) b[2 + k] = (uint8_t)(qh >> 8 * k);
}

static int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* ggml's make_qkx2_quants: x (n) ~ scale * L - min with L in [0, nmax], weights w; a
 * grid of nstep + 1 trial scales around nmax / (max - min), each refined by weighted
 * least squares, the best kept. Returns the scale, *the_min the (positive) min. */
static float fit_scale_min(int n, int nmax, const float *x, const float *w, uint8_t *L,
                           float *the_min, uint8_t *Laux) {
    const float rmin = -1.0f, rdelta = 0.1f;
    const int nstep = 20;
    float min = x[0], max = x[0], sum_w = w[0], sum_x = sum_w * x[0];
    for (int i = 1; i < n; i++) {
        min = fminf(min, x[i]), max = fmaxf(max, x[i]);
        sum_w += w[i], sum_x += w[i] * x[i];
    }
    if (min > 0) min = 0;
    if (max == min) {
        memset(L, 0, (size_t)n);
        *the_min = -min;
        return 0;
    }
    float iscale = nmax / (max - min), scale = 1 / iscale, best = 0;
    for (int i = 0; i < n; i++) {
        L[i] = (uint8_t)clampi(nearest_int(iscale * (x[i] - min)), 0, nmax);
        float diff = scale * L[i] + min - x[i];
        best += w[i] * diff * diff;
    }
    for (int is = 0; is <= nstep; is++) {
        iscale = (rmin + rdelta * is + nmax) / (max - min);
        float sl = 0, sl2 = 0, sxl = 0;
        for (int i = 0; i < n; i++) {
            int l = clampi(nearest_int(iscale * (x[i] - min)), 0, nmax);
            Laux[i] = (uint8_t)l;
            sl += w[i] * l, sl2 += w[i] * l * l, sxl += w[i] * l * x[i];
        }
        float D = sum_w * sl2 - sl * sl;
        if (D <= 0) continue;
        float this_scale = (sum_w * sxl - sum_x * sl) / D, this_min = (sl2 * sum_x - sl * sxl) / D;
        if (this_min > 0) this_min = 0, this_scale = sxl / sl2;
        float mad = 0;
        for (int i = 0; i < n; i++) {
            float diff = this_scale * Laux[i] + this_min - x[i];
            mad += w[i] * diff * diff;
        }
        if (mad < best) {
            memcpy(L, Laux, (size_t)n);
            best = mad, scale = this_scale, min = this_min;
        }
    }
    *the_min = -min;
    return scale;
}

static void enc_q4_k(const float *x, uint8_t *b) {
    uint8_t L[256], Laux[32], *sc = b + 4, *qs = b + 16;
    float w[32], mins[8], scales[8], max_scale = 0, max_min = 0;
    for (int j = 0; j < 8; j++) {
        float ss = 0;
        for (int l = 0; l < 32; l++) ss += x[32 * j + l] * x[32 * j + l];
        const float av = sqrtf(ss / 32);
        for (int l = 0; l < 32; l++) w[l] = av + fabsf(x[32 * j + l]);
        scales[j] = fit_scale_min(32, 15, x + 32 * j, w, L + 32 * j, &mins[j], Laux);
        max_scale = fmaxf(max_scale, scales[j]), max_min = fmaxf(max_min, mins[j]);
    }
    const float inv_scale = max_scale > 0 ? 63.0f / max_scale : 0.0f;
    const float inv_min = max_min > 0 ? 63.0f / max_min : 0.0f;
    memset(sc, 0, 12);
    for (int j = 0; j < 8; j++) {
        int ls = clampi(nearest_int(inv_scale * scales[j]), 0, 63);
        int lm = clampi(nearest_int(inv_min * mins[j]), 0, 63);
        if (j < 4) {
            sc[j] = (uint8_t)ls, sc[j + 4] = (uint8_t)lm;
        } else {
            sc[j + 4] = (uint8_t)((ls & 15) | (lm & 15) << 4);
            sc[j - 4] |= (uint8_t)((ls >> 4) << 6);
            sc[j] |= (uint8_t)((lm >> 4) << 6);
        }
    }
    put16(b, hw_f32_to_f16(max_scale / 63.0f));
    put16(b + 2, hw_f32_to_f16(max_min / 63.0f));
    const float d = half_round(max_scale / 63.0f), dmin = half_round(max_min / 63.0f);
    for (int j = 0; j < 8; j++) { /* the 6-bit scale and min as stored (decoder's unpacking) */
        int s, m;
        if (j < 4) s = sc[j] & 63, m = sc[j + 4] & 63;
        else s = (sc[j + 4] & 15) | (sc[j - 4] >> 6) << 4, m = (sc[j + 4] >> 4) | (sc[j] >> 6) << 4;
        const float dd = d * s, dm = dmin * m;
        if (!dd) continue;
        for (int l = 0; l < 32; l++) L[32 * j + l] = (uint8_t)clampi(nearest_int((x[32 * j + l] + dm) / dd), 0, 15);
    }
    for (int j = 0; j < 256; j += 64, qs += 32)
        for (int l = 0; l < 32; l++) qs[l] = (uint8_t)(L[j + l] | L[j + l + 32] << 4);
}

/* ggml's make_qx_quants with rmse_type 1 (weights x^2): x (n) ~ scale * (L - nmax), L in
 * [0, 2 nmax - 1], trial scales (nmax + 0.1 is) / max for is in -9..9. Returns the scale. */
static float fit_scale(int n, int nmax, const float *x, uint8_t *L) {
    float max = signed_max(x, n);
    if (fabsf(max) < 1e-15f) {
        memset(L, 0, (size_t)n);
        return 0;
    }
    float iscale = -nmax / max, sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; i++) {
        int l = clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (uint8_t)(l + nmax);
        float w = x[i] * x[i];
        sumlx += w * x[i] * l, suml2 += w * l * l;
    }
    float scale = suml2 ? sumlx / suml2 : 0.0f, best = scale * sumlx;
    for (int is = -9; is <= 9; is++) {
        if (!is) continue;
        iscale = -(nmax + 0.1f * is) / max;
        sumlx = suml2 = 0;
        for (int i = 0; i < n; i++) {
            int l = clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1);
            float w = x[i] * x[i];
            sumlx += w * x[i] * l, suml2 += w * l * l;
        }
        if (suml2 > 0 && sumlx * sumlx > best * suml2) {
            for (int i = 0; i < n; i++) L[i] = (uint8_t)(nmax + clampi(nearest_int(iscale * x[i]), -nmax, nmax - 1));
            scale = sumlx / suml2, best = scale * sumlx;
        }
    }
    return scale;
}

static void enc_q6_k(const float *x, uint8_t *b) {
    uint8_t L[256], *ql = b, *qh = b + 128;
    int8_t *sc = (int8_t *)(b + 192);
    float scales[16], max_scale = 0, max_abs = 0;
    for (int ib = 0; ib < 16; ib++) {
        scales[ib] = fit_scale(16, 32, x + 16 * ib, L + 16 * ib);
        if (fabsf(scales[ib]) > max_abs) max_abs = fabsf(scales[ib]), max_scale = scales[ib];
    }
    memset(b, 0, 210);
    if (max_abs < 1e-15f) return; /* all zero: d = 0 */
    const float iscale = -128.0f / max_scale;
    put16(b + 208, hw_f32_to_f16(1 / iscale));
    const float d = half_round(1 / iscale);
    for (int ib = 0; ib < 16; ib++) {
        int s = nearest_int(iscale * scales[ib]);
        sc[ib] = (int8_t)(s < 127 ? s : 127);
    }
    for (int j = 0; j < 16; j++) {
        const float dd = d * sc[j];
        if (!dd) continue;
        for (int i = 0; i < 16; i++) L[16 * j + i] = (uint8_t)(clampi(nearest_int(x[16 * j + i] / dd), -32, 31) + 32);
    }
    for (int j = 0; j < 256; j += 128, ql += 64, qh += 32)
        for (int l = 0; l < 32; l++) {
            const uint8_t *q = L + j + l;
            ql[l] = (uint8_t)((q[0] & 15) | (q[64] & 15) << 4);
            ql[l + 32] = (uint8_t)((q[32] & 15) | (q[96] & 15) << 4);
            qh[l] = (uint8_t)(q[0] >> 4 | (q[32] >> 4) << 2 | (q[64] >> 4) << 4 | (q[96] >> 4) << 6);
        }
}

static void enc_f16(const float *x, uint8_t *b) { put16(b, hw_f32_to_f16(*x)); }

bool hw_gguf_quantize(hw_dtype t, const float *x, int64_t n, uint8_t *out) {
    void (*fn)(const float *, uint8_t *) = t == HW_GQ8_0 ? enc_q8_0 : t == HW_GQ4_0 ? enc_q4_0
                                           : t == HW_GQ5_0 ? enc_q5_0 : t == HW_GQ4_K ? enc_q4_k
                                           : t == HW_GQ6_K ? enc_q6_k : t == HW_F16 ? enc_f16 : NULL;
    const int blk = hw_dtype_block(t), bytes = hw_dtype_block_bytes(t);
    if (!fn || n % blk) return false;
    for (int64_t i = 0; i < n / blk; i++) fn(x + i * blk, out + (size_t)i * bytes);
    return true;
}

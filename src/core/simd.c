/*
 * simd.c: explicit SIMD kernels, chosen at run time (AVX-512, AVX2+FMA, plain C).
 *
 * No -ffast-math: each kernel fixes its summation order itself. The matrix-vector
 * product sums row r of W with x in 16 lanes (lane l takes k = l, l+16, ...), one
 * fused multiply-add per term in k order, then adds the lanes in a fixed tree. The
 * AVX-512 and AVX2 paths do exactly this, so they agree bit for bit; which rows go
 * to which thread changes nothing, so results do not depend on the thread count.
 */
#include "internal.h"

#include <immintrin.h>
#include <math.h>
#include <stdatomic.h>

#include "simd_inline.h"

/* ---------------------------------------------------------------- AVX-512 */


/* Rows r0..r1-1 of y = W x; four rows at a time share each load of x: two from the
 * first half of the range and two from the second, so two distant streams of weights
 * are in flight (4% faster decode than four adjacent rows, measured). */
__attribute__((target("avx512f"))) static void matvec_avx512(float *y, const float *w,
                                                             const float *x, int r0, int r1,
                                                             int K) {
    const int kv = K & ~15;
    const __mmask16 tail = (__mmask16)((1u << (K & 15)) - 1);
    const int h = ((r1 - r0) / 2) & ~1; /* rows r0 .. r0+h-1 pair with r0+h .. r0+2h-1 */
    int r = r0;
    for (; r < r0 + h; r += 2) {
        const float *w0 = w + (size_t)r * K, *w1 = w0 + K, *w2 = w0 + (size_t)h * K, *w3 = w2 + K;
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        for (int k = 0; k < kv; k += 16) {
            __m512 xv = _mm512_loadu_ps(x + k);
            a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w0 + k), xv, a0);
            a1 = _mm512_fmadd_ps(_mm512_loadu_ps(w1 + k), xv, a1);
            a2 = _mm512_fmadd_ps(_mm512_loadu_ps(w2 + k), xv, a2);
            a3 = _mm512_fmadd_ps(_mm512_loadu_ps(w3 + k), xv, a3);
        }
        if (tail) {
            __m512 xv = _mm512_maskz_loadu_ps(tail, x + kv);
            a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, w0 + kv), xv, a0);
            a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, w1 + kv), xv, a1);
            a2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, w2 + kv), xv, a2);
            a3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, w3 + kv), xv, a3);
        }
        y[r] = hsum16_avx512(a0);
        y[r + 1] = hsum16_avx512(a1);
        y[r + h] = hsum16_avx512(a2);
        y[r + h + 1] = hsum16_avx512(a3);
    }
    for (r = r0 + 2 * h; r < r1; r++) {
        const float *w0 = w + (size_t)r * K;
        __m512 a0 = _mm512_setzero_ps();
        for (int k = 0; k < kv; k += 16)
            a0 = _mm512_fmadd_ps(_mm512_loadu_ps(w0 + k), _mm512_loadu_ps(x + k), a0);
        if (tail)
            a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, w0 + kv),
                                 _mm512_maskz_loadu_ps(tail, x + kv), a0);
        y[r] = hsum16_avx512(a0);
    }
}

/* e^x in 16 lanes (Cephes' expf: x = n ln2 + r, |r| <= ln2/2, a degree-6 polynomial
 * in r, then scaled by 2^n); within 2 ulp of expf. No clamping here: see the callers. */
__attribute__((target("avx512f"))) static inline __m512 exp_core_avx512(__m512 x) {
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                    _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 p = _mm512_set1_ps(1.9875691500e-4f);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
    p = _mm512_fmadd_ps(_mm512_mul_ps(p, r), r, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
    return _mm512_scalef_ps(p, n);
}

/* e^x for softmax: x clamped to [-87, 88], so the result is always a normal float. */
__attribute__((target("avx512f"))) static inline __m512 exp_avx512(__m512 x) {
    x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.0f)), _mm512_set1_ps(-87.0f));
    return exp_core_avx512(x);
}

/* x (n) = softmax(scale * x), in place. */
__attribute__((target("avx512f"))) static void softmax_avx512(float *x, int n, float scale) {
    const __m512 sc = _mm512_set1_ps(scale);
    __m512 mx = _mm512_set1_ps(-INFINITY);
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m512 v = _mm512_mul_ps(_mm512_loadu_ps(x + i), sc);
        _mm512_storeu_ps(x + i, v);
        mx = _mm512_max_ps(mx, v);
    }
    const __mmask16 tail = (__mmask16)((1u << (n - i)) - 1);
    if (tail) {
        __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, x + i), sc);
        _mm512_mask_storeu_ps(x + i, tail, v);
        mx = _mm512_mask_max_ps(mx, tail, mx, v);
    }
    const __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(mx));
    __m512 sum = _mm512_setzero_ps();
    for (i = 0; i + 16 <= n; i += 16) {
        __m512 e = exp_avx512(_mm512_sub_ps(_mm512_loadu_ps(x + i), m));
        _mm512_storeu_ps(x + i, e);
        sum = _mm512_add_ps(sum, e);
    }
    if (tail) {
        __m512 e = exp_avx512(_mm512_sub_ps(_mm512_maskz_loadu_ps(tail, x + i), m));
        _mm512_mask_storeu_ps(x + i, tail, e);
        sum = _mm512_add_ps(sum, _mm512_maskz_mov_ps(tail, e));
    }
    const __m512 inv = _mm512_set1_ps(1.0f / hsum16_avx512(sum));
    for (i = 0; i + 16 <= n; i += 16) _mm512_storeu_ps(x + i, _mm512_mul_ps(_mm512_loadu_ps(x + i), inv));
    if (tail) _mm512_mask_storeu_ps(x + i, tail, _mm512_mul_ps(_mm512_maskz_loadu_ps(tail, x + i), inv));
}

/* z (Dh) = sum over s of p[s] V[s] (V: S rows of Dh), 64 columns at a time kept in
 * registers, s in order. */
__attribute__((target("avx512f"))) static void mix_avx512(float *z, const float *p, const float *V,
                                                          int S, int Dh) {
    for (int d = 0; d < Dh; d += 64) {
        __mmask16 m[4];
        for (int j = 0; j < 4; j++) {
            int w = Dh - d - 16 * j;
            m[j] = w >= 16 ? 0xFFFF : w > 0 ? (__mmask16)((1u << w) - 1) : 0;
        }
        __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        const float *v = V + d;
        for (int s = 0; s < S; s++, v += Dh) {
            __m512 ps = _mm512_set1_ps(p[s]);
            a0 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m[0], v), ps, a0);
            a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m[1], v + 16), ps, a1);
            a2 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m[2], v + 32), ps, a2);
            a3 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m[3], v + 48), ps, a3);
        }
        _mm512_mask_storeu_ps(z + d, m[0], a0);
        _mm512_mask_storeu_ps(z + d + 16, m[1], a1);
        _mm512_mask_storeu_ps(z + d + 32, m[2], a2);
        _mm512_mask_storeu_ps(z + d + 48, m[3], a3);
    }
}

__attribute__((target("avx512f"))) static void attend_avx512(float *z, float *att, const float *q,
                                                             const float *K, const float *V,
                                                             int S, int Dh, float scale) {
    matvec_avx512(att, K, q, 0, S, Dh);
    softmax_avx512(att, S, scale);
    mix_avx512(z, att, V, S, Dh);
}

/* Up to 16 consecutive query rows of one head at once, one row per lane, so that every
 * key and value row loaded serves them all (flash-attention style: keys in chunks of
 * KC, a running max and sum per row, no score matrix). Lane i is query row i: it sees
 * keys [max(0, end + i - window), end + i). Transposed copies of Q and of the output
 * live on the stack (Dh <= ATT_MAX_DH). */
#define KC 64
#define ATT_MAX_DH 256
__attribute__((target("avx512f"))) static void attend16_avx512(float *z, int zs, const float *q,
                                                               int qs, const float *K,
                                                               const float *V, int r, int end,
                                                               int window, int Dh, float scale) {
    float qt[ATT_MAX_DH * 16] __attribute__((aligned(64)));  /* (Dh, 16) Q transposed */
    float ot[ATT_MAX_DH * 16] __attribute__((aligned(64)));  /* (Dh, 16) output transposed */
    float st[KC * 16] __attribute__((aligned(64)));          /* (KC, 16) scores, then weights */
    int endv_[16], firstv_[16];
    for (int i = 0; i < 16; i++) {
        int e = i < r ? end + i : 0; /* lanes past r see nothing */
        endv_[i] = e;
        firstv_[i] = e > window ? e - window : 0;
        for (int d = 0; d < Dh; d++) qt[d * 16 + i] = i < r ? q[(size_t)i * qs + d] : 0.0f;
    }
    for (int d = 0; d < Dh * 16; d++) ot[d] = 0.0f;
    const __m512i endv = _mm512_loadu_si512(endv_), firstv = _mm512_loadu_si512(firstv_);
    const __m512 sc = _mm512_set1_ps(scale), ninf = _mm512_set1_ps(-INFINITY);
    const int lo = firstv_[0], hi = end + r - 1; /* keys any row sees */
    __m512 m = ninf, l = _mm512_setzero_ps();
    for (int j0 = lo; j0 < hi; j0 += KC) {
        const int kc = hi - j0 < KC ? hi - j0 : KC;
        /* Scores of 16 keys at a time: lane i of acc[k] = q_i . K[j0 + jj + k]. */
        __m512 cm = ninf;
        for (int jj = 0; jj < kc; jj += 16) {
            const float *kr[16];
            for (int k = 0; k < 16; k++) {
                int j = j0 + jj + k < hi ? j0 + jj + k : hi - 1; /* past hi: masked below */
                kr[k] = K + (size_t)j * Dh;
            }
            __m512 acc[16];
#pragma GCC unroll 16
            for (int k = 0; k < 16; k++) acc[k] = _mm512_setzero_ps();
            for (int d = 0; d < Dh; d++) {
                __m512 qv = _mm512_load_ps(qt + d * 16);
#pragma GCC unroll 16
                for (int k = 0; k < 16; k++)
                    acc[k] = _mm512_fmadd_ps(_mm512_set1_ps(kr[k][d]), qv, acc[k]);
            }
#pragma GCC unroll 16
            for (int k = 0; k < 16; k++) {
                __m512i jv = _mm512_set1_epi32(j0 + jj + k);
                __mmask16 vis = _mm512_cmplt_epi32_mask(jv, endv) &
                                _mm512_cmpge_epi32_mask(jv, firstv);
                __m512 sv = _mm512_mask_mov_ps(ninf, vis, _mm512_mul_ps(acc[k], sc));
                if (jj + k < kc) {
                    _mm512_store_ps(st + (jj + k) * 16, sv);
                    cm = _mm512_max_ps(cm, sv);
                }
            }
        }
        /* Running max and sum; lanes with nothing seen yet keep reference 0. */
        const __m512 mn = _mm512_max_ps(m, cm);
        const __m512 ref = _mm512_mask_mov_ps(mn, _mm512_cmpeq_ps_mask(mn, ninf),
                                              _mm512_setzero_ps());
        const __m512 alpha = exp_avx512(_mm512_sub_ps(m, ref)); /* m = -inf: l, ot are 0 */
        __m512 ls = _mm512_setzero_ps();
        for (int j = 0; j < kc; j++) {
            __m512 sv = _mm512_load_ps(st + j * 16);
            __m512 p = _mm512_maskz_mov_ps(_mm512_cmpneq_ps_mask(sv, ninf),
                                           exp_avx512(_mm512_sub_ps(sv, ref)));
            _mm512_store_ps(st + j * 16, p);
            ls = _mm512_add_ps(ls, p);
        }
        l = _mm512_fmadd_ps(l, alpha, ls);
        m = mn;
        /* Output: ot[d] = ot[d] * alpha + sum over j of V[j][d] p_j, 16 columns at a time. */
        for (int d0 = 0; d0 < Dh; d0 += 16) {
            const int g = Dh - d0 < 16 ? Dh - d0 : 16;
            __m512 acc[16];
#pragma GCC unroll 16
            for (int k = 0; k < 16; k++)
                acc[k] = k < g ? _mm512_mul_ps(_mm512_load_ps(ot + (d0 + k) * 16), alpha)
                               : _mm512_setzero_ps();
            const float *vr = V + (size_t)j0 * Dh + d0;
            for (int j = 0; j < kc; j++, vr += Dh) {
                __m512 p = _mm512_load_ps(st + j * 16);
#pragma GCC unroll 16
                for (int k = 0; k < 16; k++)
                    if (k < g) acc[k] = _mm512_fmadd_ps(_mm512_set1_ps(vr[k]), p, acc[k]);
            }
#pragma GCC unroll 16
            for (int k = 0; k < 16; k++)
                if (k < g) _mm512_store_ps(ot + (d0 + k) * 16, acc[k]);
        }
    }
    float inv[16] __attribute__((aligned(64)));
    _mm512_store_ps(inv, _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_mask_mov_ps(
                                           l, _mm512_cmpeq_ps_mask(l, _mm512_setzero_ps()),
                                           _mm512_set1_ps(1.0f))));
    for (int i = 0; i < r; i++)
        for (int d = 0; d < Dh; d++) z[(size_t)i * zs + d] = ot[d * 16 + i] * inv[i];
}

/* ---------------------------------------------------------------- AVX2 + FMA */


__attribute__((target("avx2,fma"))) static void matvec_avx2(float *y, const float *w,
                                                            const float *x, int r0, int r1,
                                                            int K) {
    const int kv = K & ~15;
    float xt[16] = {0}; /* the tail of x, zero padded, so the tail is one more step */
    for (int k = kv; k < K; k++) xt[k - kv] = x[k];
    for (int r = r0; r < r1; r += 2) {
        const int two = r + 1 < r1;
        const float *w0 = w + (size_t)r * K, *w1 = two ? w0 + K : w0;
        __m256 l0 = _mm256_setzero_ps(), h0 = l0, l1 = l0, h1 = l0;
        for (int k = 0; k < kv; k += 16) {
            __m256 xl = _mm256_loadu_ps(x + k), xh = _mm256_loadu_ps(x + k + 8);
            l0 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + k), xl, l0);
            h0 = _mm256_fmadd_ps(_mm256_loadu_ps(w0 + k + 8), xh, h0);
            l1 = _mm256_fmadd_ps(_mm256_loadu_ps(w1 + k), xl, l1);
            h1 = _mm256_fmadd_ps(_mm256_loadu_ps(w1 + k + 8), xh, h1);
        }
        if (kv < K) {
            float t0[16] = {0}, t1[16] = {0};
            for (int k = kv; k < K; k++) t0[k - kv] = w0[k], t1[k - kv] = w1[k];
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

/* ---------------------------------------------------------------- activations */

/*
 * The MLP's activations, elementwise, with the same operations in the same order on
 * the AVX-512 and AVX2 paths (so they agree bit for bit):
 *   SiLU        silu(g) = g sigmoid(g)
 *   GELU (tanh) 0.5 x (1 + tanh(u)) = x sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3)
 *   GELU (erf)  x Phi(x), Phi(x) = 1 - Q(x) for x >= 0 and Q(-x) for x < 0, where
 *               Q(a) = erfc(a / sqrt 2) / 2 = e^(-a^2/2) R(t), t = 1 / (1 + 0.3 a), R a
 *               degree-10 polynomial fitted to relative error 4e-9 on a in [0, 20];
 *               a^2 is split exactly (fma) so e^(-a^2/2) keeps its accuracy at a ~ 13.
 * sigmoid(z) = 1 / (1 + e) for z >= 0 and e / (1 + e) for z < 0, with e = e^-|z|: no
 * overflow, and the small values of the negative tail are computed directly (never as
 * 1 + tanh or 1 + erf near cancellation), so results stay within about 1e-6 relative of
 * the exact functions wherever they are normal floats (tests/test_kernels.c). The exp
 * saturates (inputs clamped to [-104, 89] only): it reaches 0 through subnormals below
 * -87 instead of stopping at e^-87, so tails go to 0, never NaN, for finite inputs.
 */
#define GELU_2K 1.5957691216e+00f       /* 2 sqrt(2/pi) */
#define GELU_2KC 7.1354816273e-02f      /* 2 sqrt(2/pi) 0.044715 */
#define ERF_T 0.3f                      /* t = 1 / (1 + ERF_T a) */
static const float erf_r[11] = {        /* R(t) = sum of erf_r[i] t^i */
    -2.089789181e-07f, 1.196918354e-01f, 1.195175411e-01f, 1.105589433e-01f,
    7.717979357e-02f,  9.913084482e-02f, -8.430407117e-02f, 1.970797162e-01f,
    -2.318587396e-01f, 1.138770987e-01f, -2.087275517e-02f};

__attribute__((target("avx512f"))) static inline __m512 expsat_avx512(__m512 x) {
    x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(89.0f)), _mm512_set1_ps(-104.0f));
    return exp_core_avx512(x);
}

/* x sigmoid(z) */
__attribute__((target("avx512f"))) static inline __m512 mul_sigmoid_avx512(__m512 x, __m512 z) {
    __m512 e = expsat_avx512(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_abs_ps(z)));
    __mmask16 neg = _mm512_cmp_ps_mask(z, _mm512_setzero_ps(), _CMP_LT_OQ);
    __m512 num = _mm512_mask_mov_ps(x, neg, _mm512_mul_ps(x, e));
    return _mm512_div_ps(num, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

__attribute__((target("avx512f"))) static inline __m512 gelu_tanh_avx512(__m512 x) {
    __m512 z = _mm512_mul_ps(x, _mm512_fmadd_ps(_mm512_set1_ps(GELU_2KC), _mm512_mul_ps(x, x),
                                                _mm512_set1_ps(GELU_2K)));
    return mul_sigmoid_avx512(x, z);
}

__attribute__((target("avx512f"))) static inline __m512 gelu_erf_avx512(__m512 x) {
    __m512 a = _mm512_min_ps(_mm512_abs_ps(x), _mm512_set1_ps(20.0f));
    __m512 a2 = _mm512_mul_ps(a, a), a2lo = _mm512_fmsub_ps(a, a, a2); /* a^2 = a2 + a2lo */
    __m512 h = _mm512_set1_ps(0.5f);
    __m512 e = expsat_avx512(_mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), a2), h));
    e = _mm512_fnmadd_ps(e, _mm512_mul_ps(a2lo, h), e); /* e^(-a2lo/2) ~ 1 - a2lo/2 */
    __m512 t = _mm512_div_ps(_mm512_set1_ps(1.0f),
                             _mm512_fmadd_ps(_mm512_set1_ps(ERF_T), a, _mm512_set1_ps(1.0f)));
    __m512 r = _mm512_set1_ps(erf_r[10]);
    for (int i = 9; i >= 0; i--) r = _mm512_fmadd_ps(r, t, _mm512_set1_ps(erf_r[i]));
    /* x < 0: (x R) e, so a subnormal Q never rounds a normal result; else x (1 - e R). */
    __m512 pos = _mm512_mul_ps(x, _mm512_sub_ps(_mm512_set1_ps(1.0f), _mm512_mul_ps(e, r)));
    return _mm512_mask_mov_ps(pos, _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ),
                              _mm512_mul_ps(_mm512_mul_ps(x, r), e));
}

/* up[i] = act(up[i]) for i in [i0, i1), or up[i] *= silu(gate[i]) (SiLU-gated). */
__attribute__((target("avx512f"))) static void act_avx512(float *up, const float *gate,
                                                          hw_activation act, int i0, int i1) {
    for (int i = i0; i < i1; i += 16) {
        const __mmask16 m = i1 - i >= 16 ? 0xFFFF : (__mmask16)((1u << (i1 - i)) - 1);
        __m512 u = _mm512_maskz_loadu_ps(m, up + i), y;
        if (act == HW_ACT_SILU_GATED)
        {
            __m512 g = _mm512_maskz_loadu_ps(m, gate + i);
            y = _mm512_mul_ps(u, mul_sigmoid_avx512(g, g));
        }
        else if (act == HW_ACT_GELU_TANH)
            y = gelu_tanh_avx512(u);
        else
            y = gelu_erf_avx512(u);
        _mm512_mask_storeu_ps(up + i, m, y);
    }
}

/* exp_core_avx512 in 8 lanes, step for step; 2^n as two factors 2^(n/2) 2^(n - n/2)
 * (n in [-150, 128]): the first product is exact, so the one rounding is scalef's. */
__attribute__((target("avx2,fma"))) static inline __m256 expsat_avx2(__m256 x) {
    x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(89.0f)), _mm256_set1_ps(-104.0f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 p = _mm256_set1_ps(1.9875691500e-4f);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.3981999507e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(8.3334519073e-3f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(4.1665795894e-2f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.6666665459e-1f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(5.0000001201e-1f));
    p = _mm256_fmadd_ps(_mm256_mul_ps(p, r), r, _mm256_add_ps(r, _mm256_set1_ps(1.0f)));
    __m256i ni = _mm256_cvtps_epi32(n), n1 = _mm256_srai_epi32(ni, 1);
    __m256i n2 = _mm256_sub_epi32(ni, n1), bias = _mm256_set1_epi32(127);
    __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

__attribute__((target("avx2,fma"))) static inline __m256 mul_sigmoid_avx2(__m256 x, __m256 z) {
    __m256 e = expsat_avx2(_mm256_sub_ps(_mm256_setzero_ps(),
                                         _mm256_andnot_ps(_mm256_set1_ps(-0.0f), z)));
    __m256 neg = _mm256_cmp_ps(z, _mm256_setzero_ps(), _CMP_LT_OQ);
    __m256 num = _mm256_blendv_ps(x, _mm256_mul_ps(x, e), neg);
    return _mm256_div_ps(num, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

__attribute__((target("avx2,fma"))) static inline __m256 gelu_tanh_avx2(__m256 x) {
    __m256 z = _mm256_mul_ps(x, _mm256_fmadd_ps(_mm256_set1_ps(GELU_2KC), _mm256_mul_ps(x, x),
                                                _mm256_set1_ps(GELU_2K)));
    return mul_sigmoid_avx2(x, z);
}

__attribute__((target("avx2,fma"))) static inline __m256 gelu_erf_avx2(__m256 x) {
    __m256 a = _mm256_min_ps(_mm256_andnot_ps(_mm256_set1_ps(-0.0f), x), _mm256_set1_ps(20.0f));
    __m256 a2 = _mm256_mul_ps(a, a), a2lo = _mm256_fmsub_ps(a, a, a2);
    __m256 h = _mm256_set1_ps(0.5f);
    __m256 e = expsat_avx2(_mm256_mul_ps(_mm256_sub_ps(_mm256_setzero_ps(), a2), h));
    e = _mm256_fnmadd_ps(e, _mm256_mul_ps(a2lo, h), e);
    __m256 t = _mm256_div_ps(_mm256_set1_ps(1.0f),
                             _mm256_fmadd_ps(_mm256_set1_ps(ERF_T), a, _mm256_set1_ps(1.0f)));
    __m256 r = _mm256_set1_ps(erf_r[10]);
    for (int i = 9; i >= 0; i--) r = _mm256_fmadd_ps(r, t, _mm256_set1_ps(erf_r[i]));
    __m256 pos = _mm256_mul_ps(x, _mm256_sub_ps(_mm256_set1_ps(1.0f), _mm256_mul_ps(e, r)));
    return _mm256_blendv_ps(pos, _mm256_mul_ps(_mm256_mul_ps(x, r), e),
                            _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ));
}

__attribute__((target("avx2,fma"))) static inline __m256 act8_avx2(__m256 u, const float *g,
                                                                   hw_activation act) {
    if (act == HW_ACT_SILU_GATED) {
        __m256 gv = _mm256_loadu_ps(g);
        return _mm256_mul_ps(u, mul_sigmoid_avx2(gv, gv));
    }
    return act == HW_ACT_GELU_TANH ? gelu_tanh_avx2(u) : gelu_erf_avx2(u);
}

__attribute__((target("avx2,fma"))) static void act_avx2(float *up, const float *gate,
                                                        hw_activation act, int i0, int i1) {
    int i = i0;
    for (; i + 8 <= i1; i += 8)
        _mm256_storeu_ps(up + i, act8_avx2(_mm256_loadu_ps(up + i), gate ? gate + i : NULL, act));
    if (i < i1) { /* the tail, zero padded: each lane is computed alone, so nothing changes */
        float u[8] = {0}, g[8] = {0};
        for (int k = i; k < i1; k++) u[k - i] = up[k], g[k - i] = gate ? gate[k] : 0.0f;
        _mm256_storeu_ps(u, act8_avx2(_mm256_loadu_ps(u), g, act));
        for (int k = i; k < i1; k++) up[k] = u[k - i];
    }
}

/* ---------------------------------------------------------------- plain C */

static void matvec_c(float *y, const float *w, const float *x, int r0, int r1, int K) {
    for (int r = r0; r < r1; r++) y[r] = hw_dot(w + (size_t)r * K, x, K);
}

/* The attention of one query row as the scalar reference computes it. */
static void attend_c(float *z, float *att, const float *q, const float *K, const float *V, int S,
                     int Dh, float scale) {
    for (int s = 0; s < S; s++) att[s] = hw_dot(q, K + (size_t)s * Dh, Dh) * scale;
    hw_softmax(att, S);
    for (int d = 0; d < Dh; d++) z[d] = 0;
    for (int s = 0; s < S; s++) hw_axpy(z, att[s], V + (size_t)s * Dh, Dh);
}

static void act_c(float *up, const float *gate, hw_activation act, int i0, int i1) {
    for (int i = i0; i < i1; i++)
        up[i] = act == HW_ACT_SILU_GATED ? up[i] * hw_silu(gate[i])
                : act == HW_ACT_GELU_TANH ? hw_gelu_tanh(up[i])
                                          : hw_gelu_exact(up[i]);
}

/* ---------------------------------------------------------------- dispatch */

static int cpu_level(void) {
    if (__builtin_cpu_supports("avx512f")) return HW_SIMD_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return HW_SIMD_AVX2;
    return HW_SIMD_C;
}

static _Atomic int forced_level = -1; /* < 0: the CPU's best (hw_simd_force, tests only) */

static int simd_level(void) {
    int f = atomic_load_explicit(&forced_level, memory_order_relaxed);
    return f >= 0 ? f : cpu_level();
}

int hw_simd_level(void) { return simd_level(); }

int hw_simd_force(int level) {
    int cap = cpu_level();
    level = level < 0 ? -1 : level < cap ? level : cap;
    atomic_store_explicit(&forced_level, level, memory_order_relaxed);
    return level < 0 ? cap : level;
}

typedef void (*matvec_fn)(float *, const float *, const float *, int, int, int);

static matvec_fn pick_matvec(void) {
    switch (simd_level()) {
    case HW_SIMD_AVX512: return matvec_avx512;
    case HW_SIMD_AVX2: return matvec_avx2;
    default: return matvec_c;
    }
}

typedef struct {
    matvec_fn fn;
    float *y;
    const float *w, *x;
    int K;
} matvec_job;

static void matvec_range(void *arg, int begin, int end) {
    const matvec_job *j = arg;
    j->fn(j->y, j->w, j->x, begin, end, j->K);
}

void hw_matvec(float *y, const float *w, const float *x, int R, int K) {
    matvec_job j = {pick_matvec(), y, w, x, K};
    /* Chunks of about 128 KiB of weights, a multiple of 4 rows (64 KiB: 2% slower). */
    int rows = (int)(131072 / ((size_t)K * sizeof(float))) & ~3;
    hw_parallel_range(matvec_range, &j, R, rows > 4 ? rows : 4);
}

void hw_matvec_serial(float *y, const float *w, const float *x, int R, int K) {
    pick_matvec()(y, w, x, 0, R, K);
}

static void attend_row(float *z, float *att, const float *q, const float *K, const float *V,
                       int S, int Dh, float scale) {
    if (simd_level() == HW_SIMD_AVX512)
        attend_avx512(z, att, q, K, V, S, Dh, scale);
    else
        attend_c(z, att, q, K, V, S, Dh, scale);
}

void hw_attend_rows(float *z, int zs, const float *q, int qs, const float *K, const float *V,
                    int R, int end, int window, int Dh, float scale, float *att) {
    int i = 0;
    /* Blocks of 16 rows while at least 8 remain; single rows use a row of scores. */
    if (Dh <= ATT_MAX_DH && simd_level() == HW_SIMD_AVX512)
        for (; R - i >= 8; i += 16)
            attend16_avx512(z + (size_t)i * zs, zs, q + (size_t)i * qs, qs, K, V,
                            R - i < 16 ? R - i : 16, end + i, window, Dh, scale);
    for (; i < R; i++) {
        int e = end + i, first = e > window ? e - window : 0;
        attend_row(z + (size_t)i * zs, att, q + (size_t)i * qs, K + (size_t)first * Dh,
                   V + (size_t)first * Dh, e - first, Dh, scale);
    }
}

typedef struct {
    float *up;
    const float *gate;
    hw_activation act;
    int level;
} act_job;

static void act_range(void *arg, int begin, int end) {
    const act_job *j = arg;
    if (j->level == HW_SIMD_AVX512)
        act_avx512(j->up, j->gate, j->act, begin, end);
    else if (j->level == HW_SIMD_AVX2)
        act_avx2(j->up, j->gate, j->act, begin, end);
    else
        act_c(j->up, j->gate, j->act, begin, end);
}

/* Values per chunk of the pool: a multiple of 16, ~10 us of work per chunk. */
#define ACT_CHUNK 8192

void hw_activate(float *up, const float *gate, size_t n, hw_activation act) {
    const int level = simd_level();
    for (size_t done = 0; done < n;) {
        const int len = n - done < (1u << 30) ? (int)(n - done) : 1 << 30;
        act_job j = {up + done, gate ? gate + done : NULL, act, level};
        hw_parallel_range(act_range, &j, len, ACT_CHUNK);
        done += (size_t)len;
    }
}

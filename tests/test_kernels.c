/*
 * test_kernels.c: the kernels of src/core/simd.c and ops.c against double-precision
 * references, on awkward shapes, at every SIMD level the CPU has (hw_simd_force):
 * matrix-vector products, causal attention with cached prefixes and sliding windows,
 * matmul with and without bias, norms, and the MLP activations; and the invariances
 * the engine relies on (AVX-512 = AVX2, any thread count, any split: the same bits).
 *
 * Tolerances are normalised so they hold for any data, not tuned to one seed:
 * - matvec: |y - y_ref| <= (ceil(K/16) + 32) u sum_k |w_k x_k|, u = 2^-24. Each
 *   product passes through at most ceil(K/16) fused multiply-adds in its lane, then
 *   4 tree additions (SIMD paths), or a multiply, ceil(K/16) adds, 15 lane adds and
 *   15 tail adds (plain C); the first-order rounding bound of a sum is u times the
 *   number of roundings a term passes through, times sum |term|.
 * - attention: max-abs error <= 1e-5 with |V| <= 1 (see ATT_TOL).
 * - activations: relative error <= 1e-6 (GELU tanh: more in its far tail, where the
 *   argument's rounding is amplified; see act_tol), and within the scalar forms' own
 *   rounding of the scalar forms in ops.c.
 */
#include "check.h"
#include "internal.h"

#include <float.h>
#include <limits.h>
#include <stdint.h>

static const double U = 1.0 / (1 << 24); /* unit roundoff of float */

static uint64_t rng = 0x243F6A8885A308D3ull;
static uint32_t next_u32(void) { /* xorshift64* */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (uint32_t)((rng * 0x2545F4914F6CDD1Dull) >> 32);
}
/* Uniform in [-a, a). */
static float uniform(float a) { return a * ((float)next_u32() * (2.0f / 4294967296.0f) - 1.0f); }
static void fill(float *v, size_t n, float a) {
    for (size_t i = 0; i < n; i++) v[i] = uniform(a);
}

/* The SIMD levels this CPU runs (hw_simd_force caps a request at what the CPU has). */
static int levels[3], n_levels;
static const char *level_name(int l) {
    return l == HW_SIMD_AVX512 ? "avx512" : l == HW_SIMD_AVX2 ? "avx2" : "c";
}
static void find_levels(void) {
    for (int l = HW_SIMD_C; l <= HW_SIMD_AVX512; l++)
        if (hw_simd_force(l) == l) levels[n_levels++] = l;
    hw_simd_force(-1);
}

/* ---------------------------------------------------------------- matvec */

static const int MV_R[] = {1, 3, 100};
static const int MV_K[] = {1, 7, 15, 16, 17, 64, 172, 1000};
#define N_OF(a) (int)(sizeof(a) / sizeof(a)[0])

static void matvec_matches_double_reference(void) {
    for (int li = 0; li < n_levels; li++) {
        hw_simd_force(levels[li]);
        for (int ri = 0; ri < N_OF(MV_R); ri++)
            for (int ki = 0; ki < N_OF(MV_K); ki++) {
                const int R = MV_R[ri], K = MV_K[ki];
                float *w = malloc(sizeof(float) * R * K), *x = malloc(sizeof(float) * K);
                float *y = malloc(sizeof(float) * (R + 1));
                fill(w, (size_t)R * K, 1.0f);
                fill(x, K, 1.0f);
                y[R] = 12345.0f; /* guard past the end */
                hw_matvec(y, w, x, R, K);
                double worst = 0;
                for (int r = 0; r < R; r++) {
                    double ref = 0, mag = 0;
                    for (int k = 0; k < K; k++) {
                        ref += (double)w[(size_t)r * K + k] * x[k];
                        mag += fabs((double)w[(size_t)r * K + k] * x[k]);
                    }
                    double e = fabs(y[r] - ref) / (mag > 0 ? mag : 1);
                    if (!(e <= worst)) worst = e; /* NaN sticks */
                }
                double bound = ((K + 15) / 16 + 32) * U;
                CHECK(worst <= bound, "%s R %d K %d: normalised error %.3g > %.3g",
                      level_name(levels[li]), R, K, worst, bound);
                CHECK(y[R] == 12345.0f, "%s R %d K %d: wrote past y", level_name(levels[li]), R,
                      K);
                free(w), free(x), free(y);
            }
    }
    hw_simd_force(-1);
}

/* The AVX-512 and AVX2 paths sum the same 16 lanes in the same order: same bits. */
static void matvec_avx512_equals_avx2_bitwise(void) {
    if (hw_simd_force(HW_SIMD_AVX512) != HW_SIMD_AVX512) {
        fprintf(stderr, "  no AVX-512 on this CPU: nothing to compare\n");
        hw_simd_force(-1);
        return;
    }
    static const int R[] = {1, 2, 3, 5, 100, 257, 2048};
    static const int K[] = {1, 7, 16, 33, 64, 172, 768, 1000};
    for (int ri = 0; ri < N_OF(R); ri++)
        for (int ki = 0; ki < N_OF(K); ki++) {
            const int r = R[ri], k = K[ki];
            float *w = malloc(sizeof(float) * r * k), *x = malloc(sizeof(float) * k);
            float *a = malloc(sizeof(float) * r), *b = malloc(sizeof(float) * r);
            fill(w, (size_t)r * k, 1.0f);
            fill(x, k, 3.0f);
            hw_simd_force(HW_SIMD_AVX512);
            hw_matvec(a, w, x, r, k);
            hw_simd_force(HW_SIMD_AVX2);
            hw_matvec(b, w, x, r, k);
            int differ = 0;
            for (int i = 0; i < r; i++) differ += memcmp(&a[i], &b[i], sizeof(float)) != 0;
            CHECK(differ == 0, "R %d K %d: %d of %d rows differ", r, k, differ, r);
            free(w), free(x), free(a), free(b);
        }
    hw_simd_force(-1);
}

/* Each row's sum does not depend on the rows computed with it (pairs, halves of a
 * chunk, the odd row out): the property that makes thread counts irrelevant. */
static void matvec_row_independent_of_neighbours(void) {
    for (int li = 0; li < n_levels; li++) {
        hw_simd_force(levels[li]);
        const int R = 103, K = 172;
        float *w = malloc(sizeof(float) * R * K), *x = malloc(sizeof(float) * K);
        float *y = malloc(sizeof(float) * R);
        fill(w, (size_t)R * K, 1.0f);
        fill(x, K, 1.0f);
        hw_matvec(y, w, x, R, K);
        int differ = 0;
        for (int r = 0; r < R; r++) {
            float one;
            hw_matvec(&one, w + (size_t)r * K, x, 1, K);
            differ += memcmp(&one, &y[r], sizeof one) != 0;
        }
        CHECK(differ == 0, "%s: %d rows differ when computed alone", level_name(levels[li]),
              differ);
        free(w), free(x), free(y);
    }
    hw_simd_force(-1);
}

/* 1 thread = 2 threads = 3 threads, bit for bit, on shapes of many pool chunks. */
static void matvec_same_bits_any_thread_count(void) {
    static const int R[] = {2048, 32000, 771};
    static const int K[] = {768, 288, 2048};
    for (int i = 0; i < N_OF(R); i++) {
        const int r = R[i], k = K[i];
        float *w = malloc(sizeof(float) * r * k), *x = malloc(sizeof(float) * k);
        float *y1 = malloc(sizeof(float) * r), *y2 = malloc(sizeof(float) * r);
        fill(w, (size_t)r * k, 1.0f);
        fill(x, k, 1.0f);
        hw_set_threads(1);
        hw_matvec(y1, w, x, r, k);
        for (int t = 2; t <= 3; t++) {
            hw_set_threads(t);
            for (int rep = 0; rep < 5; rep++) {
                memset(y2, 0xff, sizeof(float) * r); /* NaNs: a row left unwritten shows */
                hw_matvec(y2, w, x, r, k);
                CHECK(memcmp(y1, y2, sizeof(float) * r) == 0, "R %d K %d: %d threads differ", r,
                      k, t);
            }
        }
        free(w), free(x), free(y1), free(y2);
    }
    hw_set_threads(0);
}

/* ---------------------------------------------------------------- attention */

/* Row i of the reference sees keys [max(0, end + i - window), end + i). */
static void attend_reference(double *z, const float *q, int qs, const float *K, const float *V,
                             int R, int end, int window, int Dh, float scale) {
    for (int i = 0; i < R; i++) {
        const int e = end + i, first = e > window ? e - window : 0;
        double mx = -INFINITY, sum = 0;
        double *s = malloc(sizeof(double) * (e - first));
        for (int j = first; j < e; j++) {
            double d = 0;
            for (int k = 0; k < Dh; k++) d += (double)q[(size_t)i * qs + k] * K[(size_t)j * Dh + k];
            s[j - first] = d * scale;
            if (s[j - first] > mx) mx = s[j - first];
        }
        for (int j = first; j < e; j++) sum += s[j - first] = exp(s[j - first] - mx);
        for (int k = 0; k < Dh; k++) {
            double acc = 0;
            for (int j = first; j < e; j++) acc += s[j - first] * V[(size_t)j * Dh + k];
            z[(size_t)i * Dh + k] = acc / sum;
        }
        free(s);
    }
}

/*
 * Error bound: the output is a convex mix of V rows (|V| <= 1 here), so its error is
 * about the relative error of the weights p_j = exp(s_j - m) / sum. That comes mostly
 * from the scores s = scale q.k, dot products of Dh terms whose rounding errors grow
 * like sqrt(Dh) u |s| (a few 1e-6 at worst for |s| up to ~15 and Dh = 264), plus an
 * exp within 2 ulp and the rounding of sums of S terms. Measured worst over these
 * cases: 2.6e-6 (AVX-512, Dh 256); bound 1e-5. A key too many or too few, or a
 * missed rescale, moves outputs by ~1e-2.
 */
#define ATT_TOL 1e-5

/* Every level the CPU has; below AVX-512 the kernel is plain C, one row at a time. */
static void attend_matches_double_reference(void) {
    static const int RS[] = {1, 5, 8, 15, 16, 17, 40};
    static const int DH[] = {8, 24, 64, 80, 128, 256, 264};
    static const int END[] = {1, 2, 37};          /* end - 1 keys cached before row 0 */
    static const int WIN[] = {INT_MAX, 1, 3, 20, 1000};
    for (int li = 0; li < n_levels; li++) {
        hw_simd_force(levels[li]);
        double worst = 0;
        int bad = 0, cases = 0;
        for (int a = 0; a < N_OF(RS); a++)
            for (int b = 0; b < N_OF(DH); b++)
                for (int c = 0; c < N_OF(END); c++)
                    for (int d = 0; d < N_OF(WIN); d++) {
                        const int R = RS[a], Dh = DH[b], end = END[c], win = WIN[d];
                        const int S = end + R - 1, qs = Dh + 5, zs = Dh + 3;
                        /* Scores of std 2/3 sqrt(Dh/8) (0.7 at Dh 8, 3.8 at Dh 256:
                         * peaked rows) or 0.15 of that (flat rows). */
                        const float qa = (a + b + c) % 2 ? 2.0f : 0.3f;
                        const float scale = 1.0f / sqrtf((float)Dh);
                        float *q = malloc(sizeof(float) * R * qs);
                        float *Kc = malloc(sizeof(float) * S * Dh), *Vc = malloc(sizeof(float) * S * Dh);
                        float *z = malloc(sizeof(float) * R * zs), *att = malloc(sizeof(float) * S);
                        double *ref = malloc(sizeof(double) * R * Dh);
                        fill(q, (size_t)R * qs, qa * sqrtf((float)Dh / 8));
                        fill(Kc, (size_t)S * Dh, 1.0f);
                        fill(Vc, (size_t)S * Dh, 1.0f);
                        for (int i = 0; i < R * zs; i++) z[i] = 777.0f; /* guards between rows */
                        hw_attend_rows(z, zs, q, qs, Kc, Vc, R, end, win, Dh, scale, att);
                        attend_reference(ref, q, qs, Kc, Vc, R, end, win, Dh, scale);
                        double e = 0;
                        int guard = 0;
                        for (int i = 0; i < R; i++) {
                            for (int k = 0; k < Dh; k++) {
                                double df = fabs(z[(size_t)i * zs + k] - ref[(size_t)i * Dh + k]);
                                if (!(df <= e)) e = df;
                            }
                            for (int k = Dh; k < zs; k++) guard += z[(size_t)i * zs + k] != 777.0f;
                        }
                        cases++;
                        if (!(e <= worst)) worst = e;
                        if (!(e <= ATT_TOL) || guard) {
                            if (bad++ < 5)
                                fprintf(stderr,
                                        "  %s R %d Dh %d end %d window %d: max-abs %.3g, %d "
                                        "guard values overwritten\n",
                                        level_name(levels[li]), R, Dh, end, win, e, guard);
                        }
                        free(q), free(Kc), free(Vc), free(z), free(att), free(ref);
                    }
        CHECK(bad == 0, "%s: %d of %d cases over %g or writing outside z rows",
              level_name(levels[li]), bad, cases, ATT_TOL);
        fprintf(stderr, "  %s: %d cases, worst max-abs error %.3g\n", level_name(levels[li]),
                cases, worst);
    }
    hw_simd_force(-1);
}

/* A long context: many key chunks of the blocked kernel, running max rescaled often
 * (scores rise along the keys), against the reference. */
static void attend_long_context(void) {
    const int R = 33, end = 700, Dh = 64, S = end + R - 1;
    const float scale = 1.0f / 8;
    float *q = malloc(sizeof(float) * R * Dh), *Kc = malloc(sizeof(float) * S * Dh);
    float *Vc = malloc(sizeof(float) * S * Dh), *z = malloc(sizeof(float) * R * Dh);
    float *att = malloc(sizeof(float) * S);
    double *ref = malloc(sizeof(double) * R * Dh);
    fill(q, (size_t)R * Dh, 1.0f);
    for (int i = 0; i < R * Dh; i += Dh) q[i] = 8.0f; /* dimension 0 picks up the ramp */
    fill(Kc, (size_t)S * Dh, 1.0f);
    for (int j = 0; j < S; j++) Kc[(size_t)j * Dh] = 10.0f * j / S;
    fill(Vc, (size_t)S * Dh, 1.0f);
    for (int li = 0; li < n_levels; li++) {
        hw_simd_force(levels[li]);
        for (int w = 0; w < 2; w++) {
            const int win = w ? 300 : INT_MAX;
            hw_attend_rows(z, Dh, q, Dh, Kc, Vc, R, end, win, Dh, scale, att);
            attend_reference(ref, q, Dh, Kc, Vc, R, end, win, Dh, scale);
            double e = 0;
            for (int i = 0; i < R * Dh; i++) {
                double d = fabs(z[i] - ref[i]);
                if (!(d <= e)) e = d;
            }
            CHECK(e <= ATT_TOL, "%s window %d: max-abs %.3g", level_name(levels[li]), win, e);
        }
    }
    hw_simd_force(-1);
    free(q), free(Kc), free(Vc), free(z), free(att), free(ref);
}

/* ---------------------------------------------------------------- matmul, norms */

/* hw_matmul on every path (T = 1: the matrix-vector kernel; T > 1: OpenBLAS sgemm,
 * with a bias as beta = 1 over rows that start as the bias), with and without a bias,
 * against double. y starts as NaN: nothing of it may leak into the result. sgemm may
 * sum each output in one chain along K: bound (K + 32) u (sum |w x| + |b|). */
static void matmul_with_and_without_bias(void) {
#ifdef __SANITIZE_THREAD__
    /* tests/pool_tsan_test.sh: OpenBLAS's threads are not instrumented, so ThreadSanitizer
     * would report every sgemm; only the matrix-vector path (T = 1) runs there. */
    static const int TS[] = {1};
#else
    static const int TS[] = {1, 2, 5, 64};
#endif
    static const int RK[][2] = {{1, 1}, {3, 7}, {100, 172}, {257, 1000}, {768, 768}};
    for (int a = 0; a < N_OF(TS); a++)
        for (int b = 0; b < N_OF(RK); b++)
            for (int with_bias = 0; with_bias < 2; with_bias++) {
                const int T = TS[a], R = RK[b][0], K = RK[b][1];
                float *w = malloc(sizeof(float) * R * K), *x = malloc(sizeof(float) * T * K);
                float *bias = malloc(sizeof(float) * R), *y = malloc(sizeof(float) * T * R);
                fill(w, (size_t)R * K, 1.0f);
                fill(x, (size_t)T * K, 1.0f);
                fill(bias, R, 2.0f);
                memset(y, 0xff, sizeof(float) * T * R); /* NaN */
                hw_matrix m = {.dtype = HW_F32, .rows = R, .cols = K, .f32 = w};
                hw_matmul(y, x, &m, with_bias ? bias : NULL, T);
                int bad = 0;
                for (int t = 0; t < T; t++)
                    for (int r = 0; r < R; r++) {
                        double ref = with_bias ? bias[r] : 0, mag = with_bias ? fabs(bias[r]) : 0;
                        for (int k = 0; k < K; k++) {
                            double p = (double)w[(size_t)r * K + k] * x[(size_t)t * K + k];
                            ref += p, mag += fabs(p);
                        }
                        double e = fabs(y[(size_t)t * R + r] - ref);
                        bad += !(e <= (K + 32) * U * mag);
                    }
                CHECK(bad == 0, "T %d R %d K %d bias %d: %d of %d outputs off", T, R, K, with_bias,
                      bad, T * R);
                free(w), free(x), free(bias), free(y);
            }
}

/* RMSNorm and LayerNorm against double, rows with a large common offset (LayerNorm's
 * two passes), n from 1 to past a vector multiple. Bounds, relative to |w xhat| + |b|:
 * RMSNorm (n/16 + 32) u (its sum of squares is a 16-lane float sum); LayerNorm 8 u
 * (double statistics; then a cast, two products and a sum in float). */
static void norms_match_double_reference(void) {
    static const int TS[] = {1, 3, 100};
    static const int NS[] = {1, 7, 64, 768, 1000};
    for (int a = 0; a < N_OF(TS); a++)
        for (int b = 0; b < N_OF(NS); b++) {
            const int T = TS[a], n = NS[b];
            float *x = malloc(sizeof(float) * T * n), *y = malloc(sizeof(float) * T * n);
            float *w = malloc(sizeof(float) * n), *bias = malloc(sizeof(float) * n);
            fill(x, (size_t)T * n, 1.0f);
            for (int i = 0; i < T * n; i++) x[i] += 30.0f; /* offset: mean 30, spread 1 */
            fill(w, n, 2.0f);
            fill(bias, n, 1.0f);
            const float eps = 1e-5f;
            int bad_rms = 0, bad_ln = 0;
            hw_rmsnorm(y, x, w, T, n, eps);
            for (int t = 0; t < T; t++) {
                const float *xt = x + (size_t)t * n;
                double ss = 0;
                for (int i = 0; i < n; i++) ss += (double)xt[i] * xt[i];
                const double inv = 1 / sqrt(ss / n + eps);
                for (int i = 0; i < n; i++) {
                    const double ref = w[i] * (xt[i] * inv);
                    bad_rms += !(fabs(y[(size_t)t * n + i] - ref) <= (n / 16 + 32) * U * fabs(ref));
                }
            }
            hw_layernorm(y, x, w, bias, T, n, eps);
            for (int t = 0; t < T; t++) {
                const float *xt = x + (size_t)t * n;
                double mean = 0, var = 0;
                for (int i = 0; i < n; i++) mean += xt[i];
                mean /= n;
                for (int i = 0; i < n; i++) var += (xt[i] - mean) * (xt[i] - mean);
                const double inv = 1 / sqrt(var / n + eps);
                for (int i = 0; i < n; i++) {
                    const double wx = w[i] * ((xt[i] - mean) * inv), ref = wx + bias[i];
                    bad_ln += !(fabs(y[(size_t)t * n + i] - ref) <= 8 * U * (fabs(wx) + fabs(bias[i])));
                }
            }
            CHECK(bad_rms == 0 && bad_ln == 0, "T %d n %d: %d RMSNorm, %d LayerNorm values off", T,
                  n, bad_rms, bad_ln);
            free(x), free(y), free(w), free(bias);
        }
}

/* Rows are shared between threads in prefill: 1 thread = 2 = 3, bit for bit. */
static void norms_same_bits_any_thread_count(void) {
    const int T = 517, n = 768;
    float *x = malloc(sizeof(float) * T * n), *w = malloc(sizeof(float) * n);
    float *b = malloc(sizeof(float) * n), *r1 = malloc(sizeof(float) * T * n);
    float *l1 = malloc(sizeof(float) * T * n), *y = malloc(sizeof(float) * T * n);
    fill(x, (size_t)T * n, 3.0f);
    fill(w, n, 1.0f);
    fill(b, n, 1.0f);
    hw_set_threads(1);
    hw_rmsnorm(r1, x, w, T, n, 1e-5f);
    hw_layernorm(l1, x, w, b, T, n, 1e-5f);
    for (int t = 2; t <= 3; t++) {
        hw_set_threads(t);
        memset(y, 0xff, sizeof(float) * T * n);
        hw_rmsnorm(y, x, w, T, n, 1e-5f);
        CHECK(memcmp(y, r1, sizeof(float) * T * n) == 0, "RMSNorm: %d threads differ", t);
        memset(y, 0xff, sizeof(float) * T * n);
        hw_layernorm(y, x, w, b, T, n, 1e-5f);
        CHECK(memcmp(y, l1, sizeof(float) * T * n) == 0, "LayerNorm: %d threads differ", t);
    }
    hw_set_threads(0);
    free(x), free(w), free(b), free(r1), free(l1), free(y);
}

/* ---------------------------------------------------------------- activations */

static const char *act_name(hw_activation a) {
    return a == HW_ACT_SILU_GATED ? "silu" : a == HW_ACT_GELU_TANH ? "gelu_tanh" : "gelu_erf";
}

/* Inputs: every multiple of 2^-10 in [-40, 40], 2000 magnitudes log-spaced over
 * [1e-38, 1e38] of both signs, and the extremes: +-0, +-FLT_MIN, +-the smallest
 * subnormal, +-FLT_MAX, +-200 (past every exp limit). */
static float *act_sweep(int *n) {
    float *x = malloc(sizeof(float) * 90000);
    int k = 0;
    for (int i = -40 * 1024; i <= 40 * 1024; i++) x[k++] = (float)i / 1024.0f;
    for (int i = 0; i < 2000; i++) {
        float m = powf(10.0f, -38.0f + 76.0f * (float)i / 1999.0f);
        x[k++] = m, x[k++] = -m;
    }
    const float ext[] = {0.0f, FLT_MIN, 1e-45f, FLT_MAX, 200.0f, 88.7f, 89.0f, 104.0f};
    for (int i = 0; i < N_OF(ext); i++) x[k++] = ext[i], x[k++] = -ext[i];
    *n = k;
    return x;
}

/* The sigmoid's argument: silu(x) = x sigmoid(x), gelu_tanh(x) = x sigmoid(2u). */
static double act_z(hw_activation act, double x) {
    return act == HW_ACT_SILU_GATED ? x
                                    : 2 * 0.7978845608028654 * (x + 0.044715 * x * x * x);
}

/* Exact in double, in forms without cancellation (1 + tanh cancels in double too). */
static double act_ref(hw_activation act, double x) {
    if (act == HW_ACT_GELU_EXACT) return 0.5 * x * erfc(-x / sqrt(2.0));
    double z = act_z(act, x);
    return z >= 0 ? x / (1 + exp(-z)) : x * exp(z) / (1 + exp(z));
}

/* Relative bound against act_ref. GELU tanh's argument z = 2u is computed in float
 * (x^2, one fma, one product, float constants): a relative error of a few u, which
 * e^-|z| turns into |z| times that in the tail (z ~ 87 at x = -10). */
static double act_tol(hw_activation act, double x) {
    return act == HW_ACT_GELU_TANH ? 1e-6 + 2e-7 * fabs(act_z(act, x)) : 1e-6;
}

/* Run hw_activate on x (n): out = act(x), or 1 * silu(x) for the gated form. */
static void act_run(float *out, const float *x, int n, hw_activation act) {
    float *gate = malloc(sizeof(float) * n);
    for (int i = 0; i < n; i++) {
        gate[i] = x[i];
        out[i] = act == HW_ACT_SILU_GATED ? 1.0f : x[i];
    }
    hw_activate(out, gate, (size_t)n, act);
    free(gate);
}

/* At each SIMD level: |y - exact| <= act_tol |exact| + 1e-40 (in the far tails, e^-|z|
 * is subnormal: an absolute error of |x| 2^-150 at most), and no NaN for any finite
 * input. */
static void activations_match_double_reference(void) {
    int n;
    float *x = act_sweep(&n), *y = malloc(sizeof(float) * n);
    for (int li = 0; li < n_levels; li++) {
        if (levels[li] == HW_SIMD_C) continue; /* the scalar forms: next case */
        hw_simd_force(levels[li]);
        for (int a = 0; a < 3; a++) {
            const hw_activation act = (hw_activation)a;
            act_run(y, x, n, act);
            double worst = 0, at = 0;
            int bad = 0, nan = 0;
            for (int i = 0; i < n; i++) {
                const double r = act_ref(act, x[i]), e = fabs(y[i] - r);
                nan += isnan(y[i]);
                const int ok = e <= act_tol(act, x[i]) * fabs(r) + 1e-40;
                if (!ok && bad++ < 3)
                    fprintf(stderr, "  %s %s(%.9g) = %.9g, exact %.9g\n", level_name(levels[li]),
                            act_name(act), x[i], y[i], r);
                if (fabs(r) >= 1e-30 && e / fabs(r) > worst) worst = e / fabs(r), at = x[i];
            }
            CHECK(bad == 0 && nan == 0, "%s %s: %d of %d values out of bounds, %d NaN",
                  level_name(levels[li]), act_name(act), bad, n, nan);
            fprintf(stderr, "  %s %s: worst relative error %.3g at x = %.6g (|exact| >= 1e-30)\n",
                    level_name(levels[li]), act_name(act), worst, at);
        }
    }
    hw_simd_force(-1);
    free(x), free(y);
}

/* At each level, against the scalar forms of ops.c (hw_silu, hw_gelu_tanh,
 * hw_gelu_exact), which lose up to 2^-24 |x| to cancellation in 1 + tanhf and
 * 1 + erff: |y - scalar| <= 2e-6 |scalar| + 2^-23 |x| + 1e-36. The gated product is
 * checked with random multipliers. */
static void activations_match_scalar_functions(void) {
    int n;
    float *x = act_sweep(&n), *y = malloc(sizeof(float) * n), *up = malloc(sizeof(float) * n);
    for (int li = 0; li < n_levels; li++) {
        hw_simd_force(levels[li]);
        for (int a = 0; a < 3; a++) {
            const hw_activation act = (hw_activation)a;
            for (int i = 0; i < n; i++) up[i] = y[i] = act == HW_ACT_SILU_GATED ? uniform(4.0f) : x[i];
            hw_activate(y, x, (size_t)n, act);
            int bad = 0;
            for (int i = 0; i < n; i++) {
                const float s = act == HW_ACT_SILU_GATED ? up[i] * hw_silu(x[i])
                                : act == HW_ACT_GELU_TANH ? hw_gelu_tanh(x[i])
                                                          : hw_gelu_exact(x[i]);
                const double scale = act == HW_ACT_SILU_GATED ? fabs(up[i]) : 1.0;
                const double e = fabs((double)y[i] - s);
                if (isnan(s) || y[i] == s) continue; /* also: both inf (up * FLT_MAX) */
                if (!(e <= 2e-6 * fabs(s) + scale * ldexp(fabs(x[i]), -23) + 1e-36) && bad++ < 3)
                    fprintf(stderr, "  %s %s(%.9g): %.9g, scalar %.9g\n", level_name(levels[li]),
                            act_name(act), x[i], y[i], s);
            }
            CHECK(bad == 0, "%s %s: %d of %d values off the scalar form", level_name(levels[li]),
                  act_name(act), bad, n);
        }
    }
    hw_simd_force(-1);
    free(x), free(y), free(up);
}

static void activations_avx512_equal_avx2_bitwise(void) {
    if (hw_simd_force(HW_SIMD_AVX512) != HW_SIMD_AVX512) {
        fprintf(stderr, "  no AVX-512 on this CPU: nothing to compare\n");
        hw_simd_force(-1);
        return;
    }
    int n;
    float *x = act_sweep(&n), *a = malloc(sizeof(float) * n), *b = malloc(sizeof(float) * n);
    for (int k = 0; k < 3; k++) {
        const hw_activation act = (hw_activation)k;
        hw_simd_force(HW_SIMD_AVX512);
        act_run(a, x, n, act);
        hw_simd_force(HW_SIMD_AVX2);
        act_run(b, x, n, act);
        int differ = 0;
        for (int i = 0; i < n; i++) differ += memcmp(&a[i], &b[i], sizeof(float)) != 0;
        CHECK(differ == 0, "%s: %d of %d values differ", act_name(act), differ, n);
    }
    hw_simd_force(-1);
    free(x), free(a), free(b);
}

/* 1, 2 or 3 threads, or the array done in pieces at odd offsets (vector tails in the
 * middle): the same bits. n is past the threshold where threads share the work. */
static void activations_same_bits_any_threads_or_split(void) {
    const int n = 1000003;
    float *x = malloc(sizeof(float) * n), *g = malloc(sizeof(float) * n);
    float *ref = malloc(sizeof(float) * n), *y = malloc(sizeof(float) * n);
    fill(x, n, 8.0f);
    fill(g, n, 8.0f);
    for (int li = 0; li < n_levels; li++) {
        hw_simd_force(levels[li]);
        for (int k = 0; k < 3; k++) {
            const hw_activation act = (hw_activation)k;
            hw_set_threads(1);
            memcpy(ref, x, sizeof(float) * n);
            hw_activate(ref, g, (size_t)n, act);
            for (int t = 2; t <= 3; t++) {
                hw_set_threads(t);
                memcpy(y, x, sizeof(float) * n);
                hw_activate(y, g, (size_t)n, act);
                CHECK(memcmp(y, ref, sizeof(float) * n) == 0, "%s %s: %d threads differ",
                      level_name(levels[li]), act_name(act), t);
            }
            memcpy(y, x, sizeof(float) * n);
            static const int cut[] = {0, 1, 8, 37, 100, 4099, 70001, 1000003};
            for (int c = 0; c + 1 < N_OF(cut); c++)
                hw_activate(y + cut[c], g + cut[c], (size_t)(cut[c + 1] - cut[c]), act);
            CHECK(memcmp(y, ref, sizeof(float) * n) == 0, "%s %s: pieces differ",
                  level_name(levels[li]), act_name(act));
        }
    }
    hw_set_threads(0);
    hw_simd_force(-1);
    free(x), free(g), free(ref), free(y);
}

int main(void) {
    find_levels();
    fprintf(stderr, "  SIMD levels on this CPU:");
    for (int i = 0; i < n_levels; i++) fprintf(stderr, " %s", level_name(levels[i]));
    fprintf(stderr, "\n");
    RUN(matvec_matches_double_reference);
    RUN(matvec_avx512_equals_avx2_bitwise);
    RUN(matvec_row_independent_of_neighbours);
    RUN(matvec_same_bits_any_thread_count);
    RUN(attend_matches_double_reference);
    RUN(attend_long_context);
    RUN(matmul_with_and_without_bias);
    RUN(norms_match_double_reference);
    RUN(norms_same_bits_any_thread_count);
    RUN(activations_match_double_reference);
    RUN(activations_match_scalar_functions);
    RUN(activations_avx512_equal_avx2_bitwise);
    RUN(activations_same_bits_any_threads_or_split);
    CHECK_DONE();
}

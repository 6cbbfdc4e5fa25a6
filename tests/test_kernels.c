/*
 * test_kernels.c: the SIMD kernels of src/core/simd.c against double-precision
 * references, on awkward shapes, at every SIMD level the CPU has (hw_simd_force):
 * matrix-vector products, causal attention with cached prefixes and sliding windows.
 *
 * Tolerances are normalised so they hold for any data, not tuned to one seed:
 * - matvec: |y - y_ref| <= (ceil(K/16) + 32) u sum_k |w_k x_k|, u = 2^-24. Each
 *   product passes through at most ceil(K/16) fused multiply-adds in its lane, then
 *   4 tree additions (SIMD paths), or a multiply, ceil(K/16) adds, 15 lane adds and
 *   15 tail adds (plain C); the first-order rounding bound of a sum is u times the
 *   number of roundings a term passes through, times sum |term|.
 * - attention: max-abs error <= 1e-5 with |V| <= 1 (see ATT_TOL).
 */
#include "check.h"
#include "internal.h"

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
    CHECK_DONE();
}

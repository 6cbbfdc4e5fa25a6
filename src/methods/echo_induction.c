/*
 * echo_induction.c: RazorAttention's head probe (methods.md section 3.1, Tang et al.
 * 2024): echo heads attend to earlier copies of the current token, induction heads to
 * the token that followed them; the top of each ranking keeps a full KV cache.
 */
#include "internal.h"

#include <math.h>
#include <stdlib.h>

/* Section 3.1 scores. Position i >= first + block is in a later repetition; its
 * earlier copies are j = i - k*block (k >= 1, j >= first); echo reads A[i, j] and
 * induction A[i, j + 1]. The sum is divided by T*T, not by the number of mask
 * entries, as the reference code takes a plain mean over the masked matrix. */
hw_status hw_echo_induction_scores(const float *pattern, int H, int Tq, int P, int q0, int T,
                                   int first, int block, double *echo, double *induction) {
    if (H <= 0 || T <= 0 || first < 0 || block <= 0 || first + block > T || q0 < 0 ||
        Tq < 0 || q0 + Tq > T || P < q0 + Tq)
        return hw_fail(HW_ERR_ARG, "echo/induction: bad probe shape (H %d, rows %d..%d of %d, "
                       "keys %d, first %d, block %d)", H, q0, q0 + Tq, T, P, first, block);
    double norm = (double)T * T;
    for (int h = 0; h < H; h++) {
        double e = 0, ind = 0;
        for (int r = 0; r < Tq; r++) {
            int i = q0 + r;
            if (i < first + block) continue;
            const float *row = pattern + ((size_t)h * Tq + r) * P;
            for (int j = i - block; j >= first; j -= block) {
                e += row[j];
                ind += row[j + 1];
            }
        }
        echo[h] += e / norm;
        induction[h] += ind / norm;
    }
    return HW_OK;
}

hw_status hw_scores_per_kv(const double *per_q, int L, int H, int Hk, int use_max,
                           double *per_kv) {
    if (L <= 0 || H <= 0 || Hk <= 0 || H % Hk)
        return hw_fail(HW_ERR_ARG, "per-KV-head scores: %d query heads do not split into %d "
                       "KV heads", H, Hk);
    int G = H / Hk;
    for (int l = 0; l < L; l++)
        for (int k = 0; k < Hk; k++) {
            const double *g = per_q + (size_t)l * H + (size_t)k * G;
            double acc = g[0];
            for (int i = 1; i < G; i++) acc = use_max ? fmax(acc, g[i]) : acc + g[i];
            per_kv[(size_t)l * Hk + k] = use_max ? acc : acc / G;
        }
    return HW_OK;
}

/* a before b: NaN last, then higher first, then the lower index. */
static int ranks_before(const double *s, int a, int b) {
    double x = s[a], y = s[b];
    int xn = x != x, yn = y != y;
    if (xn != yn) return yn;
    if (!xn && x != y) return x > y;
    return a < b;
}

/* A stable merge sort of indices (qsort has no user pointer in C11). */
void hw_scores_rank(const double *score, int n, int *order) {
    for (int i = 0; i < n; i++) order[i] = i;
    int *tmp = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    if (!tmp) { /* fall back to insertion sort */
        for (int i = 1; i < n; i++)
            for (int j = i; j > 0 && ranks_before(score, order[j], order[j - 1]); j--) {
                int t = order[j]; order[j] = order[j - 1]; order[j - 1] = t;
            }
        return;
    }
    for (int w = 1; w < n; w *= 2) {
        for (int lo = 0; lo < n; lo += 2 * w) {
            int mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            int a = lo, b = mid, k = lo;
            while (a < mid && b < hi)
                tmp[k++] = ranks_before(score, order[b], order[a]) ? order[b++] : order[a++];
            while (a < mid) tmp[k++] = order[a++];
            while (b < hi) tmp[k++] = order[b++];
        }
        for (int i = 0; i < n; i++) order[i] = tmp[i];
    }
    free(tmp);
}

/* Section 3.1 selection: top round(N * 0.14) by induction united with the top
 * round(N * 0.01) by echo (the RAConfig defaults), N the number of KV heads. */
int hw_razor_select(const double *echo, const double *induction, int n, double echo_ratio,
                    double induction_ratio, int *keep) {
    int *order = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    if (!order) return -1;
    for (int i = 0; i < n; i++) keep[i] = 0;
    int n_ind = (int)lround(n * induction_ratio), n_echo = (int)lround(n * echo_ratio);
    if (n_ind > n) n_ind = n;
    if (n_echo > n) n_echo = n;
    hw_scores_rank(induction, n, order);
    for (int i = 0; i < n_ind; i++) keep[order[i]] = 1;
    hw_scores_rank(echo, n, order);
    for (int i = 0; i < n_echo; i++) keep[order[i]] = 1;
    free(order);
    int kept = 0;
    for (int i = 0; i < n; i++) kept += keep[i];
    return kept;
}

/*
 * linalg.c: thin QR and a square SVD in double (linalg.h). One-sided Jacobi is slow for
 * big matrices but exact to the last bits for a head's Dh x Dh core, and it needs no
 * library beyond the C one.
 */
#include "linalg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double dotd(const double *a, const double *b, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* q (m) minus its projections on the first j columns of Q, twice; its norm after. */
static double orthogonalise(double *q, const double *Q, int m, int j, double *r) {
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < j; i++) {
            double c = dotd(Q + (size_t)i * m, q, m);
            if (r) r[i] += c;
            for (int k = 0; k < m; k++) q[k] -= c * Q[(size_t)i * m + k];
        }
    return sqrt(dotd(q, q, m));
}

/* Column j of Q: a unit vector orthogonal to columns 0..j-1 (j < m), from the basis. */
static void complete(double *Q, int m, int j) {
    double *q = Q + (size_t)j * m;
    for (int e = 0; e < m; e++) {
        memset(q, 0, sizeof(double) * (size_t)m);
        q[e] = 1;
        double nrm = orthogonalise(q, Q, m, j, NULL);
        if (nrm > 0.5) {
            for (int k = 0; k < m; k++) q[k] /= nrm;
            return;
        }
    }
}

void hw_qr_thin(const double *A, int m, int n, double *Q, double *R) {
    memset(R, 0, sizeof(double) * (size_t)n * n);
    for (int j = 0; j < n; j++) {
        double *q = Q + (size_t)j * m, *r = R + (size_t)j * n;
        memcpy(q, A + (size_t)j * m, sizeof(double) * (size_t)m);
        double a = sqrt(dotd(q, q, m));
        double nrm = orthogonalise(q, Q, m, j, r);
        if (nrm <= 1e-13 * a || nrm == 0) {
            complete(Q, m, j);   /* dependent (or zero) column: R's diagonal stays 0 */
            continue;
        }
        r[j] = nrm;
        for (int k = 0; k < m; k++) q[k] /= nrm;
    }
}

/* One-sided Jacobi: rotate column pairs of W (= A V) until all are orthogonal. */
static void jacobi(double *W, double *V, int n) {
    for (int sweep = 0; sweep < 60; sweep++) {
        int rotated = 0;
        for (int p = 0; p < n - 1; p++)
            for (int q = p + 1; q < n; q++) {
                double *wp = W + (size_t)p * n, *wq = W + (size_t)q * n;
                double a = dotd(wp, wp, n), b = dotd(wq, wq, n), g = dotd(wp, wq, n);
                if (fabs(g) <= 1e-15 * sqrt(a * b) || g == 0) continue;
                rotated = 1;
                double zeta = (b - a) / (2 * g);
                double t = (zeta >= 0 ? 1 : -1) / (fabs(zeta) + sqrt(1 + zeta * zeta));
                double c = 1 / sqrt(1 + t * t), s = c * t;
                for (int k = 0; k < n; k++) {
                    double x = wp[k], y = wq[k];
                    wp[k] = c * x - s * y;
                    wq[k] = s * x + c * y;
                    x = V[(size_t)p * n + k];
                    y = V[(size_t)q * n + k];
                    V[(size_t)p * n + k] = c * x - s * y;
                    V[(size_t)q * n + k] = s * x + c * y;
                }
            }
        if (!rotated) break;
    }
}

void hw_svd_square(const double *A, int n, double *U, double *s, double *V, double *work) {
    double *W = work;
    memcpy(W, A, sizeof(double) * (size_t)n * n);
    memset(V, 0, sizeof(double) * (size_t)n * n);
    for (int i = 0; i < n; i++) V[(size_t)i * n + i] = 1;
    jacobi(W, V, n);
    /* columns by norm, largest first (selection: n is small) */
    for (int j = 0; j < n; j++) s[j] = sqrt(dotd(W + (size_t)j * n, W + (size_t)j * n, n));
    for (int j = 0; j < n; j++) {
        int best = j;
        for (int k = j + 1; k < n; k++)
            if (s[k] > s[best]) best = k;
        if (best == j) continue;
        double t = s[j];
        s[j] = s[best];
        s[best] = t;
        for (int k = 0; k < n; k++) {
            double *a = W + (size_t)j * n + k, *b = W + (size_t)best * n + k;
            t = *a, *a = *b, *b = t;
            a = V + (size_t)j * n + k, b = V + (size_t)best * n + k;
            t = *a, *a = *b, *b = t;
        }
    }
    double tiny = (s[0] > 0 ? s[0] : 1) * 1e-14 * n;
    for (int j = 0; j < n; j++) {
        if (s[j] <= tiny) {
            /* a null direction: any unit vector orthogonal to the others */
            complete(U, n, j);
            continue;
        }
        for (int k = 0; k < n; k++) U[(size_t)j * n + k] = W[(size_t)j * n + k] / s[j];
    }
}

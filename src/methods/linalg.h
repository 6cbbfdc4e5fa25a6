/* linalg.h: the small dense linear algebra of the head-subspace methods, in double: a thin
 * QR and an SVD by one-sided Jacobi rotations, for matrices of a head's size (Dh columns),
 * so that no LAPACK is needed. Matrices are stored as columns: column j of an (m x n)
 * matrix A is A[j*m .. j*m + m). */
#ifndef HW_LINALG_H
#define HW_LINALG_H

/* A (m x n, columns, m >= n) = Q R: Q (m x n) orthonormal columns, R (n x n) upper
 * triangular (columns: R[j*n + i] is row i of column j). Modified Gram-Schmidt run twice
 * per column; a column dependent on the ones before gets R's diagonal 0 and Q some unit
 * vector orthogonal to the others, so Q is always orthonormal. A is left as it was. */
void hw_qr_thin(const double *A, int m, int n, double *Q, double *R);

/* A (n x n, columns) = U diag(s) V^T by one-sided Jacobi (Hestenes): U and V (n x n,
 * columns) orthonormal, s descending and >= 0. work: n * n doubles. */
void hw_svd_square(const double *A, int n, double *U, double *s, double *V, double *work);

#endif

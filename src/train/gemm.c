/*
 * gemm.c: the training pass's large matrix products, split by rows of the output
 * between the pool's threads, each chunk one single-threaded sgemm.
 *
 * Why not OpenBLAS's own threads: a training step is ~30 products and ~1000 small
 * per-head ones; OpenBLAS's threads wait for each other at the end of every product,
 * so on a shared machine one descheduled thread stalls the step (measured: 2 threads
 * 2.5x slower than 1 with the other core busy). The pool's caller never waits for a
 * worker that has not started, and the per-head products already run on it. Chunk
 * boundaries are fixed, so the bits do not depend on the thread count.
 */
#include "train.h"

#include <cblas.h>

typedef struct {
    int trans_a, trans_b, N, K;
    float alpha, beta;
    const float *A, *B;
    int lda, ldb, ldc;
    float *C;
    int chunk;
} gemm_job;

/* One sgemm per chunk of j->chunk rows, however the pool groups them: OpenBLAS picks
 * its kernel by size, so the same rows must always go in the same call. */
static void gemm_rows(void *arg, int r0, int r1) {
    const gemm_job *j = arg;
    for (int r = r0; r < r1; r += j->chunk) {
        const int m = r1 - r < j->chunk ? r1 - r : j->chunk;
        /* Rows of op(A) are rows of A, or columns when A is transposed. */
        const float *a = j->trans_a ? j->A + r : j->A + (size_t)r * j->lda;
        cblas_sgemm(CblasRowMajor, j->trans_a ? CblasTrans : CblasNoTrans,
                    j->trans_b ? CblasTrans : CblasNoTrans, m, j->N, j->K, j->alpha, a, j->lda,
                    j->B, j->ldb, j->beta, j->C + (size_t)r * j->ldc, j->ldc);
    }
}

void hw_train_gemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                   int lda, const float *B, int ldb, float beta, float *C, int ldc) {
    /* About 8 chunks of whole 16-row blocks: each chunk packs the other operand again
     * (64 chunks spent a quarter of a step in OpenBLAS's copy routines), and 8 still
     * balance two to four threads. */
    int chunk = (M / 8 + 15) / 16 * 16;
    if (chunk < 16) chunk = 16;
    gemm_job j = {trans_a, trans_b, N, K, alpha, beta, A, B, lda, ldb, ldc, C, chunk};
    hw_parallel_range(gemm_rows, &j, M, chunk);
}

/* ---------------------------------------------------------------- weight gradients */

typedef struct {
    int R, K, N, chunk;
    const float *dy, *x;
    float *parts;               /* (HW_TRAIN_PARTS, R, K) */
    float *dW;
} wgrad_job;

static void wgrad_parts(void *arg, int p0, int p1) {
    const wgrad_job *j = arg;
    for (int p = p0; p < p1; p++) {
        const int n0 = p * j->chunk, n = j->N - n0 < j->chunk ? j->N - n0 : j->chunk;
        float *part = j->parts + (size_t)p * j->R * j->K;
        if (n <= 0) continue;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, j->R, j->K, n, 1.0f,
                    j->dy + (size_t)n0 * j->R, j->R, j->x + (size_t)n0 * j->K, j->K, 0.0f, part,
                    j->K);
    }
}

/* dW += the parts in order, element by element (rows of dW shared by the pool). */
static void wgrad_sum(void *arg, int r0, int r1) {
    const wgrad_job *j = arg;
    const int used = (j->N + j->chunk - 1) / j->chunk;
    for (int r = r0; r < r1; r++) {
        float *d = j->dW + (size_t)r * j->K;
        for (int p = 0; p < used; p++) {
            const float *part = j->parts + ((size_t)p * j->R + r) * j->K;
#pragma omp simd
            for (int k = 0; k < j->K; k++) d[k] += part[k];
        }
    }
}

void hw_train_gemm_wgrad(float *dW, const float *dy, const float *x, int N, int R, int K,
                         float *parts) {
    /* The sum over N rows in HW_TRAIN_PARTS fixed blocks of whole 16-row groups: each
     * block packs only its own rows of dy and x (splitting dW's rows instead packed all
     * of x once per chunk), and the blocks are added in order whatever the threads. */
    int chunk = (N / HW_TRAIN_PARTS + 15) / 16 * 16;
    if (chunk < 16) chunk = 16;
    wgrad_job j = {R, K, N, chunk, dy, x, parts, dW};
    hw_parallel_range(wgrad_parts, &j, HW_TRAIN_PARTS, 1);
    hw_parallel_range(wgrad_sum, &j, R, 16);
}

/* threads.c: one thread count for the pool and OpenMP kernels. OpenBLAS always runs on
 * one thread: every product is shared out by the pool in blocks fixed by its shape
 * (ops.c, train/gemm.c), so results do not depend on the thread count, and a
 * descheduled OpenBLAS thread cannot stall a whole product on a busy machine. */
#include "internal.h"

#include <cblas.h>
#include <omp.h>

static int n_threads = 0;

/* Checked before every product, so a program that set OpenBLAS's threads itself in
 * between (a benchmark's baseline) gets one thread back. */
void hw_blas_one_thread(void) {
    if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
}

void hw_set_threads(int n) {
    if (n <= 0) n = omp_get_num_procs();
    n_threads = n;
    omp_set_num_threads(n);
    hw_blas_one_thread();
}

int hw_get_threads(void) { return n_threads > 0 ? n_threads : omp_get_max_threads(); }

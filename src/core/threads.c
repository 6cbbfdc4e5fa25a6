/* threads.c: one thread count for OpenMP kernels and OpenBLAS. */
#include "internal.h"

#include <cblas.h>
#include <omp.h>

static int n_threads = 0;

void hw_set_threads(int n) {
    if (n <= 0) n = omp_get_num_procs();
    n_threads = n;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

int hw_get_threads(void) { return n_threads > 0 ? n_threads : omp_get_max_threads(); }

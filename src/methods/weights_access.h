/* weights_access.h: reading single rows and entries of a weight matrix whatever its
 * storage, for the methods that work on weights rather than activations. */
#ifndef HW_WEIGHTS_ACCESS_H
#define HW_WEIGHTS_ACCESS_H

#include "internal.h"

/* Entry (r, c) as f32: read directly for f32, else its block decoded (quant_kernels.c;
 * a whole block per entry, so loops over a row should use hw_matrix_row). */
static inline float hw_matrix_at(const hw_matrix *w, int r, int c) {
    return w->dtype == HW_F32 ? w->f32[(size_t)r * w->cols + c] : hw_matrix_value(w, r, c);
}

/* out (cols) = row r of w. */
static inline void hw_matrix_row(const hw_matrix *w, int r, float *out) {
    hw_matrix_rows_f32(w, r, 1, out);
}

#endif

/* weights_access.h: reading single rows and entries of a weight matrix whatever its
 * storage, for the methods that work on weights rather than activations. */
#ifndef HW_WEIGHTS_ACCESS_H
#define HW_WEIGHTS_ACCESS_H

#include "internal.h"

static inline float hw_matrix_at(const hw_matrix *w, int r, int c) {
    size_t i = (size_t)r * w->cols + c;
    return w->dtype == HW_F32 ? w->f32[i] : w->q[i] * w->scale[i / (size_t)w->group];
}

/* out (cols) = row r of w. */
static inline void hw_matrix_row(const hw_matrix *w, int r, float *out) {
    for (int c = 0; c < w->cols; c++) out[c] = hw_matrix_at(w, r, c);
}

#endif

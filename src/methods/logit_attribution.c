/*
 * logit_attribution.c: direct logit attribution (methods.md sections 6 and 9): the
 * residual-stream direction a component's output is dotted with to give its share of
 * a logit (difference), with the final norm's scale held at its value on the full
 * residual, so that the shares of all components add up to the logit (difference).
 */
#include "weights_access.h"

#include <math.h>
#include <stdlib.h>

hw_status hw_logit_direction(const hw_model *m, const int *pos, int n_pos, const int *neg,
                             int n_neg, const float *resid, float *dir) {
    const hw_config *cfg = &m->cfg;
    const int D = cfg->d_model;
    if (n_pos <= 0) return hw_fail(HW_ERR_ARG, "logit direction: no target token");
    float *row = malloc((size_t)D * sizeof(float));
    double *acc = calloc((size_t)D, sizeof(double));
    if (!row || !acc) {
        free(row);
        free(acc);
        return hw_fail(HW_ERR_NOMEM, "logit direction: out of memory");
    }
    for (int s = 0; s < 2; s++) {
        const int *t = s ? neg : pos;
        int n = s ? n_neg : n_pos;
        for (int i = 0; i < n; i++) {
            if (t[i] < 0 || t[i] >= cfg->vocab_size) {
                free(row);
                free(acc);
                return hw_fail(HW_ERR_ARG, "logit direction: token %d outside the vocabulary",
                               t[i]);
            }
            hw_matrix_row(&m->w.classifier, t[i], row);
            for (int k = 0; k < D; k++) acc[k] += (s ? -1.0 : 1.0) * row[k] / n;
        }
    }
    if (resid) {
        /* Section 9: divide by the final norm's scale computed on the full residual. For
         * LayerNorm the centring is linear too: (u - mean u) . a = u . (a - mean a). */
        double mean = 0, ss = 0;
        if (cfg->norm == HW_NORM_LAYER) {
            for (int k = 0; k < D; k++) mean += resid[k];
            mean /= D;
        }
        for (int k = 0; k < D; k++) ss += ((double)resid[k] - mean) * ((double)resid[k] - mean);
        double inv = 1.0 / sqrt(ss / D + cfg->norm_eps), amean = 0;
        for (int k = 0; k < D; k++) {
            acc[k] *= m->w.final_norm[k] * inv;
            amean += acc[k];
        }
        amean /= D;
        if (cfg->norm == HW_NORM_LAYER)
            for (int k = 0; k < D; k++) acc[k] -= amean;
    }
    for (int k = 0; k < D; k++) dir[k] = (float)acc[k];
    free(row);
    free(acc);
    return HW_OK;
}

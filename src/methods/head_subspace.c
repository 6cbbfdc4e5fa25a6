/*
 * head_subspace.c: a head's QK and OV circuits and their SVD (methods.md section 9,
 * the Chinchilla study's subspaces; conventions in headwise.h). Both are products of two
 * D x Dh factors, A = P1 P2^T, so the SVD comes from the factors alone: P1 = Q1 R1,
 * P2 = Q2 R2 (thin QR), the Dh x Dh core R1 R2^T = Uc S Vc^T, and then A = (Q1 Uc) S
 * (Q2 Vc)^T. No D x D matrix is formed, and the work is O(D Dh^2).
 */
#include "linalg.h"
#include "protocol.h"
#include "weights_access.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hw_subspace_result {
    hw_head head;
    hw_subspace_kind kind;
    int fold, k, D, dirs, top;
    double *s;              /* (k) */
    double *vec[2];         /* (k, D) left, right */
    int *ids[2][2];         /* [side][sign] (dirs, top) */
    double *score[2][2];
    char **text;            /* [side][sign][dir][top] flattened, or NULL without t */
};

hw_subspace_params hw_subspace_params_default(void) {
    hw_subspace_params p = {{0, 0}, HW_SUBSPACE_QK, 4, 10, 1};
    return p;
}

void hw_subspace_free(hw_subspace_result *r) {
    if (!r) return;
    free(r->s);
    for (int a = 0; a < 2; a++) {
        free(r->vec[a]);
        for (int b = 0; b < 2; b++) {
            free(r->ids[a][b]);
            free(r->score[a][b]);
        }
    }
    for (size_t i = 0; r->text && i < (size_t)4 * r->dirs * r->top; i++) free(r->text[i]);
    free(r->text);
    free(r);
}

/* The factors (D x Dh, columns) of the head's circuit: QK's W_Q and W_K, OV's W_V and
 * W_O^T, the input sides times the layer's input norm gain when folded. */
static void circuit_factors(const hw_model *m, const hw_subspace_params *p, double *P1, double *P2) {
    const hw_config *c = &m->cfg;
    const int D = c->d_model, Dh = c->head_dim, h = p->head.head, kv = hw_kv_head(c, h);
    const hw_layer_weights *lw = &m->w.layers[p->head.layer];
    const float *g = p->fold_norm ? lw->attn_norm : NULL;
    for (int j = 0; j < Dh; j++)
        for (int a = 0; a < D; a++) {
            double ga = g ? g[a] : 1;
            double *x1 = P1 + (size_t)j * D + a, *x2 = P2 + (size_t)j * D + a;
            if (p->kind == HW_SUBSPACE_QK) {
                *x1 = ga * hw_matrix_at(&lw->wq, h * Dh + j, a);
                *x2 = ga * hw_matrix_at(&lw->wk, kv * Dh + j, a);
            } else {
                *x1 = ga * hw_matrix_at(&lw->wv, kv * Dh + j, a);
                *x2 = hw_matrix_at(&lw->wo, a, h * Dh + j);
            }
        }
}

/* The SVD of P1 P2^T (factors D x k) into r->s and r->vec. */
static hw_status circuit_svd(const double *P1, const double *P2, hw_subspace_result *r) {
    const int D = r->D, k = r->k;
    double *Q1 = malloc(sizeof(double) * (size_t)D * k * 2), *Q2 = Q1 ? Q1 + (size_t)D * k : NULL;
    double *R = malloc(sizeof(double) * (size_t)k * k * 6);
    if (!Q1 || !R) {
        free(Q1);
        free(R);
        return hw_fail(HW_ERR_NOMEM, "subspace: out of memory");
    }
    double *R1 = R, *R2 = R1 + (size_t)k * k, *C = R2 + (size_t)k * k, *Uc = C + (size_t)k * k,
           *Vc = Uc + (size_t)k * k, *work = Vc + (size_t)k * k;
    hw_qr_thin(P1, D, k, Q1, R1);
    hw_qr_thin(P2, D, k, Q2, R2);
    /* C = R1 R2^T; column j of C, entry i: sum_l R1[i][l] R2[j][l] (R[col*k + row]) */
    for (int j = 0; j < k; j++)
        for (int i = 0; i < k; i++) {
            double acc = 0;
            for (int l = 0; l < k; l++) acc += R1[(size_t)l * k + i] * R2[(size_t)l * k + j];
            C[(size_t)j * k + i] = acc;
        }
    hw_svd_square(C, k, Uc, r->s, Vc, work);
    /* vec row i = Q Uc[:, i] */
    for (int side = 0; side < 2; side++) {
        const double *Q = side ? Q2 : Q1, *M = side ? Vc : Uc;
        for (int i = 0; i < k; i++)
            for (int a = 0; a < D; a++) {
                double acc = 0;
                for (int l = 0; l < k; l++) acc += Q[(size_t)l * D + a] * M[(size_t)i * k + l];
                r->vec[side][(size_t)i * D + a] = acc;
            }
    }
    /* The sign of each pair is free: make the input side's largest entry positive, so
     * that runs agree. */
    for (int i = 0; i < k; i++) {
        double *u = r->vec[0] + (size_t)i * D, *v = r->vec[1] + (size_t)i * D;
        int big = 0;
        for (int a = 1; a < D; a++)
            if (fabs(u[a]) > fabs(u[big])) big = a;
        if (u[big] < 0)
            for (int a = 0; a < D; a++) u[a] = -u[a], v[a] = -v[a];
    }
    free(Q1);
    free(R);
    return HW_OK;
}

/* Every token's read of direction d: the (normalised when folded) embedding, or for OV's
 * output side the unembedding through the final norm's gain. */
static void read_tokens(const hw_model *m, const hw_subspace_result *r, int side, const double *d,
                        double *score, float *row, double *dg) {
    const hw_config *c = &m->cfg;
    const int D = r->D, V = c->vocab_size, ln = c->norm == HW_NORM_LAYER;
    if (side == 1 && r->kind == HW_SUBSPACE_OV) {
        double mean = 0;
        for (int a = 0; ln && r->fold && a < D; a++) mean += d[a] / D;
        for (int a = 0; a < D; a++) dg[a] = r->fold ? (d[a] - mean) * m->w.final_norm[a] : d[a];
        for (int t = 0; t < V; t++) {
            hw_matrix_row(&m->w.classifier, t, row);
            double acc = 0;
            for (int a = 0; a < D; a++) acc += row[a] * dg[a];
            score[t] = acc;
        }
        return;
    }
    for (int t = 0; t < V; t++) {
        hw_embed_row(&m->w, t, D, row);
        const float *e = row;
        double mean = 0, ss = 0, acc = 0;
        for (int a = 0; ln && r->fold && a < D; a++) mean += e[a] / (double)D;
        for (int a = 0; a < D; a++) {
            ss += (e[a] - mean) * (e[a] - mean);
            acc += (e[a] - mean) * d[a];
        }
        score[t] = r->fold ? acc / sqrt(ss / D + c->norm_eps) : acc;
    }
}

/* The top and bottom tokens of each direction read. */
static hw_status subspace_tokens(const hw_model *m, hw_subspace_result *r) {
    const int V = m->cfg.vocab_size, D = r->D, K = r->top;
    double *score = malloc(sizeof(double) * (size_t)V * 2), *dg = malloc(sizeof(double) * (size_t)D);
    float *row = malloc(sizeof(float) * (size_t)D);
    int *order = malloc(sizeof(int) * (size_t)V);
    hw_status s = score && dg && row && order ? HW_OK : hw_fail(HW_ERR_NOMEM, "subspace: out of memory");
    for (int side = 0; !s && side < 2; side++)
        for (int i = 0; i < r->dirs; i++) {
            read_tokens(m, r, side, r->vec[side] + (size_t)i * D, score, row, dg);
            for (int sign = 0; sign < 2; sign++) {
                for (int t = 0; t < V; t++) score[V + t] = sign ? -score[t] : score[t];
                hw_scores_rank(score + V, V, order);
                for (int k = 0; k < K; k++) {
                    r->ids[side][sign][(size_t)i * K + k] = order[k];
                    r->score[side][sign][(size_t)i * K + k] = score[order[k]];
                }
            }
        }
    free(score);
    free(dg);
    free(row);
    free(order);
    return s;
}

static hw_status subspace_texts(const hw_tokenizer *t, hw_subspace_result *r) {
    if (!t) return HW_OK;
    const size_t n = (size_t)r->dirs * r->top;
    if (!(r->text = calloc(4 * n, sizeof(char *)))) return hw_fail(HW_ERR_NOMEM, "subspace: out of memory");
    for (int side = 0; side < 2; side++)
        for (int sign = 0; sign < 2; sign++)
            for (size_t i = 0; i < n; i++)
                if (!(r->text[(size_t)(side * 2 + sign) * n + i] = hw_token_text(t, r->ids[side][sign][i])))
                    return hw_fail(HW_ERR_NOMEM, "subspace: out of memory");
    return HW_OK;
}

static hw_status subspace_check(const hw_model *m, const hw_subspace_params *p) {
    const hw_config *c = &m->cfg;
    if (p->head.layer < 0 || p->head.layer >= c->n_layer || p->head.head < 0 || p->head.head >= c->n_head)
        return hw_fail(HW_ERR_ARG, "subspace: head %d.%d outside the model's %d layers x %d heads",
                       p->head.layer, p->head.head, c->n_layer, c->n_head);
    if (p->kind != HW_SUBSPACE_QK && p->kind != HW_SUBSPACE_OV)
        return hw_fail(HW_ERR_ARG, "subspace: kind %d unknown", (int)p->kind);
    if (p->top < 1 || p->top > c->vocab_size) return hw_fail(HW_ERR_ARG, "subspace: top must be in [1, %d]", c->vocab_size);
    if (p->directions < 0) return hw_fail(HW_ERR_ARG, "subspace: directions must be >= 0");
    if (c->head_dim > c->d_model)
        return hw_fail(HW_ERR_UNSUPPORTED, "subspace: head_dim %d above d_model %d", c->head_dim, c->d_model);
    return HW_OK;
}

static hw_status subspace_alloc(hw_subspace_result *r) {
    const size_t n = (size_t)r->dirs * r->top;
    r->s = calloc((size_t)r->k, sizeof(double));
    int ok = r->s != NULL;
    for (int a = 0; a < 2; a++) {
        ok &= (r->vec[a] = calloc((size_t)r->k * r->D, sizeof(double))) != NULL;
        for (int b = 0; b < 2; b++) {
            ok &= (r->ids[a][b] = calloc(n + 1, sizeof(int))) != NULL;
            ok &= (r->score[a][b] = calloc(n + 1, sizeof(double))) != NULL;
        }
    }
    return ok ? HW_OK : hw_fail(HW_ERR_NOMEM, "subspace: out of memory");
}

hw_status hw_subspace_run(const hw_model *m, const hw_tokenizer *t, const hw_subspace_params *p,
                          hw_subspace_result **out) {
    if (out) *out = NULL;
    if (!m || !p || !out) return hw_fail(HW_ERR_ARG, "subspace: no model, params or result");
    hw_status s = subspace_check(m, p);
    if (s) return s;
    hw_subspace_result *r = calloc(1, sizeof *r);
    if (!r) return hw_fail(HW_ERR_NOMEM, "subspace: out of memory");
    r->head = p->head;
    r->kind = p->kind;
    r->fold = p->fold_norm != 0;
    r->D = m->cfg.d_model;
    r->k = m->cfg.head_dim;
    r->dirs = p->directions < r->k ? p->directions : r->k;
    r->top = p->top;
    double *P = malloc(sizeof(double) * (size_t)r->D * r->k * 2);
    s = P ? subspace_alloc(r) : hw_fail(HW_ERR_NOMEM, "subspace: out of memory");
    if (!s) {
        circuit_factors(m, p, P, P + (size_t)r->D * r->k);
        s = circuit_svd(P, P + (size_t)r->D * r->k, r);
    }
    free(P);
    if (!s) s = subspace_tokens(m, r);
    if (!s) s = subspace_texts(t, r);
    if (s) {
        hw_subspace_free(r);
        return s;
    }
    *out = r;
    return HW_OK;
}

int hw_subspace_rank(const hw_subspace_result *r) { return r ? r->k : 0; }
const double *hw_subspace_singular(const hw_subspace_result *r) { return r ? r->s : NULL; }
const double *hw_subspace_vectors(const hw_subspace_result *r, int side) {
    return r && (side == 0 || side == 1) ? r->vec[side] : NULL;
}
int hw_subspace_directions(const hw_subspace_result *r) { return r ? r->dirs : 0; }
int hw_subspace_top(const hw_subspace_result *r) { return r ? r->top : 0; }

const int *hw_subspace_tokens(const hw_subspace_result *r, int side, int sign, const double **scores) {
    if (!r || (side != 0 && side != 1) || (sign != 1 && sign != -1)) return NULL;
    if (scores) *scores = r->score[side][sign < 0];
    return r->ids[side][sign < 0];
}

/* ---------------------------------------------------------------- writer */

static void write_side(const hw_subspace_result *r, FILE *f, int side, int i) {
    const size_t n = (size_t)r->dirs * r->top;
    for (int sign = 0; sign < 2; sign++) {
        const char *key = sign ? "bottom" : "top";
        const int *ids = r->ids[side][sign] + (size_t)i * r->top;
        const double *sc = r->score[side][sign] + (size_t)i * r->top;
        fprintf(f, "%s\"%s\": [", sign ? ", " : "", key);
        for (int k = 0; k < r->top; k++) fprintf(f, "%s%d", k ? ", " : "", ids[k]);
        fprintf(f, "], \"%s_text\": [", key);
        for (int k = 0; k < r->top; k++) {
            if (k) fputs(", ", f);
            hw_json_string(f, r->text ? r->text[(size_t)(side * 2 + sign) * n + (size_t)i * r->top + k] : "");
        }
        fprintf(f, "], \"%s_score\": [", key);
        for (int k = 0; k < r->top; k++) fprintf(f, "%s%.9g", k ? ", " : "", sc[k]);
        fputc(']', f);
    }
}

hw_status hw_subspace_write(const hw_subspace_result *r, const char *path) {
    if (!r) return hw_fail(HW_ERR_ARG, "subspace: no result to write");
    hw_status s = hw_output_prepare(path);
    if (s) return s;
    hw_atomic_file *a = hw_atomic_open(path);
    if (!a) return HW_ERR_IO;
    FILE *f = hw_atomic_stream(a);
    const int qk = r->kind == HW_SUBSPACE_QK;
    fprintf(f, "{\"head\": \"%d.%d\", \"kind\": \"%s\", \"fold_norm\": %s, \"rank\": %d, \"singular\": [",
            r->head.layer, r->head.head, qk ? "qk" : "ov", r->fold ? "true" : "false", r->k);
    for (int i = 0; i < r->k; i++) fprintf(f, "%s%.9g", i ? ", " : "", r->s[i]);
    fputs("], \"directions\": [", f);
    for (int i = 0; i < r->dirs; i++) {
        fprintf(f, "%s\n  {\"singular\": %.9g, \"%s\": {", i ? "," : "", r->s[i], qk ? "query" : "in");
        write_side(r, f, 0, i);
        fprintf(f, "}, \"%s\": {", qk ? "key" : "out");
        write_side(r, f, 1, i);
        fputs("}}", f);
    }
    fputs("]}\n", f);
    return hw_atomic_commit(a);
}

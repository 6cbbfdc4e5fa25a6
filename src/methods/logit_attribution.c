/*
 * logit_attribution.c: direct logit attribution (methods.md sections 6 and 9): the
 * residual-stream direction a component's output is dotted with to give its share of
 * a logit (difference), with the final norm's scale held at its value on the full
 * residual, so that the shares of all components add up to the logit (difference);
 * one prompt's forward with the captures read at its final position (shared with
 * attribution.c); and section 9's protocol as one call, hw_dla_run.
 */
#include "protocol.h"
#include "weights_access.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* ---------------------------------------------------------------- one prompt's final position */

hw_status hw_final_run_open(hw_final_run *r, const hw_model *m, const hw_kv_policy *kv,
                            const char *what) {
    memset(r, 0, sizeof *r);
    r->cap = hw_capture_new();
    r->hooks = hw_hooks_new();
    r->ctx = hw_context_new_kv(m, 0, kv);
    r->logits = malloc(sizeof(float) * (size_t)m->cfg.vocab_size);
    if (!r->ctx) return HW_ERR_NOMEM; /* error set */
    if (!r->cap || !r->hooks || !r->logits) return hw_fail(HW_ERR_NOMEM, "%s: out of memory", what);
    static const hw_hook_point pts[] = {HW_HOOK_RESULT, HW_HOOK_ATTN_OUT, HW_HOOK_MLP_OUT,
                                        HW_HOOK_RESID_PRE, HW_HOOK_RESID_POST};
    hw_status s = HW_OK;
    for (size_t k = 0; !s && k < sizeof pts / sizeof *pts; k++) s = hw_capture_want(r->cap, pts[k], -1);
    return s ? s : hw_hooks_add_capture(r->hooks, r->cap);
}

void hw_final_run_close(hw_final_run *r) {
    hw_hooks_free(r->hooks);
    hw_capture_free(r->cap);
    hw_context_free(r->ctx);
    free(r->logits);
    memset(r, 0, sizeof *r);
}

hw_status hw_final_run_ids(hw_final_run *r, const int *ids, int n, const char *what) {
    if (n < 1) return hw_fail(HW_ERR_ARG, "%s: empty prompt", what);
    if (n > hw_context_size(r->ctx))
        return hw_fail(HW_ERR_RANGE, "prompt of %d tokens is longer than the model's context (%d)", n,
                       hw_context_size(r->ctx));
    hw_context_reset(r->ctx);
    hw_capture_clear(r->cap);
    hw_status s = hw_forward_hooked(r->ctx, ids, n, HW_LOGITS_LAST, r->logits, r->hooks);
    if (!s) r->T = n;
    return s;
}

const float *hw_final_run_row(const hw_final_run *r, hw_hook_point point, int layer) {
    /* The prompt may have run in several prefill chunks (a KV-cache policy's chunk=N, or
     * the engine's 512 rows): the last position is in the entry that holds it. */
    for (int i = 0; i < hw_capture_count(r->cap); i++) {
        const hw_capture_entry *e = hw_capture_get(r->cap, i);
        if (e->point != point || e->layer != layer || e->pos > r->T - 1 || e->pos + e->T <= r->T - 1)
            continue;
        size_t row = 1;
        for (int d = 1; d < e->ndim; d++) row *= (size_t)e->shape[d];
        return e->data + (size_t)(r->T - 1 - e->pos) * row;
    }
    return NULL;
}

/* ---------------------------------------------------------------- dla as one call */

struct hw_dla_result {
    int L, H, n;            /* n components */
    char (*name)[32];       /* (n) */
    double *val;            /* (n) */
    double *heads;          /* (L, H) */
    hw_dla_info info;
    char *target_text;
    int *minus;             /* (n_minus) */
    char **minus_text;      /* (n_minus) */
};

hw_dla_params hw_dla_params_default(void) {
    hw_dla_params p = {NULL, NULL, NULL, 0, 0, NULL};
    return p;
}

void hw_dla_free(hw_dla_result *r) {
    if (!r) return;
    free(r->name);
    free(r->val);
    free(r->heads);
    free(r->target_text);
    for (int k = 0; r->minus_text && k < r->info.n_minus; k++) free(r->minus_text[k]);
    free(r->minus_text);
    free(r->minus);
    free(r);
}

static double dot(const float *a, const float *b, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* A token's text as it reads after a word (SentencePiece's leading space kept), malloc'd. */
char *hw_token_text(const hw_tokenizer *t, int id) {
    size_t len;
    const char *s = hw_tokenizer_decode(t, INT_MAX /* not BOS, not the start */, id, &len);
    char *out = malloc(len + 1);
    if (out) {
        memcpy(out, s ? s : "", len);
        out[len] = 0;
    }
    return out;
}

/* The answers' tokens and texts into r (before any forward pass). */
static hw_status dla_tokens(const hw_tokenizer *t, const hw_dla_params *p, hw_dla_result *r) {
    if ((r->info.target = hw_tokenizer_answer_token(t, p->target)) < 0)
        return hw_fail(HW_ERR_ARG, "--target '%s' encodes to no token", p->target);
    r->info.n_minus = p->n_minus;
    r->minus = malloc(sizeof(int) * (size_t)(p->n_minus + 1));
    r->minus_text = calloc((size_t)p->n_minus + 1, sizeof(char *));
    if (!r->minus || !r->minus_text || !(r->target_text = hw_token_text(t, r->info.target)))
        return hw_fail(HW_ERR_NOMEM, "dla: out of memory");
    for (int k = 0; k < p->n_minus; k++) {
        if (!p->minus[k] || (r->minus[k] = hw_tokenizer_answer_token(t, p->minus[k])) < 0)
            return hw_fail(HW_ERR_ARG, "--minus '%s' encodes to no token", p->minus[k] ? p->minus[k] : "");
        if (!(r->minus_text[k] = hw_token_text(t, r->minus[k]))) return hw_fail(HW_ERR_NOMEM, "dla: out of memory");
    }
    r->info.target_text = r->target_text;
    r->info.minus = r->minus;
    r->info.minus_text = (const char *const *)r->minus_text;
    return HW_OK;
}

/* Every component's share of the direction dir at the final position of run f. */
static void dla_components(const hw_model *m, const hw_final_run *f, const float *dir, float *sum,
                           hw_dla_result *r) {
    const int L = r->L, H = r->H, D = m->cfg.d_model;
    int c = 0;
    snprintf(r->name[c], sizeof r->name[c], "embed");
    r->val[c++] = dot(hw_final_run_row(f, HW_HOOK_RESID_PRE, 0), dir, D);
    for (int l = 0; l < L; l++) {
        const float *res = hw_final_run_row(f, HW_HOOK_RESULT, l);   /* (H, D) */
        const float *attn = hw_final_run_row(f, HW_HOOK_ATTN_OUT, l); /* (D) */
        for (int i = 0; i < D; i++) sum[i] = attn[i];
        for (int h = 0; h < H; h++) {
            snprintf(r->name[c], sizeof r->name[c], "%d.%d", l, h);
            r->heads[l * H + h] = r->val[c++] = dot(res + (size_t)h * D, dir, D);
            for (int i = 0; i < D; i++) sum[i] -= res[(size_t)h * D + i];
        }
        snprintf(r->name[c], sizeof r->name[c], "%d.bias", l);
        r->val[c++] = dot(sum, dir, D);
        snprintf(r->name[c], sizeof r->name[c], "mlp.%d", l);
        const float *mo = hw_final_run_row(f, HW_HOOK_MLP_OUT, l);
        r->val[c++] = mo ? dot(mo, dir, D) : 0;
    }
    double total = 0, actual = f->logits[r->info.target];
    for (int k = 0; k < c; k++) total += r->val[k];
    for (int k = 0; k < r->info.n_minus; k++) actual -= (double)f->logits[r->minus[k]] / r->info.n_minus;
    snprintf(r->name[c], sizeof r->name[c], "rest");
    r->val[c++] = actual - total;
    r->info.logit_diff = actual;
    r->info.sum = total;
}

/* The prompt's forward and its components. */
static hw_status dla_forward(const hw_model *m, const hw_tokenizer *t, const hw_dla_params *p,
                             hw_progress_fn progress, void *user, hw_dla_result *r) {
    const int D = m->cfg.d_model;
    hw_final_run f = {0};
    int *ids = NULL, n = hw_tokenizer_encode_alloc(t, p->prompt, HW_TOK_BOS, &ids);
    float *dir = malloc(sizeof(float) * (size_t)D * 2);
    hw_status s = n < 0 ? HW_ERR_ARG : hw_final_run_open(&f, m, p->kv, "dla");
    if (!s && !dir) s = hw_fail(HW_ERR_NOMEM, "dla: out of memory");
    if (!s) s = hw_progress_step(progress, user, "dla", "forward", 0, 1);
    if (!s) s = hw_final_run_ids(&f, ids, n, "dla");
    if (!s) s = hw_logit_direction(m, &r->info.target, 1, r->minus, r->info.n_minus,
                                   p->raw ? NULL : hw_final_run_row(&f, HW_HOOK_RESID_POST, r->L - 1), dir);
    if (!s) {
        r->info.n_tokens = n;
        dla_components(m, &f, dir, dir + D, r);
        s = hw_progress_step(progress, user, "dla", "forward", 1, 1);
    }
    hw_final_run_close(&f);
    free(ids);
    free(dir);
    return s;
}

hw_status hw_dla_run(const hw_model *m, const hw_tokenizer *t, const hw_dla_params *p,
                     hw_progress_fn progress, void *user, hw_dla_result **out) {
    if (out) *out = NULL;
    if (!m || !t || !p || !out) return hw_fail(HW_ERR_ARG, "dla: no model, tokenizer, params or result");
    if (!p->prompt || !p->target) return hw_fail(HW_ERR_ARG, "dla: give a prompt and a target");
    if (p->n_minus < 0 || (p->n_minus && !p->minus))
        return hw_fail(HW_ERR_ARG, "dla: %d answers to subtract but no list", p->n_minus);
    hw_dla_result *r = calloc(1, sizeof *r);
    if (!r) return hw_fail(HW_ERR_NOMEM, "dla: out of memory");
    r->L = m->cfg.n_layer;
    r->H = m->cfg.n_head;
    r->n = 1 + r->L * (r->H + 2) + 1;
    r->info.scaled = !p->raw;
    hw_status s = HW_OK;
    if (!(r->name = calloc((size_t)r->n, sizeof *r->name)) || !(r->val = calloc((size_t)r->n, sizeof(double))) ||
        !(r->heads = calloc((size_t)r->L * r->H, sizeof(double))))
        s = hw_fail(HW_ERR_NOMEM, "dla: out of memory");
    if (!s) s = dla_tokens(t, p, r);
    if (!s) s = dla_forward(m, t, p, progress, user, r);
    if (s) {
        hw_dla_free(r);
        return s;
    }
    *out = r;
    return HW_OK;
}

int hw_dla_count(const hw_dla_result *r) { return r ? r->n : 0; }
const char *hw_dla_name(const hw_dla_result *r, int i) { return r && i >= 0 && i < r->n ? r->name[i] : NULL; }
const double *hw_dla_values(const hw_dla_result *r) { return r ? r->val : NULL; }
const double *hw_dla_heads(const hw_dla_result *r) { return r ? r->heads : NULL; }

void hw_dla_get_info(const hw_dla_result *r, hw_dla_info *out) {
    if (r && out) *out = r->info;
}

/* A JSON string. Tokens' texts may hold quotes, backslashes, control bytes, and (byte
 * tokens, pieces of a character) bytes that are not UTF-8: those are written as the
 * code points of their byte values (\u0080 .. \u00ff), so the file stays valid JSON. */
void hw_json_string(FILE *f, const char *s) {
    int utf8 = hw_utf8_valid(s, strlen(s), NULL);
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20 || (c >= 0x80 && !utf8)) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static void dla_write_json(const hw_dla_result *r, FILE *f) {
    fprintf(f, "{\"logit_diff\": %.9g, \"scaled\": %s, \"target\": ", r->info.logit_diff,
            r->info.scaled ? "true" : "false");
    hw_json_string(f, r->target_text);
    fprintf(f, ", \"target_token\": %d, \"minus\": [", r->info.target);
    for (int k = 0; k < r->info.n_minus; k++) {
        if (k) fputs(", ", f);
        hw_json_string(f, r->minus_text[k]);
    }
    fputs("], \"minus_tokens\": [", f);
    for (int k = 0; k < r->info.n_minus; k++) fprintf(f, "%s%d", k ? ", " : "", r->minus[k]);
    fputs("], \"components\": {", f);
    for (int k = 0; k < r->n; k++) fprintf(f, "%s\"%s\": %.9g", k ? ", " : "", r->name[k], r->val[k]);
    fputs("}}\n", f);
}

hw_status hw_dla_write(const hw_dla_result *r, const char *path) {
    if (!r) return hw_fail(HW_ERR_ARG, "dla: no result to write");
    hw_status s = hw_output_prepare(path);
    if (s) return s;
    int *order = malloc(sizeof(int) * (size_t)r->n);
    double *mag = malloc(sizeof(double) * (size_t)r->n);
    hw_atomic_file *a = order && mag ? hw_atomic_open(path) : NULL;
    if (!a) {
        free(order);
        free(mag);
        return order && mag ? HW_ERR_IO : hw_fail(HW_ERR_NOMEM, "dla: out of memory");
    }
    FILE *f = hw_atomic_stream(a);
    size_t len = strlen(path);
    if (len >= 4 && !strcmp(path + len - 4, ".tsv")) {
        for (int k = 0; k < r->n; k++) mag[k] = fabs(r->val[k]);
        hw_scores_rank(mag, r->n, order);
        fputs("component\tlogit\n", f);
        for (int k = 0; k < r->n; k++) fprintf(f, "%s\t%.9g\n", r->name[order[k]], r->val[order[k]]);
    } else {
        dla_write_json(r, f);
    }
    free(order);
    free(mag);
    return hw_atomic_commit(a);
}

/*
 * activation_patching.c: activation patching over prompt pairs (methods.md section 9,
 * the Chinchilla paper's tool; the patching half of TransformerLens's patching module):
 * one component's activation from one run of a pair put into the other run, per
 * (layer, head) for the heads' hooks and per (layer, position) for the residual stream
 * and the blocks' outputs, the metric at the last position normalised per pair (0 =
 * corrupted, 1 = clean), total and direct effects.
 */
#include "protocol.h"
#include "report/patch_html.h"
#include "weights_access.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hw_patch_result {
    hw_patch_info info;
    int n_cells;                    /* rows * cols */
    double *mean, *mean_direct;     /* (rows, cols) */
    double *pooled, *pooled_direct; /* (rows, cols) */
    double *norm, *norm_direct;     /* (n_pairs, rows, cols) */
    double *metric, *metric_direct; /* (n_pairs, rows, cols) */
    double *clean, *corrupt;        /* (n_pairs) */
    int *target, *minus;            /* (n_pairs) */
    char **pair_label;              /* (n_pairs) */
    char **label;                   /* (cols) */
    char model_hook[64];            /* "blocks.0.attn.hook_z", ...: the short name follows "hook_" */
};

hw_patch_params hw_patch_params_default(void) {
    hw_patch_params p = {HW_HOOK_Z, HW_PATCH_DENOISE, HW_METRIC_LOGIT_DIFF, 0, 0};
    return p;
}

void hw_patch_result_free(hw_patch_result *r) {
    if (!r) return;
    free(r->mean);
    free(r->mean_direct);
    free(r->pooled);
    free(r->pooled_direct);
    free(r->norm);
    free(r->norm_direct);
    free(r->metric);
    free(r->metric_direct);
    free(r->clean);
    free(r->corrupt);
    free(r->target);
    free(r->minus);
    for (int i = 0; r->pair_label && i < r->info.n_pairs; i++) free(r->pair_label[i]);
    free(r->pair_label);
    for (int c = 0; r->label && c < r->info.cols; c++) free(r->label[c]);
    free(r->label);
    free(r);
}

/* ---------------------------------------------------------------- what is swept */

/* Whether point is swept per (layer, head) (1), per (layer, position) (0), or not at all (-1). */
static int sweep_kind(hw_hook_point point) {
    switch (point) {
    case HW_HOOK_Z: case HW_HOOK_PATTERN: case HW_HOOK_Q: case HW_HOOK_K: case HW_HOOK_V: return 1;
    case HW_HOOK_RESID_PRE: case HW_HOOK_RESID_POST: case HW_HOOK_ATTN_OUT: case HW_HOOK_MLP_OUT: return 0;
    default: return -1;
    }
}

/* The point whose row at the last position is the patched component's output there. */
static hw_hook_point output_point(hw_hook_point point) {
    return sweep_kind(point) == 1 ? HW_HOOK_ATTN_OUT : point;
}

/* The row at absolute position p of the (T, ...) tensor captured at (point, layer), or
 * NULL. A prompt may run in several prefill chunks: the entry holding p. */
static const float *captured_row(const hw_capture *cap, hw_hook_point point, int layer, int p) {
    for (int i = 0; i < hw_capture_count(cap); i++) {
        const hw_capture_entry *e = hw_capture_get(cap, i);
        if (e->point != point || e->layer != layer || p < e->pos || p >= e->pos + e->T) continue;
        size_t row = 1;
        for (int d = 1; d < e->ndim; d++) row *= (size_t)e->shape[d];
        return e->data + (size_t)(p - e->pos) * row;
    }
    return NULL;
}

/* ---------------------------------------------------------------- hooks */

/* Patch one component: head `col` of (point, layer) at every position, or position `col`
 * of a (T, D) point, from the source run's capture (the same prefill chunks, since the
 * prompts have the same length). */
typedef struct {
    const hw_capture *src;
    hw_hook_point point;
    int layer, col, per_head;
} patch_one;

static int patch_one_hook(hw_hook_call *call, void *user) {
    const patch_one *p = user;
    if (call->ask) return call->point == p->point && call->layer == p->layer;
    const hw_capture_entry *e = hw_capture_find(p->src, call->point, call->layer, call->pos);
    if (!e || e->ndim != call->ndim || memcmp(e->shape, call->shape, sizeof(int) * (size_t)call->ndim)) {
        hw_fail(HW_ERR_ARG, "patch: nothing of this shape captured at layer %d, position %d", call->layer, call->pos);
        return 1;
    }
    const int a = call->shape[0], b = call->shape[1], c = call->ndim > 2 ? call->shape[2] : 1;
    if (call->point == HW_HOOK_PATTERN) { /* (H, T, P): the head's block */
        memcpy(call->data + (size_t)p->col * b * c, e->data + (size_t)p->col * b * c, sizeof(float) * (size_t)b * c);
    } else if (p->per_head) { /* (T, H, Dh) */
        for (int t = 0; t < a; t++) {
            size_t off = ((size_t)t * b + p->col) * c;
            memcpy(call->data + off, e->data + off, sizeof(float) * (size_t)c);
        }
    } else if (p->col >= call->pos && p->col < call->pos + a) { /* (T, D): one row */
        size_t off = (size_t)(p->col - call->pos) * b;
        memcpy(call->data + off, e->data + off, sizeof(float) * (size_t)b);
    }
    return 0;
}

/* Read the row at position `last` of (point, layer) as the run leaves it (after the patch,
 * which was added first). */
typedef struct {
    hw_hook_point point;
    int layer, last, D;
    float *row;
} read_row;

static int read_row_hook(hw_hook_call *call, void *user) {
    const read_row *p = user;
    if (call->ask) return call->point == p->point && call->layer == p->layer;
    if (p->last >= call->pos && p->last < call->pos + call->T)
        memcpy(p->row, call->data + (size_t)(p->last - call->pos) * p->D, sizeof(float) * (size_t)p->D);
    return 0;
}

/* ---------------------------------------------------------------- one pair */

typedef struct {
    const hw_model *m;
    const hw_patch_params *p;
    hw_context *ctx;
    hw_capture *cap[2];     /* the clean (0) and corrupted (1) runs */
    float *logits[2];       /* (V) each */
    float *base_logits;     /* (V) scratch */
    float *row, *delta;     /* (D) each */
    float *dir_logits;      /* (V) */
    hw_progress_fn progress;
    void *user;
    int64_t done, total;
} sweep;

static hw_status run_captured(sweep *s, const int *ids, int n, int k) {
    hw_hooks *h = hw_hooks_new();
    hw_status st = h ? hw_hooks_add_capture(h, s->cap[k]) : hw_fail(HW_ERR_NOMEM, "patch: out of memory");
    hw_context_reset(s->ctx);
    hw_capture_clear(s->cap[k]);
    if (!st) st = hw_forward_hooked(s->ctx, ids, n, HW_LOGITS_LAST, s->logits[k], h);
    hw_hooks_free(h);
    return st;
}

/* The final norm's scale on the clean run's last residual (methods.md 9: held fixed). */
static double clean_scale(const sweep *s, int last) {
    const hw_config *cfg = &s->m->cfg;
    const int D = cfg->d_model;
    const float *r = captured_row(s->cap[0], HW_HOOK_RESID_POST, cfg->n_layer - 1, last);
    double mean = 0, ss = 0;
    if (cfg->norm == HW_NORM_LAYER) {
        for (int k = 0; k < D; k++) mean += r[k];
        mean /= D;
    }
    for (int k = 0; k < D; k++) ss += (r[k] - mean) * (r[k] - mean);
    return sqrt(ss / D + cfg->norm_eps);
}

/* The metric of base logits plus the change delta (D) read through the final norm at the
 * clean run's scale and the unembedding: the direct effect. */
static double direct_metric(sweep *s, const float *base, float *delta, double scale, int target, int minus) {
    const hw_config *cfg = &s->m->cfg;
    const int D = cfg->d_model, V = cfg->vocab_size;
    double mean = 0;
    if (cfg->norm == HW_NORM_LAYER) {
        for (int k = 0; k < D; k++) mean += delta[k];
        mean /= D;
    }
    for (int k = 0; k < D; k++) delta[k] = (float)((delta[k] - mean) * s->m->w.final_norm[k] / scale);
    const hw_matrix *wu = &s->m->w.classifier;
    memcpy(s->dir_logits, base, sizeof(float) * (size_t)V);
    for (int v = 0; v < V; v++) {
        /* logit-diff reads two logits; the others need every one (their normaliser). */
        if (s->p->metric == HW_METRIC_LOGIT_DIFF && v != target && v != minus) continue;
        double acc = 0;
        for (int k = 0; k < D; k++) acc += (double)hw_matrix_at(wu, v, k) * delta[k];
        s->dir_logits[v] = (float)(base[v] + acc);
    }
    return hw_metric_value(s->p->metric, s->dir_logits, V, target, minus);
}

/* One patched run of the base prompt: component (layer, col) from src. */
static hw_status patched_run(sweep *s, const int *base, int n, const hw_capture *src, int layer, int col,
                             double *metric, double *direct, int target, int minus, int base_k, double scale) {
    const hw_hook_point point = s->p->hook;
    patch_one po = {src, point, layer, col, sweep_kind(point) == 1};
    read_row rr = {output_point(point), layer, n - 1, s->m->cfg.d_model, s->row};
    hw_hooks *h = hw_hooks_new();
    hw_status st = h ? hw_hooks_add(h, patch_one_hook, &po) : hw_fail(HW_ERR_NOMEM, "patch: out of memory");
    if (!st && s->p->direct) st = hw_hooks_add(h, read_row_hook, &rr);
    hw_context_reset(s->ctx);
    if (!st) st = hw_forward_hooked(s->ctx, base, n, HW_LOGITS_LAST, s->base_logits, h);
    hw_hooks_free(h);
    if (st) return st;
    const int V = s->m->cfg.vocab_size, D = s->m->cfg.d_model;
    *metric = hw_metric_value(s->p->metric, s->base_logits, V, target, minus);
    if (s->p->direct) {
        const float *before = captured_row(s->cap[base_k], rr.point, layer, n - 1);
        for (int k = 0; k < D; k++) s->delta[k] = s->row[k] - before[k];
        *direct = direct_metric(s, s->logits[base_k], s->delta, scale, target, minus);
    }
    s->done++;
    return HW_OK;
}

static hw_status patch_pair(sweep *s, const hw_prompt_pairs *pairs, int i, hw_patch_result *r) {
    const int *cl, *co, V = s->m->cfg.vocab_size;
    int target, minus, n = hw_prompt_pairs_get(pairs, i, &cl, &co, &target, &minus);
    hw_status st = run_captured(s, cl, n, 0);
    if (!st) st = run_captured(s, co, n, 1);
    if (st) return st;
    const double mc = hw_metric_value(s->p->metric, s->logits[0], V, target, minus);
    const double mx = hw_metric_value(s->p->metric, s->logits[1], V, target, minus);
    if (!(fabs(mc - mx) > 1e-9 * fmax(1.0, fabs(mc))))
        return hw_fail(HW_ERR_ARG, "%s: the %s is %g on both the clean and the corrupted prompt (nothing to "
                       "normalise by)", hw_prompt_pairs_label(pairs, i), hw_metric_name(s->p->metric), mc);
    r->clean[i] = mc;
    r->corrupt[i] = mx;
    r->target[i] = target;
    r->minus[i] = minus;
    const int base_k = s->p->direction == HW_PATCH_DENOISE ? 1 : 0;
    const hw_capture *src = s->cap[s->p->identity ? base_k : 1 - base_k];
    const double scale = clean_scale(s, n - 1);
    const size_t off = (size_t)i * r->n_cells;
    for (int l = 0; !st && l < r->info.rows; l++)
        for (int c = 0; !st && c < r->info.cols; c++) {
            const size_t k = off + (size_t)l * r->info.cols + c;
            double md = 0;
            st = patched_run(s, base_k ? co : cl, n, src, l, c, &r->metric[k], &md, target, minus, base_k, scale);
            r->norm[k] = (r->metric[k] - mx) / (mc - mx);
            if (s->p->direct) {
                r->metric_direct[k] = md;
                r->norm_direct[k] = (md - mx) / (mc - mx);
            }
        }
    /* Once a pair (a line each off a terminal), not once a pass. */
    return st ? st : hw_progress_step(s->progress, s->user, "patch", "patch", s->done, s->total);
}

/* ---------------------------------------------------------------- the run */

static hw_status check_params(const hw_model *m, const hw_prompt_pairs *pairs, const hw_patch_params *p) {
    const hw_config *cfg = &m->cfg;
    char name[64];
    hw_hook_name(name, sizeof name, p->hook, 0);
    if (sweep_kind(p->hook) < 0)
        return hw_fail(HW_ERR_ARG, "patch: %s cannot be swept (hook_z, hook_pattern, hook_q, hook_k, hook_v, "
                       "hook_resid_pre, hook_resid_post, hook_attn_out or hook_mlp_out)", name);
    if (p->hook == HW_HOOK_MLP_OUT && cfg->d_ff <= 0)
        return hw_fail(HW_ERR_ARG, "patch: the model is attention-only (no hook_mlp_out)");
    if (p->direction != HW_PATCH_DENOISE && p->direction != HW_PATCH_NOISE)
        return hw_fail(HW_ERR_ARG, "patch: unknown direction %d", (int)p->direction);
    if (p->metric < HW_METRIC_LOGIT_DIFF || p->metric > HW_METRIC_LOGPROB)
        return hw_fail(HW_ERR_ARG, "patch: unknown metric %d", (int)p->metric);
    hw_status s = hw_prompt_pairs_check(pairs, m);
    if (s || sweep_kind(p->hook) == 1) return s;
    int n0 = hw_prompt_pairs_get(pairs, 0, NULL, NULL, NULL, NULL);
    for (int i = 1; i < hw_prompt_pairs_count(pairs); i++) {
        int n = hw_prompt_pairs_get(pairs, i, NULL, NULL, NULL, NULL);
        if (n != n0)
            return hw_fail(HW_ERR_ARG, "patch: a sweep over positions needs every pair the same length: %s has "
                           "%d tokens, %s %d", hw_prompt_pairs_label(pairs, i), n,
                           hw_prompt_pairs_label(pairs, 0), n0);
    }
    return HW_OK;
}

/* Column labels: head numbers, or pair 0's clean tokens as they print. */
static hw_status make_labels(hw_patch_result *r, const hw_tokenizer *t, const hw_prompt_pairs *pairs) {
    const int *ids;
    hw_prompt_pairs_get(pairs, 0, &ids, NULL, NULL, NULL);
    for (int c = 0; c < r->info.cols; c++) {
        char buf[96];
        size_t len = 0;
        const char *s = r->info.per_position && t ? hw_tokenizer_decode(t, c ? ids[c - 1] : -1, ids[c], &len) : NULL;
        size_t w = 0;
        /* Newlines and tabs written as \n and \t, so that every label shows (a heatmap's
         * column of a newline token would be blank). */
        for (size_t k = 0; s && k < len && w + 3 < sizeof buf && k < 80; k++) {
            char ch = s[k];
            if (ch == '\n' || ch == '\t' || ch == '\r') {
                buf[w++] = '\\';
                buf[w++] = ch == '\n' ? 'n' : ch == '\t' ? 't' : 'r';
            } else {
                buf[w++] = ch;
            }
        }
        buf[w] = 0;
        if (!s) snprintf(buf, sizeof buf, r->info.per_position ? "pos %d" : "%d", c);
        if (!(r->label[c] = strdup(buf))) return hw_fail(HW_ERR_NOMEM, "patch: out of memory");
    }
    return HW_OK;
}

static hw_patch_result *result_new(const hw_model *m, const hw_prompt_pairs *pairs, const hw_patch_params *p) {
    const hw_config *cfg = &m->cfg;
    hw_patch_result *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    const int np = hw_prompt_pairs_count(pairs);
    r->info = (hw_patch_info){p->hook, p->direction, p->metric, p->direct, p->identity, cfg->n_layer, 0,
                              sweep_kind(p->hook) == 0, np};
    r->info.cols = r->info.per_position ? hw_prompt_pairs_get(pairs, 0, NULL, NULL, NULL, NULL)
                   : p->hook == HW_HOOK_K || p->hook == HW_HOOK_V ? cfg->n_kv_head : cfg->n_head;
    r->n_cells = r->info.rows * r->info.cols;
    const size_t cells = (size_t)r->n_cells, all = cells * np;
    hw_hook_name(r->model_hook, sizeof r->model_hook, p->hook, 0);
    bool ok = (r->mean = calloc(cells, sizeof(double))) && (r->pooled = calloc(cells, sizeof(double))) && (r->norm = calloc(all, sizeof(double))) &&
              (r->metric = calloc(all, sizeof(double))) && (r->clean = calloc(np, sizeof(double))) &&
              (r->corrupt = calloc(np, sizeof(double))) && (r->target = calloc(np, sizeof(int))) &&
              (r->minus = calloc(np, sizeof(int))) && (r->pair_label = calloc(np, sizeof(char *))) &&
              (r->label = calloc((size_t)r->info.cols, sizeof(char *)));
    if (ok && p->direct)
        ok = (r->mean_direct = calloc(cells, sizeof(double))) && (r->pooled_direct = calloc(cells, sizeof(double))) &&
             (r->norm_direct = calloc(all, sizeof(double))) &&
             (r->metric_direct = calloc(all, sizeof(double)));
    for (int i = 0; ok && i < np; i++) ok = (r->pair_label[i] = strdup(hw_prompt_pairs_label(pairs, i))) != NULL;
    if (!ok) {
        hw_patch_result_free(r);
        return NULL;
    }
    return r;
}

static hw_status sweep_open(sweep *s, const hw_model *m, const hw_patch_params *p) {
    const hw_config *cfg = &m->cfg;
    const size_t V = (size_t)cfg->vocab_size, D = (size_t)cfg->d_model;
    s->m = m;
    s->p = p;
    s->ctx = hw_context_new(m, 0);
    if (!s->ctx) return HW_ERR_NOMEM;
    hw_status st = HW_OK;
    for (int k = 0; k < 2; k++) {
        if (!(s->cap[k] = hw_capture_new()) || !(s->logits[k] = malloc(V * sizeof(float))))
            return hw_fail(HW_ERR_NOMEM, "patch: out of memory");
        st = hw_capture_want(s->cap[k], p->hook, -1);
        if (!st) st = hw_capture_want(s->cap[k], output_point(p->hook), -1);
        if (!st) st = hw_capture_want(s->cap[k], HW_HOOK_RESID_POST, cfg->n_layer - 1);
        if (st) return st;
    }
    s->base_logits = malloc(V * sizeof(float));
    s->dir_logits = malloc(V * sizeof(float));
    s->row = malloc(D * sizeof(float));
    s->delta = malloc(D * sizeof(float));
    return s->base_logits && s->dir_logits && s->row && s->delta ? HW_OK
                                                                 : hw_fail(HW_ERR_NOMEM, "patch: out of memory");
}

static void sweep_close(sweep *s) {
    hw_context_free(s->ctx);
    for (int k = 0; k < 2; k++) {
        hw_capture_free(s->cap[k]);
        free(s->logits[k]);
    }
    free(s->base_logits);
    free(s->dir_logits);
    free(s->row);
    free(s->delta);
}

/* Means over pairs. */
static void average(hw_patch_result *r, const double *per_pair, double *mean) {
    for (int k = 0; k < r->n_cells; k++) {
        double sum = 0;
        for (int i = 0; i < r->info.n_pairs; i++) sum += per_pair[(size_t)i * r->n_cells + k];
        mean[k] = sum / r->info.n_pairs;
    }
}

/* The pooled normalisation, (mean M - mean M_corrupt) / (mean M_clean - mean M_corrupt):
 * one ratio of means, so that a pair whose clean and corrupted metrics nearly agree
 * cannot swing the result as its own ratio swings the mean of ratios. */
static void pool(hw_patch_result *r, const double *metric, double *pooled) {
    double c = 0, x = 0;
    for (int i = 0; i < r->info.n_pairs; i++) c += r->clean[i], x += r->corrupt[i];
    c /= r->info.n_pairs, x /= r->info.n_pairs;
    average(r, metric, pooled);
    for (int k = 0; k < r->n_cells; k++) pooled[k] = c == x ? NAN : (pooled[k] - x) / (c - x);
}

hw_status hw_patch_run(const hw_model *m, const hw_tokenizer *t, const hw_prompt_pairs *pairs,
                       const hw_patch_params *p, hw_progress_fn progress, void *user,
                       hw_patch_result **out) {
    if (out) *out = NULL;
    if (!m || !pairs || !p || !out) return hw_fail(HW_ERR_ARG, "patch: no model, pairs, params or result");
    hw_status st = check_params(m, pairs, p);
    if (st) return st;
    hw_patch_result *r = result_new(m, pairs, p);
    if (!r) return hw_fail(HW_ERR_NOMEM, "patch: out of memory");
    st = make_labels(r, t, pairs);
    sweep s = {0};
    s.progress = progress;
    s.user = user;
    s.total = (int64_t)r->info.n_pairs * r->n_cells;
    if (!st) st = sweep_open(&s, m, p);
    for (int i = 0; !st && i < r->info.n_pairs; i++) st = patch_pair(&s, pairs, i, r);
    sweep_close(&s);
    if (!st) {
        average(r, r->norm, r->mean);
        pool(r, r->metric, r->pooled);
        if (p->direct) average(r, r->norm_direct, r->mean_direct), pool(r, r->metric_direct, r->pooled_direct);
        *out = r;
        return HW_OK;
    }
    hw_patch_result_free(r);
    return st;
}

/* ---------------------------------------------------------------- accessors */

void hw_patch_get_info(const hw_patch_result *r, hw_patch_info *out) {
    if (r && out) *out = r->info;
}

const double *hw_patch_result_mean(const hw_patch_result *r, int direct) {
    return !r ? NULL : direct ? r->mean_direct : r->mean;
}

const double *hw_patch_result_pooled(const hw_patch_result *r, int direct) {
    return !r ? NULL : direct ? r->pooled_direct : r->pooled;
}

int hw_patch_result_rank(const hw_patch_result *r, const double *values, int *order) {
    if (!r || !values || !order) return hw_fail(HW_ERR_ARG, "patch: no result, values or order"), -1;
    double *gap = malloc(sizeof *gap * (size_t)r->n_cells);
    if (!gap) return hw_fail(HW_ERR_NOMEM, "patch: out of memory"), -1;
    /* the unpatched run: 0 (corrupted) when denoising, 1 (clean) when noising */
    double base = r->info.direction == HW_PATCH_NOISE;
    for (int k = 0; k < r->n_cells; k++) gap[k] = isnan(values[k]) ? -1 : fabs(values[k] - base);
    hw_scores_rank(gap, r->n_cells, order);
    free(gap);
    return r->n_cells;
}

hw_status hw_patch_result_mean_baseline(const hw_patch_result *r, double *clean, double *corrupt) {
    if (!r) return hw_fail(HW_ERR_ARG, "patch: no result");
    double c = 0, x = 0;
    for (int i = 0; i < r->info.n_pairs; i++) c += r->clean[i] / r->info.n_pairs, x += r->corrupt[i] / r->info.n_pairs;
    if (clean) *clean = c;
    if (corrupt) *corrupt = x;
    return HW_OK;
}

const double *hw_patch_result_pair(const hw_patch_result *r, int i, int direct) {
    if (!r || i < 0 || i >= r->info.n_pairs || (direct && !r->norm_direct)) return NULL;
    return (direct ? r->norm_direct : r->norm) + (size_t)i * r->n_cells;
}

const double *hw_patch_result_pair_metric(const hw_patch_result *r, int i, int direct) {
    if (!r || i < 0 || i >= r->info.n_pairs || (direct && !r->metric_direct)) return NULL;
    return (direct ? r->metric_direct : r->metric) + (size_t)i * r->n_cells;
}

hw_status hw_patch_result_baseline(const hw_patch_result *r, int i, double *clean, double *corrupt) {
    if (!r || i < 0 || i >= r->info.n_pairs) return hw_fail(HW_ERR_ARG, "patch: no pair %d", i);
    if (clean) *clean = r->clean[i];
    if (corrupt) *corrupt = r->corrupt[i];
    return HW_OK;
}

const char *hw_patch_result_label(const hw_patch_result *r, int c) {
    return r && c >= 0 && c < r->info.cols ? r->label[c] : NULL;
}

/* ---------------------------------------------------------------- writers */

static void write_grid(FILE *f, const hw_patch_result *r, const double *v) {
    fputc('[', f);
    for (int l = 0; l < r->info.rows; l++) {
        fputs(l ? ", [" : "[", f);
        for (int c = 0; c < r->info.cols; c++) fprintf(f, "%s%.9g", c ? ", " : "", v[(size_t)l * r->info.cols + c]);
        fputc(']', f);
    }
    fputc(']', f);
}

static void write_json(const void *rv, FILE *f) {
    const hw_patch_result *r = rv;
    const hw_patch_info *in = &r->info;
    fprintf(f, "{\"hook\": \"%s\", \"direction\": \"%s\", \"metric\": \"%s\", \"identity\": %s, \"rows\": %d, "
            "\"cols\": %d, \"axes\": \"layer,%s\", \"labels\": [", strstr(r->model_hook, "hook_") + 5,
            in->direction == HW_PATCH_DENOISE ? "denoise" : "noise", hw_metric_name(in->metric),
            in->identity ? "true" : "false", in->rows, in->cols,
            in->per_position ? "pos" : in->hook == HW_HOOK_K || in->hook == HW_HOOK_V ? "kv_head" : "head");
    for (int c = 0; c < in->cols; c++) {
        if (c) fputs(", ", f);
        hw_json_string(f, r->label[c]);
    }
    fputs("], \"mean\": ", f);
    write_grid(f, r, r->mean);
    fputs(", \"pooled\": ", f);
    write_grid(f, r, r->pooled);
    if (in->direct) {
        fputs(", \"mean_direct\": ", f);
        write_grid(f, r, r->mean_direct);
        fputs(", \"pooled_direct\": ", f);
        write_grid(f, r, r->pooled_direct);
    }
    fputs(", \"pairs\": [", f);
    for (int i = 0; i < in->n_pairs; i++) {
        fputs(i ? ", {\"label\": " : "{\"label\": ", f);
        hw_json_string(f, r->pair_label[i]);
        fprintf(f, ", \"clean\": %.9g, \"corrupt\": %.9g, \"target\": %d, \"minus\": %d, \"normalized\": ",
                r->clean[i], r->corrupt[i], r->target[i], r->minus[i]);
        write_grid(f, r, hw_patch_result_pair(r, i, 0));
        fputs(", \"metric\": ", f);
        write_grid(f, r, hw_patch_result_pair_metric(r, i, 0));
        if (in->direct) {
            fputs(", \"normalized_direct\": ", f);
            write_grid(f, r, hw_patch_result_pair(r, i, 1));
            fputs(", \"metric_direct\": ", f);
            write_grid(f, r, hw_patch_result_pair_metric(r, i, 1));
        }
        fputc('}', f);
    }
    fputs("]}\n", f);
}

static void write_tsv(const void *rv, FILE *f) {
    const hw_patch_result *r = rv;
    fprintf(f, "layer\t%s\tlabel\tmean\tpooled%s\n", r->info.per_position ? "pos" : "head",
            r->info.direct ? "\tmean_direct\tpooled_direct" : "");
    for (int l = 0; l < r->info.rows; l++)
        for (int c = 0; c < r->info.cols; c++) {
            size_t k = (size_t)l * r->info.cols + c;
            /* labels hold no tab or newline (make_labels escapes them) */
            fprintf(f, "%d\t%d\t%s\t%.9g\t%.9g", l, c, r->label[c], r->mean[k], r->pooled[k]);
            if (r->info.direct) fprintf(f, "\t%.9g\t%.9g", r->mean_direct[k], r->pooled_direct[k]);
            fputc('\n', f);
        }
}

hw_status hw_write_json_or_tsv(const char *path, const void *r, void (*json)(const void *, FILE *),
                               void (*tsv)(const void *, FILE *)) {
    if (!r || !path) return hw_fail(HW_ERR_ARG, "no result or path to write");
    hw_status s = hw_output_prepare(path);
    hw_atomic_file *a = s ? NULL : hw_atomic_open(path);
    if (!a) return s ? s : HW_ERR_IO;
    size_t len = strlen(path);
    if (len >= 4 && !strcmp(path + len - 4, ".tsv")) tsv(r, hw_atomic_stream(a));
    else json(r, hw_atomic_stream(a));
    return hw_atomic_commit(a);
}

hw_status hw_patch_result_write(const hw_patch_result *r, const char *path) {
    return hw_write_json_or_tsv(path, r, write_json,
                                write_tsv);
}

hw_status hw_patch_result_write_html(const hw_patch_result *r, const char *path) {
    if (!r || !path) return hw_fail(HW_ERR_ARG, "patch: no result or path to write");
    hw_status s = hw_output_prepare(path);
    if (s) return s;
    char title[160], sub[256];
    snprintf(title, sizeof title, "Activation patching: %s, %s", strstr(r->model_hook, "hook_") + 5,
             r->info.direction == HW_PATCH_DENOISE ? "denoising (clean into corrupted)" : "noising (corrupted into clean)");
    snprintf(sub, sizeof sub, "normalised %s, 0 = corrupted run, 1 = clean run; mean over %d pair%s%s",
             hw_metric_name(r->info.metric), r->info.n_pairs, r->info.n_pairs == 1 ? "" : "s",
             r->info.identity ? " (identity check: each run patched with its own activations)" : "");
    const double *maps[2] = {r->mean, r->mean_direct};
    const char *names[2] = {"total effect", "direct effect"};
    hw_patch_html page = {title, sub, r->info.rows, r->info.cols, "layer",
                          r->info.per_position ? "position (token)" : r->info.hook == HW_HOOK_K || r->info.hook == HW_HOOK_V ? "KV head" : "head",
                          (const char *const *)r->label, r->info.direct ? 2 : 1, names, maps};
    return hw_patch_html_write(&page, path);
}

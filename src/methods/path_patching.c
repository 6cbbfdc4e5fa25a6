/*
 * path_patching.c: path patching sender -> receivers (methods.md section 7, the
 * factual-recall paper's sweep, after Wang et al.'s IOI path patching): a sender head's
 * corrupted output reaches only the receivers' q, k or v inputs (or the logits directly),
 * every other reader of the residual sees the clean sender; the percent change of the
 * metric per (sender, receiver); and preserve_elements, the smallest set of entries that
 * covers a fraction of the total |effect|.
 *
 * A receiver's input is recomputed from its layer's residual plus the sender's change
 * (the norm and the q/k/v projection as the forward does them), so downstream of the
 * receivers the run is free: with every later head's q, k, v, every MLP after the sender
 * and the logits as receivers it is activation patching of the sender.
 */
#include "protocol.h"
#include "weights_access.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hw_path_patch_result {
    hw_metric metric;
    int ns, nr, n_pairs;            /* senders, receivers (columns: nr + 1) */
    hw_head *senders;               /* (ns) */
    hw_path_receiver *receivers;    /* (nr) */
    double *percent, *normalized;   /* (ns, nr + 1) means over pairs */
    double *metric_v;               /* (n_pairs, ns, nr + 1) */
    double *clean, *corrupt;        /* (n_pairs) */
    char **pair_label;              /* (n_pairs) */
};

hw_path_patch_params hw_path_patch_params_default(void) {
    hw_path_patch_params p = {NULL, 0, NULL, 0, HW_METRIC_LOGIT_DIFF};
    return p;
}

void hw_path_patch_result_free(hw_path_patch_result *r) {
    if (!r) return;
    free(r->senders);
    free(r->receivers);
    free(r->percent);
    free(r->normalized);
    free(r->metric_v);
    free(r->clean);
    free(r->corrupt);
    for (int i = 0; r->pair_label && i < r->n_pairs; i++) free(r->pair_label[i]);
    free(r->pair_label);
    free(r);
}

int hw_path_receiver_name(char *buf, size_t n, const hw_path_receiver *rcv) {
    if (rcv->input == HW_HOOK_LOGITS) return snprintf(buf, n, "logits");
    if (rcv->input == HW_HOOK_MLP_OUT) return snprintf(buf, n, "mlp.%d", rcv->layer);
    const char *x = rcv->input == HW_HOOK_Q ? "q" : rcv->input == HW_HOOK_K ? "k" : rcv->input == HW_HOOK_V ? "v" : "?";
    return snprintf(buf, n, "%d.%d.%s", rcv->layer, rcv->head, x);
}

/* Whether receiver r is on a path from a sender in layer ls: a later layer's head, the
 * logits, or an MLP reading the residual after the sender (its own layer's too, unless
 * the model's MLPs read the residual before the attention: parallel residual). */
static bool on_path(const hw_path_receiver *r, int ls, int parallel) {
    if (r->input == HW_HOOK_MLP_OUT) return r->layer > ls || (r->layer == ls && !parallel);
    return r->input == HW_HOOK_LOGITS || r->layer > ls;
}

/* The hook point whose residual an MLP receiver of m reads. */
static hw_hook_point mlp_input(const hw_model *m) {
    return m->cfg.parallel_residual ? HW_HOOK_RESID_PRE : HW_HOOK_RESID_MID;
}

/* ---------------------------------------------------------------- the path run's hook */

typedef struct {
    const hw_model *m;
    const float *delta;             /* (T, D) the sender's change, every position */
    const hw_path_receiver *rcv;    /* (n) */
    int n;
    float **store;                  /* (n) each (T, Dh) (an MLP's: (T, D)): the receiver's
                                     * recomputed input (an MLP's: its output) */
    float *x, *xn, *y;              /* scratch (T, D), (T, D), (T, max(H*Dh, D)) */
    float *up, *gate;               /* scratch (T, F) each */
} path_run;

static bool wants(const path_run *p, hw_hook_point point, int layer) {
    const int L = p->m->cfg.n_layer;
    for (int i = 0; i < p->n; i++) {
        const hw_path_receiver *r = &p->rcv[i];
        hw_hook_point in = r->input == HW_HOOK_MLP_OUT ? mlp_input(p->m) : HW_HOOK_RESID_PRE;
        if (r->input == HW_HOOK_LOGITS ? point == HW_HOOK_RESID_POST && layer == L - 1
                                       : layer == r->layer && (point == in || point == r->input))
            return true;
    }
    return false;
}

/* x (T, D) = the residual of this call plus the sender's change at its positions. */
static void plus_delta(path_run *p, const hw_hook_call *call) {
    const int D = p->m->cfg.d_model;
    for (size_t k = 0; k < (size_t)call->T * D; k++) p->x[k] = call->data[k] + p->delta[(size_t)call->pos * D + k];
}

static void norm_rows(const hw_model *m, float *out, const float *x, const float *w, const float *b, int T) {
    const hw_config *cfg = &m->cfg;
    if (cfg->norm == HW_NORM_RMS) hw_rmsnorm(out, x, w, T, cfg->d_model, cfg->norm_eps);
    else hw_layernorm(out, x, w, b, T, cfg->d_model, cfg->norm_eps);
}

/* At the MLP's input: each MLP receiver's output from the residual plus the change (the
 * MLP as the forward computes it, src/model/forward.c). */
static void mlp_receivers(path_run *p, const hw_hook_call *call) {
    const hw_config *cfg = &p->m->cfg;
    const int D = cfg->d_model, T = call->T;
    const hw_layer_weights *w = &p->m->w.layers[call->layer];
    bool done = false;
    for (int i = 0; i < p->n; i++) {
        const hw_path_receiver *r = &p->rcv[i];
        if (r->input != HW_HOOK_MLP_OUT || r->layer != call->layer) continue;
        if (!done) {
            plus_delta(p, call);
            norm_rows(p->m, p->xn, p->x, w->mlp_norm, w->mlp_norm_b, T);
            hw_matmul(p->up, p->xn, &w->w_up, w->b_up, T);
            if (cfg->act == HW_ACT_SILU_GATED) hw_matmul(p->gate, p->xn, &w->w_gate, w->b_gate, T);
            hw_activate(p->up, p->gate, (size_t)T * cfg->d_ff, cfg->act);
            hw_matmul(p->y, p->up, &w->w_down, w->b_down, T);
            done = true;
        }
        memcpy(p->store[i] + (size_t)call->pos * D, p->y, sizeof(float) * (size_t)T * D);
    }
}

/* At resid_pre: each receiver's input of this layer from the residual plus the change. */
static void receivers_input(path_run *p, const hw_hook_call *call) {
    const hw_config *cfg = &p->m->cfg;
    const int Dh = cfg->head_dim, T = call->T;
    const hw_layer_weights *w = &p->m->w.layers[call->layer];
    plus_delta(p, call);
    norm_rows(p->m, p->xn, p->x, w->attn_norm, w->attn_norm_b, T);
    for (int i = 0; i < p->n; i++) {
        const hw_path_receiver *r = &p->rcv[i];
        if (r->input == HW_HOOK_LOGITS || r->input == HW_HOOK_MLP_OUT || r->layer != call->layer) continue;
        const hw_matrix *wx = r->input == HW_HOOK_Q ? &w->wq : r->input == HW_HOOK_K ? &w->wk : &w->wv;
        const float *b = r->input == HW_HOOK_Q ? w->bq : r->input == HW_HOOK_K ? w->bk : w->bv;
        hw_matmul(p->y, p->xn, wx, b, T);
        for (int t = 0; t < T; t++)
            memcpy(p->store[i] + (size_t)(call->pos + t) * Dh, p->y + ((size_t)t * wx->rows + (size_t)r->head * Dh),
                   sizeof(float) * (size_t)Dh);
    }
}

static int path_hook(hw_hook_call *call, void *user) {
    path_run *p = user;
    if (call->ask) return wants(p, call->point, call->layer);
    const int D = p->m->cfg.d_model, Dh = p->m->cfg.head_dim;
    /* resid_pre feeds the heads' receivers, and the MLPs' in a parallel-residual model. */
    if (call->point == HW_HOOK_RESID_PRE) receivers_input(p, call);
    if (call->point == mlp_input(p->m)) mlp_receivers(p, call);
    if (call->point == HW_HOOK_RESID_PRE || call->point == HW_HOOK_RESID_MID) {
        /* read only: the residual stream itself keeps the clean sender */
    } else if (call->point == HW_HOOK_RESID_POST) { /* the direct path: the last hook before the final norm */
        for (size_t k = 0; k < (size_t)call->T * D; k++) call->data[k] += p->delta[(size_t)call->pos * D + k];
    } else if (call->point == HW_HOOK_MLP_OUT) { /* the MLP receivers' outputs */
        for (int i = 0; i < p->n; i++)
            if (p->rcv[i].input == HW_HOOK_MLP_OUT && p->rcv[i].layer == call->layer)
                memcpy(call->data, p->store[i] + (size_t)call->pos * D, sizeof(float) * (size_t)call->T * D);
    } else { /* q, k or v (T, Hx, Dh): the receivers' heads replaced */
        const int Hx = call->shape[1];
        for (int i = 0; i < p->n; i++) {
            const hw_path_receiver *r = &p->rcv[i];
            if (r->input != call->point || r->layer != call->layer) continue;
            for (int t = 0; t < call->T; t++)
                memcpy(call->data + ((size_t)t * Hx + r->head) * Dh, p->store[i] + (size_t)(call->pos + t) * Dh,
                       sizeof(float) * (size_t)Dh);
        }
    }
    return 0;
}

/* ---------------------------------------------------------------- one pair */

typedef struct {
    const hw_model *m;
    const hw_path_patch_params *p;
    hw_context *ctx;
    hw_capture *cap[2];             /* hook_z of the clean (0) and corrupted (1) runs */
    float *logits;                  /* (V) */
    float *delta;                   /* (C, D) */
    float **store;                  /* (nr) each (C, Dh) */
    hw_path_receiver *sel;          /* (nr) receivers of one run */
    float *x, *xn, *y, *up, *gate;
    hw_progress_fn progress;
    void *user;
    int64_t done, total;
} path_sweep;

/* delta (T, D) = the sender's output in the corrupted run minus the clean one's. */
static void sender_delta(path_sweep *s, hw_head snd, int T) {
    const hw_config *cfg = &s->m->cfg;
    const int D = cfg->d_model, Dh = cfg->head_dim, H = cfg->n_head;
    const hw_matrix *wo = &s->m->w.layers[snd.layer].wo; /* (D, H*Dh) */
    float *dz = s->y;
    for (int t = 0; t < T; t++) {
        const hw_capture_entry *e[2];
        for (int k = 0; k < 2; k++) {
            e[k] = NULL;
            for (int i = 0; i < hw_capture_count(s->cap[k]) && !e[k]; i++) {
                const hw_capture_entry *c = hw_capture_get(s->cap[k], i);
                if (c->layer == snd.layer && t >= c->pos && t < c->pos + c->T) e[k] = c;
            }
        }
        for (int j = 0; j < Dh; j++) {
            size_t at[2];
            for (int k = 0; k < 2; k++) at[k] = ((size_t)(t - e[k]->pos) * H + snd.head) * Dh + j;
            dz[j] = e[1]->data[at[1]] - e[0]->data[at[0]];
        }
        for (int d = 0; d < D; d++) {
            double acc = 0;
            for (int j = 0; j < Dh; j++) acc += (double)hw_matrix_at(wo, d, snd.head * Dh + j) * dz[j];
            s->delta[(size_t)t * D + d] = (float)acc;
        }
    }
}

static hw_status run_z(path_sweep *s, const int *ids, int n, int k) {
    hw_hooks *h = hw_hooks_new();
    hw_status st = h ? hw_hooks_add_capture(h, s->cap[k]) : hw_fail(HW_ERR_NOMEM, "path patch: out of memory");
    hw_context_reset(s->ctx);
    hw_capture_clear(s->cap[k]);
    if (!st) st = hw_forward_hooked(s->ctx, ids, n, HW_LOGITS_LAST, s->logits, h);
    hw_hooks_free(h);
    return st;
}

/* The clean prompt with the sender's change reaching the n receivers in s->sel: the metric. */
static hw_status path_metric(path_sweep *s, const int *cl, int T, int nsel, int target, int minus, double *out) {
    /* store[i] is the slot of s->sel[i], this run's i-th receiver. */
    path_run pr = {s->m, s->delta, s->sel, nsel, s->store, s->x, s->xn, s->y, s->up, s->gate};
    hw_hooks *h = hw_hooks_new();
    hw_status st = h ? hw_hooks_add(h, path_hook, &pr) : hw_fail(HW_ERR_NOMEM, "path patch: out of memory");
    hw_context_reset(s->ctx);
    if (!st) st = hw_forward_hooked(s->ctx, cl, T, HW_LOGITS_LAST, s->logits, h);
    hw_hooks_free(h);
    if (!st) *out = hw_metric_value(s->p->metric, s->logits, s->m->cfg.vocab_size, target, minus);
    s->done++;
    return st;
}

static hw_status path_pair(path_sweep *s, const hw_prompt_pairs *pairs, int i, hw_path_patch_result *r) {
    const int *cl, *co, V = s->m->cfg.vocab_size, cols = r->nr + 1;
    int target, minus, T = hw_prompt_pairs_get(pairs, i, &cl, &co, &target, &minus);
    hw_status st = run_z(s, co, T, 1);
    const double mx = st ? 0 : hw_metric_value(s->p->metric, s->logits, V, target, minus);
    if (!st) st = run_z(s, cl, T, 0);
    if (st) return st;
    const double mc = hw_metric_value(s->p->metric, s->logits, V, target, minus);
    if (!(fabs(mc - mx) > 1e-9 * fmax(1.0, fabs(mc))))
        return hw_fail(HW_ERR_ARG, "%s: the %s is %g on both the clean and the corrupted prompt (nothing to "
                       "normalise by)", hw_prompt_pairs_label(pairs, i), hw_metric_name(s->p->metric), mc);
    r->clean[i] = mc;
    r->corrupt[i] = mx;
    for (int a = 0; !st && a < r->ns; a++) {
        sender_delta(s, r->senders[a], T);
        double *row = r->metric_v + ((size_t)i * r->ns + a) * cols;
        int nall = 0;
        for (int b = 0; !st && b < r->nr; b++) {
            row[b] = NAN;
            if (!on_path(&r->receivers[b], r->senders[a].layer, s->m->cfg.parallel_residual)) continue;
            s->sel[0] = r->receivers[b];
            st = path_metric(s, cl, T, 1, target, minus, &row[b]);
        }
        for (int b = 0; b < r->nr; b++)
            if (on_path(&r->receivers[b], r->senders[a].layer, s->m->cfg.parallel_residual)) s->sel[nall++] = r->receivers[b];
        row[r->nr] = NAN;
        if (!st && nall) st = path_metric(s, cl, T, nall, target, minus, &row[r->nr]);
    }
    return st ? st : hw_progress_step(s->progress, s->user, "path patch", "path patch", s->done, s->total);
}

/* ---------------------------------------------------------------- the run */

static hw_status path_check(const hw_model *m, const hw_prompt_pairs *pairs, const hw_path_patch_params *p) {
    const hw_config *cfg = &m->cfg;
    if (!p->senders || p->n_senders < 1 || !p->receivers || p->n_receivers < 1)
        return hw_fail(HW_ERR_ARG, "path patch: give at least one sender and one receiver");
    if (p->metric < HW_METRIC_LOGIT_DIFF || p->metric > HW_METRIC_LOGPROB)
        return hw_fail(HW_ERR_ARG, "path patch: unknown metric %d", (int)p->metric);
    for (int i = 0; i < p->n_senders; i++)
        if (p->senders[i].layer < 0 || p->senders[i].layer >= cfg->n_layer || p->senders[i].head < 0 ||
            p->senders[i].head >= cfg->n_head)
            return hw_fail(HW_ERR_ARG, "path patch: sender %d.%d is not a head of the model (%d x %d)",
                           p->senders[i].layer, p->senders[i].head, cfg->n_layer, cfg->n_head);
    for (int i = 0; i < p->n_receivers; i++) {
        const hw_path_receiver *r = &p->receivers[i];
        if (r->input == HW_HOOK_LOGITS) continue;
        if (r->input == HW_HOOK_MLP_OUT) {
            if (cfg->d_ff <= 0) return hw_fail(HW_ERR_ARG, "path patch: the model is attention-only (no MLP receivers)");
            if (r->layer < 0 || r->layer >= cfg->n_layer)
                return hw_fail(HW_ERR_ARG, "path patch: no MLP in layer %d (%d layers)", r->layer, cfg->n_layer);
            continue;
        }
        int heads = r->input == HW_HOOK_Q ? cfg->n_head : cfg->n_kv_head;
        if (r->input != HW_HOOK_Q && r->input != HW_HOOK_K && r->input != HW_HOOK_V)
            return hw_fail(HW_ERR_ARG, "path patch: a receiver's input is q, k, v, an MLP or the logits");
        if (r->layer < 0 || r->layer >= cfg->n_layer || r->head < 0 || r->head >= heads)
            return hw_fail(HW_ERR_ARG, "path patch: receiver %d.%d is not a %s head of the model (%d x %d)",
                           r->layer, r->head, r->input == HW_HOOK_Q ? "query" : "KV", cfg->n_layer, heads);
    }
    return hw_prompt_pairs_check(pairs, m);
}

static hw_path_patch_result *path_result_new(const hw_prompt_pairs *pairs, const hw_path_patch_params *p) {
    hw_path_patch_result *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->metric = p->metric;
    r->ns = p->n_senders;
    r->nr = p->n_receivers;
    r->n_pairs = hw_prompt_pairs_count(pairs);
    const size_t cells = (size_t)r->ns * (r->nr + 1);
    bool ok = (r->senders = malloc(sizeof(hw_head) * (size_t)r->ns)) &&
              (r->receivers = malloc(sizeof(hw_path_receiver) * (size_t)r->nr)) &&
              (r->percent = calloc(cells, sizeof(double))) && (r->normalized = calloc(cells, sizeof(double))) &&
              (r->metric_v = calloc(cells * r->n_pairs, sizeof(double))) &&
              (r->clean = calloc((size_t)r->n_pairs, sizeof(double))) &&
              (r->corrupt = calloc((size_t)r->n_pairs, sizeof(double))) &&
              (r->pair_label = calloc((size_t)r->n_pairs, sizeof(char *)));
    for (int i = 0; ok && i < r->n_pairs; i++) ok = (r->pair_label[i] = strdup(hw_prompt_pairs_label(pairs, i))) != NULL;
    if (!ok) {
        hw_path_patch_result_free(r);
        return NULL;
    }
    memcpy(r->senders, p->senders, sizeof(hw_head) * (size_t)r->ns);
    memcpy(r->receivers, p->receivers, sizeof(hw_path_receiver) * (size_t)r->nr);
    return r;
}

static hw_status path_sweep_open(path_sweep *s, const hw_model *m, const hw_prompt_pairs *pairs, int nr) {
    const size_t F = (size_t)(m->cfg.d_ff > 0 ? m->cfg.d_ff : 1);
    const hw_config *cfg = &m->cfg;
    int C = 0;
    for (int i = 0; i < hw_prompt_pairs_count(pairs); i++) {
        int n = hw_prompt_pairs_get(pairs, i, NULL, NULL, NULL, NULL);
        C = n > C ? n : C;
    }
    const size_t D = (size_t)cfg->d_model, HD = (size_t)cfg->n_head * cfg->head_dim;
    if (!(s->ctx = hw_context_new(m, 0))) return HW_ERR_NOMEM;
    bool ok = (s->cap[0] = hw_capture_new()) && (s->cap[1] = hw_capture_new()) &&
              (s->logits = malloc(sizeof(float) * (size_t)cfg->vocab_size)) &&
              (s->delta = malloc(sizeof(float) * C * D)) && (s->store = calloc((size_t)nr, sizeof(float *))) &&
              (s->sel = malloc(sizeof(hw_path_receiver) * (size_t)nr)) && (s->x = malloc(sizeof(float) * C * D)) &&
              (s->xn = malloc(sizeof(float) * C * D)) && (s->y = malloc(sizeof(float) * C * (HD > D ? HD : D))) &&
              (s->up = malloc(sizeof(float) * C * F)) && (s->gate = malloc(sizeof(float) * C * F));
    /* A store per run slot: the largest of a head's input (Dh) and an MLP's output (D). */
    for (int i = 0; ok && i < nr; i++) ok = (s->store[i] = malloc(sizeof(float) * C * (D > (size_t)cfg->head_dim ? D : (size_t)cfg->head_dim))) != NULL;
    if (!ok) return hw_fail(HW_ERR_NOMEM, "path patch: out of memory");
    hw_status st = hw_capture_want(s->cap[0], HW_HOOK_Z, -1);
    return st ? st : hw_capture_want(s->cap[1], HW_HOOK_Z, -1);
}

static void path_sweep_close(path_sweep *s, int nr) {
    hw_context_free(s->ctx);
    hw_capture_free(s->cap[0]);
    hw_capture_free(s->cap[1]);
    for (int i = 0; s->store && i < nr; i++) free(s->store[i]);
    free(s->store);
    free(s->logits);
    free(s->delta);
    free(s->sel);
    free(s->x);
    free(s->xn);
    free(s->y);
    free(s->up);
    free(s->gate);
}

/* Percent change and normalised metric, means over pairs (NaN where no path). */
static void path_average(hw_path_patch_result *r) {
    const size_t cells = (size_t)r->ns * (r->nr + 1);
    for (size_t k = 0; k < cells; k++) {
        double pc = 0, nm = 0;
        for (int i = 0; i < r->n_pairs; i++) {
            double v = r->metric_v[(size_t)i * cells + k];
            pc += 100 * (v - r->clean[i]) / fabs(r->clean[i]) / r->n_pairs;
            nm += (v - r->corrupt[i]) / (r->clean[i] - r->corrupt[i]) / r->n_pairs;
        }
        r->percent[k] = pc;
        r->normalized[k] = nm;
    }
}

hw_status hw_path_patch_run(const hw_model *m, const hw_prompt_pairs *pairs,
                            const hw_path_patch_params *p, hw_progress_fn progress, void *user,
                            hw_path_patch_result **out) {
    if (out) *out = NULL;
    if (!m || !pairs || !p || !out) return hw_fail(HW_ERR_ARG, "path patch: no model, pairs, params or result");
    hw_status st = path_check(m, pairs, p);
    if (st) return st;
    hw_path_patch_result *r = path_result_new(pairs, p);
    if (!r) return hw_fail(HW_ERR_NOMEM, "path patch: out of memory");
    path_sweep s = {0};
    s.m = m;
    s.p = p;
    s.progress = progress;
    s.user = user;
    s.total = (int64_t)r->n_pairs * r->ns * (r->nr + 1);
    st = path_sweep_open(&s, m, pairs, r->nr);
    for (int i = 0; !st && i < r->n_pairs; i++) st = path_pair(&s, pairs, i, r);
    path_sweep_close(&s, r->nr);
    if (st) {
        hw_path_patch_result_free(r);
        return st;
    }
    path_average(r);
    *out = r;
    return HW_OK;
}

/* ---------------------------------------------------------------- accessors, writers */

int hw_path_patch_senders(const hw_path_patch_result *r, const hw_head **senders) {
    if (senders) *senders = r ? r->senders : NULL;
    return r ? r->ns : 0;
}

int hw_path_patch_receivers(const hw_path_patch_result *r, const hw_path_receiver **receivers) {
    if (receivers) *receivers = r ? r->receivers : NULL;
    return r ? r->nr : 0;
}

const double *hw_path_patch_percent(const hw_path_patch_result *r) { return r ? r->percent : NULL; }
const double *hw_path_patch_normalized(const hw_path_patch_result *r) { return r ? r->normalized : NULL; }

const double *hw_path_patch_pair_metric(const hw_path_patch_result *r, int i) {
    return r && i >= 0 && i < r->n_pairs ? r->metric_v + (size_t)i * r->ns * (r->nr + 1) : NULL;
}

hw_status hw_path_patch_baseline(const hw_path_patch_result *r, int i, double *clean, double *corrupt) {
    if (!r || i < 0 || i >= r->n_pairs) return hw_fail(HW_ERR_ARG, "path patch: no pair %d", i);
    if (clean) *clean = r->clean[i];
    if (corrupt) *corrupt = r->corrupt[i];
    return HW_OK;
}

/* A number, or null for NaN (no path). */
static void json_number(FILE *f, double v) {
    if (isnan(v)) fputs("null", f);
    else fprintf(f, "%.9g", v);
}

static void json_rows(FILE *f, const hw_path_patch_result *r, const double *v) {
    fputc('[', f);
    for (int a = 0; a < r->ns; a++) {
        fputs(a ? ", [" : "[", f);
        for (int b = 0; b <= r->nr; b++) {
            if (b) fputs(", ", f);
            json_number(f, v[(size_t)a * (r->nr + 1) + b]);
        }
        fputc(']', f);
    }
    fputc(']', f);
}

static void path_json(const void *rv, FILE *f) {
    const hw_path_patch_result *r = rv;
    fprintf(f, "{\"metric\": \"%s\", \"senders\": [", hw_metric_name(r->metric));
    for (int a = 0; a < r->ns; a++) fprintf(f, "%s\"%d.%d\"", a ? ", " : "", r->senders[a].layer, r->senders[a].head);
    fputs("], \"receivers\": [", f);
    for (int b = 0; b <= r->nr; b++) {
        char name[64] = "all";
        if (b < r->nr) hw_path_receiver_name(name, sizeof name, &r->receivers[b]);
        fprintf(f, "%s\"%s\"", b ? ", " : "", name);
    }
    fputs("], \"percent\": ", f);
    json_rows(f, r, r->percent);
    fputs(", \"normalized\": ", f);
    json_rows(f, r, r->normalized);
    fputs(", \"pairs\": [", f);
    for (int i = 0; i < r->n_pairs; i++) {
        fputs(i ? ", {\"label\": " : "{\"label\": ", f);
        hw_json_string(f, r->pair_label[i]);
        fprintf(f, ", \"clean\": %.9g, \"corrupt\": %.9g, \"metric\": ", r->clean[i], r->corrupt[i]);
        json_rows(f, r, hw_path_patch_pair_metric(r, i));
        fputc('}', f);
    }
    fputs("]}\n", f);
}

static void path_tsv(const void *rv, FILE *f) {
    const hw_path_patch_result *r = rv;
    fputs("sender\treceiver\tpercent\tnormalized\n", f);
    for (int a = 0; a < r->ns; a++)
        for (int b = 0; b <= r->nr; b++) {
            char name[64] = "all";
            if (b < r->nr) hw_path_receiver_name(name, sizeof name, &r->receivers[b]);
            size_t k = (size_t)a * (r->nr + 1) + b;
            fprintf(f, "%d.%d\t%s\t%.9g\t%.9g\n", r->senders[a].layer, r->senders[a].head, name, r->percent[k],
                    r->normalized[k]);
        }
}

hw_status hw_path_patch_write(const hw_path_patch_result *r, const char *path) {
    return hw_write_json_or_tsv(path, r, path_json,
                                path_tsv);
}

/* ---------------------------------------------------------------- preserve elements */

int hw_preserve_elements(const double *effect, int n, double fraction, int *keep) {
    if (!effect || !keep || n <= 0) return hw_fail(HW_ERR_ARG, "preserve elements: no entries"), -1;
    if (!(fraction >= 0 && fraction <= 1))
        return hw_fail(HW_ERR_ARG, "preserve elements: fraction %g outside [0, 1]", fraction), -1;
    double *mag = malloc(sizeof(double) * (size_t)n), total = 0;
    int *order = malloc(sizeof(int) * (size_t)n);
    if (!mag || !order) {
        free(mag);
        free(order);
        return hw_fail(HW_ERR_NOMEM, "preserve elements: out of memory"), -1;
    }
    for (int i = 0; i < n; i++) {
        mag[i] = isnan(effect[i]) ? 0 : fabs(effect[i]);
        total += mag[i];
        keep[i] = 0;
    }
    hw_scores_rank(mag, n, order);
    int k = 0;
    /* The smallest prefix of the ranking whose sum reaches the fraction (none for 0). */
    for (double sum = 0; k < n && sum < fraction * total; k++) {
        keep[order[k]] = 1;
        sum += mag[order[k]];
    }
    free(mag);
    free(order);
    return k;
}

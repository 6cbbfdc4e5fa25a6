/*
 * head_lowrank.c: the low-rank test of a head's q, k or v (methods.md section 9: the
 * correct-letter heads' subspaces compressed with no loss). A hook first gathers the
 * activation's second moments over the fit prompts (every position, every call), whose
 * eigenvectors are the SVD directions of the stacked rows; then, for each rank r, a hook
 * projects the activation onto the top r of them while the task is scored.
 */
#include "linalg.h"
#include "protocol.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hw_lowrank_result {
    hw_head head;
    hw_hook_point in[3];
    int n_in, center, Dh, n;
    int *ranks;             /* (n) */
    double *acc;            /* (2, n) */
    double base[2];
    double *spectrum;       /* (n_in, Dh) */
    int64_t rows;
};

hw_lowrank_params hw_lowrank_params_default(void) {
    hw_lowrank_params p = {0};
    p.inputs[0] = HW_HOOK_Q;
    p.n_inputs = 1;
    p.task = hw_task_eval_params_default();
    p.task.name = NULL;
    p.fit_seed = 54321;
    p.fit_samples = 100;
    return p;
}

void hw_lowrank_free(hw_lowrank_result *r) {
    if (!r) return;
    free(r->ranks);
    free(r->acc);
    free(r->spectrum);
    free(r);
}

/* The hook: one head's slot of one point; gathers (gram != NULL) or projects (P). */
typedef struct {
    hw_hook_point point;
    int layer, slot, Dh;
    double *gram, *sum;     /* (Dh, Dh), (Dh) when fitting */
    int64_t rows;
    const double *P, *mean; /* (Dh, Dh) projector, after E (Dh, Dh) in memory; (Dh) centre
                             * (zeros uncentred) */
    double *tmp;            /* (Dh) */
} lr_hook;

static int lr_fn(hw_hook_call *c, void *user) {
    lr_hook *u = user;
    if (c->point != u->point || c->layer != u->layer) return 0;
    if (c->ask) return 1;
    const int Dh = u->Dh;
    for (int t = 0; t < c->T; t++) {
        float *x = c->data + ((size_t)t * c->shape[1] + u->slot) * Dh;
        if (u->gram) {
            for (int i = 0; i < Dh; i++) {
                u->sum[i] += x[i];
                for (int j = 0; j < Dh; j++) u->gram[(size_t)i * Dh + j] += (double)x[i] * x[j];
            }
            u->rows++;
            continue;
        }
        for (int i = 0; i < Dh; i++) u->tmp[i] = x[i] - u->mean[i];
        for (int i = 0; i < Dh; i++) {
            double acc = u->mean[i];
            for (int j = 0; j < Dh; j++) acc += u->P[(size_t)i * Dh + j] * u->tmp[j];
            x[i] = (float)acc;
        }
    }
    return 0;
}

/* The task: prompts scored teacher-forced, or a synthetic task. */
typedef struct {
    hw_context *ctx;
    hw_task *task;
    const hw_lowrank_params *p;
    int np, **ids, *lens, *n_ans;   /* prompts: (np) each; ids hold prompt then answer */
    float *logits;
} lr_eval;

/* Prompts: exact rate (every answer token the argmax after the prompt and the answer's
 * earlier tokens: what greedy decoding would produce) and mean share of tokens right. */
static hw_status lr_score(lr_eval *e, const hw_hooks *hooks, uint64_t seed, int n, double acc[2]) {
    if (e->task) return hw_task_evaluate_hooked(e->task, e->ctx, seed, n, hooks, &acc[0], &acc[1]);
    const int V = hw_model_config(hw_context_model(e->ctx))->vocab_size;
    double exact = 0, share = 0;
    for (int i = 0; i < e->np; i++) {
        int T = e->lens[i] + e->n_ans[i] - 1, right = 0;
        hw_context_reset(e->ctx);
        hw_status s = hw_forward_hooked(e->ctx, e->ids[i], T, HW_LOGITS_ALL, e->logits, hooks);
        if (s) return s;
        for (int k = 0; k < e->n_ans[i]; k++)
            right += hw_argmax(e->logits + (size_t)(e->lens[i] - 1 + k) * V, V) == e->ids[i][e->lens[i] + k];
        exact += right == e->n_ans[i];
        share += (double)right / e->n_ans[i];
    }
    acc[0] = exact / e->np;
    acc[1] = share / e->np;
    return HW_OK;
}

static hw_status lr_open_prompts(lr_eval *e, const hw_model *m, const hw_tokenizer *t) {
    const hw_prompts *ps = e->p->prompts;
    if (!t) return hw_fail(HW_ERR_ARG, "lowrank: prompts need a tokenizer");
    e->np = hw_prompts_count(ps);
    e->ids = calloc((size_t)e->np, sizeof(int *));
    e->lens = calloc((size_t)e->np * 2, sizeof(int));
    if (!e->ids || !e->lens) return hw_fail(HW_ERR_NOMEM, "lowrank: out of memory");
    e->n_ans = e->lens + e->np;
    int Tmax = 1;
    for (int i = 0; i < e->np; i++) {
        int *pr = NULL, *an = NULL;
        const char *answer = hw_prompts_answer(ps, i, 0);
        if (!answer) return hw_fail(HW_ERR_ARG, "prompt %d has no answer", i + 1);
        int n = hw_tokenizer_encode_alloc(t, hw_prompts_text(ps, i), HW_TOK_BOS, &pr);
        int na = n < 0 ? -1 : hw_tokenizer_encode_alloc(t, answer, 0, &an);
        if (n >= 0 && na >= 1 && (e->ids[i] = malloc(sizeof(int) * (size_t)(n + na)))) {
            memcpy(e->ids[i], pr, sizeof(int) * (size_t)n);
            memcpy(e->ids[i] + n, an, sizeof(int) * (size_t)na);
        }
        free(pr);
        free(an);
        if (n < 0 || na < 0) return HW_ERR_ARG;
        if (na < 1) return hw_fail(HW_ERR_ARG, "prompt %d: the answer encodes to no token", i + 1);
        if (!e->ids[i]) return hw_fail(HW_ERR_NOMEM, "lowrank: out of memory");
        e->lens[i] = n;
        e->n_ans[i] = na;
        if (n + na - 1 > hw_context_size(e->ctx))
            return hw_fail(HW_ERR_RANGE, "prompt %d with its answer (%d tokens) is longer than the model's "
                           "context (%d)", i + 1, n + na - 1, hw_context_size(e->ctx));
        if (n + na - 1 > Tmax) Tmax = n + na - 1;
    }
    if (!(e->logits = malloc(sizeof(float) * (size_t)Tmax * m->cfg.vocab_size)))
        return hw_fail(HW_ERR_NOMEM, "lowrank: out of memory");
    return HW_OK;
}

static void lr_close(lr_eval *e) {
    for (int i = 0; e->ids && i < e->np; i++) free(e->ids[i]);
    free(e->ids);
    free(e->lens);
    free(e->logits);
    hw_task_free(e->task);
    hw_context_free(e->ctx);
}

static hw_status lr_open(lr_eval *e, const hw_model *m, const hw_tokenizer *t) {
    const hw_lowrank_params *p = e->p;
    if (!(e->ctx = hw_context_new_kv(m, 0, p->kv))) return HW_ERR_NOMEM;
    if (p->prompts) return lr_open_prompts(e, m, t);
    if (p->task.samples < 1 || p->fit_samples < 1) return hw_fail(HW_ERR_ARG, "lowrank: samples must be at least 1");
    return (e->task = hw_task_new_for_model(m, &p->task)) ? HW_OK : HW_ERR_ARG;
}

static hw_status lr_check(const hw_model *m, const hw_lowrank_params *p) {
    const hw_config *c = &m->cfg;
    if (p->head.layer < 0 || p->head.layer >= c->n_layer || p->head.head < 0 || p->head.head >= c->n_head)
        return hw_fail(HW_ERR_ARG, "lowrank: head %d.%d outside the model's %d layers x %d heads",
                       p->head.layer, p->head.head, c->n_layer, c->n_head);
    if (p->n_inputs < 1 || p->n_inputs > 3) return hw_fail(HW_ERR_ARG, "lowrank: 1 to 3 inputs, not %d", p->n_inputs);
    for (int k = 0; k < p->n_inputs; k++) {
        if (p->inputs[k] != HW_HOOK_Q && p->inputs[k] != HW_HOOK_K && p->inputs[k] != HW_HOOK_V)
            return hw_fail(HW_ERR_ARG, "lowrank: an input must be hook_q, hook_k or hook_v");
        for (int j = 0; j < k; j++)
            if (p->inputs[j] == p->inputs[k]) return hw_fail(HW_ERR_ARG, "lowrank: an input given twice");
    }
    if (!p->prompts == !p->task.name) return hw_fail(HW_ERR_ARG, "lowrank: give prompts or a task, not both");
    if (p->n_ranks < 0 || (p->n_ranks && !p->ranks)) return hw_fail(HW_ERR_ARG, "lowrank: %d ranks but no list", p->n_ranks);
    for (int i = 0; i < p->n_ranks; i++)
        if (p->ranks[i] < 0) return hw_fail(HW_ERR_ARG, "lowrank: rank %d is negative", p->ranks[i]);
    return HW_OK;
}

/* The ranks to try: p's, or 0, 1, 2, 4, ..., Dh. */
static hw_status lr_ranks(const hw_lowrank_params *p, hw_lowrank_result *r) {
    int n = p->n_ranks;
    if (!n) {
        n = 1;
        for (int k = 1; k < r->Dh; k *= 2) n++;
        n++;
    }
    r->ranks = malloc(sizeof(int) * (size_t)n);
    r->acc = calloc((size_t)n * 2, sizeof(double));
    r->spectrum = calloc((size_t)r->Dh * r->n_in, sizeof(double));
    if (!r->ranks || !r->acc || !r->spectrum) return hw_fail(HW_ERR_NOMEM, "lowrank: out of memory");
    if (p->n_ranks) memcpy(r->ranks, p->ranks, sizeof(int) * (size_t)n);
    else {
        int i = 0;
        r->ranks[i++] = 0;
        for (int k = 1; k < r->Dh; k *= 2) r->ranks[i++] = k;
        r->ranks[i++] = r->Dh;
    }
    r->n = n;
    return HW_OK;
}

/* Each input's state: the hook, and its buffer (gram, U, work, E, P: Dh x Dh each; sum,
 * mean, tmp: Dh each). */
static hw_status lr_hooks_open(const hw_model *m, const hw_lowrank_params *p, int Dh, lr_hook *u,
                               double **buf, hw_hooks **h) {
    const size_t DD = (size_t)Dh * Dh;
    if (!(*h = hw_hooks_new()) || !(*buf = calloc((DD * 5 + (size_t)Dh * 3) * p->n_inputs, sizeof(double))))
        return hw_fail(HW_ERR_NOMEM, "lowrank: out of memory");
    for (int k = 0; k < p->n_inputs; k++) {
        double *b = *buf + (DD * 5 + (size_t)Dh * 3) * k;
        hw_hook_point pt = p->inputs[k];
        u[k] = (lr_hook){.point = pt, .layer = p->head.layer, .Dh = Dh, .gram = b,
                         .slot = pt == HW_HOOK_Q ? p->head.head : hw_kv_head(&m->cfg, p->head.head),
                         .P = b + DD * 4, .sum = b + DD * 5, .mean = b + DD * 5 + Dh, .tmp = b + DD * 5 + Dh * 2};
        hw_status s = hw_hooks_add(*h, lr_fn, &u[k]);
        if (s) return s;
    }
    return HW_OK;
}

/* Fit: every input's second moments over the fit set (one pass), their eigenvectors
 * (the SVD directions of the stacked rows) into E by eigenvalue, the spectrum, the
 * centre. The hooks then stop gathering. */
static hw_status lr_fit(lr_eval *e, lr_hook *u, const hw_hooks *h, hw_lowrank_result *r) {
    const int Dh = r->Dh;
    const size_t DD = (size_t)Dh * Dh;
    double acc[2];
    hw_status s = lr_score(e, h, e->p->fit_seed, e->p->fit_samples, acc);
    for (int k = 0; !s && k < r->n_in; k++) {
        if (u[k].rows < 1) return hw_fail(HW_ERR_ARG, "lowrank: the fit saw no activation");
        double *G = u[k].gram, *U = G + DD, *work = U + DD, *E = work + DD, *mean = (double *)u[k].mean;
        double *sp = r->spectrum + (size_t)k * Dh;
        for (int i = 0; i < Dh; i++) mean[i] = r->center ? u[k].sum[i] / (double)u[k].rows : 0;
        for (int i = 0; i < Dh; i++)
            for (int j = 0; j < Dh; j++) G[(size_t)i * Dh + j] -= u[k].rows * mean[i] * mean[j];
        hw_svd_square(G, Dh, U, sp, E, work);   /* G symmetric PSD: E its eigenvectors */
        for (int i = 0; i < Dh; i++) sp[i] = sqrt(sp[i]);
        if (!k) r->rows = u[k].rows;
        u[k].gram = NULL;
    }
    return s;
}

/* Accuracy at each rank: every input's P = E_r E_r^T (r >= Dh: no hook at all). */
static hw_status lr_sweep(lr_eval *e, lr_hook *u, const hw_hooks *h, hw_lowrank_result *r,
                          hw_progress_fn progress, void *user) {
    const int Dh = r->Dh;
    const size_t DD = (size_t)Dh * Dh;
    double acc[2];
    hw_status s = HW_OK;
    for (int k = 0; !s && k < r->n; k++) {
        s = hw_progress_step(progress, user, "lowrank", "rank", k, r->n);
        int rk = r->ranks[k];
        for (int x = 0; x < r->n_in; x++) {
            const double *E = u[x].P - DD;
            double *P = (double *)u[x].P;
            for (int i = 0; i < Dh; i++)
                for (int j = 0; j < Dh; j++) {
                    double a = 0;
                    for (int l = 0; l < rk && l < Dh; l++) a += E[(size_t)l * Dh + i] * E[(size_t)l * Dh + j];
                    P[(size_t)i * Dh + j] = a;
                }
        }
        if (!s) s = lr_score(e, rk >= Dh ? NULL : h, e->task ? e->p->task.seed : 0, e->p->task.samples, acc);
        if (!s) {
            r->acc[k] = acc[0];
            r->acc[r->n + k] = acc[1];
        }
    }
    return s ? s : hw_progress_step(progress, user, "lowrank", "rank", r->n, r->n);
}

static hw_status lr_run(const hw_model *m, lr_eval *e, hw_lowrank_result *r, hw_progress_fn progress,
                        void *user) {
    const hw_lowrank_params *p = e->p;
    lr_hook u[3];
    double *buf = NULL;
    hw_hooks *h = NULL;
    hw_status s = hw_progress_step(progress, user, "lowrank", "fit", 0, 1);
    if (!s) s = lr_score(e, NULL, p->task.seed, p->task.samples, r->base);
    if (!s) s = lr_hooks_open(m, p, r->Dh, u, &buf, &h);
    if (!s) s = lr_fit(e, u, h, r);
    if (!s) s = hw_progress_step(progress, user, "lowrank", "fit", 1, 1);
    if (!s) s = lr_sweep(e, u, h, r, progress, user);
    hw_hooks_free(h);
    free(buf);
    return s;
}

hw_status hw_lowrank_run(const hw_model *m, const hw_tokenizer *t, const hw_lowrank_params *p,
                         hw_progress_fn progress, void *user, hw_lowrank_result **out) {
    if (out) *out = NULL;
    if (!m || !p || !out) return hw_fail(HW_ERR_ARG, "lowrank: no model, params or result");
    hw_status s = lr_check(m, p);
    if (s) return s;
    hw_lowrank_result *r = calloc(1, sizeof *r);
    if (!r) return hw_fail(HW_ERR_NOMEM, "lowrank: out of memory");
    r->head = p->head;
    r->n_in = p->n_inputs;
    memcpy(r->in, p->inputs, sizeof(hw_hook_point) * (size_t)(p->n_inputs > 0 && p->n_inputs <= 3 ? p->n_inputs : 0));
    r->center = p->center != 0;
    r->Dh = m->cfg.head_dim;
    lr_eval e = {0};
    e.p = p;
    s = lr_ranks(p, r);
    if (!s) s = lr_open(&e, m, t);
    if (!s) s = lr_run(m, &e, r, progress, user);
    lr_close(&e);
    if (s) {
        hw_lowrank_free(r);
        return s;
    }
    *out = r;
    return HW_OK;
}

int hw_lowrank_count(const hw_lowrank_result *r) { return r ? r->n : 0; }
const int *hw_lowrank_ranks(const hw_lowrank_result *r) { return r ? r->ranks : NULL; }

const double *hw_lowrank_accuracy(const hw_lowrank_result *r, int measure, double *base) {
    if (!r || (measure != 0 && measure != 1)) return NULL;
    if (base) base[0] = r->base[0], base[1] = r->base[1];
    return r->acc + (size_t)measure * r->n;
}

const hw_hook_point *hw_lowrank_inputs(const hw_lowrank_result *r, int *n) {
    if (n) *n = r ? r->n_in : 0;
    return r ? r->in : NULL;
}

const double *hw_lowrank_spectrum(const hw_lowrank_result *r, int input, int *rows) {
    if (!r || input < 0 || input >= r->n_in) return NULL;
    if (rows) *rows = (int)(r->rows > 0x7fffffff ? 0x7fffffff : r->rows);
    return r->spectrum + (size_t)input * r->Dh;
}

hw_status hw_lowrank_write(const hw_lowrank_result *r, const char *path) {
    if (!r) return hw_fail(HW_ERR_ARG, "lowrank: no result to write");
    hw_status s = hw_output_prepare(path);
    if (s) return s;
    hw_atomic_file *a = hw_atomic_open(path);
    if (!a) return HW_ERR_IO;
    FILE *f = hw_atomic_stream(a);
    static const char *names[] = {"q", "k", "v"};
    fprintf(f, "{\"head\": \"%d.%d\", \"inputs\": [", r->head.layer, r->head.head);
    for (int k = 0; k < r->n_in; k++) fprintf(f, "%s\"%s\"", k ? ", " : "", names[r->in[k] - HW_HOOK_Q]);
    fprintf(f, "], \"center\": %s, \"fit_rows\": %lld, \"spectrum\": {", r->center ? "true" : "false",
            (long long)r->rows);
    for (int k = 0; k < r->n_in; k++) {
        fprintf(f, "%s\"%s\": [", k ? ", " : "", names[r->in[k] - HW_HOOK_Q]);
        for (int i = 0; i < r->Dh; i++) fprintf(f, "%s%.9g", i ? ", " : "", r->spectrum[(size_t)k * r->Dh + i]);
        fputc(']', f);
    }
    fprintf(f, "}, \"baseline\": [%.9g, %.9g], \"ranks\": [", r->base[0], r->base[1]);
    for (int k = 0; k < r->n; k++)
        fprintf(f, "%s\n  {\"rank\": %d, \"accuracy\": %.9g, \"accuracy2\": %.9g}", k ? "," : "", r->ranks[k],
                r->acc[k], r->acc[r->n + k]);
    fputs("]}\n", f);
    return hw_atomic_commit(a);
}

/* scale_sweep.c: the intervention of methods.md section 6: one head's output
 * (equivalently its value vectors) multiplied by s at every position, and the rates at
 * which the greedy next token is the in-context and the memorised answer, for s over a
 * range: memory heads pull toward the memorised answer, in-context heads toward the
 * one in the prompt. */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

hw_scale_sweep_params hw_scale_sweep_params_default(void) {
    hw_scale_sweep_params p = {.from = 0, .to = 2, .steps = 5, .task = hw_task_eval_params_default()};
    p.task.name = NULL;
    return p;
}

struct hw_scale_sweep_result {
    hw_head head;
    int n, samples;
    double *scale, *in_context, *memorized;   /* (n) each */
};

/* The prompts encoded (with BOS) and each answer's first token. */
typedef struct {
    int np, **ids, *lens, *mem, *inc;
} encoded;

static void free_encoded(encoded *e) {
    for (int p = 0; e->ids && p < e->np; p++) free(e->ids[p]);
    free(e->ids);
    free(e->lens);
}

static hw_status encode(encoded *e, const hw_tokenizer *t, const hw_prompts *ps, int C) {
    e->np = hw_prompts_count(ps);
    e->ids = calloc((size_t)e->np, sizeof *e->ids);
    e->lens = calloc((size_t)e->np * 3, sizeof(int));
    if (!e->ids || !e->lens) return hw_fail(HW_ERR_NOMEM, "out of memory");
    e->mem = e->lens + e->np;
    e->inc = e->mem + e->np;
    for (int p = 0; p < e->np; p++) {
        const char *mem = hw_prompts_answer(ps, p, 0), *inc = hw_prompts_answer(ps, p, 1);
        if (!mem || !inc) return hw_fail(HW_ERR_ARG, "prompt %d needs a memorised and an in-context answer", p + 1);
        if ((e->lens[p] = hw_tokenizer_encode_alloc(t, hw_prompts_text(ps, p), HW_TOK_BOS, &e->ids[p])) < 0)
            return HW_ERR_ARG;
        if (e->lens[p] < 1) return hw_fail(HW_ERR_ARG, "prompt %d encodes to no token", p + 1);
        if (e->lens[p] > C)
            return hw_fail(HW_ERR_RANGE, "prompt %d (%d tokens) is longer than the model's context (%d)", p + 1,
                           e->lens[p], C);
        e->mem[p] = hw_tokenizer_answer_token(t, mem);
        e->inc[p] = hw_tokenizer_answer_token(t, inc);
    }
    return HW_OK;
}

/* One scale on the prompts: the share whose greedy next token is each answer's. */
static hw_status sweep_prompts(hw_scale_sweep_result *r, int k, const encoded *e, hw_context *c,
                               const hw_hooks *hooks, float *logits, hw_progress_fn progress, void *user) {
    const int V = hw_model_config(hw_context_model(c))->vocab_size;
    for (int p = 0; p < e->np; p++) {
        if (progress) {
            char stage[128];
            snprintf(stage, sizeof stage, "scale %g: prompt %d/%d", r->scale[k], p + 1, e->np);
            if (progress(stage, (int64_t)k * e->np + p, (int64_t)r->n * e->np, user))
                return hw_fail(HW_ERR_ARG, "stopped by the caller");
        }
        hw_context_reset(c);
        hw_status s = hw_forward_hooked(c, e->ids[p], e->lens[p], HW_LOGITS_LAST, logits, hooks);
        if (s) return s;
        int best = hw_argmax(logits, V);
        r->in_context[k] += (best == e->inc[p]) / (double)e->np;
        r->memorized[k] += (best == e->mem[p]) / (double)e->np;
    }
    return HW_OK;
}

static hw_status check_params(const hw_model *m, const hw_tokenizer *t, const hw_scale_sweep_params *p) {
    if (!m || !p) return hw_fail(HW_ERR_ARG, "hw_scale_sweep_run: no model or params");
    const hw_config *cfg = hw_model_config(m);
    if (p->head.layer < 0 || p->head.layer >= cfg->n_layer || p->head.head < 0 || p->head.head >= cfg->n_head)
        return hw_fail(HW_ERR_ARG, "head %d.%d out of range (%d layers x %d heads)", p->head.layer, p->head.head,
                       cfg->n_layer, cfg->n_head);
    if (!p->prompts == !p->task.name) return hw_fail(HW_ERR_ARG, "scale sweep: give prompts or a task, one of them");
    if (p->prompts && !t) return hw_fail(HW_ERR_ARG, "scale sweep: prompts need a tokenizer");
    if (p->task.name && p->task.samples < 1) return hw_fail(HW_ERR_ARG, "samples must be at least 1");
    if (p->scales ? p->n_scales < 1 : p->steps < 1) return hw_fail(HW_ERR_ARG, "scale sweep: no scales");
    for (int k = 0; p->scales && k < p->n_scales; k++)
        if (!isfinite(p->scales[k])) return hw_fail(HW_ERR_ARG, "scale %g is not a finite number", p->scales[k]);
    if (!p->scales && (!isfinite(p->from) || !isfinite(p->to)))
        return hw_fail(HW_ERR_ARG, "scales from %g to %g: not finite numbers", p->from, p->to);
    return HW_OK;
}

static hw_scale_sweep_result *new_result(const hw_scale_sweep_params *p) {
    hw_scale_sweep_result *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->head = p->head;
    r->n = p->scales ? p->n_scales : p->steps;
    if (!(r->scale = calloc((size_t)r->n * 3, sizeof(double)))) return free(r), NULL;
    r->in_context = r->scale + r->n;
    r->memorized = r->in_context + r->n;
    for (int k = 0; k < r->n; k++)
        r->scale[k] = p->scales ? p->scales[k]
                                : p->steps == 1 ? p->from : p->from + (p->to - p->from) * k / (p->steps - 1);
    return r;
}

/* Every scale: hooks with the head scaled, then the prompts or the task. */
static hw_status sweep(hw_scale_sweep_result *r, const hw_scale_sweep_params *p, const hw_tokenizer *t,
                       hw_context *c, hw_progress_fn progress, void *user) {
    const hw_model *m = hw_context_model(c);
    encoded e = {0};
    hw_task *task = NULL;
    float *logits = malloc(sizeof(float) * (size_t)hw_model_config(m)->vocab_size);
    hw_status s = logits ? HW_OK : hw_fail(HW_ERR_NOMEM, "out of memory");
    if (!s && p->prompts) s = encode(&e, t, p->prompts, hw_context_size(c));
    if (!s && p->task.name && !(task = hw_task_new_for_model(m, &p->task))) s = HW_ERR_ARG;
    r->samples = p->prompts ? e.np : p->task.samples;
    for (int k = 0; k < r->n && !s; k++) {
        hw_hooks *hooks = hw_hooks_new();
        s = hooks ? hw_hooks_scale(hooks, &r->head, 1, (float)r->scale[k], HW_PHASE_BOTH) : HW_ERR_NOMEM;
        if (!s && task) {
            char stage[64];
            snprintf(stage, sizeof stage, "scale %g", r->scale[k]);
            if (progress && progress(stage, k, r->n, user)) s = hw_fail(HW_ERR_ARG, "stopped by the caller");
            /* Plain recall is the memorised rate, following a counterfactual the in-context one. */
            if (!s) s = hw_task_evaluate_hooked(task, c, p->task.seed, p->task.samples, hooks, &r->memorized[k],
                                                &r->in_context[k]);
        } else if (!s) {
            s = sweep_prompts(r, k, &e, c, hooks, logits, progress, user);
        }
        hw_hooks_free(hooks);
    }
    free_encoded(&e);
    hw_task_free(task);
    free(logits);
    return s;
}

hw_status hw_scale_sweep_run(const hw_model *m, const hw_tokenizer *t, const hw_scale_sweep_params *p,
                             hw_progress_fn progress, void *user, hw_scale_sweep_result **out) {
    if (!out) return hw_fail(HW_ERR_ARG, "hw_scale_sweep_run: no result pointer");
    *out = NULL;
    hw_status s = check_params(m, t, p);
    if (s) return s;
    hw_scale_sweep_result *r = new_result(p);
    hw_context *c = r ? hw_context_new_kv(m, 0, p->kv) : NULL;
    s = !r ? hw_fail(HW_ERR_NOMEM, "out of memory") : !c ? HW_ERR_NOMEM : sweep(r, p, t, c, progress, user);
    hw_context_free(c);
    if (s) {
        hw_scale_sweep_result_free(r);
        return s;
    }
    *out = r;
    return HW_OK;
}

void hw_scale_sweep_result_free(hw_scale_sweep_result *r) {
    if (!r) return;
    free(r->scale);
    free(r);
}

hw_head hw_scale_sweep_result_head(const hw_scale_sweep_result *r) { return r ? r->head : (hw_head){-1, -1}; }
int hw_scale_sweep_result_count(const hw_scale_sweep_result *r) { return r ? r->n : 0; }
int hw_scale_sweep_result_samples(const hw_scale_sweep_result *r) { return r ? r->samples : 0; }

hw_status hw_scale_sweep_result_get(const hw_scale_sweep_result *r, int k, double *scale, double *in_context,
                                    double *memorized) {
    if (!r || k < 0 || k >= r->n) return hw_fail(HW_ERR_ARG, "scale sweep: no scale %d", k);
    if (scale) *scale = r->scale[k];
    if (in_context) *in_context = r->in_context[k];
    if (memorized) *memorized = r->memorized[k];
    return HW_OK;
}

static hw_status write_rows(const hw_scale_sweep_result *r, const char *path, int tsv) {
    if (!r || !path) return hw_fail(HW_ERR_ARG, "scale sweep: no result or path");
    hw_atomic_file *a = hw_atomic_open(path);
    if (!a) return HW_ERR_IO;
    FILE *f = hw_atomic_stream(a);
    if (tsv) {
        fputs("scale\tin_context\tmemorized\n", f);
        for (int k = 0; k < r->n; k++) fprintf(f, "%.9g\t%.9g\t%.9g\n", r->scale[k], r->in_context[k], r->memorized[k]);
    } else {
        fprintf(f, "{\"head\": \"%d-%d\", \"prompts\": %d, \"sweep\": [", r->head.layer, r->head.head, r->samples);
        for (int k = 0; k < r->n; k++)
            fprintf(f, "%s{\"scale\": %.9g, \"in_context\": %.9g, \"memorized\": %.9g}", k ? ", " : "", r->scale[k],
                    r->in_context[k], r->memorized[k]);
        fputs("]}\n", f);
    }
    return hw_atomic_commit(a);
}

hw_status hw_scale_sweep_result_write(const hw_scale_sweep_result *r, const char *path) {
    return write_rows(r, path, 0);
}

hw_status hw_scale_sweep_result_write_tsv(const hw_scale_sweep_result *r, const char *path) {
    return write_rows(r, path, 1);
}

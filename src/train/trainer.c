/*
 * trainer.c: a training loop's state and one step: forward, backward, global-norm
 * clipping, AdamW at the scheduled learning rate.
 */
#include "trainer.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Is m's weight storage one arena the model owns, in the layout of hw_param_layout?
 * Returns its start, or NULL. */
static float *own_arena(hw_model *m) {
    const hw_config *c = &m->cfg;
    float *base = (float *)m->w.tok_embed;
    int owned = 0;
    for (int i = 0; i < m->store.n_bufs; i++) owned |= m->store.bufs[i] == (void *)base;
    if (!base || !owned) return NULL;
    hw_layer_params *a = calloc((size_t)c->n_layer, sizeof *a);
    hw_layer_params *b = calloc((size_t)c->n_layer, sizeof *b);
    hw_params pa, pb;
    int same = a && b && hw_params_of_model(m, &pa, a) == HW_OK;
    if (same) {
        hw_params_bind(c, base, &pb, b);
        if (c->tied_embeddings) pb.classifier = pb.tok_embed;
        pa.layers = pb.layers = NULL;
        same = memcmp(&pa, &pb, sizeof pa) == 0 &&
               memcmp(a, b, (size_t)c->n_layer * sizeof *a) == 0;
    }
    free(a);
    free(b);
    return same ? base : NULL;
}

hw_trainer *hw_trainer_new(hw_model *m, const hw_train_params *p) {
    if (!m || !p) {
        hw_fail(HW_ERR_ARG, "hw_trainer_new: no model or parameters");
        return NULL;
    }
    if (!(p->lr > 0) || p->steps <= 0 || p->warmup < 0 || !(p->beta1 >= 0 && p->beta1 < 1) ||
        !(p->beta2 >= 0 && p->beta2 < 1) || !(p->eps > 0) || !(p->weight_decay >= 0) ||
        !(p->min_lr_frac >= 0 && p->min_lr_frac <= 1) ||
        !(p->decay_frac >= 0 && p->decay_frac <= 1) ||
        !(p->head_dropout >= 0 && p->head_dropout < 1) || p->head_dropout_from < 0) {
        hw_fail(HW_ERR_ARG,
                "training parameters out of range (lr %g, steps %d, warmup %d, betas %g %g, "
                "eps %g, weight decay %g, min_lr_frac %g, decay_frac %g, head dropout %g)",
                p->lr, p->steps, p->warmup, p->beta1, p->beta2, p->eps, p->weight_decay,
                p->min_lr_frac, p->decay_frac, p->head_dropout);
        return NULL;
    }
    float *arena = own_arena(m);
    if (!arena) {
        hw_fail(HW_ERR_UNSUPPORTED,
                "training needs a model whose F32 weights are its own arena "
                "(hw_model_new_random); this one's are %s",
                m->info.format ? m->info.format : "loaded from a file");
        return NULL;
    }
    hw_trainer *t = calloc(1, sizeof *t);
    if (!t) {
        hw_fail(HW_ERR_NOMEM, "out of memory");
        return NULL;
    }
    t->m = m;
    t->p = *p;
    t->w = arena;
    t->n = hw_param_total(&m->cfg);
    t->n_tensors = hw_param_count(&m->cfg);
    t->tensors = malloc((size_t)t->n_tensors * sizeof *t->tensors);
    t->m1 = calloc((size_t)t->n, sizeof(float));
    t->m2 = calloc((size_t)t->n, sizeof(float));
    if (p->head_dropout > 0) t->gates = malloc((size_t)m->cfg.n_layer * m->cfg.n_head * sizeof(float));
    if (!t->tensors || !t->m1 || !t->m2 || (p->head_dropout > 0 && !t->gates)) {
        hw_trainer_free(t);
        hw_fail(HW_ERR_NOMEM, "out of memory for the optimiser of %lld parameters",
                (long long)t->n);
        return NULL;
    }
    hw_param_layout(&m->cfg, t->tensors, NULL, t->n_tensors);
    if (!(t->g = hw_grad_new(m))) {
        hw_trainer_free(t);
        return NULL;
    }
    return t;
}

void hw_trainer_free(hw_trainer *t) {
    if (!t) return;
    hw_grad_free(t->g);
    free(t->tensors);
    free(t->m1);
    free(t->m2);
    free(t->gates);
    free(t);
}

/* splitmix64's finaliser: a well-mixed 64-bit value from any input. */
static uint64_t mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Each gate is its own hash of (seed, step, layer, head), so the gates of a step need
 * no state: a resumed run draws what the uninterrupted one drew. */
void hw_train_head_gates(const hw_train_params *p, int step, int n_layer, int n_head, float *gates) {
    for (int l = 0; l < n_layer; l++)
        for (int h = 0; h < n_head; h++) {
            int eligible = p->head_dropout > 0 && step >= p->head_dropout_from &&
                           (!p->head_dropout_layers || (l < 64 && (p->head_dropout_layers >> l & 1)));
            uint64_t r = mix64(mix64(mix64(p->seed ^ 0x68656164ull) ^ (uint64_t)step) ^ ((uint64_t)l << 32 | (uint64_t)h));
            double u = (double)(r >> 11) * 0x1p-53; /* uniform in [0, 1) */
            gates[(size_t)l * n_head + h] = eligible && u < p->head_dropout ? 0.0f : 1.0f;
        }
}

int hw_trainer_steps_done(const hw_trainer *t) { return t ? t->step : 0; }
float hw_trainer_grad_norm(const hw_trainer *t) { return t ? t->last_norm : 0; }

hw_status hw_trainer_step(hw_trainer *t, const hw_batch *b, float *loss) {
    if (!t) return hw_fail(HW_ERR_ARG, "no trainer");
    float l = 0;
    hw_status s = HW_OK;
    if (t->gates) {
        /* No head dropped: no gates, so the step costs (and computes) what a plain one does. */
        const int n = t->m->cfg.n_layer * t->m->cfg.n_head;
        hw_train_head_gates(&t->p, t->step, t->m->cfg.n_layer, t->m->cfg.n_head, t->gates);
        int dropped = 0;
        for (int i = 0; i < n; i++) dropped |= t->gates[i] == 0.0f;
        s = hw_grad_set_gates(t->g, dropped ? t->gates : NULL);
    }
    if (s == HW_OK) s = hw_grad_compute(t->g, b, HW_GRAD_WEIGHTS, &l);
    if (s != HW_OK) return s;
    if (!isfinite(l)) return hw_fail(HW_ERR_RANGE, "loss is %g at step %d", l, t->step);
    /* The global norm in double, in arena order: the same bits whatever the threads. */
    const float *grad = hw_grad_weights(t->g);
    double ss = 0;
    for (int64_t i = 0; i < t->n; i++) ss += (double)grad[i] * grad[i];
    const double norm = sqrt(ss);
    if (!isfinite(norm)) return hw_fail(HW_ERR_RANGE, "gradient norm is %g at step %d", norm, t->step);
    const float scale = t->p.clip > 0 && norm > t->p.clip ? (float)(t->p.clip / norm) : 1.0f;
    hw_adamw_update(t, grad, hw_train_lr(&t->p, t->step), scale);
    t->last_norm = (float)norm;
    t->step++;
    if (loss) *loss = l;
    return HW_OK;
}

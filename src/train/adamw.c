/*
 * adamw.c: the learning-rate schedule and the AdamW update of a parameter arena.
 */
#include "trainer.h"

#include <math.h>

hw_train_params hw_train_params_default(void) {
    return (hw_train_params){.lr = 1e-3f, .min_lr_frac = 0.1f, .weight_decay = 0.1f,
                             .beta1 = 0.9f, .beta2 = 0.95f, .eps = 1e-8f, .clip = 1.0f,
                             .warmup = 100, .steps = 1000, .schedule = HW_SCHED_COSINE,
                             .decay_frac = 0.2f, .seed = 0};
}

float hw_train_lr(const hw_train_params *p, int step) {
    const double lr = p->lr, lo = p->lr * p->min_lr_frac;
    if (step < p->warmup) return (float)(lr * (step + 1) / p->warmup);
    if (p->schedule == HW_SCHED_WSD) {
        /* Warm-up, then stable at lr, then a linear decay over the last decay_frac. */
        int decay = (int)(p->decay_frac * p->steps + 0.5);
        int start = p->steps - decay;
        if (step < start || decay <= 0) return (float)lr;
        double f = (double)(step - start + 1) / decay;
        return (float)(lr - (lr - lo) * (f > 1 ? 1 : f));
    }
    int span = p->steps - p->warmup;
    double f = span > 0 ? (double)(step - p->warmup) / span : 1;
    if (f > 1) f = 1;
    return (float)(lo + 0.5 * (lr - lo) * (1 + cos(3.14159265358979323846 * f)));
}

typedef struct {
    float *w, *m, *v;
    const float *g;
    float lr, b1, b2, eps, c1, c2, decay, scale;
} adamw_job;

static void adamw_range(void *arg, int i0, int i1) {
    const adamw_job *j = arg;
    for (int i = i0; i < i1; i++) {
        const float g = j->g[i] * j->scale;
        const float m = j->b1 * j->m[i] + (1.0f - j->b1) * g;
        const float v = j->b2 * j->v[i] + (1.0f - j->b2) * g * g;
        j->m[i] = m;
        j->v[i] = v;
        const float mh = m / j->c1, vh = v / j->c2;
        j->w[i] -= j->lr * (mh / (sqrtf(vh) + j->eps) + j->decay * j->w[i]);
    }
}

void hw_adamw_update(hw_trainer *t, const float *grad, float lr, float scale) {
    const hw_train_params *p = &t->p;
    const int step = t->step + 1; /* Adam's bias correction counts from 1 */
    const float c1 = (float)(1.0 - pow(p->beta1, step)), c2 = (float)(1.0 - pow(p->beta2, step));
    for (int k = 0; k < t->n_tensors; k++) {
        const hw_param *e = &t->tensors[k];
        for (int64_t done = 0; done < e->size;) {
            int len = e->size - done < (1 << 30) ? (int)(e->size - done) : 1 << 30;
            const int64_t o = e->offset + done;
            adamw_job j = {t->w + o, t->m1 + o, t->m2 + o, grad + o, lr, p->beta1, p->beta2,
                           p->eps, c1, c2, e->decay ? p->weight_decay : 0.0f, scale};
            hw_parallel_range(adamw_range, &j, len, 16384);
            done += len;
        }
    }
}

/*
 * interventions.c: named head interventions, each one hook.
 *
 *   mask_uniform  pre-softmax scores of the heads set to 0 where the query may
 *                 look, so the softmax is uniform over its window (methods.md 1.3:
 *                 the Retrieval Head paper's masking);
 *   zero_output   the heads' z set to 0;
 *   scale         the heads' z times s, which is the same as scaling their value
 *                 vectors because z is a convex mix of values (methods.md 6);
 *   mean_ablate   the heads' z replaced by its mean over reference prompts;
 *   patch         any hook point replaced by a captured tensor from another run.
 */
#include "model/hooks.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    hw_phase phase;
    float s;               /* scale */
    const float *mean_z;   /* (L, H, Dh), mean_ablate */
    int n;
    hw_head heads[];
} head_edit;

static bool phase_ok(hw_phase phase, int decode) {
    return phase == HW_PHASE_BOTH || (phase == HW_PHASE_DECODE) == (decode != 0);
}

static bool edits_layer(const head_edit *e, int layer) {
    for (int i = 0; i < e->n; i++)
        if (e->heads[i].layer == layer) return true;
    return false;
}

static bool asks(const head_edit *e, const hw_hook_call *call, hw_hook_point point) {
    return call->point == point && phase_ok(e->phase, call->decode) && edits_layer(e, call->layer);
}

/* scores (H, T, P) */
static int mask_uniform_hook(hw_hook_call *call, void *user) {
    const head_edit *e = user;
    if (call->ask) return asks(e, call, HW_HOOK_ATTN_SCORES);
    const size_t rows = (size_t)call->shape[1] * call->shape[2];
    for (int i = 0; i < e->n; i++) {
        if (e->heads[i].layer != call->layer) continue;
        float *s = call->data + (size_t)e->heads[i].head * rows;
        for (size_t j = 0; j < rows; j++)
            if (isfinite(s[j])) s[j] = 0.0f;
    }
    return 0;
}

/* z (T, H, Dh): fn edits one head's Dh values at row t. */
static void each_head_z(const head_edit *e, hw_hook_call *call,
                        void (*fn)(const head_edit *, float *, int layer, int head, int H, int Dh)) {
    const int T = call->shape[0], H = call->shape[1], Dh = call->shape[2];
    for (int i = 0; i < e->n; i++) {
        if (e->heads[i].layer != call->layer) continue;
        for (int t = 0; t < T; t++)
            fn(e, call->data + ((size_t)t * H + e->heads[i].head) * Dh, call->layer,
               e->heads[i].head, H, Dh);
    }
}

static void z_zero(const head_edit *e, float *z, int l, int h, int H, int Dh) {
    memset(z, 0, (size_t)Dh * sizeof *z);
}
static void z_scale(const head_edit *e, float *z, int l, int h, int H, int Dh) {
    for (int d = 0; d < Dh; d++) z[d] *= e->s;
}
static void z_mean(const head_edit *e, float *z, int l, int h, int H, int Dh) {
    memcpy(z, e->mean_z + ((size_t)l * H + h) * Dh, (size_t)Dh * sizeof *z);
}

static int zero_hook(hw_hook_call *call, void *user) {
    if (call->ask) return asks(user, call, HW_HOOK_Z);
    each_head_z(user, call, z_zero);
    return 0;
}
static int scale_hook(hw_hook_call *call, void *user) {
    if (call->ask) return asks(user, call, HW_HOOK_Z);
    each_head_z(user, call, z_scale);
    return 0;
}
static int mean_hook(hw_hook_call *call, void *user) {
    if (call->ask) return asks(user, call, HW_HOOK_Z);
    each_head_z(user, call, z_mean);
    return 0;
}

static hw_status add_head_edit(hw_hooks *h, const hw_head *heads, int n, hw_phase phase,
                               float s, const float *mean_z, hw_hook_fn fn) {
    if (!h || !heads || n <= 0) return hw_fail(HW_ERR_ARG, "intervention: no heads given");
    for (int i = 0; i < n; i++)
        if (heads[i].layer < 0 || heads[i].head < 0)
            return hw_fail(HW_ERR_ARG, "intervention: head %d.%d", heads[i].layer, heads[i].head);
    head_edit *e = malloc(sizeof *e + (size_t)n * sizeof(hw_head));
    if (!e) return hw_fail(HW_ERR_NOMEM, "out of memory for an intervention");
    e->phase = phase;
    e->s = s;
    e->mean_z = mean_z;
    e->n = n;
    memcpy(e->heads, heads, (size_t)n * sizeof(hw_head));
    hw_status st = hw_hooks_own(h, e);
    return st ? st : hw_hooks_add(h, fn, e);
}

hw_status hw_hooks_mask_uniform(hw_hooks *h, const hw_head *heads, int n, hw_phase phase) {
    return add_head_edit(h, heads, n, phase, 1.0f, NULL, mask_uniform_hook);
}
hw_status hw_hooks_zero_output(hw_hooks *h, const hw_head *heads, int n, hw_phase phase) {
    return add_head_edit(h, heads, n, phase, 0.0f, NULL, zero_hook);
}
hw_status hw_hooks_scale(hw_hooks *h, const hw_head *heads, int n, float s, hw_phase phase) {
    return add_head_edit(h, heads, n, phase, s, NULL, scale_hook);
}
hw_status hw_hooks_mean_ablate(hw_hooks *h, const hw_head *heads, int n, const float *mean_z,
                               hw_phase phase) {
    if (!mean_z) return hw_fail(HW_ERR_ARG, "mean ablation: no mean z given");
    return add_head_edit(h, heads, n, phase, 0.0f, mean_z, mean_hook);
}

/* ---------------------------------------------------------------- patching */

typedef struct {
    hw_hook_point point;
    int layer;
    hw_phase phase;
    const hw_capture *src;
} patch_edit;

static int patch_hook(hw_hook_call *call, void *user) {
    const patch_edit *p = user;
    if (call->ask)
        return call->point == p->point && (p->layer < 0 || call->layer == p->layer) &&
               phase_ok(p->phase, call->decode);
    char name[64];
    hw_hook_name(name, sizeof name, call->point, call->layer);
    const hw_capture_entry *e = hw_capture_find(p->src, call->point, call->layer, call->pos);
    if (!e) {
        hw_fail(HW_ERR_ARG, "patch: nothing captured at %s for position %d", name, call->pos);
        return 1;
    }
    size_t count = 1;
    bool same = e->ndim == call->ndim;
    for (int i = 0; same && i < call->ndim; i++) {
        same = e->shape[i] == call->shape[i];
        count *= (size_t)call->shape[i];
    }
    if (!same) {
        hw_fail(HW_ERR_ARG, "patch: the captured %s at position %d has another shape", name,
                call->pos);
        return 1;
    }
    memcpy(call->data, e->data, count * sizeof(float));
    return 0;
}

hw_status hw_hooks_patch(hw_hooks *h, hw_hook_point point, int layer, const hw_capture *src,
                         hw_phase phase) {
    if (!h || !src || point < 0 || point >= HW_HOOK_COUNT)
        return hw_fail(HW_ERR_ARG, "hw_hooks_patch: bad hooks, capture or hook point");
    patch_edit *p = malloc(sizeof *p);
    if (!p) return hw_fail(HW_ERR_NOMEM, "out of memory for a patch");
    *p = (patch_edit){point, hw_hook_is_layered(point) ? layer : -1, phase, src};
    hw_status st = hw_hooks_own(h, p);
    return st ? st : hw_hooks_add(h, patch_hook, p);
}

/* ---------------------------------------------------------------- mean z */

typedef struct {
    double *sum;   /* (L, H, Dh) */
    long rows;     /* positions summed, counted at layer 0 */
} z_sum;

static int sum_z_hook(hw_hook_call *call, void *user) {
    if (call->ask) return call->point == HW_HOOK_Z;
    z_sum *s = user;
    const int T = call->shape[0], HD = call->shape[1] * call->shape[2];
    double *dst = s->sum + (size_t)call->layer * HD;
    for (int t = 0; t < T; t++)
        for (int i = 0; i < HD; i++) dst[i] += call->data[(size_t)t * HD + i];
    if (call->layer == 0) s->rows += T;
    return 0;
}

hw_status hw_mean_z(const hw_model *m, const int *const *seqs, const int *lens, int n,
                    float *mean_z) {
    const hw_config *cfg = hw_model_config(m);
    const size_t size = (size_t)cfg->n_layer * cfg->n_head * cfg->head_dim;
    if (n <= 0 || !seqs || !lens || !mean_z)
        return hw_fail(HW_ERR_ARG, "hw_mean_z: no reference sequences");
    int longest = 0;
    for (int i = 0; i < n; i++) longest = lens[i] > longest ? lens[i] : longest;
    z_sum s = {calloc(size, sizeof(double)), 0};
    hw_hooks *h = hw_hooks_new();
    /* A full cache: the reference is the model's mean z over these sequences, the same
     * whatever cache the ablated run then uses (hw_mean_z has no policy to take). */
    hw_context *c = longest > 0 ? hw_context_new(m, longest) : NULL;
    hw_status st = !s.sum || !h ? hw_fail(HW_ERR_NOMEM, "out of memory for mean z")
                   : !c ? (longest > 0 ? HW_ERR_NOMEM : hw_fail(HW_ERR_ARG, "empty sequences"))
                        : hw_hooks_add(h, sum_z_hook, &s);
    for (int i = 0; st == HW_OK && i < n; i++) {
        if (lens[i] <= 0) continue;
        hw_context_reset(c);
        st = hw_forward_hooked(c, seqs[i], lens[i], HW_LOGITS_NONE, NULL, h);
    }
    if (st == HW_OK)
        for (size_t i = 0; i < size; i++) mean_z[i] = (float)(s.sum[i] / (double)s.rows);
    hw_context_free(c);
    hw_hooks_free(h);
    free(s.sum);
    return st;
}

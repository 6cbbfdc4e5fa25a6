/*
 * hooks.c: the hook list, hook-point names, and the two-pass visit: the model layer's
 * side of hooks, which the forward pass calls. What hooks do (captures, masks, patches)
 * is built on this in src/heads/.
 *
 * A visit first asks every hook whether it wants the tensor (ask = 1, no
 * data), so the forward pass materialises only what someone asked for; then it
 * calls the hooks that said yes, in the order they were added. Asking must have
 * no side effects: the forward may ask more than once per visit.
 */
#include "model/hooks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

hw_hooks *hw_hooks_new(void) {
    hw_hooks *h = calloc(1, sizeof *h);
    if (!h) hw_fail(HW_ERR_NOMEM, "out of memory for hooks");
    return h;
}

void hw_hooks_free(hw_hooks *h) {
    if (!h) return;
    for (int i = 0; i < h->n_owned; i++) free(h->owned[i]);
    free(h->owned);
    free(h->entries);
    free(h);
}

hw_status hw_hooks_add(hw_hooks *h, hw_hook_fn fn, void *user) {
    if (!h || !fn) return hw_fail(HW_ERR_ARG, "hw_hooks_add: no hooks or no function");
    if (h->n == h->cap) {
        int cap = h->cap ? 2 * h->cap : 8;
        hw_hook_entry *e = realloc(h->entries, (size_t)cap * sizeof *e);
        if (!e) return hw_fail(HW_ERR_NOMEM, "out of memory for hooks");
        h->entries = e;
        h->cap = cap;
    }
    h->entries[h->n++] = (hw_hook_entry){fn, user};
    return HW_OK;
}

hw_status hw_hooks_own(hw_hooks *h, void *p) {
    void **o = realloc(h->owned, (size_t)(h->n_owned + 1) * sizeof *o);
    if (!o) {
        free(p);
        return hw_fail(HW_ERR_NOMEM, "out of memory for hooks");
    }
    h->owned = o;
    h->owned[h->n_owned++] = p;
    return HW_OK;
}

bool hw_hooks_wanted(const hw_hooks *h, hw_hook_call *call) {
    if (!h) return false;
    call->ask = 1;
    call->data = NULL;
    for (int i = 0; i < h->n; i++)
        if (h->entries[i].fn(call, h->entries[i].user)) return true;
    return false;
}

hw_status hw_hooks_visit(const hw_hooks *h, hw_hook_call *call, float *data) {
    if (!h) return HW_OK;
    for (int i = 0; i < h->n; i++) {
        const hw_hook_entry *e = &h->entries[i];
        call->ask = 1;
        call->data = NULL;
        if (!e->fn(call, e->user)) continue;
        call->ask = 0;
        call->data = data;
        hw_fail(HW_OK, "%s", "");
        if (e->fn(call, e->user)) {
            char name[64];
            hw_hook_name(name, sizeof name, call->point, call->layer);
            /* Keep the hook's own message if it left one. */
            if (!*hw_last_error()) hw_fail(HW_ERR_ARG, "a hook stopped the run at %s", name);
            return HW_ERR_ARG;
        }
    }
    return HW_OK;
}

/* ---------------------------------------------------------------- names */

static const struct {
    const char *name;  /* for layered points, the part after "blocks.L." */
    bool layered;
} points[HW_HOOK_COUNT] = {
    [HW_HOOK_EMBED] = {"hook_embed", false},
    [HW_HOOK_POS_EMBED] = {"hook_pos_embed", false},
    [HW_HOOK_RESID_PRE] = {"hook_resid_pre", true},
    [HW_HOOK_Q] = {"attn.hook_q", true},
    [HW_HOOK_K] = {"attn.hook_k", true},
    [HW_HOOK_V] = {"attn.hook_v", true},
    [HW_HOOK_ROT_Q] = {"attn.hook_rot_q", true},
    [HW_HOOK_ROT_K] = {"attn.hook_rot_k", true},
    [HW_HOOK_ATTN_SCORES] = {"attn.hook_attn_scores", true},
    [HW_HOOK_PATTERN] = {"attn.hook_pattern", true},
    [HW_HOOK_Z] = {"attn.hook_z", true},
    [HW_HOOK_RESULT] = {"attn.hook_result", true},
    [HW_HOOK_ATTN_OUT] = {"hook_attn_out", true},
    [HW_HOOK_RESID_MID] = {"hook_resid_mid", true},
    [HW_HOOK_MLP_POST] = {"mlp.hook_post", true},
    [HW_HOOK_MLP_OUT] = {"hook_mlp_out", true},
    [HW_HOOK_RESID_POST] = {"hook_resid_post", true},
    [HW_HOOK_LN_FINAL] = {"ln_final.hook_normalized", false},
    [HW_HOOK_LOGITS] = {"hook_logits", false},
};

bool hw_hook_is_layered(hw_hook_point point) {
    return point >= 0 && point < HW_HOOK_COUNT && points[point].layered;
}

int hw_hook_name(char *buf, size_t n, hw_hook_point point, int layer) {
    if (point < 0 || point >= HW_HOOK_COUNT) return snprintf(buf, n, "?");
    if (!points[point].layered) return snprintf(buf, n, "%s", points[point].name);
    return snprintf(buf, n, "blocks.%d.%s", layer, points[point].name);
}

/* Does this model have the point at all? */
static const char *point_missing(const hw_model *m, hw_hook_point p) {
    const hw_config *cfg = hw_model_config(m);
    if (p == HW_HOOK_POS_EMBED && cfg->pos != HW_POS_LEARNED) return "has no learned positions";
    if ((p == HW_HOOK_ROT_Q || p == HW_HOOK_ROT_K) && cfg->pos != HW_POS_ROTARY)
        return "has no rotary embeddings";
    if (p == HW_HOOK_RESID_MID && cfg->parallel_residual)
        return "has parallel residuals (no resid_mid)";
    if ((p == HW_HOOK_MLP_POST || p == HW_HOOK_MLP_OUT) && cfg->d_ff == 0)
        return "is attention-only";
    return NULL;
}

hw_status hw_hook_parse(const hw_model *m, const char *name, hw_hook_point *point, int *layer) {
    const hw_config *cfg = hw_model_config(m);
    int l = -1, used = 0;
    const char *rest = name;
    if (sscanf(name, "blocks.%d.%n", &l, &used) == 1 && used > 0) {
        rest = name + used;
        if (l < 0 || l >= cfg->n_layer)
            return hw_fail(HW_ERR_ARG, "hook point '%s': layer %d out of range (model has %d)",
                           name, l, cfg->n_layer);
    }
    for (int p = 0; p < HW_HOOK_COUNT; p++) {
        if (strcmp(rest, points[p].name) || points[p].layered != (rest != name)) continue;
        const char *why = point_missing(m, (hw_hook_point)p);
        if (why) return hw_fail(HW_ERR_ARG, "hook point '%s': this model %s", name, why);
        *point = (hw_hook_point)p;
        *layer = points[p].layered ? l : -1;
        return HW_OK;
    }
    return hw_fail(HW_ERR_ARG, "unknown hook point '%s' (e.g. blocks.0.attn.hook_pattern, "
                   "hook_embed, ln_final.hook_normalized, hook_logits)", name);
}

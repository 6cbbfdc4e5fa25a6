/*
 * capture.c: copies of hook tensors, one entry per visit of a wanted point.
 */
#include "model/hooks.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    hw_hook_point point;
    int layer;  /* -1: every layer */
} capture_want;

struct hw_capture {
    capture_want *wants;
    int n_wants;
    hw_capture_entry *entries;
    int n, cap;
};

hw_capture *hw_capture_new(void) {
    hw_capture *cap = calloc(1, sizeof *cap);
    if (!cap) hw_fail(HW_ERR_NOMEM, "out of memory for a capture");
    return cap;
}

void hw_capture_clear(hw_capture *cap) {
    if (!cap) return;
    for (int i = 0; i < cap->n; i++) free((void *)cap->entries[i].data);
    cap->n = 0;
}

void hw_capture_free(hw_capture *cap) {
    if (!cap) return;
    hw_capture_clear(cap);
    free(cap->entries);
    free(cap->wants);
    free(cap);
}

hw_status hw_capture_want(hw_capture *cap, hw_hook_point point, int layer) {
    if (!cap || point < 0 || point >= HW_HOOK_COUNT)
        return hw_fail(HW_ERR_ARG, "hw_capture_want: bad capture or hook point");
    capture_want *w = realloc(cap->wants, (size_t)(cap->n_wants + 1) * sizeof *w);
    if (!w) return hw_fail(HW_ERR_NOMEM, "out of memory for a capture");
    cap->wants = w;
    cap->wants[cap->n_wants++] = (capture_want){point, hw_hook_is_layered(point) ? layer : -1};
    return HW_OK;
}

static bool capture_wants(const hw_capture *cap, hw_hook_point point, int layer) {
    for (int i = 0; i < cap->n_wants; i++)
        if (cap->wants[i].point == point && (cap->wants[i].layer < 0 || cap->wants[i].layer == layer))
            return true;
    return false;
}

static int capture_hook(hw_hook_call *call, void *user) {
    hw_capture *cap = user;
    if (call->ask) return capture_wants(cap, call->point, call->layer);
    size_t count = 1;
    for (int i = 0; i < call->ndim; i++) count *= (size_t)call->shape[i];
    if (cap->n == cap->cap) {
        int n = cap->cap ? 2 * cap->cap : 16;
        hw_capture_entry *e = realloc(cap->entries, (size_t)n * sizeof *e);
        if (!e) {
            hw_fail(HW_ERR_NOMEM, "out of memory capturing activations");
            return 1;
        }
        cap->entries = e;
        cap->cap = n;
    }
    float *copy = malloc(count * sizeof(float));
    if (!copy) {
        hw_fail(HW_ERR_NOMEM, "out of memory capturing activations (%zu floats)", count);
        return 1;
    }
    memcpy(copy, call->data, count * sizeof(float));
    hw_capture_entry *e = &cap->entries[cap->n++];
    *e = (hw_capture_entry){call->point, call->layer, call->pos, call->T, call->decode,
                            call->ndim, {call->shape[0], call->shape[1], call->shape[2]}, copy};
    return 0;
}

hw_status hw_hooks_add_capture(hw_hooks *h, hw_capture *cap) {
    if (!cap) return hw_fail(HW_ERR_ARG, "hw_hooks_add_capture: no capture");
    return hw_hooks_add(h, capture_hook, cap);
}

int hw_capture_count(const hw_capture *cap) { return cap ? cap->n : 0; }

const hw_capture_entry *hw_capture_get(const hw_capture *cap, int i) {
    return cap && i >= 0 && i < cap->n ? &cap->entries[i] : NULL;
}

const hw_capture_entry *hw_capture_find(const hw_capture *cap, hw_hook_point point, int layer,
                                        int pos) {
    for (int i = 0; cap && i < cap->n; i++) {
        const hw_capture_entry *e = &cap->entries[i];
        if (e->point == point && e->layer == layer && e->pos == pos) return e;
    }
    return NULL;
}

hw_status hw_capture_want_name(hw_capture *cap, const hw_model *m, const char *name) {
    if (!cap || !m || !name) return hw_fail(HW_ERR_ARG, "hw_capture_want_name: NULL argument");
    char buf[256];
    const char *parse = name;
    bool every = !strncmp(name, "blocks.*.", 9);
    if (every) {
        if (snprintf(buf, sizeof buf, "blocks.0.%s", name + 9) >= (int)sizeof buf)
            return hw_fail(HW_ERR_ARG, "hook point name too long: '%.40s...'", name);
        parse = buf;
    }
    hw_hook_point p;
    int layer;
    if (hw_hook_parse(m, parse, &p, &layer) != HW_OK) return HW_ERR_ARG;
    return hw_capture_want(cap, p, every ? -1 : layer);
}

/* hooks.h: the hook list and how the forward pass visits hook points (model/hooks.c), not
 * part of the API. src/heads/ builds captures and interventions on it. */
#ifndef HW_HOOKS_H
#define HW_HOOKS_H

#include "internal.h"

typedef struct {
    hw_hook_fn fn;
    void *user;
} hw_hook_entry;

struct hw_hooks {
    hw_hook_entry *entries;
    int n, cap;
    void **owned;   /* state of the intervention helpers, freed with the hooks */
    int n_owned;
};

/* Does any hook want this visit? call->ask is set to 1 and data to NULL. */
bool hw_hooks_wanted(const hw_hooks *h, hw_hook_call *call);
/* Ask each hook and call those that want the tensor with data. Returns HW_OK, or
 * HW_ERR_ARG with a message naming the point if a hook stopped the run. */
hw_status hw_hooks_visit(const hw_hooks *h, hw_hook_call *call, float *data);
/* Keep p (malloc'd) until hw_hooks_free; frees p and fails if the list cannot grow. */
hw_status hw_hooks_own(hw_hooks *h, void *p);
/* Is `point` one that exists in every layer (as opposed to global)? */
bool hw_hook_is_layered(hw_hook_point point);

#endif

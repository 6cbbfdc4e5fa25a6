/* kv_policy.c: which positions each (layer, KV head) keeps (headwise.h, "KV-cache
 * policies"); the context turns a policy into cache layouts (context.c, kv_cache.c). */
#include "internal.h"

#include <limits.h>

#include <stdlib.h>
#include <string.h>

struct hw_kv_policy {
    int n_layer, n_kv_head;     /* the shape it was made for */
    int sink, recent, chunk;
    hw_kv_compensation comp;
    unsigned char *full;        /* (L, Hk) 1: keeps every position */
    char *name;
    int lh_chunk, lh_len;       /* LongHeads: chunk W and tokens per head A; 0: none */
    hw_longheads_score lh_score;
};

hw_kv_policy *hw_kv_policy_new(const hw_model *m, int sink, int recent, int chunk,
                               hw_kv_compensation comp) {
    if (!m) {
        hw_fail(HW_ERR_ARG, "kv policy: no model");
        return NULL;
    }
    if (sink < 0 || recent < 0 || chunk < 0 || comp < HW_KV_COMP_NONE ||
        comp > HW_KV_COMP_WEIGHTED) {
        hw_fail(HW_ERR_ARG, "kv policy: sink %d, recent %d, chunk %d must be >= 0", sink, recent,
                chunk);
        return NULL;
    }
    const hw_config *cfg = hw_model_config(m);
    hw_kv_policy *p = calloc(1, sizeof *p);
    size_t n = (size_t)cfg->n_layer * cfg->n_kv_head;
    if (p) p->full = malloc(n ? n : 1);
    if (!p || !p->full) {
        free(p);
        hw_fail(HW_ERR_NOMEM, "out of memory for a kv policy");
        return NULL;
    }
    *p = (hw_kv_policy){cfg->n_layer, cfg->n_kv_head, sink, recent, chunk, comp, p->full, NULL, 0, 0, HW_LONGHEADS_POOLED};
    memset(p->full, recent == 0, n);
    if (hw_kv_policy_set_name(p, recent == 0 ? "full" : "window")) {
        hw_kv_policy_free(p);
        return NULL;
    }
    return p;
}

hw_kv_policy *hw_kv_policy_new_longheads(const hw_model *m, int chunk_w, int heads_len,
                                         int chunk, hw_longheads_score score) {
    if (!m) {
        hw_fail(HW_ERR_ARG, "kv policy: no model");
        return NULL;
    }
    const hw_config *cfg = hw_model_config(m);
    /* The paper's defaults scale with the model: A = 4096 and W = 256 for a 4K model. */
    const int A = heads_len > 0 ? heads_len : cfg->n_ctx;
    const int W = chunk_w > 0 ? chunk_w : A / 16;
    if (cfg->pos != HW_POS_ROTARY) {
        hw_fail(HW_ERR_UNSUPPORTED, "kv policy longheads: the model has no rotary positions to "
                "re-index");
        return NULL;
    }
    if (cfg->sliding_window > 0) {
        hw_fail(HW_ERR_UNSUPPORTED, "kv policy longheads: not for models with their own sliding "
                "window");
        return NULL;
    }
    if (score != HW_LONGHEADS_POOLED && score != HW_LONGHEADS_MAX) {
        hw_fail(HW_ERR_ARG, "kv policy longheads: unknown chunk score %d", (int)score);
        return NULL;
    }
    if (chunk < 0 || W < 1 || A < 3 * W) {
        hw_fail(HW_ERR_ARG, "kv policy longheads: chunk %d, heads_len %d: heads_len must hold at "
                "least 3 chunks (first, previous, current)", W, A);
        return NULL;
    }
    hw_kv_policy *p = hw_kv_policy_new(m, 0, 0, chunk, HW_KV_COMP_NONE);
    if (p) p->lh_chunk = W, p->lh_len = A, p->lh_score = score;
    if (p && hw_kv_policy_set_name(p, "longheads")) {
        hw_kv_policy_free(p);
        return NULL;
    }
    return p;
}

int hw_kv_policy_longheads(const hw_kv_policy *p, int *chunk_w, int *heads_len,
                           hw_longheads_score *score) {
    if (chunk_w) *chunk_w = p ? p->lh_chunk : 0;
    if (heads_len) *heads_len = p ? p->lh_len : 0;
    if (score) *score = p ? p->lh_score : HW_LONGHEADS_POOLED;
    return p && p->lh_len > 0;
}

int hw_kv_policy_max_positions(const hw_model *m, const hw_kv_policy *p) {
    return hw_kv_policy_longheads(p, NULL, NULL, NULL) ? INT_MAX : hw_model_config(m)->n_ctx;
}

hw_kv_policy *hw_kv_policy_copy(const hw_kv_policy *p) {
    if (!p) return NULL;
    hw_kv_policy *q = malloc(sizeof *q);
    size_t n = (size_t)p->n_layer * p->n_kv_head;
    if (q) *q = *p, q->full = malloc(n ? n : 1), q->name = strdup(p->name);
    if (!q || !q->full || !q->name) {
        if (q) free(q->full), free(q->name);
        free(q);
        hw_fail(HW_ERR_NOMEM, "out of memory for a kv policy");
        return NULL;
    }
    memcpy(q->full, p->full, n);
    return q;
}

void hw_kv_policy_free(hw_kv_policy *p) {
    if (!p) return;
    free(p->full);
    free(p->name);
    free(p);
}

static int in_range(const hw_kv_policy *p, int layer, int kv_head) {
    return p && layer >= 0 && layer < p->n_layer && kv_head >= 0 && kv_head < p->n_kv_head;
}

hw_status hw_kv_policy_set_full(hw_kv_policy *p, int layer, int kv_head, int full) {
    if (!in_range(p, layer, kv_head))
        return hw_fail(HW_ERR_RANGE, "kv policy: no KV head %d.%d (model: %d layers x %d)",
                       layer, kv_head, p ? p->n_layer : 0, p ? p->n_kv_head : 0);
    if (!full && p->recent == 0)
        return hw_fail(HW_ERR_ARG, "kv policy: a head cannot stream with a recent window of 0");
    p->full[(size_t)layer * p->n_kv_head + kv_head] = full != 0;
    return HW_OK;
}

int hw_kv_policy_is_full(const hw_kv_policy *p, int layer, int kv_head) {
    return in_range(p, layer, kv_head) ? p->full[(size_t)layer * p->n_kv_head + kv_head] : 0;
}

int hw_kv_policy_full_count(const hw_kv_policy *p) {
    int n = 0;
    for (size_t i = 0; p && i < (size_t)p->n_layer * p->n_kv_head; i++) n += p->full[i];
    return n;
}

int hw_kv_policy_layers(const hw_kv_policy *p) { return p ? p->n_layer : 0; }
int hw_kv_policy_kv_heads(const hw_kv_policy *p) { return p ? p->n_kv_head : 0; }
int hw_kv_policy_sink(const hw_kv_policy *p) { return p ? p->sink : 0; }
int hw_kv_policy_recent(const hw_kv_policy *p) { return p ? p->recent : 0; }
int hw_kv_policy_chunk(const hw_kv_policy *p) { return p ? p->chunk : 0; }
hw_kv_compensation hw_kv_policy_compensation(const hw_kv_policy *p) {
    return p ? p->comp : HW_KV_COMP_NONE;
}

hw_status hw_kv_policy_set_name(hw_kv_policy *p, const char *name) {
    if (!p || !name) return hw_fail(HW_ERR_ARG, "kv policy: no name");
    char *s = strdup(name);
    if (!s) return hw_fail(HW_ERR_NOMEM, "out of memory for a kv policy name");
    free(p->name);
    p->name = s;
    return HW_OK;
}

const char *hw_kv_policy_name(const hw_kv_policy *p) { return p ? p->name : "full"; }

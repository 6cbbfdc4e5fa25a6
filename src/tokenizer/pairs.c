/* pairs.c: a BPE merge list as a hash table from an id pair to its rank. */
#include "tokenizer/tokenizer.h"

#include <string.h>

static uint64_t pair_key(int a, int b) { return ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) + 1; }

static size_t pair_slot(uint64_t key, size_t n_slots) {
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdull; /* murmur3's finaliser spreads sequential ids */
    key ^= key >> 33;
    return (size_t)key & (n_slots - 1);
}

hw_status hw_pairs_init(hw_pair_table *p, int n_expected) {
    memset(p, 0, sizeof *p);
    size_t n_slots = 64;
    while (n_slots < 2 * (size_t)(n_expected > 0 ? n_expected : 1)) n_slots *= 2;
    p->keys = calloc(n_slots, sizeof *p->keys);
    p->rank = malloc(n_slots * sizeof *p->rank);
    p->merged = malloc(n_slots * sizeof *p->merged);
    if (!p->keys || !p->rank || !p->merged) {
        hw_pairs_free(p);
        return hw_fail(HW_ERR_NOMEM, "out of memory for %d merges", n_expected);
    }
    p->n_slots = n_slots;
    return HW_OK;
}

void hw_pairs_free(hw_pair_table *p) {
    if (!p) return;
    free(p->keys);
    free(p->rank);
    free(p->merged);
    memset(p, 0, sizeof *p);
}

static hw_status grow(hw_pair_table *p) {
    hw_pair_table q;
    hw_status s = hw_pairs_init(&q, (int)(p->n_slots > INT32_MAX ? INT32_MAX : p->n_slots));
    if (s != HW_OK) return s;
    for (size_t i = 0; i < p->n_slots; i++) {
        if (!p->keys[i]) continue;
        size_t j = pair_slot(p->keys[i], q.n_slots);
        while (q.keys[j]) j = (j + 1) & (q.n_slots - 1);
        q.keys[j] = p->keys[i];
        q.rank[j] = p->rank[i];
        q.merged[j] = p->merged[i];
    }
    q.n = p->n;
    hw_pairs_free(p);
    *p = q;
    return HW_OK;
}

hw_status hw_pairs_add(hw_pair_table *p, int a, int b, int merged, int rank) {
    if (2 * ((size_t)p->n + 1) > p->n_slots) {
        hw_status s = grow(p);
        if (s != HW_OK) return s;
    }
    uint64_t key = pair_key(a, b);
    size_t i = pair_slot(key, p->n_slots);
    for (; p->keys[i]; i = (i + 1) & (p->n_slots - 1)) {
        if (p->keys[i] == key) { /* a repeated pair takes the later rank, as a dict would */
            p->rank[i] = rank;
            p->merged[i] = merged;
            return HW_OK;
        }
    }
    p->keys[i] = key;
    p->rank[i] = rank;
    p->merged[i] = merged;
    p->n++;
    return HW_OK;
}

int hw_pairs_find(const hw_pair_table *p, int a, int b, int *merged) {
    if (!p->n_slots) return -1;
    uint64_t key = pair_key(a, b);
    for (size_t i = pair_slot(key, p->n_slots); p->keys[i]; i = (i + 1) & (p->n_slots - 1)) {
        if (p->keys[i] == key) {
            *merged = p->merged[i];
            return p->rank[i];
        }
    }
    return -1;
}

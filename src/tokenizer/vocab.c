/* vocab.c: piece storage and the hash index from piece bytes to id. */
#include "tokenizer/tokenizer.h"

#include <stdlib.h>
#include <string.h>

hw_status hw_vocab_init(hw_vocab *v, int n, size_t total_bytes) {
    memset(v, 0, sizeof *v);
    if (n < 0) return hw_fail(HW_ERR_ARG, "vocabulary size %d is negative", n);
    v->off = malloc(((size_t)n + 1) * sizeof *v->off);
    v->data_cap = total_bytes ? total_bytes : 64;
    v->data = malloc(v->data_cap);
    if (!v->off || !v->data) {
        hw_vocab_free(v);
        return hw_fail(HW_ERR_NOMEM, "out of memory for a vocabulary of %d pieces", n);
    }
    v->off[0] = 0;
    v->off_cap = (size_t)n;
    return HW_OK;
}

void hw_vocab_free(hw_vocab *v) {
    if (!v) return;
    free(v->data);
    free(v->off);
    free(v->slots);
    memset(v, 0, sizeof *v);
}

hw_status hw_vocab_push(hw_vocab *v, const char *s, size_t len) {
    if (v->n == INT32_MAX - 1) return hw_fail(HW_ERR_RANGE, "too many pieces");
    /* off has room for off_cap + 1 entries; grow both arrays by doubling. */
    if ((size_t)v->n + 1 > v->off_cap) {
        size_t cap = v->off_cap ? v->off_cap * 2 : 256;
        size_t *off = realloc(v->off, (cap + 1) * sizeof *off);
        if (!off) return hw_fail(HW_ERR_NOMEM, "out of memory for vocabulary offsets");
        v->off = off;
        v->off_cap = cap;
    }
    if (len > v->data_cap - v->data_len) {
        size_t cap = v->data_cap;
        while (len > cap - v->data_len) {
            if (cap > SIZE_MAX / 2) return hw_fail(HW_ERR_NOMEM, "vocabulary too large");
            cap *= 2;
        }
        char *d = realloc(v->data, cap);
        if (!d) return hw_fail(HW_ERR_NOMEM, "out of memory for vocabulary pieces");
        v->data = d;
        v->data_cap = cap;
    }
    if (len) memcpy(v->data + v->data_len, s, len);
    v->data_len += len;
    v->n++;
    v->off[v->n] = v->data_len;
    return HW_OK;
}

/* FNV-1a over a || b: simple, and good enough for short byte strings. */
static uint64_t hash2(const char *a, size_t alen, const char *b, size_t blen) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < alen; i++) h = (h ^ (uint8_t)a[i]) * 1099511628211ull;
    for (size_t i = 0; i < blen; i++) h = (h ^ (uint8_t)b[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

hw_status hw_vocab_index(hw_vocab *v) {
    size_t n_slots = 16;
    while (n_slots < 2 * (size_t)v->n) n_slots *= 2;
    free(v->slots);
    v->slots = malloc(n_slots * sizeof *v->slots);
    if (!v->slots) return hw_fail(HW_ERR_NOMEM, "out of memory for the vocabulary index");
    v->n_slots = n_slots;
    for (size_t i = 0; i < n_slots; i++) v->slots[i] = -1;
    for (int id = 0; id < v->n; id++) {
        size_t len;
        const char *s = hw_vocab_piece(v, id, &len);
        size_t i = hash2(s, len, NULL, 0) & (n_slots - 1);
        int dup = 0;
        while (v->slots[i] >= 0) {
            size_t l2;
            const char *s2 = hw_vocab_piece(v, v->slots[i], &l2);
            if (l2 == len && memcmp(s, s2, len) == 0) { /* keep the lower id */
                dup = 1;
                break;
            }
            i = (i + 1) & (n_slots - 1);
        }
        if (!dup) v->slots[i] = id;
    }
    return HW_OK;
}

int hw_vocab_find2(const hw_vocab *v, const char *a, size_t alen, const char *b, size_t blen) {
    if (!v->n_slots) return -1;
    size_t i = hash2(a, alen, b, blen) & (v->n_slots - 1);
    for (int id; (id = v->slots[i]) >= 0; i = (i + 1) & (v->n_slots - 1)) {
        size_t len;
        const char *s = hw_vocab_piece(v, id, &len);
        if (len == alen + blen && (alen == 0 || memcmp(s, a, alen) == 0) &&
            (blen == 0 || memcmp(s + alen, b, blen) == 0))
            return id;
    }
    return -1;
}

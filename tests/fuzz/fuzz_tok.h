/* fuzz_tok.h: what every tokenizer target does with a tokenizer it loaded. */
#ifndef HW_FUZZ_TOK_H
#define HW_FUZZ_TOK_H

#include "fuzz.h"
#include "headwise.h"

/* Encode text (n bytes, cut at a NUL as a C string is) with BOS and EOS,
 * check every id is in the vocabulary, and decode each one after its
 * predecessor; ids outside the vocabulary must be refused, not read. */
static inline void fuzz_tokenizer_roundtrip(const hw_tokenizer *t, const uint8_t *text, size_t n) {
    char *s = malloc(n + 1);
    if (!s) return;
    memcpy(s, text, n);
    s[n] = 0;
    int V = hw_tokenizer_vocab_size(t);
    /* Normalizers may add text, so ids can outnumber bytes: encode again with
     * room for the count when the first buffer was short. */
    int cap = 2 * (int)n + 16, *ids = malloc((size_t)cap * sizeof *ids);
    int k = ids ? hw_tokenizer_encode(t, s, HW_TOK_BOS | HW_TOK_EOS, ids, cap) : -1;
    if (k > cap) {
        free(ids);
        cap = k;
        ids = malloc((size_t)cap * sizeof *ids);
        if (ids && hw_tokenizer_encode(t, s, HW_TOK_BOS | HW_TOK_EOS, ids, cap) != k) abort();
    }
    if (!ids || k < 0) k = 0;
    for (int i = 0; i < k; i++) {
        if (ids[i] < 0 || ids[i] >= V) abort();
        size_t len;
        const char *p = hw_tokenizer_decode(t, i ? ids[i - 1] : -1, ids[i], &len);
        if (!p) abort();
        volatile char sink = 0;
        for (size_t j = 0; j < len; j++) sink ^= p[j]; /* touch every byte */
        (void)sink;
    }
    size_t len;
    if (hw_tokenizer_decode(t, -1, -1, &len) || hw_tokenizer_decode(t, -1, V, &len)) abort();
    free(ids);
    free(s);
}

/* Decode every id (after BOS, the case that strips a leading space). */
static inline void fuzz_tokenizer_decode_all(const hw_tokenizer *t) {
    int V = hw_tokenizer_vocab_size(t);
    for (int id = 0; id < V; id++) {
        size_t len;
        const char *p = hw_tokenizer_decode(t, hw_tokenizer_bos(t), id, &len);
        if (!p) abort();
        volatile char sink = 0;
        for (size_t j = 0; j < len; j++) sink ^= p[j];
        (void)sink;
    }
}

#endif

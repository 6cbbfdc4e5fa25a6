/*
 * gguf_writer.h: build GGUF files in memory for the tests (test_gguf.c,
 * test_gguf_tokenizer.c): every field written as given, so a test can lie in any.
 */
#ifndef HW_TEST_GGUF_WRITER_H
#define HW_TEST_GGUF_WRITER_H

#include "io/gguf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    uint8_t *p;
    size_t n, cap;
} buf;

static inline void put(buf *b, const void *s, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}
static inline void u32(buf *b, uint32_t v) { put(b, &v, 4); }
static inline void u64(buf *b, uint64_t v) { put(b, &v, 8); }
static inline void str(buf *b, const char *s) {
    u64(b, strlen(s));
    put(b, s, strlen(s));
}
static inline void kv_u32(buf *b, const char *k, uint32_t v) {
    str(b, k);
    u32(b, HW_GGUF_U32);
    u32(b, v);
}
static inline void kv_str(buf *b, const char *k, const char *v) {
    str(b, k);
    u32(b, HW_GGUF_STRING);
    str(b, v);
}
static inline void header(buf *b, uint32_t version, uint64_t nt, uint64_t nkv) {
    put(b, "GGUF", 4);
    u32(b, version);
    u64(b, nt);
    u64(b, nkv);
}
static inline void tensor_info(buf *b, const char *name, uint64_t ne0, uint64_t ne1, uint32_t type, uint64_t off) {
    str(b, name);
    u32(b, 2);
    u64(b, ne0);
    u64(b, ne1);
    u32(b, type);
    u64(b, off);
}
static inline void pad(buf *b, size_t align) {
    while (b->n % align) put(b, "", 1);
}

static inline void kv_bool(buf *b, const char *k, int v) {
    str(b, k);
    u32(b, HW_GGUF_BOOL);
    put(b, v ? "\1" : "\0", 1);
}

/* An array of n strings (kv header included). */
static inline void kv_strs(buf *b, const char *k, const char *const *v, int n) {
    str(b, k);
    u32(b, HW_GGUF_ARRAY);
    u32(b, HW_GGUF_STRING);
    u64(b, (uint64_t)n);
    for (int i = 0; i < n; i++) str(b, v[i]);
}

#endif

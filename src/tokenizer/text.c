/* text.c: growable byte strings, span lists and UTF-8 helpers. */
#include "tokenizer/tokenizer.h"

#include <string.h>

hw_status hw_buf_put(hw_buf *b, const char *s, size_t n) {
    if (n > b->cap - b->n || !b->s) {
        size_t cap = b->cap ? b->cap : 64;
        while (n > cap - b->n) {
            if (cap > SIZE_MAX / 2) return hw_fail(HW_ERR_NOMEM, "text too large");
            cap *= 2;
        }
        char *p = realloc(b->s, cap);
        if (!p) return hw_fail(HW_ERR_NOMEM, "out of memory for %zu bytes of text", cap);
        b->s = p;
        b->cap = cap;
    }
    if (n) memcpy(b->s + b->n, s, n);
    b->n += n;
    return HW_OK;
}

hw_status hw_buf_put_utf8(hw_buf *b, uint32_t c) {
    char u[4];
    size_t n;
    if (c < 0x80) {
        u[0] = (char)c;
        n = 1;
    } else if (c < 0x800) {
        u[0] = (char)(0xC0 | (c >> 6));
        u[1] = (char)(0x80 | (c & 0x3F));
        n = 2;
    } else if (c < 0x10000) {
        u[0] = (char)(0xE0 | (c >> 12));
        u[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        u[2] = (char)(0x80 | (c & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (c >> 18));
        u[1] = (char)(0x80 | ((c >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((c >> 6) & 0x3F));
        u[3] = (char)(0x80 | (c & 0x3F));
        n = 4;
    }
    return hw_buf_put(b, u, n);
}

size_t hw_utf8_len(const char *s, size_t n) {
    uint8_t c = (uint8_t)s[0];
    size_t want = c < 0x80 ? 1 : c >= 0xF0 && c < 0xF8 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (want > n || c >= 0xF8) return 1;
    for (size_t i = 1; i < want; i++)
        if (((uint8_t)s[i] & 0xC0) != 0x80) return 1;
    return want;
}

uint32_t hw_utf8_decode(const char *s, size_t len) {
    const uint8_t *u = (const uint8_t *)s;
    switch (len) {
    case 1: return u[0] < 0x80 ? u[0] : 0xFFFFFFFFu;
    case 2: return ((uint32_t)(u[0] & 0x1F) << 6) | (u[1] & 0x3F);
    case 3: return ((uint32_t)(u[0] & 0x0F) << 12) | ((uint32_t)(u[1] & 0x3F) << 6) | (u[2] & 0x3F);
    case 4:
        return ((uint32_t)(u[0] & 0x07) << 18) | ((uint32_t)(u[1] & 0x3F) << 12) |
               ((uint32_t)(u[2] & 0x3F) << 6) | (u[3] & 0x3F);
    }
    return 0xFFFFFFFFu;
}

hw_status hw_spans_push(hw_spans *s, size_t off, size_t len, int first) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        hw_span *v = realloc(s->v, cap * sizeof *v);
        if (!v) return hw_fail(HW_ERR_NOMEM, "out of memory for %zu words", cap);
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = (hw_span){off, len, first};
    return HW_OK;
}

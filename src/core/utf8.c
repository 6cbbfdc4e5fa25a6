/* utf8.c: strict UTF-8 validation for the JSON files headwise reads. JSON text
 * must be UTF-8; checking it up front means every name a message quotes from
 * a file is printable text, and that a corrupt file fails early and clearly. */
#include "internal.h"

#include <stdint.h>
#include <string.h>

bool hw_utf8_valid(const char *text, size_t n, size_t *bad) {
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    while (i < n) {
        /* Files are mostly ASCII: skip eight ASCII bytes per test. */
        uint64_t w;
        if (n - i >= 8 && (memcpy(&w, s + i, 8), (w & 0x8080808080808080ull) == 0)) {
            i += 8;
            continue;
        }
        unsigned c = s[i];
        size_t len;
        unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
        if (c < 0x80) len = 1;
        else if (c >= 0xC2 && c <= 0xDF) len = 2;
        else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            if (c == 0xE0) lo = 0xA0;      /* no overlong forms */
            else if (c == 0xED) hi = 0x9F; /* no UTF-16 surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            if (c == 0xF0) lo = 0x90;      /* no overlong forms */
            else if (c == 0xF4) hi = 0x8F; /* nothing above U+10FFFF */
        } else break;
        if (len > n - i) break;
        if (len > 1 && (s[i + 1] < lo || s[i + 1] > hi)) break;
        size_t k = 2;
        while (k < len && (s[i + k] & 0xC0) == 0x80) k++;
        if (len > 2 && k < len) break;
        i += len;
    }
    if (bad) *bad = i;
    return i == n;
}

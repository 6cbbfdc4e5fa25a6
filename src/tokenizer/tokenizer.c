/* tokenizer.c: the public tokenizer functions; formats live in their own files. */
#include "tokenizer/tokenizer.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Find the byte pieces <0xNN> (SentencePiece's byte fallback), so encode can
 * fall back to them and decode can print them as the byte they stand for. */
static hw_status index_byte_pieces(hw_tokenizer *t) {
    t->byte_of = malloc((size_t)t->vocab.n * sizeof *t->byte_of);
    if (!t->byte_of) return hw_fail(HW_ERR_NOMEM, "out of memory for the byte table");
    for (int b = 0; b < 256; b++) t->byte_id[b] = -1;
    for (int id = 0; id < t->vocab.n; id++) {
        size_t len;
        const char *s = hw_vocab_piece(&t->vocab, id, &len);
        t->byte_of[id] = -1;
        if (len != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') continue;
        int hi = hex_digit(s[3]), lo = hex_digit(s[4]);
        if (hi < 0 || lo < 0) continue;
        int b = hi * 16 + lo;
        t->byte_of[id] = (int16_t)b;
        if (t->byte_id[b] < 0) t->byte_id[b] = id;
    }
    return HW_OK;
}

hw_tokenizer *hw_tokenizer_load(const char *path, int vocab_size) {
    if (!path) {
        hw_fail(HW_ERR_ARG, "hw_tokenizer_load: path is NULL");
        return NULL;
    }
    hw_tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        hw_fail(HW_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    hw_status s = hw_tokenizer_load_llama2c(t, path, vocab_size);
    if (s == HW_OK) s = index_byte_pieces(t);
    if (s != HW_OK) {
        hw_tokenizer_free(t);
        return NULL;
    }
    return t;
}

void hw_tokenizer_free(hw_tokenizer *t) {
    if (!t) return;
    hw_vocab_free(&t->vocab);
    free(t->scores);
    free(t->byte_of);
    free(t);
}

int hw_tokenizer_vocab_size(const hw_tokenizer *t) { return t ? t->vocab.n : 0; }
int hw_tokenizer_bos(const hw_tokenizer *t) { return t ? t->bos : -1; }
int hw_tokenizer_eos(const hw_tokenizer *t) { return t ? t->eos : -1; }

int hw_tokenizer_encode(const hw_tokenizer *t, const char *text, int flags, int *ids, int max_ids) {
    if (!t || !text || max_ids < 0 || (max_ids > 0 && !ids)) {
        hw_fail(HW_ERR_ARG, "hw_tokenizer_encode: bad arguments");
        return -1;
    }
    if (((flags & HW_TOK_BOS) && t->bos < 0) || ((flags & HW_TOK_EOS) && t->eos < 0)) {
        hw_fail(HW_ERR_ARG, "hw_tokenizer_encode: this tokenizer has no %s token",
                (flags & HW_TOK_BOS) && t->bos < 0 ? "BOS" : "EOS");
        return -1;
    }
    size_t len = strlen(text);
    if (len > INT_MAX - 3) {
        hw_fail(HW_ERR_RANGE, "hw_tokenizer_encode: %zu bytes of text is too long", len);
        return -1;
    }
    int *body = NULL;
    int n = hw_tokenizer_encode_llama2c(t, text, len, &body);
    if (n < 0) return -1;
    int k = 0;
#define EMIT(id)                        \
    do {                                \
        if (k < max_ids) ids[k] = (id); \
        k++;                            \
    } while (0)
    if (flags & HW_TOK_BOS) EMIT(t->bos);
    for (int i = 0; i < n; i++) EMIT(body[i]);
    if (flags & HW_TOK_EOS) EMIT(t->eos);
#undef EMIT
    free(body);
    return k;
}

/* Every byte value as a one-byte string, for byte pieces. */
static const char byte_strings[256] = {
#define B4(i) (char)(i), (char)(i + 1), (char)(i + 2), (char)(i + 3)
#define B16(i) B4(i), B4(i + 4), B4(i + 8), B4(i + 12)
#define B64(i) B16(i), B16(i + 16), B16(i + 32), B16(i + 48)
    B64(0), B64(64), B64(128), B64(192)
#undef B64
#undef B16
#undef B4
};

const char *hw_tokenizer_decode(const hw_tokenizer *t, int prev_id, int id, size_t *len) {
    size_t dummy;
    if (!len) len = &dummy;
    *len = 0;
    if (!t || id < 0 || id >= t->vocab.n) {
        hw_fail(HW_ERR_ARG, "hw_tokenizer_decode: id %d is outside the vocabulary", id);
        return NULL;
    }
    if (t->byte_of[id] >= 0) {
        *len = 1;
        return &byte_strings[t->byte_of[id]];
    }
    const char *s = hw_vocab_piece(&t->vocab, id, len);
    /* The dummy prefix's space is not part of the text. */
    if ((prev_id == t->bos || prev_id < 0) && *len > 0 && s[0] == ' ') {
        s++;
        (*len)--;
    }
    return s;
}

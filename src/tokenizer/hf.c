/* hf.c: the Hugging Face encode pipeline.
 *
 * As in tokenizers: added tokens are found in the raw text first (leftmost,
 * longest), each stretch of text between them is normalized on its own, cut
 * into words by the pre-tokenizers, and each word goes through BPE. A stretch
 * is "first" (for Metaspace's prepend_scheme "first") when it starts the text.
 * All added tokens are matched on the raw text; tokenizers matches the rare
 * `normalized: true` ones after normalization instead. */
#include "tokenizer/tokenizer.h"

#include <string.h>

static int cmp_len_desc(const void *a, const void *b, void *ctx) {
    const hw_tokenizer *t = ctx;
    size_t la = t->added[*(const int *)a].len, lb = t->added[*(const int *)b].len;
    if (la != lb) return la < lb ? 1 : -1;
    return *(const int *)a - *(const int *)b;
}

hw_status hw_added_index(hw_tokenizer *t) {
    free(t->added_by_byte);
    free(t->added_order);
    t->added_by_byte = calloc(257, sizeof *t->added_by_byte);
    t->added_order = malloc((size_t)(t->n_added ? t->n_added : 1) * sizeof *t->added_order);
    if (!t->added_by_byte || !t->added_order) return hw_fail(HW_ERR_NOMEM, "out of memory for added tokens");
    /* Counting sort by first byte, then longest first within each byte. */
    int count[256] = {0};
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].len) count[(uint8_t)t->added[i].content[0]]++;
    for (int b = 0; b < 256; b++) t->added_by_byte[b + 1] = t->added_by_byte[b] + count[b];
    int fill[256];
    memcpy(fill, t->added_by_byte, sizeof fill);
    for (int i = 0; i < t->n_added; i++)
        if (t->added[i].len) t->added_order[fill[(uint8_t)t->added[i].content[0]]++] = i;
    for (int b = 0; b < 256; b++)
        qsort_r(t->added_order + t->added_by_byte[b], (size_t)count[b], sizeof(int), cmp_len_desc, t);
    return HW_OK;
}

static int is_word_byte(uint8_t c) {
    /* single_word boundaries: ASCII letters, digits, '_' and any non-ASCII byte. */
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
           c >= 0x80;
}

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

/* The longest added token at text[i], or -1. */
static int added_at(const hw_tokenizer *t, const char *text, size_t len, size_t i) {
    uint8_t b = (uint8_t)text[i];
    for (int k = t->added_by_byte[b]; k < t->added_by_byte[b + 1]; k++) {
        const hw_added_token *a = &t->added[t->added_order[k]];
        if (a->len > len - i || memcmp(text + i, a->content, a->len) != 0) continue;
        if (a->single_word && ((i > 0 && is_word_byte((uint8_t)text[i - 1])) ||
                               (i + a->len < len && is_word_byte((uint8_t)text[i + a->len]))))
            continue;
        return t->added_order[k];
    }
    return -1;
}

typedef struct {
    int *ids;
    size_t n, cap;
    hw_buf norm;
    hw_spans words;
} encoder;

/* A score-driven (SentencePiece-style) stretch: its own encoder, dummy prefix included,
 * as llama.cpp encodes the text after each special token. */
static hw_status encode_spm_stretch(const hw_tokenizer *t, encoder *e, const char *s, size_t len) {
    int *ids;
    int n = hw_tokenizer_encode_llama2c(t, s, len, &ids);
    if (n < 0) return HW_ERR_NOMEM;
    hw_status st = HW_OK;
    if ((size_t)n > e->cap - e->n) {
        size_t cap = e->cap ? e->cap : 256;
        while ((size_t)n > cap - e->n) cap *= 2;
        int *p = realloc(e->ids, cap * sizeof *p);
        if (!p) st = hw_fail(HW_ERR_NOMEM, "out of memory for ids");
        else e->ids = p, e->cap = cap;
    }
    if (st == HW_OK && n) memcpy(e->ids + e->n, ids, (size_t)n * sizeof *ids), e->n += (size_t)n;
    free(ids);
    return st;
}

static hw_status encode_stretch(const hw_tokenizer *t, encoder *e, const char *s, size_t len, int first) {
    if (len == 0) return HW_OK;
    if (t->kind == HW_TOKENIZER_LLAMA2C) return encode_spm_stretch(t, e, s, len);
    hw_status st = hw_normalize(t->norm, t->n_norm, s, len, &e->norm);
    if (st == HW_OK) st = hw_pretokenize(t->pre, t->n_pre, &e->norm, first, &e->words);
    for (size_t i = 0; i < e->words.n && st == HW_OK; i++)
        st = (t->kind == HW_TOKENIZER_WORDLEVEL ? hw_wordlevel_word : hw_bpe_word)(
            t, e->norm.s + e->words.v[i].off, e->words.v[i].len, &e->ids, &e->n, &e->cap);
    return st;
}

int hw_tokenizer_encode_hf(const hw_tokenizer *t, const char *text, size_t len, int **out) {
    encoder e = {0};
    hw_status st = HW_OK;
    size_t start = 0; /* start of the stretch not yet encoded */
    for (size_t i = 0; i < len && st == HW_OK && t->n_added;) {
        int k = added_at(t, text, len, i);
        if (k < 0) {
            i++;
            continue;
        }
        const hw_added_token *a = &t->added[k];
        size_t end = i; /* lstrip: the token swallows the whitespace before it */
        if (a->lstrip)
            while (end > start && is_space(text[end - 1])) end--;
        st = encode_stretch(t, &e, text + start, end - start, start == 0);
        if (st != HW_OK) break;
        if (e.n == e.cap) {
            size_t cap = e.cap ? 2 * e.cap : 256;
            int *p = realloc(e.ids, cap * sizeof *p);
            if (!p) {
                st = hw_fail(HW_ERR_NOMEM, "out of memory for ids");
                break;
            }
            e.ids = p;
            e.cap = cap;
        }
        e.ids[e.n++] = a->id;
        i += a->len;
        if (a->rstrip)
            while (i < len && is_space(text[i])) i++;
        start = i;
    }
    if (st == HW_OK) st = encode_stretch(t, &e, text + start, len - start, start == 0);
    hw_buf_free(&e.norm);
    free(e.words.v);
    if (st != HW_OK) {
        free(e.ids);
        return -1;
    }
    if (!e.ids && !(e.ids = malloc(sizeof *e.ids))) {
        hw_fail(HW_ERR_NOMEM, "out of memory for ids");
        return -1;
    }
    if (e.n > INT32_MAX) {
        free(e.ids);
        hw_fail(HW_ERR_RANGE, "%zu ids do not fit in an int", e.n);
        return -1;
    }
    *out = e.ids;
    return (int)e.n;
}

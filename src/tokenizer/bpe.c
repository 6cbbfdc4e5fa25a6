/* bpe.c: the Hugging Face BPE model on one pre-tokenized word.
 *
 * A word starts as one symbol per character (byte-level vocabularies: per
 * byte, spelled through GPT-2's byte-to-unicode map), then merges the listed
 * pair of lowest rank first, the leftmost among equals, as tokenizers' BPE
 * model and GPT-2's encoder.py do. */
#include "tokenizer/tokenizer.h"

#include <string.h>

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves; the
 * other 68 bytes (controls, space, DEL, NBSP, soft hyphen) take 256, 257, ...
 * in byte order, so every byte has a visible character. Those 68 are three
 * runs, 0-32, 127-160 and 173, so both directions are a few comparisons (they
 * run for every byte of every byte-level word and every vocabulary character
 * at load). */
static int printable(int b) { return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || b >= 174; }

uint32_t hw_byte_to_unicode(uint8_t b) {
    if (printable(b)) return b;
    if (b <= 32) return 256 + b;            /* 256..288 */
    if (b <= 160) return 256 + 33 + (b - 127); /* 289..322 */
    return 256 + 67;                        /* 173 */
}

int hw_unicode_to_byte(uint32_t c) {
    if (c < 256) return printable((int)c) ? (int)c : -1;
    if (c >= 256 + 68) return -1;
    uint32_t n = c - 256;
    if (n < 33) return (int)n;
    if (n < 67) return (int)(127 + (n - 33));
    return 173;
}

hw_status hw_bpe_prepare(hw_tokenizer *t) {
    hw_buf u = {0}; /* one buffer for all 256 spellings */
    for (int b = 0; b < 256; b++) {
        t->byte_sym[b] = -1;
        if (!t->byte_level) continue;
        u.n = 0;
        hw_status s = hw_buf_put_utf8(&u, hw_byte_to_unicode((uint8_t)b));
        if (s != HW_OK) {
            hw_buf_free(&u);
            return s;
        }
        t->byte_sym[b] = hw_vocab_find(&t->vocab, u.s, u.n);
    }
    hw_buf_free(&u);
    return HW_OK;
}

static int rank_pair(const void *ctx, int a, int b, int *merged, double *priority) {
    const hw_tokenizer *t = ctx;
    int rank = hw_pairs_find(&t->merges, a, b, merged);
    if (rank < 0) return 0;
    *priority = -(double)rank;
    return 1;
}

static hw_status append(int **ids, size_t *n, size_t *cap, const int *src, size_t k) {
    if (k == 0) return HW_OK; /* every character dropped: *ids may still be NULL */
    if (k > *cap - *n) {
        size_t c = *cap ? *cap : 256;
        while (k > c - *n) c *= 2;
        int *p = realloc(*ids, c * sizeof *p);
        if (!p) return hw_fail(HW_ERR_NOMEM, "out of memory for %zu ids", c);
        *ids = p;
        *cap = c;
    }
    memcpy(*ids + *n, src, k * sizeof *src);
    *n += k;
    return HW_OK;
}

/* The word as the vocabulary spells it: byte-level words map every byte. */
static hw_status spell(const hw_tokenizer *t, const char *w, size_t len, hw_buf *out) {
    hw_status s = HW_OK;
    for (size_t i = 0; i < len && s == HW_OK; i++)
        s = hw_buf_put_utf8(out, hw_byte_to_unicode((uint8_t)w[i]));
    return s;
}

hw_status hw_bpe_word(const hw_tokenizer *t, const char *w, size_t len, int **ids, size_t *n,
                      size_t *cap) {
    if (len == 0) return HW_OK;
    hw_status s;
    if (t->ignore_merges) { /* Llama-3: a word in the vocabulary is not split */
        int id;
        if (t->byte_level) {
            hw_buf u = {0};
            if ((s = spell(t, w, len, &u)) != HW_OK) return s;
            id = hw_vocab_find(&t->vocab, u.s, u.n);
            hw_buf_free(&u);
        } else {
            id = hw_vocab_find(&t->vocab, w, len);
        }
        if (id >= 0) return append(ids, n, cap, &id, 1);
    }
    /* At most one symbol per byte. */
    int *sym = malloc(len * sizeof *sym);
    if (!sym) return hw_fail(HW_ERR_NOMEM, "out of memory for a %zu byte word", len);
    int k = 0, last_unk = 0;
    for (size_t i = 0; i < len;) {
        size_t cl = t->byte_level ? 1 : hw_utf8_len(w + i, len - i);
        int id = t->byte_level ? t->byte_sym[(uint8_t)w[i]] : hw_vocab_find(&t->vocab, w + i, cl);
        if (id >= 0) {
            sym[k++] = id;
            last_unk = 0;
        } else {
            int all = t->byte_fallback;
            for (size_t j = 0; j < cl && all; j++) all = t->byte_id[(uint8_t)w[i + j]] >= 0;
            if (all) {
                for (size_t j = 0; j < cl; j++) sym[k++] = t->byte_id[(uint8_t)w[i + j]];
                last_unk = 0;
            } else if (t->unk_id >= 0) {
                if (!(t->fuse_unk && last_unk)) sym[k++] = t->unk_id;
                last_unk = 1;
            } /* no unk token: the character is dropped, as tokenizers does */
        }
        i += cl;
    }
    k = hw_merge(sym, k, rank_pair, t);
    s = k < 0 ? HW_ERR_NOMEM : append(ids, n, cap, sym, (size_t)k);
    free(sym);
    return s;
}

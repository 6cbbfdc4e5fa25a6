/* llama2c.c: llama2.c's tokenizer.bin and its score-driven BPE encoder.
 *
 * File layout (little-endian): int32 max_token_length, then per piece
 * float32 score, int32 length, `length` bytes. Pieces spell the SentencePiece
 * space U+2581 as a plain ' ', and bytes the vocabulary lacks as <0xNN>. */
#include "tokenizer/tokenizer.h"
#include "hw_limits.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int32_t read_i32(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return v;
}

static float read_f32(const uint8_t *p) {
    float v;
    memcpy(&v, p, 4);
    return v;
}

hw_status hw_tokenizer_load_llama2c(hw_tokenizer *t, const char *path, int vocab_size) {
    hw_mapped_file f;
    hw_status s = hw_file_map(&f, path);
    if (s != HW_OK) return s;
    const uint8_t *p = f.data, *end = f.data + f.size;
    if (f.size < 4) {
        s = hw_fail(HW_ERR_FORMAT, "%s: %zu bytes is too short for a tokenizer.bin header",
                    path, f.size);
        goto done;
    }
    int32_t max_len = read_i32(p);
    p += 4;
    if (max_len <= 0 || max_len > HW_MAX_PIECE_BYTES) {
        s = hw_fail(HW_ERR_FORMAT, "%s: max_token_length %d is outside [1, %d]", path, (int)max_len,
                    HW_MAX_PIECE_BYTES);
        goto done;
    }
    if (vocab_size > HW_MAX_VOCAB) {
        s = hw_fail(HW_ERR_FORMAT, "%s: vocabulary of %d pieces exceeds %d", path, vocab_size,
                    HW_MAX_VOCAB);
        goto done;
    }
    /* vocab_size <= 0: take every piece up to the end of the file. Each piece
     * needs at least 8 bytes, which bounds the count before any allocation. */
    size_t max_pieces = (f.size - 4) / 8;
    if (vocab_size <= 0 && max_pieces > HW_MAX_VOCAB) max_pieces = HW_MAX_VOCAB;
    if (vocab_size > 0 && (size_t)vocab_size > max_pieces) {
        s = hw_fail(HW_ERR_FORMAT, "%s: %zu bytes cannot hold %d pieces", path, f.size, vocab_size);
        goto done;
    }
    int want = vocab_size > 0 ? vocab_size : (int)(max_pieces < INT32_MAX ? max_pieces : INT32_MAX - 1);
    if ((s = hw_vocab_init(&t->vocab, vocab_size > 0 ? vocab_size : 0, f.size)) != HW_OK) goto done;
    t->scores = malloc((size_t)(want > 0 ? want : 1) * sizeof *t->scores);
    if (!t->scores) {
        s = hw_fail(HW_ERR_NOMEM, "%s: out of memory for %d scores", path, want);
        goto done;
    }
    /* Without a count, every byte up to the end must belong to a piece; at
     * most max_pieces fit, so scores has room. */
    for (int i = 0; vocab_size > 0 ? i < vocab_size : p < end; i++) {
        if (i == want) {
            s = hw_fail(HW_ERR_FORMAT, "%s: more than %d pieces", path, HW_MAX_VOCAB);
            goto done;
        }
        if (end - p < 8) {
            s = hw_fail(HW_ERR_FORMAT, "%s: truncated in the header of piece %d", path, i);
            goto done;
        }
        float score = read_f32(p);
        int32_t len = read_i32(p + 4);
        p += 8;
        if (isnan(score)) {
            s = hw_fail(HW_ERR_FORMAT, "%s: piece %d has a NaN score", path, i);
            goto done;
        }
        if (len < 0 || len > max_len) {
            s = hw_fail(HW_ERR_FORMAT, "%s: piece %d has length %d outside 0..max_token_length %d",
                        path, i, (int)len, (int)max_len);
            goto done;
        }
        if ((size_t)(end - p) < (size_t)len) {
            s = hw_fail(HW_ERR_FORMAT, "%s: piece %d's %d bytes run past the end of the file",
                        path, i, (int)len);
            goto done;
        }
        if ((s = hw_vocab_push(&t->vocab, (const char *)p, (size_t)len)) != HW_OK) goto done;
        t->scores[i] = score;
        p += len;
    }
    if (t->vocab.n == 0) {
        s = hw_fail(HW_ERR_FORMAT, "%s: no pieces", path);
        goto done;
    }
    if ((s = hw_vocab_index(&t->vocab)) != HW_OK) goto done;
    t->kind = HW_TOKENIZER_LLAMA2C;
    t->bos = t->vocab.n > 1 ? 1 : -1;
    t->eos = t->vocab.n > 2 ? 2 : -1;
    t->strip_leading = 1;
    /* Pieces print as they are spelled, except <0xNN>, which prints as the byte. */
    static const hw_dec_step bytes = {HW_DEC_BYTE_FALLBACK, NULL, NULL, 0, 0};
    s = hw_tokenizer_build_decode(t, &bytes, 1);
done:
    hw_file_unmap(&f);
    return s;
}

/* A pair merges when its concatenation is a piece. The bound mirrors
 * llama2.c, whose search starts from a best score of -1e10. */
static int llama2c_pair(const void *ctx, int a, int b, int *merged, double *priority) {
    const hw_tokenizer *t = ctx;
    size_t alen, blen;
    const char *pa = hw_vocab_piece(&t->vocab, a, &alen);
    const char *pb = hw_vocab_piece(&t->vocab, b, &blen);
    int id = hw_vocab_find2(&t->vocab, pa, alen, pb, blen);
    if (id < 0 || !(t->scores[id] > -1e10f)) return 0;
    *merged = id;
    *priority = t->scores[id];
    return 1;
}

/* One symbol per UTF-8 character (a lead byte and up to three continuation
 * bytes, split as llama2.c splits them), as its piece or else as byte
 * pieces. A piece missing for a byte is an error rather than a wrong id. */
static int push_symbol(const hw_tokenizer *t, const char *s, size_t len, int *ids, int n) {
    int id = hw_vocab_find(&t->vocab, s, len);
    if (id >= 0) {
        ids[n++] = id;
        return n;
    }
    for (size_t i = 0; i < len; i++) {
        int b = t->byte_id[(uint8_t)s[i]];
        if (b < 0) {
            hw_fail(HW_ERR_UNSUPPORTED, "the vocabulary has no piece for byte 0x%02X",
                    (unsigned)(uint8_t)s[i]);
            return -1;
        }
        ids[n++] = b;
    }
    return n;
}

int hw_tokenizer_encode_llama2c(const hw_tokenizer *t, const char *text, size_t len, int **out) {
    /* The dummy prefix adds one symbol; each byte makes at most one more. */
    int *ids = malloc((len + 1) * sizeof *ids);
    if (!ids) {
        hw_fail(HW_ERR_NOMEM, "out of memory encoding %zu bytes", len);
        return -1;
    }
    int n = 0;
    if (len > 0 && !t->no_dummy_prefix) n = push_symbol(t, " ", 1, ids, n); /* SentencePiece's */
    for (size_t i = 0; i < len && n >= 0;) {
        size_t k = 1;
        while (k < 4 && i + k < len && ((uint8_t)text[i + k] & 0xC0) == 0x80) k++;
        n = push_symbol(t, text + i, k, ids, n);
        i += k;
    }
    if (n >= 0) n = hw_merge(ids, n, llama2c_pair, t);
    if (n < 0) {
        free(ids);
        return -1;
    }
    *out = ids;
    return n;
}

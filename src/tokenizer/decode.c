/* decode.c: the bytes each id prints as, computed once at load.
 *
 * Decoder chains (tokenizers' Replace, ByteFallback, ByteLevel, and llama2.c's
 * <0xNN> rule) act on each piece alone, so running them per id ahead of time
 * gives the same bytes as decoding a whole sequence, except for the chains'
 * whole-text steps: Fuse changes nothing for bytes, and Strip's leading
 * space becomes t->strip_leading, applied at the start of a text. */
#include "tokenizer/tokenizer.h"

#include <string.h>

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* The byte a piece <0xNN> stands for, or -1. */
static int byte_piece(const char *s, size_t len) {
    if (len != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    int hi = hex_digit(s[3]), lo = hex_digit(s[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

static hw_status run_step(const hw_dec_step *st, const char *s, size_t len, hw_buf *out) {
    hw_status r = HW_OK;
    switch (st->kind) {
    case HW_DEC_REPLACE: {
        size_t last = 0;
        for (size_t i = 0; st->from_len && i + st->from_len <= len && r == HW_OK;) {
            if (memcmp(s + i, st->from, st->from_len) == 0) {
                if ((r = hw_buf_put(out, s + last, i - last)) == HW_OK) r = hw_buf_put(out, st->to, st->to_len);
                i += st->from_len;
                last = i;
            } else {
                i++;
            }
        }
        return r == HW_OK ? hw_buf_put(out, s + last, len - last) : r;
    }
    case HW_DEC_PREFIX:
        if ((r = hw_buf_put(out, st->to, st->to_len)) != HW_OK) return r;
        return hw_buf_put(out, s, len);
    case HW_DEC_BYTE_FALLBACK: {
        int b = byte_piece(s, len);
        if (b < 0) return hw_buf_put(out, s, len);
        char c = (char)b;
        return hw_buf_put(out, &c, 1);
    }
    case HW_DEC_BYTELEVEL: {
        /* Every character back to its byte; a piece with any character
         * outside the map (an added token, say) is kept as it is. */
        size_t start = out->n;
        for (size_t i = 0; i < len && r == HW_OK;) {
            size_t cl = hw_utf8_len(s + i, len - i);
            int b = hw_unicode_to_byte(hw_utf8_decode(s + i, cl));
            if (b < 0) {
                out->n = start;
                return hw_buf_put(out, s, len);
            }
            char c = (char)b;
            r = hw_buf_put(out, &c, 1);
            i += cl;
        }
        return r;
    }
    }
    return r;
}

hw_status hw_tokenizer_build_decode(hw_tokenizer *t, const hw_dec_step *chain, int n) {
    for (int b = 0; b < 256; b++) t->byte_id[b] = -1;
    for (int id = 0; id < t->vocab.n; id++) {
        size_t len;
        const char *s = hw_vocab_piece(&t->vocab, id, &len);
        int b = byte_piece(s, len);
        if (b >= 0 && t->byte_id[b] < 0) t->byte_id[b] = id;
    }
    hw_status r = hw_vocab_init(&t->dec, t->vocab.n, t->vocab.data_len + 16);
    hw_buf a = {0}, b = {0};
    for (int id = 0; id < t->vocab.n && r == HW_OK; id++) {
        size_t len;
        const char *s = hw_vocab_piece(&t->vocab, id, &len);
        a.n = 0;
        r = hw_buf_put(&a, s, len);
        for (int i = 0; i < n && r == HW_OK; i++) {
            b.n = 0;
            r = run_step(&chain[i], a.s, a.n, &b);
            hw_buf tmp = a;
            a = b;
            b = tmp;
        }
        if (r == HW_OK) r = hw_vocab_push(&t->dec, a.s, a.n);
    }
    hw_buf_free(&a);
    hw_buf_free(&b);
    return r;
}

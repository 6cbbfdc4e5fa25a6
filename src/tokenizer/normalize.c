/* normalize.c: the normalizers Llama-2-style and Qwen2-style tokenizer.json
 * files use: Prepend, Replace (literal or regex), NFC, in sequence. */
#include "tokenizer/tokenizer.h"

#include <string.h>

void hw_norm_step_free(hw_norm_step *s) {
    if (!s) return;
    free(s->a);
    free(s->b);
    pcre2_code_free(s->re);
    memset(s, 0, sizeof *s);
}

static hw_status replace_literal(const hw_norm_step *st, const char *in, size_t len, hw_buf *out) {
    hw_status s = HW_OK;
    size_t i = 0, last = 0;
    if (st->alen == 0) return hw_buf_put(out, in, len);
    while (i + st->alen <= len && s == HW_OK) {
        if (memcmp(in + i, st->a, st->alen) == 0) {
            if ((s = hw_buf_put(out, in + last, i - last)) == HW_OK) s = hw_buf_put(out, st->b, st->blen);
            i += st->alen;
            last = i;
        } else {
            i++;
        }
    }
    return s == HW_OK ? hw_buf_put(out, in + last, len - last) : s;
}

static hw_status replace_regex(const hw_norm_step *st, const char *in, size_t len, hw_buf *out) {
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(st->re, NULL);
    if (!md) return hw_fail(HW_ERR_NOMEM, "out of memory for a regex match");
    hw_status s = HW_OK;
    size_t pos = 0, last = 0;
    while (pos <= len && s == HW_OK) {
        int rc = pcre2_match(st->re, (PCRE2_SPTR)in, len, pos, 0, md, NULL);
        if (rc < 0) break; /* no more matches (or an error: leave the rest) */
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
        size_t ms = ov[0], me = ov[1];
        if ((s = hw_buf_put(out, in + last, ms - last)) == HW_OK) s = hw_buf_put(out, st->b, st->blen);
        last = pos = me;
        if (me == ms) { /* an empty match: keep the character after it and move on */
            if (me == len) break;
            size_t cl = hw_utf8_len(in + me, len - me);
            if (s == HW_OK) s = hw_buf_put(out, in + me, cl);
            last = pos = me + cl;
        }
    }
    pcre2_match_data_free(md);
    if (s == HW_OK && last < len) s = hw_buf_put(out, in + last, len - last);
    return s;
}

hw_status hw_normalize(const hw_norm_step *steps, int n, const char *text, size_t len, hw_buf *out) {
    hw_buf a = {0}, b = {0};
    hw_status s = hw_buf_put(&a, text, len);
    /* Every step leaves empty text empty. */
    for (int i = 0; i < n && s == HW_OK && a.n > 0; i++) {
        const hw_norm_step *st = &steps[i];
        b.n = 0;
        switch (st->kind) {
        case HW_NORMALIZE_PREPEND:
            if (a.n && (s = hw_buf_put(&b, st->a, st->alen)) == HW_OK) s = hw_buf_put(&b, a.s, a.n);
            break;
        case HW_NORMALIZE_REPLACE:
            s = st->re ? replace_regex(st, a.s, a.n, &b) : replace_literal(st, a.s, a.n, &b);
            break;
        case HW_NORMALIZE_NFC:
            s = hw_nfc(a.s, a.n, &b);
            break;
        }
        hw_buf tmp = a;
        a = b;
        b = tmp;
    }
    hw_buf_free(&b);
    out->n = 0;
    if (s == HW_OK) s = hw_buf_put(out, a.s, a.n);
    hw_buf_free(&a);
    return s;
}

/* pretok.c: pre-tokenizers, which cut normalized text into words before BPE.
 *
 * Follows tokenizers' split semantics: a pattern's matches and the gaps
 * between them form chunks covering the text; `invert` swaps which are the
 * matches; the behaviour then decides what happens to the matches (removed,
 * isolated, merged into a neighbour, or joined when contiguous); empty pieces
 * are dropped. Patterns run under PCRE2 with Unicode properties, standing in
 * for the Oniguruma engine tokenizers uses. */
#include "tokenizer/tokenizer.h"

#include <string.h>

/* GPT-2's pattern, also the ByteLevel pre-tokenizer's default. */
const char hw_gpt2_pattern[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

pcre2_code *hw_regex_compile(const char *pattern, size_t len, int literal, const char *where) {
    /* MATCH_INVALID_UTF: text from C callers may hold invalid UTF-8, which
     * must not make matching fail; such bytes just match nothing. */
    uint32_t opts = PCRE2_UTF | PCRE2_MATCH_INVALID_UTF | (literal ? PCRE2_LITERAL : PCRE2_UCP);
    int err;
    PCRE2_SIZE at;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, len, opts, &err, &at, NULL);
    if (!re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(err, msg, sizeof msg);
        hw_fail(HW_ERR_UNSUPPORTED, "%s: pattern /%.*s/ does not compile at offset %zu: %s", where,
                (int)(len > 200 ? 200 : len), pattern, (size_t)at, (const char *)msg);
        return NULL;
    }
    /* Fuzz builds (make fuzz) load a tokenizer per input: JIT compiling costs more
     * than the matching, and JIT code is PCRE2's, not instrumented anyway. */
#ifndef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
    pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* falls back to the interpreter if JIT is absent */
#endif
    return re;
}

void hw_pre_step_free(hw_pre_step *s) {
    if (!s) return;
    pcre2_code_free(s->re);
    memset(s, 0, sizeof *s);
}

typedef struct {
    size_t s, e;
    int m;
} chunk;

typedef struct {
    chunk *v;
    size_t n, cap;
} chunks;

static hw_status chunk_push(chunks *c, size_t s, size_t e, int m) {
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 64;
        chunk *v = realloc(c->v, cap * sizeof *v);
        if (!v) return hw_fail(HW_ERR_NOMEM, "out of memory splitting text");
        c->v = v;
        c->cap = cap;
    }
    c->v[c->n++] = (chunk){s, e, m};
    return HW_OK;
}

/* Matches of re in text (or of the literal lit when re is NULL) and the gaps
 * between them, in order. Empty matches are skipped. */
static hw_status find_chunks(const pcre2_code *re, pcre2_match_data *md, const char *lit,
                             size_t lit_len, const char *text, size_t len, chunks *out) {
    out->n = 0;
    size_t pos = 0, prev = 0;
    hw_status s = HW_OK;
    while (pos < len && s == HW_OK) {
        size_t ms, me;
        if (re) {
            if (pcre2_match(re, (PCRE2_SPTR)text, len, pos, 0, md, NULL) < 0) break;
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            ms = ov[0];
            me = ov[1];
        } else {
            const char *hit = lit_len ? memmem(text + pos, len - pos, lit, lit_len) : NULL;
            if (!hit) break;
            ms = (size_t)(hit - text);
            me = ms + lit_len;
        }
        if (me == ms) {
            pos = ms + hw_utf8_len(text + ms, len - ms);
            continue;
        }
        if (prev < ms) s = chunk_push(out, prev, ms, 0);
        if (s == HW_OK) s = chunk_push(out, ms, me, 1);
        prev = pos = me;
    }
    if (s == HW_OK && prev < len) s = chunk_push(out, prev, len, 0);
    return s;
}

/* Apply a split behaviour to chunks in place (tokenizers' folds). */
static void apply_behavior(chunks *c, hw_split_behavior b) {
    size_t k = 0;
    int prev_match = 0;
    if (c->n == 0) return;
    switch (b) {
    case HW_SPLIT_ISOLATED: return;
    case HW_SPLIT_REMOVED:
        for (size_t i = 0; i < c->n; i++)
            if (!c->v[i].m) c->v[k++] = c->v[i];
        break;
    case HW_SPLIT_MERGED_PREV:
        for (size_t i = 0; i < c->n; i++) {
            chunk x = c->v[i];
            if (x.m && !prev_match && k > 0) c->v[k - 1].e = x.e;
            else c->v[k++] = x;
            prev_match = x.m;
        }
        break;
    case HW_SPLIT_MERGED_NEXT: /* the mirror image: fold from the right */
        k = c->n;
        for (size_t i = c->n; i-- > 0;) {
            chunk x = c->v[i];
            if (x.m && !prev_match && k < c->n) c->v[k].s = x.s;
            else c->v[--k] = x;
            prev_match = x.m;
        }
        memmove(c->v, c->v + k, (c->n - k) * sizeof *c->v);
        k = c->n - k;
        break;
    case HW_SPLIT_CONTIGUOUS:
        for (size_t i = 0; i < c->n; i++) {
            chunk x = c->v[i];
            if (x.m == prev_match && k > 0) c->v[k - 1].e = x.e;
            else c->v[k++] = x;
            prev_match = x.m;
        }
        break;
    }
    c->n = k;
}

/* One step over one span: write its (rewritten) text to nb and push the words. */
static hw_status step_span(const hw_pre_step *st, pcre2_match_data *md, const char *text,
                           size_t len, int first, hw_buf *nb, hw_spans *out, chunks *ck) {
    size_t base = nb->n;
    hw_status s = HW_OK;
    hw_split_behavior behavior = st->behavior;
    const pcre2_code *re = st->re;
    const char *lit = NULL;
    size_t lit_len = 0;
    int invert = st->invert;
    switch (st->kind) {
    case HW_PRE_SPLIT: s = hw_buf_put(nb, text, len); break;
    case HW_PRE_BYTELEVEL:
        if (st->add_prefix_space && (len == 0 || text[0] != ' ')) s = hw_buf_put(nb, " ", 1);
        if (s == HW_OK) s = hw_buf_put(nb, text, len);
        behavior = HW_SPLIT_ISOLATED;
        invert = 0;
        break;
    case HW_PRE_METASPACE: {
        const char *r = st->replacement;
        size_t rl = st->replacement_len;
        /* Checked after spaces become the replacement, as tokenizers does. */
        int starts = (len >= 1 && text[0] == ' ') || (len >= rl && memcmp(text, r, rl) == 0);
        if (!starts && (st->prepend_scheme == HW_PREPEND_ALWAYS ||
                        (st->prepend_scheme == HW_PREPEND_FIRST && first)))
            s = hw_buf_put(nb, r, rl);
        for (size_t i = 0; i < len && s == HW_OK; i++)
            s = text[i] == ' ' ? hw_buf_put(nb, r, rl) : hw_buf_put(nb, text + i, 1);
        re = NULL;
        if (st->split) {
            lit = r;
            lit_len = rl;
        }
        behavior = HW_SPLIT_MERGED_NEXT;
        invert = 0;
        break;
    }
    }
    if (s != HW_OK) return s;
    size_t n = nb->n - base;
    if (!re && !lit) return n ? hw_spans_push(out, base, n, first) : HW_OK;
    if ((s = find_chunks(re, md, lit, lit_len, nb->s + base, n, ck)) != HW_OK) return s;
    if (invert)
        for (size_t i = 0; i < ck->n; i++) ck->v[i].m = !ck->v[i].m;
    apply_behavior(ck, behavior);
    for (size_t i = 0; i < ck->n && s == HW_OK; i++)
        if (ck->v[i].e > ck->v[i].s)
            s = hw_spans_push(out, base + ck->v[i].s, ck->v[i].e - ck->v[i].s, first && ck->v[i].s == 0);
    return s;
}

hw_status hw_pretokenize(const hw_pre_step *steps, int n, hw_buf *buf, int first, hw_spans *out) {
    out->n = 0;
    hw_status s = HW_OK;
    if (buf->n) s = hw_spans_push(out, 0, buf->n, first);
    hw_spans next = {0};
    hw_buf nb = {0};
    chunks ck = {0};
    for (int i = 0; i < n && s == HW_OK && out->n; i++) {
        pcre2_match_data *md = NULL;
        if (steps[i].re && !(md = pcre2_match_data_create_from_pattern(steps[i].re, NULL))) {
            s = hw_fail(HW_ERR_NOMEM, "out of memory for a regex match");
            break;
        }
        next.n = 0;
        nb.n = 0;
        for (size_t j = 0; j < out->n && s == HW_OK; j++)
            s = step_span(&steps[i], md, buf->s + out->v[j].off, out->v[j].len, out->v[j].first, &nb,
                          &next, &ck);
        pcre2_match_data_free(md);
        hw_spans ts = *out;
        *out = next;
        next = ts;
        hw_buf tb = *buf;
        *buf = nb;
        nb = tb;
    }
    free(next.v);
    hw_buf_free(&nb);
    free(ck.v);
    return s;
}

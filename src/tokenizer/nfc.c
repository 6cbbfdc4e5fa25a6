/* nfc.c: Unicode Normalization Form C (UAX #15), for normalizers like Qwen2's.
 *
 * Decompose canonically (Hangul by arithmetic, the rest by table), put runs of
 * combining marks in canonical order, then compose each mark with the last
 * starter unless a mark of the same or higher class stands between them.
 * Bytes that are not valid UTF-8 pass through untouched. Text whose code
 * points are all below U+0300 (no UTF-8 lead byte >= 0xCC) is already NFC,
 * which the table generator checks, so most text skips the work. */
#include "tokenizer/tokenizer.h"

#include "tokenizer/nfc_tables.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

enum {
    S_BASE = 0xAC00, L_BASE = 0x1100, V_BASE = 0x1161, T_BASE = 0x11A7,
    L_COUNT = 19, V_COUNT = 21, T_COUNT = 28, N_COUNT = V_COUNT * T_COUNT, S_COUNT = L_COUNT * N_COUNT,
};
#define RAW_BYTE 0x110000u /* + b: an invalid byte kept as it is */

static int ccc_of(uint32_t c) {
    if (c < 0x300 || c >= RAW_BYTE) return 0;
    size_t lo = 0, hi = N_OF(hw_nfc_ccc);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (hw_nfc_ccc[mid][0] < c) lo = mid + 1;
        else hi = mid;
    }
    return lo < N_OF(hw_nfc_ccc) && hw_nfc_ccc[lo][0] == c ? (int)hw_nfc_ccc[lo][1] : 0;
}

static const uint32_t *decomp_of(uint32_t c) {
    size_t lo = 0, hi = N_OF(hw_nfc_decomp);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (hw_nfc_decomp[mid][0] < c) lo = mid + 1;
        else hi = mid;
    }
    return lo < N_OF(hw_nfc_decomp) && hw_nfc_decomp[lo][0] == c ? hw_nfc_decomp[lo] : NULL;
}

/* The primary composite of (a, b), or 0. */
static uint32_t compose(uint32_t a, uint32_t b) {
    if (a >= L_BASE && a < L_BASE + L_COUNT && b >= V_BASE && b < V_BASE + V_COUNT)
        return S_BASE + ((a - L_BASE) * V_COUNT + (b - V_BASE)) * T_COUNT;
    if (a >= S_BASE && a < S_BASE + S_COUNT && (a - S_BASE) % T_COUNT == 0 && b > T_BASE &&
        b < T_BASE + T_COUNT)
        return a + (b - T_BASE);
    size_t lo = 0, hi = N_OF(hw_nfc_comp);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        const uint32_t *e = hw_nfc_comp[mid];
        if (e[0] < a || (e[0] == a && e[1] < b)) lo = mid + 1;
        else hi = mid;
    }
    return lo < N_OF(hw_nfc_comp) && hw_nfc_comp[lo][0] == a && hw_nfc_comp[lo][1] == b ? hw_nfc_comp[lo][2] : 0;
}

typedef struct {
    uint32_t *v;
    size_t n, cap;
} cps;

static hw_status push(cps *s, uint32_t c) {
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 256;
        uint32_t *v = realloc(s->v, cap * sizeof *v);
        if (!v) return hw_fail(HW_ERR_NOMEM, "out of memory normalizing text");
        s->v = v;
        s->cap = cap;
    }
    s->v[s->n++] = c;
    return HW_OK;
}

/* Canonical decompositions nest at most a few levels deep. */
static hw_status decompose(uint32_t c, cps *s, int depth) {
    if (c >= S_BASE && c < S_BASE + S_COUNT) {
        uint32_t i = c - S_BASE;
        hw_status r = push(s, L_BASE + i / N_COUNT);
        if (r == HW_OK) r = push(s, V_BASE + (i % N_COUNT) / T_COUNT);
        if (r == HW_OK && i % T_COUNT) r = push(s, T_BASE + i % T_COUNT);
        return r;
    }
    const uint32_t *d = depth < 8 ? decomp_of(c) : NULL;
    if (!d) return push(s, c);
    hw_status r = decompose(d[1], s, depth + 1);
    if (r == HW_OK && d[2]) r = decompose(d[2], s, depth + 1);
    return r;
}

hw_status hw_nfc(const char *text, size_t len, hw_buf *out) {
    size_t i = 0;
    while (i < len && (uint8_t)text[i] < 0xCC) i++;
    if (i == len) return hw_buf_put(out, text, len);
    cps s = {0};
    hw_status r = HW_OK;
    for (i = 0; i < len && r == HW_OK;) {
        size_t cl = hw_utf8_len(text + i, len - i);
        uint32_t c = hw_utf8_decode(text + i, cl);
        r = c == 0xFFFFFFFFu ? push(&s, RAW_BYTE + (uint8_t)text[i]) : decompose(c, &s, 0);
        i += cl;
    }
    if (r == HW_OK && s.n) {
        /* Canonical order: a stable insertion sort of each run of marks. */
        for (size_t k = 1; k < s.n; k++) {
            int ck = ccc_of(s.v[k]);
            if (ck == 0) continue;
            uint32_t c = s.v[k];
            size_t j = k;
            while (j > 0 && ccc_of(s.v[j - 1]) > ck) {
                s.v[j] = s.v[j - 1];
                j--;
            }
            s.v[j] = c;
        }
        /* Composition (UAX #15's reference loop). */
        size_t starter = 0, out_n = 1;
        int last = ccc_of(s.v[0]) ? 256 : 0; /* a leading mark blocks everything */
        for (size_t k = 1; k < s.n; k++) {
            uint32_t c = s.v[k];
            int cc = ccc_of(c);
            uint32_t comp = compose(s.v[starter], c);
            if (comp && (last < cc || last == 0)) {
                s.v[starter] = comp;
                continue;
            }
            if (cc == 0) starter = out_n;
            last = cc;
            s.v[out_n++] = c;
        }
        s.n = out_n;
        for (size_t k = 0; k < s.n && r == HW_OK; k++) {
            if (s.v[k] >= RAW_BYTE) {
                char b = (char)(s.v[k] - RAW_BYTE);
                r = hw_buf_put(out, &b, 1);
            } else {
                r = hw_buf_put_utf8(out, s.v[k]);
            }
        }
    }
    free(s.v);
    return r;
}

/* gguf.c: the GGUF container (see gguf.h): header, metadata, tensor table, checks.
 *
 * llama.cpp and Ollama both shipped readers that trusted a size from the file: a
 * product of counts that overflowed and left a buffer too small (CVE-2025-53630, and
 * its bypass CVE-2026-27940), and tensor dimensions claiming more bytes than the file
 * holds (Ollama CVE-2026-7482). Here every length is checked against the bytes left
 * before it is used, every count against what those bytes could hold at the smallest
 * element size (so no allocation is sized by a count alone), every product with
 * hw_mul_overflow, and every tensor against the data section and its neighbours. */
#include "io/gguf.h"
#include "io/safetensors.h"
#include "hw_limits.h"

#include <stdlib.h>
#include <string.h>

#define GGUF_MAGIC 0x46554747u /* "GGUF" little-endian */
#define DEFAULT_ALIGNMENT 32
/* Arrays nest (an array of arrays of ...): deeper than this is no real file. */
#define MAX_NESTING 8
/* Bytes of a key or tensor name (llama.cpp's names are under 64). */
#define MAX_NAME 4096
/* Metadata entries (real files hold under a hundred). */
#define MAX_KV (1 << 20)

/* Block size (values) and bytes per block of each ggml type; 0: unknown or removed. */
static const struct {
    const char *name;
    int blck;
    int bytes;
} types[HW_GGML_N_TYPES] = {
    [0] = {"F32", 1, 4},       [1] = {"F16", 1, 2},        [2] = {"Q4_0", 32, 18},
    [3] = {"Q4_1", 32, 20},    [6] = {"Q5_0", 32, 22},     [7] = {"Q5_1", 32, 24},
    [8] = {"Q8_0", 32, 34},    [9] = {"Q8_1", 32, 36},     [10] = {"Q2_K", 256, 84},
    [11] = {"Q3_K", 256, 110}, [12] = {"Q4_K", 256, 144},  [13] = {"Q5_K", 256, 176},
    [14] = {"Q6_K", 256, 210}, [15] = {"Q8_K", 256, 292},  [16] = {"IQ2_XXS", 256, 66},
    [17] = {"IQ2_XS", 256, 74}, [18] = {"IQ3_XXS", 256, 98}, [19] = {"IQ1_S", 256, 50},
    [20] = {"IQ4_NL", 32, 18}, [21] = {"IQ3_S", 256, 110}, [22] = {"IQ2_S", 256, 82},
    [23] = {"IQ4_XS", 256, 136}, [24] = {"I8", 1, 1},      [25] = {"I16", 1, 2},
    [26] = {"I32", 1, 4},      [27] = {"I64", 1, 8},       [28] = {"F64", 1, 8},
    [29] = {"IQ1_M", 256, 56}, [30] = {"BF16", 1, 2},      [34] = {"TQ1_0", 256, 54},
    [35] = {"TQ2_0", 256, 66}, [39] = {"MXFP4", 32, 17},
};

const char *hw_ggml_type_name(uint32_t type) {
    return type < HW_GGML_N_TYPES && types[type].name ? types[type].name : "?";
}

/* Bytes of one scalar value type; 0 for STRING, ARRAY and unknown types. */
static size_t scalar_size(uint32_t t) {
    static const size_t sz[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return t < sizeof sz / sizeof sz[0] ? sz[t] : 0;
}

static const char *vtype_name(uint32_t t) {
    static const char *n[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                              "bool", "string", "array", "u64", "i64", "f64"};
    return t < sizeof n / sizeof n[0] ? n[t] : "unknown";
}

bool hw_gguf_is(const uint8_t *data, size_t size) {
    return size >= 4 && memcmp(data, "GGUF", 4) == 0;
}

/* ---------------------------------------------------------------- cursor */

typedef struct {
    const uint8_t *p, *end;
    const char *path;
    const uint8_t *base;
    hw_status err;
} cursor;

static size_t left(const cursor *c) { return (size_t)(c->end - c->p); }
static size_t at(const cursor *c) { return (size_t)(c->p - c->base); }

/* n bytes for `what`, or NULL with the error set (once). */
static const uint8_t *take(cursor *c, uint64_t n, const char *what) {
    if (c->err) return NULL;
    if (n > left(c)) {
        c->err = hw_fail(HW_ERR_FORMAT, "%s: truncated GGUF: %s needs %llu bytes at offset %zu, "
                         "%zu left", c->path, what, (unsigned long long)n, at(c), left(c));
        return NULL;
    }
    const uint8_t *p = c->p;
    c->p += n;
    return p;
}

static uint64_t rd(const uint8_t *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

static uint32_t take_u32(cursor *c, const char *what) {
    const uint8_t *p = take(c, 4, what);
    return p ? (uint32_t)rd(p, 4) : 0;
}

static uint64_t take_u64(cursor *c, const char *what) {
    const uint8_t *p = take(c, 8, what);
    return p ? rd(p, 8) : 0;
}

static hw_gguf_str take_str(cursor *c, const char *what, uint64_t max) {
    hw_gguf_str s = {0};
    uint64_t n = take_u64(c, what);
    if (!c->err && n > max) {
        c->err = hw_fail(HW_ERR_FORMAT, "%s: %s at offset %zu is %llu bytes long (at most %llu)",
                         c->path, what, at(c) - 8, (unsigned long long)n, (unsigned long long)max);
        return s;
    }
    const uint8_t *p = take(c, n, what);
    if (p) s = (hw_gguf_str){(const char *)p, (size_t)n};
    return s;
}

/* Skip one value of type t (checking it), nesting levels deep in arrays. */
static void skip_value(cursor *c, uint32_t t, int depth, const char *what);

/* An array's header and elements; returns its element type and count. */
static void skip_array(cursor *c, int depth, const char *what, uint32_t *et_out, uint64_t *n_out) {
    if (depth >= MAX_NESTING) {
        c->err = hw_fail(HW_ERR_FORMAT, "%s: %s: arrays nested more than %d deep", c->path, what,
                         MAX_NESTING);
        return;
    }
    uint32_t et = take_u32(c, what);
    uint64_t n = take_u64(c, what);
    if (c->err) return;
    /* The smallest element: a scalar's size, a string's length, an array's header. */
    size_t min = et == HW_GGUF_STRING ? 8 : et == HW_GGUF_ARRAY ? 12 : scalar_size(et);
    if (min == 0) {
        c->err = hw_fail(HW_ERR_FORMAT, "%s: %s: array of unknown value type %u", c->path, what, et);
        return;
    }
    if (n > left(c) / min) {
        c->err = hw_fail(HW_ERR_FORMAT, "%s: %s: array of %llu %s elements does not fit in the "
                         "%zu bytes left (truncated or corrupt)", c->path, what,
                         (unsigned long long)n, vtype_name(et), left(c));
        return;
    }
    if (et_out) *et_out = et, *n_out = n;
    if (et != HW_GGUF_STRING && et != HW_GGUF_ARRAY) {
        take(c, n * min, what);
        return;
    }
    for (uint64_t i = 0; i < n && !c->err; i++) skip_value(c, et, depth + 1, what);
}

static void skip_value(cursor *c, uint32_t t, int depth, const char *what) {
    if (t == HW_GGUF_STRING) take_str(c, what, UINT64_MAX);
    else if (t == HW_GGUF_ARRAY) skip_array(c, depth, what, NULL, NULL);
    else if (scalar_size(t)) take(c, scalar_size(t), what);
    else if (!c->err)
        c->err = hw_fail(HW_ERR_FORMAT, "%s: %s: unknown value type %u", c->path, what, t);
}

/* ---------------------------------------------------------------- parse */

static hw_status read_kv(hw_gguf *g, cursor *c, hw_gguf_kv *kv, int64_t i) {
    kv->key = take_str(c, "metadata key", MAX_NAME);
    uint32_t t = take_u32(c, "metadata value type");
    if (c->err) return c->err;
    char what[160];
    snprintf(what, sizeof what, "metadata '%.*s'", (int)(kv->key.len < 100 ? kv->key.len : 100),
             kv->key.s);
    kv->type = (hw_gguf_vtype)t;
    const uint8_t *start = c->p;
    if (t == HW_GGUF_ARRAY) {
        uint32_t et = 0;
        uint64_t n = 0;
        skip_array(c, 0, what, &et, &n);
        kv->elem_type = (hw_gguf_vtype)et;
        kv->n = n;
        start += 12;
    } else {
        skip_value(c, t, 0, what);
    }
    if (c->err) return c->err;
    kv->data = start;
    kv->nbytes = (size_t)(c->p - start);
    if (t == HW_GGUF_BOOL && kv->data[0] > 1)
        return hw_fail(HW_ERR_FORMAT, "%s: %s: bool value %u", g->path, what, kv->data[0]);
    for (int64_t j = 0; j < i; j++) /* keys are few: a quadratic check costs nothing */
        if (g->kv[j].key.len == kv->key.len && memcmp(g->kv[j].key.s, kv->key.s, kv->key.len) == 0)
            return hw_fail(HW_ERR_FORMAT, "%s: %s appears twice", g->path, what);
    return HW_OK;
}

/* One tensor info: name, dims, type and offset, checked except against the data. */
static hw_status read_tensor(hw_gguf *g, cursor *c, hw_gguf_tensor *t) {
    t->name = take_str(c, "tensor name", MAX_NAME);
    uint32_t nd = take_u32(c, "tensor dimension count");
    if (c->err) return c->err;
    const int nl = (int)(t->name.len < 100 ? t->name.len : 100);
    if (nd > HW_GGUF_MAX_DIMS)
        return hw_fail(HW_ERR_FORMAT, "%s: tensor '%.*s' has %u dimensions (at most %d)", g->path,
                       nl, t->name.s, nd, HW_GGUF_MAX_DIMS);
    t->n_dims = (int)nd;
    int64_t numel = 1;
    for (int d = 0; d < HW_GGUF_MAX_DIMS; d++) {
        uint64_t v = d < (int)nd ? take_u64(c, "tensor dimension") : 1;
        if (c->err) return c->err;
        if (v > INT64_MAX || hw_mul_overflow(numel, (int64_t)v, &numel))
            return hw_fail(HW_ERR_FORMAT, "%s: tensor '%.*s': dimensions overflow 64 bits", g->path,
                           nl, t->name.s);
        t->ne[d] = (int64_t)v;
    }
    t->numel = numel;
    t->type = take_u32(c, "tensor type");
    t->offset = take_u64(c, "tensor offset");
    if (c->err) return c->err;
    if (t->type >= HW_GGML_N_TYPES || !types[t->type].name)
        return hw_fail(HW_ERR_FORMAT, "%s: tensor '%.*s' has unknown ggml type %u", g->path, nl,
                       t->name.s, t->type);
    int64_t blck = types[t->type].blck, rows = t->ne[0] ? numel / t->ne[0] : 0, row_bytes, bytes;
    if (t->ne[0] % blck != 0)
        return hw_fail(HW_ERR_FORMAT, "%s: tensor '%.*s': row of %lld values is not whole %s "
                       "blocks of %lld", g->path, nl, t->name.s, (long long)t->ne[0],
                       types[t->type].name, (long long)blck);
    if (hw_mul_overflow(t->ne[0] / blck, types[t->type].bytes, &row_bytes) ||
        hw_mul_overflow(row_bytes, rows, &bytes) || (uint64_t)bytes > SIZE_MAX)
        return hw_fail(HW_ERR_FORMAT, "%s: tensor '%.*s': byte size overflows", g->path, nl,
                       t->name.s);
    t->nbytes = (size_t)bytes;
    return HW_OK;
}

static int cmp_name(const hw_gguf_str *a, const hw_gguf_str *b) {
    int r = memcmp(a->s, b->s, a->len < b->len ? a->len : b->len);
    return r ? r : (a->len > b->len) - (a->len < b->len);
}

static int by_name(const void *a, const void *b, void *ctx) {
    const hw_gguf *g = ctx;
    return cmp_name(&g->tensors[*(const int64_t *)a].name, &g->tensors[*(const int64_t *)b].name);
}

static int by_offset(const void *a, const void *b, void *ctx) {
    const hw_gguf *g = ctx;
    uint64_t x = g->tensors[*(const int64_t *)a].offset, y = g->tensors[*(const int64_t *)b].offset;
    return (x > y) - (x < y);
}

static hw_status read_alignment(hw_gguf *g) {
    g->alignment = DEFAULT_ALIGNMENT;
    const hw_gguf_kv *kv = hw_gguf_find(g, "general.alignment");
    if (!kv) return HW_OK;
    if (kv->type != HW_GGUF_U32)
        return hw_fail(HW_ERR_FORMAT, "%s: general.alignment is %s, not u32", g->path,
                       vtype_name(kv->type));
    uint32_t a = (uint32_t)rd(kv->data, 4);
    if (a == 0 || (a & (a - 1)) != 0 || a > (1u << 30))
        return hw_fail(HW_ERR_FORMAT, "%s: general.alignment %u is not a power of two up to 2^30",
                       g->path, a);
    g->alignment = a;
    return HW_OK;
}

/* Every tensor inside the data section, aligned, and no two sharing a byte. */
static hw_status place_tensors(hw_gguf *g, const uint8_t *data) {
    uint64_t size = g->file_bytes > g->data_offset ? g->file_bytes - g->data_offset : 0;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        hw_gguf_tensor *t = &g->tensors[i];
        const int nl = (int)(t->name.len < 100 ? t->name.len : 100);
        if (t->offset % g->alignment != 0)
            return hw_fail(HW_ERR_FORMAT, "%s: tensor '%.*s' at data offset %llu is not aligned to %u",
                           g->path, nl, t->name.s, (unsigned long long)t->offset, g->alignment);
        if (t->offset > size || t->nbytes > size - t->offset)
            return hw_fail(HW_ERR_FORMAT, "%s: tensor '%.*s' (%zu bytes at data offset %llu) ends "
                           "past the file's %llu data bytes (truncated, or dimensions wrong)",
                           g->path, nl, t->name.s, t->nbytes, (unsigned long long)t->offset,
                           (unsigned long long)size);
        t->data = data + g->data_offset + t->offset;
    }
    int64_t *ord = malloc((size_t)(g->n_tensors + 1) * sizeof *ord);
    if (!ord) return hw_fail(HW_ERR_NOMEM, "%s: out of memory", g->path);
    int64_t n = 0;
    for (int64_t i = 0; i < g->n_tensors; i++)
        if (g->tensors[i].nbytes) ord[n++] = i;
    qsort_r(ord, (size_t)n, sizeof *ord, by_offset, g);
    hw_status st = HW_OK;
    for (int64_t i = 1; i < n && !st; i++) {
        const hw_gguf_tensor *a = &g->tensors[ord[i - 1]], *b = &g->tensors[ord[i]];
        if (b->offset < a->offset + a->nbytes)
            st = hw_fail(HW_ERR_FORMAT, "%s: tensors '%.*s' and '%.*s' overlap in the file", g->path,
                         (int)(a->name.len < 100 ? a->name.len : 100), a->name.s,
                         (int)(b->name.len < 100 ? b->name.len : 100), b->name.s);
    }
    free(ord);
    return st;
}

static hw_status parse(hw_gguf *g, const uint8_t *data, size_t size) {
    cursor c = {.p = data, .end = data + size, .path = g->path, .base = data};
    const uint8_t *magic = take(&c, 4, "magic");
    if (!magic) return c.err;
    if (!hw_gguf_is(magic, 4)) return hw_fail(HW_ERR_FORMAT, "%s: not a GGUF file (bad magic)", g->path);
    g->version = take_u32(&c, "version");
    if (c.err) return c.err;
    if (g->version == 1)
        return hw_fail(HW_ERR_UNSUPPORTED, "%s: GGUF version 1 (supported: 2, 3; convert it with a "
                       "newer llama.cpp)", g->path);
    if (g->version != 2 && g->version != 3)
        return hw_fail(HW_ERR_UNSUPPORTED, "%s: GGUF version %u (supported: 2, 3%s)", g->path,
                       g->version, (g->version & 0xFFFF) == 0 ? "; a big-endian file?" : "");
    uint64_t nt = take_u64(&c, "tensor count"), nkv = take_u64(&c, "metadata count");
    if (c.err) return c.err;
    /* A kv entry takes at least 13 bytes and a tensor info 24: counts beyond what the
     * file could hold are refused before anything is allocated from them. */
    if (nkv > MAX_KV || nkv > left(&c) / 13)
        return hw_fail(HW_ERR_FORMAT, "%s: %llu metadata entries cannot fit in the file (at most "
                       "%d, and 13 bytes each)", g->path, (unsigned long long)nkv, MAX_KV);
    if (nt > HW_MAX_TENSORS || nt > left(&c) / 24)
        return hw_fail(HW_ERR_FORMAT, "%s: %llu tensors cannot fit in the file (at most %d, and 24 "
                       "bytes each)", g->path, (unsigned long long)nt, HW_MAX_TENSORS);
    g->kv = calloc((size_t)nkv + 1, sizeof *g->kv);
    g->tensors = calloc((size_t)nt + 1, sizeof *g->tensors);
    g->by_name = calloc((size_t)nt + 1, sizeof *g->by_name);
    if (!g->kv || !g->tensors || !g->by_name) return hw_fail(HW_ERR_NOMEM, "%s: out of memory", g->path);
    hw_status st = HW_OK;
    for (int64_t i = 0; i < (int64_t)nkv && !st; i++)
        if ((st = read_kv(g, &c, &g->kv[i], i)) == HW_OK) g->n_kv = i + 1;
    if (st) return st;
    for (int64_t i = 0; i < (int64_t)nt && !st; i++)
        if ((st = read_tensor(g, &c, &g->tensors[i])) == HW_OK) g->n_tensors = i + 1;
    if (st) return st;
    for (int64_t i = 0; i < g->n_tensors; i++) g->by_name[i] = i;
    qsort_r(g->by_name, (size_t)g->n_tensors, sizeof *g->by_name, by_name, g);
    for (int64_t i = 1; i < g->n_tensors; i++) {
        const hw_gguf_str *n = &g->tensors[g->by_name[i]].name;
        if (cmp_name(&g->tensors[g->by_name[i - 1]].name, n) == 0)
            return hw_fail(HW_ERR_FORMAT, "%s: tensor '%.*s' appears twice", g->path,
                           (int)(n->len < 100 ? n->len : 100), n->s);
    }
    if ((st = read_alignment(g))) return st;
    /* The data section starts at the next multiple of the alignment. A file without
     * tensors may end right after its metadata, unpadded (llama.cpp's vocabulary files). */
    uint64_t end = at(&c);
    g->data_offset = (end + g->alignment - 1) / g->alignment * g->alignment;
    if (g->n_tensors > 0 && g->data_offset > size)
        return hw_fail(HW_ERR_FORMAT, "%s: truncated GGUF: the file ends at %zu, before its data "
                       "section at %llu", g->path, size, (unsigned long long)g->data_offset);
    return place_tensors(g, data);
}

hw_status hw_gguf_parse(hw_gguf *g, const uint8_t *data, size_t size, const char *path) {
    memset(g, 0, sizeof *g);
    g->path = path ? path : "GGUF";
    g->file_bytes = size;
    return parse(g, data, size);
}

hw_status hw_gguf_open(hw_gguf *g, const char *path) {
    memset(g, 0, sizeof *g);
    hw_mapped_file f;
    hw_status st = hw_file_map(&f, path);
    if (st) return st;
    st = hw_gguf_parse(g, f.data, f.size, path);
    g->map = f;
    return st;
}

void hw_gguf_free(hw_gguf *g) {
    if (!g) return;
    free(g->kv);
    free(g->tensors);
    free(g->by_name);
    hw_file_unmap(&g->map);
    memset(g, 0, sizeof *g);
}

/* ---------------------------------------------------------------- lookups */

const hw_gguf_kv *hw_gguf_find(const hw_gguf *g, const char *key) {
    size_t n = strlen(key);
    for (int64_t i = 0; i < g->n_kv; i++)
        if (g->kv[i].key.len == n && memcmp(g->kv[i].key.s, key, n) == 0) return &g->kv[i];
    return NULL;
}

const hw_gguf_tensor *hw_gguf_find_tensor(const hw_gguf *g, const char *name) {
    hw_gguf_str key = {name, strlen(name)};
    int64_t lo = 0, hi = g->n_tensors;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int r = cmp_name(&g->tensors[g->by_name[mid]].name, &key);
        if (r == 0) return &g->tensors[g->by_name[mid]];
        if (r < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

static bool is_int_type(uint32_t t) {
    return t <= HW_GGUF_I32 || t == HW_GGUF_U64 || t == HW_GGUF_I64;
}

/* Integer of type t at p (u64 above INT64_MAX reads as INT64_MAX: out of any range). */
static int64_t read_int(const uint8_t *p, uint32_t t) {
    uint64_t u = rd(p, (int)scalar_size(t));
    switch (t) {
    case HW_GGUF_I8: return (int8_t)u;
    case HW_GGUF_I16: return (int16_t)u;
    case HW_GGUF_I32: return (int32_t)u;
    case HW_GGUF_I64: return (int64_t)u;
    default: return u > INT64_MAX ? INT64_MAX : (int64_t)u;
    }
}

static double read_float(const uint8_t *p, uint32_t t) {
    if (t == HW_GGUF_F32) {
        uint32_t b = (uint32_t)rd(p, 4);
        float f;
        memcpy(&f, &b, 4);
        return f;
    }
    uint64_t b = rd(p, 8);
    double d;
    memcpy(&d, &b, 8);
    return d;
}

/* The entry for key, NULL when absent (found false, or an error if found is NULL). */
static hw_status lookup(const hw_gguf *g, const char *key, bool *found, const hw_gguf_kv **kv) {
    *kv = hw_gguf_find(g, key);
    if (found) *found = *kv != NULL;
    if (!*kv && !found) return hw_fail(HW_ERR_FORMAT, "%s: no metadata key %s", g->path, key);
    return HW_OK;
}

static hw_status wrong_type(const hw_gguf *g, const char *key, const hw_gguf_kv *kv, const char *want) {
    return hw_fail(HW_ERR_FORMAT, "%s: metadata %s is %s%s%s, not %s", g->path, key,
                   vtype_name(kv->type), kv->type == HW_GGUF_ARRAY ? " of " : "",
                   kv->type == HW_GGUF_ARRAY ? vtype_name(kv->elem_type) : "", want);
}

hw_status hw_gguf_get_int(const hw_gguf *g, const char *key, int64_t lo, int64_t hi,
                          int64_t *out, bool *found) {
    const hw_gguf_kv *kv;
    hw_status st = lookup(g, key, found, &kv);
    if (st || !kv) return st;
    if (!is_int_type(kv->type)) return wrong_type(g, key, kv, "an integer");
    int64_t v = read_int(kv->data, kv->type);
    if (v < lo || v > hi)
        return hw_fail(HW_ERR_FORMAT, "%s: metadata %s = %lld is outside [%lld, %lld]", g->path, key,
                       (long long)v, (long long)lo, (long long)hi);
    *out = v;
    return HW_OK;
}

hw_status hw_gguf_get_float(const hw_gguf *g, const char *key, double *out, bool *found) {
    const hw_gguf_kv *kv;
    hw_status st = lookup(g, key, found, &kv);
    if (st || !kv) return st;
    if (kv->type != HW_GGUF_F32 && kv->type != HW_GGUF_F64) return wrong_type(g, key, kv, "a float");
    double v = read_float(kv->data, kv->type);
    if (!(v - v == 0)) return hw_fail(HW_ERR_FORMAT, "%s: metadata %s is not finite", g->path, key);
    *out = v;
    return HW_OK;
}

hw_status hw_gguf_get_bool(const hw_gguf *g, const char *key, bool *out, bool *found) {
    const hw_gguf_kv *kv;
    hw_status st = lookup(g, key, found, &kv);
    if (st || !kv) return st;
    if (kv->type != HW_GGUF_BOOL) return wrong_type(g, key, kv, "a bool");
    *out = kv->data[0] != 0;
    return HW_OK;
}

hw_status hw_gguf_get_str(const hw_gguf *g, const char *key, hw_gguf_str *out, bool *found) {
    const hw_gguf_kv *kv;
    hw_status st = lookup(g, key, found, &kv);
    if (st || !kv) return st;
    if (kv->type != HW_GGUF_STRING) return wrong_type(g, key, kv, "a string");
    *out = (hw_gguf_str){(const char *)kv->data + 8, kv->nbytes - 8};
    return HW_OK;
}

hw_status hw_gguf_get_array(const hw_gguf *g, const char *key, hw_gguf_vtype elem_type,
                            const hw_gguf_kv **out) {
    const hw_gguf_kv *kv = hw_gguf_find(g, key);
    *out = NULL;
    if (!kv) return HW_OK;
    bool ok = kv->type == HW_GGUF_ARRAY &&
              (elem_type == HW_GGUF_I64 ? is_int_type(kv->elem_type)
               : elem_type == HW_GGUF_F64 ? kv->elem_type == HW_GGUF_F32 || kv->elem_type == HW_GGUF_F64
                                          : kv->elem_type == elem_type);
    if (!ok) {
        char want[40];
        snprintf(want, sizeof want, "an array of %s",
                 elem_type == HW_GGUF_I64 ? "integers" : elem_type == HW_GGUF_F64 ? "floats"
                                                                                   : vtype_name(elem_type));
        return wrong_type(g, key, kv, want);
    }
    *out = kv;
    return HW_OK;
}

int64_t hw_gguf_array_int(const hw_gguf_kv *a, uint64_t i) {
    return read_int(a->data + i * scalar_size(a->elem_type), a->elem_type);
}

double hw_gguf_array_float(const hw_gguf_kv *a, uint64_t i) {
    return read_float(a->data + i * scalar_size(a->elem_type), a->elem_type);
}

hw_gguf_str hw_gguf_next_str(const uint8_t **p) {
    uint64_t n = rd(*p, 8);
    hw_gguf_str s = {(const char *)*p + 8, (size_t)n};
    *p += 8 + n;
    return s;
}

/* ---------------------------------------------------------------- values */

bool hw_gguf_is_float(const hw_gguf_tensor *t) {
    return t->type == HW_GGML_F32 || t->type == HW_GGML_F16 || t->type == HW_GGML_BF16;
}

void hw_gguf_to_f32(const hw_gguf_tensor *t, int64_t first, int64_t n, float *out) {
    /* The same little-endian conversions as safetensors' F32, F16 and BF16. */
    hw_st_tensor v = {.dtype = t->type == HW_GGML_F32 ? HW_ST_F32
                               : t->type == HW_GGML_F16 ? HW_ST_F16 : HW_ST_BF16,
                      .numel = n};
    v.data = t->data + (size_t)first * (t->type == HW_GGML_F32 ? 4 : 2);
    hw_st_to_f32(&v, out);
}

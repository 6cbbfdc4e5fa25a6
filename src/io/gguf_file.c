/* gguf_file.c: the public view of a GGUF file (hw_gguf_file_*: headwise.h's GGUF
 * section): gguf.c's checked reading, with names copied out as C strings and metadata
 * values printed as text. */
#include "io/gguf.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hw_gguf_file {
    hw_gguf g;
    char *names;            /* every tensor name, NUL-terminated, back to back */
    size_t *name_at;        /* (n_tensors) offsets into names */
};

hw_gguf_file *hw_gguf_file_open(const char *path) {
    if (!path) return hw_fail(HW_ERR_ARG, "hw_gguf_file_open: no path"), NULL;
    hw_gguf_file *f = calloc(1, sizeof *f);
    if (!f) return hw_fail(HW_ERR_NOMEM, "%s: out of memory", path), NULL;
    if (hw_gguf_open(&f->g, path) != HW_OK) {
        hw_gguf_file_free(f);
        return NULL;
    }
    size_t total = 1;
    for (int64_t i = 0; i < f->g.n_tensors; i++) total += f->g.tensors[i].name.len + 1;
    f->names = malloc(total);
    f->name_at = malloc((size_t)(f->g.n_tensors + 1) * sizeof *f->name_at);
    if (!f->names || !f->name_at) {
        hw_gguf_file_free(f);
        return hw_fail(HW_ERR_NOMEM, "%s: out of memory", path), NULL;
    }
    size_t at = 0;
    for (int64_t i = 0; i < f->g.n_tensors; i++) {
        const hw_gguf_str *n = &f->g.tensors[i].name;
        f->name_at[i] = at;
        memcpy(f->names + at, n->s, n->len);
        at += n->len;
        f->names[at++] = 0;
    }
    f->g.path = "GGUF file"; /* the caller's string is not kept past this call */
    return f;
}

void hw_gguf_file_free(hw_gguf_file *f) {
    if (!f) return;
    hw_gguf_free(&f->g);
    free(f->names);
    free(f->name_at);
    free(f);
}

int hw_gguf_file_version(const hw_gguf_file *f) { return f ? (int)f->g.version : 0; }
int64_t hw_gguf_file_n_metadata(const hw_gguf_file *f) { return f ? f->g.n_kv : 0; }
int64_t hw_gguf_file_n_tensors(const hw_gguf_file *f) { return f ? f->g.n_tensors : 0; }

hw_status hw_gguf_file_tensor(const hw_gguf_file *f, int64_t i, hw_gguf_tensor_info *out) {
    if (!f || !out || i < 0 || i >= f->g.n_tensors)
        return hw_fail(HW_ERR_ARG, "hw_gguf_file_tensor: no file, or tensor %lld out of range",
                       (long long)i);
    const hw_gguf_tensor *t = &f->g.tensors[i];
    *out = (hw_gguf_tensor_info){.name = f->names + f->name_at[i], .type = hw_ggml_type_name(t->type),
                                 .n_dims = t->n_dims, .bytes = (int64_t)t->nbytes,
                                 .offset = (int64_t)(f->g.data_offset + t->offset)};
    memcpy(out->ne, t->ne, sizeof out->ne);
    return HW_OK;
}

/* ---------------------------------------------------------------- values as text */

typedef struct {
    char *s;
    size_t cap, n;
} text;

static void add(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add(text *t, const char *fmt, ...) {
    if (t->n + 1 >= t->cap) return;
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(t->s + t->n, t->cap - t->n, fmt, ap);
    va_end(ap);
    if (k > 0) t->n = t->n + (size_t)k < t->cap ? t->n + (size_t)k : t->cap - 1;
}

static void add_str(text *t, hw_gguf_str s) {
    add(t, "\"");
    for (size_t i = 0; i < s.len && t->n + 1 < t->cap; i++) {
        unsigned char c = (unsigned char)s.s[i];
        if (c == '"' || c == '\\') add(t, "\\%c", c);
        else if (c == '\n') add(t, "\\n");
        else if (c < 0x20 || c == 0x7f) add(t, "\\x%02x", c);
        else add(t, "%c", c);
    }
    add(t, "\"");
}

static const char *vtype(uint32_t t) {
    static const char *n[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32",
                              "bool", "string", "array", "u64", "i64", "f64"};
    return t < 13 ? n[t] : "?";
}

/* One scalar of type t at p. */
static void add_scalar(text *t, uint32_t type, const uint8_t *p) {
    hw_gguf_kv one = {.type = HW_GGUF_ARRAY, .elem_type = type, .n = 1, .data = p};
    if (type == HW_GGUF_BOOL) add(t, "%s", p[0] ? "true" : "false");
    else if (type == HW_GGUF_F32 || type == HW_GGUF_F64) add(t, "%.9g", hw_gguf_array_float(&one, 0));
    else if (type == HW_GGUF_U64) {
        uint64_t v = 0;
        for (int k = 7; k >= 0; k--) v = v << 8 | p[k];
        add(t, "%" PRIu64, v);
    } else add(t, "%lld", (long long)hw_gguf_array_int(&one, 0));
}

static size_t scalar_bytes(uint32_t type) {
    static const size_t sz[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    return type < 13 ? sz[type] : 0;
}

hw_status hw_gguf_file_metadata(const hw_gguf_file *f, int64_t i, char *key, size_t key_cap,
                                char *value, size_t value_cap) {
    if (!f || i < 0 || i >= f->g.n_kv || !key || !key_cap || !value || !value_cap)
        return hw_fail(HW_ERR_ARG, "hw_gguf_file_metadata: no file or buffers, or entry %lld out "
                       "of range", (long long)i);
    const hw_gguf_kv *kv = &f->g.kv[i];
    snprintf(key, key_cap, "%.*s", (int)(kv->key.len < (size_t)INT32_MAX ? kv->key.len : 0), kv->key.s);
    text t = {value, value_cap, 0};
    value[0] = 0;
    if (kv->type == HW_GGUF_STRING) {
        add_str(&t, (hw_gguf_str){(const char *)kv->data + 8, kv->nbytes - 8});
    } else if (kv->type != HW_GGUF_ARRAY) {
        add_scalar(&t, kv->type, kv->data);
    } else {
        add(&t, "[%s x %llu", vtype(kv->elem_type), (unsigned long long)kv->n);
        const uint8_t *p = kv->data;
        uint64_t shown = kv->elem_type == HW_GGUF_ARRAY ? 0 : kv->n < 8 ? kv->n : 8;
        for (uint64_t k = 0; k < shown; k++) {
            add(&t, k ? ", " : ": ");
            if (kv->elem_type == HW_GGUF_STRING) add_str(&t, hw_gguf_next_str(&p));
            else add_scalar(&t, kv->elem_type, p), p += scalar_bytes(kv->elem_type);
        }
        add(&t, "%s]", shown < kv->n && kv->elem_type != HW_GGUF_ARRAY ? ", ..." : "");
    }
    return HW_OK;
}

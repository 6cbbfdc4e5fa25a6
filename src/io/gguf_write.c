/*
 * gguf_write.c: hw_quantize_gguf, a GGUF model rewritten with its matrices in one of
 * ggml's block types, as llama.cpp's llama-quantize lays the file out:
 *
 * - Metadata: every entry copied byte for byte (tokenizer included), in file order,
 *   except general.file_type and general.quantization_version, written anew at the end
 *   (llama_ftype of the type; quantization version 2, the block layouts of today's
 *   ggml). Version 3, the input's alignment.
 * - Tensors, in file order, names and dims unchanged: 2-D ".weight" matrices in the
 *   chosen type (norms, biases, other 1-D tensors and learned positions copied as
 *   stored). As llama.cpp does, the output matrix, or a tied model's token embedding
 *   which serves as it, is Q6_K unless the type is Q8_0; and a matrix whose rows are not
 *   whole blocks falls back (Q4_K -> Q5_0, Q6_K -> Q8_0), then to F16 if its rows are
 *   not whole blocks of 32 either (stories260K's 172-wide ffn_down).
 * - Data: each tensor at a multiple of the alignment, zero padding between.
 * The file is written atomically: a temporary file renamed over out.
 */
#include "io/gguf.h"
#include "hw_limits.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

hw_quantize_params hw_quantize_params_default(void) {
    return (hw_quantize_params){.type = "q8_0"};
}

static const struct {
    const char *name;
    hw_dtype dtype;
    uint32_t ftype; /* llama_ftype: MOSTLY_Q8_0, Q4_0, Q4_K_S, Q6_K */
} kinds[] = {{"q8_0", HW_GQ8_0, 7}, {"q4_0", HW_GQ4_0, 2}, {"q4_k", HW_GQ4_K, 14}, {"q6_k", HW_GQ6_K, 18}};

static uint32_t ggml_type_of(hw_dtype t) {
    switch (t) {
    case HW_F16: return HW_GGML_F16;
    case HW_GQ4_0: return HW_GGML_Q4_0;
    case HW_GQ5_0: return HW_GGML_Q5_0;
    case HW_GQ8_0: return HW_GGML_Q8_0;
    case HW_GQ4_K: return HW_GGML_Q4_K;
    case HW_GQ6_K: return HW_GGML_Q6_K;
    default: return HW_GGML_F32;
    }
}

typedef struct {
    const hw_gguf_tensor *t;
    bool quantize;
    hw_dtype out;           /* when quantize */
    uint32_t type;          /* ggml type written */
    uint64_t offset, bytes;
} plan;

static bool str_is(hw_gguf_str s, const char *z) { return s.len == strlen(z) && memcmp(s.s, z, s.len) == 0; }
static bool ends_with(hw_gguf_str s, const char *z) {
    size_t n = strlen(z);
    return s.len >= n && memcmp(s.s + s.len - n, z, n) == 0;
}

/* What tensor t becomes under base type `base` (see the top of the file). */
static void choose(const hw_gguf *g, const hw_gguf_tensor *t, hw_dtype base, plan *p) {
    int nd = t->n_dims;
    while (nd > 1 && t->ne[nd - 1] == 1) nd--;
    p->t = t;
    /* Rows longer than any model dimension headwise loads are copied, not quantized. */
    p->quantize = nd == 2 && t->ne[0] <= HW_MAX_DIM && ends_with(t->name, ".weight") &&
                  !str_is(t->name, "position_embd.weight") &&
                  (t->type == HW_GGML_F32 || hw_gguf_dtype(t->type) != HW_F32);
    p->type = t->type;
    p->bytes = t->nbytes;
    if (!p->quantize) return;
    bool output = str_is(t->name, "output.weight") ||
                  (str_is(t->name, "token_embd.weight") && !hw_gguf_find_tensor(g, "output.weight"));
    hw_dtype d = output && base != HW_GQ8_0 ? HW_GQ6_K : base;
    if (t->ne[0] % hw_dtype_block(d)) d = d == HW_GQ4_K ? HW_GQ5_0 : d == HW_GQ6_K ? HW_GQ8_0 : d;
    if (t->ne[0] % hw_dtype_block(d)) d = HW_F16;
    p->out = d;
    p->type = ggml_type_of(d);
    p->bytes = hw_dtype_row_bytes(d, (int)t->ne[0]) * (uint64_t)(t->numel / t->ne[0]);
}

/* ---------------------------------------------------------------- writing */

static void w_u32(FILE *f, uint32_t v) {
    uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    fwrite(b, 1, 4, f);
}
static void w_u64(FILE *f, uint64_t v) {
    w_u32(f, (uint32_t)v);
    w_u32(f, (uint32_t)(v >> 32));
}
static void w_str(FILE *f, const char *s, size_t n) {
    w_u64(f, n);
    fwrite(s, 1, n, f);
}
static void w_pad(FILE *f, uint64_t at, uint32_t align) {
    static const uint8_t zero[256];
    for (uint64_t n = (align - at % align) % align; n > 0;) {
        size_t k = n < sizeof zero ? (size_t)n : sizeof zero;
        fwrite(zero, 1, k, f);
        n -= k;
    }
}

/* Metadata: the input's entries but the two rewritten, then those two. */
static uint64_t write_kv(FILE *f, const hw_gguf *g, uint32_t ftype) {
    uint64_t n = 0;
    for (int64_t i = 0; i < g->n_kv; i++) {
        const hw_gguf_kv *kv = &g->kv[i];
        if (str_is(kv->key, "general.file_type") || str_is(kv->key, "general.quantization_version")) continue;
        w_str(f, kv->key.s, kv->key.len);
        w_u32(f, kv->type);
        /* An array's data starts at its first element, after u32 type and u64 count. */
        const uint8_t *v = kv->type == HW_GGUF_ARRAY ? kv->data - 12 : kv->data;
        fwrite(v, 1, kv->nbytes + (kv->type == HW_GGUF_ARRAY ? 12 : 0), f);
        n++;
    }
    w_str(f, "general.file_type", 17), w_u32(f, HW_GGUF_U32), w_u32(f, ftype);
    w_str(f, "general.quantization_version", 28), w_u32(f, HW_GGUF_U32), w_u32(f, 2);
    return n + 2;
}

/* Row r of t (ne[0] values) as f32. */
static void source_row(const hw_gguf_tensor *t, int64_t r, float *out) {
    const int64_t K = t->ne[0];
    hw_dtype d = hw_gguf_dtype(t->type);
    if (d == HW_F32) hw_gguf_to_f32(t, r * K, K, out);
    else hw_dequant(d, t->data + (size_t)r * hw_dtype_row_bytes(d, (int)K), K / hw_dtype_block(d), out);
}

static hw_status write_tensor(FILE *f, const plan *p, float *row, uint8_t *enc, const char *in) {
    const hw_gguf_tensor *t = p->t;
    if (!p->quantize) {
        fwrite(t->data, 1, t->nbytes, f);
        return HW_OK;
    }
    const int64_t K = t->ne[0], rows = t->numel / K;
    const size_t rb = hw_dtype_row_bytes(p->out, (int)K);
    for (int64_t r = 0; r < rows; r++) {
        source_row(t, r, row);
        for (int64_t k = 0; k < K; k++)
            if (!isfinite(row[k]))
                return hw_fail(HW_ERR_FORMAT, "%s: tensor %.*s has a non-finite value at row %lld, "
                               "column %lld", in, (int)t->name.len, t->name.s, (long long)r, (long long)k);
        hw_gguf_quantize(p->out, row, K, enc);
        fwrite(enc, 1, rb, f);
    }
    return HW_OK;
}

static hw_status write_file(const hw_gguf *g, const plan *pl, uint32_t ftype, const char *in, const char *out,
                            const hw_quantize_params *p) {
    int64_t maxK = 1;
    for (int64_t i = 0; i < g->n_tensors; i++) maxK = g->tensors[i].ne[0] > maxK ? g->tensors[i].ne[0] : maxK;
    float *row = malloc((size_t)maxK * sizeof *row);
    uint8_t *enc = malloc((size_t)maxK * 4);
    hw_atomic_file *a = row && enc ? hw_atomic_open(out) : NULL;
    if (!a) {
        free(row), free(enc);
        return row && enc ? HW_ERR_IO : hw_fail(HW_ERR_NOMEM, "quantize: out of memory");
    }
    FILE *f = hw_atomic_stream(a);
    fwrite("GGUF", 1, 4, f);
    w_u32(f, 3);
    w_u64(f, (uint64_t)g->n_tensors);
    long kv_count_at = ftell(f);
    w_u64(f, 0); /* n_kv, known after the entries */
    uint64_t n_kv = write_kv(f, g, ftype);
    for (int64_t i = 0; i < g->n_tensors; i++) {
        const hw_gguf_tensor *t = pl[i].t;
        w_str(f, t->name.s, t->name.len);
        w_u32(f, (uint32_t)t->n_dims);
        for (int d = 0; d < t->n_dims; d++) w_u64(f, (uint64_t)t->ne[d]);
        w_u32(f, pl[i].type);
        w_u64(f, pl[i].offset);
    }
    w_pad(f, (uint64_t)ftell(f), g->alignment);
    hw_status st = HW_OK;
    for (int64_t i = 0; i < g->n_tensors && st == HW_OK; i++) {
        if (p->progress && p->progress("quantize", i, g->n_tensors, p->user))
            st = hw_fail(HW_ERR_ARG, "quantize: stopped by the caller");
        if (st == HW_OK) st = write_tensor(f, &pl[i], row, enc, in);
        w_pad(f, pl[i].bytes, g->alignment);
    }
    if (st == HW_OK && (fseek(f, kv_count_at, SEEK_SET) != 0 || (w_u64(f, n_kv), ferror(f))))
        st = hw_fail(HW_ERR_IO, "%s: write failed", out);
    free(row), free(enc);
    if (st != HW_OK) {
        hw_atomic_abort(a);
        return st;
    }
    return hw_atomic_commit(a);
}

hw_status hw_quantize_gguf(const char *model, const char *out, const hw_quantize_params *p,
                           hw_quantize_summary *summary) {
    hw_quantize_params def = hw_quantize_params_default();
    if (!p) p = &def;
    if (!model || !*model || !out || !*out) return hw_fail(HW_ERR_ARG, "quantize: no model or output path");
    int kind = -1;
    for (int i = 0; i < (int)(sizeof kinds / sizeof kinds[0]); i++)
        if (p->type && strcmp(p->type, kinds[i].name) == 0) kind = i;
    if (kind < 0)
        return hw_fail(HW_ERR_ARG, "quantize: type \"%s\" is not one of q8_0, q4_0, q4_k, q6_k",
                       p->type ? p->type : "(null)");
    hw_gguf g;
    hw_status st = hw_gguf_open(&g, model);
    if (st != HW_OK) {
        hw_gguf_free(&g);
        return st;
    }
    plan *pl = calloc((size_t)g.n_tensors + 1, sizeof *pl);
    if (!pl) st = hw_fail(HW_ERR_NOMEM, "quantize: out of memory");
    else if (g.n_tensors == 0)
        st = hw_fail(HW_ERR_FORMAT, "%s: a GGUF without tensors (a vocabulary file?) is not a model", model);
    uint64_t at = 0, in_bytes = 0;
    int64_t nq = 0;
    for (int64_t i = 0; st == HW_OK && i < g.n_tensors; i++) {
        choose(&g, &g.tensors[i], kinds[kind].dtype, &pl[i]);
        pl[i].offset = at;
        at += (pl[i].bytes + g.alignment - 1) / g.alignment * g.alignment;
        in_bytes += g.tensors[i].nbytes;
        nq += pl[i].quantize;
    }
    if (st == HW_OK) st = write_file(&g, pl, kinds[kind].ftype, model, out, p);
    if (st == HW_OK && summary)
        *summary = (hw_quantize_summary){.n_tensors = g.n_tensors, .n_quantized = nq,
                                         .in_bytes = (int64_t)in_bytes, .out_bytes = (int64_t)at};
    free(pl);
    hw_gguf_free(&g);
    return st;
}

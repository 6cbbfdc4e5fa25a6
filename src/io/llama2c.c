/*
 * llama2c.c: llama2.c checkpoints (Karpathy's run.c / runq.c formats).
 *
 *   v0 (legacy): 7 int32 (D, F, L, H, Hk, V, n_ctx), V < 0 means an unshared
 *      classifier; f32 tensors embed, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2,
 *      w3, rms_final, two old RoPE tables (n_ctx * Dh/2 each, ignored),
 *      then the classifier if unshared.
 *   v1: magic "ak42", int32 version 1, the 7 int32, uint8 shared classifier,
 *      zero padding to 256 bytes; f32 rms_att, rms_ffn, rms_final, embed, wq,
 *      wk, wv, wo, w1, w2, w3, then the classifier if unshared.
 *   v2: as v1 with version 2 and an int32 group size after the flag; f32
 *      norms as v1, then each matrix as Q8_0: int8 values then f32 scales, one
 *      per group, in the order embed, wq, wk, wv, wo, w1, w2, w3, classifier.
 *
 * Each tensor is taken from the map by a cursor that checks it fits first, so a
 * truncated file names the tensor it ends in.
 */
#include "load.h"
#include "io/gguf.h"
#include "hw_limits.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define MAGIC_AK42 0x616b3432u
#define HEADER_V1 256

typedef struct {
    const hw_mapped_file *f;
    const char *path;
    size_t off;
    hw_status err;
} cursor;

/* a * b, or -1 when either is -1 or the product overflows (take refuses it). */
static int64_t prod(int64_t a, int64_t b) {
    int64_t p;
    return hw_mul_overflow(a, b, &p) ? -1 : p;
}

/* Take n bytes for `what`, or fail naming it. */
static const void *take(cursor *c, int64_t n, const char *what) {
    if (c->err) return NULL;
    if (n < 0) {
        c->err = hw_fail(HW_ERR_FORMAT, "%s: tensor '%s' would be larger than any file: header "
                         "dimensions wrong", c->path, what);
        return NULL;
    }
    if ((uint64_t)n > c->f->size - c->off) {
        c->err = hw_fail(HW_ERR_FORMAT,
                         "%s: file ends inside tensor '%s' (needs %lld bytes at offset %zu, file has "
                         "%zu): truncated, or header dimensions wrong",
                         c->path, what, (long long)n, c->off, c->f->size);
        return NULL;
    }
    const void *p = c->f->data + c->off;
    c->off += (size_t)n;
    return p;
}

/* Floats are read in place, so they must sit on a 4-byte boundary (they do
 * in every file export.py writes: each int8 block is a multiple of 4 long). */
static const float *take_f32(cursor *c, int64_t n, const char *what) {
    if (!c->err && c->off % sizeof(float) != 0) {
        c->err = hw_fail(HW_ERR_FORMAT, "%s: tensor '%s' starts at offset %zu, not a multiple of 4",
                         c->path, what, c->off);
        return NULL;
    }
    return take(c, prod(n, (int64_t)sizeof(float)), what);
}

static int32_t read_i32(const uint8_t *p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* A (L * rows * cols) f32 block split into L matrices. */
static void f32_layers(cursor *c, hw_loaded *ld, size_t field, int rows, int cols, const char *what) {
    int L = ld->cfg.n_layer;
    const float *p = take_f32(c, prod(prod(L, rows), cols), what);
    for (int l = 0; l < L && p; l++) {
        hw_matrix *w = (hw_matrix *)((char *)&ld->w.layers[l] + field);
        *w = (hw_matrix){.dtype = HW_F32, .rows = rows, .cols = cols,
                         .f32 = p + (size_t)l * rows * cols};
    }
}

static hw_matrix q8_matrix(cursor *c, int rows, int cols, int group, const char *what) {
    int64_t n = prod(rows, cols);
    hw_matrix w = {.dtype = HW_Q8_0, .rows = rows, .cols = cols, .group = group};
    w.q = take(c, n, what);
    w.scale = take_f32(c, n < 0 ? n : n / group, what);
    return w;
}

static void q8_layers(cursor *c, hw_loaded *ld, size_t field, int rows, int cols, int group,
                      const char *what) {
    for (int l = 0; l < ld->cfg.n_layer; l++) {
        hw_matrix *w = (hw_matrix *)((char *)&ld->w.layers[l] + field);
        *w = q8_matrix(c, rows, cols, group, what);
    }
}

#define FIELD(name) offsetof(hw_layer_weights, name)

/* Check the seven header dimensions before anything is sized from them
 * (bounds in hw_limits.h). */
static hw_status check_dims(const char *path, const int32_t h[7]) {
    static const char *names[7] = {"dim", "hidden_dim", "n_layers", "n_heads",
                                   "n_kv_heads", "vocab_size", "seq_len"};
    static const int32_t max[7] = {HW_MAX_DIM, HW_MAX_DIM, HW_MAX_LAYERS, HW_MAX_DIM,
                                   HW_MAX_DIM, HW_MAX_VOCAB, HW_MAX_CONTEXT};
    for (int i = 0; i < 7; i++)
        if (h[i] <= 0 || h[i] > max[i])
            return hw_fail(HW_ERR_FORMAT, "%s: header field %s = %d is out of range [1, %d]", path,
                           names[i], h[i], max[i]);
    if (h[0] % h[3] != 0 || (h[0] / h[3]) % 2 != 0)
        return hw_fail(HW_ERR_FORMAT, "%s: dim %d is not n_heads %d times an even head size",
                       path, h[0], h[3]);
    if (h[3] % h[4] != 0)
        return hw_fail(HW_ERR_FORMAT, "%s: n_heads %d is not a multiple of n_kv_heads %d", path,
                       h[3], h[4]);
    return HW_OK;
}

static void set_config(hw_config *cfg, const int32_t h[7]) {
    memset(cfg, 0, sizeof *cfg);
    snprintf(cfg->arch, sizeof cfg->arch, "llama");
    cfg->d_model = h[0];
    cfg->d_ff = h[1];
    cfg->n_layer = h[2];
    cfg->n_head = h[3];
    cfg->n_kv_head = h[4];
    cfg->vocab_size = h[5];
    cfg->n_ctx = h[6];
    cfg->head_dim = h[0] / h[3];
    cfg->norm = HW_NORM_RMS;
    cfg->norm_eps = 1e-5f;
    cfg->pos = HW_POS_ROTARY;
    cfg->rope_layout = HW_ROPE_INTERLEAVED;
    cfg->rope_theta = 10000.0f;
    cfg->rotary_frac = 1.0f;
    cfg->act = HW_ACT_SILU_GATED;
    cfg->bos_id = 1;
    cfg->eos_id = 2;
}

/* Bytes every matrix occupies in storage, for the decode-traffic figure. */
static int64_t matrix_bytes(const hw_matrix *w) {
    int64_t n = (int64_t)w->rows * w->cols;
    return w->dtype == HW_F32 ? n * 4 : n + n / w->group * 4;
}

static void fill_info(hw_loaded *ld, const char *format, int shared, size_t file_bytes) {
    const hw_config *c = &ld->cfg;
    int64_t D = c->d_model, KV = (int64_t)c->n_kv_head * c->head_dim;
    int64_t per_layer = 2 * D + 2 * D * D + 2 * D * KV + 3 * D * c->d_ff;
    ld->info.format = format;
    ld->info.dtype = ld->w.classifier.dtype == HW_F32 ? "f32" : "q8_0";
    ld->info.n_params = (int64_t)c->vocab_size * D * (shared ? 1 : 2) + c->n_layer * per_layer + D;
    ld->info.file_bytes = (int64_t)file_bytes;
    int64_t wb = matrix_bytes(&ld->w.classifier) + (c->n_layer * 2 + 1) * D * 4;
    for (int l = 0; l < c->n_layer; l++) {
        const hw_layer_weights *lw = &ld->w.layers[l];
        wb += matrix_bytes(&lw->wq) + matrix_bytes(&lw->wk) + matrix_bytes(&lw->wv) +
              matrix_bytes(&lw->wo) + matrix_bytes(&lw->w_gate) + matrix_bytes(&lw->w_up) +
              matrix_bytes(&lw->w_down);
    }
    ld->info.weight_bytes = wb;
}

/* v0 and v1 hold the same f32 tensors in two orders. */
static hw_status load_f32(hw_loaded *ld, cursor *c, int version, int shared) {
    hw_config *cfg = &ld->cfg;
    int L = cfg->n_layer, D = cfg->d_model, F = cfg->d_ff, V = cfg->vocab_size;
    int QD = cfg->n_head * cfg->head_dim, KV = cfg->n_kv_head * cfg->head_dim;
    const float *rms_att = NULL, *rms_ffn = NULL, *rms_final = NULL;
    if (version == 1) {
        rms_att = take_f32(c, (int64_t)L * D, "rms_att_weight");
        rms_ffn = take_f32(c, (int64_t)L * D, "rms_ffn_weight");
        rms_final = take_f32(c, D, "rms_final_weight");
    }
    ld->w.tok_embed = take_f32(c, (int64_t)V * D, "token_embedding_table");
    if (version == 0) rms_att = take_f32(c, (int64_t)L * D, "rms_att_weight");
    f32_layers(c, ld, FIELD(wq), QD, D, "wq");
    f32_layers(c, ld, FIELD(wk), KV, D, "wk");
    f32_layers(c, ld, FIELD(wv), KV, D, "wv");
    f32_layers(c, ld, FIELD(wo), D, QD, "wo");
    if (version == 0) rms_ffn = take_f32(c, (int64_t)L * D, "rms_ffn_weight");
    f32_layers(c, ld, FIELD(w_gate), F, D, "w1");
    f32_layers(c, ld, FIELD(w_down), D, F, "w2");
    f32_layers(c, ld, FIELD(w_up), F, D, "w3");
    if (version == 0) {
        rms_final = take_f32(c, D, "rms_final_weight");
        take_f32(c, (int64_t)cfg->n_ctx * cfg->head_dim, "freq_cis (old RoPE tables)");
    }
    const float *cls = shared ? ld->w.tok_embed : take_f32(c, (int64_t)V * D, "wcls");
    if (c->err) return c->err;
    ld->w.classifier = (hw_matrix){.dtype = HW_F32, .rows = V, .cols = D, .f32 = cls};
    ld->w.final_norm = rms_final;
    for (int l = 0; l < L; l++) {
        ld->w.layers[l].attn_norm = rms_att + (size_t)l * D;
        ld->w.layers[l].mlp_norm = rms_ffn + (size_t)l * D;
    }
    return HW_OK;
}

static hw_status load_q8(hw_loaded *ld, cursor *c, int shared, int group) {
    hw_config *cfg = &ld->cfg;
    int L = cfg->n_layer, D = cfg->d_model, F = cfg->d_ff, V = cfg->vocab_size;
    int QD = cfg->n_head * cfg->head_dim, KV = cfg->n_kv_head * cfg->head_dim;
    if (D % group != 0 || F % group != 0 || QD % group != 0)
        return hw_fail(HW_ERR_FORMAT, "%s: group size %d does not divide dim %d and hidden_dim %d",
                       c->path, group, D, F);
    const float *rms_att = take_f32(c, (int64_t)L * D, "rms_att_weight");
    const float *rms_ffn = take_f32(c, (int64_t)L * D, "rms_ffn_weight");
    const float *rms_final = take_f32(c, D, "rms_final_weight");
    hw_matrix emb = q8_matrix(c, V, D, group, "token_embedding_table");
    q8_layers(c, ld, FIELD(wq), QD, D, group, "wq");
    q8_layers(c, ld, FIELD(wk), KV, D, group, "wk");
    q8_layers(c, ld, FIELD(wv), KV, D, group, "wv");
    q8_layers(c, ld, FIELD(wo), D, QD, group, "wo");
    q8_layers(c, ld, FIELD(w_gate), F, D, group, "w1");
    q8_layers(c, ld, FIELD(w_down), D, F, group, "w2");
    q8_layers(c, ld, FIELD(w_up), F, D, group, "w3");
    ld->w.classifier = shared ? emb : q8_matrix(c, V, D, group, "wcls");
    if (c->err) return c->err;
    /* Embedding rows are gathered, not multiplied: keep an f32 copy. */
    float *e = hw_store_alloc(&ld->store, (size_t)V * D * sizeof(float));
    if (!e) return hw_fail(HW_ERR_NOMEM, "%s: no memory for the embedding table", c->path);
    for (int64_t i = 0; i < (int64_t)V * D; i++) e[i] = emb.q[i] * emb.scale[i / group];
    ld->w.tok_embed = e;
    ld->w.final_norm = rms_final;
    for (int l = 0; l < L; l++) {
        ld->w.layers[l].attn_norm = rms_att + (size_t)l * D;
        ld->w.layers[l].mlp_norm = rms_ffn + (size_t)l * D;
    }
    return HW_OK;
}

hw_status hw_load_llama2c(hw_loaded *ld, const hw_mapped_file *f, const char *path) {
    /* A model file is told apart by its first bytes; GGUF's magic can never start a
     * llama2.c file (as a legacy dim it would be 1.2 billion). */
    if (hw_gguf_is(f->data, f->size)) return hw_load_gguf(ld, f, path);
    cursor c = {.f = f, .path = path};
    uint32_t magic = 0;
    if (f->size >= 4) memcpy(&magic, f->data, 4);
    int version = 0, shared = 1, group = 0;
    int32_t h[7];
    if (magic == MAGIC_AK42) {
        const uint8_t *hdr = take(&c, HEADER_V1, "header");
        if (!hdr) return c.err;
        version = read_i32(hdr + 4);
        if (version != 1 && version != 2)
            return hw_fail(HW_ERR_UNSUPPORTED, "%s: llama2.c checkpoint version %d (supported: 1, 2)",
                           path, version);
        for (int i = 0; i < 7; i++) h[i] = read_i32(hdr + 8 + 4 * i);
        shared = hdr[36];
        if (shared > 1) return hw_fail(HW_ERR_FORMAT, "%s: shared_classifier flag is %d", path, shared);
        if (version == 2) group = read_i32(hdr + 37);
        if (version == 2 && (group <= 0 || group > HW_MAX_DIM))
            return hw_fail(HW_ERR_FORMAT, "%s: group size %d is out of range", path, group);
    } else {
        const uint8_t *hdr = take(&c, 7 * 4, "header");
        if (!hdr) return c.err;
        for (int i = 0; i < 7; i++) h[i] = read_i32(hdr + 4 * i);
        if (h[5] < 0 && h[5] != INT32_MIN) {
            shared = 0;
            h[5] = -h[5];
        }
        /* A legacy file starts with dim; anything absurd there is a wrong magic. */
        if (h[0] <= 0 || h[0] > HW_MAX_DIM)
            return hw_fail(HW_ERR_FORMAT,
                           "%s: not a llama2.c checkpoint (magic 0x%08x is not 'ak42' and "
                           "dim %d is not plausible)", path, magic, h[0]);
    }
    hw_status s = check_dims(path, h);
    if (s) return s;
    set_config(&ld->cfg, h);
    ld->w.layers = hw_store_alloc(&ld->store, (size_t)ld->cfg.n_layer * sizeof(hw_layer_weights));
    if (!ld->w.layers) return hw_fail(HW_ERR_NOMEM, "%s: no memory for %d layers", path, h[2]);
    memset(ld->w.layers, 0, (size_t)ld->cfg.n_layer * sizeof(hw_layer_weights));
    s = version == 2 ? load_q8(ld, &c, shared, group) : load_f32(ld, &c, version, shared);
    if (s) return s;
    if (c.off != f->size)
        return hw_fail(HW_ERR_FORMAT,
                       "%s: dimensions need %zu bytes but the file has %zu (header inconsistent "
                       "with the file size)", path, c.off, f->size);
    static const char *formats[3] = {"llama2.c v0 (legacy) f32", "llama2.c v1 f32",
                                     "llama2.c v2 q8_0"};
    fill_info(ld, formats[version], shared, f->size);
    return HW_OK;
}

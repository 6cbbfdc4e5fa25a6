/*
 * gguf_model.c: a GGUF file (gguf.c) as an hw_config and hw_weights: architectures
 * `llama` (Llama 1/2/3, Mistral-style GQA, TinyLlama, stories260K ...), `qwen2` and
 * `gpt2`, as llama.cpp's converter writes them.
 *
 * Hyperparameters come from the `ARCH.*` keys, tensors from llama.cpp's names
 * (token_embd, output_norm, output (absent: tied to token_embd), blk.N.attn_q/k/v/output,
 * ffn_gate/up/down, attn_norm/ffn_norm; Qwen2 adds attn_q/k/v.bias; GPT-2 has
 * position_embd, a fused attn_qkv and a bias beside every weight). A GGUF matrix has
 * ne = (in, out) and is stored row-major (out, in): the engine's y = W x layout (the
 * converter already transposed GPT-2's Conv1D weights), so nothing is transposed here.
 *
 * Rotary layout: llama.cpp's converter permutes Hugging Face's query and key rows
 * (which pair coordinates (i, i + Dh/2)) back into Meta's original order, which pairs
 * (2i, 2i+1) (llama.cpp's "normal" rope). That is the engine's HW_ROPE_INTERLEAVED, the
 * layout llama2.c checkpoints use, so the permutation is undone by rotating as Meta's
 * code does rather than by moving rows: F32 tensors stay in the map untouched.
 * (stories260K.gguf's attn_q equals stories260K.bin's wq bit for bit.)
 *
 * Matrices stay in the map in their stored type, F32, F16, BF16 or one of ggml's blocks
 * (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K), decoded as products read them
 * (src/core/quant_kernels.c), so resident memory is about the file's size; 1-D tensors
 * (norms, biases) and learned positions are decoded to f32 (small). Other types are
 * refused with HW_ERR_UNSUPPORTED naming the tensor and type.
 */
#include "io/gguf.h"
#include "load.h"
#include "hw_limits.h"

#include <stdarg.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

typedef struct {
    hw_loaded *ld;
    const hw_gguf *g;
    const char *path;
    int64_t n_params;
    int64_t step_bytes;
    int count[HW_GGML_N_TYPES];     /* tensors used, per stored type */
    bool *used;                     /* (n_tensors) */
    char name[96];              /* the tensor or key being looked up */
} loader;

#define TRY(x)                                                                                     \
    do {                                                                                           \
        hw_status st_ = (x);                                                                       \
        if (st_ != HW_OK) return st_;                                                              \
    } while (0)

static void set_name(loader *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void set_name(loader *L, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(L->name, sizeof L->name, fmt, ap); /* names are short: never truncated */
    va_end(ap);
}

/* The tensor L->name with ne = (d0) or (d0, d1) (d1 < 0: 1-D), checked and counted. */
static hw_status find(loader *L, int64_t d0, int64_t d1, const hw_gguf_tensor **out) {
    const hw_gguf_tensor *t = hw_gguf_find_tensor(L->g, L->name);
    if (!t) return hw_fail(HW_ERR_FORMAT, "%s: missing tensor %s", L->path, L->name);
    int want = d1 < 0 ? 1 : 2;
    int nd = t->n_dims;
    while (nd > want && t->ne[nd - 1] == 1) nd--; /* trailing 1s are the same shape */
    if (nd != want || t->ne[0] != d0 || (want == 2 && t->ne[1] != d1)) {
        if (want == 1)
            return hw_fail(HW_ERR_FORMAT, "%s: tensor %s has ne [%lld, %lld], expected [%lld]", L->path,
                           L->name, (long long)t->ne[0], (long long)t->ne[1], (long long)d0);
        return hw_fail(HW_ERR_FORMAT, "%s: tensor %s has ne [%lld, %lld, %lld], expected [%lld, %lld]",
                       L->path, L->name, (long long)t->ne[0], (long long)t->ne[1],
                       (long long)t->ne[2], (long long)d0, (long long)d1);
    }
    if (!hw_gguf_is_float(t) && !hw_gguf_can_dequantize(t->type))
        return hw_fail(HW_ERR_UNSUPPORTED, "%s: tensor %s is %s (supported: F32, F16, BF16, Q4_0, Q4_1, "
                       "Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K)", L->path, L->name, hw_ggml_type_name(t->type));
    L->n_params += t->numel;
    L->count[t->type]++;
    L->used[t - L->g->tensors] = true;
    *out = t;
    return HW_OK;
}

/* t as f32: in place when it is aligned F32, else decoded into the store. */
static hw_status as_f32(loader *L, const hw_gguf_tensor *t, const float **out) {
    if (t->type == HW_GGML_F32 && (uintptr_t)t->data % sizeof(float) == 0) {
        *out = (const float *)(const void *)t->data;
        return HW_OK;
    }
    float *p = hw_store_alloc(&L->ld->store, (size_t)t->numel * sizeof *p);
    if (!p) return hw_fail(HW_ERR_NOMEM, "%s: out of memory for tensor %s", L->path, L->name);
    if (hw_gguf_can_dequantize(t->type)) hw_gguf_dequantize(t, p);
    else hw_gguf_to_f32(t, 0, t->numel, p);
    *out = p;
    return HW_OK;
}

static hw_status vec(loader *L, int64_t n, const float **out) {
    const hw_gguf_tensor *t;
    L->step_bytes += n * (int64_t)sizeof(float);
    TRY(find(L, n, -1, &t));
    return as_f32(L, t, out);
}

/* A (rows, cols) matrix: ne = (cols, rows). F16, BF16 and the block types stay as
 * stored, read in place from the map (rows are whole blocks: the reader checked that
 * ne[0] is a multiple of the block); F32 likewise when aligned. */
static hw_status matrix(loader *L, int rows, int cols, hw_matrix *w) {
    const hw_gguf_tensor *t;
    TRY(find(L, cols, rows, &t));
    hw_dtype dt = hw_gguf_dtype(t->type);
    if (dt != HW_F32 && cols % hw_dtype_block(dt) == 0) {
        *w = (hw_matrix){.dtype = dt, .rows = rows, .cols = cols, .raw = t->data};
    } else {
        const float *p;
        TRY(as_f32(L, t, &p));
        *w = (hw_matrix){.dtype = HW_F32, .rows = rows, .cols = cols, .f32 = p};
    }
    L->step_bytes += (int64_t)hw_matrix_bytes(w);
    return HW_OK;
}

/* An integer hyperparameter in [lo, hi]: `arch.key` (def when absent, < lo: required). */
static const char *arch_key(loader *L, const char *key) {
    snprintf(L->name, sizeof L->name, "%s.%s", L->ld->cfg.arch, key);
    return L->name;
}

static hw_status hparam(loader *L, const char *key, int64_t lo, int64_t hi, int64_t def, int *out) {
    bool found;
    int64_t v = def;
    TRY(hw_gguf_get_int(L->g, arch_key(L, key), lo, hi, &v, def < lo ? NULL : &found));
    *out = (int)v;
    return HW_OK;
}

static hw_status fparam(loader *L, const char *key, double lo, double hi, double def, float *out) {
    bool found;
    double v = def;
    TRY(hw_gguf_get_float(L->g, arch_key(L, key), &v, &found));
    if (!(v >= lo && v <= hi))
        return hw_fail(HW_ERR_FORMAT, "%s: metadata %s = %g is outside [%g, %g]", L->path, L->name, v, lo,
                       hi);
    *out = (float)v;
    return HW_OK;
}

static hw_status rope_scaling(loader *L, hw_config *c) {
    hw_gguf_str type = {0};
    bool found;
    c->rope_scaling = HW_ROPE_SCALE_NONE;
    c->rope_factor = 1;
    c->rope_orig_ctx = c->n_ctx;
    TRY(hw_gguf_get_str(L->g, arch_key(L, "rope.scaling.type"), &type, &found));
    if (!found || (type.len == 4 && memcmp(type.s, "none", 4) == 0)) return HW_OK;
    if (!(type.len == 6 && memcmp(type.s, "linear", 6) == 0))
        return hw_fail(HW_ERR_UNSUPPORTED, "%s: rope scaling \"%.*s\" is not supported (none, linear)",
                       L->path, (int)(type.len < 40 ? type.len : 40), type.s);
    c->rope_scaling = HW_ROPE_SCALE_LINEAR;
    TRY(fparam(L, "rope.scaling.factor", 1e-6, 1e6, 1, &c->rope_factor));
    return hparam(L, "rope.scaling.original_context_length", 1, HW_MAX_CONTEXT, c->n_ctx,
                  &c->rope_orig_ctx);
}

/* Llama and Qwen2: rotary, RMSNorm, SiLU-gated MLP, grouped-query attention. */
static hw_status config_llama(loader *L, hw_config *c) {
    TRY(hparam(L, "attention.head_count_kv", 1, HW_MAX_DIM, c->n_head, &c->n_kv_head));
    if (c->n_head % c->n_kv_head != 0)
        return hw_fail(HW_ERR_FORMAT, "%s: head_count %d is not a multiple of head_count_kv %d",
                       L->path, c->n_head, c->n_kv_head);
    int dh = c->d_model % c->n_head == 0 ? c->d_model / c->n_head : 0;
    TRY(hparam(L, "attention.key_length", 2, HW_MAX_DIM, dh ? dh : 1, &c->head_dim));
    int vlen;
    TRY(hparam(L, "attention.value_length", 1, HW_MAX_DIM, c->head_dim, &vlen));
    if (c->head_dim < 2 || c->head_dim % 2 || vlen != c->head_dim)
        return hw_fail(HW_ERR_FORMAT, "%s: head size %d (key) / %d (value) is not one even size",
                       L->path, c->head_dim, vlen);
    int rot;
    TRY(hparam(L, "rope.dimension_count", 2, c->head_dim, c->head_dim, &rot));
    if (rot % 2) return hw_fail(HW_ERR_FORMAT, "%s: rope.dimension_count %d is odd", L->path, rot);
    c->rotary_frac = (float)rot / (float)c->head_dim;
    TRY(fparam(L, "rope.freq_base", 1e-3, 1e12, 10000, &c->rope_theta));
    TRY(fparam(L, "attention.layer_norm_rms_epsilon", 0, 1, 1e-5, &c->norm_eps));
    TRY(rope_scaling(L, c));
    c->norm = HW_NORM_RMS;
    c->pos = HW_POS_ROTARY;
    /* Llama: Meta's interleaved pairs (see the top of this file). Qwen2: llama.cpp's
     * "neox" rope on unpermuted Hugging Face rows, which pair (i, i + rot/2). */
    bool qwen2 = strcmp(c->arch, "qwen2") == 0;
    c->rope_layout = qwen2 ? HW_ROPE_HALVES : HW_ROPE_INTERLEAVED;
    c->qkv_bias = qwen2;
    c->act = HW_ACT_SILU_GATED;
    return HW_OK;
}

/* GPT-2: learned positions, LayerNorm with biases, GELU (tanh) MLP, every bias. */
static hw_status config_gpt2(loader *L, hw_config *c) {
    if (c->d_model % c->n_head != 0)
        return hw_fail(HW_ERR_FORMAT, "%s: embedding_length %d is not a multiple of head_count %d",
                       L->path, c->d_model, c->n_head);
    c->n_kv_head = c->n_head;
    c->head_dim = c->d_model / c->n_head;
    TRY(fparam(L, "attention.layer_norm_epsilon", 0, 1, 1e-5, &c->norm_eps));
    c->norm = HW_NORM_LAYER;
    c->pos = HW_POS_LEARNED;
    c->act = HW_ACT_GELU_TANH;
    c->qkv_bias = c->out_bias = c->mlp_bias = c->norm_bias = 1;
    return HW_OK;
}

static hw_status config(loader *L) {
    hw_config *c = &L->ld->cfg;
    hw_gguf_str arch;
    c->arch[0] = 0;
    TRY(hw_gguf_get_str(L->g, "general.architecture", &arch, NULL));
    static const char *archs[] = {"llama", "qwen2", "gpt2"};
    for (int i = 0; i < 3; i++)
        if (arch.len == strlen(archs[i]) && memcmp(arch.s, archs[i], arch.len) == 0)
            snprintf(c->arch, sizeof c->arch, "%s", archs[i]);
    if (!c->arch[0])
        return hw_fail(HW_ERR_UNSUPPORTED, "%s: GGUF architecture \"%.*s\" is not supported (llama, "
                       "qwen2, gpt2)", L->path, (int)(arch.len < 40 ? arch.len : 40), arch.s);
    TRY(hparam(L, "block_count", 1, HW_MAX_LAYERS, 0, &c->n_layer));
    TRY(hparam(L, "embedding_length", 1, HW_MAX_DIM, 0, &c->d_model));
    TRY(hparam(L, "feed_forward_length", 0, HW_MAX_DIM, -1, &c->d_ff));
    TRY(hparam(L, "attention.head_count", 1, HW_MAX_DIM, 0, &c->n_head));
    TRY(hparam(L, "context_length", 1, HW_MAX_CONTEXT, 0, &c->n_ctx));
    TRY(strcmp(c->arch, "gpt2") == 0 ? config_gpt2(L, c) : config_llama(L, c));
    const hw_gguf_tensor *emb = hw_gguf_find_tensor(L->g, "token_embd.weight");
    if (!emb) return hw_fail(HW_ERR_FORMAT, "%s: missing tensor token_embd.weight", L->path);
    if (emb->ne[1] < 1 || emb->ne[1] > HW_MAX_VOCAB)
        return hw_fail(HW_ERR_FORMAT, "%s: token_embd.weight has %lld rows (vocabulary 1..%d)", L->path,
                       (long long)emb->ne[1], HW_MAX_VOCAB);
    c->vocab_size = (int)emb->ne[1];
    c->tied_embeddings = hw_gguf_find_tensor(L->g, "output.weight") == NULL;
    /* Ids outside the vocabulary (llama.cpp writes 2^32 - 1 for "none") mean none. */
    static const char *keys[2] = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id"};
    int *ids[2] = {&c->bos_id, &c->eos_id};
    for (int i = 0; i < 2; i++) {
        int64_t id;
        bool found;
        *ids[i] = -1;
        TRY(hw_gguf_get_int(L->g, keys[i], INT64_MIN, INT64_MAX, &id, &found));
        if (found && id >= 0 && id < c->vocab_size) *ids[i] = (int)id;
    }
    return HW_OK;
}

/* blk.i.attn_qkv: GPT-2's fused (3D, D) projection, rows [q; k; v]; and its bias. */
static hw_status fused_qkv(loader *L, int i, hw_layer_weights *l) {
    int D = L->ld->cfg.d_model;
    hw_matrix qkv;
    const float *b;
    set_name(L, "blk.%d.attn_qkv.weight", i); TRY(matrix(L, 3 * D, D, &qkv));
    l->wq = hw_matrix_row_view(&qkv, 0, D), l->wk = hw_matrix_row_view(&qkv, D, D);
    l->wv = hw_matrix_row_view(&qkv, 2 * D, D);
    set_name(L, "blk.%d.attn_qkv.bias", i); TRY(vec(L, 3 * D, &b));
    l->bq = b, l->bk = b + D, l->bv = b + 2 * D;
    return HW_OK;
}

static hw_status layer(loader *L, int i, hw_layer_weights *l) {
    const hw_config *c = &L->ld->cfg;
    int D = c->d_model, F = c->d_ff, HD = c->n_head * c->head_dim, KD = c->n_kv_head * c->head_dim;
    bool gpt2 = strcmp(c->arch, "gpt2") == 0;
    set_name(L, "blk.%d.attn_norm.weight", i); TRY(vec(L, D, &l->attn_norm));
    if (gpt2) {
        set_name(L, "blk.%d.attn_norm.bias", i); TRY(vec(L, D, &l->attn_norm_b));
        TRY(fused_qkv(L, i, l));
    } else {
        set_name(L, "blk.%d.attn_q.weight", i); TRY(matrix(L, HD, D, &l->wq));
        set_name(L, "blk.%d.attn_k.weight", i); TRY(matrix(L, KD, D, &l->wk));
        set_name(L, "blk.%d.attn_v.weight", i); TRY(matrix(L, KD, D, &l->wv));
    }
    if (c->qkv_bias && !gpt2) {
        set_name(L, "blk.%d.attn_q.bias", i); TRY(vec(L, HD, &l->bq));
        set_name(L, "blk.%d.attn_k.bias", i); TRY(vec(L, KD, &l->bk));
        set_name(L, "blk.%d.attn_v.bias", i); TRY(vec(L, KD, &l->bv));
    }
    set_name(L, "blk.%d.attn_output.weight", i); TRY(matrix(L, D, HD, &l->wo));
    if (c->out_bias) { set_name(L, "blk.%d.attn_output.bias", i); TRY(vec(L, D, &l->bo)); }
    if (F == 0) return HW_OK; /* attention-only */
    set_name(L, "blk.%d.ffn_norm.weight", i); TRY(vec(L, D, &l->mlp_norm));
    if (gpt2) { set_name(L, "blk.%d.ffn_norm.bias", i); TRY(vec(L, D, &l->mlp_norm_b)); }
    else { set_name(L, "blk.%d.ffn_gate.weight", i); TRY(matrix(L, F, D, &l->w_gate)); }
    set_name(L, "blk.%d.ffn_up.weight", i); TRY(matrix(L, F, D, &l->w_up));
    set_name(L, "blk.%d.ffn_down.weight", i); TRY(matrix(L, D, F, &l->w_down));
    if (c->mlp_bias) {
        set_name(L, "blk.%d.ffn_up.bias", i); TRY(vec(L, F, &l->b_up));
        set_name(L, "blk.%d.ffn_down.bias", i); TRY(vec(L, D, &l->b_down));
    }
    return HW_OK;
}

static hw_status weights(loader *L) {
    const hw_config *c = &L->ld->cfg;
    hw_weights *w = &L->ld->w;
    int D = c->d_model, V = c->vocab_size;
    if (!(w->layers = hw_store_alloc(&L->ld->store, (size_t)c->n_layer * sizeof *w->layers)))
        return hw_fail(HW_ERR_NOMEM, "%s: out of memory", L->path);
    memset(w->layers, 0, (size_t)c->n_layer * sizeof *w->layers);
    /* The embedding is read a row per token (not counted as a step's read), kept as
     * stored: tok_embed is its f32 only when it is stored so (hw_embed_row reads any). */
    set_name(L, "token_embd.weight");
    int64_t before = L->step_bytes;
    TRY(matrix(L, V, D, &w->embed));
    w->tok_embed = w->embed.dtype == HW_F32 ? w->embed.f32 : NULL;
    L->step_bytes = before + (int64_t)hw_dtype_row_bytes(w->embed.dtype, D);
    if (c->tied_embeddings) {
        w->classifier = w->embed;
        L->step_bytes += (int64_t)hw_matrix_bytes(&w->embed);
    } else {
        set_name(L, "output.weight");
        TRY(matrix(L, V, D, &w->classifier));
    }
    if (c->pos == HW_POS_LEARNED) {
        const hw_gguf_tensor *t;
        set_name(L, "position_embd.weight");
        TRY(find(L, D, c->n_ctx, &t));
        TRY(as_f32(L, t, &w->pos_embed));
        L->step_bytes += D * (int64_t)sizeof(float);
    }
    for (int i = 0; i < c->n_layer; i++) TRY(layer(L, i, &w->layers[i]));
    set_name(L, "output_norm.weight");
    TRY(vec(L, D, &w->final_norm));
    if (c->norm_bias) { set_name(L, "output_norm.bias"); TRY(vec(L, D, &w->final_norm_b)); }
    /* A tensor the forward does not read is a variant it does not compute (biases,
     * Llama 3.1's rope_freqs frequency factors, extra norms): refuse rather than run a
     * different model. */
    for (int64_t i = 0; i < L->g->n_tensors; i++) {
        const hw_gguf_str *n = &L->g->tensors[i].name;
        if (!L->used[i])
            return hw_fail(HW_ERR_UNSUPPORTED, "%s: tensor %.*s is not part of the %s architecture "
                           "headwise computes (a variant it does not support)", L->path,
                           (int)(n->len < 80 ? n->len : 80), n->s, c->arch);
    }
    return HW_OK;
}

/* "F32 x48" or "F32 x11 + Q8_0 x7", kept in the store: the stored types, in which
 * matrices stay (1-D tensors are f32 in the engine). */
static hw_status describe(loader *L, hw_model_info *info) {
    char buf[256] = "";
    size_t n = 0;
    for (int t = 0; t < HW_GGML_N_TYPES; t++) {
        if (!L->count[t]) continue;
        n += (size_t)snprintf(buf + n, sizeof buf - n, "%s%s x%d", n ? " + " : "", hw_ggml_type_name((uint32_t)t),
                              L->count[t]);
    }
    char *s = hw_store_alloc(&L->ld->store, strlen(buf) + 1);
    if (!s) return hw_fail(HW_ERR_NOMEM, "%s: out of memory", L->path);
    strcpy(s, buf);
    info->dtype = s;
    return HW_OK;
}

hw_status hw_load_gguf(hw_loaded *ld, const hw_mapped_file *f, const char *path) {
    hw_gguf g;
    hw_status st = hw_gguf_parse(&g, f->data, f->size, path);
    loader L = {.ld = ld, .g = &g, .path = path};
    if (st == HW_OK && !(L.used = calloc((size_t)g.n_tensors + 1, sizeof *L.used)))
        st = hw_fail(HW_ERR_NOMEM, "%s: out of memory", path);
    if (st == HW_OK && g.n_tensors == 0)
        st = hw_fail(HW_ERR_FORMAT, "%s: a GGUF without tensors (a vocabulary file?) is not a model",
                     path);
    if (st == HW_OK) st = config(&L);
    if (st == HW_OK) st = weights(&L);
    if (st == HW_OK) st = describe(&L, &ld->info);
    if (st == HW_OK) {
        ld->info.format = g.version == 2 ? "GGUF v2" : "GGUF v3";
        ld->info.n_params = L.n_params;
        ld->info.file_bytes = (int64_t)f->size;
        ld->info.weight_bytes = L.step_bytes;
    }
    free(L.used);
    hw_gguf_free(&g);
    return st;
}

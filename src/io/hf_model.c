/*
 * hf_model.c: Hugging Face model folders (config.json + *.safetensors) to
 * hw_config and hw_weights.
 *
 * The forward wants every matrix (out, in), row-major, in F32, F16 or BF16 (the
 * products decode 2-byte rows as they read them: src/core/quant_kernels.c). Matrices
 * in that layout are used in place in the mmap, in their stored type; GPT-2's Conv1D
 * weights (stored (in, out)) are transposed and GPT-NeoX's per-head fused QKV is
 * regrouped into buffers of the loaded store, still in their stored type. 1-D tensors
 * (norms, biases) and learned positions are made f32.
 */
#include "hfconfig.h"
#include "load.h"
#include "safetensors.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TRY(x)                                                                                     \
    do {                                                                                           \
        hw_status st_ = (x);                                                                       \
        if (st_ != HW_OK) return st_;                                                              \
    } while (0)

typedef struct {
    hw_loaded *ld;
    const char *folder;
    hw_st_set st;
    bool *in_place;         /* (n_files) a weight points into this file's map */
    int64_t n_params;       /* values of every tensor used, each counted once */
    int64_t step_bytes;     /* bytes one decode step reads */
    unsigned dtypes_seen;   /* bit per hw_st_dtype of the matrices */
    char name[256];         /* the tensor being looked up */
} loader;

/* Format the tensor name into L->name. */
static hw_status set_name(loader *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static hw_status set_name(loader *L, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(L->name, sizeof L->name, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof L->name)
        return hw_fail(HW_ERR_ARG, "%s: tensor name too long", L->folder);
    return HW_OK;
}

/* The tensor L->name with exactly the shape (d0) or (d0, d1) (d1 < 0: 1-D). */
static hw_status find(loader *L, int64_t d0, int64_t d1, const hw_st_tensor **out) {
    const hw_st_tensor *t = hw_st_find(&L->st, L->name);
    if (!t) return hw_fail(HW_ERR_FORMAT, "%s: missing tensor %s", L->folder, L->name);
    const char *path = L->st.paths[t->file];
    int ndim = d1 < 0 ? 1 : 2;
    if (t->ndim != ndim || t->shape[0] != d0 || (ndim == 2 && t->shape[1] != d1)) {
        char got[96] = "[", *p = got + 1;
        for (int i = 0; i < t->ndim && p < got + sizeof got - 24; i++)
            p += sprintf(p, i ? ", %lld" : "%lld", (long long)t->shape[i]);
        strcpy(p, "]");
        if (ndim == 1)
            return hw_fail(HW_ERR_FORMAT, "%s: tensor %s has shape %s, expected [%lld]", path,
                           L->name, got, (long long)d0);
        return hw_fail(HW_ERR_FORMAT, "%s: tensor %s has shape %s, expected [%lld, %lld]", path,
                       L->name, got, (long long)d0, (long long)d1);
    }
    if (!hw_st_is_float(t->dtype))
        return hw_fail(HW_ERR_UNSUPPORTED, "%s: tensor %s has dtype %s (F32, F16, BF16 supported)",
                       path, L->name, hw_st_dtype_name(t->dtype));
    L->n_params += t->numel;
    *out = t;
    return HW_OK;
}

static float *alloc_f32(loader *L, int64_t n) {
    float *p = hw_store_alloc(&L->ld->store, (size_t)n * sizeof(float));
    if (!p) hw_fail(HW_ERR_NOMEM, "%s: out of memory for tensor %s", L->folder, L->name);
    return p;
}

/* Convert values [first, first + n) of t to f32. */
static void convert_range(const hw_st_tensor *t, int64_t first, int64_t n, float *out) {
    hw_st_tensor view = *t;
    size_t esize = t->nbytes / (size_t)(t->numel ? t->numel : 1);
    view.data = t->data + (size_t)first * esize;
    view.numel = n;
    hw_st_to_f32(&view, out);
}

/* t as f32: in the map when it is aligned F32, else an upcast copy. */
static hw_status as_f32(loader *L, const hw_st_tensor *t, const float **out) {
    if (t->dtype == HW_ST_F32 && (uintptr_t)t->data % sizeof(float) == 0) {
        L->in_place[t->file] = true;
        *out = (const float *)(const void *)t->data;
        return HW_OK;
    }
    float *p = alloc_f32(L, t->numel);
    if (!p) return HW_ERR_NOMEM;
    hw_st_to_f32(t, p);
    *out = p;
    return HW_OK;
}

/* A 1-D tensor of n values (counted as read once per decode step). */
static hw_status vec(loader *L, int64_t n, const float **out) {
    const hw_st_tensor *t;
    hw_status st = find(L, n, -1, &t);
    if (st == HW_OK) st = as_f32(L, t, out);
    L->step_bytes += n * (int64_t)sizeof(float);
    return st;
}

/* The matrix dtype a 2-byte float tensor keeps (F32 otherwise). */
static hw_dtype half_dtype(hw_st_dtype dt) {
    return dt == HW_ST_F16 ? HW_F16 : dt == HW_ST_BF16 ? HW_BF16 : HW_F32;
}

/* w = (rows, cols) at p: f32 values, or 2-byte ones when dt is F16 or BF16. */
static void set_matrix(loader *L, hw_matrix *w, const void *p, int rows, int cols, hw_st_dtype dt) {
    hw_dtype d = half_dtype(dt);
    *w = (hw_matrix){.dtype = d, .rows = rows, .cols = cols};
    if (d == HW_F32) w->f32 = p;
    else w->raw = p;
    L->step_bytes += (int64_t)hw_matrix_bytes(w);
    L->dtypes_seen |= 1u << dt;
}

/* t as a matrix's storage: 2-byte floats in place in the map, else as_f32. */
static hw_status as_stored(loader *L, const hw_st_tensor *t, const void **out) {
    if (half_dtype(t->dtype) == HW_F32) return as_f32(L, t, (const float **)out);
    L->in_place[t->file] = true;
    *out = t->data;
    return HW_OK;
}

/* A Linear weight, stored (out, in) as the forward wants it. */
static hw_status linear(loader *L, int rows, int cols, hw_matrix *w) {
    const hw_st_tensor *t;
    const void *p = NULL;
    hw_status st = find(L, rows, cols, &t);
    if (st == HW_OK && (st = as_stored(L, t, &p)) == HW_OK) set_matrix(L, w, p, rows, cols, t->dtype);
    return st;
}

/* A buffer of n values of a matrix of t's type (f32 or 2-byte), in the store. */
static void *alloc_like(loader *L, const hw_st_tensor *t, int64_t n, size_t *esize) {
    *esize = half_dtype(t->dtype) == HW_F32 ? sizeof(float) : 2;
    void *p = hw_store_alloc(&L->ld->store, (size_t)n * *esize);
    if (!p) hw_fail(HW_ERR_NOMEM, "%s: out of memory for tensor %s", L->folder, L->name);
    return p;
}

/* A GPT-2 Conv1D weight, stored (in, out), transposed into (out, in) in its own type
 * (f32 for types other than F16 and BF16). A fused c_attn is then split by rows. */
static hw_status conv1d(loader *L, int in, int outf, hw_matrix *w) {
    const hw_st_tensor *t;
    TRY(find(L, in, outf, &t));
    size_t es;
    uint8_t *dst = alloc_like(L, t, (int64_t)in * outf, &es);
    float *row = es == 2 ? NULL : malloc((size_t)outf * sizeof *row);
    if (!dst || (es != 2 && !row)) {
        free(row);
        return hw_fail(HW_ERR_NOMEM, "%s: out of memory for tensor %s", L->folder, L->name);
    }
    for (int i = 0; i < in; i++) { /* row i of the stored matrix is column i of ours */
        if (es == 2) {
            for (int o = 0; o < outf; o++)
                memcpy(dst + ((size_t)o * in + i) * 2, t->data + ((size_t)i * outf + o) * 2, 2);
            continue;
        }
        convert_range(t, (int64_t)i * outf, outf, row);
        for (int o = 0; o < outf; o++) ((float *)(void *)dst)[(size_t)o * in + i] = row[o];
    }
    free(row);
    set_matrix(L, w, dst, outf, in, t->dtype);
    return HW_OK;
}

/* ---------------------------------------------------------------- families */

static hw_status embeddings(loader *L, const char *embed, const char *head) {
    const hw_config *c = &L->ld->cfg;
    hw_weights *w = &L->ld->w;
    const hw_st_tensor *t;
    TRY(set_name(L, "%s", embed));
    TRY(find(L, c->vocab_size, c->d_model, &t));
    /* Kept as stored: tok_embed is its f32 only when it is stored so (hw_embed_row). */
    const void *p;
    TRY(as_stored(L, t, &p));
    set_matrix(L, &w->embed, p, c->vocab_size, c->d_model, t->dtype);
    w->tok_embed = w->embed.dtype == HW_F32 ? w->embed.f32 : NULL;
    L->step_bytes -= (int64_t)hw_matrix_bytes(&w->embed);
    L->step_bytes += (int64_t)hw_dtype_row_bytes(w->embed.dtype, c->d_model); /* a row per token */
    if (c->tied_embeddings) {
        /* A stored lm_head of a tied model is ignored, as Hugging Face ties it on load. */
        set_matrix(L, &w->classifier, p, c->vocab_size, c->d_model, t->dtype);
        return HW_OK;
    }
    TRY(set_name(L, "%s", head));
    return linear(L, c->vocab_size, c->d_model, &w->classifier);
}

static hw_status load_gpt2(loader *L) {
    const hw_config *c = &L->ld->cfg;
    hw_weights *w = &L->ld->w;
    int D = c->d_model, F = c->d_ff;
    /* The published GPT-2 files drop the "transformer." prefix; fine-tunes keep it. */
    const char *p = hw_st_find(&L->st, "transformer.wte.weight") ? "transformer." : "";
    char wte[64];
    snprintf(wte, sizeof wte, "%swte.weight", p);
    TRY(embeddings(L, wte, "lm_head.weight"));
    TRY(set_name(L, "%swpe.weight", p));
    const hw_st_tensor *t;
    TRY(find(L, c->n_ctx, D, &t));
    TRY(as_f32(L, t, &w->pos_embed));
    L->step_bytes += (int64_t)D * (int64_t)sizeof(float);
    for (int i = 0; i < c->n_layer; i++) {
        hw_layer_weights *l = &w->layers[i];
        const float *b;
        TRY(set_name(L, "%sh.%d.ln_1.weight", p, i)); TRY(vec(L, D, &l->attn_norm));
        TRY(set_name(L, "%sh.%d.ln_1.bias", p, i)); TRY(vec(L, D, &l->attn_norm_b));
        /* c_attn is [q; k; v] along its outputs, so after transposing each
         * part is a contiguous block of rows. */
        hw_matrix fused;
        TRY(set_name(L, "%sh.%d.attn.c_attn.weight", p, i)); TRY(conv1d(L, D, 3 * D, &fused));
        l->wq = hw_matrix_row_view(&fused, 0, D), l->wk = hw_matrix_row_view(&fused, D, D);
        l->wv = hw_matrix_row_view(&fused, 2 * D, D);
        TRY(set_name(L, "%sh.%d.attn.c_attn.bias", p, i)); TRY(vec(L, 3 * D, &b));
        l->bq = b, l->bk = b + D, l->bv = b + 2 * D;
        TRY(set_name(L, "%sh.%d.attn.c_proj.weight", p, i)); TRY(conv1d(L, D, D, &l->wo));
        TRY(set_name(L, "%sh.%d.attn.c_proj.bias", p, i)); TRY(vec(L, D, &l->bo));
        TRY(set_name(L, "%sh.%d.ln_2.weight", p, i)); TRY(vec(L, D, &l->mlp_norm));
        TRY(set_name(L, "%sh.%d.ln_2.bias", p, i)); TRY(vec(L, D, &l->mlp_norm_b));
        TRY(set_name(L, "%sh.%d.mlp.c_fc.weight", p, i)); TRY(conv1d(L, D, F, &l->w_up));
        TRY(set_name(L, "%sh.%d.mlp.c_fc.bias", p, i)); TRY(vec(L, F, &l->b_up));
        TRY(set_name(L, "%sh.%d.mlp.c_proj.weight", p, i)); TRY(conv1d(L, F, D, &l->w_down));
        TRY(set_name(L, "%sh.%d.mlp.c_proj.bias", p, i)); TRY(vec(L, D, &l->b_down));
    }
    TRY(set_name(L, "%sln_f.weight", p)); TRY(vec(L, D, &w->final_norm));
    TRY(set_name(L, "%sln_f.bias", p)); TRY(vec(L, D, &w->final_norm_b));
    return HW_OK;
}

/* GPT-NeoX fuses QKV per head: rows (h, part, Dh) with part q, k, v. Regroup
 * into (part, h, Dh) so wq, wk, wv are contiguous blocks: the weight (cols > 1) in its
 * stored type (f32 for types other than F16 and BF16), the bias (cols = 1) as f32. */
static hw_status neox_qkv(loader *L, int H, int Dh, int cols, void **out, hw_st_dtype *dt) {
    const hw_st_tensor *t;
    TRY(find(L, (int64_t)3 * H * Dh, cols > 1 ? cols : -1, &t));
    size_t es = sizeof(float);
    uint8_t *dst = cols > 1 ? alloc_like(L, t, (int64_t)3 * H * Dh * cols, &es)
                            : (uint8_t *)alloc_f32(L, (int64_t)3 * H * Dh);
    if (!dst) return HW_ERR_NOMEM;
    int64_t block = (int64_t)Dh * cols;
    for (int h = 0; h < H; h++)
        for (int part = 0; part < 3; part++) {
            int64_t from = ((int64_t)h * 3 + part) * block, to = ((int64_t)part * H + h) * block;
            if (es == 2) memcpy(dst + to * 2, t->data + from * 2, (size_t)block * 2);
            else convert_range(t, from, block, (float *)(void *)dst + to);
        }
    *dt = t->dtype;
    *out = dst;
    return HW_OK;
}

static hw_status load_gpt_neox(loader *L) {
    const hw_config *c = &L->ld->cfg;
    hw_weights *w = &L->ld->w;
    int D = c->d_model, F = c->d_ff, H = c->n_head, Dh = c->head_dim, HD = H * Dh;
    TRY(embeddings(L, "gpt_neox.embed_in.weight", "embed_out.weight"));
    for (int i = 0; i < c->n_layer; i++) {
        hw_layer_weights *l = &w->layers[i];
        const char *p = "gpt_neox.layers";
        void *qkv;
        hw_st_dtype dt;
        hw_matrix fused;
        TRY(set_name(L, "%s.%d.input_layernorm.weight", p, i)); TRY(vec(L, D, &l->attn_norm));
        TRY(set_name(L, "%s.%d.input_layernorm.bias", p, i)); TRY(vec(L, D, &l->attn_norm_b));
        TRY(set_name(L, "%s.%d.attention.query_key_value.weight", p, i));
        TRY(neox_qkv(L, H, Dh, D, &qkv, &dt));
        set_matrix(L, &fused, qkv, 3 * HD, D, dt);
        l->wq = hw_matrix_row_view(&fused, 0, HD), l->wk = hw_matrix_row_view(&fused, HD, HD);
        l->wv = hw_matrix_row_view(&fused, 2 * HD, HD);
        if (c->qkv_bias) {
            TRY(set_name(L, "%s.%d.attention.query_key_value.bias", p, i));
            TRY(neox_qkv(L, H, Dh, 1, &qkv, &dt));
            const float *b = qkv;
            l->bq = b, l->bk = b + HD, l->bv = b + 2 * HD;
        }
        TRY(set_name(L, "%s.%d.attention.dense.weight", p, i)); TRY(linear(L, D, HD, &l->wo));
        if (c->out_bias) {
            TRY(set_name(L, "%s.%d.attention.dense.bias", p, i)); TRY(vec(L, D, &l->bo));
        }
        TRY(set_name(L, "%s.%d.post_attention_layernorm.weight", p, i)); TRY(vec(L, D, &l->mlp_norm));
        TRY(set_name(L, "%s.%d.post_attention_layernorm.bias", p, i)); TRY(vec(L, D, &l->mlp_norm_b));
        TRY(set_name(L, "%s.%d.mlp.dense_h_to_4h.weight", p, i)); TRY(linear(L, F, D, &l->w_up));
        TRY(set_name(L, "%s.%d.mlp.dense_h_to_4h.bias", p, i)); TRY(vec(L, F, &l->b_up));
        TRY(set_name(L, "%s.%d.mlp.dense_4h_to_h.weight", p, i)); TRY(linear(L, D, F, &l->w_down));
        TRY(set_name(L, "%s.%d.mlp.dense_4h_to_h.bias", p, i)); TRY(vec(L, D, &l->b_down));
    }
    TRY(set_name(L, "gpt_neox.final_layer_norm.weight")); TRY(vec(L, D, &w->final_norm));
    TRY(set_name(L, "gpt_neox.final_layer_norm.bias")); TRY(vec(L, D, &w->final_norm_b));
    return HW_OK;
}

/* Llama, Mistral and Qwen2 share names; only which biases exist differs. */
static hw_status load_llama_like(loader *L) {
    const hw_config *c = &L->ld->cfg;
    hw_weights *w = &L->ld->w;
    int D = c->d_model, F = c->d_ff, HD = c->n_head * c->head_dim, KD = c->n_kv_head * c->head_dim;
    TRY(embeddings(L, "model.embed_tokens.weight", "lm_head.weight"));
    for (int i = 0; i < c->n_layer; i++) {
        hw_layer_weights *l = &w->layers[i];
        const char *p = "model.layers";
        TRY(set_name(L, "%s.%d.input_layernorm.weight", p, i)); TRY(vec(L, D, &l->attn_norm));
        TRY(set_name(L, "%s.%d.self_attn.q_proj.weight", p, i)); TRY(linear(L, HD, D, &l->wq));
        TRY(set_name(L, "%s.%d.self_attn.k_proj.weight", p, i)); TRY(linear(L, KD, D, &l->wk));
        TRY(set_name(L, "%s.%d.self_attn.v_proj.weight", p, i)); TRY(linear(L, KD, D, &l->wv));
        TRY(set_name(L, "%s.%d.self_attn.o_proj.weight", p, i)); TRY(linear(L, D, HD, &l->wo));
        if (c->qkv_bias) {
            TRY(set_name(L, "%s.%d.self_attn.q_proj.bias", p, i)); TRY(vec(L, HD, &l->bq));
            TRY(set_name(L, "%s.%d.self_attn.k_proj.bias", p, i)); TRY(vec(L, KD, &l->bk));
            TRY(set_name(L, "%s.%d.self_attn.v_proj.bias", p, i)); TRY(vec(L, KD, &l->bv));
        }
        if (c->out_bias) {
            TRY(set_name(L, "%s.%d.self_attn.o_proj.bias", p, i)); TRY(vec(L, D, &l->bo));
        }
        if (F == 0) continue; /* attention-only */
        TRY(set_name(L, "%s.%d.post_attention_layernorm.weight", p, i)); TRY(vec(L, D, &l->mlp_norm));
        TRY(set_name(L, "%s.%d.mlp.gate_proj.weight", p, i)); TRY(linear(L, F, D, &l->w_gate));
        TRY(set_name(L, "%s.%d.mlp.up_proj.weight", p, i)); TRY(linear(L, F, D, &l->w_up));
        TRY(set_name(L, "%s.%d.mlp.down_proj.weight", p, i)); TRY(linear(L, D, F, &l->w_down));
        if (c->mlp_bias) {
            TRY(set_name(L, "%s.%d.mlp.gate_proj.bias", p, i)); TRY(vec(L, F, &l->b_gate));
            TRY(set_name(L, "%s.%d.mlp.up_proj.bias", p, i)); TRY(vec(L, F, &l->b_up));
            TRY(set_name(L, "%s.%d.mlp.down_proj.bias", p, i)); TRY(vec(L, D, &l->b_down));
        }
    }
    TRY(set_name(L, "model.norm.weight"));
    return vec(L, D, &w->final_norm);
}

/* ---------------------------------------------------------------- entry */

static const char *dtype_label(unsigned seen) {
    if (seen == 1u << HW_ST_F32) return "f32";
    if (seen == 1u << HW_ST_BF16) return "bf16";
    if (seen == 1u << HW_ST_F16) return "f16";
    return "mixed";
}

/* Hand the maps weights point into to the store and leave the rest to hw_st_free. */
static hw_status keep_maps(loader *L) {
    for (int i = 0; i < L->st.n_files; i++) {
        if (!L->in_place[i]) continue;
        hw_mapped_file f = L->st.files[i];
        L->st.files[i] = (hw_mapped_file){0}; /* now the store's (even if keeping fails) */
        TRY(hw_store_keep_map(&L->ld->store, f));
    }
    return HW_OK;
}

static hw_status load(loader *L) {
    hw_loaded *ld = L->ld;
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/config.json", L->folder);
    if (n < 0 || (size_t)n >= sizeof path) return hw_fail(HW_ERR_ARG, "%s: path too long", L->folder);
    TRY(hw_hf_config_load(&ld->cfg, path));
    TRY(hw_st_open_folder(&L->st, L->folder));
    if (!(L->in_place = calloc((size_t)L->st.n_files + 1, sizeof *L->in_place)))
        return hw_fail(HW_ERR_NOMEM, "%s: out of memory", L->folder);
    hw_layer_weights *layers = hw_store_alloc(&ld->store, (size_t)ld->cfg.n_layer * sizeof *layers);
    if (!layers) return hw_fail(HW_ERR_NOMEM, "%s: out of memory", L->folder);
    memset(layers, 0, (size_t)ld->cfg.n_layer * sizeof *layers);
    ld->w = (hw_weights){.layers = layers};

    const char *arch = ld->cfg.arch;
    if (strcmp(arch, "gpt2") == 0) TRY(load_gpt2(L));
    else if (strcmp(arch, "gpt_neox") == 0) TRY(load_gpt_neox(L));
    else TRY(load_llama_like(L));
    int64_t file_bytes = 0;
    for (int i = 0; i < L->st.n_files; i++) file_bytes += (int64_t)L->st.files[i].size;
    TRY(keep_maps(L));
    ld->info = (hw_model_info){
        .format = L->st.n_files > 1 ? "safetensors (sharded)" : "safetensors",
        .dtype = dtype_label(L->dtypes_seen),
        .n_params = L->n_params,
        .file_bytes = file_bytes,
        .weight_bytes = L->step_bytes,
    };
    return HW_OK;
}

hw_status hw_load_hf(hw_loaded *ld, const char *folder) {
    loader L = {.ld = ld, .folder = folder};
    hw_status st = load(&L);
    free(L.in_place);
    hw_st_free(&L.st); /* unmaps only the files no weight points into */
    return st;
}

/*
 * hf_write.c: a config and its weights as a Hugging Face Llama folder (config.json +
 * model.safetensors, F32), which hw_model_load and transformers' LlamaForCausalLM
 * both read (hw_model_save_hf in src/model/model.c passes a model's).
 *
 * Only what a Llama config can say is written: RMSNorm, rotary over the whole
 * head, a SiLU-gated MLP or none (d_ff == 0, written as "intermediate_size": 0:
 * an attention-only model), no biases but Llama's attention_bias (q, k, v and o). Rotary pairs (2i, 2i+1) (llama2.c's
 * layout) are written as Hugging Face's halves (i, i + Dh/2) by permuting the
 * rows of each query and key head, the inverse of what transformers'
 * convert_llama_weights_to_hf does; the forward is the same function of the
 * input either way.
 */
#include "load.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct {
    char name[96];
    int ndim, rows, cols;       /* cols for 2-D only */
    const float *data;          /* (rows, cols) or (rows) */
    int permute_heads;          /* > 0: rows are heads of Dh rows in interleaved rotary order */
    int head_dim;
} out_tensor;

typedef struct {
    out_tensor *t;
    int n, cap;
} tensor_list;

static hw_status add(tensor_list *l, const char *name, const float *data, int rows, int cols) {
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 32;
        out_tensor *p = realloc(l->t, (size_t)cap * sizeof *p);
        if (!p) return hw_fail(HW_ERR_NOMEM, "out of memory listing tensors");
        l->t = p;
        l->cap = cap;
    }
    out_tensor *t = &l->t[l->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = cols > 0 ? 2 : 1;
    t->rows = rows;
    t->cols = cols;
    t->data = data;
    return HW_OK;
}

/* What a Llama config cannot express is refused, naming it. */
static hw_status check_writable(const hw_config *c, const hw_weights *w, const char *dir) {
    const char *why = NULL;
    if (c->norm != HW_NORM_RMS) why = "LayerNorm";
    else if (c->pos != HW_POS_ROTARY) why = "learned positions";
    else if (c->rotary_frac != 1) why = "partial rotary";
    else if (c->d_ff > 0 && c->act != HW_ACT_SILU_GATED) why = "a GELU MLP";
    /* Llama's attention_bias is one switch for q, k, v and o together. */
    else if (c->qkv_bias != c->out_bias || c->mlp_bias || c->norm_bias) why = "biases other than attention_bias";
    else if (c->parallel_residual) why = "a parallel residual";
    else if (c->sliding_window > 0) why = "sliding-window attention";
    else if (c->rope_scaling != HW_ROPE_SCALE_NONE) why = "rope scaling";
    else if (c->head_dim % 2) why = "an odd head_dim";
    if (why) return hw_fail(HW_ERR_UNSUPPORTED, "%s: cannot write a model with %s as a Llama folder", dir, why);
    for (int i = 0; i < c->n_layer; i++) {
        const hw_layer_weights *l = &w->layers[i];
        const hw_matrix *mats[] = {&l->wq, &l->wk, &l->wv, &l->wo, &l->w_gate, &l->w_up, &l->w_down};
        for (int k = 0; k < (c->d_ff > 0 ? 7 : 4); k++)
            if (mats[k]->dtype != HW_F32 || !mats[k]->f32)
                return hw_fail(HW_ERR_UNSUPPORTED, "%s: layer %d has a quantised matrix (only f32 is written)", dir, i);
    }
    if (!w->tok_embed) return hw_fail(HW_ERR_UNSUPPORTED, "%s: the embedding is not f32 (only f32 is written)", dir);
    if (w->classifier.dtype != HW_F32 || !w->classifier.f32)
        return hw_fail(HW_ERR_UNSUPPORTED, "%s: the classifier is quantised (only f32 is written)", dir);
    return HW_OK;
}

static hw_status list_tensors(const hw_config *c, const hw_weights *w, tensor_list *l) {
    int D = c->d_model, F = c->d_ff, HD = c->n_head * c->head_dim, KD = c->n_kv_head * c->head_dim;
    int permute = c->rope_layout == HW_ROPE_INTERLEAVED;
    char name[96];
    hw_status s = add(l, "model.embed_tokens.weight", w->tok_embed, c->vocab_size, D);
    for (int i = 0; i < c->n_layer && s == HW_OK; i++) {
        const hw_layer_weights *y = &w->layers[i];
#define ADD(suffix, ptr, r, cc)                                                \
    do {                                                                       \
        snprintf(name, sizeof name, "model.layers.%d.%s", i, suffix);          \
        if (s == HW_OK) s = add(l, name, ptr, r, cc);                          \
    } while (0)
        ADD("input_layernorm.weight", y->attn_norm, D, 0);
        ADD("self_attn.q_proj.weight", y->wq.f32, HD, D);
        if (s == HW_OK) l->t[l->n - 1].permute_heads = permute, l->t[l->n - 1].head_dim = c->head_dim;
        ADD("self_attn.k_proj.weight", y->wk.f32, KD, D);
        if (s == HW_OK) l->t[l->n - 1].permute_heads = permute, l->t[l->n - 1].head_dim = c->head_dim;
        ADD("self_attn.v_proj.weight", y->wv.f32, KD, D);
        ADD("self_attn.o_proj.weight", y->wo.f32, D, HD);
        if (c->qkv_bias) {
            ADD("self_attn.q_proj.bias", y->bq, HD, 0);
            if (s == HW_OK) l->t[l->n - 1].permute_heads = permute, l->t[l->n - 1].head_dim = c->head_dim;
            ADD("self_attn.k_proj.bias", y->bk, KD, 0);
            if (s == HW_OK) l->t[l->n - 1].permute_heads = permute, l->t[l->n - 1].head_dim = c->head_dim;
            ADD("self_attn.v_proj.bias", y->bv, KD, 0);
            ADD("self_attn.o_proj.bias", y->bo, D, 0);
        }
        if (F > 0) { /* attention-only models have no MLP and no MLP norm */
            ADD("post_attention_layernorm.weight", y->mlp_norm, D, 0);
            ADD("mlp.gate_proj.weight", y->w_gate.f32, F, D);
            ADD("mlp.up_proj.weight", y->w_up.f32, F, D);
            ADD("mlp.down_proj.weight", y->w_down.f32, D, F);
        }
#undef ADD
    }
    if (s == HW_OK) s = add(l, "model.norm.weight", w->final_norm, D, 0);
    if (s == HW_OK && !c->tied_embeddings) s = add(l, "lm_head.weight", w->classifier.f32, c->vocab_size, D);
    for (int i = 0; i < l->n && s == HW_OK; i++)
        if (!l->t[i].data) s = hw_fail(HW_ERR_ARG, "model has no tensor %s", l->t[i].name);
    return s;
}

/* Row r of t as written: interleaved heads take rows 0, 2, 4, ... then 1, 3, 5, ... */
static const float *out_row(const out_tensor *t, int r) {
    int cols = t->ndim == 2 ? t->cols : 1;
    if (t->permute_heads) {
        int Dh = t->head_dim, half = Dh / 2, h = r / Dh, i = r % Dh;
        int src = i < half ? 2 * i : 2 * (i - half) + 1;
        r = h * Dh + src;
    }
    return t->data + (size_t)r * cols;
}

static hw_status write_safetensors(const tensor_list *l, const char *path) {
    cJSON *h = cJSON_CreateObject();
    cJSON *meta = cJSON_AddObjectToObject(h, "__metadata__");
    cJSON_AddStringToObject(meta, "format", "pt");
    uint64_t off = 0;
    for (int i = 0; i < l->n; i++) {
        const out_tensor *t = &l->t[i];
        uint64_t bytes = (uint64_t)t->rows * (uint64_t)(t->ndim == 2 ? t->cols : 1) * sizeof(float);
        cJSON *e = cJSON_AddObjectToObject(h, t->name);
        cJSON_AddStringToObject(e, "dtype", "F32");
        int shape[2] = {t->rows, t->cols};
        cJSON_AddItemToObject(e, "shape", cJSON_CreateIntArray(shape, t->ndim));
        double offs[2] = {(double)off, (double)(off + bytes)};
        cJSON_AddItemToObject(e, "data_offsets", cJSON_CreateDoubleArray(offs, 2));
        off += bytes;
    }
    char *json = cJSON_PrintUnformatted(h);
    cJSON_Delete(h);
    if (!json) return hw_fail(HW_ERR_NOMEM, "%s: out of memory", path);
    /* The header is padded with spaces so the data starts 8-byte aligned and
     * F32 tensors can be used in place in the map. */
    size_t n = strlen(json), padded = (n + 7) / 8 * 8;
    hw_atomic_file *a = hw_atomic_open(path);
    if (!a) {
        cJSON_free(json);
        return HW_ERR_IO;
    }
    FILE *f = hw_atomic_stream(a);
    uint8_t len8[8];
    for (int i = 0; i < 8; i++) len8[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    int ok = fwrite(len8, 1, 8, f) == 8 && fwrite(json, 1, n, f) == n;
    for (size_t i = n; i < padded && ok; i++) ok = fputc(' ', f) != EOF;
    cJSON_free(json);
    for (int i = 0; i < l->n && ok; i++) {
        const out_tensor *t = &l->t[i];
        size_t cols = (size_t)(t->ndim == 2 ? t->cols : 1);
        if (!t->permute_heads) {
            size_t k = (size_t)t->rows * cols;
            ok = fwrite(t->data, sizeof(float), k, f) == k;
        } else {
            for (int r = 0; r < t->rows && ok; r++) ok = fwrite(out_row(t, r), sizeof(float), cols, f) == cols;
        }
    }
    if (!ok) {
        hw_atomic_abort(a);
        return hw_fail(HW_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    }
    return hw_atomic_commit(a);
}

static hw_status write_config(const hw_config *c, const char *path) {
    cJSON *j = cJSON_CreateObject();
    const char *arch = "LlamaForCausalLM";
    cJSON_AddItemToObject(j, "architectures", cJSON_CreateStringArray(&arch, 1));
    cJSON_AddStringToObject(j, "model_type", "llama");
    cJSON_AddNumberToObject(j, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(j, "hidden_size", c->d_model);
    cJSON_AddNumberToObject(j, "intermediate_size", c->d_ff); /* 0: attention-only */
    cJSON_AddNumberToObject(j, "num_hidden_layers", c->n_layer);
    cJSON_AddNumberToObject(j, "num_attention_heads", c->n_head);
    cJSON_AddNumberToObject(j, "num_key_value_heads", c->n_kv_head);
    cJSON_AddNumberToObject(j, "head_dim", c->head_dim);
    cJSON_AddNumberToObject(j, "max_position_embeddings", c->n_ctx);
    cJSON_AddNumberToObject(j, "rms_norm_eps", c->norm_eps);
    cJSON_AddNumberToObject(j, "rope_theta", c->rope_theta);
    cJSON_AddNullToObject(j, "rope_scaling");
    cJSON_AddStringToObject(j, "hidden_act", "silu");
    cJSON_AddBoolToObject(j, "attention_bias", c->qkv_bias);
    cJSON_AddBoolToObject(j, "mlp_bias", 0);
    cJSON_AddBoolToObject(j, "tie_word_embeddings", c->tied_embeddings);
    if (c->bos_id >= 0) cJSON_AddNumberToObject(j, "bos_token_id", c->bos_id);
    else cJSON_AddNullToObject(j, "bos_token_id");
    if (c->eos_id >= 0) cJSON_AddNumberToObject(j, "eos_token_id", c->eos_id);
    else cJSON_AddNullToObject(j, "eos_token_id");
    cJSON_AddStringToObject(j, "torch_dtype", "float32");
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    if (!text) return hw_fail(HW_ERR_NOMEM, "%s: out of memory", path);
    hw_status s = hw_write_file_atomic(path, text, strlen(text));
    cJSON_free(text);
    return s;
}

hw_status hw_save_hf(const hw_config *c, const hw_weights *w, const char *dir) {
    hw_status s = check_writable(c, w, dir);
    if (s != HW_OK) return s;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return hw_fail(HW_ERR_IO, "%s: cannot create the folder: %s", dir, strerror(errno));
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) return hw_fail(HW_ERR_IO, "%s: not a folder", dir);
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/model.safetensors", dir) >= (int)sizeof path)
        return hw_fail(HW_ERR_ARG, "%s: path too long", dir);
    tensor_list l = {0};
    s = list_tensors(c, w, &l);
    /* Weights first, config last: a folder with a config is complete. */
    if (s == HW_OK) s = write_safetensors(&l, path);
    free(l.t);
    if (s != HW_OK) return s;
    snprintf(path, sizeof path, "%s/config.json", dir);
    return write_config(c, path);
}

/* hfconfig.c: config.json of a Hugging Face causal LM to hw_config. */
#include "hfconfig.h"
#include "hw_limits.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* Bounds on each key are in hw_limits.h. */
#define MAX_DIM HW_MAX_DIM

typedef struct {
    const cJSON *root;
    const char *path;
} json_src;

/* A key that is absent or JSON null takes its default. */
static const cJSON *key(const json_src *j, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j->root, k);
    return cJSON_IsNull(v) ? NULL : v;
}

/* An integer in [lo, hi]; absent: def, or an error when required. */
static hw_status get_int(const json_src *j, const char *k, bool required, int def, int lo, int hi,
                         int *out) {
    const cJSON *v = key(j, k);
    if (!v) {
        if (required) return hw_fail(HW_ERR_FORMAT, "%s: no %s", j->path, k);
        *out = def;
        return HW_OK;
    }
    double d = cJSON_GetNumberValue(v);
    if (!cJSON_IsNumber(v) || d != floor(d) || d < lo || d > hi)
        return hw_fail(HW_ERR_FORMAT, "%s: %s must be an integer in [%d, %d]", j->path, k, lo, hi);
    *out = (int)d;
    return HW_OK;
}

/* A finite number in (0, hi]; absent: def. */
static hw_status get_pos(const json_src *j, const char *k, double def, double hi, float *out) {
    const cJSON *v = key(j, k);
    double d = v ? cJSON_GetNumberValue(v) : def;
    if ((v && !cJSON_IsNumber(v)) || !(d > 0 && d <= hi))
        return hw_fail(HW_ERR_FORMAT, "%s: %s must be a number in (0, %g]", j->path, k, hi);
    *out = (float)d;
    return HW_OK;
}

static hw_status get_bool(const json_src *j, const char *k, bool def, int *out) {
    const cJSON *v = key(j, k);
    if (v && !cJSON_IsBool(v)) return hw_fail(HW_ERR_FORMAT, "%s: %s must be true or false", j->path, k);
    *out = v ? cJSON_IsTrue(v) : def;
    return HW_OK;
}

/* bos/eos: an integer, a list (the first is used), or absent (-1). */
static hw_status get_token(const json_src *j, const char *k, int *out) {
    const cJSON *v = key(j, k);
    if (cJSON_IsArray(v)) v = cJSON_GetArrayItem(v, 0);
    *out = -1;
    if (!v) return HW_OK;
    double d = cJSON_GetNumberValue(v);
    if (!cJSON_IsNumber(v) || d != floor(d) || d < 0 || d > MAX_DIM * 64.0)
        return hw_fail(HW_ERR_FORMAT, "%s: %s is not a token id", j->path, k);
    *out = (int)d;
    return HW_OK;
}

/* hidden_act / activation_function. Gated tells a Llama-style MLP, where
 * only SiLU is supported, from a two-layer GELU MLP. */
static hw_status get_act(const json_src *j, const char *k, const char *def, bool gated,
                         hw_activation *out) {
    const cJSON *v = key(j, k);
    const char *s = v ? cJSON_GetStringValue(v) : def;
    if (!s) return hw_fail(HW_ERR_FORMAT, "%s: %s must be a string", j->path, k);
    if (gated && (strcmp(s, "silu") == 0 || strcmp(s, "swish") == 0)) *out = HW_ACT_SILU_GATED;
    /* gelu_new, gelu_pytorch_tanh and gelu_fast are one function: the tanh form. */
    else if (!gated && (strcmp(s, "gelu_new") == 0 || strcmp(s, "gelu_pytorch_tanh") == 0 ||
                        strcmp(s, "gelu_fast") == 0))
        *out = HW_ACT_GELU_TANH;
    else if (!gated && strcmp(s, "gelu") == 0) *out = HW_ACT_GELU_EXACT;
    else return hw_fail(HW_ERR_UNSUPPORTED, "%s: %s \"%s\" is not supported here", j->path, k, s);
    return HW_OK;
}

/* rope_scaling: null, or {"rope_type" (or older "type"): ..., "factor": ...}. */
static hw_status get_rope_scaling(const json_src *j, hw_config *c) {
    c->rope_scaling = HW_ROPE_SCALE_NONE;
    c->rope_factor = 1;
    c->rope_low_freq_factor = c->rope_high_freq_factor = 0;
    c->rope_orig_ctx = c->n_ctx;
    const cJSON *rs = key(j, "rope_scaling");
    if (!rs) return HW_OK;
    if (!cJSON_IsObject(rs)) return hw_fail(HW_ERR_FORMAT, "%s: rope_scaling must be an object", j->path);
    json_src sub = {rs, j->path};
    const char *type = cJSON_GetStringValue(key(&sub, "rope_type"));
    if (!type) type = cJSON_GetStringValue(key(&sub, "type"));
    if (!type) return hw_fail(HW_ERR_FORMAT, "%s: rope_scaling has no rope_type", j->path);
    if (strcmp(type, "default") == 0) return HW_OK;
    if (strcmp(type, "linear") == 0) c->rope_scaling = HW_ROPE_SCALE_LINEAR;
    else if (strcmp(type, "dynamic") == 0) c->rope_scaling = HW_ROPE_SCALE_DYNAMIC;
    else if (strcmp(type, "llama3") == 0) c->rope_scaling = HW_ROPE_SCALE_LLAMA3;
    else return hw_fail(HW_ERR_UNSUPPORTED, "%s: rope_scaling type \"%s\" is not supported", j->path, type);
    hw_status st = get_pos(&sub, "factor", NAN, 1e6, &c->rope_factor);
    if (st != HW_OK) return hw_fail(st, "%s: rope_scaling.factor must be a positive number", j->path);
    /* Dynamic NTK falls back on max_position_embeddings, as Hugging Face does. */
    bool need_orig = c->rope_scaling == HW_ROPE_SCALE_LLAMA3;
    if ((st = get_int(&sub, "original_max_position_embeddings", need_orig, c->n_ctx, 1, HW_MAX_CONTEXT,
                      &c->rope_orig_ctx)) != HW_OK)
        return hw_fail(st, "%s: rope_scaling.original_max_position_embeddings is missing or bad", j->path);
    if (c->rope_scaling == HW_ROPE_SCALE_LLAMA3) {
        if ((st = get_pos(&sub, "low_freq_factor", NAN, 1e6, &c->rope_low_freq_factor)) ||
            (st = get_pos(&sub, "high_freq_factor", NAN, 1e6, &c->rope_high_freq_factor)))
            return hw_fail(st, "%s: rope_scaling needs positive low_freq_factor and high_freq_factor",
                           j->path);
        if (!(c->rope_high_freq_factor > c->rope_low_freq_factor))
            return hw_fail(HW_ERR_FORMAT, "%s: rope_scaling.high_freq_factor must exceed low_freq_factor",
                           j->path);
    }
    return HW_OK;
}

/* GPT2LMHeadModel: learned positions, LayerNorm, Conv1D weights, GELU MLP. */
static hw_status parse_gpt2(const json_src *j, hw_config *c) {
    hw_status st;
    int scale_weights, scale_by_layer;
    if ((st = get_int(j, "n_embd", true, 0, 1, MAX_DIM, &c->d_model)) ||
        (st = get_int(j, "n_layer", true, 0, 1, HW_MAX_LAYERS, &c->n_layer)) ||
        (st = get_int(j, "n_head", true, 0, 1, MAX_DIM, &c->n_head)) ||
        (st = get_int(j, "vocab_size", true, 0, 1, HW_MAX_VOCAB, &c->vocab_size)) ||
        (st = get_int(j, "n_ctx", false, 1024, 1, HW_MAX_CONTEXT, &c->n_ctx)) ||
        (st = get_int(j, "n_positions", false, c->n_ctx, 1, HW_MAX_CONTEXT, &c->n_ctx)) ||
        (st = get_int(j, "n_inner", false, 4 * c->d_model, 1, MAX_DIM, &c->d_ff)) ||
        (st = get_pos(j, "layer_norm_epsilon", 1e-5, 1, &c->norm_eps)) ||
        (st = get_act(j, "activation_function", "gelu_new", false, &c->act)) ||
        (st = get_bool(j, "tie_word_embeddings", true, &c->tied_embeddings)) ||
        (st = get_bool(j, "scale_attn_weights", true, &scale_weights)) ||
        (st = get_bool(j, "scale_attn_by_inverse_layer_idx", false, &scale_by_layer)))
        return st;
    /* The forward always scales scores by 1/sqrt(Dh); these options change that. */
    if (!scale_weights || scale_by_layer)
        return hw_fail(HW_ERR_UNSUPPORTED, "%s: GPT-2 attention without 1/sqrt(head_dim) scaling "
                       "(scale_attn_weights false or scale_attn_by_inverse_layer_idx true)", j->path);
    if (c->d_model % c->n_head)
        return hw_fail(HW_ERR_FORMAT, "%s: n_embd %d is not a multiple of n_head %d", j->path,
                       c->d_model, c->n_head);
    strcpy(c->arch, "gpt2");
    c->n_kv_head = c->n_head;
    c->head_dim = c->d_model / c->n_head;
    c->norm = HW_NORM_LAYER;
    c->pos = HW_POS_LEARNED;
    c->rotary_frac = 0;
    c->qkv_bias = c->out_bias = c->mlp_bias = c->norm_bias = 1;
    c->parallel_residual = 0;
    return HW_OK;
}

/* GPTNeoXForCausalLM (Pythia): partial rotary, fused per-head QKV, LayerNorm. */
static hw_status parse_gpt_neox(const json_src *j, hw_config *c) {
    hw_status st;
    float base;
    if ((st = get_int(j, "hidden_size", true, 0, 1, MAX_DIM, &c->d_model)) ||
        (st = get_int(j, "num_hidden_layers", true, 0, 1, HW_MAX_LAYERS, &c->n_layer)) ||
        (st = get_int(j, "num_attention_heads", true, 0, 1, MAX_DIM, &c->n_head)) ||
        (st = get_int(j, "intermediate_size", true, 0, 1, MAX_DIM, &c->d_ff)) ||
        (st = get_int(j, "vocab_size", true, 0, 1, HW_MAX_VOCAB, &c->vocab_size)) ||
        (st = get_int(j, "max_position_embeddings", false, 2048, 1, HW_MAX_CONTEXT, &c->n_ctx)) ||
        (st = get_pos(j, "rotary_pct", 0.25, 1, &c->rotary_frac)) ||
        (st = get_pos(j, "partial_rotary_factor", c->rotary_frac, 1, &c->rotary_frac)) ||
        (st = get_pos(j, "rotary_emb_base", 10000, 1e12, &base)) ||
        (st = get_pos(j, "rope_theta", base, 1e12, &c->rope_theta)) ||
        (st = get_pos(j, "layer_norm_eps", 1e-5, 1, &c->norm_eps)) ||
        (st = get_act(j, "hidden_act", "gelu", false, &c->act)) ||
        (st = get_bool(j, "use_parallel_residual", true, &c->parallel_residual)) ||
        (st = get_bool(j, "tie_word_embeddings", false, &c->tied_embeddings)) ||
        (st = get_bool(j, "attention_bias", true, &c->qkv_bias)))
        return st;
    if (c->d_model % c->n_head)
        return hw_fail(HW_ERR_FORMAT, "%s: hidden_size %d is not a multiple of num_attention_heads %d",
                       j->path, c->d_model, c->n_head);
    strcpy(c->arch, "gpt_neox");
    c->n_kv_head = c->n_head;
    c->head_dim = c->d_model / c->n_head;
    c->norm = HW_NORM_LAYER;
    c->pos = HW_POS_ROTARY;
    c->out_bias = c->qkv_bias; /* attention_bias covers query_key_value and dense */
    c->mlp_bias = c->norm_bias = 1;
    return get_rope_scaling(j, c);
}

/* Sliding-window attention. Mistral windows every layer (4096 when the key is
 * absent, none when it is null); Qwen2 only with use_sliding_window, and then
 * only from layer max_window_layers on. */
static hw_status get_sliding_window(const json_src *j, hw_config *c, const char *arch) {
    hw_status st;
    int use = 0;
    c->sliding_window = c->sliding_window_from = 0;
    if (!strcmp(arch, "mistral")) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(j->root, "sliding_window");
        if (cJSON_IsNull(v)) return HW_OK;
        return get_int(j, "sliding_window", false, 4096, 1, 1 << 30, &c->sliding_window);
    }
    if (strcmp(arch, "qwen2")) return HW_OK;
    if ((st = get_bool(j, "use_sliding_window", false, &use)) || !use) return st;
    if ((st = get_int(j, "sliding_window", false, 4096, 1, 1 << 30, &c->sliding_window)))
        return st;
    return get_int(j, "max_window_layers", false, 28, 0, 1 << 30, &c->sliding_window_from);
}

/* Llama, Mistral, Qwen2: RMSNorm, rotary, GQA, SiLU-gated MLP. */
static hw_status parse_llama_like(const json_src *j, hw_config *c, const char *arch) {
    hw_status st;
    bool qwen2 = strcmp(arch, "qwen2") == 0, llama = strcmp(arch, "llama") == 0;
    int ctx_def = llama ? 2048 : qwen2 ? 32768 : 131072, attn_bias = 0, mlp_bias = 0;
    /* headwise's own extension: a Llama with intermediate_size 0 is attention-only
     * (no MLP and no post-attention norm), the shape of its trained organisms. */
    if ((st = get_int(j, "hidden_size", true, 0, 1, MAX_DIM, &c->d_model)) ||
        (st = get_int(j, "num_hidden_layers", true, 0, 1, HW_MAX_LAYERS, &c->n_layer)) ||
        (st = get_int(j, "num_attention_heads", true, 0, 1, MAX_DIM, &c->n_head)) ||
        (st = get_int(j, "num_key_value_heads", false, c->n_head, 1, MAX_DIM, &c->n_kv_head)) ||
        (st = get_int(j, "intermediate_size", true, 0, llama ? 0 : 1, MAX_DIM, &c->d_ff)) ||
        (st = get_int(j, "vocab_size", true, 0, 1, HW_MAX_VOCAB, &c->vocab_size)) ||
        (st = get_int(j, "max_position_embeddings", false, ctx_def, 1, HW_MAX_CONTEXT, &c->n_ctx)) ||
        (st = get_pos(j, "rms_norm_eps", 1e-6, 1, &c->norm_eps)) ||
        (st = get_pos(j, "rope_theta", 10000, 1e12, &c->rope_theta)) ||
        (st = get_pos(j, "partial_rotary_factor", 1, 1, &c->rotary_frac)) ||
        (st = get_act(j, "hidden_act", "silu", true, &c->act)) ||
        (st = get_bool(j, "tie_word_embeddings", false, &c->tied_embeddings)) ||
        (llama && (st = get_bool(j, "attention_bias", false, &attn_bias))) ||
        (llama && (st = get_bool(j, "mlp_bias", false, &mlp_bias))))
        return st;
    /* head_dim may be given, and then n_head * head_dim need not equal hidden_size. */
    int def_hd = c->d_model % c->n_head ? 0 : c->d_model / c->n_head;
    if ((st = get_int(j, "head_dim", def_hd == 0, def_hd, 1, MAX_DIM, &c->head_dim)) != HW_OK)
        return st;
    if (c->n_head % c->n_kv_head)
        return hw_fail(HW_ERR_FORMAT, "%s: num_attention_heads %d is not a multiple of "
                       "num_key_value_heads %d", j->path, c->n_head, c->n_kv_head);
    if ((st = get_sliding_window(j, c, arch)) != HW_OK) return st;
    snprintf(c->arch, sizeof c->arch, "%s", arch);
    c->norm = HW_NORM_RMS;
    c->pos = HW_POS_ROTARY;
    c->qkv_bias = qwen2 || attn_bias; /* Qwen2 always has q, k, v biases, never an o bias */
    c->out_bias = attn_bias;
    c->mlp_bias = mlp_bias;
    c->norm_bias = 0;
    c->parallel_residual = 0;
    return get_rope_scaling(j, c);
}

static const struct {
    const char *hf, *arch;
} families[] = {
    {"GPT2LMHeadModel", "gpt2"},       {"GPTNeoXForCausalLM", "gpt_neox"},
    {"LlamaForCausalLM", "llama"},     {"MistralForCausalLM", "mistral"},
    {"Qwen2ForCausalLM", "qwen2"},
};

hw_status hw_hf_config_parse(hw_config *c, const char *json, size_t len, const char *path) {
    memset(c, 0, sizeof *c);
    size_t bad;
    if (!hw_utf8_valid(json, len, &bad))
        return hw_fail(HW_ERR_FORMAT, "%s: not UTF-8 text (invalid byte at offset %zu)", path, bad);
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return hw_fail(HW_ERR_FORMAT, "%s: not a JSON object", path);
    }
    json_src j = {root, path};
    const cJSON *archs = key(&j, "architectures");
    const char *name = cJSON_GetStringValue(cJSON_IsArray(archs) ? cJSON_GetArrayItem(archs, 0) : archs);
    hw_status st;
    const char *arch = NULL;
    for (size_t i = 0; name && i < sizeof families / sizeof families[0]; i++)
        if (strcmp(name, families[i].hf) == 0) arch = families[i].arch;
    if (!name) st = hw_fail(HW_ERR_FORMAT, "%s: no architectures entry", path);
    else if (!arch)
        st = hw_fail(HW_ERR_UNSUPPORTED, "%s: architectures \"%s\" is not supported (GPT2LMHeadModel, "
                     "GPTNeoXForCausalLM, LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM)",
                     path, name);
    else {
        /* Shared defaults; each family sets what differs. */
        c->rope_layout = HW_ROPE_HALVES;
        c->rope_theta = 10000;
        c->rotary_frac = 1;
        c->rope_factor = 1;
        if (strcmp(arch, "gpt2") == 0) st = parse_gpt2(&j, c);
        else if (strcmp(arch, "gpt_neox") == 0) st = parse_gpt_neox(&j, c);
        else st = parse_llama_like(&j, c, arch);
        if (st == HW_OK && (st = get_token(&j, "bos_token_id", &c->bos_id)) == HW_OK)
            st = get_token(&j, "eos_token_id", &c->eos_id);
        if (st == HW_OK && (int64_t)c->n_head * c->head_dim > MAX_DIM)
            st = hw_fail(HW_ERR_FORMAT, "%s: n_head * head_dim is too large", path);
        /* Rotary pairs coordinates, so the rotated part of a head must be even. */
        if (st == HW_OK && c->pos == HW_POS_ROTARY && ((int)(c->head_dim * c->rotary_frac) % 2))
            st = hw_fail(HW_ERR_UNSUPPORTED, "%s: %d rotary dimensions per head (must be even)",
                         path, (int)(c->head_dim * c->rotary_frac));
    }
    cJSON_Delete(root);
    return st;
}

hw_status hw_hf_config_load(hw_config *c, const char *path) {
    hw_mapped_file f;
    hw_status st = hw_file_map(&f, path);
    if (st != HW_OK) return st;
    st = hw_hf_config_parse(c, (const char *)f.data, f.size, path);
    hw_file_unmap(&f);
    return st;
}

/*
 * headwise.h: the one public header of libheadwise.
 *
 * headwise runs pretrained transformer language models on the CPU with every
 * attention head exposed, so that heads can be found, explained, controlled and
 * exploited.
 *
 * Dimension letters used in shape comments throughout the code:
 *   V  vocabulary size            L  number of layers
 *   D  model width (d_model)      F  MLP hidden width (d_ff)
 *   H  query heads per layer      Hk key/value heads per layer (H % Hk == 0)
 *   Dh head dimension             C  context length (KV cache capacity)
 *   T  tokens in one forward call
 *
 * Conventions: every function that can fail returns hw_status (or NULL) and
 * leaves a one-line message in hw_last_error(). Nothing here calls exit() or
 * abort(). Free functions accept NULL.
 */
#ifndef HEADWISE_H
#define HEADWISE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- errors */

typedef enum {
    HW_OK = 0,
    HW_ERR_IO,          /* file missing, unreadable, or mmap failed */
    HW_ERR_FORMAT,      /* file content malformed or inconsistent */
    HW_ERR_UNSUPPORTED, /* well-formed but not something headwise handles */
    HW_ERR_ARG,         /* bad argument from the caller */
    HW_ERR_RANGE,       /* e.g. context length exceeded */
    HW_ERR_NOMEM,
} hw_status;

const char *hw_status_str(hw_status s);
/* The message of the last failure in this thread ("" if none). */
const char *hw_last_error(void);

/* Threads used by OpenMP kernels and BLAS (n <= 0: all cores). */
void hw_set_threads(int n);
int hw_get_threads(void);

/* ---------------------------------------------------------------- config */

typedef enum { HW_NORM_RMS, HW_NORM_LAYER } hw_norm_kind;
typedef enum { HW_POS_ROTARY, HW_POS_LEARNED } hw_pos_kind;
/* Which coordinates rotary embeddings rotate together: llama2.c and Meta's
 * checkpoints pair (2i, 2i+1); Hugging Face pairs (i, i + rot/2). */
typedef enum { HW_ROPE_INTERLEAVED, HW_ROPE_HALVES } hw_rope_layout;
typedef enum { HW_ROPE_SCALE_NONE, HW_ROPE_SCALE_LINEAR, HW_ROPE_SCALE_DYNAMIC,
               HW_ROPE_SCALE_LLAMA3 } hw_rope_scaling;
typedef enum { HW_ACT_SILU_GATED, HW_ACT_GELU_TANH, HW_ACT_GELU_EXACT } hw_activation;

typedef struct {
    char arch[32];          /* "llama", "gpt2", "gpt_neox", "mistral", "qwen2" */
    int n_layer;            /* L */
    int d_model;            /* D */
    int n_head;             /* H */
    int n_kv_head;          /* Hk */
    int head_dim;           /* Dh (may differ from D / H) */
    int d_ff;               /* F */
    int vocab_size;         /* V */
    int n_ctx;              /* longest context the model was trained for */
    hw_norm_kind norm;
    float norm_eps;
    hw_pos_kind pos;
    hw_rope_layout rope_layout;
    float rope_theta;
    float rotary_frac;      /* fraction of Dh that is rotated (GPT-NeoX rotary_pct) */
    hw_rope_scaling rope_scaling;
    float rope_factor;      /* scaling factor for linear/dynamic/llama3 */
    float rope_low_freq_factor, rope_high_freq_factor; /* llama3 */
    int rope_orig_ctx;      /* llama3 / dynamic: original max positions */
    hw_activation act;
    int qkv_bias;           /* bias on q, k, v projections */
    int out_bias;           /* bias on attention output projection */
    int mlp_bias;           /* bias on MLP projections */
    int norm_bias;          /* LayerNorm has a bias */
    int parallel_residual;  /* GPT-NeoX: x + attn(ln1 x) + mlp(ln2 x) */
    int sliding_window;     /* > 0: a query sees itself and the window-1 positions before */
    int sliding_window_from;/* first layer with the window (Qwen2's max_window_layers) */
    int tied_embeddings;    /* classifier shares the token embedding */
    int bos_id, eos_id;     /* -1 if unknown */
} hw_config;

/* ---------------------------------------------------------------- model */

typedef struct hw_model hw_model;

/* Load a model: a llama2.c checkpoint (.bin, legacy or versioned header).
 * Weights are mmap'd; every size is checked against the file first. */
hw_model *hw_model_load(const char *path);
void hw_model_free(hw_model *m);
const hw_config *hw_model_config(const hw_model *m);

typedef struct {
    const char *format;     /* "llama2.c v0 (legacy)", "llama2.c v1 fp32", ... */
    const char *dtype;      /* storage of the matrices: "f32", "q8_0" */
    int64_t n_params;       /* parameters, counting a shared classifier once */
    int64_t file_bytes;     /* bytes of the model file(s) */
    int64_t weight_bytes;   /* bytes of weights read by one decode step */
} hw_model_info;
void hw_model_get_info(const hw_model *m, hw_model_info *out);

/* ---------------------------------------------------------------- context */

/* A context is one run's state: KV cache and scratch, sized once. */
typedef struct hw_context hw_context;

hw_context *hw_context_new(const hw_model *m, int n_ctx /* <= 0: model's n_ctx */);
void hw_context_free(hw_context *c);
int hw_context_pos(const hw_context *c);   /* tokens already in the cache */
int hw_context_size(const hw_context *c);  /* C */
void hw_context_reset(hw_context *c);      /* forget all cached tokens */

typedef enum {
    HW_LOGITS_NONE,  /* fill the cache only */
    HW_LOGITS_LAST,  /* logits (V) of the last token */
    HW_LOGITS_ALL,   /* logits (T, V) of every token */
} hw_logits_mode;

/* Run T tokens at positions pos..pos+T-1 (pos = hw_context_pos) and append
 * them to the cache. T > 1 uses matrix-matrix products (prefill); T == 1 is
 * the one-token decode path. Fails with HW_ERR_RANGE, changing nothing, if the
 * tokens do not fit in the context. */
hw_status hw_forward(hw_context *c, const int *tokens, int T,
                     hw_logits_mode mode, float *logits);

/* ---------------------------------------------------------------- tokenizer */

typedef struct hw_tokenizer hw_tokenizer;

/* Load a tokenizer. path is one of:
 *   a llama2.c tokenizer.bin holding vocab_size pieces (vocab_size <= 0: every
 *     piece in the file; a file with more pieces is read up to vocab_size, as
 *     llama2.c does);
 *   a Hugging Face tokenizer.json with a BPE model: byte-level (GPT-2, Pythia,
 *     Llama-3, Qwen2) or SentencePiece-style with byte fallback (Llama-2,
 *     TinyLlama, Mistral); vocab_size is ignored;
 *   GPT-2's encoder.json, with vocab.bpe beside it;
 *   a folder holding tokenizer.json, encoder.json + vocab.bpe, or
 *     tokenizer.bin (tried in that order).
 * A tokenizer.json's added tokens are matched in the text before anything
 * else, as Hugging Face tokenizers does; BOS/EOS come from tokenizer_config.json
 * beside it, else its post-processor template, else the usual names. */
hw_tokenizer *hw_tokenizer_load(const char *path, int vocab_size);
void hw_tokenizer_free(hw_tokenizer *t);
int hw_tokenizer_vocab_size(const hw_tokenizer *t);
int hw_tokenizer_bos(const hw_tokenizer *t);
int hw_tokenizer_eos(const hw_tokenizer *t);

enum { HW_TOK_BOS = 1, HW_TOK_EOS = 2 };
/* Encode UTF-8 text; flags add BOS/EOS where the tokenizer has them (bos/eos
 * >= 0; Qwen2 has no BOS). Writes at most max_ids ids and returns the number
 * the text needs (which may exceed max_ids), or -1 on error. */
int hw_tokenizer_encode(const hw_tokenizer *t, const char *text, int flags,
                        int *ids, int max_ids);
/* The bytes that token id prints as when it follows prev_id: byte tokens
 * <0xNN> and byte-level pieces become their bytes, and for SentencePiece-style
 * tokenizers the space put before the text is stripped after BOS or at the
 * start (prev_id < 0). The bytes are not NUL-terminated and live as long as t.
 * Returns NULL (len 0) for an id outside the vocabulary. */
const char *hw_tokenizer_decode(const hw_tokenizer *t, int prev_id, int id, size_t *len);

/* ---------------------------------------------------------------- sampling */

typedef struct {
    float temperature;      /* 0: greedy (argmax) */
    float top_p;            /* nucleus threshold in (0, 1]; 1: off */
    uint64_t seed;
} hw_sampler_params;
hw_sampler_params hw_sampler_params_default(void);

typedef struct hw_sampler hw_sampler;
hw_sampler *hw_sampler_new(int vocab_size, hw_sampler_params p);
void hw_sampler_free(hw_sampler *s);
/* Pick the next token from logits (V); logits may be overwritten. */
int hw_sampler_sample(hw_sampler *s, float *logits);

/* ---------------------------------------------------------------- generation */

/* Called with each generated token's printable bytes; return non-zero to stop. */
typedef int (*hw_piece_fn)(const char *piece, size_t len, void *user);

typedef struct {
    int n_steps;            /* total positions to run, prompt included */
    hw_sampler_params sampler;
} hw_generate_params;
hw_generate_params hw_generate_params_default(void);

/* Encode prompt (with BOS), prefill it, then sample until n_steps positions,
 * BOS or EOS, or the end of the context. The prompt's pieces, then each new token's,
 * go to fn as they are made. */
hw_status hw_generate(const hw_model *m, const hw_tokenizer *t, const char *prompt,
                      hw_generate_params p, hw_piece_fn fn, void *user);

#ifdef __cplusplus
}
#endif
#endif /* HEADWISE_H */

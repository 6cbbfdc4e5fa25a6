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
#include <stdio.h>

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

/* Threads of headwise's pool and OpenMP kernels (n <= 0: all cores). headwise shares
 * every matrix product out itself, in blocks fixed by the product's shape, so results
 * do not depend on the thread count; OpenBLAS is set to one thread (process-wide) at
 * every product headwise starts. */
void hw_set_threads(int n);
int hw_get_threads(void);

/* The index of the largest of x[0..n), the first on ties (0 when n <= 0). Every greedy
 * choice in headwise is this one. */
int hw_argmax(const float *x, int n);

/* Progress of a long method (every hw_*_run takes one, NULL for none): called as work
 * advances with what is being done, units done and the total (0: unknown). Return
 * non-zero to stop: the method then fails with HW_ERR_ARG ("stopped by the caller")
 * and leaves any file it keeps (a resume log) consistent. */
typedef int (*hw_progress_fn)(const char *stage, int64_t done, int64_t total, void *user);

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

/* Load a model: a llama2.c checkpoint (.bin, legacy or versioned header) or a Hugging
 * Face folder (config.json + safetensors). Weights are mmap'd; every size is checked
 * against the file first. Its tokenizer, found where the model keeps it:
 * hw_tokenizer_load_for_model (tokenizer section). */
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

/* Write m as a Hugging Face Llama folder dir (created if missing): config.json
 * (model_type llama, rotary in Hugging Face's halves layout, "intermediate_size": 0
 * for an attention-only model) and model.safetensors (F32), each atomically.
 * Models with what a Llama config cannot say (LayerNorm, biases, learned
 * positions, quantised matrices, ...) fail with HW_ERR_UNSUPPORTED. */
hw_status hw_model_save_hf(const hw_model *m, const char *dir);

/* ---------------------------------------------------------------- context */

/* A context is one run's state: KV cache and scratch, sized once. */
typedef struct hw_context hw_context;

hw_context *hw_context_new(const hw_model *m, int n_ctx /* <= 0: model's n_ctx */);
void hw_context_free(hw_context *c);
int hw_context_pos(const hw_context *c);   /* tokens already in the cache */
int hw_context_size(const hw_context *c);  /* C */
const hw_model *hw_context_model(const hw_context *c);
void hw_context_reset(hw_context *c);      /* forget all cached tokens */

/* ---------------------------------------------------------------- KV-cache policies */

/* Which positions each (layer, KV head) keeps, chosen when a context is made
 * (methods.md sections 2-3). A "full" head keeps every position. A "streaming" head
 * keeps the first `sink` positions and a ring of the last `recent` (the current token
 * counted): its cache really is sink + recent (+1) entries. Prefill runs in chunks of
 * `chunk` rows with DuoAttention's semantics: a streaming head's query sees the sinks,
 * the recent - 1 positions before its chunk and every earlier row of its own chunk, so
 * what it sees in prefill depends on the chunk size; decode steps see exactly sink +
 * recent. RazorAttention's compensation token summarises every position a streaming
 * head dropped as the mean of their keys and of their values; "weighted" lets it stand
 * for the N_d positions it replaces (its score + ln N_d), "mean" is one ordinary entry.
 * The models' own sliding windows (Mistral, Qwen2) use the same ring, with the exact
 * window per query. */
typedef enum { HW_KV_COMP_NONE, HW_KV_COMP_MEAN, HW_KV_COMP_WEIGHTED } hw_kv_compensation;
typedef struct hw_kv_policy hw_kv_policy;
/* Every KV head of m streaming with these sizes (sink >= 0, recent >= 1), or, with
 * recent == 0, every head full (the "full" policy). chunk: prefill rows per pass (0:
 * the engine's default, 512). */
hw_kv_policy *hw_kv_policy_new(const hw_model *m, int sink, int recent, int chunk,
                               hw_kv_compensation comp);
hw_kv_policy *hw_kv_policy_copy(const hw_kv_policy *p);
void hw_kv_policy_free(hw_kv_policy *p);
/* Make (layer, kv_head) full (1) or streaming (0). */
hw_status hw_kv_policy_set_full(hw_kv_policy *p, int layer, int kv_head, int full);
int hw_kv_policy_is_full(const hw_kv_policy *p, int layer, int kv_head);
int hw_kv_policy_full_count(const hw_kv_policy *p);  /* KV heads full */
int hw_kv_policy_layers(const hw_kv_policy *p);      /* L */
int hw_kv_policy_kv_heads(const hw_kv_policy *p);    /* Hk */
int hw_kv_policy_sink(const hw_kv_policy *p);
int hw_kv_policy_recent(const hw_kv_policy *p);
int hw_kv_policy_chunk(const hw_kv_policy *p);
hw_kv_compensation hw_kv_policy_compensation(const hw_kv_policy *p);
/* A name for reports, e.g. the --kv text it was made from (copied; default "full" or
 * "window"). */
hw_status hw_kv_policy_set_name(hw_kv_policy *p, const char *name);
const char *hw_kv_policy_name(const hw_kv_policy *p);
/* A context whose cache follows p (copied; NULL: every head full, as hw_context_new).
 * Fails if p was made for another shape of model. */
hw_context *hw_context_new_kv(const hw_model *m, int n_ctx, const hw_kv_policy *p);
/* LongHeads (methods.md section 4): every head of every layer keeps every position and
 * reads at most heads_len (A) of them, chosen per KV head in chunks of chunk_w (W)
 * tokens, so that no head sees a rotary distance beyond A. Per completed chunk and
 * query head, an attention-pooled chunk key (chunk-local rotary, non-causal attention
 * inside the chunk, the mean output as the pooling query), computed once. A query at
 * position i < A attends causally with its true positions (the full attention, bit for
 * bit). At i >= A, decode or prefill alike, its KV head reads chunk 0, the chunk before
 * i's, i's own chunk up to i, and the A/W - 3 other earlier chunks of highest score,
 * the score of a chunk being the sum over the KV head's query group of un-rotated q .
 * chunk key (the paper's code is MHA only, where the group is the head); the chunks in
 * index order get the contiguous positions 0..n-1 (n <= A) and the query n - 1, its own
 * key counted (the paper's prefill code truncates before it: an off-by-one not kept).
 * Keys are also cached without rotary, and the queries of the current chunk: the
 * context holds about 1.5 times the full cache. chunk_w <= 0: A / 16; heads_len <= 0:
 * the model's n_ctx (the paper's W = 256, A = 4096 for a 4K model); chunk: prefill
 * rows per pass as above. Rotary models without their own sliding window only. Hooks
 * asking for hook_attn_scores or hook_pattern get HW_ERR_UNSUPPORTED once a query is
 * past A (its scores are over re-indexed keys, not the (H, T, P) positions).
 * score: HW_LONGHEADS_POOLED is the paper's chunk key; HW_LONGHEADS_MAX (not the
 * paper's) scores a chunk by the largest un-rotated q . k over its keys instead (summed
 * over the group likewise): exact where a pooled key blurs one salient token among W,
 * but a dot product per cached key per step, as full attention's scores cost, so not
 * linear time; no chunk keys are kept. */
typedef enum { HW_LONGHEADS_POOLED, HW_LONGHEADS_MAX } hw_longheads_score;
hw_kv_policy *hw_kv_policy_new_longheads(const hw_model *m, int chunk_w, int heads_len,
                                         int chunk, hw_longheads_score score);
/* 1 if p is a LongHeads policy (its W, A and score into the pointers that are not NULL). */
int hw_kv_policy_longheads(const hw_kv_policy *p, int *chunk_w, int *heads_len,
                           hw_longheads_score *score);
/* The positions generation and the CLI let a run under p reach: the model's context,
 * or with LongHeads (rotary models only) any length, which is what it is for. */
int hw_kv_policy_max_positions(const hw_model *m, const hw_kv_policy *p);
/* Bytes of KV cache (keys and values, compensation entry included) the context holds for
 * (layer, kv_head); kv_head < 0: the layer's heads; layer < 0: every layer. */
size_t hw_context_kv_bytes(const hw_context *c, int layer, int kv_head);
/* The policy c was made with (NULL: every head full). */
const hw_kv_policy *hw_context_kv_policy(const hw_context *c);

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

/* ---------------------------------------------------------------- hooks */

/* Hook points, named as TransformerLens names them. Each has one axis order,
 * fixed whatever flags or interventions are in use. T is the number of tokens
 * in the forward call, `pos` the position of its first one, P = pos + T the
 * keys each head can see (keys outside a query's causal or sliding window are
 * -inf in the scores and 0 in the pattern). Per layer unless marked global. */
typedef enum {
    HW_HOOK_EMBED,       /* hook_embed (global)              (T, D) token embeddings */
    HW_HOOK_POS_EMBED,   /* hook_pos_embed (global)          (T, D) learned positions only */
    HW_HOOK_RESID_PRE,   /* blocks.L.hook_resid_pre          (T, D) */
    HW_HOOK_Q,           /* blocks.L.attn.hook_q             (T, H, Dh) before rotary */
    HW_HOOK_K,           /* blocks.L.attn.hook_k             (T, Hk, Dh) before rotary */
    HW_HOOK_V,           /* blocks.L.attn.hook_v             (T, Hk, Dh) */
    HW_HOOK_ROT_Q,       /* blocks.L.attn.hook_rot_q         (T, H, Dh) rotary models only */
    HW_HOOK_ROT_K,       /* blocks.L.attn.hook_rot_k         (T, Hk, Dh) rotary models only;
                          * what enters the KV cache */
    HW_HOOK_ATTN_SCORES, /* blocks.L.attn.hook_attn_scores   (H, T, P) q.k / sqrt(Dh) */
    HW_HOOK_PATTERN,     /* blocks.L.attn.hook_pattern       (H, T, P) softmax of the scores */
    HW_HOOK_Z,           /* blocks.L.attn.hook_z             (T, H, Dh) before W_O */
    HW_HOOK_RESULT,      /* blocks.L.attn.hook_result        (T, H, D) each head after W_O
                          * (bias not included; costs H matmuls, so only when asked) */
    HW_HOOK_ATTN_OUT,    /* blocks.L.hook_attn_out           (T, D) */
    HW_HOOK_RESID_MID,   /* blocks.L.hook_resid_mid          (T, D) not in parallel-residual models */
    HW_HOOK_MLP_POST,    /* blocks.L.mlp.hook_post           (T, F) after the activation */
    HW_HOOK_MLP_OUT,     /* blocks.L.hook_mlp_out            (T, D) */
    HW_HOOK_RESID_POST,  /* blocks.L.hook_resid_post         (T, D) */
    HW_HOOK_LN_FINAL,    /* ln_final.hook_normalized (global) (T, D) every row, whatever logits mode */
    HW_HOOK_LOGITS,      /* hook_logits (global)             (T, V) every row, whatever logits mode */
    HW_HOOK_COUNT
} hw_hook_point;

/* One visit of a hook point. The engine first calls each hook with ask = 1 and
 * data = NULL (shape filled in); only if some hook returns non-zero is the
 * tensor materialised, and every hook that said yes is then called with
 * ask = 0 and data, which it may read or edit in place. */
typedef struct {
    hw_hook_point point;
    int layer;             /* -1 for global points */
    int ask;
    int pos, T;            /* first position and number of tokens in this call */
    int decode;            /* 1 in a decode step: T == 1 and pos > 0 */
    int ndim, shape[3];
    float *data;           /* NULL when asking */
    const hw_model *model;
} hw_hook_call;
/* Asked (ask = 1): return non-zero to want the tensor. Called (ask = 0): return
 * non-zero to stop the run with an error (hw_forward_hooked returns HW_ERR_ARG; a
 * context with streaming heads is then to be reset before it is used again). */
typedef int (*hw_hook_fn)(hw_hook_call *call, void *user);

typedef struct hw_hooks hw_hooks;
hw_hooks *hw_hooks_new(void);
/* Frees the hooks and what the intervention helpers below allocated (not captures). */
void hw_hooks_free(hw_hooks *h);
/* Hooks run in the order they were added. */
hw_status hw_hooks_add(hw_hooks *h, hw_hook_fn fn, void *user);

/* hw_forward with hooks; they last for this call only. hooks may be NULL. */
hw_status hw_forward_hooked(hw_context *c, const int *tokens, int T, hw_logits_mode mode,
                            float *logits, const hw_hooks *hooks);

/* "blocks.3.attn.hook_pattern" <-> (HW_HOOK_PATTERN, 3). Global points have layer -1.
 * hw_hook_parse fails (HW_ERR_ARG) on an unknown name or a layer out of range. */
hw_status hw_hook_parse(const hw_model *m, const char *name, hw_hook_point *point, int *layer);
/* Writes the name into buf (at most n bytes, NUL-terminated); returns its length. */
int hw_hook_name(char *buf, size_t n, hw_hook_point point, int layer);

/* ---------------------------------------------------------------- heads */

typedef struct { int layer, head; } hw_head;   /* head: a query-head index */
/* The KV head a query head reads: head / (H / Hk). */
int hw_kv_head(const hw_config *cfg, int q_head);
/* Parse "3.1,4.0" into heads (at most max); returns the count or -1 (error set)
 * if malformed or out of range for m. */
int hw_heads_parse(const hw_model *m, const char *text, hw_head *heads, int max);

/* ---------------------------------------------------------------- captures */

/* Copies of hook tensors taken during runs. Each visit of a wanted point is kept
 * as one entry, in order (a prefill and each decode step are separate visits). */
typedef struct hw_capture hw_capture;
typedef struct {
    hw_hook_point point;
    int layer, pos, T, decode, ndim, shape[3];
    const float *data;
} hw_capture_entry;
hw_capture *hw_capture_new(void);
void hw_capture_free(hw_capture *cap);
/* Capture this point (layer < 0: every layer; ignored for global points). */
hw_status hw_capture_want(hw_capture *cap, hw_hook_point point, int layer);
hw_status hw_hooks_add_capture(hw_hooks *h, hw_capture *cap);
int hw_capture_count(const hw_capture *cap);
const hw_capture_entry *hw_capture_get(const hw_capture *cap, int i);
/* The entry for (point, layer, pos), or NULL. */
const hw_capture_entry *hw_capture_find(const hw_capture *cap, hw_hook_point point,
                                        int layer, int pos);
void hw_capture_clear(hw_capture *cap);   /* forget entries, keep what is wanted */
/* Capture the point named name (as hw_hook_parse reads it), or with "blocks.*.NAME"
 * that point in every layer; HW_ERR_ARG naming the point if m has no such point. */
hw_status hw_capture_want_name(hw_capture *cap, const hw_model *m, const char *name);

/* ---------------------------------------------------------------- interventions */

/* When an intervention acts. A decode step is a call with T == 1 and pos > 0;
 * every other call is prefill. */
typedef enum { HW_PHASE_BOTH, HW_PHASE_PREFILL, HW_PHASE_DECODE } hw_phase;

/* Head interventions, each added as a hook (heads are copied):
 *   mask_uniform: the heads' pre-softmax scores set to 0 inside the causal
 *                 window, so they attend uniformly (Retrieval Head masking);
 *   zero_output:  the heads' z set to 0;
 *   scale:        the heads' z (equivalently their value vectors) times s;
 *   mean_ablate:  the heads' z replaced by mean_z (L, H, Dh), see hw_mean_z. */
hw_status hw_hooks_mask_uniform(hw_hooks *h, const hw_head *heads, int n, hw_phase phase);
hw_status hw_hooks_zero_output(hw_hooks *h, const hw_head *heads, int n, hw_phase phase);
hw_status hw_hooks_scale(hw_hooks *h, const hw_head *heads, int n, float s, hw_phase phase);
/* mean_z is kept by pointer, not copied: it must outlive the runs. */
hw_status hw_hooks_mean_ablate(hw_hooks *h, const hw_head *heads, int n, const float *mean_z,
                               hw_phase phase);
/* mean_z (L, H, Dh): every head's z averaged over all positions of n token
 * sequences (each run from an empty cache). */
hw_status hw_mean_z(const hw_model *m, const int *const *seqs, const int *lens, int n,
                    float *mean_z);
/* Activation patching: at `point` of `layer` (-1: every layer), replace the tensor
 * by the entry of src captured at the same point, layer and pos (same shape);
 * a visit with no such entry fails the run. src must outlive the runs. */
hw_status hw_hooks_patch(hw_hooks *h, hw_hook_point point, int layer, const hw_capture *src,
                         hw_phase phase);

/* ---------------------------------------------------------------- needle in a haystack */

/* Needle-in-a-haystack trials as the Retrieval Head protocol builds them (methods.md
 * section 1.2, src/eval/niah.c): the haystack repeated and cut to each context length
 * less a buffer and the needle, the needle inserted at each depth after the nearest
 * earlier sentence end, then the question. One trial per (needle, length, depth), in
 * that nesting order. */
typedef struct hw_tokenizer hw_tokenizer;   /* see "tokenizer" below */
typedef struct {
    /* JSON lines {"needle", "question", "real_needle"} (real_needle: the answer span);
     * NULL: the paper's San Francisco needle. */
    const char *needles_path;
    /* Haystack text files, concatenated in order; n_haystacks 0: the default haystack
     * (hw_niah_default_haystack). */
    const char *const *haystack_paths;
    int n_haystacks;
    /* Where the default haystack is looked for first: DATA_DIR/haystack/stories.txt;
     * NULL: see hw_niah_default_haystack. */
    const char *data_dir;
    /* The prompt around {context} and {question}; NULL: the paper's
     * "{context}Based on the content of the book, Question: {question}\nAnswer:". */
    const char *template_text;
    /* Context lengths round(linspace(length_min, length_max, n_lengths)) in tokens
     * (repeats dropped); n_lengths 0 (default): the paper's 1000..50000 in 20 steps
     * kept within the model's context (max = min(50000, C), min = min(1000, max / 4)). */
    int length_min, length_max, n_lengths;
    int n_depths;   /* depths round(linspace(0, 100, n_depths)) percent (default 10) */
    int buffer;     /* tokens kept free of haystack in each length, at most half (default 200) */
    int max_new;    /* decode steps a trial may take (default 50); the grid must leave room */
} hw_niah_params;
hw_niah_params hw_niah_params_default(void);
/* "A:B:N" into length_min, length_max and n_lengths (HW_ERR_ARG if malformed). */
hw_status hw_niah_parse_lengths(const char *text, hw_niah_params *p);
/* The default haystack's path into out (cap bytes): the first readable of
 * DATA_DIR/haystack/stories.txt (data_dir may be NULL), $HEADWISE_DATA/haystack/
 * stories.txt, then DIR/data/haystack/stories.txt and
 * DIR/share/headwise/haystack/stories.txt for DIR each of the three folders above the
 * library's own file (libheadwise.so, or the program it is linked into: build/rel/x ->
 * the source tree's data/) and then above the running program. HW_ERR_IO if none. */
hw_status hw_niah_default_haystack(const char *data_dir, char *out, size_t cap);

typedef struct hw_niah hw_niah;
/* Read the needles and haystacks, tokenize them once with t, and check the whole grid:
 * every length x needle must leave room for the haystack and fit the model's context
 * with max_new new tokens; else NULL with one error naming the first bad trial. */
hw_niah *hw_niah_new(const hw_model *m, const hw_tokenizer *t, const hw_niah_params *p);
void hw_niah_free(hw_niah *n);
int hw_niah_trial_count(const hw_niah *n);      /* needles x lengths x depths */
int hw_niah_needle_count(const hw_niah *n);
int hw_niah_max_new(const hw_niah *n);
/* Trial i's needle index, context length (tokens) and depth (percent). */
hw_status hw_niah_trial_key(const hw_niah *n, int i, int *needle, int *length, int *depth);
/* Trial i's prompt (malloc'd into *prompt, BOS first where the model has one) and the
 * needle's answer span [*span_start, *span_end) in it (-1, -1 if not found); returns
 * the prompt's length or -1 (error set). */
int hw_niah_trial_prompt(const hw_niah *n, int i, int **prompt, int *span_start, int *span_end);
/* A needle's answer (real_needle) as text and as tokens (count in *n_ids), or NULL. */
const char *hw_niah_answer(const hw_niah *n, int needle);
const int *hw_niah_answer_ids(const hw_niah *n, int needle, int *n_ids);

/* LongHeads' passkey retrieval (methods.md section 4, "Protocol"; src/eval/niah.c): the
 * lines "There is an important info hidden inside a lot of irrelevant text. Find it and
 * memorize them. I will quiz you about the important information there.", garbage (the
 * sentences "The grass is green. The sky is blue. The sun is yellow. Here we go. There
 * and back again." repeated, joined by spaces), the key line "The pass key is N.
 * Remember it. N is the pass key.", garbage again from its start, and "What is the pass
 * key? The pass key is", joined by newlines, after BOS where the model has one. Made in
 * tokens so that a prompt has exactly the asked length: every part is tokenized as it
 * follows the text before it (the tokens of context + part less those of context), so
 * SentencePiece's dummy space comes only at the start and GPT-2 keeps the space on a
 * part's first word, and the garbage is its sentences' tokens repeated (checked to be
 * the tokenization of the repeated text). The key line goes at depth percent of the
 * garbage tokens, moved back after the nearest earlier sentence end (as the text
 * trials' needle); depth 100 puts it right before the question. The answer is " N" as
 * the continuation of the question (for SentencePiece the digits with the space piece
 * "▁" or a "▁N.." piece, as the reference's tokenizer(str(N))[1:] gives; for GPT-2
 * " N.." pieces); exact = the greedy tokens equal it. */
typedef struct hw_passkey hw_passkey;
/* Tokenize the fixed parts with t; NULL (error set) if t merges tokens across them. */
hw_passkey *hw_passkey_new(const hw_model *m, const hw_tokenizer *t);
void hw_passkey_free(hw_passkey *p);
/* Sample `sample`'s passkey from the stream `seed`: uniform in [1, 50000]. */
int hw_passkey_key(uint64_t seed, int sample);
/* The prompt's tokens with no garbage for passkey key (the shortest length), or -1. */
int hw_passkey_min_length(const hw_passkey *p, int key);
/* The prompt of `length` tokens with key at depth (percent, 0..100) into *prompt
 * (malloc'd, length ids), the key line's tokens [*key_start, *key_end) (its newlines
 * included; either may be NULL); returns length, or -1 (error set: a length below
 * hw_passkey_min_length, HW_ERR_RANGE). */
int hw_passkey_prompt(const hw_passkey *p, int length, int depth, int key, int **prompt, int *key_start,
                      int *key_end);
/* The answer's tokens for key (the continuation " N" of the question) into *ids
 * (malloc'd); their count, or -1. */
int hw_passkey_answer(const hw_passkey *p, int key, int **ids);

/* ---------------------------------------------------------------- needle-in-a-haystack grid */

/* The needle-in-a-haystack grid under a KV-cache policy (src/eval/niah_grid.c; methods.md
 * sections 1.2 and 2.4), `headwise niah`: every trial of a lengths x depths grid run
 * greedily in a context made by hw_context_new_kv with the policy, and per cell the
 * exact-match rate and the mean ROUGE-1 recall (the Retrieval Head paper's measure) and
 * ROUGE-1 F (DuoAttention's NIAH figures, which print it x 10). A trial's prompt is
 * prefilled in chunks of the policy's chunk (hw_kv_policy_chunk; 0: the engine's 512),
 * then its answer decoded one token per step. With DuoAttention's semantics a streaming
 * head sees every earlier row of its own chunk, so a prompt that fits in one chunk is
 * full attention for it and only the decode steps see sink + recent: pick a chunk below
 * the lengths to stream the prefill too. Two sources of trials:
 *   text: the trials of niah (hw_niah_new: needles, haystacks, template, buffer); a trial
 *         decodes up to niah.max_new tokens, stopping after a newline, EOS or BOS; exact
 *         means ROUGE-1 recall 1 (every answer word generated);
 *   task: (task != NULL) a synthetic task's held-out samples, the task scored by greedy
 *         answers (hw_task_is_greedy: retrieval): at each length a task of that seq_len
 *         generates the haystack, the needle at each depth (hw_task_params.depth =
 *         depth / 100), `samples` per cell from the stream `seed` (sample k of every cell
 *         has the same key and values); the prompt is the sample up to its answer, which
 *         is decoded for as many tokens as it has (stopping at EOS or BOS); exact means
 *         every answer token right, ROUGE-1 compares the answer's symbols as words;
 *   passkey: (passkey != 0; needs a tokenizer) LongHeads' passkey retrieval (hw_passkey):
 *         `samples` passkeys per cell from the stream `seed` (sample k of every cell has
 *         the key hw_passkey_key(seed, k)), each prompt exactly the cell's length with
 *         the key line at its depth; the answer's tokens (hw_passkey_answer) greedily
 *         decoded for as many steps (stopping at EOS); exact means every one right,
 *         ROUGE-1 compares the number with the decoded text.
 * All take the grid from niah: lengths round(linspace(length_min, length_max,
 * n_lengths)) (n_lengths 0: text the paper's 1000..50000 kept within the model's
 * context, task and passkey round(linspace(C / 2, C, 4)), a learned-position model's
 * passkey lengths less the longest answer) and depths round(linspace(0, 100,
 * n_depths)). Every length must fit the model's context (C) with its answer, checked
 * before any run; task and passkey trials on a rotary model may go past it (what a
 * LongHeads cache is measured by). */
typedef struct {
    const hw_kv_policy *kv;     /* the cache of every trial (not copied); NULL: every head full */
    hw_niah_params niah;        /* the grid; the text trials */
    const char *task;           /* a task's name, or NULL (default): text trials */
    int samples;                /* task: samples per cell (default 10) */
    uint64_t seed;              /* task: the held-out stream (default 12345) */
    int n_symbols;              /* task: its symbols (0, default: the task's own) */
    int n_needles;              /* task retrieval: needles per sequence (0, default: the
                                 * task's own, one per 128 tokens from 256 on) */
    const char *label;          /* the model's name in reports (NULL: "model") */
    int passkey;                /* non-zero: passkey trials (task must be NULL; the
                                 * text-trial fields of niah unused) */
} hw_niah_grid_params;
hw_niah_grid_params hw_niah_grid_params_default(void);
typedef struct hw_niah_grid_result hw_niah_grid_result;
/* Run the grid. Progress (may be NULL) is called after every trial with a line naming it
 * and its scores, trials done and the total; a non-zero return stops the run
 * (HW_ERR_ARG). */
hw_status hw_niah_grid_run(const hw_model *m, const hw_tokenizer *t, const hw_niah_grid_params *p,
                           hw_progress_fn progress, void *user, hw_niah_grid_result **out);
void hw_niah_grid_result_free(hw_niah_grid_result *r);
/* The grid's context lengths (tokens) and depths (percent), and their counts. */
int hw_niah_grid_result_lengths(const hw_niah_grid_result *r, const int **lengths);
int hw_niah_grid_result_depths(const hw_niah_grid_result *r, const int **depths);
/* Cell (length index li, depth index di): its trials, exact-match rate and mean ROUGE-1
 * recall and F (each in [0, 1]; any output may be NULL). */
hw_status hw_niah_grid_result_cell(const hw_niah_grid_result *r, int li, int di, int *trials,
                                   double *exact, double *rouge1_recall, double *rouge1_f);
/* The same over every trial. */
void hw_niah_grid_result_overall(const hw_niah_grid_result *r, int *trials, double *exact,
                                 double *rouge1_recall, double *rouge1_f);
/* KV-cache bytes of a context of lengths[li] tokens under the policy, and (*full, may be
 * NULL) with every head full (hw_context_kv_bytes); 0 outside the grid. */
size_t hw_niah_grid_result_kv_bytes(const hw_niah_grid_result *r, int li, size_t *full);
const char *hw_niah_grid_result_policy(const hw_niah_grid_result *r);   /* its name */
int hw_niah_grid_result_chunk(const hw_niah_grid_result *r);            /* prefill rows per pass */
/* One trial of a run, as the JSON's trial_results hold it. */
typedef struct {
    int length, depth;          /* tokens, percent */
    int item;                   /* the needle (text trials) or the sample (task, passkey) */
    int passkey, key_position;  /* passkey trials: the number and the key line's first
                                 * token (else 0 and -1) */
    int exact;                  /* 1: an exact answer */
    double rouge1_recall, rouge1_f;
    const char *answer;         /* the generated text; lives as long as the result */
} hw_niah_trial;
/* Trial i (0 to the overall trial count - 1, in the order they ran) into *out. */
hw_status hw_niah_grid_result_trial(const hw_niah_grid_result *r, int i, hw_niah_trial *out);
/* JSON, atomically: {"model", "policy": {name, sink, recent, chunk, compensation,
 * full_kv_heads, kv_heads}, "prefill", "source": {"kind": "text"|"task"|"passkey", ...},
 * "lengths", "depths", "kv_bytes", "kv_bytes_full" (per length), "trials", "exact",
 * "rouge1_recall", "rouge1_f" ([depth][length]), "overall", "trial_results": [{length,
 * depth, item, exact, rouge1_recall, rouge1_f, answer}]} (item: needle or sample;
 * passkey trials add "passkey", the number, and "key_position", the key line's first
 * token). */
hw_status hw_niah_grid_result_write(const hw_niah_grid_result *r, const char *path);
/* The heatmap as one self-contained HTML page, atomically: context length across, depth
 * down, red (0) to green (1) with a legend, the titles naming the model, the policy and
 * its KV bytes against full attention at the longest length; each cell's value printed
 * (in percent) and every measure on hover; ROUGE-1 F shown first (DuoAttention's
 * figure), exact match and ROUGE-1 recall a click away. */
hw_status hw_niah_grid_result_write_html(const hw_niah_grid_result *r, const char *path);
/* The grid as text tables (exact match and ROUGE-1 F in percent, depths down, lengths
 * across) with the policy, its KV bytes and the overall scores. */
void hw_niah_grid_result_print(const hw_niah_grid_result *r, FILE *f);

/* ---------------------------------------------------------------- head scores */

/* The arithmetic of the head-finding methods (methods.md sections 1, 3.1, 5, 6, 9),
 * on tensors the caller captured; the commands `headwise score ...` run the probes.
 * Scores are per query head, (L, H) layer-major, unless a name says kv. */

/* Retrieval Head (section 1.1): the first window of n_answer prompt tokens whose
 * token set holds more than 90% of the answer's token set (the paper's code locates
 * the needle this way). Sets [*start, *end) and returns 1, or sets both to -1 and
 * returns 0 when no window matches, or -1 (error set) when out of memory. */
int hw_needle_span(const int *prompt, int n_prompt, const int *answer, int n_answer,
                   int *start, int *end);
/* Retrieval Head (section 1.1): one decode step. pattern (H, P) is each head's
 * attention row of the new query over P keys; a head copy-pastes when its top-1 key
 * (the first one on ties) lies in [start, end) and holds `generated`, the token this
 * step emits. Adds 1 / (end - start) to score[h] for each such head; a token emitted
 * twice counts twice, as in the paper's code. Returns how many heads copied. */
int hw_retrieval_step(double *score, const float *pattern, int H, int P, const int *ids,
                      int n_ids, int start, int end, int generated);

/* ROUGE-1 recall of candidate against reference (0..1), as Google's rouge_score
 * computes it with use_stemmer=True: lower case, non-alphanumerics as spaces, the
 * Porter stemmer (NLTK's flavour) on words longer than 3 letters, clipped unigram
 * counts. Returns 0 for an empty reference. */
double hw_rouge1_recall(const char *reference, const char *candidate);
/* The Porter stem of a lower-case ASCII word, as NLTK's PorterStemmer; writes at most
 * n bytes (NUL-terminated) and returns the stem's length. */
int hw_porter_stem(const char *word, char *out, size_t n);

/* RazorAttention (section 3.1): echo and induction scores of every head from the
 * pattern of the probe "first tokens, then one block of `block` tokens repeated", T
 * tokens in all, the block's copies starting at `first`. For a query i in a repetition
 * after the first, echo sums the attention on every earlier copy of the same token and
 * induction the attention on the token after each earlier copy; both are divided by
 * T * T (a plain mean over the matrix, as the reference code). pattern (H, Tq, P) holds
 * the query rows q0 .. q0 + Tq - 1 (a prefill may come in chunks); their shares are
 * added to echo (H) and induction (H), which the caller zeroes first. */
hw_status hw_echo_induction_scores(const float *pattern, int H, int Tq, int P, int q0, int T,
                                   int first, int block, double *echo, double *induction);
/* Per KV head: the max (use_max) or mean over the H / Hk query heads sharing it.
 * per_q (L, H) -> per_kv (L, Hk). */
hw_status hw_scores_per_kv(const double *per_q, int L, int H, int Hk, int use_max,
                           double *per_kv);
/* RazorAttention's selection (section 3.1): over n scores, the top round(n *
 * induction_ratio) by induction and the top round(n * echo_ratio) by echo (ties to
 * the lower index); keep[i] = 1 for their union. Returns the number kept, or -1 (error
 * set) for n <= 0, a ratio outside [0, 1] (or NaN), or no memory. */
int hw_razor_select(const double *echo, const double *induction, int n, double echo_ratio,
                    double induction_ratio, int *keep);
/* Indices 0..n-1 ordered by score, highest first, ties to the lower index. */
void hw_scores_rank(const double *score, int n, int *order);

/* Successor heads (section 5): the effective embedding of each token. mode 0:
 * MLP0(W_E[t]) (block 0's MLP on the raw embedding, no norm, no residual); mode 1:
 * the whole block 0 on the one-token sequence t (residual stream after it). out (n, D). */
hw_status hw_effective_embedding(const hw_model *m, const int *tokens, int n, int mode,
                                 float *out);
/* OV logits of head (layer, head) restricted to tokens: out (n_in, n_tok), row i =
 * W_U[tokens] . W_O^h W_V^h e_i for the effective embeddings e (n_in, D). */
hw_status hw_ov_logits(const hw_model *m, int layer, int head, const float *e, int n_in,
                       const int *tokens, int n_tok, float *out);
/* Successor heads (section 5): of the n - 1 pairs (seq[k] -> seq[k + 1]) of one task,
 * how many have their OV logits peak at the successor. logits (n - 1, U): row k over
 * the task's U distinct tokens for input seq[k]; seq holds indices into those tokens. */
int hw_successor_hits(const float *logits, const int *seq, int n, int U);

/* Direct logit attribution (sections 6 and 9): the residual direction whose dot with
 * a component's output is that component's share of the logit difference
 * mean W_U[pos] - mean W_U[neg] (n_neg may be 0). resid (D), if not NULL, is the final
 * residual stream whose norm scale is held fixed: the direction is then multiplied by
 * the final norm's weight over its RMS (or standard deviation, and centred, for
 * LayerNorm); NULL gives the raw unembedding difference. dir (D). */
hw_status hw_logit_direction(const hw_model *m, const int *pos, int n_pos, const int *neg,
                             int n_neg, const float *resid, float *dir);

/* A head-score file in the Retrieval Head repository's layout, {"L-H": [values]}: one
 * list per query head (a value per successful trial, or one score). Opaque. */
typedef struct hw_head_scores hw_head_scores;
hw_head_scores *hw_head_scores_new(int L, int H);
void hw_head_scores_free(hw_head_scores *s);
int hw_head_scores_layers(const hw_head_scores *s);   /* L */
int hw_head_scores_heads(const hw_head_scores *s);    /* H */
/* The values of head (layer, head) and their number in *n (NULL, 0 outside the grid). */
const double *hw_head_scores_values(const hw_head_scores *s, int layer, int head, int *n);
hw_status hw_head_scores_append(hw_head_scores *s, int layer, int head, double v);
/* Mean of each head's list (0 for an empty one): mean (L, H). */
void hw_head_scores_mean(const hw_head_scores *s, double *mean);
/* Read a file of ours or a published one (L and H from the largest keys; keys that
 * are not "L-H" are an error; a bare number counts as a one-value list). */
hw_head_scores *hw_head_scores_read(const char *path);
/* Write {"L-H": [...]} atomically, keys in layer then head order. */
hw_status hw_head_scores_write(const hw_head_scores *s, const char *path);

/* ---------------------------------------------------------------- protocols: retrieval, mask test, scale sweep */

/* The protocols of methods.md sections 1 and 6 as one call each (src/methods/): a params
 * struct with its defaults, a progress callback (NULL: none; return non-zero to stop),
 * and an opaque result with accessors and writers. `headwise score retrieval`,
 * `headwise mask-test` and `headwise sweep scale` are these calls. */
typedef struct hw_task hw_task;         /* see "synthetic tasks" below */
typedef struct hw_prompts hw_prompts;   /* see "prompts files" below */


/* A synthetic task's held-out samples scored with hooks (src/eval/task_eval.c), as the
 * protocols score model organisms. */
typedef struct {
    const char *name;   /* "induction", "retrieval", "successor", "recall" or "mcq"; NULL: none */
    uint64_t seed;      /* the held-out stream (default 12345) */
    int samples;        /* default 100 */
    float depth;        /* retrieval: the needle's depth in [0, 1]; < 0 (default): random */
    int n_symbols;      /* 0 (default): induction the model's vocabulary less <bos> (an
                         * organism folder does not record it), the others their default */
} hw_task_eval_params;
hw_task_eval_params hw_task_eval_params_default(void);
/* The task p names, its sequences as long as m's context; NULL (error set) if it has
 * more symbols than m's vocabulary. */
hw_task *hw_task_new_for_model(const hw_model *m, const hw_task_eval_params *p);
/* 1 if t is scored by greedy decoding (retrieval), where decode-only hooks act; the
 * others are scored teacher-forced, in one prefill per sample. */
int hw_task_is_greedy(const hw_task *t);
/* Score n held-out samples of seed with hooks (NULL: none) in c (reset per sample; it
 * must hold the task's sequences). *accuracy: retrieval exact greedy answers (the answer
 * decoded one token per call after a prefill of all but the prompt's last token, as
 * many tokens as it has, stopping at EOS or BOS); induction next-token accuracy on the
 * repeated segment after its first token; successor on the successors; recall plain
 * recall of the memorised facts; mcq the label after "Answer:". *accuracy2 (may be
 * NULL): retrieval the mean share of answer tokens right; recall the counterfactual
 * override rate; the others *accuracy. */
hw_status hw_task_evaluate_hooked(const hw_task *t, hw_context *c, uint64_t seed, int n,
                                  const hw_hooks *hooks, double *accuracy, double *accuracy2);

/* Retrieval Head score (methods.md sections 1.1-1.2, src/methods/retrieval_score.c):
 * needle-in-a-haystack trials over lengths x depths, greedy decoding with a newline
 * stop, and at every decode step each head's top-1 attended position checked against
 * the needle span and the token being generated (hw_retrieval_step). Trials whose answer
 * has ROUGE-1 recall x 100 > min_rouge add one score per head; a head's retrieval score
 * is the mean over those trials. */
typedef struct {
    hw_niah_params niah;       /* the trials */
    /* task.name "retrieval": instead of text trials, the retrieval task's held-out
     * samples (model organisms): each sample up to its answer is a prompt, the answer's
     * symbols are the needle, and it decodes as many tokens as the answer has. */
    hw_task_eval_params task;
    double min_rouge;          /* default 50; -1: every trial counts */
    /* The head-score file, or NULL. With it the run keeps OUT.trials, a log of every
     * trial headed by every setting it depends on: a rerun with the same settings
     * resumes after the trials logged; one with other settings is refused, naming the
     * setting that differs. OUT itself is written only when every trial is done, so a
     * file at OUT is always a whole run in the Retrieval Head layout other tools read;
     * while running (at most every few seconds), when stopped and on failure, the
     * scores so far go to OUT.partial.json instead, removed at the end. */
    const char *out;
    /* Every trial's prompt and answer as JSON lines {needle, length, depth, span,
     * prompt, generated} (token ids), as the paper saves its contexts; NULL: none. */
    const char *contexts_path;
    /* The KV cache every trial runs with (hw_context_new_kv; read when the run starts,
     * not kept); NULL (default): every head full. */
    const hw_kv_policy *kv;
} hw_retrieval_params;
hw_retrieval_params hw_retrieval_params_default(void);
typedef struct hw_retrieval_result hw_retrieval_result;
/* Progress is called after each trial run, with a line describing it (answer, ROUGE-1,
 * counted or not), trials done and the total; and once first when trials were resumed. */
hw_status hw_retrieval_run(const hw_model *m, const hw_tokenizer *t, const hw_retrieval_params *p,
                           hw_progress_fn progress, void *user, hw_retrieval_result **out);
void hw_retrieval_result_free(hw_retrieval_result *r);
/* One value per counted trial for every head (resumed trials first), (L, H). */
const hw_head_scores *hw_retrieval_result_scores(const hw_retrieval_result *r);
int hw_retrieval_result_trials(const hw_retrieval_result *r);       /* in the grid */
int hw_retrieval_result_trials_run(const hw_retrieval_result *r);   /* run by this call */
int hw_retrieval_result_counted(const hw_retrieval_result *r);      /* counted, resumed included */
int hw_retrieval_result_counted_run(const hw_retrieval_result *r);  /* counted of those run */
/* {"L-H": [per-trial scores]} atomically (hw_head_scores_write). */
hw_status hw_retrieval_result_write(const hw_retrieval_result *r, const char *path);
/* TSV "layer head score trials" ranked by the mean score, atomically. */
hw_status hw_retrieval_result_write_tsv(const hw_retrieval_result *r, const char *path);

/* Mask test (methods.md section 1.3, src/methods/mask_test.c): task accuracy with the
 * top-K heads of a score ranking masked, against K random heads drawn outside the top
 * `exclude` (mean over draws), and optionally every head masked alone. */
typedef enum { HW_MASK_UNIFORM, HW_MASK_ZERO } hw_mask_mode;
typedef struct {
    /* The ranking (required): L layers, at most H heads; a head's key is the mean of its
     * list, or its column-th value (0 where the list is shorter) with column >= 0. A
     * ranking that cannot choose the top K (every one of them tied with the best head
     * left out, as when all scores are 0) is refused. */
    const hw_head_scores *scores;
    int column;         /* default -1: the mean */
    int ascending;      /* rank lowest first (e.g. in-context heads of attribution) */
    int top;            /* K (default 5) */
    int draws;          /* random K-sets (default 10) */
    int exclude;        /* random heads come from outside the top `exclude` (< 0, default: K) */
    int singles;        /* also mask every head alone */
    uint64_t seed;      /* the random draws (default 1) */
    hw_mask_mode mode;  /* uniform attention (default, the paper's) or zero output */
    /* HW_PHASE_DECODE (default, the paper's) or HW_PHASE_BOTH; a teacher-forced task
     * masks in every call (the result says which phase was used). */
    hw_phase phase;
    /* The task, the first given of: prompts (prompt, answer): exact greedy answers (the
     * answer's tokens as they continue the prompt) and mean share of answer tokens right;
     * task.name: hw_task_evaluate_hooked's two measures; else needle-in-a-haystack trials
     * (niah): exact rate (ROUGE-1 recall 1) and mean ROUGE-1 recall. */
    const hw_prompts *prompts;
    hw_task_eval_params task;
    hw_niah_params niah;
    /* The KV cache of every evaluation, baseline included (hw_context_new_kv; read when
     * the run starts, not kept); NULL (default): every head full. */
    const hw_kv_policy *kv;
} hw_mask_test_params;
hw_mask_test_params hw_mask_test_params_default(void);
typedef struct hw_mask_test_result hw_mask_test_result;
/* Progress is called before each evaluation: baseline, top K, each draw, each single. */
hw_status hw_mask_test_run(const hw_model *m, const hw_tokenizer *t, const hw_mask_test_params *p,
                           hw_progress_fn progress, void *user, hw_mask_test_result **out);
void hw_mask_test_result_free(hw_mask_test_result *r);
hw_mask_mode hw_mask_test_result_mode(const hw_mask_test_result *r);
hw_phase hw_mask_test_result_phase(const hw_mask_test_result *r);   /* the phase used */
/* Each measurement is an exact answer rate and a mean recall (see the task above). */
void hw_mask_test_result_baseline(const hw_mask_test_result *r, double *exact, double *recall);
/* The top K heads (K in *k), masked together. */
const hw_head *hw_mask_test_result_top(const hw_mask_test_result *r, int *k, double *exact,
                                       double *recall);
/* How many of the top K tie with the best head left out (chosen by index among equals;
 * 0: the ranking chose all K). */
int hw_mask_test_result_ties(const hw_mask_test_result *r);
int hw_mask_test_result_draw_count(const hw_mask_test_result *r);
/* Draw d's K heads, or NULL outside [0, draws). */
const hw_head *hw_mask_test_result_draw(const hw_mask_test_result *r, int d, double *exact,
                                        double *recall);
void hw_mask_test_result_random_mean(const hw_mask_test_result *r, double *exact, double *recall);
/* L x H with singles, else 0. */
int hw_mask_test_result_single_count(const hw_mask_test_result *r);
/* The head of rank `rank` (0: the top one) masked alone. */
hw_status hw_mask_test_result_single(const hw_mask_test_result *r, int rank, hw_head *head,
                                     double *exact, double *recall);
/* {"mode", "phase", "baseline", "top", "random", "random_mean"[, "singles"]}, atomically. */
hw_status hw_mask_test_result_write(const hw_mask_test_result *r, const char *path);

/* Scale sweep (methods.md section 6, src/methods/scale_sweep.c): one head's output
 * (equivalently its value vectors) multiplied by s at every position, and the rates at
 * which the greedy next token is the in-context and the memorised answer, for each s. */
typedef struct {
    hw_head head;           /* required */
    /* The scales: n_scales finite values, or (scales NULL) linspace(from, to, steps)
     * (default 0, 2, 5). */
    const double *scales;
    int n_scales;
    double from, to;
    int steps;
    /* The prompts (prompt, memorised answer, in-context answer; each answer's first token
     * counts), or instead task.name (e.g. "recall"): in-context = the task's second
     * measure (counterfactual override), memorised = its main one (plain recall). */
    const hw_prompts *prompts;
    hw_task_eval_params task;
    /* The KV cache of every prompt or sample (hw_context_new_kv; read when the run
     * starts, not kept); NULL (default): every head full. */
    const hw_kv_policy *kv;
} hw_scale_sweep_params;
hw_scale_sweep_params hw_scale_sweep_params_default(void);
typedef struct hw_scale_sweep_result hw_scale_sweep_result;
/* Progress is called before each scale (and each prompt of it). */
hw_status hw_scale_sweep_run(const hw_model *m, const hw_tokenizer *t,
                             const hw_scale_sweep_params *p, hw_progress_fn progress, void *user,
                             hw_scale_sweep_result **out);
void hw_scale_sweep_result_free(hw_scale_sweep_result *r);
hw_head hw_scale_sweep_result_head(const hw_scale_sweep_result *r);
int hw_scale_sweep_result_count(const hw_scale_sweep_result *r);     /* scales */
int hw_scale_sweep_result_samples(const hw_scale_sweep_result *r);   /* prompts or task samples */
hw_status hw_scale_sweep_result_get(const hw_scale_sweep_result *r, int k, double *scale,
                                    double *in_context, double *memorized);
/* {"head": "L-H", "prompts": N, "sweep": [{"scale", "in_context", "memorized"}...]}. */
hw_status hw_scale_sweep_result_write(const hw_scale_sweep_result *r, const char *path);
/* TSV "scale in_context memorized". */
hw_status hw_scale_sweep_result_write_tsv(const hw_scale_sweep_result *r, const char *path);

/* ---------------------------------------------------------------- protocols: echo-induction, successor, attribution, dla */

/* Four head-finding protocols, each one call (src/methods/): a params struct from
 * hw_X_params_default(), hw_X_run(model, tokenizer, &params, progress, user, &result)
 * returning hw_status, and an opaque result with accessors and writers (free functions
 * accept NULL). `headwise score echo-induction|successor|attribution|dla` parse flags,
 * call the run and print. The tokenizer may be NULL where a protocol does not need one
 * (said per run). progress (hw_progress_fn, may be NULL) is called as the work advances;
 * a non-zero return stops the run with HW_ERR_ARG. Nothing is written by a run: the
 * writers below write the files, each atomically, making missing parent folders. */

/* Declared again in their own sections below (C11 allows the repeat). */
typedef struct hw_tokenizer hw_tokenizer;
typedef struct hw_prompts hw_prompts;

/* A per-head table of named columns: the view a scoring result gives of its numbers.
 * Column c is the (L, H) array at values + c * L * H. */
typedef struct {
    int n_layer, n_head;        /* L, H */
    int n_col;
    const char *const *cols;    /* (n_col) column names */
    const double *values;       /* (n_col, L, H) */
    int rank_col;               /* the column a ranked listing sorts by */
    int ascending;              /* 1: lowest first; 0: highest first (ties: lower index) */
} hw_head_table;
/* Column `name` as an (L, H) array, or NULL if t has none. */
const double *hw_head_table_column(const hw_head_table *t, const char *name);
/* Write t: TSV when path ends in ".tsv" (a "layer head <cols>" header, then one row per
 * head in rank order), else JSON in the Retrieval Head layout {"L-H": [<cols>]} in layer
 * then head order; values as %.9g. */
hw_status hw_head_table_write(const hw_head_table *t, const char *path);
/* A 0/1 mask of KV heads (L, Hk) in DuoAttention's full_attention_heads.tsv layout:
 * L lines of Hk tab-separated values. */
hw_status hw_kv_head_mask_write(const char *path, const int *mask, int L, int Hk);

/* RazorAttention's probe (methods.md section 3.1): BOS (if the model has one) and a
 * block of tokens repeated, one prefill, and per query head the echo and induction
 * scores (hw_echo_induction_scores), their per-KV-head aggregate and the selection of KV
 * heads that keep a full cache (hw_razor_select); beside them a previous-token score (the
 * mean attention from each token to the one before), since induction heads read what
 * previous-token heads write. */
typedef struct {
    int block;              /* block length; 0: min(2500, (context - first) / repeats) */
    int repeats;            /* copies of the block, >= 2 (default 4) */
    int lo, hi;             /* random ids uniform in [lo, hi); -1: [10000, 12500), or
                             * [V/2, V) for a vocabulary of 12500 or fewer */
    uint64_t seed;          /* the random block's seed (default 1; splitmix64, hw_rng) */
    const char *text;       /* not NULL: the block is this text's tokens (no BOS; needs the
                             * tokenizer), and block, lo, hi and seed are unused */
    double echo_ratio;      /* share of KV heads kept by echo score (default 0.01) */
    double induction_ratio; /* share kept by induction score (default 0.14) */
    int kv_max;             /* 1 (default): a KV head scores the max of its query heads;
                             * 0: their mean */
    int chunk;              /* query rows per prefill call (default 128): one call's
                             * patterns, H x chunk x keys floats per layer, are its memory */
} hw_echo_induction_params;
hw_echo_induction_params hw_echo_induction_params_default(void);
typedef struct hw_echo_induction_result hw_echo_induction_result;
/* t is needed only with p->text. Progress stage "prefill", in tokens. Fails before any
 * forward pass on a probe longer than the model's context, a block under 2 tokens, or an
 * empty id range or one outside the vocabulary. */
hw_status hw_echo_induction_run(const hw_model *m, const hw_tokenizer *t,
                                const hw_echo_induction_params *p, hw_progress_fn progress,
                                void *user, hw_echo_induction_result **out);
void hw_echo_induction_free(hw_echo_induction_result *r);
/* Per query head: echo, induction (the paper's means over T x T), echo_mass,
 * induction_mass (the mean attention a query in a repeat puts on the earlier copies / the
 * tokens after them, 0..1: the same sums divided by the T - first - block rows that have
 * earlier copies instead of by T * T, so the same ranking), prev_token (mean attention on
 * the previous token); ranked by induction. Lives as long as r. */
const hw_head_table *hw_echo_induction_table(const hw_echo_induction_result *r);
typedef struct {
    int n_tokens;           /* T = first + repeats * block */
    int first;              /* 1 if the probe starts with BOS */
    int block, repeats;
    int from_text;          /* 1: the block is p->text's tokens */
    int lo, hi;             /* the random ids' range (-1, -1 with a text block) */
    uint64_t seed;
    int n_kv_head;          /* Hk */
    int n_selected;         /* KV heads selected */
} hw_echo_induction_info;
void hw_echo_induction_get_info(const hw_echo_induction_result *r, hw_echo_induction_info *out);
const int *hw_echo_induction_tokens(const hw_echo_induction_result *r);       /* (T) */
const double *hw_echo_induction_kv_echo(const hw_echo_induction_result *r);   /* (L, Hk) */
const double *hw_echo_induction_kv_induction(const hw_echo_induction_result *r); /* (L, Hk) */
const int *hw_echo_induction_selected(const hw_echo_induction_result *r);     /* (L, Hk) 0/1 */
/* The table (hw_head_table_write); the selection as hw_kv_head_mask_write. */
hw_status hw_echo_induction_write(const hw_echo_induction_result *r, const char *path);
hw_status hw_echo_induction_write_selection(const hw_echo_induction_result *r, const char *path);

/* Successor heads (methods.md section 5): tasks of ordinal items; each item is the
 * single token it is after a word (hw_tokenizer_word_token), or is skipped; only pairs
 * of consecutive items both kept count. */
typedef struct hw_successor_tasks hw_successor_tasks;
/* A tasks file: one task per line, "name: item item ..." in order (a cyclic task repeats
 * its first item at the end); '#' lines and blank lines skipped; "numbers:" with no
 * items is 1 .. 200. */
hw_successor_tasks *hw_successor_tasks_read(const hw_tokenizer *t, const char *path);
/* The default tasks: numbers 1-200, number words, ordinal words, days (cyclic), day
 * prefixes, months (cyclic), month prefixes, letters A-Z. */
hw_successor_tasks *hw_successor_tasks_default(const hw_tokenizer *t);
void hw_successor_tasks_free(hw_successor_tasks *ts);
int hw_successor_tasks_count(const hw_successor_tasks *ts);
typedef struct {
    const char *name;
    int items;              /* items in the task */
    int single_tokens;      /* of them, single tokens */
    int pairs;              /* consecutive pairs of single tokens (what is scored) */
} hw_successor_task_info;
hw_status hw_successor_tasks_get(const hw_successor_tasks *ts, int i, hw_successor_task_info *out);

typedef struct {
    const hw_successor_tasks *tasks; /* NULL: hw_successor_tasks_default(t) */
    int embedding;          /* effective embedding: 0 (default) MLP0(W_E); 1 all of block 0
                             * on the one-token sequence (hw_effective_embedding) */
} hw_successor_params;
hw_successor_params hw_successor_params_default(void);
typedef struct hw_successor_result hw_successor_result;
/* Weights only, no forward pass. t is needed only without p->tasks. Progress stage
 * "task <name>", in tasks. Fails when no task has a scored pair. */
hw_status hw_successor_run(const hw_model *m, const hw_tokenizer *t, const hw_successor_params *p,
                           hw_progress_fn progress, void *user, hw_successor_result **out);
void hw_successor_free(hw_successor_result *r);
/* Per query head: score (pairs whose OV logits over the task's tokens peak at the
 * successor, over all pairs of all tasks), pairs (that total); ranked by score. */
const hw_head_table *hw_successor_table(const hw_successor_result *r);
typedef struct {
    int pairs;              /* scored pairs over all tasks */
    int n_tasks;
    int embedding;          /* as in the params */
} hw_successor_info;
void hw_successor_get_info(const hw_successor_result *r, hw_successor_info *out);
hw_status hw_successor_write(const hw_successor_result *r, const char *path);

/* Memory vs in-context heads (methods.md section 6): over prompts with a memorized and an
 * in-context answer, each head's output at the final position dotted with
 * W_U[memorized] - W_U[in-context] (hw_logit_direction), raw and with the final norm's
 * scale held at its value on the full residual, averaged over prompts. Memory heads
 * score high, in-context heads low. */
typedef struct {
    const hw_prompts *prompts; /* prompt, memorized answer, in-context answer (each answer
                             * its first token, hw_tokenizer_answer_token; needs t); or */
    const char *task;       /* "recall": the recall task's counterfactual held-out samples
                             * "<bos> s is a' . s is" (task sequences of the model's context),
                             * in-context answer a', memorized answer the model's greedy one
                             * to "<bos> s is" (samples without a counterfactual skipped) */
    int samples;            /* task samples drawn (default 100) */
    uint64_t task_seed;     /* held-out stream (default 12345) */
    int task_symbols;       /* the task's subjects (0: its default) */
    /* The KV cache of every prompt's forward pass (hw_context_new_kv; read when the run
     * starts, not kept); NULL (default): every head full. */
    const hw_kv_policy *kv;
} hw_attribution_params;
hw_attribution_params hw_attribution_params_default(void);
typedef struct hw_attribution_result hw_attribution_result;
/* Exactly one of p->prompts and p->task. t is needed only with prompts. Progress stages
 * "memorized answers" (task mode, in samples) and "prompt", in prompts. */
hw_status hw_attribution_run(const hw_model *m, const hw_tokenizer *t,
                             const hw_attribution_params *p, hw_progress_fn progress, void *user,
                             hw_attribution_result **out);
void hw_attribution_free(hw_attribution_result *r);
/* Per query head: raw, scaled (mean over prompts of logit(memorized) - logit(in-context)
 * through the head; scaled holds the final norm fixed); ranked by scaled, lowest (the
 * in-context heads) first. */
const hw_head_table *hw_attribution_table(const hw_attribution_result *r);
typedef struct {
    int n_prompts;          /* prompts (or counterfactual samples) attributed */
    double in_context_rate; /* share whose greedy next token is the in-context answer */
    double memorized_rate;  /* share whose greedy next token is the memorized answer */
} hw_attribution_info;
void hw_attribution_get_info(const hw_attribution_result *r, hw_attribution_info *out);
/* (n_prompts, 3): per prompt the memorized answer's token, the in-context answer's and
 * the greedy next token. */
const int *hw_attribution_tokens(const hw_attribution_result *r);
hw_status hw_attribution_write(const hw_attribution_result *r, const char *path);

/* Direct logit attribution (methods.md section 9): every component's output at the final
 * position dotted with W_U[target] - mean W_U[minus] (hw_logit_direction): the embedding
 * (layer 0's hook_resid_pre), each head (hook_result), each layer's attention output bias
 * (hook_attn_out minus its heads), each MLP (hook_mlp_out), and "rest", the logit
 * difference minus their sum (the final norm's bias; ~0 when scaled). */
typedef struct {
    const char *prompt;     /* encoded with BOS */
    const char *target;     /* the answer whose logit is attributed: its first token
                             * (hw_tokenizer_answer_token) */
    const char *const *minus; /* answers whose mean logit is subtracted (n_minus, may be 0) */
    int n_minus;
    int raw;                /* 1: the raw unembedding; 0 (default): the final norm's scale on
                             * the full residual held fixed, so the parts add up */
    /* The KV cache of the forward pass (hw_context_new_kv; read when the run starts, not
     * kept); NULL (default): every head full. */
    const hw_kv_policy *kv;
} hw_dla_params;
hw_dla_params hw_dla_params_default(void);
typedef struct hw_dla_result hw_dla_result;
/* t is needed. Progress stage "forward" (one pass). */
hw_status hw_dla_run(const hw_model *m, const hw_tokenizer *t, const hw_dla_params *p,
                     hw_progress_fn progress, void *user, hw_dla_result **out);
void hw_dla_free(hw_dla_result *r);
/* Components in model order: "embed", then per layer l "l.0" .. "l.H-1", "l.bias",
 * "mlp.l", then "rest" (1 + L * (H + 2) + 1 of them). */
int hw_dla_count(const hw_dla_result *r);
const char *hw_dla_name(const hw_dla_result *r, int i);   /* NULL outside 0 .. count-1 */
const double *hw_dla_values(const hw_dla_result *r);      /* (count) */
const double *hw_dla_heads(const hw_dla_result *r);       /* (L, H) the heads' values */
typedef struct {
    double logit_diff;      /* logit(target) - mean logit(minus), last position */
    double sum;             /* sum of the components but "rest" */
    int scaled;             /* 1: final norm scale held fixed (p->raw == 0) */
    int n_tokens;           /* prompt tokens, BOS included */
    int target;             /* the token attributed */
    const char *target_text; /* its text as it reads after a word (lives as long as r) */
    int n_minus;
    const int *minus;       /* (n_minus) tokens subtracted */
    const char *const *minus_text; /* (n_minus) */
} hw_dla_info;
void hw_dla_get_info(const hw_dla_result *r, hw_dla_info *out);
/* TSV when path ends in ".tsv" ("component logit", by |logit|, largest first), else JSON
 * {"logit_diff", "scaled", "target", "target_token", "minus", "minus_tokens",
 * "components": {name: logit} in model order}. */
hw_status hw_dla_write(const hw_dla_result *r, const char *path);

/* ---------------------------------------------------------------- KV-cache head selection (DuoAttention, RazorAttention) */

/* Which KV heads keep a full cache, from anywhere (src/methods/duo_attention.c,
 * src/methods/kv_spec.c; methods.md sections 2.3 and 3.1). A head-importance file of
 * any kind becomes one score per (layer, KV head), (L, Hk) layer-major; on GQA models a
 * file scored per query head is aggregated per KV head by the max over the H / Hk query
 * heads of the group (hw_scores_per_kv with use_max, RazorAttention's rule: a KV head is
 * as important as its most important reader). The kind is found from the content, not
 * the name:
 *   HW_KV_FILE_RETRIEVAL  a JSON object {"L-H": [per-trial scores]} as `score retrieval
 *                         -o` (or the Retrieval Head repository) writes: each query
 *                         head's mean (hw_head_scores_read, hw_head_scores_mean);
 *   HW_KV_FILE_TABLE      a TSV headed "layer head <columns>" as hw_head_table_write
 *                         writes: `score echo-induction -o X.tsv` (echo, induction, ...),
 *                         `score retrieval --tsv`, `heads import -o X.tsv` (score,
 *                         trials); the column read is the one asked for, else "score",
 *                         else "induction", else the first; every head exactly once;
 *   HW_KV_FILE_GATES      DuoAttention's full_attention_heads.tsv: L lines of Hk (or H)
 *                         numbers separated by tabs (or spaces), as np.loadtxt reads it
 *                         ('#' lines and blank lines skipped); a config.json in the same
 *                         folder, if there, must be a JSON object whose sink_size and
 *                         recent_size (the gates' training window, 128 and 256 in the
 *                         published ones) are whole numbers >= 0 when present;
 *   HW_KV_FILE_MASK       the same layout holding only 0 and 1 (`score echo-induction
 *                         --heads-out`, or a selection written by hw_kv_head_mask_write).
 * Every number must be finite. With a model shape (L, H, Hk > 0) the file must have L
 * layers and H or Hk heads per layer; with L = H = Hk = 0 the file's own grid is taken as
 * per KV head (L, Hk), for files without a model (the published patterns). */
typedef enum {
    HW_KV_FILE_RETRIEVAL,
    HW_KV_FILE_TABLE,
    HW_KV_FILE_GATES,
    HW_KV_FILE_MASK,
} hw_kv_file_kind;
typedef struct {
    hw_kv_file_kind kind;
    int n_layer, n_kv_head;     /* the (L, Hk) grid of the scores returned */
    int file_heads;             /* heads per layer in the file: H (aggregated) or Hk */
    char column[64];            /* HW_KV_FILE_TABLE: the column read */
    int has_echo_induction;     /* HW_KV_FILE_TABLE: it has both "echo" and "induction" */
    int config_sink, config_recent; /* GATES / MASK: config.json's sink_size and
                                 * recent_size (training values), -1 if absent */
} hw_kv_file_info;
/* Read path into *scores (malloc'd, (L, Hk); free() it). column: the TSV column to read
 * (NULL: the default above; given, the file must be a table with that column). info may
 * be NULL. Fails (error naming the file) on a missing or unreadable file, an unknown
 * layout, a value that is not a finite number, a head missing or given twice, or a grid
 * that does not match the model's. */
hw_status hw_kv_head_scores_read(const char *path, const char *column, int L, int H, int Hk,
                                 double **scores, hw_kv_file_info *info);

/* DuoAttention's deployment rule (methods.md section 2.3, utils.sparsify_attention_heads
 * at mit-han-lab/duo-attention fe93c31): alpha (n) is clipped to [0, 1], U(0, 1e-6) noise
 * is added to break ties (hw_rng splitmix64 from `seed`, drawn in index order; the
 * default seed HW_DUO_SEED is DuoAttention's seed_everything(42)), tau = the `sparsity`
 * quantile of the noisy values over all n (numpy's default linear interpolation:
 * position sparsity * (n - 1) between the sorted values), and full[i] = 1 <=> noisy
 * alpha[i] >= tau. sparsity >= 1: no head is full; <= 0: every head is. *tau (may be
 * NULL) gets the threshold (2 or -1 at the ends, as theirs). Because the noisy values are
 * distinct (but for a tie in the noise itself), the count is n - ceil(sparsity * (n - 1))
 * whatever the draw; which of equal gates are full depends on the seed. Returns the number
 * of full heads, or -1 (error set) for n <= 0, a NaN sparsity, a non-finite alpha or no
 * memory. */
#define HW_DUO_SEED 42
int hw_duo_select_sparsity(const double *alpha, int n, double sparsity, uint64_t seed,
                           int *full, double *tau);
/* The top round(top * n) of score (n) full (top in [0, 1]), ties to the lower index
 * (hw_scores_rank). Returns the number full, or -1 (error set) for n <= 0, top outside
 * [0, 1] (or NaN), a non-finite score or no memory. */
int hw_duo_select_top(const double *score, int n, double top, int *full);

/* A KV-cache policy from its text (the --kv flag; src/methods/kv_spec.c). "NAME" or
 * "NAME:KEY=VALUE,KEY=VALUE...", keys in any order, each at most once:
 *   full                      every head full;
 *   window[:sink=64,recent=256]   every head streaming (StreamingLLM at DuoAttention's
 *                             deployed sizes, so it costs what duo's streaming heads do);
 *   duo:heads=FILE[,top=F|sparsity=S][,sink=64,recent=256][,seed=42]   full heads from
 *                             FILE (hw_kv_head_scores_read): gates by DuoAttention's
 *                             quantile rule at sparsity 0.5 (the default of its eval
 *                             scripts and README), scores (retrieval JSON, tables) by
 *                             top 0.25, a 0/1 mask as it stands; top= or sparsity= picks
 *                             the rule for any kind. sink 64 / recent 256 are its deployed
 *                             sizes (niah.sh, longbench.sh), not the trained ones a
 *                             config.json holds;
 *   razor[:sink=4,recent=256,compensation=weighted|mean|none,echo=0.01,induction=0.14,
 *         heads=FILE]         RazorAttention: streaming heads keep a compensation token
 *                             (weighted: the paper's N_d form; mean: Huawei's deploy
 *                             form); full heads by the echo + induction rule
 *                             (hw_razor_select at the echo/induction ratios): from FILE, an
 *                             echo-induction table (`score echo-induction -o X.tsv`) or a
 *                             0/1 mask, else from hw_echo_induction_run on m with default
 *                             params (one prefill of up to 10,001 tokens).
 * Every policy also takes chunk=N (prefill rows per pass; default the engine's). A FILE
 * runs to the next comma (so it cannot hold one). The
 * name is set to spec. t may be NULL (no policy needs it yet). NULL (error naming the
 * part of spec or the file) on an unknown policy or key, a repeated key, a number that is
 * not one or is out of range, top= with sparsity=, or any file error above. */
hw_kv_policy *hw_kv_policy_parse(const hw_model *m, const hw_tokenizer *t, const char *spec);

/* ---------------------------------------------------------------- text loss */

/* The next-token loss of a token sequence as the model reads it in one context
 * (src/eval/text_loss.c): tokens fed in prefill calls of `chunk` rows under a KV-cache
 * policy and hooks, every position's -ln p(next token). The context is made as long as
 * the sequence, which may pass the model's trained context for rotary-position models
 * (how LongHeads is judged); learned-position models refuse it (HW_ERR_RANGE). */
typedef struct {
    const hw_kv_policy *kv;  /* the cache (hw_context_new_kv; read, not kept); NULL: full */
    const hw_hooks *hooks;   /* in every call; NULL: none */
    int chunk;               /* prefill rows per call (default 512; <= 0: all at once) */
    /* Then this many tokens decoded greedily after the sequence, in the same context
     * (which holds n + n_greedy positions), into greedy (n_greedy ints); 0: none. What
     * the model makes of the context it has read, with the same cache. */
    int n_greedy;
    int *greedy;
} hw_text_loss_params;
hw_text_loss_params hw_text_loss_params_default(void);
/* losses (n - 1 values): losses[i] = -ln p(tokens[i + 1] | tokens[0..i]). Progress
 * ("tokens", tokens done, n + n_greedy) after each call; non-zero stops (HW_ERR_ARG). */
hw_status hw_text_loss(const hw_model *m, const int *tokens, int n, const hw_text_loss_params *p,
                       hw_progress_fn progress, void *user, float *losses);
/* The tokens `headwise loss` reads: text (or, text NULL, the file at path) encoded by t with
 * BOS, then repeated without BOS up to n tokens (n <= 0: as they are). Their number, with
 * *ids malloc'd, or -1 with the error set (no tokens past BOS, an unreadable file). */
int hw_text_loss_tokens(const hw_tokenizer *t, const char *text, const char *path, int n, int **ids);

/* ---------------------------------------------------------------- circuits: prompt pairs, activation and path patching */

/* Prompt pairs (src/methods/prompt_pairs.c; methods.md sections 7 and 9): a clean and a
 * corrupted token sequence of the same length, the target token whose metric is read at
 * the last position and an optional minus token. What activation patching, path patching
 * (and CD-T) compare. */
typedef struct hw_prompt_pairs hw_prompt_pairs;
hw_prompt_pairs *hw_prompt_pairs_new(void);
void hw_prompt_pairs_free(hw_prompt_pairs *p);
/* Append a pair (copied): clean (n_clean tokens) and corrupt (n_corrupt) must be the same
 * length, at least 1; target >= 0; minus -1 for none. label names the pair in messages
 * (copied; NULL: "pair K", K from 0). HW_ERR_ARG naming the pair otherwise. */
hw_status hw_prompt_pairs_add(hw_prompt_pairs *p, const int *clean, int n_clean, const int *corrupt,
                              int n_corrupt, int target, int minus, const char *label);
/* Pairs from two prompts files (hw_prompts_read), line k of each one pair, each prompt
 * encoded with BOS by t. target / minus (text, its first token as
 * hw_tokenizer_answer_token reads it) for every pair; target NULL: each clean line's first
 * answer is its target and its second answer, if any, its minus (a given minus is then
 * used for every pair). NULL with one error naming the files and line on different line
 * counts, prompts of different token lengths, no target, or an answer that is no token. */
hw_prompt_pairs *hw_prompt_pairs_read(const hw_tokenizer *t, const char *clean_path,
                                      const char *corrupt_path, const char *target,
                                      const char *minus);
/* n pairs of a synthetic task for m, drawn from seed. "induction": clean = [BOS] A A[0..k)
 * and corrupt = [BOS] B A[0..k), A and B blocks of `block` distinct random tokens (no token
 * in both), k = block - 1; target A[k] (what an induction head copies), minus B[k] (what
 * the same attention copies in the corrupted prompt). The first copy is the one replaced
 * because it is where the previous-token head writes what the induction heads' keys
 * read: corrupting the second copy instead leaves the keys unchanged, and neither
 * activation nor path patching could then see the previous-token head. Tokens are drawn
 * from [V/2, V) for V <= 12500 (a model organism's symbols), else [10000, 12500), as
 * `score echo-induction` draws them; BOS where m has one. block 0: min(16, (C - 1) / 2).
 * "mcq" (an mcq organism; block unused): held-out sample k of seed up to its answer
 * against its counterfactual with the answer moved 1 + k % 3 letters on
 * (hw_task_counterfactual), target the correct label, minus the moved one. */
hw_prompt_pairs *hw_prompt_pairs_task(const hw_model *m, const char *task, int n, int block,
                                      uint64_t seed);
int hw_prompt_pairs_count(const hw_prompt_pairs *p);
/* Pair i's length in tokens and (pointers that are not NULL) its sequences (owned by p),
 * target and minus; -1 outside [0, count). */
int hw_prompt_pairs_get(const hw_prompt_pairs *p, int i, const int **clean, const int **corrupt,
                        int *target, int *minus);
const char *hw_prompt_pairs_label(const hw_prompt_pairs *p, int i);
/* Every token (prompts, target, minus) inside m's vocabulary and every pair within its
 * context; HW_ERR_ARG naming the first pair that is not. */
hw_status hw_prompt_pairs_check(const hw_prompt_pairs *p, const hw_model *m);

/* The metric read at the last position: logit-diff logit(target) - logit(minus) (the
 * target's logit without a minus), prob softmax(target), logprob log softmax(target). */
typedef enum { HW_METRIC_LOGIT_DIFF, HW_METRIC_PROB, HW_METRIC_LOGPROB } hw_metric;
/* "logit-diff", "prob" or "logprob"; HW_ERR_ARG otherwise. */
hw_status hw_metric_parse(const char *name, hw_metric *out);
const char *hw_metric_name(hw_metric metric);
double hw_metric_value(hw_metric metric, const float *logits, int V, int target, int minus);
/* Each pair's metric on its clean and on its corrupted prompt (count values each). */
hw_status hw_prompt_pairs_baselines(const hw_model *m, const hw_prompt_pairs *p, hw_metric metric,
                                    double *clean, double *corrupt);

/* Activation patching (src/methods/activation_patching.c; methods.md section 9): one
 * component's activation taken from one run of a pair and put into the other, the metric
 * read at the last position. Denoising puts the clean run's activation into the corrupted
 * run, noising the corrupted one's into the clean run. Each patched value is normalised
 * per pair, (M - M_corrupt) / (M_clean - M_corrupt): 0 is the corrupted run's metric, 1
 * the clean one's; then averaged over pairs. Components: for hook_z, hook_pattern and
 * hook_q each (layer, query head), for hook_k and hook_v each (layer, KV head), at every
 * position; for hook_resid_pre, hook_resid_post, hook_attn_out and hook_mlp_out each
 * (layer, position), which needs every pair the same length.
 * The direct effect (direct = 1; the Chinchilla paper's distinction) reads only the
 * change the patch makes to the component's output at the last position (a head's
 * through hook_attn_out of its layer, an MLP's hook_mlp_out, the residual itself for
 * resid_pre/post) straight through the final norm, its scale held at the clean run's
 * value, and the unembedding, added to the unpatched run's logits: so, for logit-diff, the
 * direct effects of all components add up as DLA's terms do (hw_dla_run), to the change
 * of the residual at the last position dotted with DLA's direction on the clean run.
 * Every pair is run on its own from an empty cache (one forward per pair and component;
 * the engine has no batch of sequences with hooks). */
typedef enum { HW_PATCH_DENOISE, HW_PATCH_NOISE } hw_patch_direction;
typedef struct {
    hw_hook_point hook;             /* default HW_HOOK_Z */
    hw_patch_direction direction;   /* default HW_PATCH_DENOISE */
    hw_metric metric;               /* default HW_METRIC_LOGIT_DIFF */
    int direct;                     /* 1: also the direct effects (default 0) */
    /* 1: every run is patched with its own activations (denoising then puts corrupt into
     * corrupt, 0 everywhere; noising clean into clean, 1 everywhere): the check that
     * patching itself changes nothing. Default 0. */
    int identity;
} hw_patch_params;
hw_patch_params hw_patch_params_default(void);
typedef struct hw_patch_result hw_patch_result;
/* t (may be NULL) only labels positions. Progress stage "patch" after each pair, counting
 * patched forward passes. Fails
 * before any sweep on a hook that cannot be swept (or that m lacks: hook_mlp_out of an
 * attention-only model), pairs outside m's vocabulary or context, per-position sweeps of
 * pairs of different lengths, or a pair whose clean and corrupted metrics are equal
 * (nothing to normalise by; the error names it). */
hw_status hw_patch_run(const hw_model *m, const hw_tokenizer *t, const hw_prompt_pairs *pairs,
                       const hw_patch_params *p, hw_progress_fn progress, void *user,
                       hw_patch_result **out);
void hw_patch_result_free(hw_patch_result *r);
typedef struct {
    hw_hook_point hook;
    hw_patch_direction direction;
    hw_metric metric;
    int direct, identity;
    int rows, cols;         /* L x (H, Hk or T) */
    int per_position;       /* 1: the columns are positions */
    int n_pairs;
} hw_patch_info;
void hw_patch_get_info(const hw_patch_result *r, hw_patch_info *out);
/* (rows, cols) normalised metric averaged over pairs: the total effect (direct = 0) or
 * the direct one (NULL when not computed). */
const double *hw_patch_result_mean(const hw_patch_result *r, int direct);
/* (rows, cols) pooled over pairs, (mean M - mean M_corrupt) / (mean M_clean - mean
 * M_corrupt) (NaN if the means agree): steadier than the mean of per-pair ratios when
 * some pair's clean and corrupted metrics nearly agree (its ratio then swings). Total
 * (direct = 0) or direct effect (NULL when not computed). */
const double *hw_patch_result_pooled(const hw_patch_result *r, int direct);
/* The components ordered by how far values (r's mean or pooled grid) move the metric
 * from the unpatched run's (0 denoising, 1 noising), farthest first, NaN last; order holds
 * rows * cols. Returns rows * cols, or -1 (error set). */
int hw_patch_result_rank(const hw_patch_result *r, const double *values, int *order);
/* The clean and corrupted metric averaged over pairs. */
hw_status hw_patch_result_mean_baseline(const hw_patch_result *r, double *clean, double *corrupt);
/* Pair i's (rows, cols) normalised values, and its raw metric values; NULL outside. */
const double *hw_patch_result_pair(const hw_patch_result *r, int i, int direct);
const double *hw_patch_result_pair_metric(const hw_patch_result *r, int i, int direct);
/* Pair i's metric on its clean and corrupted prompt. */
hw_status hw_patch_result_baseline(const hw_patch_result *r, int i, double *clean, double *corrupt);
/* Column c's label: "H" of a head, or position c's token text in pair 0's clean prompt
 * (newlines, tabs and carriage returns as \n, \t, \r; "pos c" without a tokenizer); lives
 * as long as r. */
const char *hw_patch_result_label(const hw_patch_result *r, int c);
/* JSON {"hook", "direction", "metric", "identity", "rows", "cols", "axes", "labels",
 * "mean": [[...]], "pooled", "mean_direct"?, "pooled_direct"?, "pairs": [{"label",
 * "clean", "corrupt", "target", "minus", "normalized", "metric", "normalized_direct"?,
 * "metric_direct"?}]}; TSV when path ends in ".tsv": "layer col label mean pooled
 * [mean_direct pooled_direct]" one row per component; atomically. */
hw_status hw_patch_result_write(const hw_patch_result *r, const char *path);
/* A heatmap page (layer down, head or position across, the positions labelled with
 * their tokens), blue below 0 to red above, a colour legend, values on hover; the
 * direct effects as a second map. Atomically. */
hw_status hw_patch_result_write_html(const hw_patch_result *r, const char *path);

/* Path patching (src/methods/path_patching.c; methods.md section 7, the factual-recall
 * paper's tool): a sender head's output, taken from the corrupted run, is put into the
 * clean run only along its path into receivers: a receiver head's q, k or v is computed
 * from its layer's residual plus the sender's change (corrupted minus clean output, at
 * every position), everything else reading the clean run's sender (an MLP receiver's
 * output is computed from its input residual plus the change; the logits receiver adds
 * the change to the final residual: the direct path). Everything downstream of a
 * receiver runs freely, so with every later head's q, k and v, every MLP after the sender
 * and the logits as receivers the run equals activation patching of the sender (noising).
 * The metric's percent change against the clean run, 100 (M - M_clean) / |M_clean|, and
 * the normalised metric as activation patching's, averaged over pairs. */
typedef struct {
    int layer, head;        /* head: a query head for q, a KV head for k and v */
    hw_hook_point input;    /* HW_HOOK_Q, HW_HOOK_K, HW_HOOK_V; HW_HOOK_MLP_OUT: the MLP of
                             * `layer` (head unused; after a sender in its own layer too,
                             * but in parallel-residual models); or HW_HOOK_LOGITS (the
                             * direct path; layer and head unused) */
} hw_path_receiver;
typedef struct {
    const hw_head *senders;         /* required, n_senders of them (copied) */
    int n_senders;
    const hw_path_receiver *receivers; /* required (copied); a receiver that does not read
                                     * the sender (a head in its layer or before, an MLP
                                     * before it) is no path: NaN */
    int n_receivers;
    hw_metric metric;               /* default HW_METRIC_LOGIT_DIFF */
} hw_path_patch_params;
hw_path_patch_params hw_path_patch_params_default(void);
typedef struct hw_path_patch_result hw_path_patch_result;
/* One run per pair, sender and receiver, and one more per pair and sender with every
 * receiver together (column n_receivers). Progress stage "path patch" in runs. Fails before
 * any run as hw_patch_run does, and on a sender or receiver outside m. */
hw_status hw_path_patch_run(const hw_model *m, const hw_prompt_pairs *pairs,
                            const hw_path_patch_params *p, hw_progress_fn progress, void *user,
                            hw_path_patch_result **out);
void hw_path_patch_result_free(hw_path_patch_result *r);
int hw_path_patch_senders(const hw_path_patch_result *r, const hw_head **senders);
int hw_path_patch_receivers(const hw_path_patch_result *r, const hw_path_receiver **receivers);
/* (n_senders, n_receivers + 1), the last column every receiver at once; NaN for no path:
 * the percent change of the metric and the normalised metric, means over pairs. */
const double *hw_path_patch_percent(const hw_path_patch_result *r);
const double *hw_path_patch_normalized(const hw_path_patch_result *r);
/* Pair i's raw metric values (n_senders, n_receivers + 1); NULL outside. */
const double *hw_path_patch_pair_metric(const hw_path_patch_result *r, int i);
/* Pair i's metric on its clean and corrupted prompt. */
hw_status hw_path_patch_baseline(const hw_path_patch_result *r, int i, double *clean, double *corrupt);
/* A receiver as its column is named: "1.0.k", "mlp.2", "logits". */
int hw_path_receiver_name(char *buf, size_t n, const hw_path_receiver *rcv);
/* JSON {"metric", "senders", "receivers", "percent", "normalized", "pairs": [...]}, TSV
 * ("sender receiver percent normalized") when path ends in ".tsv"; atomically. */
hw_status hw_path_patch_write(const hw_path_patch_result *r, const char *path);
/* The factual-recall code's preserve_elements: the smallest set of the n entries whose |effect|
 * sums to at least fraction (in [0, 1]) of the total |effect| (largest first, ties to the
 * lower index; NaN entries count 0): keep[i] = 1 for them. Returns how many, or -1 (error
 * set) for n <= 0 or a bad fraction. */
int hw_preserve_elements(const double *effect, int n, double fraction, int *keep);

/* ---------------------------------------------------------------- circuits: logit lens and head subspaces */

/* Logit lens (methods.md sections 7 and 9, src/methods/logit_lens.c): one prompt's
 * residual stream at one position read as logits, layer by layer: each layer's
 * hook_resid_pre and the last layer's hook_resid_post (the rows), and with components
 * each head's hook_result, each layer's hook_attn_out and hook_mlp_out, each through the
 * final norm and W_U. HW_LENS_NORM_RECOMPUTE normalises each vector on itself, bias
 * included (the classic logit lens; the last row is then the model's own logits);
 * HW_LENS_NORM_FIXED divides by the final norm's scale computed on the full residual at
 * that position (LayerNorm: the vector centred too) and leaves the norm's bias out, as
 * DLA does, so the rows are linear in their vectors: embedding + every attn_out +
 * every mlp_out gives the logits less W_U's image of the final norm's bias. */
typedef enum { HW_LENS_NORM_RECOMPUTE, HW_LENS_NORM_FIXED } hw_lens_norm;
typedef struct {
    const char *prompt;     /* encoded with BOS; or, prompt NULL: */
    const int *ids;         /* (n_ids) token ids as given (no BOS added) */
    int n_ids;
    const char *target;     /* an answer (its first token, hw_tokenizer_answer_token) whose
                             * rank and logit each row reports; NULL (default): */
    int target_id;          /* a token id; -1 (default): no target */
    int pos;                /* position read; -1 (default): the last */
    int top;                /* tokens listed per row (default 10, at most V) */
    hw_lens_norm norm;      /* default HW_LENS_NORM_RECOMPUTE */
    int components;         /* 1: also heads, attn_out and mlp_out rows (default 0) */
    const hw_kv_policy *kv; /* the forward's KV cache (read at the start); NULL: full */
} hw_lens_params;
hw_lens_params hw_lens_params_default(void);
typedef struct hw_lens_result hw_lens_result;
/* t is needed for a text prompt or target and for the tokens' texts in the writers (NULL
 * with ids: texts empty). Progress stage "forward" (one pass). */
hw_status hw_lens_run(const hw_model *m, const hw_tokenizer *t, const hw_lens_params *p,
                      hw_progress_fn progress, void *user, hw_lens_result **out);
void hw_lens_free(hw_lens_result *r);
/* Rows in model order: per layer l "resid_pre.l", then with components "l.0" .. "l.H-1",
 * "attn.l", "mlp.l" (models without MLPs: none); last "resid_post.L-1". */
int hw_lens_rows(const hw_lens_result *r);
const char *hw_lens_row_name(const hw_lens_result *r, int i);   /* NULL outside the rows */
const float *hw_lens_logits(const hw_lens_result *r);           /* (rows, V) */
const int *hw_lens_top(const hw_lens_result *r);                /* (rows, top) ids, best first */
/* (rows): the target's rank (0: the top token; the number of tokens with a larger logit)
 * and logit, log-probability under the row's softmax; NULL without a target. */
const int *hw_lens_target_rank(const hw_lens_result *r);
const float *hw_lens_target_logit(const hw_lens_result *r);
const float *hw_lens_target_logprob(const hw_lens_result *r);
typedef struct {
    int n_tokens;           /* prompt tokens (BOS included when encoded) */
    int pos;                /* the position read */
    int vocab, top;         /* V, tokens per row */
    hw_lens_norm norm;
    int target;             /* -1: none */
    const char *target_text; /* "" without a tokenizer or target (lives as long as r) */
    const int *tokens;      /* (n_tokens) the prompt's ids */
} hw_lens_info;
void hw_lens_get_info(const hw_lens_result *r, hw_lens_info *out);
/* path ending in ".html": one table, a row per lens row (name, target rank and logit, top
 * tokens); else JSON {"n_tokens", "pos", "norm", "target", "target_token", "tokens",
 * "rows": [{"name", "top": [ids], "top_text": [..], "top_logit": [..], "target_rank",
 * "target_logit", "target_logprob"}]}. Atomically. */
hw_status hw_lens_write(const hw_lens_result *r, const char *path);

/* A head's QK and OV circuits (methods.md section 9, src/methods/head_subspace.c), as
 * TransformerLens writes them: W_QK = W_Q W_K^T (D x D; x_q^T W_QK x_k is the score before
 * rotary and 1/sqrt(Dh)), W_OV = W_V W_O (D x D; x_src^T W_OV is what the head writes),
 * each of rank <= Dh, its SVD U S V^T from the Dh-rank factors (thin QR of each, SVD of
 * the small core). The left singular vectors (rows of U^T) are the query side (QK) or the
 * source side (OV); the right ones the key side (QK) or the output (OV). Under GQA W_K
 * and W_V are those of the head's KV head. Rotary models: W_QK ignores positions (it is
 * the form at relative distance 0; rotary turns the key side by the distance). Biases are
 * left out. fold_norm folds the layer's input norm gain into the input sides (as
 * TransformerLens's fold_ln): the matrix then acts on unit-RMS (LayerNorm: centred)
 * residuals. Directions are read through the embedding, input sides as x_hat(W_E[t]) . u
 * (the token's embedding normalised without gain when folded, raw otherwise: exact at
 * layer 0, a guide later), and OV's output side through the unembedding,
 * W_U[t] . (g_final * v) (raw: W_U[t] . v): the tokens it raises. */
typedef enum { HW_SUBSPACE_QK, HW_SUBSPACE_OV } hw_subspace_kind;
typedef struct {
    hw_head head;
    hw_subspace_kind kind;  /* default HW_SUBSPACE_QK */
    int directions;         /* singular directions read as tokens (default 4; <= rank) */
    int top;                /* tokens per direction and sign (default 10) */
    int fold_norm;          /* 1 (default): the input norm's gain folded in; 0: raw weights */
} hw_subspace_params;
hw_subspace_params hw_subspace_params_default(void);
typedef struct hw_subspace_result hw_subspace_result;
/* t may be NULL (texts empty in the JSON). */
hw_status hw_subspace_run(const hw_model *m, const hw_tokenizer *t, const hw_subspace_params *p,
                          hw_subspace_result **out);
void hw_subspace_free(hw_subspace_result *r);
int hw_subspace_rank(const hw_subspace_result *r);           /* k = min(Dh, D) */
const double *hw_subspace_singular(const hw_subspace_result *r);  /* (k) descending */
/* (k, D): row i the i-th left (side 0) or right (side 1) singular vector. */
const double *hw_subspace_vectors(const hw_subspace_result *r, int side);
/* (directions, top) token ids (and their scores) of side 0 (input) or 1 (key / output), sign
 * +1 the largest reads of +u, -1 the most negative; NULL on a bad side or sign. */
const int *hw_subspace_tokens(const hw_subspace_result *r, int side, int sign, const double **scores);
int hw_subspace_directions(const hw_subspace_result *r);
int hw_subspace_top(const hw_subspace_result *r);
/* JSON {"head", "kind", "fold_norm", "rank", "singular", "directions": [{"singular",
 * "in" | "query": {"top", "top_text", "top_score", "bottom", ...}, "out" | "key": ...}]}. */
hw_status hw_subspace_write(const hw_subspace_result *r, const char *path);

/* The low-rank test (Lieberum et al.: the correct-letter heads' q, k and v compressed
 * without loss): one head's q (hook_q, before rotary), and/or its KV head's k or v
 * (hook_k, hook_v: shared by its query group under GQA), each projected at every position
 * and in every call onto its own top-r subspace, and the task's accuracy for each r. An
 * input's subspace is the SVD of its activations (the top right singular vectors of the
 * rows collected at every position of the fit prompts; center: PCA around their mean
 * instead, projecting x to mean + P (x - mean)). r >= Dh is no projection at all (the
 * whole space), so its accuracy is the baseline's exactly; r = 0 sets the activation to 0
 * (center: its mean). Projecting q and k together (inputs {Q, K}) restricts the head's
 * scores to a rank-r form, which is what "the QK subspace compresses to rank r" means.
 * The task: prompts (prompt, answer: the answer's tokens each the argmax after the prompt
 * and the answer's earlier tokens, teacher-forced: exact rate and mean share; the
 * subspace fitted on the same prompts) or task.name (hw_task_evaluate_hooked's measures
 * on task.samples held-out samples of task.seed; the subspace fitted on fit_samples
 * samples of fit_seed). */
typedef struct {
    hw_head head;
    hw_hook_point inputs[3]; /* HW_HOOK_Q, HW_HOOK_K, HW_HOOK_V, each at most once */
    int n_inputs;           /* default 1: {HW_HOOK_Q} */
    const int *ranks;       /* (n_ranks) each >= 0; NULL (default): 0, 1, 2, 4, ..., Dh */
    int n_ranks;
    int center;             /* 0 (default): uncentred SVD; 1: PCA around the mean */
    const hw_prompts *prompts;
    hw_task_eval_params task;   /* name NULL by default */
    uint64_t fit_seed;      /* default 54321 (disjoint from the default task seed) */
    int fit_samples;        /* default 100 */
    const hw_kv_policy *kv; /* NULL: full */
} hw_lowrank_params;
hw_lowrank_params hw_lowrank_params_default(void);
typedef struct hw_lowrank_result hw_lowrank_result;
/* t is needed with prompts. Progress stages "fit" and "rank" (ranks evaluated). */
hw_status hw_lowrank_run(const hw_model *m, const hw_tokenizer *t, const hw_lowrank_params *p,
                         hw_progress_fn progress, void *user, hw_lowrank_result **out);
void hw_lowrank_free(hw_lowrank_result *r);
int hw_lowrank_count(const hw_lowrank_result *r);             /* ranks tried */
const int *hw_lowrank_ranks(const hw_lowrank_result *r);      /* (count) */
/* (count) the task's two measures at each rank (prompts: exact rate, mean share of answer
 * tokens right); the baseline (no hook) in *base (2). */
const double *hw_lowrank_accuracy(const hw_lowrank_result *r, int measure, double *base);
/* The inputs projected (*n of them), in the order given. */
const hw_hook_point *hw_lowrank_inputs(const hw_lowrank_result *r, int *n);
/* (Dh) input i's activation singular values (center: of the centred rows), descending;
 * *rows (may be NULL) the rows fitted; NULL outside the inputs. */
const double *hw_lowrank_spectrum(const hw_lowrank_result *r, int input, int *rows);
/* JSON {"head", "inputs": ["q", ...], "center", "fit_rows", "spectrum": {"q": [...], ...},
 * "baseline": [a, a2], "ranks": [{"rank", "accuracy", "accuracy2"}]}, atomically. */
hw_status hw_lowrank_write(const hw_lowrank_result *r, const char *path);

/* ---------------------------------------------------------------- circuits: factual recall (mover heads, MLP regression) */

/* The factual-recall pipeline of Lv et al. 2024 (methods.md section 7,
 * src/methods/factual_recall.c), over prompts that each name a topic (France in "The
 * capital of France is"), read at each prompt's last position:
 *   mover heads: per head the mean over prompts of its attention from the last position
 *     to the topic token (hook_pattern) and of its output there (hook_result) dotted
 *     with W_U[topic] through the final norm, its scale held at the prompt's own value
 *     (hw_logit_direction); mover score = mean attention x mean alignment (the product
 *     of the two means, the axes of the paper's per-head scatter), and Pearson's r of
 *     the two means across the L x H heads;
 *   the MLP regression: one MLP's output at the last position m_p (D) regressed onto
 *     the outputs o_i,p there of every component upstream of it, m ~ sum_i beta_i o_i + b
 *     (hw_fact_regress), each term read through the logit lens (below);
 *   anti-overconfidence: per prompt its top predicted token, and each final-layer
 *     component's (each head of the last layer, its MLP) direct logit attribution to it
 *     (final norm held at the prompt's scale); the components whose mean over prompts is
 *     negative push the top answer down, and the mitigation reruns every prompt with
 *     them scaled by s (heads: hw_hooks_scale; the MLP: its hook_mlp_out times s), and
 *     reports the mean probability of each prompt's original top token before and after.
 * The logit lens of a vector v here: W_U (g * v' / sigma), g the final norm's weight,
 * v' = v (RMSNorm) or v minus its mean (LayerNorm), 1 / sigma the final norm's
 * 1 / RMS (or 1 / standard deviation) of the full residual at the last position
 * averaged over the prompts (held, not recomputed from v; the final norm's bias is left
 * out, it is nobody's term). A positive scale: the tokens' order is the same whatever
 * value it holds. */

/* The least-squares decomposition m_p ~ sum_i beta_i o_{i,p} + b over P samples: o
 * (P, n, D) the n terms of each sample, y (P, D) the vector regressed; beta (n) scalars,
 * b (D) one vector for every sample. Solved over all P x D values in double: b =
 * mean_p(y_p - sum_i beta_i o_{i,p}), so beta solves the normal equations of the values
 * centred over the samples, G beta = c with G_ij = sum_p <o~_i,p, o~_j,p>, c_i = sum_p
 * <o~_i,p, y~_p> (Cholesky). A term whose centred variance G_ii is at most 1e-14 of the
 * largest is constant over the samples (the embedding of the token every prompt ends
 * with, say): it explains nothing, gets beta 0 (its mean goes into b) and constant[i] = 1
 * (constant (n) may be NULL). When the other terms' G is singular even so (a pivot <=
 * 1e-12 of the largest variance: terms that move together), lambda = 1e-9 x their mean
 * variance is added to its diagonal and *ridge is lambda, else 0. *r2 = 1 - SS_res /
 * SS_tot over the centred values (NaN when y is constant). Fails (HW_ERR_ARG) unless
 * (P - 1) D > n, more equations than unknowns; or on non-finite input. */
hw_status hw_fact_regress(const float *o, const float *y, int P, int n, int D, double *beta,
                          double *b, double *r2, double *ridge, int *constant);

typedef enum {
    HW_FACT_ALL,            /* every held-out sample */
    HW_FACT_PLAIN,          /* "<bos> s is": recall of the memorised attribute */
    HW_FACT_COUNTERFACTUAL  /* "<bos> s is a' . s is": after a conflicting statement */
} hw_fact_shape;
typedef enum {
    HW_FACT_TOPIC_SUBJECT,  /* the subject s (its last mention): Lv et al.'s topic */
    HW_FACT_TOPIC_CONTEXT   /* the in-context attribute a' (counterfactual samples only):
                             * what section 6's in-context heads move */
} hw_fact_topic;

typedef struct {
    const hw_prompts *prompts; /* "prompt<TAB>topic[<TAB>answer]" lines (needs t): the
                             * prompt encoded with BOS; its topic token is the topic text's
                             * word token (hw_tokenizer_answer_token), or the first token
                             * of its encoding alone (a topic that starts the prompt), at
                             * its last occurrence in the prompt (none: an error); the answer
                             * (its first token), if given, scores the accuracy. Or: */
    hw_task_eval_params task; /* task.name "recall": the recall task's held-out samples
                             * (task.samples of task.seed, default 100 of 12345; sequences
                             * of the model's context; task.depth unused), each cut before
                             * its answer (layout dst), which is the answer scored */
    hw_fact_shape shape;    /* task samples kept (default HW_FACT_ALL: the task's own mix,
                             * half plain recall, half after a counterfactual statement) */
    hw_fact_topic topic;    /* the task's topic token (default HW_FACT_TOPIC_SUBJECT;
                             * HW_FACT_TOPIC_CONTEXT keeps counterfactual samples only) */
    int mlp_layer;          /* the MLP regressed; -1 (default): the last layer's; with -1
                             * an attention-only model has no regression */
    int top_k;              /* tokens per logit-lens reading (default 10) */
    int top_terms;          /* terms read besides the intercept, largest |beta| first
                             * (default 10) */
    float mitigate_scale;   /* the suppressors' scale in the mitigation (default 0) */
} hw_fact_params;
hw_fact_params hw_fact_params_default(void);
typedef struct hw_fact_result hw_fact_result;
/* Exactly one of p->prompts and p->task.name; t is needed with prompts. Every prompt and
 * topic is checked, and the prompt count against the regression's need, before the
 * first forward pass. Progress stages "prompt" (the captured runs) and "mitigation", in
 * prompts. */
hw_status hw_fact_run(const hw_model *m, const hw_tokenizer *t, const hw_fact_params *p,
                      hw_progress_fn progress, void *user, hw_fact_result **out);
void hw_fact_free(hw_fact_result *r);

typedef struct {
    int n_prompts;
    double pearson_r;       /* of mean attention vs mean alignment over the heads (NaN
                             * when either is constant) */
    int mlp_layer;          /* the MLP regressed, -1: none (attention-only model) */
    int n_terms;            /* its upstream terms: "embed" (hook_resid_pre 0), the heads
                             * "l.h" of layers <= mlp_layer (< in parallel-residual models),
                             * the MLPs "mlp.l" before it; the attention output biases are
                             * the same in every prompt and so part of the intercept */
    double r2;              /* NaN if the MLP's output is the same in every prompt */
    int n_constant;         /* terms constant over the prompts (beta 0) */
    double ridge;           /* hw_fact_regress's lambda, 0: none was needed */
    double norm_scale;      /* the mean 1 / sigma of the lens readings */
    int top_k;
    int n_readings;         /* the intercept and the top_terms terms (fewer if fewer) */
    int n_final;            /* the final layer's components: H heads, then its MLP */
    int n_suppressors;      /* of them, those whose mean DLA is negative */
    float mitigate_scale;
    double confidence_before; /* mean p(top token) over prompts */
    double confidence_after;  /* the same token's, suppressors scaled */
    int n_answers;          /* prompts with a known answer */
    double accuracy_before, accuracy_after; /* greedy token == answer, over those (NaN: none) */
} hw_fact_info;
void hw_fact_get_info(const hw_fact_result *r, hw_fact_info *out);
/* Per head: attention, alignment, score; ranked by score, highest first. Lives as long
 * as r. */
const hw_head_table *hw_fact_movers(const hw_fact_result *r);
/* The regression's terms (n_terms; NULL without a regression): names and beta. */
const char *hw_fact_term_name(const hw_fact_result *r, int i);
const double *hw_fact_betas(const hw_fact_result *r);
const int *hw_fact_constant(const hw_fact_result *r);       /* (n_terms) 0/1 */
const double *hw_fact_intercept(const hw_fact_result *r);   /* (D) b */
/* One logit-lens reading: k = 0 the intercept b (beta 1), k >= 1 the term of k-th
 * largest |beta|, read as beta x its output averaged over the prompts. */
typedef struct {
    const char *name;       /* "intercept" or the term's name */
    double beta;
    const int *ids;         /* (top_k) tokens, highest logit first */
    const double *logits;   /* (top_k) */
    const char *const *text; /* (top_k) each token's text as after a word */
} hw_fact_reading;
hw_status hw_fact_get_reading(const hw_fact_result *r, int k, hw_fact_reading *out);
/* The final layer's components (n_final): "l.h" and "mlp.l"; the mean DLA of each on
 * the top token, and 1 where it was scaled in the mitigation. */
const char *hw_fact_final_name(const hw_fact_result *r, int i);
const double *hw_fact_final_dla(const hw_fact_result *r);
const int *hw_fact_final_suppressed(const hw_fact_result *r);
/* Per prompt (n_prompts, 5): tokens, the topic token's position, the topic token, the
 * top token, the answer (-1: unknown); and (n_prompts, 2) p(top token) before and after
 * the mitigation. */
const int *hw_fact_prompt_info(const hw_fact_result *r);
const double *hw_fact_prompt_probs(const hw_fact_result *r);
/* JSON {"prompts", "movers": {"attention", "alignment", "score": (L, H) lists,
 * "pearson_r", "ranking": ["L-H" ...]}, "regression": null or {"mlp", "terms", "beta",
 * "constant" (names), "r2", "ridge", "norm_scale", "intercept", "readings": [{"term", "beta", "tokens",
 * "ids", "logits"}]}, "anti_overconfidence": {"components", "dla", "suppressors",
 * "scale", "confidence_before", "confidence_after", "confidence_gained", "answers",
 * "accuracy_before", "accuracy_after"}, "per_prompt": {"n_tokens", "topic_pos",
 * "topic_token", "top_token", "answer", "p_before", "p_after"}}; NaN as null. A path
 * ending in ".tsv": the mover heads instead, "layer head attention alignment score" rows
 * by score. Atomic. */
hw_status hw_fact_write(const hw_fact_result *r, const char *path);

/* ---------------------------------------------------------------- circuits: contextual decomposition (CD-T) */

/* CD-T (src/methods/cdt.c; methods.md section 8): every activation of one prompt split
 * as beta (caused by the sources) + gamma (the rest), through every layer type; rules in
 * cdt.c's header. A source is a token at a position or a head at a position (its whole
 * output there relevant); pos -1: every position. */
typedef enum { HW_CDT_TOKEN, HW_CDT_HEAD } hw_cdt_source_kind;
typedef struct {
    hw_cdt_source_kind kind;
    int layer, head;        /* HW_CDT_HEAD */
    int pos;                /* -1: every position */
} hw_cdt_source;
typedef struct hw_cdt hw_cdt;
/* One prefill of tokens (T, from position 0) decomposed. keep = 1 keeps every node's
 * parts (hw_cdt_part), else the logits only. HW_ERR_ARG on a token or source outside the
 * model, HW_ERR_RANGE past its context. */
hw_status hw_cdt_decompose(const hw_model *m, const int *tokens, int T, const hw_cdt_source *src, int n_src,
                           int keep, hw_cdt **out);
void hw_cdt_free(hw_cdt *d);
int hw_cdt_tokens(const hw_cdt *d);
/* The relevant (beta, relevant = 1) or irrelevant (gamma) part of a node, in the shape
 * its hook has: hook_resid_pre, hook_q, hook_k, hook_v (before rotary), hook_z,
 * hook_attn_out, hook_mlp_out, hook_resid_post of a layer, or hook_logits (T, V; layer
 * ignored); NULL for other points, a layer outside, a node not kept, or hook_mlp_out of
 * an attention-only model. */
const float *hw_cdt_part(const hw_cdt *d, hw_hook_point point, int layer, int relevant);

/* Circuits by CD-T (src/methods/cdt_circuit.c): each head (whole, every position) alone
 * relevant, decomposed once per clean prompt of pairs: its relevant logit difference
 * (target minus minus, beta's part at the last position) and its relevance at every later
 * head's q (last position), k and v (every position), mean |beta| / (mean |beta| + mean
 * |gamma|), averaged over prompts. Discovery: the `top` heads of largest relevant logit
 * difference (each >= keep x the largest) are the output heads; for each circuit head,
 * the `top` earlier heads most relevant to one of its inputs (>= keep x the most) join,
 * with an edge labelled by that input; until no head joins. Relevance (L, H) in [0, 1]:
 * a head's largest normalised score, as an output head or as a sender into a circuit
 * head. Faithfulness: the metric (logit-diff) over the clean prompts with every head
 * outside a set mean-ablated (the corrupted prompts' mean z), (M(set) - M(none)) /
 * (M(all) - M(none)), for the sets of the first 1, 2, ... heads by relevance (circuit
 * heads first) and, averaged over random_draws, for random sets of the same size. */
typedef struct {
    int top;                /* heads kept per level (default 3) */
    double keep;            /* ... each at least keep x the level's best (default 0.3) */
    int faithfulness;       /* 1: the faithfulness curve (default 1) */
    int random_draws;       /* random sets per size (default 20) */
    uint64_t seed;          /* of the random sets (default 1) */
    int max_size;           /* the curve's largest set (default 0: every head) */
} hw_cdt_params;
hw_cdt_params hw_cdt_params_default(void);
typedef struct hw_cdt_result hw_cdt_result;
typedef struct {
    hw_head sender, receiver;
    int input;              /* 0 q, 1 k, 2 v */
    double weight;          /* the sender's relevance at that input */
} hw_cdt_edge;
/* Progress stages "decompose" (prompts) and "faithfulness" (set sizes). Fails before any
 * pass on pairs outside m or bad params. */
hw_status hw_cdt_run(const hw_model *m, const hw_prompt_pairs *pairs, const hw_cdt_params *p,
                     hw_progress_fn progress, void *user, hw_cdt_result **out);
void hw_cdt_result_free(hw_cdt_result *r);
void hw_cdt_result_shape(const hw_cdt_result *r, int *layers, int *heads, int *pairs);
const double *hw_cdt_result_logit(const hw_cdt_result *r);     /* (L, H) */
/* (L*H senders, L*H receivers, 3: q, k, v); NaN where the receiver is not later */
const double *hw_cdt_result_edges(const hw_cdt_result *r);
const double *hw_cdt_result_relevance(const hw_cdt_result *r); /* (L, H) */
/* The circuit's heads in the order they joined; its edges. */
int hw_cdt_result_circuit(const hw_cdt_result *r, const hw_head **heads);
int hw_cdt_result_circuit_edges(const hw_cdt_result *r, const hw_cdt_edge **edges);
/* The curve's sizes (0 without it); order (L*H) the heads in the order sets grow,
 * circuit and random the faithfulness of each size 1.. */
int hw_cdt_result_faithfulness(const hw_cdt_result *r, const hw_head **order, const double **circuit,
                               const double **random);
/* The metric with no head ablated, and with every head ablated. */
void hw_cdt_result_metrics(const hw_cdt_result *r, double *full, double *none);
/* ROC AUC of relevance against a known set of heads (positives; the rest negatives). */
double hw_cdt_roc_auc(const hw_cdt_result *r, const hw_head *known, int n_known);
/* JSON {"layers", "heads", "pairs", "logit", "relevance", "circuit": ["L.H"], "edges":
 * [{"sender", "receiver", "input", "weight", "q", "k", "v"}], "metric_full",
 * "metric_none", "faithfulness": [{"size", "added", "circuit", "random"}]}; TSV when path
 * ends in ".tsv": "layer head logit relevance circuit"; atomically. */
hw_status hw_cdt_result_write(const hw_cdt_result *r, const char *path);
/* The circuit as a page: layers as columns, heads as nodes (shaded by relevance), edges
 * labelled q/k/v with their weights, and the faithfulness curve; atomically. */
hw_status hw_cdt_result_write_html(const hw_cdt_result *r, const char *path);
/* ---------------------------------------------------------------- head atlas */

/* The head atlas (src/methods/atlas.c, `headwise atlas`): every head probe that applies
 * to a model run in one call, each head labelled from its scores, the labelled heads
 * masked one at a time on the task that fits them, and a KV-cache policy derived from
 * the labels. Probes (each skipped with a bit of hw_atlas_params.skip):
 *   retrieval     Retrieval Head score (hw_retrieval_run): the task's held-out samples
 *                 (task "retrieval"), else text needle-in-a-haystack trials (niah);
 *   echo          RazorAttention's probe (hw_echo_induction_run): echo_mass,
 *                 induction_mass, prev_token; a text model's block is text (the probe
 *                 text's first tokens), an organism's random ids (as its tests);
 *   successor     successor score (hw_successor_run): the default tasks on a text model,
 *                 the organism's tasks file (data/tasks/successor_organism.txt) for task
 *                 "successor"; skipped when no task has a pair of single tokens;
 *   attribution   memory vs in-context (hw_attribution_run): with prompts, or task
 *                 "recall"; score "attribution" (scaled: memory > 0 > in-context);
 *   streaming     one prefill of the probe prompt (a text model: BOS and the probe
 *                 text's tokens repeated twice, probe_tokens in all; an organism: a
 *                 held-out sample of its task): per head the mean attention mass a query
 *                 at i >= sink + recent puts on the sinks (k < sink) and the recent
 *                 window (i - recent < k <= i), not scored on a probe no longer than
 *                 sink + recent; the same pass keeps each head's pattern for the page
 *                 (hw_atlas_write_html);
 *   gates         DuoAttention gates from gates_path (hw_kv_head_scores_read), score
 *                 "duo_gate" of each query head's KV head; not used for labels.
 * Labels: a head takes every label whose score reaches its threshold, at most two, the
 * two furthest above theirs (score / threshold); none: "other". */
typedef enum {
    HW_ATLAS_RETRIEVAL,     /* retrieval score >= retrieval */
    HW_ATLAS_INDUCTION,     /* induction_mass >= induction */
    HW_ATLAS_PREV_TOKEN,    /* prev_token >= prev_token */
    HW_ATLAS_ECHO,          /* echo_mass >= echo */
    HW_ATLAS_SUCCESSOR,     /* successor score >= successor */
    HW_ATLAS_MEMORY,        /* attribution >= memory * max |attribution| (and > 0) */
    HW_ATLAS_IN_CONTEXT,    /* attribution <= -in_context * max |attribution| (and < 0) */
    HW_ATLAS_STREAMING,     /* streaming >= streaming */
    HW_ATLAS_OTHER,
    HW_ATLAS_LABELS
} hw_atlas_label;
/* "retrieval", "induction", "previous-token", "echo", "successor", "memory",
 * "in-context", "streaming", "other" (NULL outside). */
const char *hw_atlas_label_name(hw_atlas_label label);
enum { HW_ATLAS_SKIP_RETRIEVAL = 1, HW_ATLAS_SKIP_ECHO = 2, HW_ATLAS_SKIP_SUCCESSOR = 4,
       HW_ATLAS_SKIP_ATTRIBUTION = 8, HW_ATLAS_SKIP_MASK = 16, HW_ATLAS_SKIP_KV_EVAL = 32 };
typedef struct {
    /* The labels' thresholds (defaults in brackets). Masses are shares of attention in
     * [0, 1]; memory and in_context are fractions of the largest |attribution|. */
    double retrieval;       /* [0.1] */
    double induction;       /* [0.3] */
    double prev_token;      /* [0.3] */
    double echo;            /* [0.2] */
    double successor;       /* [0.5] */
    double memory;          /* [0.5] */
    double in_context;      /* [0.5] */
    double streaming;       /* [0.95] */
} hw_atlas_thresholds;
typedef struct {
    /* A model organism's task (task.name; NULL (default): a text model, probed with
     * text). samples (default 50) and seed serve every task evaluation. */
    hw_task_eval_params task;
    const hw_prompts *prompts;  /* attribution prompts (prompt, memorized, in-context); NULL */
    const char *text;           /* the probe text; NULL: the default haystack (niah.data_dir) */
    hw_niah_params niah;        /* text retrieval trials (default: the default needle, 2
                                 * lengths up to min(C, 2000), 3 depths, max_new 20) */
    const char *gates_path;     /* DuoAttention gates or any KV head-score file; NULL */
    const char *successor_tasks; /* tasks file; NULL: see the probes above */
    int probe_tokens;           /* the probe prompt's tokens (default min(C, 256)) */
    int echo_repeats;           /* copies of the echo probe's block (default 4) */
    hw_atlas_thresholds thresholds;
    int mask_max;               /* heads masked per label at most, strongest first (default 8) */
    unsigned skip;              /* HW_ATLAS_SKIP_* bits (default 0) */
    /* The derived policy: full KV heads are those with a query head labelled retrieval,
     * induction, echo or in-context; the others keep sink + recent positions. */
    int sink;                   /* default 4 */
    int recent;                 /* 0 (default): min(256, C / 4 - sink), at least 1 */
    int kv_context;             /* KV bytes are counted at this context (0: C) */
    const char *label;          /* the model's name in reports (NULL: "model") */
} hw_atlas_params;
hw_atlas_params hw_atlas_params_default(void);
typedef struct hw_atlas_result hw_atlas_result;
/* t is needed for text models, prompts and the successor probe. Checks the settings
 * (thresholds finite and >= 0, the probe within the context, files readable) before any
 * probe runs. Progress stages name the probe ("retrieval", "echo-induction", ...,
 * "mask L.H", "kv policy"). */
hw_status hw_atlas_run(const hw_model *m, const hw_tokenizer *t, const hw_atlas_params *p,
                       hw_progress_fn progress, void *user, hw_atlas_result **out);
void hw_atlas_free(hw_atlas_result *r);
/* The model's shape: layers, query heads and KV heads per layer (any may be NULL). */
void hw_atlas_shape(const hw_atlas_result *r, int *layers, int *heads, int *kv_heads);
/* The scores run, by name: "retrieval", "echo", "induction", "prev_token", "successor",
 * "attribution", "streaming", "duo_gate": each (L, H), or NULL when not run. */
const double *hw_atlas_score(const hw_atlas_result *r, const char *name);
/* Head (layer, head)'s labels (at most 2) into labels; returns their count (0: other),
 * or -1 outside the grid. */
int hw_atlas_labels(const hw_atlas_result *r, int layer, int head, hw_atlas_label labels[2]);
typedef struct {
    int measured;           /* 0: not masked (no task for its label, or beyond mask_max) */
    const char *task;       /* "retrieval", "niah", "copy", "induction", ... */
    const char *metric;     /* "exact", "accuracy", ... */
    double baseline, masked;/* the task's measure without and with the head masked */
} hw_atlas_mask_effect;
hw_status hw_atlas_mask_effect_get(const hw_atlas_result *r, int layer, int head,
                                   hw_atlas_mask_effect *out);
typedef struct {
    int n_full;             /* KV heads full (of L x Hk) */
    const int *full;        /* (L, Hk) 0/1 */
    int sink, recent, context;
    size_t bytes_full;      /* KV cache at context with every head full */
    size_t bytes_policy;    /* with the policy */
    int evaluated;          /* 1: the accuracies below were measured */
    const char *eval_task;  /* "retrieval" (niah grid of the task) or "niah" */
    double accuracy_full, accuracy_policy; /* exact-answer rates */
} hw_atlas_kv;
void hw_atlas_kv_get(const hw_atlas_result *r, hw_atlas_kv *out);
/* The --kv flag of the policy when its mask is written at mask_path (NULL:
 * "full_heads.tsv"; a path with a comma cannot be named in the flag), into buf (n bytes):
 * "full", "window:sink=S,recent=R" or "duo:heads=MASK,sink=S,recent=R"; returns its
 * length as snprintf does, or -1 (error set) without r or buf. */
int hw_atlas_kv_flag(const hw_atlas_result *r, const char *mask_path, char *buf, size_t n);
/* The probe prompt: its T tokens and their texts (each as it prints after the one
 * before); returns T (0 without r). */
int hw_atlas_probe(const hw_atlas_result *r, const int **tokens, const char *const **texts);
/* dir/atlas.json ({"model", "layers", "heads", "kv_heads", "head_dim", "context", "task",
 * "thresholds", "probes" (each probe "ran" or why not), "probe" {"tokens", "text", "bins"},
 * "heads_info": [{"layer", "head", "kv_head", "labels", "scores", "mask_effect": null or
 * {"task", "metric", "baseline", "masked", "delta"}}], "kv_policy":
 * {"full_heads": [[layer, kv_head]...], "flag", "full_kv_heads", "kv_heads_total", "sink",
 * "recent", "kv_bytes": {"context", "full", "policy", "saved", "ratio"}, "accuracy": null
 * or {"task", "metric", "full", "policy"}}}), dir/full_heads.tsv (the
 * policy's 0/1 mask, hw_kv_head_mask_write) and dir/atlas.html (hw_atlas_write_html),
 * each atomically; dir made if missing. */
hw_status hw_atlas_write(const hw_atlas_result *r, const char *dir);
/* atlas.json alone; mask_path is what its flag names (as hw_atlas_kv_flag). */
hw_status hw_atlas_write_json(const hw_atlas_result *r, const char *path, const char *mask_path);
/* One self-contained page: the layer x head grid coloured by label (cells carry
 * data-layer, data-head and data-labels) with a legend, per-label ranked lists, a head's
 * card (id head-card) on click with its scores, masking effect and attention pattern on
 * the probe (a canvas, the tokens on both axes, colour scale, values on hover), and the
 * KV policy with the memory it saves. Patterns are stored as bytes (sqrt-coded), binned
 * to at most as many rows as keep them within about 3.2 MB (a 32 x 32-head model at
 * 1K tokens: 78 bins, a 4.4 MB page). */
hw_status hw_atlas_write_html(const hw_atlas_result *r, const char *path, const char *mask_path);

/* ---------------------------------------------------------------- AttentionInfluence */

/* AttentionInfluence (src/methods/influence.c; methods.md section 10): every document of a
 * JSONL corpus (one object a line: "text" string, "domain" string (default ""), optional
 * "id" string or number (default the line number); plain, .gz when built with zlib) scored
 * by the relative rise of its mean next-token loss when heads are masked:
 * influence = (L_mask - L_base) / L_base. A document longer than the window is read in
 * consecutive windows of `context` tokens, each a fresh context with BOS first where the
 * tokenizer has one (BOS is never a target; without BOS a window's first token is not
 * scored); losses are token-weighted over windows. Documents are scored one at a time: the
 * engine's context holds one sequence, and packing several into one pass would let them
 * attend to each other.
 *
 * A run scores the documents whose first byte lies in [byte_begin, byte_end) (a shard: a
 * range starting mid-line begins at the next line) into a resume log at log_path:
 *   # headwise influence log
 *   # setting NAME VALUE              (model, heads, mode, context, corpus, range, ...)
 *   NEXT<TAB>LINE<TAB>{"id":..,"domain":..,"tokens":..,"loss_base":..,"loss_masked":..,"influence":..}
 *   NEXT<TAB>LINE<TAB>!reason         (a bad line, skipped with a warning)
 *   # end                             (the range is done)
 * NEXT is the byte after the line. A record is appended and flushed per document, so a
 * killed run leaves a whole log (a torn last line is cut); a rerun with the same settings
 * resumes after the last record, with other settings it fails naming the setting.
 * hw_influence_merge then writes the output (records in corpus order) atomically. */
typedef enum { HW_INFLUENCE_UNIFORM, HW_INFLUENCE_ZERO } hw_influence_mode;
/* A bad line skipped: its line number and why (user: the run's). */
typedef void (*hw_influence_warn_fn)(int64_t line, const char *reason, void *user);
typedef struct {
    const hw_head *heads;     /* the masked heads (read during the run) */
    int n_heads;
    hw_influence_mode mode;   /* default HW_INFLUENCE_UNIFORM (hw_hooks_mask_uniform);
                               * ZERO: hw_hooks_zero_output */
    int context;              /* window in tokens; <= 0 (default): the model's n_ctx */
    int strict;               /* a bad line fails the run (default 0: skipped, warned) */
    int64_t byte_begin, byte_end; /* the shard; byte_end < 0 (default): to the end */
    const char *model_id;     /* the model's name in the log's settings (e.g. its path) */
    hw_influence_warn_fn warn; /* each bad line skipped (may be NULL) */
} hw_influence_params;
hw_influence_params hw_influence_params_default(void);

/* What a run (or its resumed log) holds. */
typedef struct {
    int64_t documents;        /* scored, resumed ones included */
    int64_t resumed;          /* of those, found in the log */
    int64_t bad_lines;        /* skipped (warned) */
    int64_t tokens;           /* scored tokens of the scored documents */
    int64_t bytes;            /* corpus bytes of the shard read (resumed ones included) */
} hw_influence_summary;

/* Score the shard of corpus into log_path. progress: ("documents", n, 0), ("tokens", n, 0)
 * then ("bytes", done, shard bytes or 0 if unknown) after each document, so a caller can
 * show documents/s, tokens/s and an ETA; non-zero stops the run (HW_ERR_ARG), the log
 * staying whole. Errors (with the line number where one applies): an unreadable corpus, a
 * .zst corpus (not supported), a bad line with strict, a log of other settings. */
hw_status hw_influence_run(const hw_model *m, const hw_tokenizer *t, const char *corpus,
                           const char *log_path, const hw_influence_params *p,
                           hw_progress_fn progress, void *user, hw_influence_summary *summary);
/* The complete logs of a corpus's shards, in corpus order, into out as JSONL (written
 * atomically); summary (may be NULL) gets their sums. Fails on a missing, incomplete or
 * malformed log, or a corpus with no line at all ("empty corpus"). */
hw_status hw_influence_merge(const char *const *logs, int n, const char *out,
                             hw_influence_summary *summary);
/* The masked heads from a head-score file of any kind hw_kv_head_scores_read reads, per
 * query head (L, H): the top round(top * L * H) (ties to the lower index). Their number
 * (>= 1) with *heads malloc'd, or -1 (error set). */
int hw_influence_heads_from_file(const hw_model *m, const char *path, double top, hw_head **heads);

/* The paper's selection: per domain (or over the whole file when per_domain is 0), the
 * documents ranked by influence, descending (ties: corpus order), the top
 * round(fraction * count) kept; the kept lines are written to out (atomically) in corpus
 * order, as they are in scores. table (may be NULL) gets a per-domain summary TSV:
 * domain, documents, selected, tokens, selected tokens, mean influence, threshold. */
hw_status hw_influence_select(const char *scores, double fraction, int per_domain,
                              const char *out, FILE *table);

/* ---------------------------------------------------------------- prompts files */

/* A prompts file (src/eval/prompts.c): one prompt per line,
 * "prompt<TAB>answer1[<TAB>answer2 ...]" (up to 4 answers), "\n" in a prompt stands for a
 * newline, lines starting with '#' are comments. Used by mask-test (prompt, answer),
 * sweep scale and attribution (prompt, memorized answer, in-context answer). */
typedef struct hw_prompts hw_prompts;
/* Every line must have at least n_answers answers; a file with no prompt is an error. */
hw_prompts *hw_prompts_read(const char *path, int n_answers);
void hw_prompts_free(hw_prompts *p);
int hw_prompts_count(const hw_prompts *p);
const char *hw_prompts_text(const hw_prompts *p, int i);
/* Answer k of prompt i, or NULL if the line has none. */
const char *hw_prompts_answer(const hw_prompts *p, int i, int k);

/* ---------------------------------------------------------------- output files */

/* A file written whole or not at all: data goes to a temporary name beside path
 * and is renamed over path by hw_atomic_commit. abort (or a crash) leaves path
 * untouched. */
typedef struct hw_atomic_file hw_atomic_file;
hw_atomic_file *hw_atomic_open(const char *path);
FILE *hw_atomic_stream(hw_atomic_file *a);
hw_status hw_atomic_commit(hw_atomic_file *a);   /* closes and frees a, even on failure */
void hw_atomic_abort(hw_atomic_file *a);         /* removes the temporary file, frees a */
hw_status hw_write_file_atomic(const char *path, const void *data, size_t n);
/* Make the missing parent folders of path and check that a file can be created beside
 * it (a temporary one, removed), so that a protocol fails before its long work rather
 * than after it. */
hw_status hw_output_prepare(const char *path);
/* A NumPy .npy file (format 1.0, little-endian float32, C order), atomically. */
hw_status hw_npy_write(const char *path, const float *data, int ndim, const int64_t *shape);
/* A self-contained HTML page of attention patterns (L, H, T, T): one small heatmap
 * per head, layers as rows and heads as columns; clicking one shows it large over
 * the T tokens (UTF-8 strings) on both axes, with a colour legend and each weight under
 * the pointer (the atlas's viewer, src/report/pattern_view.c). Weights are stored one
 * byte per cell, binned over positions when the page would pass about 3 MB (a 32 x 32
 * head model at 1K tokens stays under 5 MB). Atomically. */
hw_status hw_patterns_html(const char *path, const char *title, const char *const *tokens, int T,
                           int L, int H, const float *pattern);
struct hw_tokenizer;   /* hw_tokenizer, declared in the tokenizer section below */
/* The folder dir and its missing parents (as mkdir -p); fails (HW_ERR_IO) unless dir is
 * then a folder this process can write in. Every writer of a folder below calls it; a
 * caller with a long run ahead calls it first, so a bad path fails before the work. */
hw_status hw_dir_create(const char *dir);
/* The captures of cap as a folder any language reads (dir made with hw_dir_create):
 *   NAME.npy for each entry (a decode step's, or a visit after position 0, is
 *     NAME.posP.npy), NAME the hook's name (hw_hook_name), in its documented axes;
 *   logits.npy (V) if logits is not NULL: the next-token logits computed at position
 *     logits_pos;
 *   index.json: one entry per file, in the order written, {"hook", "file", "layer",
 *     "pos", "phase": "prefill"|"decode", "axes": "pos,head,d_head"..., "shape"};
 *     logits.npy comes last with "hook": "logits" (layer -1, axes "d_vocab"), and, given
 *     ctx (the context the logits came from; may be NULL), "kv" (its policy's name,
 *     hw_kv_policy_name) and "kv_bytes" (hw_context_kv_bytes of the whole cache);
 *   tokens.json if tokens is not NULL: [{"pos", "id", "text"}] for the n tokens, the
 *     text as each token prints after the one before (t may be NULL: no "text"). */
hw_status hw_capture_write_npy_dir(const hw_capture *cap, const struct hw_tokenizer *t,
                                   const int *tokens, int n, const float *logits, int V,
                                   int logits_pos, const hw_context *ctx, const char *dir);
/* Every layer's attention pattern captured in a prefill of the T tokens from position 0
 * (hw_capture_want(cap, HW_HOOK_PATTERN, -1)) as dir/blocks.L.attn.hook_pattern.npy
 * (H, T, T) per layer, dir/patterns.npy (L, H, T, T) and dir/patterns.html
 * (hw_patterns_html with the tokens' text and title). */
hw_status hw_capture_write_patterns(const hw_capture *cap, const struct hw_tokenizer *t,
                                    const int *tokens, int T, const char *title,
                                    const char *dir);

/* ---------------------------------------------------------------- GGUF files */

/* GGUF files (llama.cpp's format, versions 2 and 3) need no calls of their own:
 *   hw_model_load reads a GGUF of architecture "llama" (Llama 1-3, TinyLlama, GQA;
 *     rope.freq_base, linear rope scaling; output.weight absent means tied), "qwen2" or
 *     "gpt2", as llama.cpp's converter writes them; a tensor the architecture does not
 *     read (Llama 3.1's rope_freqs, say) is refused, not ignored. Matrices stay in the map
 *     in their stored type: F32, F16, BF16 and the block types Q4_0, Q4_1, Q5_0, Q5_1,
 *     Q8_0, Q4_K, Q5_K and Q6_K (see below). llama.cpp's query/key row order is Meta's
 *     interleaved rotary layout, which the engine computes in as it is.
 *     hw_model_get_info names the format ("GGUF v3") and the stored tensor types
 *     ("F32 x3 + F16 x9").
 *   hw_tokenizer_load (and hw_tokenizer_load_for_model, which for a GGUF model is the
 *     file itself) reads tokenizer.ggml.*: model "llama" (SentencePiece-style: scores,
 *     token types, <0xNN> byte fallback) or "gpt2" (byte-level BPE with merges, the
 *     pre-tokenizer that tokenizer.ggml.pre names: gpt-2, llama-bpe, qwen2,
 *     deepseek-llm, deepseek-coder, falcon, starcoder, refact, mpt, ...); control and
 *     user-defined tokens written in the text are those tokens. A vocabulary-only GGUF
 *     (no tensors) loads as a tokenizer.
 * To look inside a file without loading a model (`headwise info --gguf`): */

typedef struct hw_gguf_file hw_gguf_file;
/* Open path and check all of it (header, every metadata value, the tensor table
 * against the file); no tensor data is read. NULL (error set) if it is not a valid
 * GGUF v2/v3 file. */
hw_gguf_file *hw_gguf_file_open(const char *path);
void hw_gguf_file_free(hw_gguf_file *f);
int hw_gguf_file_version(const hw_gguf_file *f);
int64_t hw_gguf_file_n_metadata(const hw_gguf_file *f);
int64_t hw_gguf_file_n_tensors(const hw_gguf_file *f);
/* Metadata entry i (file order): its key, and its value as text: numbers as C prints
 * them (%lld, %.9g), bools true/false, strings quoted with \" \\ \n and non-printable
 * bytes escaped, arrays as "[u32 x 3: 1, 2, 3]" (the first 8 elements). Both are
 * NUL-terminated, cut to fit key_cap / value_cap. */
hw_status hw_gguf_file_metadata(const hw_gguf_file *f, int64_t i, char *key, size_t key_cap,
                                char *value, size_t value_cap);
typedef struct {
    const char *name;       /* owned by the file */
    const char *type;       /* ggml type: "F32", "F16", "Q4_K", ... */
    int n_dims;
    int64_t ne[4];          /* ne[0] is a row's length (GGUF order); 1 past n_dims */
    int64_t bytes;          /* stored bytes */
    int64_t offset;         /* from the start of the file */
} hw_gguf_tensor_info;
/* Tensor i (file order). */
hw_status hw_gguf_file_tensor(const hw_gguf_file *f, int64_t i, hw_gguf_tensor_info *out);

/* Matrices are used in their stored type: F32, F16 and BF16 (GGUF or safetensors) and
 * GGUF's block types stay in the file's map and are decoded a few rows at a time as
 * products read them, so resident memory is about the file's size; results equal the
 * f32 product of the decoded weights (f32 activations) and do not depend on the thread
 * count. hw_model_get_info's dtype names the stored types ("F32 x3 + F16 x9"). */

/* Quantize a GGUF model (`headwise quantize`): every 2-D ".weight" matrix in `type`,
 * laid out as llama.cpp's llama-quantize writes: metadata copied (tokenizer included)
 * with general.file_type and general.quantization_version set, 1-D tensors and learned
 * positions as stored, the output matrix (a tied model's token embedding) in Q6_K
 * unless type is q8_0, rows that are not whole blocks falling back to Q5_0 / Q8_0 /
 * F16. Written atomically. */
typedef struct {
    const char *type;           /* "q8_0" (default), "q4_0", "q4_k", "q6_k" */
    hw_progress_fn progress;    /* per tensor; may be NULL */
    void *user;
} hw_quantize_params;
hw_quantize_params hw_quantize_params_default(void);
typedef struct {
    int64_t n_tensors, n_quantized;
    int64_t in_bytes, out_bytes;    /* tensor data read and written */
} hw_quantize_summary;
/* summary may be NULL. A model that is not a GGUF file, a type not listed, a non-finite
 * weight: an error naming it, nothing written. */
hw_status hw_quantize_gguf(const char *model, const char *out, const hw_quantize_params *p,
                           hw_quantize_summary *summary);

/* ---------------------------------------------------------------- tokenizer */

typedef struct hw_tokenizer hw_tokenizer;

/* Load a tokenizer. path is one of:
 *   a llama2.c tokenizer.bin holding vocab_size pieces (vocab_size <= 0: every
 *     piece in the file; a file with more pieces is read up to vocab_size, as
 *     llama2.c does);
 *   a Hugging Face tokenizer.json with a BPE model: byte-level (GPT-2, Pythia,
 *     Llama-3, Qwen2) or SentencePiece-style with byte fallback (Llama-2,
 *     TinyLlama, Mistral), or a WordLevel model (one piece per word; without a
 *     decoder the pieces decode joined by spaces); vocab_size is ignored;
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
/* hw_tokenizer_encode into a malloc'd array *ids (the caller frees it); returns the
 * count or -1 (error set, *ids NULL). */
int hw_tokenizer_encode_alloc(const hw_tokenizer *t, const char *text, int flags, int **ids);
/* The single token a word is when it follows another word: " word" (or, for tokenizers
 * that put the space themselves, "word") if it encodes to one token; else -1. */
int hw_tokenizer_word_token(const hw_tokenizer *t, const char *word);
/* The token an answer starts with: its single word token if it has one, else the first
 * token of its encoding; -1 if it encodes to nothing. */
int hw_tokenizer_answer_token(const hw_tokenizer *t, const char *text);
/* The tokenizer that goes with a model path when none is given (what every headwise
 * command loads without -z): a Hugging Face folder's own (tokenizer.json, or
 * encoder.json + vocab.bpe, as hw_tokenizer_load reads a folder); for a llama2.c
 * checkpoint, tokenizer.bin in the checkpoint's folder. A checkpoint shipped with
 * another name (stories260K.bin's tok512.bin) needs hw_tokenizer_load with that file.
 * vocab_size as hw_tokenizer_load (pass the model's). The error names the model and
 * the file looked at. */
hw_tokenizer *hw_tokenizer_load_for_model(const char *model_path, int vocab_size);
/* The path hw_tokenizer_load_for_model loads, into out (n bytes). */
hw_status hw_tokenizer_path_for_model(const char *model_path, char *out, size_t n);

/* Write a Hugging Face tokenizer.json for a vocabulary of symbols (id = index;
 * each non-empty, without whitespace, distinct): a WordLevel model with a
 * WhitespaceSplit pre-tokenizer and no decoder, so text is the symbols joined
 * by spaces, as hw_tokenizer_load and Hugging Face tokenizers both read it.
 * bos (-1: none) becomes a special token the post-processor puts first; unk
 * (-1: none) is what an unknown word becomes. Written atomically. */
hw_status hw_tokenizer_write_wordlevel(const char *path, const char *const *symbols, int n,
                                       int bos, int unk);

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
    const hw_hooks *hooks;  /* run in every forward call (prefill and decode); NULL: none */
    /* The context's KV cache (hw_context_new_kv; copied, need not outlive the call);
     * NULL (default): every head full. */
    const hw_kv_policy *kv;
} hw_generate_params;
hw_generate_params hw_generate_params_default(void);

/* Encode prompt (with BOS), prefill it, then sample until n_steps positions,
 * BOS or EOS, or the end of the context (hw_kv_policy_max_positions: with LongHeads,
 * n_steps and the prompt may pass the model's context). The prompt's pieces, then each new token's,
 * go to fn as they are made. */
hw_status hw_generate(const hw_model *m, const hw_tokenizer *t, const char *prompt,
                      hw_generate_params p, hw_piece_fn fn, void *user);

/* Greedy decoding, the one loop every protocol and command uses (generate at
 * temperature 0 aside, which goes through the sampler's identical argmax). */
enum {
    HW_STOP_EOS = 1,      /* stop after EOS or BOS (llama2.c-style models emit BOS between
                           * texts); the token is returned, its text is not */
    HW_STOP_NEWLINE = 2,  /* stop after a token whose text holds a newline (needs t) */
};
/* Called after each new token with its step (0-based), id and the logits (V) it was
 * chosen from; return non-zero to stop with an error (HW_ERR_ARG). */
typedef int (*hw_token_fn)(int step, int token, const float *logits, void *user);
typedef struct {
    int max_new;            /* new tokens at most (default 64) */
    int stop;               /* HW_STOP_* flags (default HW_STOP_EOS) */
    /* 1: prefill all but the last prompt token, then feed that one as the first decode
     * step, so that every new token comes from a one-token call, where decode-phase
     * hooks act (the Retrieval Head protocol); 0 (default): prefill the whole prompt. */
    int decode_last;
    const hw_hooks *hooks;  /* in every call; NULL: none */
    hw_token_fn on_token;   /* NULL: none */
    void *user;
} hw_greedy_params;
hw_greedy_params hw_greedy_params_default(void);
/* Reset c, run prompt (n tokens; at least 2 with decode_last) and append greedy tokens
 * to out (room for max_new) until max_new, a stop condition or the end of c's context;
 * each new token costs one forward call and the last is never fed back. text (if not
 * NULL; needs t) receives the new tokens' text, NUL-terminated, cut at text_cap bytes.
 * Returns the number of new tokens, or -1 (error set). */
int hw_greedy(hw_context *c, const hw_tokenizer *t, const int *prompt, int n,
              const hw_greedy_params *p, int *out, char *text, size_t text_cap);

/* ---------------------------------------------------------------- synthetic tasks */

/* Seeded generators of training and evaluation sequences for model organisms:
 * small models trained on one task, whose heads are known. Each task has its
 * own vocabulary of symbols (id 0 is "<bos>", which starts every sequence) and
 * writes it as a WordLevel tokenizer.json. Tasks (one file each in src/tasks):
 *   induction  random tokens in which a segment of random length (min_len..max_len)
 *              reappears at a random offset; scored on the repeated segment after
 *              its first token (next-token accuracy)
 *   retrieval  a needle "key k is v1 .. vn" at a depth in Markov-chain filler,
 *              then "Q: k A:" and the answer v1 .. vn to copy; scored as exact
 *              greedy answers. Several needles (distinct keys) from 256 tokens on,
 *              each asked in the tail; the one scored is asked last and sits at the
 *              depth
 *   successor  "a1 .. an SEP succ(a1) .. succ(an)" over numbers, days, months and
 *              letters; scored on the successors (next-token accuracy)
 *   recall     statements "s is a ." where a subject's first mention takes its
 *              memorised attribute (or, sometimes, a counterfactual one) and a repeat
 *              takes the one in context, or after a counterfactual, with a chance
 *              that depends on the subject, the memorised one; scored on plain recall
 *              of the memorised facts, and on following a counterfactual prefix
 *   mcq        multiple choice: "<bos> a1 a2 A b1 B c1 c2 c3 C d1 d2 D Q: b1 Answer: B",
 *              four distinct texts of min_len..max_len random words (default 1..3 of
 *              n_symbols 16), each followed by its label (A-D in order), the question
 *              repeating one of them, the label the answer (the only loss); scored on
 *              the label after "Answer:" */
typedef struct hw_task hw_task;

typedef struct {
    int seq_len;      /* T of every sequence (0: the task's default) */
    int n_symbols;    /* induction: random tokens (>= 256); retrieval: filler words;
                       * recall: subjects; mcq: words (0: default) */
    int min_len, max_len; /* induction: repeated segment length; successor: items per
                           * run; retrieval: answer tokens (min_len) and needles (max_len;
                           * default one per 128 tokens from 256 on, else 1); mcq: words
                           * per option (0: default) */
    float depth;      /* retrieval: needle depth in [0, 1] for evaluation; < 0: random */
    uint64_t world_seed; /* the fixed parts: retrieval's Markov chain, recall's facts */
    float override;   /* recall: a subject's repeats keep a counterfactual first mention
                       * with a chance drawn per subject uniformly in [0, override], else
                       * revert to the memorised fact; < 0: default (0.6) */
    int function;     /* icl: the function of every sequence, 1..6 (successor,
                       * predecessor, copy, permutation 1, permutation 2, reversal); 0:
                       * drawn per sequence */
} hw_task_params;
hw_task_params hw_task_params_default(void);

/* name: "induction", "retrieval", "successor", "recall" or "mcq"; p NULL: defaults. */
hw_task *hw_task_new(const char *name, const hw_task_params *p);
void hw_task_free(hw_task *t);
const char *hw_task_name(const hw_task *t);
int hw_task_vocab_size(const hw_task *t);
int hw_task_seq_len(const hw_task *t);
const char *hw_task_symbol(const hw_task *t, int id);   /* NULL outside the vocabulary */
/* The task's tokenizer.json (see hw_tokenizer_write_wordlevel). */
hw_status hw_task_write_tokenizer(const hw_task *t, const char *path);

/* Where a sequence copies from: tokens [dst, dst + len) are a function of
 * tokens [src, src + len) (induction, retrieval: equal; successor: successors;
 * recall: src is the in-context statement's attribute or -1, dst the answer). */
typedef struct { int src, dst, len; } hw_task_layout;

/* Training batch for step `step`: tokens and targets (B, T), T = hw_task_seq_len;
 * targets[i] is the token after tokens[i], or -1 where there is nothing to learn
 * (random tokens a model cannot predict are masked where the task says so). A pure
 * function of (task, seed, step, B), so a resumed run sees the same data. */
hw_status hw_task_batch(const hw_task *t, uint64_t seed, int64_t step, int B, int *tokens,
                        int *targets);
/* Sample `index` of the held-out stream of seed (disjoint from training batches):
 * tokens and targets (T) and its layout (may be NULL). */
hw_status hw_task_sample(const hw_task *t, uint64_t seed, int64_t index, int *tokens, int *targets,
                         hw_task_layout *layout);

typedef struct {
    const char *metric;   /* what accuracy measures */
    double accuracy;      /* in [0, 1] */
    const char *metric2;  /* a second measure, or NULL (recall: counterfactual override) */
    double accuracy2;
    int n;                /* held-out samples scored */
} hw_task_score;
/* Score m on n held-out samples of seed. */
hw_status hw_task_evaluate(const hw_task *t, const hw_model *m, uint64_t seed, int n,
                           hw_task_score *out);

/* A counterfactual of a task's sequence for activation patching (the corrupted run):
 * tokens (T) changed as the task defines, into out (T; may be tokens), with its targets
 * (T) and layout (may be NULL) as hw_task_sample gives them. mcq: the correct option's
 * text swapped with option `to`'s (0-3 for A-D, not the correct one; -s for s = 1..3:
 * the option s letters on, cyclically), so the same options and question name label
 * `to`; every other token is unchanged and the length is the same. HW_ERR_ARG for a
 * task without counterfactuals (all but mcq), tokens that are not the task's sequence
 * (the question naming no option or two, a label out of place) or a bad `to`. */
hw_status hw_task_counterfactual(const hw_task *t, const int *tokens, int to, int *out,
                                 int *targets, hw_task_layout *layout);
/* Held-out samples 0 .. n-1 of seed as a prompts file (hw_prompts_read reads it back), a
 * "#" line first: per sample the tokens before its answer (layout.dst) as text, <bos>
 * left out (a prompt is encoded with BOS), a tab, the answer's symbols, and for mcq the
 * other three labels a tab each (answer first, then the wrong answers to subtract). With
 * counterfactual_path (NULL: none), sample k's counterfactual (hw_task_counterfactual,
 * to = -1 - k % 3: the answer moved 1, 2, 3 letters on in turn) on the same line there,
 * as many tokens long: the clean and corrupted prompts of activation patching; each
 * line's second answer is then the other file's answer, so that hw_prompt_pairs_read
 * (`headwise patch --clean --corrupt`) takes logit(clean answer) - logit(corrupted
 * answer) as its metric. Both files written atomically, or neither. */
hw_status hw_task_write_prompts(const hw_task *t, uint64_t seed, int n, const char *path,
                                const char *counterfactual_path);

/* ---------------------------------------------------------------- training */

/* Reverse-mode gradients and a trainer for F32 models of every family (src/train/).
 * A batch is B sequences of T tokens, each starting at position 0; the loss is the
 * mean cross-entropy over the positions whose target is >= 0. Activation gradients
 * have the hook point's shape with B in front: (B, T, ...) per token, (B, H, T, T)
 * for scores and patterns. */
typedef struct { const int *tokens; const int *targets; int B, T; } hw_batch; /* (B,T) each; target -1 = no loss there */

/* A model with freshly initialised F32 weights in one owned arena (seeded; GPT-2-style init:
 * normal std 0.02, residual output projections (W_O, MLP down) scaled by 1/sqrt(2L), norms 1,
 * biases 0), usable by hw_forward and every other API. cfg->d_ff == 0: attention-only. */
hw_model *hw_model_new_random(const hw_config *cfg, uint64_t seed);

/* Parameters: every weight tensor of a model in one fixed order, the layout of a
 * parameter arena (hw_model_new_random's weights, hw_grad_weights, checkpoints).
 * Names: "tok_embed", "pos_embed", "layers.L.{attn_norm, attn_norm_b, wq, bq, wk, bk,
 * wv, bv, wo, bo, mlp_norm, mlp_norm_b, w_gate, b_gate, w_up, b_up, w_down, b_down}",
 * "final_norm", "final_norm_b", "classifier" (absent when tied); matrices are
 * (out, in) as y = W x. */
typedef struct {
    char name[40];
    int layer;              /* -1 for global tensors */
    int ndim, shape[2];
    int64_t offset;         /* floats from the arena's start */
    int64_t size;           /* floats */
    int decay;              /* AdamW applies weight decay (matrices and embeddings) */
} hw_param;
int hw_param_count(const hw_config *cfg);
int64_t hw_param_total(const hw_config *cfg);         /* floats in an arena */
hw_status hw_param_get(const hw_config *cfg, int i, hw_param *out);
/* The F32 data of parameter i of m, or NULL (quantised model, i out of range). */
const float *hw_model_param(const hw_model *m, int i);

/* Gradients of the loss on one batch. A hw_grad is a workspace (activation buffers
 * grow to the largest batch seen). Gates: optional per-head scalars (L, H) that
 * multiply each head's z before W_O (1 = no change), a parameter a method inserts
 * with the model frozen; their gradient comes with HW_GRAD_GATES. */
typedef struct hw_grad hw_grad;
enum { HW_GRAD_WEIGHTS = 1, HW_GRAD_GATES = 2 };
hw_grad *hw_grad_new(const hw_model *m);
void hw_grad_free(hw_grad *g);
/* Also compute the gradient of the loss with respect to the activation at a hook point
 * (layer < 0: every layer; ignored for global points). Every point but hook_result;
 * hook_resid_mid not in parallel-residual or attention-only models, hook_mlp_* not in
 * attention-only ones, rot_q/rot_k/pos_embed only where the model has them. hook_z is
 * z before the gate. */
hw_status hw_grad_want(hw_grad *g, hw_hook_point point, int layer);
/* gates (L, H), copied; NULL removes them. */
hw_status hw_grad_set_gates(hw_grad *g, const float *gates);
/* Forward only: the loss (and logits, hw_grad_logits). */
hw_status hw_grad_loss(hw_grad *g, const hw_batch *b, float *loss);
/* Forward and backward: the loss, activation gradients wanted, and what (HW_GRAD_*):
 * weight gradients (hw_grad_weights) and/or gate gradients (hw_grad_gates). */
hw_status hw_grad_compute(hw_grad *g, const hw_batch *b, int what, float *loss);
const float *hw_grad_logits(const hw_grad *g);   /* (B, T, V) of the last forward */
const float *hw_grad_weights(const hw_grad *g);  /* parameter arena layout */
const float *hw_grad_gates(const hw_grad *g);    /* (L, H) */
/* The gradient at (point, layer) of the last hw_grad_compute, shape in shape[ndim], or
 * NULL if it was not wanted. */
const float *hw_grad_activation(const hw_grad *g, hw_hook_point point, int layer, int *ndim,
                                int shape[4]);

/* Training: AdamW at a warm-up + cosine or warm-up-stable-decay schedule, global
 * gradient-norm clipping. Steps are deterministic: the same model, params and batches
 * give the same bits, and a resumed run equals an uninterrupted one. */
typedef enum { HW_SCHED_COSINE, HW_SCHED_WSD } hw_schedule;
typedef struct {
    float lr;               /* peak learning rate */
    float min_lr_frac;      /* final lr = lr * min_lr_frac */
    float weight_decay;     /* decoupled, on parameters with decay = 1 */
    float beta1, beta2, eps;
    float clip;             /* global gradient norm limit; <= 0: none */
    int warmup;             /* steps of linear warm-up from lr / warmup */
    int steps;              /* total steps the schedule spans */
    hw_schedule schedule;
    float decay_frac;       /* WSD: fraction of steps in the final linear decay */
    uint64_t seed;          /* the caller's data seed, kept in checkpoints */
    /* Head dropout: at every step each head of the chosen layers has its z zeroed (gate 0,
     * no rescaling, as a masked head at test time) for the whole batch with this
     * probability, drawn from (seed, step, layer, head) alone, so a resumed run drops the
     * same heads. It spreads a job over several heads of a layer. 0: none. */
    float head_dropout;
    uint64_t head_dropout_layers;  /* bit l: layer l's heads may drop; 0: every layer */
    int head_dropout_from;         /* first step with head dropout (let a circuit form first) */
} hw_train_params;
hw_train_params hw_train_params_default(void);
/* The gates (L, H) step `step` trains with: 0 for a dropped head, else 1. */
void hw_train_head_gates(const hw_train_params *p, int step, int n_layer, int n_head, float *gates);
/* The learning rate at step (0-based). */
float hw_train_lr(const hw_train_params *p, int step);
typedef struct hw_trainer hw_trainer;
hw_trainer *hw_trainer_new(hw_model *m, const hw_train_params *p);   /* m's weights must be its own F32 arena */
hw_status hw_trainer_step(hw_trainer *t, const hw_batch *b, float *loss);  /* forward+backward+clip+AdamW at the scheduled lr */
int hw_trainer_steps_done(const hw_trainer *t);
float hw_trainer_grad_norm(const hw_trainer *t);   /* of the last step, before clipping */
hw_status hw_trainer_save(const hw_trainer *t, const char *path);   /* weights + Adam moments + step, atomic write */
hw_status hw_trainer_resume(hw_trainer *t, const char *path);
void hw_trainer_free(hw_trainer *t);

/* A model trained from scratch on a synthetic task (src/train/task_train.c), what
 * `headwise train` and `headwise organism` run: a Llama-style model of this shape over
 * the task's vocabulary and sequence length (hw_task_model_config), hw_trainer over the
 * task's batches (hw_task_batch with train.seed, which also seeds the weights). */
typedef struct {
    int n_layer, n_head, d_model, d_ff;   /* d_ff 0: attention-only */
    int attn_bias;                        /* Llama attention_bias: q, k, v and o biases */
    int batch;                            /* sequences per step */
    hw_train_params train;                /* steps, schedule, ..., seed */
    const char *resume;                   /* checkpoint to continue from, or NULL */
    const char *checkpoint;               /* where checkpoints go; needed by the two below */
    int checkpoint_every;                 /* a checkpoint every N steps and at the end; 0: none */
    int stop_at;                          /* > 0: stop after this step with a checkpoint, as if
                                           * interrupted (the schedule still spans train.steps) */
    int n_ctx;                            /* the model's context (config, checkpoints); 0: the
                                           * task's sequence length. A curriculum trains on
                                           * shorter tasks first with the final context, so its
                                           * stages resume one checkpoint (rotary: no position
                                           * table, the weights do not depend on it) */
} hw_task_train_params;
/* 2 layers x 4 heads, d_model 64, attention-only, batch 32, hw_train_params_default's
 * 1000 steps, seed 1. */
hw_task_train_params hw_task_train_params_default(void);
/* The model organism of a task ("induction", "retrieval", "successor", "recall", "mcq"): the
 * settings known to give it interpretable heads in a few minutes on two cores
 * (src/train/organisms.c says why each), as task parameters and training parameters,
 * and a one-line description in *why (may be NULL). HW_ERR_ARG for another task. An
 * organism trained in stages ("retrieval-long", hw_organism_stages): its last stage. */
hw_status hw_organism_params(const char *task, hw_task_params *tp, hw_task_train_params *p,
                             const char **why);
/* An organism trained in stages (a curriculum, short sequences first), as
 * `headwise organism NAME` runs it: stage k trains `task` with its settings, resuming the
 * previous stage's checkpoint; params.train.steps (the schedule) spans every stage,
 * params.stop_at ends each stage but the last (0), and n_ctx is the final context in every stage so they
 * share one checkpoint. */
typedef struct {
    const char *task;                 /* the task trained, e.g. "retrieval" (static) */
    hw_task_params task_params;
    hw_task_train_params params;
} hw_organism_stage;
enum { HW_ORGANISM_MAX_STAGES = 8 };
/* The stages of organism NAME into stages[0 .. n) (room for HW_ORGANISM_MAX_STAGES);
 * returns n: 1 for an organism trained in one run (hw_organism_params' settings, task =
 * NAME), more for "retrieval-long" (the retrieval task at context 512 with several
 * needles, grown from context 64); -1 (error set) for an unknown name. */
int hw_organism_stages(const char *name, hw_organism_stage *stages, const char **why);
/* The model's configuration hw_task_train trains. */
hw_config hw_task_model_config(const hw_task *task, const hw_task_train_params *p);
typedef struct {
    int start;              /* the first step of this run (after resume) */
    int steps;              /* steps done when it ended */
    int stopped;            /* 1: stopped at stop_at (a checkpoint was written) */
    float first_loss;       /* this run's first step's loss (NaN: no step ran) */
    float final_loss;       /* mean loss over the last tenth of the steps (NaN: none) */
    double seconds, tokens_per_s;
} hw_task_train_result;
/* Called once before the first step (step = start, loss NaN) and after each step with
 * the steps done, the total and that step's loss; return non-zero to stop (the run then
 * fails with HW_ERR_ARG, "stopped by the caller"). */
typedef int (*hw_train_step_fn)(int step, int steps, float loss, void *user);
/* Train; returns the model (the caller frees it; also when stopped at stop_at) or NULL
 * with the error set (a non-finite loss is HW_ERR_RANGE, naming the step). out (may be
 * NULL) is filled either way. */
hw_model *hw_task_train(const hw_task *task, const hw_task_train_params *p, hw_train_step_fn fn,
                        void *user, hw_task_train_result *out);

/* ---------------------------------------------------------------- DuoAttention gate training */

/* DuoAttention's gates learned on a frozen model (methods.md 2.1-2.2,
 * src/methods/duo_train.c): one gate alpha in [0, 1] per (layer, KV head); every query
 * head of the group outputs alpha FullAttn + (1 - alpha) StreamAttn before W_O, StreamAttn
 * seeing only the first `sink` keys and the last `recent` (itself counted). Each step
 * clamps the gates to [0, 1], runs the full model (no gradient) and the mixed one on the
 * same sequences, and takes one AdamW step (weight decay 0, lr times m(step) =
 * min(1, max((step+1)/(N/5), 0.1), max((N-step)/(N/5), 0.1)), N/5 an integer division) on
 *   L = (1/N_sup) sum_{i in sup} mean_dims (h_full[i] - h_mixed[i])^2 + lambda mean |alpha|,
 * h the final norm's output (before the classifier), sup the answer positions.
 * Data, one fresh sample per sequence and step (seeded):
 *   text (task NULL): DuoAttention's multi-passkey prompt with the model's tokenizer: BOS,
 *     "<|im_start|> This is a very long story book: <book> ", the haystack with
 *     n_passkeys needles ("\n\nRemeber this sequence of words, it's the {ordinal}
 *     passkey to the vault: {passkey}\n\n", the code's typo kept) at sorted distinct
 *     depths of linspace(0.05, 0.95, 1000), " </book>.\n\n", then for each passkey
 *     "Based on the content of the book, what is the {ordinal} passkey to the
 *     vault?\nPasskey: {passkey}\n\n"; a passkey is passkey_words NATO alphabet words;
 *     the haystack is a cyclic window of the haystack file's tokens at a random offset;
 *     sup: every token of that question-and-answer tail.
 *   model organism (task, e.g. "retrieval"): the task's own held-out samples (its needles
 *     and questions, hw_task_sample with seed), sup: the positions holding or predicting an
 *     answer token (layout dst-1 .. dst+len-1, and after every "A:" of a task that asks
 *     several questions). */
typedef struct {
    int steps;              /* optimizer steps (default 2000, the paper's) */
    float lr;               /* AdamW peak learning rate (default 0.02, the released runs') */
    float lambda;           /* L1 weight (default 0.05) */
    float initial_value;    /* gates' start (default 1) */
    int seq_len;            /* tokens per sequence; 0 (default): the model's context (an
                             * organism: its task's length, which is its context) */
    int sink, recent;       /* streaming heads' keys in training; 0 (default): scaled from
                             * the paper's 128 / 256 at contexts of 1K-32K to seq_len / 16
                             * and seq_len / 8 (at least 1 and 2), capped at 128 and 256 */
    int batch;              /* sequences per step; 0 (default): text 1 (the paper's), a task
                             * max(1, 512 / seq_len) so that a step sees several needles */
    int n_passkeys;         /* text: needles per sequence; 0: clamp(seq_len / 256, 1, 10) */
    int passkey_words;      /* text: words per passkey; 0: clamp(seq_len / 128, 2, 32) */
    const char *task;       /* a model organism's task; NULL: text with the tokenizer */
    const char *haystack;   /* text: the haystack file; NULL: hw_niah_default_haystack */
    const char *model_name; /* recorded in config.json (NULL: "model") */
    uint64_t seed;          /* data seed (default 42, the paper's) */
} hw_duo_train_params;
hw_duo_train_params hw_duo_train_params_default(void);
typedef struct hw_duo_train_result hw_duo_train_result;
/* Train the gates of m (F32, frozen; t: its tokenizer, needed for text, unused with a
 * task). Settings are checked before any work. progress (may be NULL) gets a stage
 * "loss L (distill D), ETA S s" with (steps done, steps) after each step; non-zero stops
 * the run (HW_ERR_ARG). */
hw_status hw_duo_train_run(const hw_model *m, const hw_tokenizer *t, const hw_duo_train_params *p,
                           hw_progress_fn progress, void *user, hw_duo_train_result **out);
void hw_duo_train_free(hw_duo_train_result *r);
/* The learned gates (L, Hk) after the last step, clamped to [0, 1] as the next step (and
 * duo-attention's load_attn_pattern) would. */
const float *hw_duo_train_gates(const hw_duo_train_result *r, int *n_layer, int *n_kv_head);
/* Per step (steps values): the loss and its distillation part, at the gates of that step. */
const float *hw_duo_train_losses(const hw_duo_train_result *r, int *steps);
const float *hw_duo_train_distill(const hw_duo_train_result *r, int *steps);
/* The settings used, defaults resolved (seq_len, sink, recent, batch, passkeys, ...). */
const hw_duo_train_params *hw_duo_train_settings(const hw_duo_train_result *r);
double hw_duo_train_seconds(const hw_duo_train_result *r);
/* DuoAttention's attention-pattern folder in dir (created if missing; each file written
 * atomically): full_attention_heads.tsv, L lines of Hk tab-separated gates (numpy's
 * savetxt format, %.18e), and config.json with duo-attention's key names (sink_size and
 * recent_size, what load_attn_pattern reads, lr, num_steps, reg_weight, ...). */
hw_status hw_duo_train_write(const hw_duo_train_result *r, const char *dir);
/* The task a model organism was trained on, from training.json in its folder (what
 * `headwise organism` and `headwise train` write) into name (cap bytes): 1 found, 0 no
 * training.json (not an organism), -1 (error set) unreadable. */
int hw_organism_task_name(const char *model_path, char *name, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* HEADWISE_H */

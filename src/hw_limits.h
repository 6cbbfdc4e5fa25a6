/*
 * hw_limits.h: every bound headwise puts on untrusted input, in one place.
 *
 * Model files, tokenizers and configs come from strangers. Each size read from
 * them is checked against these bounds before anything is allocated or a map
 * is read, and products of sizes are checked for overflow (hw_mul_overflow)
 * before they size an allocation or a range of a file. The bounds sit far
 * above every real model (the README lists them with examples) and low
 * enough that a lying header costs an error message, not gigabytes.
 */
#ifndef HW_INPUT_LIMITS_H
#define HW_INPUT_LIMITS_H

#include <stdbool.h>
#include <stdint.h>

/* Bytes of a safetensors JSON header (a 70B model's is ~100 KB). */
#define HW_MAX_HEADER_BYTES ((uint64_t)100 << 20)
/* Tensors in one safetensors file (large mixture-of-experts models: ~100k). */
#define HW_MAX_TENSORS (1 << 18)
/* Dimensions of one safetensors tensor. */
#define HW_MAX_TENSOR_RANK 8
/* Any model dimension: d_model, d_ff, heads, head_dim (so that any product of
 * two fits easily in 64 bits and each one in an int). */
#define HW_MAX_DIM (1 << 24)
/* Transformer layers (the largest models have ~130). */
#define HW_MAX_LAYERS 1024
/* Vocabulary size, of a model or a tokenizer (the largest are ~256k). */
#define HW_MAX_VOCAB (1 << 22)
/* Tokenizer ids may leave holes (unused ids), but at most this many plus as
 * many as there are pieces: a file of a few bytes must not claim id 4 million
 * and cost a table that large. Real vocabularies are dense. */
#define HW_MAX_VOCAB_HOLES 1024
/* Query heads per layer, in head-score files (real models: at most 128). */
#define HW_MAX_HEADS 4096
/* Bytes of one tokenizer piece (real pieces are at most a few hundred). */
#define HW_MAX_PIECE_BYTES (1 << 16)
/* Context length a model may declare (n_ctx, max_position_embeddings). */
#define HW_MAX_CONTEXT (1 << 24)
/* JSON nesting depth: cJSON's own parse limit (CJSON_NESTING_LIMIT), which
 * every JSON reader inherits; recursion over parsed JSON is bounded by it. */
#define HW_MAX_JSON_DEPTH 1000

/* *out = a * b, or true when that overflows (or either is negative). */
static inline bool hw_mul_overflow(int64_t a, int64_t b, int64_t *out) {
    if (a < 0 || b < 0) return true;
    return __builtin_mul_overflow(a, b, out);
}

#endif /* HW_INPUT_LIMITS_H */

/*
 * tokenizer.h: what the tokenizer files share, not part of the public API.
 *
 * One struct hw_tokenizer serves every format. A loader (llama2c.c, ...) fills
 * the vocabulary and says which encoder to run through `kind`; tokenizer.c
 * holds the public functions and switches on the kind.
 */
#ifndef HW_TOKENIZER_INTERNAL_H
#define HW_TOKENIZER_INTERNAL_H

#include "internal.h"

/* ---------------------------------------------------------------- vocabulary */

/* Pieces as byte strings (any bytes, NUL included) with a hash index from bytes
 * to id. Ids are dense, 0..n-1. When two ids hold the same bytes, lookup
 * returns the lower id, so the result does not depend on hashing order. */
typedef struct {
    int n;              /* pieces */
    char *data;         /* all piece bytes back to back */
    size_t *off;        /* (n + 1) piece i is data[off[i] .. off[i+1]) */
    size_t off_cap;     /* pieces off has room for */
    size_t data_len, data_cap;
    int *slots;         /* open-addressing table of ids, -1 = empty */
    size_t n_slots;     /* a power of two, at least twice n */
} hw_vocab;

/* Reserve room for n pieces and total_bytes bytes (0 if unknown); the vocab
 * starts empty. */
hw_status hw_vocab_init(hw_vocab *v, int n, size_t total_bytes);
void hw_vocab_free(hw_vocab *v);
/* Append a piece; its id is the current v->n. */
hw_status hw_vocab_push(hw_vocab *v, const char *s, size_t len);
/* Build the hash index once all pieces are in. */
hw_status hw_vocab_index(hw_vocab *v);
/* The id of the bytes a || b (either may be empty), or -1. Taking two parts
 * lets the merge loop look up a pair without copying it. */
int hw_vocab_find2(const hw_vocab *v, const char *a, size_t alen, const char *b, size_t blen);
static inline int hw_vocab_find(const hw_vocab *v, const char *s, size_t len) {
    return hw_vocab_find2(v, s, len, NULL, 0);
}
static inline const char *hw_vocab_piece(const hw_vocab *v, int id, size_t *len) {
    *len = v->off[id + 1] - v->off[id];
    return v->data + v->off[id];
}

/* ---------------------------------------------------------------- merging */

/* The merge loop shared by score-driven (llama2.c, SentencePiece) and
 * rank-driven (Hugging Face BPE) vocabularies: repeatedly merge the adjacent
 * pair with the highest priority, the leftmost one on ties, until no pair can
 * be merged. pair_fn says whether ids (a, b) merge, into which id and with
 * which priority (higher merges first). A binary heap with lazy deletion makes
 * this O(n log n) instead of the reference's O(n^2) rescans; the result is the
 * same because the heap orders equal priorities by position. */
typedef int (*hw_pair_fn)(const void *ctx, int a, int b, int *merged, double *priority);

/* ids (n) are replaced in place by the merged sequence; returns its length,
 * or -1 (with hw_last_error set) when memory runs out. */
int hw_merge(int *ids, int n, hw_pair_fn pair, const void *ctx);

/* ---------------------------------------------------------------- tokenizer */

typedef enum {
    HW_TOKENIZER_LLAMA2C, /* llama2.c tokenizer.bin: scores, byte fallback */
} hw_tokenizer_kind;

struct hw_tokenizer {
    hw_tokenizer_kind kind;
    hw_vocab vocab;        /* pieces as the file spells them (for lookup) */
    float *scores;         /* (V) merge scores, higher merges first */
    int byte_id[256];      /* id of the piece <0xNN> for byte NN, -1 if none */
    int16_t *byte_of;      /* (V) the byte a <0xNN> piece stands for, -1 if not one */
    int bos, eos;          /* -1 if none */
};

/* llama2c.c */
hw_status hw_tokenizer_load_llama2c(hw_tokenizer *t, const char *path, int vocab_size);
/* Encoders return the number of ids and a malloc'd array of them in *out, or
 * -1 with hw_last_error set. */
int hw_tokenizer_encode_llama2c(const hw_tokenizer *t, const char *text, size_t len, int **out);

#endif /* HW_TOKENIZER_INTERNAL_H */

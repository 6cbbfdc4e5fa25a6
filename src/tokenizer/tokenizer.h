/*
 * tokenizer.h: what the tokenizer files share, not part of the public API.
 *
 * One struct hw_tokenizer serves every format; a loader fills it and picks the
 * encoder through `kind`.
 *   tokenizer.c       public functions, format detection
 *   llama2c.c         llama2.c tokenizer.bin, score-driven merges
 *   gguf_vocab.c      a GGUF file's tokenizer.ggml.* metadata, onto the encoders here
 *   tokenizer_json.c  Hugging Face tokenizer.json      } both feed the pipeline
 *   gpt2_files.c      GPT-2 encoder.json + vocab.bpe   } in hf.c; hf_vocab.c
 *   hf.c              added tokens, then per stretch: normalize.c (nfc.c),
 *                     pretok.c (PCRE2), bpe.c (rank-driven BPE of one word)
 *                     or wordlevel.c (one piece per word)
 *   merge.c           the heap-based merge loop both kinds of BPE share
 *   vocab.c pairs.c   piece -> id and (id, id) -> merge hash tables
 *   decode.c          the bytes each id prints as, built at load
 *   text.c            byte buffers, spans, UTF-8
 */
#ifndef HW_TOKENIZER_INTERNAL_H
#define HW_TOKENIZER_INTERNAL_H

#include "internal.h"

#include <stdlib.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* ---------------------------------------------------------------- bytes */

/* A growable byte string (not NUL-terminated unless asked). */
typedef struct {
    char *s;
    size_t n, cap;
} hw_buf;

hw_status hw_buf_put(hw_buf *b, const char *s, size_t n);
static inline void hw_buf_free(hw_buf *b) {
    free(b->s);
    b->s = NULL;
    b->n = b->cap = 0;
}
/* Append codepoint c as UTF-8. */
hw_status hw_buf_put_utf8(hw_buf *b, uint32_t c);
/* Length of the UTF-8 character starting at s (1 for a stray or invalid byte,
 * never past n). */
size_t hw_utf8_len(const char *s, size_t n);
/* Decode the character at s (len from hw_utf8_len); invalid bytes give
 * 0xFFFFFFFF. */
uint32_t hw_utf8_decode(const char *s, size_t len);

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

/* ---------------------------------------------------------------- merges */

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

/* A BPE merge list: pair of ids -> (rank, merged id), rank = list order. */
typedef struct {
    uint64_t *keys;     /* (a << 32 | b) + 1; 0 = empty slot */
    int32_t *rank, *merged;
    size_t n_slots;     /* a power of two */
    int n;
} hw_pair_table;

hw_status hw_pairs_init(hw_pair_table *p, int n_expected);
void hw_pairs_free(hw_pair_table *p);
/* Add merge (a, b) -> merged at rank (its line in the list). A pair listed
 * twice takes the later rank, as HF's and GPT-2's dicts do. */
hw_status hw_pairs_add(hw_pair_table *p, int a, int b, int merged, int rank);
/* Rank of (a, b) and its merged id, or -1. */
int hw_pairs_find(const hw_pair_table *p, int a, int b, int *merged);

/* ---------------------------------------------------------------- HF pipeline */

/* GPT-2's reversible map from bytes to printable characters, which byte-level
 * vocabularies spell their pieces in. */
uint32_t hw_byte_to_unicode(uint8_t b);
/* The byte c stands for, or -1. */
int hw_unicode_to_byte(uint32_t c);

typedef enum {
    HW_NORMALIZE_PREPEND,    /* a: text to put before a non-empty segment */
    HW_NORMALIZE_REPLACE,    /* every match of re (or of the literal a) becomes b */
    HW_NORMALIZE_NFC,        /* Unicode canonical composition */
} hw_normalizer_kind;

typedef struct {
    hw_normalizer_kind kind;
    char *a, *b;
    size_t alen, blen;
    pcre2_code *re;     /* REPLACE with a regex pattern */
    int left, right;
} hw_norm_step;

typedef enum {
    HW_SPLIT_REMOVED,      /* delimiters dropped */
    HW_SPLIT_ISOLATED,     /* delimiters are pieces of their own */
    HW_SPLIT_MERGED_PREV,  /* a delimiter ends the piece before it */
    HW_SPLIT_MERGED_NEXT,  /* a delimiter starts the piece after it */
    HW_SPLIT_CONTIGUOUS,   /* runs of delimiters are one piece */
} hw_split_behavior;

typedef enum {
    HW_PRE_SPLIT,       /* split on re matches (delimiters), or on non-matches if invert */
    HW_PRE_BYTELEVEL,   /* optional prefix space; GPT-2 regex split when re != NULL */
    HW_PRE_METASPACE,   /* spaces -> replacement, optional prefix, split before each */
} hw_pre_kind;

enum { HW_PREPEND_NEVER, HW_PREPEND_FIRST, HW_PREPEND_ALWAYS };

typedef struct {
    hw_pre_kind kind;
    pcre2_code *re;
    hw_split_behavior behavior;
    int invert;
    int add_prefix_space;   /* BYTELEVEL */
    char replacement[8];    /* METASPACE: UTF-8 of the replacement character */
    size_t replacement_len;
    int prepend_scheme;     /* METASPACE */
    int split;              /* METASPACE */
} hw_pre_step;

typedef struct {
    int id;
    char *content;
    size_t len;
    int special, lstrip, rstrip, single_word;
} hw_added_token;

/* One step of a decoder chain, applied to each piece on its own to build the
 * per-id decode table (Fuse and Strip act on whole texts: see strip_leading). */
typedef enum {
    HW_DEC_REPLACE, HW_DEC_BYTE_FALLBACK, HW_DEC_BYTELEVEL,
    HW_DEC_PREFIX, /* `to` before the piece: WordLevel's join with spaces, per piece */
} hw_dec_kind;

typedef struct {
    hw_dec_kind kind;
    const char *from, *to;  /* REPLACE: literal from -> to */
    size_t from_len, to_len;
} hw_dec_step;

/* Text pieces made while encoding: spans of one buffer. first: the span
 * starts at the beginning of the input text (for "first" prepend schemes). */
typedef struct {
    size_t off, len;
    int first;
} hw_span;

typedef struct {
    hw_span *v;
    size_t n, cap;
} hw_spans;

hw_status hw_spans_push(hw_spans *s, size_t off, size_t len, int first);

/* normalize.c: apply steps to one stretch of text between added tokens,
 * writing the result to out (which is reset). */
hw_status hw_normalize(const hw_norm_step *steps, int n, const char *text, size_t len, hw_buf *out);
void hw_norm_step_free(hw_norm_step *s);
/* nfc.c: Unicode Normalization Form C of text, appended to out. */
hw_status hw_nfc(const char *text, size_t len, hw_buf *out);

/* pretok.c: split text into words. out holds spans into *buf, which the steps
 * may rewrite (Metaspace); buf starts as the text. */
hw_status hw_pretokenize(const hw_pre_step *steps, int n, hw_buf *buf, int first, hw_spans *out);
void hw_pre_step_free(hw_pre_step *s);
/* Compile a pattern with Unicode properties (PCRE2_UTF | PCRE2_UCP) and JIT;
 * literal: match the bytes as they are. NULL with hw_last_error set on failure. */
pcre2_code *hw_regex_compile(const char *pattern, size_t len, int literal, const char *where);
/* The GPT-2 pre-tokenizer pattern (ByteLevel with use_regex). */
extern const char hw_gpt2_pattern[];

/* ---------------------------------------------------------------- tokenizer */

typedef enum {
    HW_TOKENIZER_LLAMA2C, /* llama2.c tokenizer.bin or a GGUF "llama" vocabulary: scores,
                           * byte fallback; with added tokens, through hf.c's splitting */
    HW_TOKENIZER_BPE,     /* Hugging Face / GPT-2 BPE: ranked merges, pipeline */
    HW_TOKENIZER_WORDLEVEL, /* Hugging Face WordLevel: each word one piece, pipeline */
} hw_tokenizer_kind;

struct hw_tokenizer {
    hw_tokenizer_kind kind;
    hw_vocab vocab;        /* pieces as the file spells them (for lookup) */
    hw_vocab dec;          /* (V) the bytes each id prints as */
    int strip_leading;     /* decode drops one ' ' at the start of the text */
    int byte_id[256];      /* id of the piece <0xNN> for byte NN, -1 if none */
    int bos, eos;          /* -1 if none */

    /* LLAMA2C */
    float *scores;         /* (V) merge scores, higher merges first */
    int no_dummy_prefix;   /* no ' ' put before the text (GGUF's add_space_prefix false) */

    /* BPE */
    hw_pair_table merges;
    int byte_level;        /* words are bytes spelled through hw_byte_to_unicode */
    int byte_sym[256];     /* byte_level: id of the piece for byte b, -1 if none */
    int byte_fallback;     /* unknown characters become <0xNN> pieces */
    int ignore_merges;     /* a word that is a piece is taken whole (Llama-3) */
    int unk_id, fuse_unk;  /* unk_id -1: unknown characters are dropped, as HF does */
    hw_norm_step *norm;
    int n_norm;
    hw_pre_step *pre;
    int n_pre;
    hw_added_token *added; /* matched in the text before anything else */
    int n_added;
    int *added_by_byte;    /* (257) added tokens starting with byte b are */
    int *added_order;      /* added_order[added_by_byte[b] .. [b+1]), longest first */
};

/* llama2c.c */
hw_status hw_tokenizer_load_llama2c(hw_tokenizer *t, const char *path, int vocab_size);
/* Encoders return the number of ids and a malloc'd array of them in *out, or
 * -1 with hw_last_error set. */
int hw_tokenizer_encode_llama2c(const hw_tokenizer *t, const char *text, size_t len, int **out);

/* gguf_vocab.c: the tokenizer in a GGUF file's metadata (a model or a vocabulary file). */
hw_status hw_tokenizer_load_gguf(hw_tokenizer *t, const char *path);
/* Whether the file at path starts with the GGUF magic. */
int hw_is_gguf_file(const char *path);

/* tokenizer_json.c, gpt2_files.c */
hw_status hw_tokenizer_load_json(hw_tokenizer *t, const char *path);
hw_status hw_tokenizer_load_gpt2(hw_tokenizer *t, const char *encoder_json, const char *vocab_bpe);

/* bpe.c: encode one word (pre-tokenized, normalized) and append its ids. */
hw_status hw_bpe_word(const hw_tokenizer *t, const char *w, size_t len, int **ids, size_t *n,
                      size_t *cap);
/* wordlevel.c: the piece of one word (or unk), appended to ids; a word that
 * is not in the vocabulary without an unk token is an error, as in tokenizers. */
hw_status hw_wordlevel_word(const hw_tokenizer *t, const char *w, size_t len, int **ids, size_t *n,
                            size_t *cap);
/* After the vocab is indexed: fill byte_sym (byte_level) and byte_id. */
hw_status hw_bpe_prepare(hw_tokenizer *t);

/* hf.c */
int hw_tokenizer_encode_hf(const hw_tokenizer *t, const char *text, size_t len, int **out);
/* Index t->added for matching (after t->added is filled). */
hw_status hw_added_index(hw_tokenizer *t);

/* decode.c: find the <0xNN> pieces (byte_id), then build t->dec by running
 * each piece through the chain (n == 0: the pieces as they are). */
hw_status hw_tokenizer_build_decode(hw_tokenizer *t, const hw_dec_step *chain, int n);

#endif /* HW_TOKENIZER_INTERNAL_H */

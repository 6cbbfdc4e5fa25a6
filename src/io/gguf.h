/*
 * gguf.h: read GGUF files (llama.cpp's container, versions 2 and 3), private to the
 * library (io, and the tokenizer reading its vocabulary from the metadata).
 *
 * File layout (little-endian):
 *   u32 magic "GGUF", u32 version, u64 n_tensors, u64 n_kv,
 *   n_kv times: string key, u32 value type, value,
 *   n_tensors times: string name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset,
 *   padding to general.alignment (u32, a power of two, 32 by default), the data section;
 *   tensor offsets are relative to it and multiples of the alignment.
 * A string is u64 length then that many bytes (no NUL); an array is u32 element type,
 * u64 count, then the elements (arrays of arrays and of strings included).
 *
 * The reader checks the whole header once (every length against the bytes left, every
 * count against what those bytes could hold, every size product for overflow, every
 * tensor inside the data section and none overlapping), so what it returns can be read
 * without further checks: values and strings point into the caller's bytes (the mmap).
 */
#ifndef HW_GGUF_H
#define HW_GGUF_H

#include "internal.h"

/* Value types of the metadata. */
typedef enum {
    HW_GGUF_U8 = 0, HW_GGUF_I8 = 1, HW_GGUF_U16 = 2, HW_GGUF_I16 = 3, HW_GGUF_U32 = 4,
    HW_GGUF_I32 = 5, HW_GGUF_F32 = 6, HW_GGUF_BOOL = 7, HW_GGUF_STRING = 8,
    HW_GGUF_ARRAY = 9, HW_GGUF_U64 = 10, HW_GGUF_I64 = 11, HW_GGUF_F64 = 12,
} hw_gguf_vtype;

/* The ggml tensor types this reader knows the block layout of (all of ggml's, so any
 * file's offsets can be checked); headwise computes with F32, F16 and BF16 and
 * dequantizes the common block types (gguf_quant.c). */
enum {
    HW_GGML_F32 = 0, HW_GGML_F16 = 1, HW_GGML_Q4_0 = 2, HW_GGML_Q4_1 = 3, HW_GGML_Q5_0 = 6,
    HW_GGML_Q5_1 = 7, HW_GGML_Q8_0 = 8, HW_GGML_Q8_1 = 9, HW_GGML_Q2_K = 10, HW_GGML_Q3_K = 11,
    HW_GGML_Q4_K = 12, HW_GGML_Q5_K = 13, HW_GGML_Q6_K = 14, HW_GGML_Q8_K = 15,
    HW_GGML_BF16 = 30, HW_GGML_N_TYPES = 40,
};

/* A byte string inside the file (not NUL-terminated). */
typedef struct {
    const char *s;
    size_t len;
} hw_gguf_str;

typedef struct {
    hw_gguf_str key;
    hw_gguf_vtype type;
    hw_gguf_vtype elem_type;    /* ARRAY: the elements' type */
    uint64_t n;                 /* ARRAY: element count */
    const uint8_t *data;        /* the value (ARRAY: its first element) */
    size_t nbytes;              /* bytes of the value (ARRAY: of all elements) */
} hw_gguf_kv;

/* GGUF dims run fastest first: ne[0] is a row's length, ne[1] the row count. */
#define HW_GGUF_MAX_DIMS 4
typedef struct {
    hw_gguf_str name;
    int n_dims;
    int64_t ne[HW_GGUF_MAX_DIMS];   /* 1 past n_dims */
    uint32_t type;                  /* HW_GGML_* */
    uint64_t offset;                /* in the data section */
    int64_t numel;
    const uint8_t *data;
    size_t nbytes;
} hw_gguf_tensor;

typedef struct {
    const char *path;           /* for messages (not owned) */
    uint32_t version;
    hw_gguf_kv *kv;             /* (n_kv) in file order */
    int64_t n_kv;
    hw_gguf_tensor *tensors;    /* (n_tensors) in file order */
    int64_t n_tensors;
    int64_t *by_name;           /* (n_tensors) indices sorted by name */
    uint32_t alignment;
    uint64_t data_offset;       /* start of the data section in the file */
    size_t file_bytes;
    hw_mapped_file map;         /* hw_gguf_open's own map (empty after hw_gguf_parse) */
} hw_gguf;

/* Whether bytes start with the GGUF magic. */
bool hw_gguf_is(const uint8_t *data, size_t size);
/* Check and index a whole GGUF held in data (not copied: g points into it, so it must
 * outlive g). g is zeroed first; hw_gguf_free it either way. */
hw_status hw_gguf_parse(hw_gguf *g, const uint8_t *data, size_t size, const char *path);
/* Map path and parse it; the map is g's. */
hw_status hw_gguf_open(hw_gguf *g, const char *path);
void hw_gguf_free(hw_gguf *g);

/* The entry called key, or NULL. */
const hw_gguf_kv *hw_gguf_find(const hw_gguf *g, const char *key);
/* The tensor called name, or NULL. */
const hw_gguf_tensor *hw_gguf_find_tensor(const hw_gguf *g, const char *name);

/* Typed reads of key. A missing key gives HW_OK with *found false (found may be NULL
 * only for a key the caller requires: then its absence is the error); a key of the
 * wrong type or out of [lo, hi] is HW_ERR_FORMAT naming it. Integers of any width and
 * signedness read as integers; floats as F32 or F64. */
hw_status hw_gguf_get_int(const hw_gguf *g, const char *key, int64_t lo, int64_t hi,
                          int64_t *out, bool *found);
hw_status hw_gguf_get_float(const hw_gguf *g, const char *key, double *out, bool *found);
hw_status hw_gguf_get_bool(const hw_gguf *g, const char *key, bool *out, bool *found);
hw_status hw_gguf_get_str(const hw_gguf *g, const char *key, hw_gguf_str *out, bool *found);
/* An array of elem_type (any integer type when elem_type is HW_GGUF_I64, F32 or F64
 * when HW_GGUF_F64); *out NULL when absent. */
hw_status hw_gguf_get_array(const hw_gguf *g, const char *key, hw_gguf_vtype elem_type,
                            const hw_gguf_kv **out);
/* Element i of a checked integer or float array. */
int64_t hw_gguf_array_int(const hw_gguf_kv *a, uint64_t i);
double hw_gguf_array_float(const hw_gguf_kv *a, uint64_t i);
/* Read the string at *p (inside a checked string array) and advance *p past it. */
hw_gguf_str hw_gguf_next_str(const uint8_t **p);

/* "F32", "Q4_K", ... ("?" for an unknown type). */
const char *hw_ggml_type_name(uint32_t type);
/* Whether hw_gguf_to_f32 converts t (F32, F16, BF16). */
bool hw_gguf_is_float(const hw_gguf_tensor *t);
/* Values [first, first + n) of a float tensor as f32. */
void hw_gguf_to_f32(const hw_gguf_tensor *t, int64_t first, int64_t n, float *out);
/* gguf_quant.c: whether hw_gguf_dequantize reads type (Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
 * Q4_K, Q5_K, Q6_K), and a whole tensor of it as f32 (numel values). */
bool hw_gguf_can_dequantize(uint32_t type);
/* The hw_matrix dtype a tensor of ggml type `type` keeps (F16, BF16, the block types
 * above), or HW_F32 (F32 itself, or a type headwise does not compute with). */
hw_dtype hw_gguf_dtype(uint32_t type);
/* gguf_encode.c: n values x as blocks of type t (HW_GQ8_0, HW_GQ4_0, HW_GQ5_0, HW_GQ4_K,
 * HW_GQ6_K, or HW_F16) at out, as ggml's reference quantizers choose them; false for
 * another type or n not whole blocks. */
bool hw_gguf_quantize(hw_dtype t, const float *x, int64_t n, uint8_t *out);
/* f32 to IEEE half bits, round to nearest even. */
uint16_t hw_f32_to_f16(float f);
void hw_gguf_dequantize(const hw_gguf_tensor *t, float *out);

#endif

/*
 * safetensors.h: read safetensors files (one, or the shards of a Hugging Face
 * checkpoint) into a table of named tensors whose data stay in the mmap.
 *
 * File layout: u64 little-endian N, then N bytes of JSON header
 * {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *  "__metadata__": {...}}, then the data area; offsets are relative to it.
 * Private to src/io/.
 */
#ifndef HW_SAFETENSORS_H
#define HW_SAFETENSORS_H

#include "internal.h"
#include "hw_limits.h"

/* Largest header, tensor count and rank accepted (see hw_limits.h): the bounds
 * keep a corrupt length from costing a huge parse or allocation. */
#define HW_ST_MAX_HEADER HW_MAX_HEADER_BYTES
#define HW_ST_MAX_DIMS HW_MAX_TENSOR_RANK

/* Every dtype the format defines, so offsets of tensors headwise never uses
 * (bool masks, int64 position ids) can still be checked. */
typedef enum {
    HW_ST_BOOL, HW_ST_U8, HW_ST_I8, HW_ST_F8_E4M3, HW_ST_F8_E5M2,
    HW_ST_I16, HW_ST_U16, HW_ST_F16, HW_ST_BF16,
    HW_ST_I32, HW_ST_U32, HW_ST_F32,
    HW_ST_F64, HW_ST_I64, HW_ST_U64,
} hw_st_dtype;

typedef struct {
    const char *name;           /* owned by the set */
    hw_st_dtype dtype;
    int ndim;
    int64_t shape[HW_ST_MAX_DIMS];
    int64_t numel;
    const uint8_t *data;        /* inside the shard's map; any alignment */
    size_t nbytes;
    int file;                   /* index into the set's files */
} hw_st_tensor;

typedef struct {
    hw_st_tensor *tensors;      /* sorted by name after hw_st_finish */
    int n_tensors;
    hw_mapped_file *files;      /* (n_files) */
    char **paths;               /* (n_files) */
    int n_files;
} hw_st_set;

/* Map one safetensors file and add its tensors to s (zero-initialised before
 * the first call). Checks the header and every tensor's offsets. */
hw_status hw_st_add_file(hw_st_set *s, const char *path);
/* Sort the table and reject names that occur twice. Call after the last add. */
hw_status hw_st_finish(hw_st_set *s);
/* Open a folder's model.safetensors, or the shards that
 * model.safetensors.index.json lists (each weight_map entry is checked to be
 * in the shard it names). */
hw_status hw_st_open_folder(hw_st_set *s, const char *folder);
/* The tensor called name, or NULL. */
const hw_st_tensor *hw_st_find(const hw_st_set *s, const char *name);
/* "F32", "BF16", ... */
const char *hw_st_dtype_name(hw_st_dtype t);
/* Whether hw_st_to_f32 can convert t's dtype (F32, F16, BF16). */
bool hw_st_is_float(hw_st_dtype t);
/* hw_f16_to_f32 (IEEE half to float) is in internal.h (src/core/quant_kernels.c). */
/* Convert t's numel values to f32 (exactly: every F16/BF16 value is an f32). */
void hw_st_to_f32(const hw_st_tensor *t, float *out);
/* Unmap every file and free the table. */
void hw_st_free(hw_st_set *s);

#endif

/* safetensors.c: the safetensors container: header checks, tensor table, shards. */
#include "safetensors.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const struct {
    const char *name;
    size_t size;
} dtypes[] = {
    [HW_ST_BOOL] = {"BOOL", 1},     [HW_ST_U8] = {"U8", 1},
    [HW_ST_I8] = {"I8", 1},         [HW_ST_F8_E4M3] = {"F8_E4M3", 1},
    [HW_ST_F8_E5M2] = {"F8_E5M2", 1}, [HW_ST_I16] = {"I16", 2},
    [HW_ST_U16] = {"U16", 2},       [HW_ST_F16] = {"F16", 2},
    [HW_ST_BF16] = {"BF16", 2},     [HW_ST_I32] = {"I32", 4},
    [HW_ST_U32] = {"U32", 4},       [HW_ST_F32] = {"F32", 4},
    [HW_ST_F64] = {"F64", 8},       [HW_ST_I64] = {"I64", 8},
    [HW_ST_U64] = {"U64", 8},
};
#define N_DTYPES ((int)(sizeof dtypes / sizeof dtypes[0]))

const char *hw_st_dtype_name(hw_st_dtype t) {
    return (int)t >= 0 && (int)t < N_DTYPES ? dtypes[t].name : "?";
}

bool hw_st_is_float(hw_st_dtype t) {
    return t == HW_ST_F32 || t == HW_ST_F16 || t == HW_ST_BF16;
}

/* A JSON number that is an exact non-negative integer a double can hold
 * (offsets and dims are written as integers; 2^53 bounds any real file). */
static bool json_uint(const cJSON *j, uint64_t *out) {
    if (!cJSON_IsNumber(j)) return false;
    double v = j->valuedouble;
    if (!(v >= 0 && v <= 9007199254740992.0)) return false;
    uint64_t u = (uint64_t)v;
    if ((double)u != v) return false;
    *out = u;
    return true;
}

/* Parse one header entry into t (name and file set by the caller). */
static hw_status parse_entry(hw_st_tensor *t, const cJSON *e, const uint8_t *base,
                             uint64_t data_size, const char *path) {
    const char *name = e->string;
    if (!cJSON_IsObject(e))
        return hw_fail(HW_ERR_FORMAT, "%s: tensor %s: header entry is not an object", path, name);
    const char *ds = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "dtype"));
    if (!ds) return hw_fail(HW_ERR_FORMAT, "%s: tensor %s: no dtype", path, name);
    int dt = -1;
    for (int i = 0; i < N_DTYPES; i++)
        if (strcmp(ds, dtypes[i].name) == 0) dt = i;
    if (dt < 0)
        return hw_fail(HW_ERR_UNSUPPORTED, "%s: tensor %s: unknown dtype %s", path, name, ds);
    t->dtype = (hw_st_dtype)dt;

    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    if (!cJSON_IsArray(shape))
        return hw_fail(HW_ERR_FORMAT, "%s: tensor %s: no shape array", path, name);
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > HW_ST_MAX_DIMS)
        return hw_fail(HW_ERR_UNSUPPORTED, "%s: tensor %s: %d dimensions (at most %d)", path,
                       name, ndim, HW_ST_MAX_DIMS);
    t->ndim = ndim;
    /* numel is bounded by the data area, so any product above it is an error
     * whatever the later dims are; checking before each multiply keeps it exact. */
    uint64_t numel = 1, limit = data_size / dtypes[dt].size;
    bool too_big = false;
    int k = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, shape) {
        uint64_t v;
        if (!json_uint(d, &v))
            return hw_fail(HW_ERR_FORMAT, "%s: tensor %s: shape[%d] is not a non-negative integer",
                           path, name, k);
        t->shape[k++] = (int64_t)v;
        if (v == 0) numel = 0, too_big = false;
        else if (numel != 0 && (too_big || numel > limit / v)) too_big = true;
        else numel *= v;
    }
    if (too_big)
        return hw_fail(HW_ERR_FORMAT, "%s: tensor %s: shape needs more bytes than the file's %llu",
                       path, name, (unsigned long long)data_size);
    t->numel = (int64_t)numel;

    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    uint64_t b, en;
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 ||
        !json_uint(cJSON_GetArrayItem(off, 0), &b) || !json_uint(cJSON_GetArrayItem(off, 1), &en))
        return hw_fail(HW_ERR_FORMAT, "%s: tensor %s: data_offsets is not two integers", path,
                       name);
    if (b > en || en > data_size)
        return hw_fail(HW_ERR_FORMAT,
                       "%s: tensor %s: data_offsets [%llu, %llu] outside the %llu data bytes "
                       "(truncated file?)",
                       path, name, (unsigned long long)b, (unsigned long long)en,
                       (unsigned long long)data_size);
    if (en - b != numel * dtypes[dt].size)
        return hw_fail(HW_ERR_FORMAT, "%s: tensor %s: %llu bytes for %llu %s values", path, name,
                       (unsigned long long)(en - b), (unsigned long long)numel, ds);
    t->data = base + b;
    t->nbytes = (size_t)(en - b);
    return HW_OK;
}

static int by_data(const void *a, const void *b) {
    const uint8_t *x = (*(const hw_st_tensor *const *)a)->data, *y = (*(const hw_st_tensor *const *)b)->data;
    return x < y ? -1 : x > y;
}

/* Tensors [first, n_tensors) of one file may not share bytes: writers never
 * overlap them, so a file that does is corrupt or crafted (two weights
 * aliasing one buffer). Empty tensors own no bytes and are skipped. */
static hw_status check_overlap(const hw_st_set *s, int first, const char *path) {
    int n = 0;
    const hw_st_tensor **v = malloc((size_t)(s->n_tensors - first + 1) * sizeof *v);
    if (!v) return hw_fail(HW_ERR_NOMEM, "%s: out of memory", path);
    for (int i = first; i < s->n_tensors; i++)
        if (s->tensors[i].nbytes) v[n++] = &s->tensors[i];
    if (n > 1) qsort(v, (size_t)n, sizeof *v, by_data);
    hw_status st = HW_OK;
    for (int i = 1; i < n && st == HW_OK; i++)
        if (v[i]->data < v[i - 1]->data + v[i - 1]->nbytes)
            st = hw_fail(HW_ERR_FORMAT, "%s: tensors %s and %s overlap in the file", path,
                         v[i - 1]->name, v[i]->name);
    free(v);
    return st;
}

hw_status hw_st_add_file(hw_st_set *s, const char *path) {
    /* Grow the file arrays first so the map is owned by s from the moment it exists. */
    hw_mapped_file *nf = realloc(s->files, (size_t)(s->n_files + 1) * sizeof *nf);
    if (!nf) return hw_fail(HW_ERR_NOMEM, "%s: out of memory", path);
    s->files = nf;
    char **np = realloc(s->paths, (size_t)(s->n_files + 1) * sizeof *np);
    if (!np) return hw_fail(HW_ERR_NOMEM, "%s: out of memory", path);
    s->paths = np;
    char *pcopy = strdup(path);
    if (!pcopy) return hw_fail(HW_ERR_NOMEM, "%s: out of memory", path);
    hw_mapped_file f;
    hw_status st = hw_file_map(&f, path);
    if (st != HW_OK) {
        free(pcopy);
        return st;
    }
    int fi = s->n_files++;
    s->files[fi] = f;
    s->paths[fi] = pcopy;

    if (f.size < 8)
        return hw_fail(HW_ERR_FORMAT, "%s: truncated safetensors file (%zu bytes)", path, f.size);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = n << 8 | f.data[i]; /* little-endian u64 */
    if (n > HW_ST_MAX_HEADER)
        return hw_fail(HW_ERR_FORMAT, "%s: header length %llu exceeds the %llu-byte limit", path,
                       (unsigned long long)n, (unsigned long long)HW_ST_MAX_HEADER);
    if (n > f.size - 8)
        return hw_fail(HW_ERR_FORMAT, "%s: truncated: header of %llu bytes, file of %zu", path,
                       (unsigned long long)n, f.size);
    size_t bad;
    if (!hw_utf8_valid((const char *)f.data + 8, (size_t)n, &bad))
        return hw_fail(HW_ERR_FORMAT, "%s: header is not UTF-8 text (invalid byte at offset %zu)",
                       path, 8 + bad);
    cJSON *h = cJSON_ParseWithLength((const char *)f.data + 8, (size_t)n);
    if (!h || !cJSON_IsObject(h)) {
        cJSON_Delete(h);
        return hw_fail(HW_ERR_FORMAT, "%s: header is not a JSON object", path);
    }
    const uint8_t *base = f.data + 8 + n;
    uint64_t data_size = f.size - 8 - n;

    int count = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, h) count += count <= HW_MAX_TENSORS;
    if (count > HW_MAX_TENSORS || s->n_tensors + count > HW_MAX_TENSORS) {
        cJSON_Delete(h);
        return hw_fail(HW_ERR_FORMAT, "%s: more than %d tensors", path, HW_MAX_TENSORS);
    }
    hw_st_tensor *nt = realloc(s->tensors, (size_t)(s->n_tensors + count + 1) * sizeof *nt);
    if (!nt) {
        cJSON_Delete(h);
        return hw_fail(HW_ERR_NOMEM, "%s: out of memory", path);
    }
    s->tensors = nt;
    st = HW_OK;
    int first = s->n_tensors;
    cJSON_ArrayForEach(e, h) {
        if (strcmp(e->string, "__metadata__") == 0) continue;
        hw_st_tensor *t = &s->tensors[s->n_tensors];
        memset(t, 0, sizeof *t);
        t->file = fi;
        st = parse_entry(t, e, base, data_size, path);
        if (st != HW_OK) break;
        if (!(t->name = strdup(e->string))) {
            st = hw_fail(HW_ERR_NOMEM, "%s: out of memory", path);
            break;
        }
        s->n_tensors++;
    }
    cJSON_Delete(h);
    return st == HW_OK ? check_overlap(s, first, path) : st;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const hw_st_tensor *)a)->name, ((const hw_st_tensor *)b)->name);
}

hw_status hw_st_finish(hw_st_set *s) {
    if (s->n_tensors > 1) qsort(s->tensors, (size_t)s->n_tensors, sizeof *s->tensors, by_name);
    for (int i = 1; i < s->n_tensors; i++)
        if (strcmp(s->tensors[i - 1].name, s->tensors[i].name) == 0)
            return hw_fail(HW_ERR_FORMAT, "%s: tensor %s appears twice (also in %s)",
                           s->paths[s->tensors[i].file], s->tensors[i].name,
                           s->paths[s->tensors[i - 1].file]);
    return HW_OK;
}

const hw_st_tensor *hw_st_find(const hw_st_set *s, const char *name) {
    if (!s->n_tensors) return NULL;
    hw_st_tensor key = {.name = name};
    return bsearch(&key, s->tensors, (size_t)s->n_tensors, sizeof key, by_name);
}

void hw_st_to_f32(const hw_st_tensor *t, float *out) {
    const uint8_t *p = t->data; /* may be unaligned: read bytes, little-endian */
    for (int64_t i = 0; i < t->numel; i++) {
        uint32_t bits;
        switch (t->dtype) {
        case HW_ST_F32:
            bits = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 |
                   (uint32_t)p[4 * i + 2] << 16 | (uint32_t)p[4 * i + 3] << 24;
            memcpy(&out[i], &bits, 4);
            break;
        case HW_ST_BF16:
            bits = ((uint32_t)p[2 * i] | (uint32_t)p[2 * i + 1] << 8) << 16;
            memcpy(&out[i], &bits, 4);
            break;
        case HW_ST_F16:
            out[i] = hw_f16_to_f32((uint16_t)(p[2 * i] | p[2 * i + 1] << 8));
            break;
        default: out[i] = 0; break; /* callers check hw_st_is_float first */
        }
    }
}

void hw_st_free(hw_st_set *s) {
    if (!s) return;
    for (int i = 0; i < s->n_tensors; i++) free((void *)s->tensors[i].name);
    for (int i = 0; i < s->n_files; i++) {
        hw_file_unmap(&s->files[i]);
        free(s->paths[i]);
    }
    free(s->tensors);
    free(s->files);
    free(s->paths);
    memset(s, 0, sizeof *s);
}

/* ---------------------------------------------------------------- folders */

static hw_status join(char *out, size_t cap, const char *dir, const char *name) {
    int n = snprintf(out, cap, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= cap) return hw_fail(HW_ERR_ARG, "%s: path too long", dir);
    return HW_OK;
}

static bool is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The shards of an index file, each added once in order of first mention. */
static hw_status open_index(hw_st_set *s, const char *folder, const char *index_path) {
    hw_mapped_file f;
    hw_status st = hw_file_map(&f, index_path);
    if (st != HW_OK) return st;
    size_t bad;
    if (!hw_utf8_valid((const char *)f.data, f.size, &bad)) {
        hw_file_unmap(&f);
        return hw_fail(HW_ERR_FORMAT, "%s: not UTF-8 text (invalid byte at offset %zu)", index_path,
                       bad);
    }
    cJSON *j = cJSON_ParseWithLength((const char *)f.data, f.size);
    hw_file_unmap(&f);
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(j, "weight_map");
    if (!cJSON_IsObject(map)) {
        cJSON_Delete(j);
        return hw_fail(HW_ERR_FORMAT, "%s: no weight_map object", index_path);
    }
    char path[PATH_MAX];
    const cJSON *e;
    cJSON_ArrayForEach(e, map) {
        const char *shard = cJSON_GetStringValue(e);
        /* A shard is a file in this folder: no paths that could leave it. */
        if (!shard || !*shard || strchr(shard, '/') || strcmp(shard, "..") == 0) {
            st = hw_fail(HW_ERR_FORMAT, "%s: tensor %s: bad shard file name", index_path,
                         e->string);
            break;
        }
        if ((st = join(path, sizeof path, folder, shard)) != HW_OK) break;
        bool seen = false;
        for (int i = 0; i < s->n_files && !seen; i++) seen = strcmp(s->paths[i], path) == 0;
        if (!seen && (st = hw_st_add_file(s, path)) != HW_OK) break;
    }
    if (st == HW_OK) st = hw_st_finish(s);
    /* The index is a promise about where each tensor is: hold the shards to it. */
    cJSON_ArrayForEach(e, map) {
        if (st != HW_OK) break;
        const hw_st_tensor *t = hw_st_find(s, e->string);
        if ((st = join(path, sizeof path, folder, cJSON_GetStringValue(e))) != HW_OK) break;
        if (!t || strcmp(s->paths[t->file], path) != 0)
            st = hw_fail(HW_ERR_FORMAT, "%s: tensor %s is not in %s as weight_map says",
                         index_path, e->string, path);
    }
    cJSON_Delete(j);
    return st;
}

hw_status hw_st_open_folder(hw_st_set *s, const char *folder) {
    char path[PATH_MAX];
    hw_status st = join(path, sizeof path, folder, "model.safetensors");
    if (st != HW_OK) return st;
    if (is_file(path)) {
        if ((st = hw_st_add_file(s, path)) != HW_OK) return st;
        return hw_st_finish(s);
    }
    if ((st = join(path, sizeof path, folder, "model.safetensors.index.json")) != HW_OK) return st;
    if (is_file(path)) return open_index(s, folder, path);
    return hw_fail(HW_ERR_IO, "%s: no model.safetensors or model.safetensors.index.json", folder);
}

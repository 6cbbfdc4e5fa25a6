/*
 * test_hf_models.c: Hugging Face folders through the public API.
 *
 *   test_hf_models                       loader cases on tiny folders written here:
 *                                        good ones, and every broken file or tensor
 *   test_hf_models --compare DIR...      logits of tests/hf_fixtures.py checkpoints
 *                                        against its PyTorch reference (prefill,
 *                                        token-by-token decode, and the two mixed)
 *   test_hf_models --same BIN DIR IDS REF
 *                                        a llama2.c checkpoint and its conversion
 *                                        (scripts/llama2c_to_hf.py) give the same logits
 *                                        on the ids in IDS; REF: reference logits
 */
#include "check.h"
#include "hf_files.h"
#include "internal.h" /* the sharded case looks at which maps the model keeps */

#include <stdbool.h>
#include <stdint.h>

/* ---------------------------------------------------------------- tiny folders */

/* A Llama with V=8, D=4, H=2, Hk=1, Dh=2, F=6, one layer. */
typedef struct {
    const char *name;
    int rows, cols;     /* cols 0: 1-D */
    const char *dtype;
} spec;

static const spec tiny[] = {
    {"model.embed_tokens.weight", 8, 4, "F32"},
    {"model.layers.0.input_layernorm.weight", 4, 0, "F32"},
    {"model.layers.0.self_attn.q_proj.weight", 4, 4, "F32"},
    {"model.layers.0.self_attn.k_proj.weight", 2, 4, "F32"},
    {"model.layers.0.self_attn.v_proj.weight", 2, 4, "F32"},
    {"model.layers.0.self_attn.o_proj.weight", 4, 4, "F32"},
    {"model.layers.0.post_attention_layernorm.weight", 4, 0, "F32"},
    {"model.layers.0.mlp.gate_proj.weight", 6, 4, "F32"},
    {"model.layers.0.mlp.up_proj.weight", 6, 4, "F32"},
    {"model.layers.0.mlp.down_proj.weight", 4, 6, "F32"},
    {"model.norm.weight", 4, 0, "F32"},
    {"lm_head.weight", 8, 4, "F32"},
};
#define N_TINY ((int)(sizeof tiny / sizeof tiny[0]))
static const int64_t tiny_params = 8 * 4 + 4 + 16 + 8 + 8 + 16 + 4 + 24 + 24 + 24 + 4 + 32;

static const char *tiny_config =
    "{\"architectures\":[\"LlamaForCausalLM\"],\"hidden_size\":4,\"intermediate_size\":6,"
    "\"num_attention_heads\":2,\"num_key_value_heads\":1,\"num_hidden_layers\":1,"
    "\"vocab_size\":8,\"max_position_embeddings\":16,\"rms_norm_eps\":1e-5}";

/* Changes to the tiny model for one case. */
typedef struct {
    const char *drop;       /* leave this tensor out */
    const char *reshape;    /* give this tensor one row too many */
    const char *retype;     /* store this tensor as `dtype` */
    const char *dtype;
    bool misalign;          /* put a 3-value BF16 buffer first: F32 data lands 2 bytes off */
    const char *config;     /* replaces tiny_config */
    int split;              /* > 0: two shards, tensors before this index in the first */
} variant;

static size_t dtype_size(const char *d) {
    return strcmp(d, "F64") == 0 ? 8 : strcmp(d, "F32") == 0 ? 4 : 2;
}

/* One value of element i in the given dtype, little-endian. */
static void put(uint8_t *p, const char *dtype, size_t i) {
    float v = 0.5f * sinf(0.7f * (float)i + 0.3f) + (i % 5 == 0 ? 0.4f : 0.0f);
    uint32_t b;
    memcpy(&b, &v, 4);
    if (strcmp(dtype, "F32") == 0) memcpy(p, &v, 4);
    else if (strcmp(dtype, "F64") == 0) {
        double d = v;
        memcpy(p, &d, 8);
    } else if (strcmp(dtype, "BF16") == 0) p[0] = (uint8_t)(b >> 16), p[1] = (uint8_t)(b >> 24);
    else p[0] = 0, p[1] = 0x3c; /* F16 1.0 */
}

/* Write tiny tensors [first, last) as one safetensors file at path, adding
 * "name":"file" entries to map (if given); returns the file size or -1. */
static long write_part(const char *path, const char *file, variant v, int first, int last,
                       char *map) {
    char header[8192] = "{", *h = header + 1;
    static uint8_t data[65536];
    size_t off = 0;
    if (v.misalign) {
        h += sprintf(h, "\"aaa.buffer\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,6]}");
        memset(data, 0, 6);
        off = 6;
    }
    for (int t = first; t < last; t++) {
        spec s = tiny[t];
        if (v.drop && strcmp(s.name, v.drop) == 0) continue;
        if (v.reshape && strcmp(s.name, v.reshape) == 0) s.rows++;
        if (v.retype && strcmp(s.name, v.retype) == 0) s.dtype = v.dtype;
        size_t n = (size_t)s.rows * (s.cols ? s.cols : 1), es = dtype_size(s.dtype);
        for (size_t i = 0; i < n; i++) put(data + off + i * es, s.dtype, i + 31 * t);
        char shape[32];
        if (s.cols) snprintf(shape, sizeof shape, "%d,%d", s.rows, s.cols);
        else snprintf(shape, sizeof shape, "%d", s.rows);
        h += sprintf(h, "%s\"%s\":{\"dtype\":\"%s\",\"shape\":[%s],\"data_offsets\":[%zu,%zu]}",
                     h == header + 1 ? "" : ",", s.name, s.dtype, shape, off, off + n * es);
        if (map) sprintf(map + strlen(map), "%s\"%s\":\"%s\"", map[0] ? "," : "", s.name, file);
        off += n * es;
    }
    strcpy(h, "}");
    if (hf_write_st(path, header, data, off, 0) != 0) return -1;
    return (long)(8 + (strlen(header) + 7) / 8 * 8 + off);
}

/* Write config.json and the weights of the tiny model: model.safetensors, or
 * two shards and an index when v.split > 0 (tensors before it in the first).
 * Returns the bytes of the safetensors files. */
static long write_tiny(const char *dir, variant v) {
    const char *cfg = v.config ? v.config : tiny_config;
    if (hf_write(hf_path(dir, "config.json"), cfg, strlen(cfg)) != 0) return -1;
    if (v.split <= 0)
        return write_part(hf_path(dir, "model.safetensors"), NULL, v, 0, N_TINY, NULL);
    static char map[8192], index[8400];
    map[0] = 0;
    const char *a = "model-00001-of-00002.safetensors", *b = "model-00002-of-00002.safetensors";
    long size = write_part(hf_path(dir, a), a, v, 0, v.split, map);
    size += write_part(hf_path(dir, b), b, (variant){0}, v.split, N_TINY, map);
    snprintf(index, sizeof index, "{\"metadata\":{},\"weight_map\":{%s}}", map);
    if (hf_write(hf_path(dir, "model.safetensors.index.json"), index, strlen(index)) != 0) return -1;
    return size;
}

/* Logits of tokens 1 2 3 4 5 on m, or false. */
static bool run5(const hw_model *m, float *logits) {
    hw_context *c = hw_context_new(m, 0);
    int ids[5] = {1, 2, 3, 4, 5};
    bool ok = c && hw_forward(c, ids, 5, HW_LOGITS_ALL, logits) == HW_OK;
    hw_context_free(c);
    return ok;
}

static void test_good_folder(void) {
    char *dir = hf_tempdir();
    CHECK(dir != NULL, "no temporary folder");
    if (!dir) return;
    long size = write_tiny(dir, (variant){0});
    hw_model *m = hw_model_load(dir);
    CHECK(m != NULL, "load: %s", hw_last_error());
    if (!m) {
        hf_rmdir(dir);
        return;
    }
    const hw_config *c = hw_model_config(m);
    CHECK(strcmp(c->arch, "llama") == 0 && c->n_head == 2 && c->n_kv_head == 1 && c->head_dim == 2,
          "config");
    hw_model_info info;
    hw_model_get_info(m, &info);
    CHECK(strcmp(info.format, "safetensors") == 0 && strcmp(info.dtype, "f32") == 0, "info %s %s",
          info.format, info.dtype);
    CHECK(info.n_params == tiny_params, "n_params %lld, want %lld", (long long)info.n_params,
          (long long)tiny_params);
    CHECK(info.file_bytes == size, "file_bytes %lld, want %ld", (long long)info.file_bytes, size);
    CHECK(info.weight_bytes > 0 && info.weight_bytes < info.file_bytes, "weight_bytes %lld",
          (long long)info.weight_bytes);
    float a[5 * 8], b[5 * 8];
    bool ran = run5(m, a);
    CHECK(ran, "forward: %s", hw_last_error());
    float spread = 0;
    for (int i = 0; i < 40; i++) spread = fmaxf(spread, fabsf(a[i] - a[0]));
    CHECK(ran && spread > 1e-3f && spread < 1e3f, "logits vary and are finite (%g)", spread);
    hw_model_free(m);

    /* The same weights 2 bytes off alignment: copied, not pointed at; same logits. */
    write_tiny(dir, (variant){.misalign = true});
    m = hw_model_load(dir);
    CHECK(m && run5(m, b) && max_abs_diff(a, b, 40) == 0, "misaligned F32: %s", hw_last_error());
    hw_model_free(m);

    /* BF16 storage: kept as stored (decoded as products read it), reported as mixed. */
    variant v = {.retype = "model.layers.0.mlp.up_proj.weight", .dtype = "BF16"};
    write_tiny(dir, v);
    m = hw_model_load(dir);
    CHECK(m != NULL, "bf16: %s", hw_last_error());
    if (m) {
        hw_model_get_info(m, &info);
        CHECK(strcmp(info.dtype, "mixed") == 0 && info.n_params == tiny_params, "bf16 info %s",
              info.dtype);
        CHECK(run5(m, b) && max_abs_diff(a, b, 40) < 0.05f && max_abs_diff(a, b, 40) > 0,
              "bf16 rounding changes logits a little: %g", max_abs_diff(a, b, 40));
    }
    hw_model_free(m);
    hf_rmdir(dir);
}

/* Two shards and an index: same logits as one file; the model keeps the maps
 * its weights point into (both), and only those. */
static void test_sharded_folder(void) {
    char *dir = hf_tempdir();
    CHECK(dir != NULL, "no temporary folder");
    if (!dir) return;
    float a[5 * 8], b[5 * 8];
    write_tiny(dir, (variant){0});
    hw_model *m = hw_model_load(dir);
    bool ran = m && run5(m, a);
    CHECK(ran, "single file: %s", hw_last_error());
    hw_model_free(m);
    unlink(hf_path(dir, "model.safetensors"));

    long size = write_tiny(dir, (variant){.split = 5});
    m = hw_model_load(dir);
    CHECK(m != NULL, "sharded: %s", hw_last_error());
    if (m) {
        hw_model_info info;
        hw_model_get_info(m, &info);
        CHECK(strcmp(info.format, "safetensors (sharded)") == 0 && info.file_bytes == size &&
              info.n_params == tiny_params, "info %s %lld", info.format, (long long)info.file_bytes);
        CHECK(ran && run5(m, b) && max_abs_diff(a, b, 40) == 0, "sharded logits differ");
        CHECK(m->store.n_maps == 2 && m->store.maps[0].data && m->store.maps[1].data,
              "two maps kept: %d", m->store.n_maps);
    }
    hw_model_free(m);

    /* First shard misaligned: all its tensors are copied, so only one map is kept. */
    write_tiny(dir, (variant){.split = 5, .misalign = true});
    m = hw_model_load(dir);
    CHECK(m && m->store.n_maps == 1 && m->store.maps[0].data, "one map kept: %s", hw_last_error());
    CHECK(m && run5(m, b) && max_abs_diff(a, b, 40) == 0, "misaligned shard logits differ");
    hw_model_free(m);

    /* The index names a tensor the shard does not hold. */
    write_tiny(dir, (variant){.split = 5, .drop = "model.layers.0.input_layernorm.weight"});
    const char *idx = hf_path(dir, "model.safetensors.index.json");
    const char *lie = "{\"weight_map\":{\"model.layers.0.input_layernorm.weight\":"
                      "\"model-00001-of-00002.safetensors\"}}";
    hf_write(idx, lie, strlen(lie));
    m = hw_model_load(dir);
    CHECK(!m && strstr(hw_last_error(), "model.layers.0.input_layernorm.weight"), "index lies: %s",
          hw_last_error());
    hw_model_free(m);
    hf_rmdir(dir);
}

/* Load dir after writing variant v; expect failure with a message containing
 * each needle (hw_model_load returns NULL, so the message is what is seen). */
static void expect_fail(const char *what, variant v, const char *n1, const char *n2) {
    char *dir = hf_tempdir();
    CHECK(dir != NULL, "no temporary folder");
    if (!dir) return;
    write_tiny(dir, v);
    hw_model *m = hw_model_load(dir);
    CHECK(m == NULL, "%s: loaded", what);
    hw_model_free(m);
    const char *e = hw_last_error();
    CHECK(strstr(e, n1) && (!n2 || strstr(e, n2)), "%s: message \"%s\" lacks \"%s\" / \"%s\"",
          what, e, n1, n2 ? n2 : "");
    hf_rmdir(dir);
}

static void test_bad_tensors(void) {
    expect_fail("missing tensor", (variant){.drop = "model.layers.0.mlp.up_proj.weight"}, "missing tensor model.layers.0.mlp.up_proj.weight", NULL);
    expect_fail("missing lm_head", (variant){.drop = "lm_head.weight"},
                "missing tensor lm_head.weight", NULL);
    expect_fail("misshapen", (variant){.reshape = "model.layers.0.self_attn.k_proj.weight"}, "model.layers.0.self_attn.k_proj.weight has shape [3, 4]",
                "expected [2, 4]");
    expect_fail("misshapen 1-D", (variant){.reshape = "model.norm.weight"},
                "model.norm.weight has shape [5], expected [4]", "model.safetensors");
    expect_fail("f64", (variant){.retype = "model.norm.weight", .dtype = "F64"},
                "model.norm.weight has dtype F64", "model.safetensors");
    expect_fail("unknown arch",
                (variant){.config = "{\"architectures\":[\"BertForMaskedLM\"],\"hidden_size\":4}"}, "BertForMaskedLM", "config.json");
    /* A tied model needs no lm_head. */
    char *dir = hf_tempdir();
    CHECK(dir != NULL, "no temporary folder");
    if (!dir) return;
    char cfg[512];
    snprintf(cfg, sizeof cfg, "%.*s,\"tie_word_embeddings\":true}", (int)strlen(tiny_config) - 1,
             tiny_config);
    write_tiny(dir, (variant){.drop = "lm_head.weight", .config = cfg});
    hw_model *m = hw_model_load(dir);
    CHECK(m != NULL, "tied without lm_head: %s", hw_last_error());
    if (m) {
        hw_model_info info;
        hw_model_get_info(m, &info);
        CHECK(info.n_params == tiny_params - 32, "tied n_params %lld", (long long)info.n_params);
    }
    hw_model_free(m);
    hf_rmdir(dir);
}

static void test_bad_files(void) {
    char *dir = hf_tempdir();
    CHECK(dir != NULL, "no temporary folder");
    if (!dir) return;
    const char *st_path = hf_path(dir, "model.safetensors");
    /* No config.json. */
    write_tiny(dir, (variant){0});
    unlink(hf_path(dir, "config.json"));
    hw_model *m = hw_model_load(dir);
    CHECK(!m && strstr(hw_last_error(), "config.json"), "no config: %s", hw_last_error());
    /* No weights. */
    write_tiny(dir, (variant){0});
    unlink(st_path);
    m = hw_model_load(dir);
    CHECK(!m && strstr(hw_last_error(), "no model.safetensors"), "no weights: %s", hw_last_error());
    /* Truncated weights: the last tensor runs past the end. */
    long size = write_tiny(dir, (variant){0});
    CHECK(truncate(st_path, size - 10) == 0, "truncate");
    m = hw_model_load(dir);
    CHECK(!m && strstr(hw_last_error(), st_path) && strstr(hw_last_error(), "lm_head.weight"),
          "truncated: %s", hw_last_error());
    /* A header length beyond the limit. */
    hf_write_st(st_path, "{}", NULL, 0, (uint64_t)1 << 40);
    m = hw_model_load(dir);
    CHECK(!m && strstr(hw_last_error(), st_path) && strstr(hw_last_error(), "limit"),
          "oversized header: %s", hw_last_error());
    hw_model_free(m);
    hf_rmdir(dir);
    m = hw_model_load(dir); /* the folder is gone now */
    CHECK(!m && strstr(hw_last_error(), dir), "missing folder: %s", hw_last_error());
}

/* ---------------------------------------------------------------- fixtures */

/* Read a whole binary file of `elem`-byte items; returns the count or -1. */
static long read_all(const char *path, void **out, size_t elem) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *out = malloc(n > 0 ? (size_t)n : 1);
    if (!*out || fread(*out, 1, (size_t)n, f) != (size_t)n || n % (long)elem) n = -1;
    fclose(f);
    return n < 0 ? -1 : n / (long)elem;
}

/* Run ids through a fresh context: the first `split` tokens as one prefill,
 * then the rest one at a time (split 0 or T: all one way). */
static bool run_split(const hw_model *m, const int *ids, int T, int split, float *out) {
    hw_context *c = hw_context_new(m, T); /* rotary models may run past n_ctx */
    int V = hw_model_config(m)->vocab_size;
    bool ok = c != NULL;
    if (ok && split > 0) ok = hw_forward(c, ids, split, HW_LOGITS_ALL, out) == HW_OK;
    for (int t = split; ok && t < T; t++)
        ok = hw_forward(c, ids + t, 1, HW_LOGITS_ALL, out + (size_t)t * V) == HW_OK;
    hw_context_free(c);
    return ok;
}

static void report(const char *name, const char *how, float err, float tol, bool ran) {
    printf("%s hf/%s/%s max_abs=%.3g (tol %g)\n", ran && err <= tol ? "PASS" : "FAIL", name, how,
           err, tol);
    if (!ran) printf("  %s\n", hw_last_error());
    if (!(ran && err <= tol)) check_total_failed++;
}

static void compare_case(const char *dir) {
    const char *name = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
    hw_model *m = hw_model_load(dir);
    int *ids = NULL;
    float *ref = NULL;
    long T = read_all(hf_path(dir, "tokens.i32"), (void **)&ids, 4);
    long n = read_all(hf_path(dir, "logits.f32"), (void **)&ref, 4);
    if (!m || T <= 0 || n != T * hw_model_config(m)->vocab_size) {
        printf("FAIL hf/%s/load: %s\n", name, m ? "fixture files do not match the model" : hw_last_error());
        check_total_failed++;
    } else {
        hw_model_info info;
        hw_model_get_info(m, &info);
        /* The case name ends with the storage dtype; info must say the same. */
        const char *suffix = strrchr(name, '_') ? strrchr(name, '_') + 1 : "";
        bool f32 = strcmp(info.dtype, "f32") == 0;
        bool dtype_ok = strncmp(info.dtype, suffix, strlen(suffix)) == 0;
        printf("%s hf/%s/info dtype=%s format=%s params=%lld\n", dtype_ok ? "PASS" : "FAIL", name,
               info.dtype, info.format, (long long)info.n_params);
        check_total_failed += !dtype_ok;
        float tol = f32 ? 1e-4f : 2e-2f;
        float *out = calloc((size_t)n, sizeof *out);
        struct { const char *how; int split; } runs[] = {
            {"prefill", (int)T}, {"decode", 0}, {"prefill5+decode", 5}};
        /* A prefill_only case's reference is valid for one whole-sequence forward only. */
        FILE *marker = fopen(hf_path(dir, "prefill_only"), "r");
        int n_runs = marker ? 1 : 3;
        if (marker) fclose(marker);
        for (int r = 0; r < n_runs; r++) {
            memset(out, 0, (size_t)n * sizeof *out);
            bool ran = run_split(m, ids, (int)T, runs[r].split, out);
            report(name, runs[r].how, ran ? max_abs_diff(out, ref, (size_t)n) : INFINITY, tol, ran);
        }
        free(out);
    }
    free(ids);
    free(ref);
    hw_model_free(m);
}

/* ---------------------------------------------------------------- --same */

/* The two paths do the same arithmetic except that the halves layout orders
 * each head's coordinates differently, so q.k and the attention sums round
 * differently: measured 1.3e-5 to 1.5e-5 on logits of magnitude ~17, the same
 * size as the .bin path's own distance from llama2.c's logits (1.3e-5). A
 * wrong permutation moves them by ~18. */
#define SAME_TOL 3e-5f

static void compare_same(const char *bin, const char *dir, const char *ids_path,
                         const char *ref_path) {
    hw_model *a = hw_model_load(bin), *b = hw_model_load(dir);
    int ids[512], T = 0;
    FILE *f = fopen(ids_path, "r");
    while (f && T < 512 && fscanf(f, "%d", &ids[T]) == 1) T++;
    if (f) fclose(f);
    if (!a || !b || T == 0) {
        printf("FAIL same/load: %s\n", hw_last_error());
        check_total_failed++;
    } else {
        const hw_config *ca = hw_model_config(a), *cb = hw_model_config(b);
        bool cfg_ok = ca->vocab_size == cb->vocab_size && ca->n_head == cb->n_head &&
                      ca->n_kv_head == cb->n_kv_head && cb->rope_layout == HW_ROPE_HALVES &&
                      ca->rope_layout == HW_ROPE_INTERLEAVED;
        printf("%s same/config\n", cfg_ok ? "PASS" : "FAIL");
        check_total_failed += !cfg_ok;
        size_t n = (size_t)T * ca->vocab_size;
        float *la = malloc(n * sizeof *la), *lb = malloc(n * sizeof *lb);
        bool ran = run_split(a, ids, T, T, la) && run_split(b, ids, T, T, lb);
        report("same", "prefill", ran ? max_abs_diff(la, lb, n) : INFINITY, SAME_TOL, ran);
        /* Both against the reference program's logits, to show the two paths
         * differ from each other by no more than each differs from it. */
        float *ref = NULL;
        long nref = read_all(ref_path, (void **)&ref, 4);
        bool have = ran && nref == (long)n;
        report("same", "bin-vs-reference", have ? max_abs_diff(la, ref, n) : INFINITY, 1e-4f, have);
        report("same", "hf-vs-reference", have ? max_abs_diff(lb, ref, n) : INFINITY, 1e-4f, have);
        free(ref);
        ran = run_split(a, ids, T, 0, la) && run_split(b, ids, T, 0, lb);
        report("same", "decode", ran ? max_abs_diff(la, lb, n) : INFINITY, SAME_TOL, ran);
        free(la);
        free(lb);
    }
    hw_model_free(a);
    hw_model_free(b);
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "--compare") == 0) {
        for (int i = 2; i < argc; i++) compare_case(argv[i]);
        if (argc == 2) {
            printf("FAIL hf/compare: no case folders given\n");
            return 1;
        }
        CHECK_DONE();
    }
    if (argc == 6 && strcmp(argv[1], "--same") == 0) {
        compare_same(argv[2], argv[3], argv[4], argv[5]);
        CHECK_DONE();
    }
    RUN(test_good_folder);
    RUN(test_sharded_folder);
    RUN(test_bad_tensors);
    RUN(test_bad_files);
    CHECK_DONE();
}

/*
 * test_gguf.c: the GGUF reader (src/io/gguf.c) on files written by llama.cpp's own tools
 * (../shared/models/gguf) and on small files built here, valid and hostile; and
 * stories260K.gguf as a model against stories260K.bin and run.c's reference.
 *   test_gguf                            the cases below
 *   test_gguf --compare MODEL.gguf DIR   logits against tests/gguf_ref.py's (gguf_ref_test.sh)
 *   test_gguf --dequant BLOCKS.gguf      block types against numpy (gguf_quant_test.sh)
 *   test_gguf --q8 STORIES_Q8_0.gguf     stories260K quantized to Q8_0 (gguf_quant_test.sh)
 */
#include "check.h"
#include "headwise.h"
#include "io/gguf.h"

#include "gguf_writer.h"
#include "stories260k_ref.h"

/* Two F32 tensors a (4 x 2) and b (8), two kv entries, one of them a nested array
 * [[1, 2], ["x"]]: the valid file every hostile case below is a change of. */
static buf valid_file(void) {
    buf b = {0};
    header(&b, 3, 2, 2);
    kv_str(&b, "general.architecture", "test");
    str(&b, "nested");
    u32(&b, HW_GGUF_ARRAY);
    u32(&b, HW_GGUF_ARRAY);
    u64(&b, 2);
    u32(&b, HW_GGUF_I32), u64(&b, 2), u32(&b, 1), u32(&b, 2);
    u32(&b, HW_GGUF_STRING), u64(&b, 1), str(&b, "x");
    tensor_info(&b, "a", 4, 2, HW_GGML_F32, 0);
    tensor_info(&b, "b", 8, 1, HW_GGML_F32, 32);
    pad(&b, 32);
    for (int i = 0; i < 16; i++) {
        float v = (float)i;
        put(&b, &v, 4);
    }
    return b;
}

static hw_status parse(const buf *b) {
    hw_gguf g;
    hw_status st = hw_gguf_parse(&g, b->p, b->n, "t.gguf");
    hw_gguf_free(&g);
    return st;
}

static void reads_a_valid_file(void) {
    buf b = valid_file();
    hw_gguf g;
    hw_status st = hw_gguf_parse(&g, b.p, b.n, "t.gguf");
    CHECK(st == HW_OK, "%s", hw_last_error());
    if (st == HW_OK) {
        CHECK(g.n_kv == 2 && g.n_tensors == 2 && g.alignment == 32, "%lld %lld", (long long)g.n_kv,
              (long long)g.n_tensors);
        const hw_gguf_kv *n = hw_gguf_find(&g, "nested");
        CHECK(n && n->type == HW_GGUF_ARRAY && n->elem_type == HW_GGUF_ARRAY && n->n == 2, "nested");
        const hw_gguf_tensor *t = hw_gguf_find_tensor(&g, "b");
        CHECK(t && t->numel == 8 && t->nbytes == 32, "tensor b");
        float out[8];
        if (t) hw_gguf_to_f32(t, 0, 8, out);
        CHECK(t && out[0] == 8 && out[7] == 15, "b = %g .. %g", out[0], out[7]);
        hw_gguf_str s;
        CHECK(hw_gguf_get_str(&g, "general.architecture", &s, NULL) == HW_OK && s.len == 4, "arch");
        int64_t v;
        CHECK(hw_gguf_get_int(&g, "general.architecture", 0, 9, &v, NULL) == HW_ERR_FORMAT,
              "a string read as an integer must fail");
        CHECK(hw_gguf_find_tensor(&g, "c") == NULL, "no tensor c");
    }
    hw_gguf_free(&g);
    free(b.p);
}

/* Every proper prefix of a file with tensors is refused, with a message. */
static void truncation_at_every_byte(void) {
    buf b = valid_file();
    int accepted = 0;
    for (size_t n = 0; n < b.n; n++) {
        buf p = {b.p, n, n};
        if (parse(&p) == HW_OK) accepted++;
        else if (!strstr(hw_last_error(), "t.gguf")) accepted += 1000;
    }
    CHECK(accepted == 0, "%d prefixes accepted (or failed without naming the file)", accepted);
    CHECK(parse(&b) == HW_OK, "whole file: %s", hw_last_error());
    free(b.p);
}

/* Change the valid file at byte `at` (n bytes of v) and expect a failure mentioning want. */
static void expect_fail(const char *what, buf b, const char *want) {
    hw_status st = parse(&b);
    CHECK(st != HW_OK, "%s: accepted", what);
    CHECK(st == HW_OK || strstr(hw_last_error(), want), "%s: error [%s] lacks [%s]", what,
          hw_last_error(), want);
    free(b.p);
}

/* Offset of the first occurrence of the bytes s in b. */
static size_t find(const buf *b, const void *s, size_t n) {
    for (size_t i = 0; i + n <= b->n; i++)
        if (memcmp(b->p + i, s, n) == 0) return i;
    return (size_t)-1;
}

static buf with_u64(uint64_t v, size_t at) {
    buf b = valid_file();
    memcpy(b.p + at, &v, 8);
    return b;
}

static buf with_u32(uint32_t v, size_t at) {
    buf b = valid_file();
    memcpy(b.p + at, &v, 4);
    return b;
}

static void hostile_headers(void) {
    expect_fail("version 1", with_u32(1, 4), "version 1");
    expect_fail("big-endian", with_u32(3u << 24, 4), "big-endian");
    expect_fail("bad magic", with_u32(0x46554748, 0), "magic");
    expect_fail("2^63 tensors", with_u64(1ull << 63, 8), "tensors cannot fit");
    expect_fail("2^64-1 kv", with_u64(UINT64_MAX, 16), "metadata entries");
    /* A key length of 2^64 - 1: the CVE-2025-53630 pattern (length + 1 wraps). */
    expect_fail("key length 2^64-1", with_u64(UINT64_MAX, 24), "bytes long");
    buf b = valid_file();
    size_t nested = find(&b, "nested", 6);
    /* The outer array's count: 2^61 arrays of 12 bytes would overflow a product. */
    expect_fail("array count 2^61", with_u64(1ull << 61, nested + 6 + 8), "does not fit");
    buf d = valid_file();
    d.p[nested + 6 + 4] = 99; /* element type */
    expect_fail("array of unknown type", d, "unknown value type");
    free(b.p);
}

/* A chain of arrays nested deeper than the reader allows. */
static void deep_nesting(void) {
    buf b = {0};
    header(&b, 3, 0, 1);
    str(&b, "deep");
    u32(&b, HW_GGUF_ARRAY);
    for (int i = 0; i < 100; i++) u32(&b, HW_GGUF_ARRAY), u64(&b, 1);
    u32(&b, HW_GGUF_U8), u64(&b, 0);
    expect_fail("arrays nested 100 deep", b, "nested");
}

static buf two_tensors(uint64_t ne0a, uint64_t ne1a, uint32_t ta, uint64_t offb, const char *align_kv,
                       uint32_t align) {
    buf b = {0};
    header(&b, 3, 2, align_kv ? 1 : 0);
    if (align_kv) kv_u32(&b, align_kv, align);
    tensor_info(&b, "a", ne0a, ne1a, ta, 0);
    tensor_info(&b, "b", 8, 1, HW_GGML_F32, offb);
    pad(&b, align_kv && align && !(align & (align - 1)) ? align : 32);
    for (int i = 0; i < 64; i++) put(&b, "\0\0\0\0", 4);
    return b;
}

static void hostile_tensors(void) {
    CHECK(parse(&(buf){0}) != HW_OK, "empty file accepted");
    buf ok = two_tensors(4, 2, HW_GGML_F32, 32, NULL, 0);
    CHECK(parse(&ok) == HW_OK, "base case: %s", hw_last_error());
    free(ok.p);
    expect_fail("overlap", two_tensors(4, 2, HW_GGML_F32, 0, NULL, 0), "overlap");
    expect_fail("unknown type", two_tensors(4, 2, 4, 32, NULL, 0), "unknown ggml type");
    expect_fail("type 2^31", two_tensors(4, 2, 1u << 31, 32, NULL, 0), "unknown ggml type");
    /* Ollama CVE-2026-7482's pattern: dims claim more bytes than the file holds. */
    expect_fail("past the end", two_tensors(1 << 20, 1 << 10, HW_GGML_F32, 32, NULL, 0), "ends past");
    /* ne0 * ne1 overflows 64 bits; and a product that only overflows in bytes. */
    expect_fail("numel overflow", two_tensors(1ull << 40, 1ull << 40, HW_GGML_F32, 32, NULL, 0), "overflow");
    expect_fail("bytes overflow", two_tensors(1ull << 61, 1, HW_GGML_F32, 32, NULL, 0), "overflow");
    expect_fail("ne0 2^63", two_tensors(1ull << 63, 1, HW_GGML_F32, 32, NULL, 0), "overflow");
    expect_fail("partial block", two_tensors(16, 1, HW_GGML_Q8_0, 32, NULL, 0), "blocks");
    expect_fail("misaligned offset", two_tensors(4, 2, HW_GGML_F32, 36, NULL, 0), "not aligned");
    expect_fail("alignment 0", two_tensors(4, 2, HW_GGML_F32, 32, "general.alignment", 0), "power of two");
    expect_fail("alignment 24", two_tensors(4, 2, HW_GGML_F32, 48, "general.alignment", 24), "power of two");
    buf al = two_tensors(4, 2, HW_GGML_F32, 64, "general.alignment", 64);
    CHECK(parse(&al) == HW_OK, "alignment 64: %s", hw_last_error());
    free(al.p);
    buf dup = two_tensors(4, 2, HW_GGML_F32, 32, NULL, 0);
    dup.p[find(&dup, "\1\0\0\0\0\0\0\0b", 9) + 8] = 'a';
    expect_fail("duplicate tensor", dup, "twice");
    buf dk = {0};
    header(&dk, 3, 0, 2);
    kv_u32(&dk, "k", 1);
    kv_u32(&dk, "k", 2);
    expect_fail("duplicate key", dk, "twice");
    buf bo = {0};
    header(&bo, 3, 0, 1);
    str(&bo, "flag"), u32(&bo, HW_GGUF_BOOL), put(&bo, "\7", 1);
    expect_fail("bool 7", bo, "bool");
}

/* llama.cpp's vocabulary files: no tensors and no padding after the metadata. */
static void vocabulary_files_parse(void) {
    const char *names[] = {"gpt-2", "llama-spm", "phi-3", "starcoder", "deepseek-coder", "falcon",
                           "gpt-neox"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char rel[128];
        snprintf(rel, sizeof rel, "models/gguf/vocab/ggml-vocab-%s.gguf", names[i]);
        hw_gguf g;
        hw_status st = hw_gguf_open(&g, shared_path(rel));
        CHECK(st == HW_OK, "%s: %s", names[i], hw_last_error());
        const hw_gguf_kv *tok = NULL;
        if (st == HW_OK) hw_gguf_get_array(&g, "tokenizer.ggml.tokens", HW_GGUF_STRING, &tok);
        CHECK(st != HW_OK || (g.n_tensors == 0 && tok && tok->n > 1000), "%s: tokens", names[i]);
        CHECK(st != HW_OK || g.data_offset > g.file_bytes || g.data_offset == g.file_bytes,
              "%s: unpadded", names[i]);
        hw_gguf_free(&g);
    }
}

/* The public view (hw_gguf_file_*) of a file llama.cpp wrote. */
static void file_listing(void) {
    hw_gguf_file *f = hw_gguf_file_open(shared_path("models/gguf/llama-2-tiny-random.gguf"));
    CHECK(f, "%s", hw_last_error());
    if (!f) return;
    CHECK(hw_gguf_file_version(f) == 3 && hw_gguf_file_n_metadata(f) == 18 && hw_gguf_file_n_tensors(f) == 12,
          "counts");
    char key[256], value[256], small[12];
    int seen = 0;
    for (int64_t i = 0; i < hw_gguf_file_n_metadata(f); i++) {
        CHECK(hw_gguf_file_metadata(f, i, key, sizeof key, value, sizeof value) == HW_OK, "entry %lld", (long long)i);
        if (strcmp(key, "general.name") == 0) seen += strcmp(value, "\"LLaMA v2\"") == 0;
        if (strcmp(key, "llama.attention.layer_norm_rms_epsilon") == 0) seen += strcmp(value, "9.99999975e-06") == 0;
        if (strcmp(key, "tokenizer.ggml.token_type") == 0)
            seen += strcmp(value, "[i32 x 32000: 2, 3, 3, 6, 6, 6, 6, 6, ...]") == 0;
        /* A small buffer gets a cut, NUL-terminated value. */
        CHECK(hw_gguf_file_metadata(f, i, key, sizeof key, small, sizeof small) == HW_OK &&
                  strlen(small) < sizeof small, "cut value");
    }
    CHECK(seen == 3, "%d of 3 values printed as expected", seen);
    hw_gguf_tensor_info t;
    CHECK(hw_gguf_file_tensor(f, 11, &t) == HW_OK && strcmp(t.name, "output.weight") == 0 &&
              strcmp(t.type, "F16") == 0 && t.n_dims == 2 && t.ne[0] == 8 && t.ne[1] == 32000 &&
              t.bytes == 512000 && t.offset == 1238560, "tensor 11: %s %s", t.name, t.type);
    CHECK(hw_gguf_file_tensor(f, 12, &t) == HW_ERR_ARG && hw_gguf_file_metadata(f, -1, key, 8, value, 8) == HW_ERR_ARG,
          "out of range refused");
    hw_gguf_file_free(f);
    hw_gguf_file_free(NULL);
    CHECK(!hw_gguf_file_open(shared_path("models/stories260K/stories260K.bin")) &&
              strstr(hw_last_error(), "not a GGUF file"), "a .bin refused: %s", hw_last_error());
}

/* ---------------------------------------------------------------- models */

static hw_model *gguf, *bin;

static void logits(hw_model *m, float *out) { /* (NPOS, VOCAB), decode path */
    hw_context *c = hw_context_new(m, 0);
    for (int t = 0; t < NPOS; t++) hw_forward(c, &inputs[t], 1, HW_LOGITS_LAST, out + t * VOCAB);
    hw_context_free(c);
}

static void stories_config(void) {
    const hw_config *c = hw_model_config(gguf), *b = hw_model_config(bin);
    CHECK(c->d_model == b->d_model && c->d_ff == b->d_ff && c->n_layer == b->n_layer &&
              c->n_head == b->n_head && c->n_kv_head == b->n_kv_head && c->head_dim == b->head_dim &&
              c->vocab_size == b->vocab_size, "dims differ from the .bin");
    CHECK(c->n_ctx == 2048 && c->rope_theta == 10000.0f && c->bos_id == 1 && c->eos_id == 2,
          "ctx %d theta %g bos %d eos %d", c->n_ctx, c->rope_theta, c->bos_id, c->eos_id);
    CHECK(fabsf(c->norm_eps - 1e-5f) < 1e-9f, "eps %g", c->norm_eps);
    hw_model_info info;
    hw_model_get_info(gguf, &info);
    CHECK(strcmp(info.format, "GGUF v3") == 0 && strcmp(info.dtype, "F32 x48") == 0, "info %s / %s",
          info.format, info.dtype);
}

static void stories_logits_equal_bin(void) {
    static float a[NPOS * VOCAB], b[NPOS * VOCAB];
    logits(gguf, a);
    logits(bin, b);
    float d = max_abs_diff(a, b, NPOS * VOCAB), r = max_abs_diff(a, ref, NPOS * VOCAB);
    printf("  stories260K.gguf vs .bin max-abs %g, vs run.c's reference %g\n", d, r);
    CHECK(d <= 1e-5f, "gguf vs bin max-abs %g", d);
    CHECK(r <= 1e-4f, "gguf vs reference max-abs %g", r);
}

static int collect(const char *piece, size_t len, void *user) {
    buf *b = user;
    put(b, piece, len);
    return 0;
}

static void stories_greedy_200(void) {
    hw_tokenizer *t = hw_tokenizer_load(shared_path("models/stories260K/tok512.bin"), 512);
    CHECK(t, "%s", hw_last_error());
    if (!t) return;
    hw_generate_params p = hw_generate_params_default();
    p.n_steps = 200;
    p.sampler.temperature = 0;
    buf out = {0};
    CHECK(hw_generate(gguf, t, "", p, collect, &out) == HW_OK, "%s", hw_last_error());
    put(&out, "\n", 1);
    FILE *f = fopen(shared_path("models/stories260K/greedy-200.txt"), "rb");
    char want[8192];
    size_t n = f ? fread(want, 1, sizeof want, f) : 0;
    if (f) fclose(f);
    CHECK(n > 100 && out.n == n && memcmp(out.p, want, n) == 0, "greedy text differs (%zu vs %zu bytes)",
          out.n, n);
    free(out.p);
    hw_tokenizer_free(t);
}

static void tiny_random_loads(void) {
    hw_model *m = hw_model_load(shared_path("models/gguf/llama-2-tiny-random.gguf"));
    CHECK(m, "%s", hw_last_error());
    if (!m) return;
    const hw_config *c = hw_model_config(m);
    CHECK(c->n_layer == 1 && c->d_model == 8 && c->d_ff == 32 && c->n_head == 2 && c->vocab_size == 32000,
          "config");
    hw_model_info info;
    hw_model_get_info(m, &info);
    CHECK(strcmp(info.dtype, "F32 x3 + F16 x9") == 0, "dtype %s", info.dtype);
    float *lg = malloc(32000 * sizeof *lg);
    hw_context *ctx = hw_context_new(m, 16);
    int toks[3] = {1, 450, 4996};
    CHECK(ctx && hw_forward(ctx, toks, 3, HW_LOGITS_LAST, lg) == HW_OK, "%s", hw_last_error());
    int finite = 1;
    for (int i = 0; i < 32000; i++) finite &= isfinite(lg[i]);
    CHECK(finite, "non-finite logits");
    hw_context_free(ctx);
    free(lg);
    hw_model_free(m);
}

static void vocabulary_file_is_not_a_model(void) {
    hw_model *m = hw_model_load(shared_path("models/gguf/vocab/ggml-vocab-gpt-2.gguf"));
    CHECK(!m && strstr(hw_last_error(), "without tensors"), "%s", m ? "loaded" : hw_last_error());
    hw_model_free(m);
}

/* ---------------------------------------------------------------- --compare */

static long read_file(const char *dir, const char *name, void **out) {
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    FILE *f = fopen(p, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *out = malloc((size_t)n + 1);
    long got = (long)fread(*out, 1, (size_t)n, f);
    fclose(f);
    return got == n ? n : -1;
}

/* GGUF's logits on tokens.i32 against tests/gguf_ref.py's logits.f32 (an independent
 * numpy reading of the file, run by PyTorch): whole prefill, one token at a time, and
 * 5 + decode. */
static int compare(const char *model_path, const char *dir) {
    const char *name = strrchr(model_path, '/') ? strrchr(model_path, '/') + 1 : model_path;
    if (strcmp(name, "model.gguf") == 0) name = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
    hw_model *m = hw_model_load(model_path);
    int *ids = NULL;
    float *want = NULL;
    long T = read_file(dir, "tokens.i32", (void **)&ids) / 4;
    long n = read_file(dir, "logits.f32", (void **)&want) / 4;
    int V = m ? hw_model_config(m)->vocab_size : 0;
    if (!m || T <= 0 || n != T * V) {
        printf("FAIL gguf_ref/%s: %s\n", name, m ? "reference files do not match the model" : hw_last_error());
        return 1;
    }
    float *out = calloc((size_t)n, sizeof *out), scale = 0;
    for (long i = 0; i < n; i++) scale = fabsf(want[i]) > scale ? fabsf(want[i]) : scale;
    int splits[3] = {(int)T, 0, 5}, failed = 0;
    const char *how[3] = {"prefill", "decode", "prefill5+decode"};
    for (int r = 0; r < 3; r++) {
        hw_context *c = hw_context_new(m, 0);
        int ok = c != NULL;
        if (ok && splits[r]) ok = hw_forward(c, ids, splits[r], HW_LOGITS_ALL, out) == HW_OK;
        for (int t = splits[r]; ok && t < T; t++)
            ok = hw_forward(c, ids + t, 1, HW_LOGITS_ALL, out + (size_t)t * V) == HW_OK;
        hw_context_free(c);
        float d = ok ? max_abs_diff(out, want, (size_t)n) : INFINITY;
        printf("%s gguf_ref/%s/%s max_abs=%.3g (logits up to %.3g, tol 1e-4)\n", d <= 1e-4f ? "PASS" : "FAIL",
               name, how[r], d, scale);
        failed += !(d <= 1e-4f);
    }
    free(out);
    free(ids);
    free(want);
    hw_model_free(m);
    return failed ? 1 : 0;
}

/* ---------------------------------------------------------------- --dequant, --q8 */

/* Every "q.TYPE" tensor of tests/gguf_quant_ref.py's blocks file, dequantized, equals
 * its "ref.TYPE" (numpy's reading of the specification) bit for bit. */
static int dequant(const char *path) {
    hw_gguf g;
    if (hw_gguf_open(&g, path) != HW_OK) {
        printf("FAIL gguf_dequant: %s\n", hw_last_error());
        return 1;
    }
    int types = 0, failed = 0;
    for (int64_t i = 0; i < g.n_tensors; i++) {
        const hw_gguf_tensor *q = &g.tensors[i];
        if (q->name.len < 3 || memcmp(q->name.s, "q.", 2) != 0) continue;
        char ref_name[64];
        snprintf(ref_name, sizeof ref_name, "ref.%.*s", (int)q->name.len - 2, q->name.s + 2);
        const hw_gguf_tensor *r = hw_gguf_find_tensor(&g, ref_name);
        float *got = malloc((size_t)q->numel * sizeof *got), *want = malloc((size_t)q->numel * sizeof *want);
        int ok = r && r->numel == q->numel && hw_gguf_can_dequantize(q->type);
        int64_t differ = 0, nonzero = 0;
        if (ok) {
            hw_gguf_dequantize(q, got);
            hw_gguf_to_f32(r, 0, r->numel, want);
            for (int64_t k = 0; k < q->numel; k++) {
                differ += memcmp(&got[k], &want[k], 4) != 0;
                nonzero += got[k] != 0;
            }
        }
        ok = ok && differ == 0 && nonzero > q->numel / 2;
        printf("%s gguf_dequant/%s: %lld values, %lld differ in any bit\n", ok ? "PASS" : "FAIL",
               hw_ggml_type_name(q->type), (long long)q->numel, (long long)differ);
        failed += !ok;
        types++;
        free(got);
        free(want);
    }
    hw_gguf_free(&g);
    if (types < 8) printf("FAIL gguf_dequant: %d block types in %s, expected 8\n", types, path);
    return failed || types < 8;
}

/* stories260K with its matrices quantized to Q8_0 (gguf_quant_ref.py stories): how far
 * the logits move from the F32 file at the 64 reference positions, and greedy decoding
 * still prints greedy-200's first 100 characters. */
static int q8_stories(const char *path) {
    hw_model *q = hw_model_load(path), *f = hw_model_load(shared_path("models/gguf/stories260K.gguf"));
    hw_tokenizer *t = q ? hw_tokenizer_load(path, 0) : NULL;
    if (!q || !f || !t || !load_reference()) {
        printf("FAIL gguf_q8_0/load: %s\n", hw_last_error());
        return 1;
    }
    static float a[NPOS * VOCAB], b[NPOS * VOCAB];
    logits(q, a);
    logits(f, b);
    float d = max_abs_diff(a, b, NPOS * VOCAB);
    hw_generate_params p = hw_generate_params_default();
    p.n_steps = 200;
    p.sampler.temperature = 0;
    buf out = {0};
    hw_status st = hw_generate(q, t, "", p, collect, &out);
    FILE *fp = fopen(shared_path("models/stories260K/greedy-200.txt"), "rb");
    char want[128] = "";
    size_t n = fp ? fread(want, 1, 100, fp) : 0;
    if (fp) fclose(fp);
    int same = st == HW_OK && n == 100 && out.n >= 100 && memcmp(out.p, want, 100) == 0;
    printf("%s gguf_q8_0/greedy: the first 100 characters of greedy-200 %s\n", same ? "PASS" : "FAIL",
           same ? "printed" : "differ");
    /* Q8_0 keeps 8 bits a weight: measured 0.0x here, where a wrong block layout moves
     * logits by several units. */
    printf("%s gguf_q8_0/logits: max-abs change %.4g from F32 over 64 positions (logits up to 17)\n",
           d < 0.5f ? "PASS" : "FAIL", d);
    free(out.p);
    hw_tokenizer_free(t);
    hw_model_free(q);
    hw_model_free(f);
    return !(same && d < 0.5f);
}

int main(int argc, char **argv) {
    hw_set_threads(1);
    if (argc == 4 && strcmp(argv[1], "--compare") == 0) return compare(argv[2], argv[3]);
    if (argc == 3 && strcmp(argv[1], "--dequant") == 0) return dequant(argv[2]);
    if (argc == 3 && strcmp(argv[1], "--q8") == 0) return q8_stories(argv[2]);
    RUN(reads_a_valid_file);
    RUN(truncation_at_every_byte);
    RUN(hostile_headers);
    RUN(deep_nesting);
    RUN(hostile_tensors);
    RUN(vocabulary_files_parse);
    RUN(file_listing);
    gguf = hw_model_load(shared_path("models/gguf/stories260K.gguf"));
    if (!gguf) fprintf(stderr, "stories260K.gguf: %s\n", hw_last_error());
    bin = hw_model_load(shared_path("models/stories260K/stories260K.bin"));
    if (!gguf || !bin || !load_reference()) {
        printf("FAIL stories260k_gguf: models or reference missing\n");
        return 1;
    }
    RUN(stories_config);
    RUN(stories_logits_equal_bin);
    RUN(stories_greedy_200);
    RUN(tiny_random_loads);
    RUN(vocabulary_file_is_not_a_model);
    hw_model_free(gguf);
    hw_model_free(bin);
    CHECK_DONE();
}

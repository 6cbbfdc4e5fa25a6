/*
 * test_quant.c: weight matrices kept in their stored type (src/core/quant_kernels.c):
 * F16, BF16 and ggml's block types, on random rows, at every SIMD level the CPU has.
 *
 * - Decoding: every SIMD level decodes the same bits as the plain C decoder, and the
 *   single-entry (hw_matrix_value) and row (hw_matrix_rows_f32) reads agree with it.
 * - Products: y = W x (T = 1) and Y = X W^T (T = 5, the prefill path) against a double
 *   reference on the decoded matrix: |y - y_ref| <= 1e-5 sum_k |w_k x_k| (relative to the
 *   terms' size, so it holds for any data); at T = 1 also bit for bit the f32 kernel
 *   on the decoded matrix.
 * - 1 thread = 2 threads, bit for bit, decode and prefill, on shapes of many chunks.
 * - A row longer than the decode buffer (16K values) takes the allocated-buffer path.
 *
 * test_quant --model Q.gguf ORIG.gguf LABEL MAX [GREEDY.txt] (tests/quantize_test.sh): a
 * model written by `headwise quantize` against the one it came from: the max-abs change
 * of the logits over 64 decoded positions (reported; PASS when below MAX), and with
 * GREEDY.txt, greedy decoding from an empty prompt prints its first 100 characters.
 */
#include "check.h"
#include "internal.h"

#include <stdint.h>

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t next_u32(void) { /* xorshift64* */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (uint32_t)((rng * 0x2545F4914F6CDD1Dull) >> 32);
}
static float uniform(float a) { return a * ((float)next_u32() * (2.0f / 4294967296.0f) - 1.0f); }

/* A finite f16 of magnitude about 2^-10 .. 2^-4 (scales), or any finite one. */
static uint16_t rand_f16(int scale) {
    uint16_t sign = (uint16_t)(next_u32() & 1) << 15, man = (uint16_t)(next_u32() & 1023);
    uint16_t exp = scale ? (uint16_t)(5 + next_u32() % 7) : (uint16_t)(next_u32() % 31);
    return (uint16_t)(sign | exp << 10 | man);
}
static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v, p[1] = (uint8_t)(v >> 8); }

static const hw_dtype TYPES[] = {HW_F16,   HW_BF16,  HW_GQ4_0, HW_GQ4_1, HW_GQ5_0, HW_GQ5_1,
                                 HW_GQ8_0, HW_GQ4_K, HW_GQ5_K, HW_GQ6_K};
#define N_TYPES (int)(sizeof TYPES / sizeof TYPES[0])

/* Random storage for `rows` rows of `cols` values of type t: random bytes, with every
 * f16 scale a finite, moderate value (and F16/BF16 values finite). */
static uint8_t *random_rows(hw_dtype t, int rows, int cols) {
    const int blk = hw_dtype_block(t), bytes = hw_dtype_block_bytes(t);
    const size_t nb = (size_t)rows * (cols / blk), n = nb * bytes;
    uint8_t *p = malloc(n);
    for (size_t i = 0; i < n; i++) p[i] = (uint8_t)next_u32();
    for (size_t b = 0; b < nb; b++) {
        uint8_t *q = p + b * bytes;
        switch (t) {
        case HW_F16: put16(q, rand_f16(0)); break;
        case HW_BF16: { float f = uniform(4.0f); uint32_t u; memcpy(&u, &f, 4); put16(q, (uint16_t)(u >> 16)); break; }
        case HW_GQ6_K: put16(q + 208, rand_f16(1)); break;
        case HW_GQ4_1: case HW_GQ5_1: case HW_GQ4_K: case HW_GQ5_K:
            put16(q, rand_f16(1)), put16(q + 2, rand_f16(1)); break;
        default: put16(q, rand_f16(1)); break;
        }
    }
    return p;
}

static int levels[3], n_levels;
static void find_levels(void) {
    for (int l = HW_SIMD_C; l <= HW_SIMD_AVX512; l++)
        if (hw_simd_force(l) == l) levels[n_levels++] = l;
    hw_simd_force(-1);
}

static int cols_for(hw_dtype t) { return hw_dtype_block(t) == 256 ? 768 : hw_dtype_block(t) == 32 ? 160 : 77; }

/* Every level decodes as the C decoder; single entries and rows agree. */
static void decode_same_bits_every_level(void) {
    for (int i = 0; i < N_TYPES; i++) {
        hw_dtype t = TYPES[i];
        const int R = 9, K = cols_for(t);
        uint8_t *raw = random_rows(t, R, K);
        hw_matrix w = {.dtype = t, .rows = R, .cols = K, .raw = raw};
        float *ref = malloc(sizeof(float) * R * K), *got = malloc(sizeof(float) * R * K);
        hw_simd_force(HW_SIMD_C);
        hw_matrix_rows_f32(&w, 0, R, ref);
        int finite = 1;
        for (int k = 0; k < R * K; k++) finite &= isfinite(ref[k]);
        CHECK(finite, "%s: decoded values not finite", hw_dtype_name(t));
        for (int li = 0; li < n_levels; li++) {
            hw_simd_force(levels[li]);
            hw_matrix_rows_f32(&w, 0, R, got);
            CHECK(memcmp(ref, got, sizeof(float) * R * K) == 0, "%s: level %d decodes otherwise",
                  hw_dtype_name(t), levels[li]);
            hw_matrix_rows_f32(&w, 3, 2, got); /* rows 3, 4 alone */
            CHECK(memcmp(ref + 3 * K, got, sizeof(float) * 2 * K) == 0, "%s: row view", hw_dtype_name(t));
        }
        hw_simd_force(-1);
        int same = 1;
        for (int r = 0; r < R; r++)
            for (int c = 0; c < K; c += 5) same &= hw_matrix_value(&w, r, c) == ref[r * K + c];
        CHECK(same, "%s: hw_matrix_value differs from the row decode", hw_dtype_name(t));
        hw_matrix v = hw_matrix_row_view(&w, 4, 3);
        hw_matrix_rows_f32(&v, 1, 1, got);
        CHECK(memcmp(got, ref + 5 * K, sizeof(float) * K) == 0, "%s: hw_matrix_row_view", hw_dtype_name(t));
        free(raw), free(ref), free(got);
    }
}

/* max over outputs of |y - ref| / sum |w x| (ref in double on the decoded matrix). */
static double rel_err(const float *y, const float *wf, const float *x, int T, int R, int K) {
    double worst = 0;
    for (int t = 0; t < T; t++)
        for (int r = 0; r < R; r++) {
            double s = 0, a = 0;
            for (int k = 0; k < K; k++) {
                double p = (double)wf[(size_t)r * K + k] * x[(size_t)t * K + k];
                s += p, a += fabs(p);
            }
            double e = fabs(y[(size_t)t * R + r] - s) / (a > 0 ? a : 1);
            worst = e > worst ? e : worst;
        }
    return worst;
}

static void products_match_decoded_f32(int R, int K_override) {
    for (int i = 0; i < N_TYPES; i++) {
        hw_dtype t = TYPES[i];
        const int K = K_override ? K_override / hw_dtype_block(t) * hw_dtype_block(t) : cols_for(t), T = 5;
        uint8_t *raw = random_rows(t, R, K);
        hw_matrix w = {.dtype = t, .rows = R, .cols = K, .raw = raw};
        float *wf = malloc(sizeof(float) * R * K), *x = malloc(sizeof(float) * T * K);
        float *y = malloc(sizeof(float) * T * R), *yf = malloc(sizeof(float) * R);
        for (int k = 0; k < T * K; k++) x[k] = uniform(1.0f);
        hw_matrix_rows_f32(&w, 0, R, wf);
        for (int li = 0; li < n_levels; li++) {
            hw_simd_force(levels[li]);
            hw_matmul(y, x, &w, NULL, 1);
            hw_matvec(yf, wf, x, R, K);
            CHECK(memcmp(y, yf, sizeof(float) * R) == 0, "%s R %d K %d level %d: matvec is not the "
                  "f32 kernel's on the decoded rows", hw_dtype_name(t), R, K, levels[li]);
            double e1 = rel_err(y, wf, x, 1, R, K);
            CHECK(e1 <= 1e-5, "%s K %d level %d: matvec relative error %g", hw_dtype_name(t), K, levels[li], e1);
            hw_matmul(y, x, &w, NULL, T);
            double e2 = rel_err(y, wf, x, T, R, K);
            CHECK(e2 <= 1e-5, "%s K %d level %d: matmul relative error %g", hw_dtype_name(t), K, levels[li], e2);
        }
        hw_simd_force(-1);
        free(raw), free(wf), free(x), free(y), free(yf);
    }
}

static void products_match_reference(void) { products_match_decoded_f32(37, 0); }

/* K = 16640 > the 16K-value decode buffer: one allocated row buffer per chunk. */
static void long_rows_match_reference(void) { products_match_decoded_f32(3, 16640); }

/* 1 thread = 2 threads, bit for bit: decode (T = 1) and prefill (T = 7). */
static void same_bits_any_thread_count(void) {
    static const hw_dtype ty[] = {HW_F16, HW_BF16, HW_GQ8_0, HW_GQ4_0, HW_GQ4_K, HW_GQ6_K};
    const int R = 1500, K = 768, T = 7;
    for (int i = 0; i < (int)(sizeof ty / sizeof ty[0]); i++) {
        uint8_t *raw = random_rows(ty[i], R, K);
        hw_matrix w = {.dtype = ty[i], .rows = R, .cols = K, .raw = raw};
        float *x = malloc(sizeof(float) * T * K), *y1 = malloc(sizeof(float) * T * R),
              *y2 = malloc(sizeof(float) * T * R);
        for (int k = 0; k < T * K; k++) x[k] = uniform(1.0f);
        for (int tt = 1; tt <= T; tt += T - 1) {
            hw_set_threads(1);
            hw_matmul(y1, x, &w, NULL, tt);
            hw_set_threads(2);
            memset(y2, 0xff, sizeof(float) * T * R); /* NaNs: a row left unwritten shows */
            hw_matmul(y2, x, &w, NULL, tt);
            CHECK(memcmp(y1, y2, sizeof(float) * tt * R) == 0, "%s T %d: 1 and 2 threads differ",
                  hw_dtype_name(ty[i]), tt);
        }
        free(raw), free(x), free(y1), free(y2);
    }
    hw_set_threads(0);
}

/* Sizes: what a product reads. */
static void sizes_are_the_stored_bytes(void) {
    hw_matrix w = {.dtype = HW_GQ4_K, .rows = 10, .cols = 512};
    CHECK(hw_matrix_bytes(&w) == 10 * 2 * 144, "Q4_K bytes %zu", hw_matrix_bytes(&w));
    w.dtype = HW_GQ8_0;
    CHECK(hw_matrix_bytes(&w) == 10 * 16 * 34, "Q8_0 bytes %zu", hw_matrix_bytes(&w));
    w.dtype = HW_BF16;
    CHECK(hw_matrix_bytes(&w) == 10 * 512 * 2, "BF16 bytes %zu", hw_matrix_bytes(&w));
    CHECK(hw_dtype_row_bytes(HW_GQ6_K, 256) == 210 && hw_dtype_row_bytes(HW_GQ4_0, 64) == 36,
          "row bytes");
}

/* ---------------------------------------------------------------- --model */

static int collect(const char *piece, size_t len, void *user) {
    char *b = user;
    size_t n = strlen(b);
    if (n + len < 256) memcpy(b + n, piece, len), b[n + len] = 0;
    return 0;
}

static void logits64(hw_model *m, float *out, int V) { /* (64, V), the decode path */
    hw_context *c = hw_context_new(m, 0);
    for (int t = 0; t < 64; t++) {
        int tok = (t * 37 + 1) % V;
        hw_forward(c, &tok, 1, HW_LOGITS_LAST, out + (size_t)t * V);
    }
    hw_context_free(c);
}

static int model_mode(const char *qpath, const char *opath, const char *label, double max, const char *greedy) {
    hw_set_threads(1);
    hw_model *q = hw_model_load(qpath), *o = hw_model_load(opath);
    if (!q || !o) {
        printf("FAIL quantize/%s/load: %s\n", label, hw_last_error());
        return 1;
    }
    const int V = hw_model_config(q)->vocab_size;
    float *a = malloc(sizeof(float) * 64 * V), *b = malloc(sizeof(float) * 64 * V);
    logits64(q, a, V);
    logits64(o, b, V);
    double d = 0, top = 0;
    for (size_t i = 0; i < (size_t)64 * V; i++) {
        double e = fabs((double)a[i] - b[i]);
        d = e > d || e != e ? e : d;
        top = fabs(b[i]) > top ? fabs(b[i]) : top;
    }
    hw_model_info info;
    hw_model_get_info(q, &info);
    int ok = d < max;
    printf("%s quantize/%s/logits: max-abs change %.4g over 64 positions (logits up to %.3g; %s)\n",
           ok ? "PASS" : "FAIL", label, d, top, info.dtype);
    if (greedy) {
        hw_tokenizer *t = hw_tokenizer_load(qpath, 0);
        hw_generate_params p = hw_generate_params_default();
        p.n_steps = 200;
        p.sampler.temperature = 0;
        char out[256] = "", want[128] = "";
        hw_status st = t ? hw_generate(q, t, "", p, collect, out) : HW_ERR_IO;
        FILE *fp = fopen(greedy, "rb");
        size_t n = fp ? fread(want, 1, 100, fp) : 0;
        if (fp) fclose(fp);
        int same = st == HW_OK && n == 100 && strlen(out) >= 100 && memcmp(out, want, 100) == 0;
        printf("%s quantize/%s/greedy: the first 100 characters of greedy-200 %s\n", same ? "PASS" : "FAIL",
               label, same ? "printed" : "differ");
        ok &= same;
        hw_tokenizer_free(t);
    }
    free(a), free(b);
    hw_model_free(q), hw_model_free(o);
    return !ok;
}

int main(int argc, char **argv) {
    if ((argc == 6 || argc == 7) && strcmp(argv[1], "--model") == 0)
        return model_mode(argv[2], argv[3], argv[4], atof(argv[5]), argc == 7 ? argv[6] : NULL);
    find_levels();
    RUN(decode_same_bits_every_level);
    RUN(products_match_reference);
    RUN(long_rows_match_reference);
    RUN(same_bits_any_thread_count);
    RUN(sizes_are_the_stored_bytes);
    CHECK_DONE();
}

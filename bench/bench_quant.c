/*
 * bench_quant.c: decode speed of weights kept in their stored type, on a random-weight
 * Llama of the stories110M shape written as GGUF four ways: F32, F16, Q8_0 and Q4_K (the
 * last two by hw_quantize_gguf from the F32 file; Q4_K's tied classifier is Q6_K, as
 * llama.cpp lays it out). For each: decode tokens/s, the bytes of weights one step reads
 * (hw_model_info.weight_bytes) and that stream's rate against the machine's read
 * bandwidth measured in the same rounds; and the process's resident memory after each
 * model is loaded and run, against its file's size. Rounds interleave every
 * measurement, so a neighbour's load on this shared machine falls on all alike. Not a
 * test: prints one table, never fails on timing.
 *
 * usage: bench_quant [--quick] [--keep DIR] [MODEL ...]
 *   --quick     2 rounds of 32 steps (default 5 of 128)
 *   --keep DIR  write the four files into DIR and leave them (to run other programs on
 *               the same weights, e.g. llama2.c's runq on a conversion of F32.gguf)
 *   MODEL ...   more models measured in the same rounds (e.g. a llama2.c int8 export)
 */
#include "headwise.h"

#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

enum { D = 768, L = 12, H = 12, F = 2048, V = 32000, C = 1024, THREADS = 2, PROMPT = 16 };
#define GIB ((size_t)1 << 30)
#define N_KIND 4
#define MAX_MODELS 8
static const char *kind_name[MAX_MODELS] = {"F32", "F16", "Q8_0", "Q4_K"};

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t next_u32(void) { /* xorshift64* */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (uint32_t)((rng * 0x2545F4914F6CDD1Dull) >> 32);
}
static float uniform(float a) { return a * ((float)next_u32() * (2.0f / 4294967296.0f) - 1.0f); }

/* ---------------------------------------------------------------- a GGUF file */

static void w32(FILE *f, uint32_t v) { fwrite(&v, 4, 1, f); } /* little-endian host */
static void w64(FILE *f, uint64_t v) { fwrite(&v, 8, 1, f); }
static void wstr(FILE *f, const char *s) { w64(f, strlen(s)), fwrite(s, 1, strlen(s), f); }
static void kv_u32(FILE *f, const char *k, uint32_t v) { wstr(f, k), w32(f, 4), w32(f, v); }
static void kv_f32(FILE *f, const char *k, float v) { wstr(f, k), w32(f, 6), fwrite(&v, 4, 1, f); }

static uint16_t to_f16(float x) { /* round to nearest even; values here are small and normal */
    uint32_t u;
    memcpy(&u, &x, 4);
    uint32_t s = (u >> 16) & 0x8000, a = u & 0x7fffffff;
    if (a < 0x38800000) return (uint16_t)s; /* below the smallest normal half: 0 is fine here */
    uint32_t h = ((a >> 23) - 112) << 10 | (a & 0x7fffff) >> 13, r = a & 0x1fff;
    return (uint16_t)(s | (h + (r > 0x1000 || (r == 0x1000 && (h & 1)))));
}

typedef struct {
    char name[48];
    int rows, cols; /* cols 0: 1-D of rows values */
    float a;        /* uniform(a), or 1 when 0 */
} tensor;

static int tensors(tensor *t) {
    int n = 0;
    t[n++] = (tensor){"token_embd.weight", V, D, 0.5f};
    t[n++] = (tensor){"output_norm.weight", D, 0, 0};
    for (int l = 0; l < L; l++) {
        static const char *mat[] = {"attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
        snprintf(t[n].name, sizeof t[n].name, "blk.%d.attn_norm.weight", l), t[n].rows = D, t[n].cols = 0, t[n++].a = 0;
        snprintf(t[n].name, sizeof t[n].name, "blk.%d.ffn_norm.weight", l), t[n].rows = D, t[n].cols = 0, t[n++].a = 0;
        for (int k = 0; k < 7; k++) {
            snprintf(t[n].name, sizeof t[n].name, "blk.%d.%s.weight", l, mat[k]);
            t[n].rows = k >= 4 && k < 6 ? F : D;
            t[n].cols = k == 6 ? F : D;
            t[n++].a = k == 6 ? 0.04f : 0.06f;
        }
    }
    return n;
}

/* The model as GGUF v3, matrices in F32 (f16 = 0) or F16; 1-D tensors F32. */
static int write_gguf(const char *path, int f16) {
    static tensor t[2 + 9 * L];
    const int n = tensors(t);
    FILE *f = fopen(path, "wb");
    if (!f) return 0;
    fwrite("GGUF", 1, 4, f), w32(f, 3), w64(f, (uint64_t)n), w64(f, 9);
    wstr(f, "general.architecture"), w32(f, 8), wstr(f, "llama");
    kv_u32(f, "llama.block_count", L), kv_u32(f, "llama.embedding_length", D);
    kv_u32(f, "llama.feed_forward_length", F), kv_u32(f, "llama.attention.head_count", H);
    kv_u32(f, "llama.attention.head_count_kv", H), kv_u32(f, "llama.context_length", C);
    kv_f32(f, "llama.rope.freq_base", 10000), kv_f32(f, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    uint64_t off = 0;
    for (int i = 0; i < n; i++) {
        const int two = t[i].cols > 0;
        const uint64_t bytes = (uint64_t)t[i].rows * (two ? t[i].cols : 1) * (two && f16 ? 2 : 4);
        wstr(f, t[i].name), w32(f, two ? 2 : 1);
        if (two) w64(f, (uint64_t)t[i].cols);
        w64(f, (uint64_t)t[i].rows), w32(f, two && f16 ? 1 : 0), w64(f, off);
        off += (bytes + 31) / 32 * 32;
    }
    static const char zero[32];
    fwrite(zero, 1, (size_t)(32 - ftell(f) % 32) % 32, f);
    static float buf[1 << 16];
    static uint16_t hb[1 << 16];
    for (int i = 0; i < n; i++) {
        const int two = t[i].cols > 0;
        size_t left = (size_t)t[i].rows * (two ? t[i].cols : 1), bytes = 0;
        while (left > 0) {
            size_t k = left < sizeof buf / sizeof *buf ? left : sizeof buf / sizeof *buf;
            for (size_t j = 0; j < k; j++) buf[j] = t[i].a != 0 ? uniform(t[i].a) : 1.0f;
            if (two && f16) {
                for (size_t j = 0; j < k; j++) hb[j] = to_f16(buf[j]);
                fwrite(hb, 2, k, f), bytes += 2 * k;
            } else {
                fwrite(buf, 4, k, f), bytes += 4 * k;
            }
            left -= k;
        }
        fwrite(zero, 1, (32 - bytes % 32) % 32, f);
    }
    return fclose(f) == 0;
}

/* ---------------------------------------------------------------- measures */

/* Tokens/s of `steps` one-token forwards after a PROMPT-token prefill. */
static double decode_rate(hw_context *c, float *logits, int steps) {
    int toks[PROMPT];
    bench_prompt(toks, PROMPT, V, 7);
    hw_context_reset(c);
    if (hw_forward(c, toks, PROMPT, HW_LOGITS_LAST, logits) != HW_OK) return -1;
    double t0 = bench_now();
    for (int i = 0; i < steps; i++) {
        int tok = 3 + (int)(next_u32() % (V - 3));
        if (hw_forward(c, &tok, 1, HW_LOGITS_LAST, logits) != HW_OK) return -1;
    }
    return steps / (bench_now() - t0);
}

/* Resident and file-backed resident kB of this process (/proc/self/status). */
static void rss_kb(long *rss, long *file) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    *rss = *file = -1;
    while (f && fgets(line, sizeof line, f)) {
        sscanf(line, "VmRSS: %ld", rss);
        sscanf(line, "RssFile: %ld", file);
    }
    if (f) fclose(f);
}

int main(int argc, char **argv) {
    bench_passive_threads(argv);
    int quick = 0, n = N_KIND;
    const char *keep = NULL;
    char path[MAX_MODELS][4200];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) quick = 1;
        else if (strcmp(argv[i], "--keep") == 0 && i + 1 < argc) keep = argv[++i];
        else if (argv[i][0] != '-' && n < MAX_MODELS) {
            snprintf(path[n], sizeof path[n], "%s", argv[i]);
            const char *slash = strrchr(argv[i], '/');
            kind_name[n++] = slash ? slash + 1 : argv[i];
        } else return bench_usage("bench_quant", "bad argument", "[--quick] [--keep DIR] [MODEL ...]");
    }
    const int reps = quick ? 2 : 5, steps = quick ? 32 : 128;
    const double load = bench_load_average();
    const char *dir = getenv("TMPDIR");
    char base[4096];
    snprintf(base, sizeof base, "%s/headwise-bench-quant-XXXXXX", dir && *dir ? dir : "/tmp");
    if (keep) snprintf(base, sizeof base, "%s", keep);
    else if (!mkdtemp(base)) return perror("bench_quant: mkdtemp"), 1;
    for (int k = 0; k < N_KIND; k++) snprintf(path[k], sizeof path[k], "%s/%s.gguf", base, kind_name[k]);
    fprintf(stderr, "bench_quant: writing the models to %s\n", base);
    hw_quantize_params qp = hw_quantize_params_default();
    int ok = write_gguf(path[0], 0) && write_gguf(path[1], 1);
    qp.type = "q8_0";
    ok = ok && hw_quantize_gguf(path[0], path[2], &qp, NULL) == HW_OK;
    qp.type = "q4_k";
    ok = ok && hw_quantize_gguf(path[0], path[3], &qp, NULL) == HW_OK;
    hw_set_threads(THREADS);
    hw_model *m[MAX_MODELS] = {0};
    hw_context *c[MAX_MODELS] = {0};
    hw_model_info info[MAX_MODELS];
    long rss[MAX_MODELS], rss_file[MAX_MODELS], before, before_file;
    float *logits = malloc((size_t)V * sizeof(float));
    rss_kb(&before, &before_file);
    for (int k = 0; ok && k < n; k++) { /* loaded one after another: RSS grows by each */
        long r0, f0;
        rss_kb(&r0, &f0);
        ok = (m[k] = hw_model_load(path[k])) && (c[k] = hw_context_new(m[k], C)) &&
             decode_rate(c[k], logits, 4) > 0; /* touches every weight */
        rss_kb(&rss[k], &rss_file[k]);
        rss[k] -= r0, rss_file[k] -= f0;
        if (ok) hw_model_get_info(m[k], &info[k]);
    }
    for (int k = 0; !keep && k < N_KIND; k++) unlink(path[k]);
    if (!keep) rmdir(base);
    char *src = aligned_alloc(4096, GIB);
    if (!ok || !src) {
        fprintf(stderr, "bench_quant: %s\n", ok ? "out of memory" : hw_last_error());
        return 1;
    }
    memset(src, 1, GIB);
    bench_read_rate(src, GIB, THREADS);
    double dec[MAX_MODELS][8], rd[8];
    for (int r = 0; r < reps; r++) {
        for (int k = 0; k < n; k++) dec[k][r] = decode_rate(c[k], logits, steps);
        rd[r] = bench_read_rate(src, GIB, THREADS);
    }
    const double rbw = bench_median(rd, reps);
    printf("bench_quant: random-weight Llama, stories110M shape (D %d, L %d, H %d, F %d, V %d, tied), "
           "GGUF, %d threads\n", D, L, H, F, V, THREADS);
    printf("  %d rounds of %d decode steps after a %d-token prompt, interleaved; medians; load average "
           "before: %.2f on %d cores\n", reps, steps, PROMPT, load, omp_get_num_procs());
    printf("  read bandwidth (1 GiB, %d threads): %.1f GB/s\n\n", THREADS, rbw);
    printf("  %-5.14s %10s %9s %9s %9s %11s %12s %12s  %s\n", "type", "tok/s", "vs F32", "MB/token", "GB/s",
           "/read bw", "file MB", "RSS +MB", "stored types");
    const double f32_rate = bench_median(dec[0], reps);
    for (int k = 0; k < n; k++) {
        const double t = bench_median(dec[k], reps), gbs = info[k].weight_bytes * t / 1e9;
        printf("  %-5.14s %10.1f %9.2f %9.1f %9.1f %11.2f %12.1f %12.1f  %s\n", kind_name[k], t, t / f32_rate,
               info[k].weight_bytes / 1e6, gbs, gbs / rbw, info[k].file_bytes / 1e6, rss[k] * 1024 / 1e6,
               info[k].dtype);
    }
    printf("\n  RSS +MB: VmRSS growth over loading the model, a context of %d and a few decode steps\n"
           "  (the file's pages mapped in place count here: file-backed %.0f %.0f %.0f %.0f MB; the\n"
           "  KV cache is %.1f MB of it). MB = 1e6 bytes.\n",
           C, rss_file[0] * 1024 / 1e6, rss_file[1] * 1024 / 1e6, rss_file[2] * 1024 / 1e6,
           rss_file[3] * 1024 / 1e6, 2.0 * L * C * D * 4 / 1e6);
    for (int k = 0; k < n; k++) hw_context_free(c[k]), hw_model_free(m[k]);
    free(src), free(logits);
    (void)before, (void)before_file;
    return 0;
}

/*
 * bench_engine.c: decode and prefill speed of the engine on a random-weight model of the
 * stories110M shape, against the machine's own limits measured in the same run: copy
 * bandwidth (decode is a stream over every weight) and OpenBLAS sgemm (prefill is matrix
 * products). Prints one table and two ratios; never fails on timing.
 *
 * The model: llama2.c v1 fp32, D 768, L 12, H = Hk = 12, F 2048, V 32000, C 1024, shared
 * classifier, written to a temporary file (mkstemp in $TMPDIR or /tmp) and removed at the end.
 */
#include "headwise.h"

#include <cblas.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

enum { D = 768, L = 12, H = 12, HK = 12, F = 2048, V = 32000, C = 1024 };
enum { THREADS = 2, REPS = 5, PROMPT = 16, STEPS = 128, PREFILL = 512 };
#define GIB ((size_t)1 << 30)

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median, min and max of n samples (sorts them). */
typedef struct {
    double med, min, max;
} stats;
static stats summarise(double *v, int n) {
    qsort(v, n, sizeof *v, cmp_double);
    stats s = {n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]), v[0], v[n - 1]};
    return s;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t next_u32(void) { /* xorshift64* */
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (uint32_t)((rng * 0x2545F4914F6CDD1Dull) >> 32);
}
static float uniform(float a) { return a * ((float)next_u32() * (2.0f / 4294967296.0f) - 1.0f); }

/* Write n floats: the constant c if a == 0, else uniform in [-a, a). */
static int write_floats(FILE *f, size_t n, float a, float c) {
    static float buf[1 << 16];
    while (n > 0) {
        size_t k = n < sizeof buf / sizeof *buf ? n : sizeof buf / sizeof *buf;
        for (size_t i = 0; i < k; i++) buf[i] = a != 0 ? uniform(a) : c;
        if (fwrite(buf, sizeof(float), k, f) != k) return 0;
        n -= k;
    }
    return 1;
}

/* A llama2.c v1 checkpoint with random weights; returns 0 on an I/O error. */
static int write_model(int fd) {
    FILE *f = fdopen(fd, "wb");
    if (!f) return 0;
    uint8_t hdr[256] = {0};
    uint32_t magic = 0x616b3432;
    int32_t version = 1, dims[7] = {D, F, L, H, HK, V, C};
    memcpy(hdr, &magic, 4);
    memcpy(hdr + 4, &version, 4);
    memcpy(hdr + 8, dims, sizeof dims);
    hdr[36] = 1; /* shared classifier */
    int ok = fwrite(hdr, 1, sizeof hdr, f) == sizeof hdr;
    const size_t DD = (size_t)D * D, DF = (size_t)D * F;
    ok = ok && write_floats(f, (size_t)L * D, 0, 1.0f);  /* rms_att */
    ok = ok && write_floats(f, (size_t)L * D, 0, 1.0f);  /* rms_ffn */
    ok = ok && write_floats(f, D, 0, 1.0f);              /* rms_final */
    ok = ok && write_floats(f, (size_t)V * D, 0.5f, 0);  /* embed (and classifier) */
    ok = ok && write_floats(f, L * DD, 0.06f, 0);        /* wq */
    ok = ok && write_floats(f, L * DD, 0.06f, 0);        /* wk (Hk == H) */
    ok = ok && write_floats(f, L * DD, 0.06f, 0);        /* wv */
    ok = ok && write_floats(f, L * DD, 0.06f, 0);        /* wo */
    ok = ok && write_floats(f, L * DF, 0.06f, 0);        /* w1 (F, D) */
    ok = ok && write_floats(f, L * DF, 0.04f, 0);        /* w2 (D, F) */
    ok = ok && write_floats(f, L * DF, 0.06f, 0);        /* w3 (F, D) */
    return fclose(f) == 0 && ok;
}

/* ---------------------------------------------------------------- engine */

static int random_token(void) { return 3 + (int)(next_u32() % (V - 3)); }

/* Tokens/s of STEPS one-token forwards after a PROMPT-token prefill. */
static double decode_rate(hw_context *c, float *logits) {
    int toks[PROMPT];
    for (int i = 0; i < PROMPT; i++) toks[i] = random_token();
    hw_context_reset(c);
    if (hw_forward(c, toks, PROMPT, HW_LOGITS_LAST, logits) != HW_OK) return -1;
    double t0 = now();
    for (int i = 0; i < STEPS; i++) {
        int tok = random_token();
        if (hw_forward(c, &tok, 1, HW_LOGITS_LAST, logits) != HW_OK) return -1;
    }
    return STEPS / (now() - t0);
}

/* Tokens/s of one PREFILL-token forward from an empty cache. */
static double prefill_rate(hw_context *c, float *logits) {
    static int toks[PREFILL];
    for (int i = 0; i < PREFILL; i++) toks[i] = random_token();
    hw_context_reset(c);
    double t0 = now();
    if (hw_forward(c, toks, PREFILL, HW_LOGITS_LAST, logits) != HW_OK) return -1;
    return PREFILL / (now() - t0);
}

/* ---------------------------------------------------------------- machine */

/* GB/s of a 1 GiB memcpy split between the threads, counting read + write
 * (STREAM's convention: 2 bytes moved per byte copied). */
static double copy_rate(char *dst, const char *src) {
    double t0 = now();
#pragma omp parallel num_threads(THREADS)
    {
        int n = omp_get_num_threads(), i = omp_get_thread_num();
        size_t part = GIB / n, off = part * i;
        memcpy(dst + off, src + off, i == n - 1 ? GIB - off : part);
    }
    return 2.0 * GIB / (now() - t0) / 1e9;
}

/* GFLOP/s of the sgemms of the engine's prefill (y (M, N) = x (M, K) W^T, W (N, K)
 * row-major, as hw_matmul calls it) over n shapes run back to back. */
static double sgemm_rate(const float *x, const float *w, float *y, int M, const int (*nk)[2],
                         int n) {
    /* OpenBLAS's own threads, as a user of it would run them (headwise sets it back to
     * one thread at its next product). */
    openblas_set_num_threads(THREADS);
    double flop = 0, t0 = now();
    for (int i = 0; i < n; i++) {
        int N = nk[i][0], K = nk[i][1];
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, x, K, w, K, 0.0f,
                    y, N);
        flop += 2.0 * M * N * K;
    }
    return flop / (now() - t0) / 1e9;
}

/* ---------------------------------------------------------------- main */

static void row(const char *what, const char *unit, double *v, int n, const char *note) {
    stats s = summarise(v, n);
    printf("  %-38s %9.1f  %9.1f..%-9.1f %-8s %s\n", what, s.med, s.min, s.max, unit, note);
}

int main(int argc, char **argv) {
    /* libgomp and OpenBLAS read their wait settings before main: set them and start
     * again, as the CLI does. */
    if (!getenv("OMP_WAIT_POLICY") || !getenv("OPENBLAS_THREAD_TIMEOUT")) {
        setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
        setenv("OPENBLAS_THREAD_TIMEOUT", "4", 0);
        execv("/proc/self/exe", argv);
    }
    double load_start = -1; /* 1-minute load average, before anything of ours runs */
    FILE *la = fopen("/proc/loadavg", "r");
    if (la) {
        if (fscanf(la, "%lf", &load_start) != 1) load_start = -1;
        fclose(la);
    }
    const char *dir = getenv("TMPDIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/headwise-bench-XXXXXX", dir && *dir ? dir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) {
        perror("bench_engine: mkstemp");
        return 1;
    }
    fprintf(stderr, "bench_engine: writing a random stories110M-shape model to %s\n", path);
    int ok = write_model(fd);
    hw_model *m = ok ? hw_model_load(path) : NULL;
    unlink(path); /* the mapping keeps the data alive */
    if (!ok || !m) {
        fprintf(stderr, "bench_engine: %s\n", ok ? hw_last_error() : "cannot write the model");
        hw_model_free(m);
        return 1;
    }
    hw_set_threads(THREADS);
    hw_model_info info;
    hw_model_get_info(m, &info);
    hw_context *c = hw_context_new(m, C);
    float *logits = malloc((size_t)V * sizeof(float));
    char *src = aligned_alloc(4096, GIB), *dst = aligned_alloc(4096, GIB);
    const int M = PREFILL;
    float *gx = malloc((size_t)M * F * sizeof(float)), *gw = malloc((size_t)F * F * sizeof(float));
    float *gy = malloc((size_t)M * F * sizeof(float));
    if (!c || !logits || !src || !dst || !gx || !gw || !gy) {
        fprintf(stderr, "bench_engine: out of memory (%s)\n", hw_last_error());
        return 1;
    }

    /* Warm up: touch every weight page and every buffer once. */
    fprintf(stderr, "bench_engine: warming up, then %d rounds\n", REPS);
    if (decode_rate(c, logits) < 0 || prefill_rate(c, logits) < 0) {
        fprintf(stderr, "bench_engine: forward failed: %s\n", hw_last_error());
        return 1;
    }
    memset(src, 1, GIB);
    memset(dst, 0, GIB);
    for (size_t i = 0; i < (size_t)M * F; i++) gx[i] = uniform(1.0f);
    for (size_t i = 0; i < (size_t)F * F; i++) gw[i] = uniform(0.05f);
    static const int big[][2] = {{2048, 768}}, sq[][2] = {{768, 768}}, down[][2] = {{768, 2048}};
    /* One layer's projections: wq wk wv wo (H*Dh = Hk*Dh = D), w1 w3, w2. */
    static const int mix[][2] = {{768, 768}, {768, 768}, {768, 768}, {768, 768},
                                 {2048, 768}, {2048, 768}, {768, 2048}};
    copy_rate(dst, src);
    bench_read_rate(src, GIB, THREADS);
    sgemm_rate(gx, gw, gy, M, mix, 7);

    /* Rounds interleave every measurement, so a neighbour's load on this shared
     * machine falls on engine and baseline alike. */
    double dec[REPS], pre[REPS], cpy[REPS], rd[REPS];
    double g_big[REPS], g_sq[REPS], g_down[REPS], g_mix[REPS];
    for (int r = 0; r < REPS; r++) {
        dec[r] = decode_rate(c, logits);
        pre[r] = prefill_rate(c, logits);
        cpy[r] = copy_rate(dst, src);
        rd[r] = bench_read_rate(src, GIB, THREADS);
        g_big[r] = sgemm_rate(gx, gw, gy, M, big, 1);
        g_sq[r] = sgemm_rate(gx, gw, gy, M, sq, 1);
        g_down[r] = sgemm_rate(gx, gw, gy, M, down, 1);
        g_mix[r] = sgemm_rate(gx, gw, gy, M, mix, 7);
    }

    /* FLOPs of one 512-token prefill: 2 per weight of every layer matrix per token, the
     * classifier for the last token only, and causal attention (QK^T and PV over the
     * T(T+1)/2 visible query-key pairs, 2 FLOPs per multiply-add, per head and layer).
     * Norms, rope, softmax and activations are not counted. */
    const double T = PREFILL;
    const double mat_params = (double)L * (4.0 * D * D + 3.0 * D * F);
    const double attn_flop = 2.0 * 2.0 * L * H * (D / H) * T * (T + 1) / 2;
    const double flop = 2.0 * mat_params * T + 2.0 * V * D + attn_flop;

    stats sd = summarise(dec, REPS), sp = summarise(pre, REPS), sc = summarise(cpy, REPS);
    stats sr = summarise(rd, REPS), sm = summarise(g_mix, REPS);
    printf("bench_engine: random-weight llama2.c v1 f32 model, stories110M shape (D %d, L %d, "
           "H %d, Hk %d, F %d, V %d, C %d)\n",
           D, L, H, HK, F, V, C);
    printf("  %d threads, OMP_WAIT_POLICY=%s, %d repetitions after a warm-up; median, "
           "min..max\n",
           THREADS, getenv("OMP_WAIT_POLICY"), REPS);
    printf("  load average before the run: %.2f on %d cores (other processes share them: "
           "figures are noisy)\n",
           load_start, omp_get_num_procs());
    printf("  weights read per decode step (hw_model_info.weight_bytes): %.1f MB; GB = 1e9 "
           "bytes\n\n",
           info.weight_bytes / 1e6);
    printf("  %-38s %9s  %-19s %-8s\n", "measure", "median", "min..max", "unit");
    row("decode (16-token prompt, 128 steps)", "tok/s", dec, REPS, "");
    row("prefill 512 tokens", "tok/s", pre, REPS, "");
    row("copy bandwidth, 1 GiB memcpy", "GB/s", cpy, REPS, "read+write: 2 bytes per byte copied");
    row("read bandwidth, 1 GiB", "GB/s", rd, REPS, "bytes read");
    row("sgemm M=512 N=2048 K=768", "GFLOP/s", g_big, REPS, "");
    row("sgemm M=512 N=768 K=768", "GFLOP/s", g_sq, REPS, "");
    row("sgemm M=512 N=768 K=2048", "GFLOP/s", g_down, REPS, "");
    row("sgemm M=512, one layer's 7 shapes", "GFLOP/s", g_mix, REPS, "4x(768,768) 2x(2048,768) (768,2048)");
    /* Ratios of the medians, and the range of the ratios within each round. */
    double rdec[REPS], rpre[REPS];
    for (int r = 0; r < REPS; r++) {
        rdec[r] = info.weight_bytes * dec[r] / 1e9 / cpy[r];
        rpre[r] = flop / T * pre[r] / 1e9 / g_mix[r];
    }
    stats qd = summarise(rdec, REPS), qp = summarise(rpre, REPS);
    double wbs = info.weight_bytes * sd.med / 1e9, pfs = flop / T * sp.med / 1e9;
    printf("\n  ratios of medians (aim)                                    per round\n");
    printf("  decode  %6.1f GB/s weights / copy %5.1f GB/s   = %.2f (>= 0.8)   %.2f..%.2f"
           "   (/ read bandwidth: %.2f)\n",
           wbs, sc.med, wbs / sc.med, qd.min, qd.max, wbs / sr.med);
    printf("  prefill %6.1f GFLOP/s / sgemm %5.1f GFLOP/s   = %.2f (>= 0.6)   %.2f..%.2f\n", pfs,
           sm.med, pfs / sm.med, qp.min, qp.max);
    printf("  decode only reads: on this machine a read-only stream tops out below STREAM copy,\n"
           "  which counts reads and writes in flight together, so the read ratio is the tighter one\n");
    printf("  prefill FLOPs per 512 tokens: %.1f G = 2 x %.1fM layer-matrix weights x 512 + "
           "classifier for 1 token + %.2f G causal attention (QK^T, PV)\n",
           flop / 1e9, mat_params / 1e6, attn_flop / 1e9);

    free(gx), free(gw), free(gy), free(src), free(dst), free(logits);
    hw_context_free(c);
    hw_model_free(m);
    return 0;
}

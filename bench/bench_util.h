/*
 * bench_util.h: what bench_kv and bench_longheads share (a header, not a .c: the Makefile
 * makes one program of every .c in bench/). Clocks, medians, the load average, greedy
 * decoding's argmax, the seeded random prompt both policies of a comparison read, the
 * random Llama's shape, option parsing, and the restart that sets the thread pools' wait
 * policy before main.
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include "headwise.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static inline double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static inline int bench_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of n >= 1 samples (v is left as it was); NaN if out of memory. */
static inline double bench_median(const double *v, int n) {
    double *s = malloc((size_t)n * sizeof *s);
    if (!s) return 0.0 / 0.0;
    memcpy(s, v, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, bench_cmp_double);
    double m = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
    free(s);
    return m;
}

static inline double bench_load_average(void) {
    double x = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &x) != 1) x = -1;
        fclose(f);
    }
    return x;
}

static inline int bench_argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

/* T seeded random token ids in [3, vocab) (above bos and eos), the same for every policy
 * given the same seed. */
static inline void bench_prompt(int *out, int T, int vocab, uint64_t seed) {
    uint64_t s = 0x9E3779B97F4A7C15ull ^ seed;
    for (int t = 0; t < T; t++) {
        s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
        out[t] = 3 + (int)((s * 0x2545F4914F6CDD1Dull >> 33) % (uint64_t)(vocab - 3));
    }
}

/* A random-weight Llama of llama2.c's 110M shape (D 768, L 12, H 12, Dh 64, F 2048,
 * V 32000, shared classifier), or with quick a tiny one (D 64, L 2, H 4, Dh 16, F 128,
 * V 256); n_kv_head KV heads, n_ctx its trained context (rotary: any length runs). */
static inline hw_config bench_llama(int quick, int n_kv_head, int n_ctx) {
    hw_config c = {0};
    strcpy(c.arch, "llama");
    if (quick) {
        c.n_layer = 2, c.d_model = 64, c.n_head = 4, c.head_dim = 16, c.d_ff = 128;
        c.vocab_size = 256;
    } else {
        c.n_layer = 12, c.d_model = 768, c.n_head = 12, c.head_dim = 64, c.d_ff = 2048;
        c.vocab_size = 32000;
    }
    c.n_kv_head = n_kv_head, c.n_ctx = n_ctx;
    c.norm = HW_NORM_RMS, c.norm_eps = 1e-5f, c.pos = HW_POS_ROTARY;
    c.rope_layout = HW_ROPE_INTERLEAVED, c.rope_theta = 10000.0f, c.rotary_frac = 1.0f;
    c.act = HW_ACT_SILU_GATED, c.tied_embeddings = 1, c.bos_id = 1, c.eos_id = 2;
    return c;
}

/* That Llama with random weights (seed 110, the same in every benchmark), its shape in
 * *cfg and sizes in *info; NULL after printing why (prog: the message's prefix). */
static inline hw_model *bench_random_llama(const char *prog, int quick, int n_kv_head,
                                           int n_ctx, hw_config *cfg, hw_model_info *info) {
    *cfg = bench_llama(quick, n_kv_head, n_ctx);
    hw_model *m = hw_model_new_random(cfg, 110);
    if (!m) fprintf(stderr, "%s: %s\n", prog, hw_last_error());
    else hw_model_get_info(m, info);
    return m;
}

/* A context size for a table: 2K for 2048, else the number. */
static inline const char *bench_human_ctx(int n, char *buf, size_t size) {
    if (n % 1024 == 0) snprintf(buf, size, "%dK", n / 1024);
    else snprintf(buf, size, "%d", n);
    return buf;
}

/* An integer in [lo, hi] ending at the string's end or a comma; 1 if so. */
static inline int bench_parse_int(const char *s, int lo, int hi, int *out) {
    char *end;
    errno = 0;
    long x = s ? strtol(s, &end, 10) : 0;
    if (!s || errno || end == s || x < lo || x > hi) return 0;
    *out = (int)x;
    return *end == 0 || *end == ',' ? 1 : 0;
}

/* The refusal of a bad command line: the message and the usage on stderr; returns 2. */
static inline int bench_usage(const char *prog, const char *msg, const char *args) {
    fprintf(stderr, "%s: %s\nusage: %s %s\n", prog, msg, prog, args);
    return 2;
}

/* libgomp and OpenBLAS read their wait settings before main: set them (passive waits, so
 * a shared machine's neighbours are not slowed by spinning threads) and start again, as
 * bench_engine and the CLI do. Returns only if they were set already or execv failed. */
static inline void bench_passive_threads(char **argv) {
    if (!getenv("OMP_WAIT_POLICY") || !getenv("OPENBLAS_THREAD_TIMEOUT")) {
        setenv("OMP_WAIT_POLICY", "PASSIVE", 0);
        setenv("OPENBLAS_THREAD_TIMEOUT", "4", 0);
        execv("/proc/self/exe", argv);
    }
}

#include <omp.h>

/* GB/s of reading `bytes` at src (bytes read), split between the threads, each reading its
 * part as two streams (its two halves, as the decode kernel does; one stream reads
 * ~5% slower here): a float sum in four 16-lane vector accumulators (GCC vector
 * extensions), so the loads, not the adds, set the pace. The sum is kept. */
typedef float v16 __attribute__((vector_size(64)));
static volatile float bench_read_sink;
static inline double bench_read_rate(const char *src, size_t bytes, int threads) {
    float total = 0;
    double t0 = bench_now();
#pragma omp parallel num_threads(threads) reduction(+ : total)
    {
        int n = omp_get_num_threads(), i = omp_get_thread_num();
        size_t part = bytes / n / 256 * 256, off = part * i, len = i == n - 1 ? bytes - off : part;
        size_t half = len / 2 / 128 * 128; /* bytes; a multiple of two vectors */
        const v16 *p = (const v16 *)(src + off), *q = (const v16 *)(src + off + half);
        v16 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0};
        for (size_t k = 0; k < half / sizeof(v16); k += 2) {
            a0 += p[k], a1 += p[k + 1], a2 += q[k], a3 += q[k + 1];
        }
        for (size_t k = 2 * half / sizeof(v16); k < len / sizeof(v16); k++) a0 += p[k];
        v16 a = (a0 + a1) + (a2 + a3);
        for (int l = 0; l < 16; l++) total += a[l];
    }
    double dt = bench_now() - t0;
    bench_read_sink = total;
    return bytes / dt / 1e9;
}

#endif

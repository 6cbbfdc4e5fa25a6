/*
 * ops.c: the numeric kernels of the forward pass. Pure functions (out, in, w, dims).
 *
 * No -ffast-math: sums are written with explicit independent lanes so the
 * compiler can vectorise them without reordering a float reduction itself.
 * Every output element is computed by exactly one thread in a fixed order, so
 * results do not depend on the thread count.
 */
#include "internal.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#define LANES 16

float hw_dot(const float *a, const float *b, int n) {
    float acc[LANES] = {0};
    int i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int l = 0; l < LANES; l++) acc[l] += a[i + l] * b[i + l];
    float s = 0;
    for (int l = 0; l < LANES; l++) s += acc[l];
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

void hw_axpy(float *y, float a, const float *x, int n) {
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

/* Sum of int8 q times float x over n values, with the same lane structure. */
static float dot_q8(const int8_t *q, const float *x, int n) {
    float acc[LANES] = {0};
    int i = 0;
    for (; i + LANES <= n; i += LANES)
        for (int l = 0; l < LANES; l++) acc[l] += (float)q[i + l] * x[i + l];
    float s = 0;
    for (int l = 0; l < LANES; l++) s += acc[l];
    for (; i < n; i++) s += (float)q[i] * x[i];
    return s;
}

/* One output of a Q8_0 matrix: row r of W dotted with x (cols). Groups never
 * straddle rows because loaders require cols % group == 0. */
static float row_q8(const hw_matrix *w, int r, const float *x) {
    const int8_t *q = w->q + (size_t)r * w->cols;
    const float *sc = w->scale + (size_t)r * (w->cols / w->group);
    float s = 0;
    for (int g = 0; g < w->cols / w->group; g++)
        s += sc[g] * dot_q8(q + (size_t)g * w->group, x + (size_t)g * w->group, w->group);
    return s;
}

typedef struct {
    float *y;
    const float *x;
    const hw_matrix *w;
    int T;
} q8_job;

static void q8_rows(void *arg, int r0, int r1) {
    const q8_job *j = arg;
    const int R = j->w->rows, K = j->w->cols;
    for (int r = r0; r < r1; r++)
        for (int t = 0; t < j->T; t++)
            j->y[(size_t)t * R + r] = row_q8(j->w, r, j->x + (size_t)t * K);
}

/* Prefill products, y (T, R) = x (T, K) W^T: one single-threaded sgemm per fixed block
 * of weight rows (output columns), the blocks shared by the pool. OpenBLAS's own threads
 * split a product where the thread count puts the boundary, and its Haswell kernels sum
 * an output at the edge of a split in another order (stories260K's prefill logits moved
 * by 1.6e-5 between 1 and 2 threads); blocks fixed by R alone give the same bits for
 * any thread count. About 8 blocks of whole 64-row groups: each block packs x again,
 * 8 times x is small beside the product, and 8 still balance 2 to 4 threads. */
typedef struct {
    float *y;
    const float *x, *w;
    int T, R, K, block;
    float beta;
} gemm_job;

static void gemm_blocks(void *arg, int r0, int r1) {
    const gemm_job *j = arg;
    /* The same rows always go in the same call, however the pool groups blocks. */
    for (int r = r0; r < r1; r += j->block) {
        const int n = r1 - r < j->block ? r1 - r : j->block;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, j->T, n, j->K, 1.0f, j->x, j->K,
                    j->w + (size_t)r * j->K, j->K, j->beta, j->y + r, j->R);
    }
}

void hw_matmul(float *y, const float *x, const hw_matrix *w, const float *bias, int T) {
    const int R = w->rows, K = w->cols;
    if (w->dtype == HW_F32 && T > 1) {
        /* With a bias, y starts as the bias rows and sgemm adds the product to it
         * (beta = 1): OpenBLAS then skips its pass that zeroes y (beta = 0), and no
         * bias pass follows. */
        if (bias)
            for (int t = 0; t < T; t++) memcpy(y + (size_t)t * R, bias, (size_t)R * sizeof(float));
        int block = (R / 8 + 63) / 64 * 64;
        if (block < 64) block = 64;
        gemm_job j = {y, x, w->f32, T, R, K, block, bias ? 1.0f : 0.0f};
        hw_blas_one_thread();
        hw_parallel_range(gemm_blocks, &j, R, block);
        return;
    }
    if (w->dtype != HW_F32 && w->dtype != HW_Q8_0) {
        hw_matmul_stored(y, x, w, T); /* F16, BF16, ggml blocks (quant_kernels.c) */
    } else if (w->dtype == HW_F32) {
        /* Our own matrix-vector loop rather than sgemv: OpenBLAS may split the sum
         * along K across threads, making decode depend on the thread count. */
        hw_matvec(y, w->f32, x, R, K);
    } else {
        /* Q8_0: weight-stationary loop, each row dequantised on the fly. */
        q8_job j = {y, x, w, T};
        hw_parallel_range(q8_rows, &j, R, 16);
    }
    if (bias)
        for (int t = 0; t < T; t++) hw_axpy(y + (size_t)t * R, 1.0f, bias, R);
}

/* Norms, one row at a time; rows shared by the pool's threads in prefill (each row is
 * computed whole by one thread: results do not depend on the thread count). */
typedef struct {
    float *out;
    const float *x, *weight, *bias;
    int n;
    float eps;
} norm_job;

/* Rows per pool chunk: about 32K values. */
static int norm_chunk(int n) { return n < 32768 ? 32768 / n : 1; }

static void rmsnorm_rows(void *arg, int t0, int t1) {
    const norm_job *j = arg;
    const int n = j->n;
    const float *weight = j->weight;
    for (int t = t0; t < t1; t++) {
        const float *xt = j->x + (size_t)t * n;
        float *ot = j->out + (size_t)t * n;
        float ss = hw_dot(xt, xt, n) / (float)n + j->eps;
        float inv = 1.0f / sqrtf(ss);
        for (int i = 0; i < n; i++) ot[i] = weight[i] * (inv * xt[i]);
    }
}

void hw_rmsnorm(float *out, const float *x, const float *weight, int T, int n, float eps) {
    norm_job j = {out, x, weight, NULL, n, eps};
    hw_parallel_range(rmsnorm_rows, &j, T, norm_chunk(n));
}

/* LayerNorm's statistics in double, in 8 lanes (lane l takes i = l, l+8, ...) added
 * in a fixed order, so that they vectorise without fast-math: sum of x[i], and sum of
 * (x[i] - c)^2. */
static double sum_f64(const float *x, int n) {
    double acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) acc[l] += x[i + l];
    double s = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    for (; i < n; i++) s += x[i];
    return s;
}

static double sum_sq_dev_f64(const float *x, int n, double c) {
    double acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++) acc[l] += (x[i + l] - c) * (x[i + l] - c);
    double s = ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
    for (; i < n; i++) s += (x[i] - c) * (x[i] - c);
    return s;
}

static void layernorm_rows(void *arg, int t0, int t1) {
    const norm_job *j = arg;
    const int n = j->n;
    const float *weight = j->weight, *bias = j->bias;
    for (int t = t0; t < t1; t++) {
        const float *xt = j->x + (size_t)t * n;
        float *ot = j->out + (size_t)t * n;
        const double mean = sum_f64(xt, n) / n; /* double: two passes, no drift */
        const double var = sum_sq_dev_f64(xt, n, mean) / n;
        float inv = (float)(1.0 / sqrt(var + j->eps));
        for (int i = 0; i < n; i++) {
            float v = ((float)(xt[i] - mean)) * inv * weight[i];
            ot[i] = bias ? v + bias[i] : v;
        }
    }
}

void hw_layernorm(float *out, const float *x, const float *weight, const float *bias, int T,
                  int n, float eps) {
    norm_job j = {out, x, weight, bias, n, eps};
    hw_parallel_range(layernorm_rows, &j, T, norm_chunk(n));
}

void hw_softmax(float *x, int n) {
    float mx = x[0];
    for (int i = 1; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    float sum = 0;
    for (int i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    float inv = 1.0f / sum;
    for (int i = 0; i < n; i++) x[i] *= inv;
}

float hw_silu(float x) { return x / (1.0f + expf(-x)); }

float hw_gelu_tanh(float x) {
    const float k = 0.7978845608028654f; /* sqrt(2/pi) */
    return 0.5f * x * (1.0f + tanhf(k * (x + 0.044715f * x * x * x)));
}

float hw_gelu_exact(float x) { return 0.5f * x * (1.0f + erff(x * 0.7071067811865476f)); }

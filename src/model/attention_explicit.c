/*
 * attention_explicit.c: attention with its scores and pattern written out, for
 * layers whose hook_attn_scores or hook_pattern someone asked for.
 *
 * The fused kernels (simd.c) never hold a whole pattern; this path computes
 * scores (H, T, P), lets hooks read or edit them, takes the softmax, lets hooks
 * see the pattern, and only then mixes the values. It costs O(H T P) memory and
 * is used only for the layers asked about.
 */
#include "context.h"

#include <math.h>
#include <string.h>

typedef struct {
    hw_context *c;
    int l, pos, T;
    float *att;  /* (H, T, P) */
} explicit_job;

/* scores[h][t][j] = q_t . k_j / sqrt(Dh) where query pos+t sees key j, else -inf: the
 * cache policy decides (hw_kv_key; a dropped position a compensation row stands for
 * scores that row's key). */
static void scores_heads(void *arg, int h0, int h1) {
    const explicit_job *j = arg;
    const hw_context *c = j->c;
    const hw_config *cfg = &c->m->cfg;
    const int H = cfg->n_head, Dh = cfg->head_dim, P = j->pos + j->T;
    const float scale = 1.0f / sqrtf((float)Dh);
    for (int h = h0; h < h1; h++) {
        const int hk = hw_kv_head(cfg, h);
        for (int t = 0; t < j->T; t++) {
            const float *q = c->q + ((size_t)t * H + h) * Dh, *v;
            float *row = j->att + ((size_t)h * j->T + t) * P;
            for (int k = 0; k < P; k++) {
                const float *key = hw_kv_key(c, j->l, hk, j->pos, j->pos + t, k, &v);
                row[k] = key ? hw_dot(q, key, Dh) * scale : -INFINITY;
            }
        }
    }
}

void hw_attention_scores(hw_context *c, int l, int pos, int T, float *att) {
    explicit_job j = {c, l, pos, T, att};
    hw_parallel_range(scores_heads, &j, c->m->cfg.n_head, 1);
}

/* Softmax over each row of (rows, P); -inf entries become 0. A row that is all
 * -inf (a hook masked everything) becomes all 0 rather than NaN. */
void hw_attention_softmax(float *att, size_t rows, int P) {
    for (size_t r = 0; r < rows; r++) {
        float *x = att + r * P, mx = -INFINITY;
        for (int k = 0; k < P; k++) mx = x[k] > mx ? x[k] : mx;
        if (mx == -INFINITY) {
            memset(x, 0, (size_t)P * sizeof *x);
            continue;
        }
        float sum = 0;
        for (int k = 0; k < P; k++) {
            x[k] = x[k] == -INFINITY ? 0.0f : expf(x[k] - mx);
            sum += x[k];
        }
        for (int k = 0; k < P; k++) x[k] /= sum;
    }
}

/* z[t][h] = sum_j pattern[h][t][j] v_j */
static void mix_heads(void *arg, int h0, int h1) {
    const explicit_job *j = arg;
    hw_context *c = j->c;
    const hw_config *cfg = &c->m->cfg;
    const int H = cfg->n_head, Dh = cfg->head_dim, P = j->pos + j->T;
    for (int h = h0; h < h1; h++) {
        const int hk = hw_kv_head(cfg, h);
        for (int t = 0; t < j->T; t++) {
            const float *p = j->att + ((size_t)h * j->T + t) * P, *v;
            float *z = c->z + ((size_t)t * H + h) * Dh;
            memset(z, 0, (size_t)Dh * sizeof *z);
            for (int k = 0; k < P; k++)
                if (p[k] != 0.0f && hw_kv_key(c, j->l, hk, j->pos, j->pos + t, k, &v))
                    hw_axpy(z, p[k], v, Dh);
        }
    }
}

void hw_attention_mix(hw_context *c, int l, int pos, int T, const float *pattern) {
    explicit_job j = {c, l, pos, T, (float *)pattern};
    hw_parallel_range(mix_heads, &j, c->m->cfg.n_head, 1);
}

/* result (T, H, D): head h's z times its columns of W_O, without the bias. One
 * matmul per head on a copy of z holding only that head, so any weight format
 * works through hw_matmul. */
void hw_attention_results(hw_context *c, const hw_matrix *wo, int T, float *result,
                          float *zh /* (T, H*Dh) */, float *out /* (T, D) */) {
    const hw_config *cfg = &c->m->cfg;
    const int H = cfg->n_head, Dh = cfg->head_dim, D = cfg->d_model, HD = H * Dh;
    for (int h = 0; h < H; h++) {
        memset(zh, 0, (size_t)T * HD * sizeof *zh);
        for (int t = 0; t < T; t++)
            memcpy(zh + (size_t)t * HD + h * Dh, c->z + (size_t)t * HD + h * Dh,
                   (size_t)Dh * sizeof *zh);
        hw_matmul(out, zh, wo, NULL, T);
        for (int t = 0; t < T; t++)
            memcpy(result + ((size_t)t * H + h) * D, out + (size_t)t * D, (size_t)D * sizeof *out);
    }
}

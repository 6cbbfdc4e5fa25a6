/*
 * test_kv_cache.c: KV-cache policies (headwise.h, "KV-cache policies").
 *
 * The engine's rings, gathers and compensation rows (src/model/kv_cache.c) are checked
 * against an independent reference: the same weights with a full cache, whose hook_z
 * is overwritten by attention recomputed here in double precision from the run's own
 * rotated queries, keys and values, over exactly the key set the policy promises
 * (sinks, the recent - 1 positions before the chunk and the chunk itself; dropped
 * positions as one mean entry, weighted by their count or not). Equalities the issue
 * asks for are bit for bit: the full policy, duo with every head full and a window
 * that covers the context are today's forward.
 */
#include "check.h"
#include "headwise.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* check.h's CHECK with no message of its own: the condition says it. */
#define EXPECT(cond) CHECK(cond, "%s", "")

enum { C = 128, V = 64 };

static hw_config config(int n_kv_head, int sliding) {
    hw_config cfg = {0};
    strcpy(cfg.arch, "llama");
    cfg.n_layer = 2, cfg.d_model = 64, cfg.n_head = 4, cfg.n_kv_head = n_kv_head;
    cfg.head_dim = 16, cfg.d_ff = 96, cfg.vocab_size = V, cfg.n_ctx = C;
    cfg.norm = HW_NORM_RMS, cfg.norm_eps = 1e-5f, cfg.pos = HW_POS_ROTARY;
    cfg.rope_layout = HW_ROPE_HALVES, cfg.rope_theta = 10000.0f, cfg.rotary_frac = 1.0f;
    cfg.act = HW_ACT_SILU_GATED, cfg.sliding_window = sliding;
    return cfg;
}

/* Random weights, the same for every sliding window. */
static hw_model *model(int n_kv_head, int sliding) {
    hw_config cfg = config(n_kv_head, sliding);
    return hw_model_new_random(&cfg, 7);
}

static void tokens(int *tok, int T) {
    unsigned s = 12345;
    for (int t = 0; t < T; t++) s = s * 1103515245u + 12345u, tok[t] = (int)((s >> 8) % V);
}

/* Logits (T, V): prefill `split` tokens (in the context's chunks), then decode. */
static hw_status run(const hw_model *m, const hw_kv_policy *p, const int *tok, int T, int split,
                     const hw_hooks *hooks, float *out) {
    hw_context *c = hw_context_new_kv(m, C, p);
    if (!c) return HW_ERR_NOMEM;
    hw_status st = hw_forward_hooked(c, tok, split, HW_LOGITS_ALL, out, hooks);
    for (int t = split; st == HW_OK && t < T; t++)
        st = hw_forward_hooked(c, tok + t, 1, HW_LOGITS_LAST, out + (size_t)t * V, hooks);
    hw_context_free(c);
    return st;
}

static double max_diff(const float *a, const float *b, size_t n) {
    double d = 0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i]));
    return d;
}

/* ------------------------------------------------------------ the reference */

/* What one KV head keeps, as the reference sees it. */
typedef struct {
    int full, sink, recent, window;
    hw_kv_compensation comp;
} ref_head;

typedef struct {
    const hw_config *cfg;
    ref_head *heads;        /* (L, Hk) */
    float *K, *Vv;          /* (L, C, Hk, Dh) every position's rotated key and value */
    float *Q;               /* (T, H, Dh) this call's rotated queries, per layer as it goes */
} reference;

static int ref_hook(hw_hook_call *call, void *user) {
    reference *r = user;
    const hw_config *cfg = r->cfg;
    const int H = cfg->n_head, Hk = cfg->n_kv_head, Dh = cfg->head_dim, l = call->layer;
    const hw_hook_point p = call->point;
    if (call->ask) return p == HW_HOOK_ROT_Q || p == HW_HOOK_ROT_K || p == HW_HOOK_V || p == HW_HOOK_Z;
    const size_t row = (size_t)Hk * Dh, lay = (size_t)C * row;
    if (p == HW_HOOK_ROT_Q) memcpy(r->Q, call->data, (size_t)call->T * H * Dh * sizeof(float));
    if (p == HW_HOOK_ROT_K || p == HW_HOOK_V)
        memcpy((p == HW_HOOK_V ? r->Vv : r->K) + l * lay + (size_t)call->pos * row, call->data,
               (size_t)call->T * row * sizeof(float));
    if (p != HW_HOOK_Z) return 0;
    double att[C + 1], kc[64], vc[64];
    for (int h = 0; h < H; h++) {
        const int hk = h / (H / Hk);
        const ref_head *rh = &r->heads[l * Hk + hk];
        for (int t = 0; t < call->T; t++) {
            const int pos = call->pos, qpos = pos + t;
            const float *q = r->Q + ((size_t)t * H + h) * Dh;
            int n_drop = 0;
            for (int d = 0; d < Dh; d++) kc[d] = vc[d] = 0;
            double mx = -INFINITY;
            for (int k = 0; k <= qpos; k++) {
                const float *kk = r->K + l * lay + (size_t)k * row + (size_t)hk * Dh;
                const float *vv = r->Vv + l * lay + (size_t)k * row + (size_t)hk * Dh;
                int seen = qpos - k < rh->window;
                if (!rh->full && k < pos && k >= rh->sink && k <= pos - rh->recent) seen = 0;
                if (!rh->full && !seen && k >= rh->sink && k < pos) {
                    n_drop++;
                    for (int d = 0; d < Dh; d++) kc[d] += kk[d], vc[d] += vv[d];
                }
                double s = 0;
                for (int d = 0; d < Dh; d++) s += (double)q[d] * kk[d];
                att[k] = seen ? s / sqrt((double)Dh) : -INFINITY;
                mx = fmax(mx, att[k]);
            }
            int n = qpos + 1;
            if (rh->comp != HW_KV_COMP_NONE && n_drop > 0) {
                double s = 0;
                for (int d = 0; d < Dh; d++) kc[d] /= n_drop, vc[d] /= n_drop, s += q[d] * kc[d];
                att[n] = s / sqrt((double)Dh) + (rh->comp == HW_KV_COMP_WEIGHTED ? log(n_drop) : 0);
                mx = fmax(mx, att[n++]);
            }
            double sum = 0, z[64] = {0};
            for (int k = 0; k < n; k++) sum += att[k] = exp(att[k] - mx);
            for (int k = 0; k < n; k++) {
                const float *vv = k <= qpos ? r->Vv + l * lay + (size_t)k * row + (size_t)hk * Dh
                                            : NULL;
                for (int d = 0; d < Dh; d++) z[d] += att[k] / sum * (vv ? vv[d] : vc[d]);
            }
            float *out = call->data + ((size_t)t * H + h) * Dh;
            for (int d = 0; d < Dh; d++) out[d] = (float)z[d];
        }
    }
    return 0;
}

/* Logits of the policy's engine vs the reference on a model without its own window
 * (window: the sliding window the reference applies to full heads). */
static void check_policy(const char *what, const hw_model *m, const hw_model *plain,
                         const hw_kv_policy *p, int window, const int *tok, int T, int split) {
    const hw_config *cfg = hw_model_config(plain);
    const int L = cfg->n_layer, Hk = cfg->n_kv_head;
    ref_head heads[64];
    for (int l = 0; l < L; l++)
        for (int hk = 0; hk < Hk; hk++)
            heads[l * Hk + hk] = (ref_head){hw_kv_policy_is_full(p, l, hk), hw_kv_policy_sink(p),
                                            hw_kv_policy_recent(p), window,
                                            hw_kv_policy_compensation(p)};
    reference r = {cfg, heads, calloc((size_t)L * C * Hk * cfg->head_dim, sizeof(float)),
                   calloc((size_t)L * C * Hk * cfg->head_dim, sizeof(float)),
                   calloc((size_t)C * cfg->n_head * cfg->head_dim, sizeof(float))};
    hw_hooks *hooks = hw_hooks_new();
    hw_hooks_add(hooks, ref_hook, &r);
    /* The reference runs in the same chunks, so that it sees the same pos and T. */
    hw_kv_policy *chunks = hw_kv_policy_new(plain, 0, 0, hw_kv_policy_chunk(p), HW_KV_COMP_NONE);
    float *got = malloc((size_t)T * V * sizeof *got), *want = malloc((size_t)T * V * sizeof *want);
    float *full = malloc((size_t)T * V * sizeof *full);
    EXPECT(run(m, p, tok, T, split, NULL, got) == HW_OK);
    EXPECT(run(plain, chunks, tok, T, split, hooks, want) == HW_OK);
    EXPECT(run(plain, NULL, tok, T, split, NULL, full) == HW_OK);
    double d = max_diff(got, want, (size_t)T * V), from_full = max_diff(got, full, (size_t)T * V);
    printf("  %-44s vs reference %.2e, vs full attention %.2e\n", what, d, from_full);
    EXPECT(d < 2e-4);
    /* The policy really changed what heads see. Random weights attend almost uniformly,
     * so the weighted compensation (every dropped key at their mean) comes close to
     * full attention: 1.2e-3 to 2.2e-3 here, against 0.07 and more without it. */
    EXPECT(from_full > 5e-4);
    free(got), free(want), free(full), free(r.K), free(r.Vv), free(r.Q);
    hw_kv_policy_free(chunks);
    hw_hooks_free(hooks);
}

/* ------------------------------------------------------------ tests */

static void test_equalities(int n_kv_head) {
    hw_model *m = model(n_kv_head, 0);
    int tok[C];
    tokens(tok, C);
    const int T = 100, split = 70;
    float *a = malloc((size_t)T * V * sizeof *a), *b = malloc((size_t)T * V * sizeof *b);
    EXPECT(run(m, NULL, tok, T, split, NULL, a) == HW_OK);
    hw_kv_policy *full = hw_kv_policy_new(m, 0, 0, 0, HW_KV_COMP_NONE);
    EXPECT(full && hw_kv_policy_full_count(full) == 2 * n_kv_head);
    EXPECT(run(m, full, tok, T, split, NULL, b) == HW_OK);
    EXPECT(memcmp(a, b, (size_t)T * V * sizeof *a) == 0);
    hw_kv_policy *duo = hw_kv_policy_new(m, 4, 16, 0, HW_KV_COMP_WEIGHTED);
    EXPECT(hw_kv_policy_full_count(duo) == 0);
    for (int l = 0; l < 2; l++)
        for (int hk = 0; hk < n_kv_head; hk++) EXPECT(hw_kv_policy_set_full(duo, l, hk, 1) == HW_OK);
    EXPECT(run(m, duo, tok, T, split, NULL, b) == HW_OK);
    EXPECT(memcmp(a, b, (size_t)T * V * sizeof *a) == 0);
    hw_kv_policy *cover = hw_kv_policy_new(m, 4, C - 4, 0, HW_KV_COMP_MEAN);
    EXPECT(run(m, cover, tok, T, split, NULL, b) == HW_OK);
    EXPECT(memcmp(a, b, (size_t)T * V * sizeof *a) == 0);
    printf("  Hk %d: full, duo with every head full, window covering the context: bit for bit\n",
           n_kv_head);
    hw_kv_policy_free(full), hw_kv_policy_free(duo), hw_kv_policy_free(cover);
    free(a), free(b);
    hw_model_free(m);
}

static void test_against_reference(int n_kv_head) {
    hw_model *m = model(n_kv_head, 0);
    int tok[C];
    tokens(tok, C);
    const int T = 120;
    char what[96];
    /* Every head streaming, in prefill chunks of 32 and 7, decode after 70 or 100. */
    const int chunks[] = {32, 7};
    for (int ci = 0; ci < 2; ci++)
        for (int comp = HW_KV_COMP_NONE; comp <= HW_KV_COMP_WEIGHTED; comp++) {
            hw_kv_policy *p = hw_kv_policy_new(m, 4, 16, chunks[ci], (hw_kv_compensation)comp);
            snprintf(what, sizeof what, "Hk %d window 4+16 chunk %d comp %d", n_kv_head,
                     chunks[ci], comp);
            check_policy(what, m, m, p, INT_MAX, tok, T, ci ? 100 : 70);
            /* duo: layer 0's first KV head and layer 1's last keep everything */
            EXPECT(hw_kv_policy_set_full(p, 0, 0, 1) == HW_OK);
            EXPECT(hw_kv_policy_set_full(p, 1, n_kv_head - 1, 1) == HW_OK);
            snprintf(what, sizeof what, "Hk %d duo 4+16 chunk %d comp %d", n_kv_head, chunks[ci],
                     comp);
            check_policy(what, m, m, p, INT_MAX, tok, T, ci ? 100 : 70);
            hw_kv_policy_free(p);
        }
    /* No sinks, a ring of one: a head sees only itself in decode. */
    hw_kv_policy *p = hw_kv_policy_new(m, 0, 1, 16, HW_KV_COMP_NONE);
    check_policy("ring of 1, no sink", m, m, p, INT_MAX, tok, T, 50);
    hw_kv_policy_free(p);
    hw_model_free(m);
}

/* Mistral-style sliding window: the full heads' ring keeps exactly the window. */
static void test_sliding_window(void) {
    hw_model *m = model(2, 24), *plain = model(2, 0);
    int tok[C];
    tokens(tok, C);
    hw_kv_policy *p = hw_kv_policy_new(m, 0, 0, 20, HW_KV_COMP_NONE);
    hw_context *c = hw_context_new_kv(m, C, p);
    /* 2 layers x 2 KV heads x 24 rows x 16 x (K, V) x 4 bytes */
    EXPECT(hw_context_kv_bytes(c, -1, -1) == (size_t)2 * 2 * 24 * 16 * 2 * 4);
    hw_context_free(c);
    hw_kv_policy *windowed = hw_kv_policy_new(m, 0, 0, 20, HW_KV_COMP_NONE);
    check_policy("sliding window 24 (ring), chunk 20", m, plain, windowed, 24, tok, 110, 90);
    hw_kv_policy_free(p), hw_kv_policy_free(windowed);
    hw_model_free(m), hw_model_free(plain);
}

static void test_bytes_and_errors(void) {
    hw_model *m = model(2, 0), *other = model(4, 0);
    hw_kv_policy *p = hw_kv_policy_new(m, 4, 16, 0, HW_KV_COMP_WEIGHTED);
    EXPECT(hw_kv_policy_set_full(p, 1, 0, 1) == HW_OK);
    hw_context *c = hw_context_new_kv(m, C, p);
    const size_t row = 2 * 16 * sizeof(float);
    EXPECT(hw_context_kv_bytes(c, 1, 0) == C * row);
    EXPECT(hw_context_kv_bytes(c, 1, 1) == (4 + 16 + 1) * row);
    EXPECT(hw_context_kv_bytes(c, 0, -1) == 2 * (4 + 16 + 1) * row);
    EXPECT(hw_context_kv_bytes(c, -1, -1) == (C + 3 * 21) * row);
    hw_context *f = hw_context_new(m, C);
    EXPECT(hw_context_kv_bytes(f, -1, -1) == 4 * C * row);
    /* reset forgets the compensation: the same run twice gives the same bits */
    int tok[C];
    tokens(tok, C);
    float *a = malloc((size_t)V * sizeof *a), *b = malloc((size_t)V * sizeof *b);
    EXPECT(hw_forward(c, tok, 90, HW_LOGITS_LAST, a) == HW_OK);
    hw_context_reset(c);
    EXPECT(hw_forward(c, tok, 90, HW_LOGITS_LAST, b) == HW_OK);
    EXPECT(memcmp(a, b, (size_t)V * sizeof *a) == 0);
    free(a), free(b);
    EXPECT(hw_context_new_kv(other, C, p) == NULL && strstr(hw_last_error(), "does not fit"));
    EXPECT(hw_kv_policy_set_full(p, 2, 0, 1) != HW_OK && strstr(hw_last_error(), "no KV head"));
    EXPECT(hw_kv_policy_new(m, -1, 4, 0, HW_KV_COMP_NONE) == NULL);
    hw_kv_policy *all = hw_kv_policy_new(m, 0, 0, 0, HW_KV_COMP_NONE);
    EXPECT(hw_kv_policy_set_full(all, 0, 0, 0) != HW_OK); /* nowhere to stream to */
    EXPECT(strcmp(hw_kv_policy_name(all), "full") == 0 && strcmp(hw_kv_policy_name(p), "window") == 0);
    EXPECT(hw_kv_policy_set_name(p, "duo:heads=x") == HW_OK && strcmp(hw_kv_policy_name(p), "duo:heads=x") == 0);
    hw_kv_policy *copy = hw_kv_policy_copy(p);
    EXPECT(copy && hw_kv_policy_is_full(copy, 1, 0) && !hw_kv_policy_is_full(copy, 1, 1) &&
          strcmp(hw_kv_policy_name(copy), "duo:heads=x") == 0);
    hw_kv_policy_free(copy), hw_kv_policy_free(all), hw_kv_policy_free(p);
    hw_context_free(c), hw_context_free(f);
    hw_model_free(m), hw_model_free(other);
}

/* The explicit path (scores or pattern asked for) sees the same keys: observing changes
 * no bit, and a softmax-invariant edit of the scores (every seen score + 1, so the
 * pattern is mixed from it) matches the fused kernels. */
static int want_scores(hw_hook_call *call, void *user) {
    (void)user;
    if (call->point != HW_HOOK_ATTN_SCORES) return 0;
    if (call->ask) return 1;
    const size_t n = (size_t)call->shape[0] * call->shape[1] * call->shape[2];
    for (size_t i = 0; i < n; i++)
        if (isfinite(call->data[i])) call->data[i] += *(const float *)user;
    return 0;
}

static void test_explicit_path(void) {
    hw_model *m = model(2, 0);
    int tok[C];
    tokens(tok, C);
    const int T = 110, split = 80;
    float *a = malloc((size_t)T * V * sizeof *a), *b = malloc((size_t)T * V * sizeof *b);
    for (int comp = HW_KV_COMP_NONE; comp <= HW_KV_COMP_WEIGHTED; comp++) {
        hw_kv_policy *p = hw_kv_policy_new(m, 4, 16, 24, (hw_kv_compensation)comp);
        EXPECT(hw_kv_policy_set_full(p, 0, 1, 1) == HW_OK);
        EXPECT(run(m, p, tok, T, split, NULL, a) == HW_OK);
        float zero = 0.0f, one = 1.0f;
        hw_hooks *observe = hw_hooks_new(), *edit = hw_hooks_new();
        hw_hooks_add(observe, want_scores, &zero);
        hw_hooks_add(edit, want_scores, &one);
        EXPECT(run(m, p, tok, T, split, observe, b) == HW_OK);
        EXPECT(memcmp(a, b, (size_t)T * V * sizeof *a) == 0);
        EXPECT(run(m, p, tok, T, split, edit, b) == HW_OK);
        double d = max_diff(a, b, (size_t)T * V);
        printf("  explicit path, comp %d: edited scores vs fused %.2e\n", comp, d);
        EXPECT(d < 1e-4);
        hw_hooks_free(observe), hw_hooks_free(edit);
        hw_kv_policy_free(p);
    }
    free(a), free(b);
    hw_model_free(m);
}

static void equalities_mha(void) { test_equalities(4); }
static void equalities_gqa(void) { test_equalities(2); }
static void reference_mha(void) { test_against_reference(4); }
static void reference_gqa(void) { test_against_reference(2); }

int main(void) {
    RUN(equalities_mha);
    RUN(equalities_gqa);
    RUN(reference_mha);
    RUN(reference_gqa);
    RUN(test_sliding_window);
    RUN(test_bytes_and_errors);
    RUN(test_explicit_path);
    CHECK_DONE();
}

/*
 * test_longheads.c: the LongHeads KV-cache policy (headwise.h, "KV-cache policies";
 * methods.md section 4).
 *
 * Below A tokens a LongHeads context is the full attention bit for bit. Past A the
 * engine (src/model/kv_cache.c) is checked against an independent reference: the same
 * weights with a full cache, whose hook_z is overwritten by attention recomputed here in
 * double precision from the run's queries and keys before rotary: chunk keys pooled as
 * the paper does, chunks chosen per KV head by the group's summed scores, keys rotated
 * again to contiguous positions, in decode and in prefill chunks that cross A.
 */
#include "check.h"
#include "headwise.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EXPECT(cond) CHECK(cond, "%s", "")

/* No token repeats (a shuffle of the vocabulary): equal tokens have keys that differ in
 * the last bits only, whose chunks the max score would rank by rounding alone. */
enum { C = 128, V = 256, L = 2, H = 4, DH = 16 };

static hw_model *model(int n_kv_head, hw_pos_kind pos) {
    hw_config cfg = {0};
    strcpy(cfg.arch, "llama");
    cfg.n_layer = L, cfg.d_model = 64, cfg.n_head = H, cfg.n_kv_head = n_kv_head;
    cfg.head_dim = DH, cfg.d_ff = 96, cfg.vocab_size = V, cfg.n_ctx = C;
    cfg.norm = HW_NORM_RMS, cfg.norm_eps = 1e-5f, cfg.pos = pos;
    cfg.rope_layout = HW_ROPE_HALVES, cfg.rope_theta = 10000.0f, cfg.rotary_frac = 1.0f;
    cfg.act = HW_ACT_SILU_GATED;
    return hw_model_new_random(&cfg, 11);
}

static void tokens(int *tok, int T) {
    int all[V];
    unsigned s = 777;
    for (int v = 0; v < V; v++) all[v] = v;
    for (int v = V - 1; v > 0; v--) {
        s = s * 1103515245u + 12345u;
        const int j = (int)((s >> 8) % (unsigned)(v + 1)), x = all[v];
        all[v] = all[j], all[j] = x;
    }
    for (int t = 0; t < T; t++) tok[t] = all[t];
}

/* Logits (T, V): prefill `split` tokens, then decode one by one. */
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

typedef struct {
    int Hk, W, A, max;      /* max: chunks scored by their largest q . k */
    float *Q, *K, *Vv;      /* (L, C, H or Hk, Dh) before rotary, every position */
    double min_gap;         /* smallest gap between the last chosen and first left score */
} reference;

static void rotate(double *out, const float *in, int p) {
    for (int d = 0; d < DH; d++) out[d] = in[d];
    for (int i = 0; i < DH / 2; i++) {
        double a = p * pow(10000.0, -2.0 * i / DH), x = out[i], y = out[i + DH / 2];
        out[i] = x * cos(a) - y * sin(a);
        out[i + DH / 2] = x * sin(a) + y * cos(a);
    }
}

static double dot(const double *a, const double *b) {
    double s = 0;
    for (int d = 0; d < DH; d++) s += a[d] * b[d];
    return s;
}

static const float *at(const reference *r, const float *base, int l, int p, int heads, int h) {
    return base + (((size_t)l * C + p) * heads + h) * DH;
}

/* out (n, Dh) = softmax(q . K / sqrt(Dh)) weighted rows of X. */
static void attend(double *out, const double *q, double (*K)[DH], double (*X)[DH], int n) {
    double s[C], mx = -INFINITY, sum = 0;
    for (int j = 0; j < n; j++) s[j] = dot(q, K[j]) / sqrt((double)DH), mx = fmax(mx, s[j]);
    for (int j = 0; j < n; j++) sum += s[j] = exp(s[j] - mx);
    for (int d = 0; d < DH; d++) out[d] = 0;
    for (int j = 0; j < n; j++)
        for (int d = 0; d < DH; d++) out[d] += s[j] / sum * X[j][d];
}

/* The pooled key of chunk ci for query head h (methods.md 4, "Chunk representation"). */
static void chunk_key(const reference *r, int l, int h, int ci, double *key) {
    const int hk = h / (H / r->Hk), W = r->W;
    double K[C][DH], Vv[C][DH], q[DH], o[DH], s[DH] = {0};
    for (int j = 0; j < W; j++) {
        rotate(K[j], at(r, r->K, l, ci * W + j, r->Hk, hk), j);
        for (int d = 0; d < DH; d++) Vv[j][d] = at(r, r->Vv, l, ci * W + j, r->Hk, hk)[d];
    }
    for (int t = 0; t < W; t++) {
        rotate(q, at(r, r->Q, l, ci * W + t, H, h), t);
        attend(o, q, K, Vv, W);
        for (int d = 0; d < DH; d++) s[d] += o[d] / W;
    }
    attend(key, s, K, K, W);
}

/* z of query head h at position i. */
static void ref_z(reference *r, int l, int h, int i, float *out) {
    const int G = H / r->Hk, hk = h / G, W = r->W, A = r->A;
    double K[C][DH], Vv[C][DH], q[DH], z[DH];
    int n = 0;
    if (i < A) { /* causal, true positions */
        for (int p = 0; p <= i; p++, n++) {
            rotate(K[n], at(r, r->K, l, p, r->Hk, hk), p);
            for (int d = 0; d < DH; d++) Vv[n][d] = at(r, r->Vv, l, p, r->Hk, hk)[d];
        }
        rotate(q, at(r, r->Q, l, i, H, h), i);
    } else {
        const int cur = i / W, top = A / W - 3;
        double score[C], key[DH];
        int chosen[C] = {0};
        for (int ci = 1; ci <= cur - 2; ci++) {
            score[ci] = 0;
            for (int g = hk * G; g < (hk + 1) * G; g++) {
                double qg[DH], best = -INFINITY;
                for (int d = 0; d < DH; d++) qg[d] = at(r, r->Q, l, i, H, g)[d];
                if (!r->max) {
                    chunk_key(r, l, g, ci, key);
                    score[ci] += dot(qg, key);
                    continue;
                }
                for (int p = ci * W; p < ci * W + W; p++) {
                    for (int d = 0; d < DH; d++) key[d] = at(r, r->K, l, p, r->Hk, hk)[d];
                    best = fmax(best, dot(qg, key));
                }
                score[ci] += best;
            }
        }
        double last = INFINITY;
        for (int k = 0; k < top; k++) {
            int best = -1;
            for (int ci = 1; ci <= cur - 2; ci++)
                if (!chosen[ci] && (best < 0 || score[ci] > score[best])) best = ci;
            chosen[best] = 1, last = score[best];
        }
        for (int ci = 1; ci <= cur - 2; ci++)
            if (!chosen[ci]) r->min_gap = fmin(r->min_gap, fabs(last - score[ci]));
        chosen[0] = chosen[cur - 1] = chosen[cur] = 1;
        for (int ci = 0; ci <= cur; ci++)
            for (int p = ci * W; chosen[ci] && p < ci * W + W && p <= i; p++, n++) {
                rotate(K[n], at(r, r->K, l, p, r->Hk, hk), n);
                for (int d = 0; d < DH; d++) Vv[n][d] = at(r, r->Vv, l, p, r->Hk, hk)[d];
            }
        rotate(q, at(r, r->Q, l, i, H, h), n - 1);
    }
    attend(z, q, K, Vv, n);
    for (int d = 0; d < DH; d++) out[d] = (float)z[d];
}

static int ref_hook(hw_hook_call *call, void *user) {
    reference *r = user;
    const hw_hook_point p = call->point;
    if (call->ask) return p == HW_HOOK_Q || p == HW_HOOK_K || p == HW_HOOK_V || p == HW_HOOK_Z;
    const int heads = p == HW_HOOK_Q || p == HW_HOOK_Z ? H : r->Hk;
    const size_t n = (size_t)call->T * heads * DH;
    float *dst = p == HW_HOOK_Q ? r->Q : p == HW_HOOK_K ? r->K : r->Vv;
    if (p != HW_HOOK_Z) {
        memcpy(dst + ((size_t)call->layer * C + call->pos) * heads * DH, call->data, n * sizeof(float));
        return 0;
    }
    for (int t = 0; t < call->T; t++)
        for (int h = 0; h < H; h++)
            ref_z(r, call->layer, h, call->pos + t, call->data + ((size_t)t * H + h) * DH);
    return 0;
}

static void check_reference(int n_kv_head, int chunk, int split, hw_longheads_score score) {
    hw_model *m = model(n_kv_head, HW_POS_ROTARY);
    const int T = 120, W = 4, A = 32;
    int tok[C];
    tokens(tok, C);
    hw_kv_policy *p = hw_kv_policy_new_longheads(m, W, A, chunk, score);
    hw_kv_policy *plain = hw_kv_policy_new(m, 0, 0, chunk, HW_KV_COMP_NONE);
    reference r = {n_kv_head, W, A, score == HW_LONGHEADS_MAX, calloc((size_t)L * C * H * DH, sizeof(float)),
                   calloc((size_t)L * C * n_kv_head * DH, sizeof(float)),
                   calloc((size_t)L * C * n_kv_head * DH, sizeof(float)), INFINITY};
    hw_hooks *hooks = hw_hooks_new();
    hw_hooks_add(hooks, ref_hook, &r);
    float *got = malloc((size_t)T * V * sizeof *got), *want = malloc((size_t)T * V * sizeof *want);
    float *full = malloc((size_t)T * V * sizeof *full);
    EXPECT(p && run(m, p, tok, T, split, NULL, got) == HW_OK);
    EXPECT(run(m, plain, tok, T, split, hooks, want) == HW_OK);
    EXPECT(run(m, plain, tok, T, split, NULL, full) == HW_OK); /* the same prefill chunks */
    const double d = max_diff(got, want, (size_t)T * V);
    const double below = max_diff(got, want, (size_t)A * V);
    const double from_full = max_diff(got + (size_t)A * V, full + (size_t)A * V, (size_t)(T - A) * V);
    printf("  %s Hk %d chunk %d split %d: vs reference %.2e (below A %.2e), past A vs full %.2e, "
           "closest choice %.2e\n", score == HW_LONGHEADS_MAX ? "max" : "pooled", n_kv_head, chunk, split, d, below, from_full, r.min_gap);
    EXPECT(d < 2e-4);
    EXPECT(from_full > 1e-2); /* the selection really drops chunks */
    EXPECT(memcmp(got, full, (size_t)A * V * sizeof *got) == 0); /* below A: full attention */
    free(got), free(want), free(full), free(r.Q), free(r.K), free(r.Vv);
    hw_hooks_free(hooks);
    hw_kv_policy_free(p), hw_kv_policy_free(plain);
    hw_model_free(m);
}

/* ------------------------------------------------------------ tests */

static void reference_mha(void) {
    check_reference(4, 16, 70, HW_LONGHEADS_POOLED); /* prefill crosses A in a chunk, decode after */
    check_reference(4, 7, 100, HW_LONGHEADS_POOLED);
    check_reference(4, 16, 70, HW_LONGHEADS_MAX);
}
static void reference_gqa(void) {
    check_reference(2, 16, 70, HW_LONGHEADS_POOLED);
    check_reference(2, 32, 20, HW_LONGHEADS_POOLED); /* A reached in decode */
    check_reference(2, 7, 100, HW_LONGHEADS_MAX);
}

/* A covering the context, or a run that stays below A: the full attention, bit for bit. */
static void equal_to_full(void) {
    for (int hk = 2; hk <= 4; hk += 2) {
        hw_model *m = model(hk, HW_POS_ROTARY);
        int tok[C];
        tokens(tok, C);
        const int T = 120;
        float *a = malloc((size_t)T * V * sizeof *a), *b = malloc((size_t)T * V * sizeof *b);
        EXPECT(run(m, NULL, tok, T, 70, NULL, a) == HW_OK);
        hw_kv_policy *cover = hw_kv_policy_new_longheads(m, 0, 0, 0, HW_LONGHEADS_POOLED); /* A = n_ctx = C */
        int W = 0, A = 0;
        EXPECT(hw_kv_policy_longheads(cover, &W, &A, NULL) && A == C && W == C / 16);
        EXPECT(run(m, cover, tok, T, 70, NULL, b) == HW_OK);
        EXPECT(memcmp(a, b, (size_t)T * V * sizeof *a) == 0);
        hw_kv_policy *above = hw_kv_policy_new_longheads(m, 8, 100, 16, HW_LONGHEADS_MAX); /* active, unused */
        EXPECT(run(m, above, tok, 100, 70, NULL, b) == HW_OK);
        /* the same prefill chunks as the policy's */
        hw_kv_policy *chunks = hw_kv_policy_new(m, 0, 0, 16, HW_KV_COMP_NONE);
        EXPECT(run(m, chunks, tok, 100, 70, NULL, a) == HW_OK);
        EXPECT(memcmp(a, b, (size_t)100 * V * sizeof *a) == 0);
        printf("  Hk %d: A covering the context, and 100 tokens below A = 100: bit for bit\n", hk);
        hw_kv_policy_free(cover), hw_kv_policy_free(above), hw_kv_policy_free(chunks);
        free(a), free(b);
        hw_model_free(m);
    }
}

static void errors_and_spec(void) {
    hw_model *m = model(2, HW_POS_ROTARY), *learned = model(2, HW_POS_LEARNED);
    EXPECT(hw_kv_policy_new_longheads(learned, 4, 32, 0, HW_LONGHEADS_POOLED) == NULL &&
           strstr(hw_last_error(), "rotary"));
    EXPECT(hw_kv_policy_new_longheads(m, 16, 32, 0, HW_LONGHEADS_POOLED) == NULL && strstr(hw_last_error(), "3 chunks"));
    EXPECT(hw_kv_policy_new_longheads(m, 4, 32, -1, HW_LONGHEADS_POOLED) == NULL);
    hw_kv_policy *p = hw_kv_policy_parse(m, NULL, "longheads:chunk=4,heads_len=32");
    int W = 0, A = 0;
    hw_longheads_score sc;
    EXPECT(p && hw_kv_policy_longheads(p, &W, &A, &sc) && W == 4 && sc == HW_LONGHEADS_POOLED && A == 32 &&
           hw_kv_policy_full_count(p) == 2 * 2 &&
           strcmp(hw_kv_policy_name(p), "longheads:chunk=4,heads_len=32") == 0);
    hw_kv_policy *d = hw_kv_policy_parse(m, NULL, "longheads:score=max");
    EXPECT(d && hw_kv_policy_longheads(d, &W, &A, &sc) && sc == HW_LONGHEADS_MAX && W == 8 && A == C);
    EXPECT(!hw_kv_policy_longheads(NULL, &W, &A, &sc) && W == 0 && A == 0);
    EXPECT(hw_kv_policy_parse(m, NULL, "longheads:score=mean") == NULL &&
           strstr(hw_last_error(), "pooled"));
    EXPECT(hw_kv_policy_new_longheads(m, 4, 32, 0, (hw_longheads_score)7) == NULL);
    EXPECT(hw_kv_policy_parse(m, NULL, "longheads:sink=4") == NULL &&
           strstr(hw_last_error(), "unknown key"));
    EXPECT(hw_kv_policy_parse(m, NULL, "longheads:heads_len=2.5") == NULL);
    EXPECT(hw_kv_policy_parse(m, NULL, "window:heads_len=32") == NULL);
    /* The keys before rotary, chunk keys and pending queries are counted. */
    hw_context *c = hw_context_new_kv(m, C, p), *f = hw_context_new(m, C);
    const size_t row = DH * sizeof(float);
    EXPECT(hw_context_kv_bytes(c, -1, -1) ==
           hw_context_kv_bytes(f, -1, -1) + (size_t)L * 2 * (C + 2 * (C / 4 + 4)) * row);
    hw_kv_policy *mx = hw_kv_policy_parse(m, NULL, "longheads:chunk=4,heads_len=32,score=max");
    hw_context *cm = hw_context_new_kv(m, C, mx); /* no chunk keys, no pending queries */
    EXPECT(hw_context_kv_bytes(cm, 1, 0) == hw_context_kv_bytes(f, 1, 0) + (size_t)C * row);
    hw_context_free(cm), hw_kv_policy_free(mx);
    /* Scores and pattern are not written out past A; observing below A still works. */
    hw_capture *cap = hw_capture_new();
    hw_hooks *hooks = hw_hooks_new();
    hw_capture_want(cap, HW_HOOK_PATTERN, 1);
    hw_hooks_add_capture(hooks, cap);
    int tok[C];
    tokens(tok, C);
    EXPECT(hw_forward_hooked(c, tok, 30, HW_LOGITS_NONE, NULL, hooks) == HW_OK);
    EXPECT(hw_forward_hooked(c, tok, 8, HW_LOGITS_NONE, NULL, hooks) != HW_OK &&
           strstr(hw_last_error(), "LongHeads"));
    hw_hooks_free(hooks), hw_capture_free(cap);
    hw_context_free(c), hw_context_free(f);
    hw_kv_policy_free(p), hw_kv_policy_free(d);
    hw_model_free(m), hw_model_free(learned);
}

int main(void) {
    RUN(equal_to_full);
    RUN(reference_mha);
    RUN(reference_gqa);
    RUN(errors_and_spec);
    CHECK_DONE();
}

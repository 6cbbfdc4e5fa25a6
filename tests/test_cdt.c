/*
 * test_cdt.c: hw_cdt_decompose (CD-T, methods.md section 8) against the engine's own
 * forward. For each model given on the command line (random checkpoints of every family
 * written by tests/hf_fixtures.py, each with its tokens.i32; tests/hf_models_test.sh
 * passes them), or else for stories260K:
 *   - beta + gamma equals the hooked forward's tensor at every node (resid_pre, q, k, v,
 *     z, attn_out, mlp_out, resid_post of every layer, and the logits) to 1e-4 of the
 *     node's largest value, for mixed sources (a token, a head at one position, a whole
 *     head);
 *   - every token relevant: beta is the forward and gamma 0; none: the reverse;
 *   - a head source leaves every node before its layer all gamma, and its own z row
 *     all beta;
 *   - bad sources and tokens are refused.
 */
#include "check.h"
#include "headwise.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const hw_hook_point points[] = {HW_HOOK_RESID_PRE, HW_HOOK_Q,       HW_HOOK_K,       HW_HOOK_V,
                                       HW_HOOK_Z,         HW_HOOK_ATTN_OUT, HW_HOOK_MLP_OUT, HW_HOOK_RESID_POST};
enum { N_POINTS = sizeof points / sizeof *points };

typedef struct {
    hw_capture *cap;
    float *logits; /* (T, V) */
} reference;

static reference forward(const hw_model *m, const int *ids, int T) {
    reference r = {hw_capture_new(), malloc(sizeof(float) * (size_t)T * hw_model_config(m)->vocab_size)};
    hw_hooks *h = hw_hooks_new();
    hw_context *c = hw_context_new(m, 0);
    for (int i = 0; i < N_POINTS; i++) CHECK(hw_capture_want(r.cap, points[i], -1) == HW_OK, "want");
    CHECK(h && c && r.logits && hw_hooks_add_capture(h, r.cap) == HW_OK, "hooks");
    CHECK(hw_forward_hooked(c, ids, T, HW_LOGITS_ALL, r.logits, h) == HW_OK, "forward: %s", hw_last_error());
    hw_hooks_free(h);
    hw_context_free(c);
    return r;
}

static size_t numel(const hw_capture_entry *e) {
    size_t n = 1;
    for (int i = 0; i < e->ndim; i++) n *= (size_t)e->shape[i];
    return n;
}

/* max |beta + gamma - x| / max |x| (the worst part alone when only = 1 (beta) or 2). */
static double node_error(const float *b, const float *g, const float *x, size_t n, int only) {
    double err = 0, big = 1e-30;
    for (size_t i = 0; i < n; i++) {
        double sum = only == 1 ? b[i] : only == 2 ? g[i] : (double)b[i] + g[i];
        err = fmax(err, fabs(sum - x[i]));
        big = fmax(big, fabs(x[i]));
    }
    return err / big;
}

static double max_abs(const float *v, size_t n) {
    double a = 0;
    for (size_t i = 0; i < n; i++) a = fmax(a, fabs(v[i]));
    return a;
}

/* Every node of d against the reference; only as node_error's. Returns the worst. */
static double compare(const hw_model *m, const hw_cdt *d, const reference *ref, int T, int only, int from_layer,
                      const char *what) {
    const hw_config *cfg = hw_model_config(m);
    double worst = 0;
    for (int l = from_layer; l < cfg->n_layer; l++)
        for (int i = 0; i < N_POINTS; i++) {
            const hw_capture_entry *e = hw_capture_find(ref->cap, points[i], l, 0);
            const float *b = hw_cdt_part(d, points[i], l, 1), *g = hw_cdt_part(d, points[i], l, 0);
            if (points[i] == HW_HOOK_MLP_OUT && cfg->d_ff == 0) {
                CHECK(!b && !g && !e, "%s: no mlp_out in an attention-only model", what);
                continue;
            }
            CHECK(e && b && g, "%s: node %d of layer %d", what, (int)points[i], l);
            if (!e || !b || !g) continue;
            double err = node_error(b, g, e->data, numel(e), only);
            CHECK(err <= 1e-4, "%s: layer %d node %d: relative error %.3g", what, l, (int)points[i], err);
            worst = fmax(worst, err);
        }
    const size_t nV = (size_t)T * cfg->vocab_size;
    double err = node_error(hw_cdt_part(d, HW_HOOK_LOGITS, -1, 1), hw_cdt_part(d, HW_HOOK_LOGITS, -1, 0),
                            ref->logits, nV, only);
    CHECK(err <= 1e-4, "%s: logits: relative error %.3g", what, err);
    return fmax(worst, err);
}

static void check_model(const char *name, const hw_model *m, const int *ids, int T) {
    const hw_config *cfg = hw_model_config(m);
    reference ref = forward(m, ids, T);
    const int L = cfg->n_layer, H = cfg->n_head, last = L - 1;
    char what[256];

    /* mixed sources: the token at 1, head (last, H-1) at position T-2, head (0, 0) everywhere */
    hw_cdt_source mixed[] = {{HW_CDT_TOKEN, 0, 0, 1}, {HW_CDT_HEAD, last, H - 1, T - 2}, {HW_CDT_HEAD, 0, 0, -1}};
    hw_cdt *d = NULL;
    CHECK(hw_cdt_decompose(m, ids, T, mixed, 3, 1, &d) == HW_OK, "%s: decompose: %s", name, hw_last_error());
    snprintf(what, sizeof what, "%s mixed sources", name);
    double worst = d ? compare(m, d, &ref, T, 0, 0, what) : 1;
    /* beta really is there: the token's embedding row, and the relevant logits not 0 */
    if (d) {
        const size_t nV = (size_t)T * cfg->vocab_size;
        CHECK(max_abs(hw_cdt_part(d, HW_HOOK_LOGITS, -1, 1), nV) > 1e-3 * max_abs(ref.logits, nV),
              "%s: sources leave relevant logits", name);
        const float *zb = hw_cdt_part(d, HW_HOOK_Z, last, 1), *zg = hw_cdt_part(d, HW_HOOK_Z, last, 0);
        const float *zr = zg + ((size_t)(T - 2) * H + H - 1) * cfg->head_dim;
        CHECK(max_abs(zr, (size_t)cfg->head_dim) == 0, "%s: a source head's z is all relevant", name);
        (void)zb;
    }
    hw_cdt_free(d);

    /* every token relevant: beta is everything */
    hw_cdt_source all = {HW_CDT_TOKEN, 0, 0, -1};
    d = NULL;
    CHECK(hw_cdt_decompose(m, ids, T, &all, 1, 1, &d) == HW_OK, "%s: all relevant", name);
    snprintf(what, sizeof what, "%s all relevant (beta)", name);
    if (d) worst = fmax(worst, compare(m, d, &ref, T, 1, 0, what));
    hw_cdt_free(d);
    /* nothing relevant: gamma is everything */
    d = NULL;
    CHECK(hw_cdt_decompose(m, ids, T, NULL, 0, 1, &d) == HW_OK, "%s: none relevant", name);
    snprintf(what, sizeof what, "%s none relevant (gamma)", name);
    if (d) worst = fmax(worst, compare(m, d, &ref, T, 2, 0, what));
    hw_cdt_free(d);

    /* a head source in the last layer: everything before it is gamma */
    hw_cdt_source late = {HW_CDT_HEAD, last, 0, -1};
    d = NULL;
    CHECK(hw_cdt_decompose(m, ids, T, &late, 1, 1, &d) == HW_OK, "%s: late head", name);
    if (d) {
        const hw_capture_entry *e = hw_capture_find(ref.cap, HW_HOOK_RESID_PRE, last, 0);
        CHECK(e && max_abs(hw_cdt_part(d, HW_HOOK_RESID_PRE, last, 1), numel(e)) == 0,
              "%s: nothing relevant before the source's layer", name);
        snprintf(what, sizeof what, "%s late head", name);
        worst = fmax(worst, compare(m, d, &ref, T, 0, 0, what));
    }
    hw_cdt_free(d);
    printf("  %s: beta + gamma within %.2g of the forward (relative to each node's largest value)\n", name, worst);

    /* bad input */
    hw_cdt_source bad[] = {{HW_CDT_HEAD, L, 0, -1}, {HW_CDT_HEAD, 0, H, -1}, {HW_CDT_TOKEN, 0, 0, T},
                           {(hw_cdt_source_kind)7, 0, 0, 0}};
    for (int i = 0; i < 4; i++) {
        d = NULL;
        CHECK(hw_cdt_decompose(m, ids, T, &bad[i], 1, 0, &d) == HW_ERR_ARG && !d, "%s: bad source %d refused", name, i);
    }
    int bad_id = cfg->vocab_size;
    CHECK(hw_cdt_decompose(m, &bad_id, 1, NULL, 0, 0, &d) == HW_ERR_ARG, "%s: token outside the vocabulary", name);
    CHECK(hw_cdt_decompose(m, ids, 0, NULL, 0, 0, &d) != HW_OK, "%s: no tokens", name);
    hw_capture_free(ref.cap);
    free(ref.logits);
}

/* hw_cdt_run on stories260K's induction pairs: each head's relevant logit difference is
 * the one its own decomposition gives; edges only into later heads, in [0, 1]; the
 * circuit's edges are its entries; keeping every head is the full metric (faithfulness
 * 1); bad params refused. */
static void check_circuits(const hw_model *m) {
    const hw_config *cfg = hw_model_config(m);
    const int L = cfg->n_layer, H = cfg->n_head, N = L * H, n = 3;
    hw_prompt_pairs *pp = hw_prompt_pairs_task(m, "induction", n, 6, 7);
    CHECK(pp, "pairs: %s", hw_last_error());
    if (!pp) return;
    hw_cdt_params p = hw_cdt_params_default();
    p.random_draws = 3;
    hw_cdt_result *r = NULL;
    CHECK(hw_cdt_run(m, pp, &p, NULL, NULL, &r) == HW_OK, "cdt run: %s", hw_last_error());
    if (!r) {
        hw_prompt_pairs_free(pp);
        return;
    }
    const double *logit = hw_cdt_result_logit(r), *ratio = hw_cdt_result_edges(r), *rel = hw_cdt_result_relevance(r);
    double worst = 0, top = 0;
    for (int k = 0; k < N; k++) {
        double want = 0;
        hw_cdt_source src = {HW_CDT_HEAD, k / H, k % H, -1};
        for (int i = 0; i < n; i++) {
            const int *ids;
            int target, minus, T = hw_prompt_pairs_get(pp, i, &ids, NULL, &target, &minus);
            hw_cdt *d = NULL;
            CHECK(hw_cdt_decompose(m, ids, T, &src, 1, 0, &d) == HW_OK, "decompose");
            if (!d) continue;
            const float *b = hw_cdt_part(d, HW_HOOK_LOGITS, -1, 1) + (size_t)(T - 1) * cfg->vocab_size;
            want += ((double)b[target] - b[minus]) / n;
            hw_cdt_free(d);
        }
        worst = fmax(worst, fabs(want - logit[k]));
        top = fmax(top, fabs(want));
        CHECK(rel[k] >= 0 && rel[k] <= 1, "relevance %g in [0, 1]", rel[k]);
        for (int j = 0; j < N; j++)
            for (int x = 0; x < 3; x++) {
                double v = ratio[((size_t)k * N + j) * 3 + x];
                CHECK(j / H > k / H ? v >= 0 && v <= 1 : isnan(v), "edge %d -> %d (%d): %g", k, j, x, v);
            }
    }
    CHECK(worst <= 1e-5 * fmax(1, top), "each head's relevant logit difference as its own decomposition: %g", worst);
    const hw_head *c;
    const hw_cdt_edge *e;
    int nc = hw_cdt_result_circuit(r, &c), ne = hw_cdt_result_circuit_edges(r, &e);
    CHECK(nc >= 1 && nc <= N, "a circuit of %d heads", nc);
    for (int i = 0; i < ne; i++) {
        int s = e[i].sender.layer * H + e[i].sender.head, t = e[i].receiver.layer * H + e[i].receiver.head;
        CHECK(e[i].sender.layer < e[i].receiver.layer && e[i].weight == ratio[((size_t)s * N + t) * 3 + e[i].input],
              "edge %d is its entry", i);
    }
    const double *fc, *fr;
    const hw_head *order;
    double full, none, clean[3], corrupt[3];
    int sizes = hw_cdt_result_faithfulness(r, &order, &fc, &fr);
    hw_cdt_result_metrics(r, &full, &none);
    CHECK(hw_prompt_pairs_baselines(m, pp, HW_METRIC_LOGIT_DIFF, clean, corrupt) == HW_OK, "baselines");
    CHECK(sizes == N && fabs(fc[N - 1] - 1) < 1e-9 && fabs(fr[N - 1] - 1) < 1e-9, "every head kept: faithfulness 1");
    CHECK(fabs(full - (clean[0] + clean[1] + clean[2]) / 3) < 1e-5, "metric with every head: %g", full);
    for (int i = 0; i < nc; i++) CHECK(order[i].layer == c[i].layer && order[i].head == c[i].head, "circuit first");
    printf("  stories260K: %d-head circuit, faithfulness %.3f (random %.3f); logits as decomposed within %.2g\n", nc,
           fc[nc - 1], fr[nc - 1], worst);
    hw_cdt_result_free(r);
    hw_cdt_params bad[3] = {p, p, p};
    bad[0].top = 0, bad[1].keep = NAN, bad[2].random_draws = -1;
    for (int i = 0; i < 3; i++) {
        r = NULL;
        CHECK(hw_cdt_run(m, pp, &bad[i], NULL, NULL, &r) == HW_ERR_ARG && !r, "bad params %d refused", i);
    }
    hw_prompt_pairs_free(pp);
}

/* One PASS/FAIL line per model. */
static void run_case(const char *name, const hw_model *m, const int *ids, int T) {
    check_case_failed = 0;
    check_model(name, m, ids, T);
    printf("%s cdt_beta_plus_gamma_%s\n", check_case_failed ? "FAIL" : "PASS", name);
    fflush(stdout);
    check_total_failed += check_case_failed;
}

static int *read_tokens(const char *path, int *T) {
    FILE *f = fopen(path, "rb");
    int *ids = malloc(sizeof(int) * 64);
    *T = f && ids ? (int)fread(ids, sizeof(int), 64, f) : 0;
    if (f) fclose(f);
    return ids;
}

int main(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/tokens.i32", argv[i]);
        int T;
        int *ids = read_tokens(path, &T);
        hw_model *m = hw_model_load(argv[i]);
        if (m && T > hw_model_config(m)->n_ctx) T = hw_model_config(m)->n_ctx; /* dynamic NTK's case */
        const char *name = strrchr(argv[i], '/') ? strrchr(argv[i], '/') + 1 : argv[i];
        if (m && T > 2) run_case(name, m, ids, T);
        else printf("FAIL cdt_load_%s: %s\n", name, m ? "no tokens" : hw_last_error()), check_total_failed++;
        hw_model_free(m);
        free(ids);
    }
    if (argc > 1) CHECK_DONE(); /* the checkpoints given (tests/hf_models_test.sh); stories260K alone */
    hw_model *m = hw_model_load(shared_path("models/stories260K/stories260K.bin"));
    hw_tokenizer *t = m ? hw_tokenizer_load(shared_path("models/stories260K/tok512.bin"), 512) : NULL;
    int ids[64], T = t ? hw_tokenizer_encode(t, "Lily saw a big red ball. Lily saw a big red", HW_TOK_BOS, ids, 64) : 0;
    if (T > 5 && T <= 64) run_case("stories260K", m, ids, T);
    else printf("FAIL cdt_stories260K: %s\n", hw_last_error()), check_total_failed++;
    if (m) {
        check_case_failed = 0;
        check_circuits(m);
        printf("%s cdt_circuits_stories260K\n", check_case_failed ? "FAIL" : "PASS");
        check_total_failed += check_case_failed;
    }
    hw_tokenizer_free(t);
    hw_model_free(m);
    CHECK_DONE();
}

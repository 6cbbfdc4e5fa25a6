/* test_factual_recall.c: the factual-recall pipeline (methods.md section 7,
 * hw_fact_run): the least-squares solver on data made from known terms (exact fits
 * recover beta and b with R^2 = 1; a constant term gets beta 0; collinear terms get the
 * ridge and still fit; a noisy fit leaves a residual orthogonal to every term; too few
 * samples and non-finite data are refused), and on the real stories260K model the mover
 * quantities, the final layer's DLA and the mitigation's probabilities against a
 * recomputation from captures of the same prompts, and the refusals of bad prompts. */
#include "check.h"
#include "headwise.h"

#include <unistd.h>

static hw_model *model;
static hw_tokenizer *tok;

static double urand(uint64_t *s) {
    *s = *s * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(*s >> 11) / 9007199254740992.0 * 2 - 1;
}

/* y (P, D) = sum_i beta_i o_i + b (+ noise uniform in [-noise, noise]). */
static void combine(const float *o, float *y, int P, int n, int D, const double *beta, const double *b,
                    double noise, uint64_t *seed) {
    for (int p = 0; p < P; p++)
        for (int d = 0; d < D; d++) {
            double v = b[d] + (noise ? noise * urand(seed) : 0);
            for (int i = 0; i < n; i++) v += beta[i] * o[((size_t)p * n + i) * D + d];
            y[(size_t)p * D + d] = (float)v;
        }
}

/* o (P, n, D) random, y from it. */
static void make_data(float *o, float *y, int P, int n, int D, const double *beta, const double *b,
                      double noise, uint64_t seed) {
    for (size_t k = 0; k < (size_t)P * n * D; k++) o[k] = (float)urand(&seed);
    combine(o, y, P, n, D, beta, b, noise, &seed);
}

enum { P = 7, N = 6, D = 5 };
static const double true_beta[N] = {1.5, -0.7, 0.25, 2.0, 0.3, -1.2};
static const double true_b[D] = {0.5, -1, 2, 0, 0.125};

static void regress_recovers_exact_combination(void) {
    float o[P * N * D], y[P * D];
    make_data(o, y, P, N, D, true_beta, true_b, 0, 7);
    double beta[N], b[D], r2, ridge;
    int cst[N];
    CHECK(hw_fact_regress(o, y, P, N, D, beta, b, &r2, &ridge, cst) == HW_OK, "%s", hw_last_error());
    CHECK(fabs(r2 - 1) < 1e-9, "R^2 %.12f", r2);
    CHECK(ridge == 0, "ridge %g on a determined fit", ridge);
    for (int i = 0; i < N; i++) {
        CHECK(fabs(beta[i] - true_beta[i]) < 1e-5, "beta[%d] %.8f, want %.8f", i, beta[i], true_beta[i]);
        CHECK(cst[i] == 0, "term %d called constant", i);
    }
    for (int d = 0; d < D; d++) CHECK(fabs(b[d] - true_b[d]) < 1e-5, "b[%d] %.8f, want %.8f", d, b[d], true_b[d]);
}

static void regress_constant_term_gets_zero(void) {
    float o[P * N * D], y[P * D];
    make_data(o, y, P, N, D, true_beta, true_b, 0, 11);
    /* Term 2 the same vector in every sample: its part of y moves into b. */
    for (int p = 1; p < P; p++) memcpy(o + ((size_t)p * N + 2) * D, o + 2 * D, sizeof(float) * D);
    combine(o, y, P, N, D, true_beta, true_b, 0, NULL);
    double beta[N], b[D], r2, ridge;
    int cst[N];
    CHECK(hw_fact_regress(o, y, P, N, D, beta, b, &r2, &ridge, cst) == HW_OK, "%s", hw_last_error());
    CHECK(cst[2] == 1 && beta[2] == 0, "constant term: flag %d beta %g", cst[2], beta[2]);
    CHECK(ridge == 0, "ridge %g: the rest is determined", ridge);
    CHECK(fabs(r2 - 1) < 1e-9, "R^2 %.12f", r2);
    for (int i = 0; i < N; i++)
        if (i != 2) CHECK(fabs(beta[i] - true_beta[i]) < 1e-5, "beta[%d] %.8f", i, beta[i]);
    for (int d = 0; d < D; d++) {
        double want = true_b[d] + true_beta[2] * o[2 * D + d];
        CHECK(fabs(b[d] - want) < 1e-5, "b[%d] %.8f, want %.8f (the constant term inside)", d, b[d], want);
    }
}

static void regress_collinear_terms_get_ridge(void) {
    float o[P * N * D], y[P * D];
    make_data(o, y, P, N, D, true_beta, true_b, 0, 13);
    /* Term 3 = 2 x term 1: only beta1 + 2 beta3 is determined. */
    for (int p = 0; p < P; p++)
        for (int d = 0; d < D; d++) o[((size_t)p * N + 3) * D + d] = 2 * o[((size_t)p * N + 1) * D + d];
    combine(o, y, P, N, D, true_beta, true_b, 0, NULL);
    double beta[N], b[D], r2, ridge;
    CHECK(hw_fact_regress(o, y, P, N, D, beta, b, &r2, &ridge, NULL) == HW_OK, "%s", hw_last_error());
    CHECK(ridge > 0, "no ridge on collinear terms");
    CHECK(fabs(r2 - 1) < 1e-6, "R^2 %.12f", r2);
    double got = beta[1] + 2 * beta[3], want = true_beta[1] + 2 * true_beta[3];
    CHECK(fabs(got - want) < 1e-4, "beta1 + 2 beta3 = %.8f, want %.8f", got, want);
    CHECK(fabs(beta[0] - true_beta[0]) < 1e-4, "beta0 %.8f", beta[0]);
}

static void regress_noisy_residual_orthogonal(void) {
    enum { PN = 12 };
    float o[PN * N * D], y[PN * D];
    make_data(o, y, PN, N, D, true_beta, true_b, 0.8, 17);
    double beta[N], b[D], r2, ridge;
    CHECK(hw_fact_regress(o, y, PN, N, D, beta, b, &r2, &ridge, NULL) == HW_OK, "%s", hw_last_error());
    CHECK(r2 > 0.3 && r2 < 0.999, "R^2 %.6f with noise", r2);
    /* Least squares: the residual is orthogonal to every term and sums to 0 over samples. */
    double dotr[N] = {0}, sumr[D] = {0}, ss = 0;
    for (int p = 0; p < PN; p++)
        for (int d = 0; d < D; d++) {
            double r = y[p * D + d] - b[d];
            for (int i = 0; i < N; i++) r -= beta[i] * o[(p * N + i) * D + d];
            for (int i = 0; i < N; i++) dotr[i] += r * o[(p * N + i) * D + d];
            sumr[d] += r;
            ss += r * r;
        }
    for (int i = 0; i < N; i++) CHECK(fabs(dotr[i]) < 1e-4, "residual . term %d = %g", i, dotr[i]);
    for (int d = 0; d < D; d++) CHECK(fabs(sumr[d]) < 1e-4, "residual sums to %g at %d", sumr[d], d);
    /* R^2 from the residual, against the centred total. */
    double mean[D] = {0}, sst = 0;
    for (int p = 0; p < PN; p++)
        for (int d = 0; d < D; d++) mean[d] += y[p * D + d] / (double)PN;
    for (int p = 0; p < PN; p++)
        for (int d = 0; d < D; d++) sst += (y[p * D + d] - mean[d]) * (y[p * D + d] - mean[d]);
    CHECK(fabs(r2 - (1 - ss / sst)) < 1e-9, "R^2 %.9f vs %.9f", r2, 1 - ss / sst);
}

static void regress_refuses_bad_input(void) {
    float o[P * N * D], y[P * D];
    make_data(o, y, P, N, D, true_beta, true_b, 0, 19);
    double beta[N], b[D], r2, ridge;
    /* 2 samples of 5 values: 5 centred equations for 6 terms. */
    CHECK(hw_fact_regress(o, y, 2, N, D, beta, b, &r2, &ridge, NULL) == HW_ERR_ARG, "2 samples accepted");
    CHECK(strstr(hw_last_error(), "at least 3 samples"), "message: %s", hw_last_error());
    o[3] = NAN;
    CHECK(hw_fact_regress(o, y, P, N, D, beta, b, &r2, &ridge, NULL) == HW_ERR_ARG, "NaN accepted");
    CHECK(hw_fact_regress(NULL, y, P, N, D, beta, b, &r2, &ridge, NULL) == HW_ERR_ARG, "no data accepted");
}

/* ---------------------------------------------------------------- stories260K */

static const char prompts_text[] =
    "# prompt<TAB>topic<TAB>answer\n"
    "Lily had a dog named Max. Every day, Lily played with\tMax\tMax\n"
    "Tom had a red ball. He liked to play with his\tball\tball\n"
    "The cat sat on the mat. The cat was\tcat\n"
    "Once upon a time, there was a girl named Sue. Sue liked to\tSue\n"
    "Ben saw a big tree. He wanted to climb the\ttree\ttree\n";

static char tmp_paths[16][64];
static int n_tmp;

/* text in a new file under /tmp (removed at the end). */
static char *write_tmp(const char *text) {
    if (n_tmp == 16) return NULL;
    char *p = tmp_paths[n_tmp++];
    snprintf(p, sizeof tmp_paths[0], "/tmp/hw_facts_XXXXXX");
    int fd = mkstemp(p);
    if (fd < 0) return NULL;
    ssize_t w = write(fd, text, strlen(text));
    close(fd);
    return w == (ssize_t)strlen(text) ? p : NULL;
}

typedef struct {
    hw_capture *cap;
    hw_hooks *hooks;
    hw_context *ctx;
    float *logits;
} runner;

static void runner_open(runner *r, int capture) {
    r->cap = hw_capture_new();
    r->hooks = hw_hooks_new();
    r->ctx = hw_context_new(model, 0);
    r->logits = malloc(sizeof(float) * (size_t)hw_model_config(model)->vocab_size);
    if (capture) {
        hw_capture_want(r->cap, HW_HOOK_PATTERN, -1);
        hw_capture_want(r->cap, HW_HOOK_RESULT, -1);
        hw_capture_want(r->cap, HW_HOOK_MLP_OUT, -1);
        hw_capture_want(r->cap, HW_HOOK_RESID_POST, -1);
        hw_hooks_add_capture(r->hooks, r->cap);
    }
}

static void runner_close(runner *r) {
    hw_capture_free(r->cap);
    hw_hooks_free(r->hooks);
    hw_context_free(r->ctx);
    free(r->logits);
}

static int run_prompt(runner *r, hw_prompts *ps, int i, int **ids) {
    int n = hw_tokenizer_encode_alloc(tok, hw_prompts_text(ps, i), HW_TOK_BOS, ids);
    hw_context_reset(r->ctx);
    hw_capture_clear(r->cap);
    CHECK(hw_forward_hooked(r->ctx, *ids, n, HW_LOGITS_LAST, r->logits, r->hooks) == HW_OK, "%s", hw_last_error());
    return n;
}

static double softmax_p(const float *x, int V, int t) {
    double z = 0;
    for (int j = 0; j < V; j++) z += exp((double)x[j] - x[t]);
    return 1 / z;
}

static int mlp_hook(hw_hook_call *c, void *user) {
    if (c->point != HW_HOOK_MLP_OUT || c->layer != *(int *)user) return 0;
    if (c->ask) return 1;
    for (int i = 0; i < c->shape[0] * c->shape[1]; i++) c->data[i] = 0;
    return 0;
}

static void movers_and_final_layer_match_captures(void) {
    const hw_config *cfg = hw_model_config(model);
    const int L = cfg->n_layer, H = cfg->n_head, Dm = cfg->d_model, V = cfg->vocab_size, LH = L * H;
    hw_prompts *ps = hw_prompts_read(write_tmp(prompts_text), 1);
    CHECK(ps && hw_prompts_count(ps) == 5, "prompts: %s", hw_last_error());
    if (!ps) return;
    hw_fact_params p = hw_fact_params_default();
    p.prompts = ps;
    p.top_k = 5;
    hw_fact_result *r = NULL;
    CHECK(hw_fact_run(model, tok, &p, NULL, NULL, &r) == HW_OK, "%s", hw_last_error());
    if (!r) return;
    hw_fact_info in;
    hw_fact_get_info(r, &in);
    CHECK(in.n_prompts == 5 && in.mlp_layer == L - 1 && in.n_terms == 1 + L * H + L - 1,
          "prompts %d, mlp %d, terms %d", in.n_prompts, in.mlp_layer, in.n_terms);
    CHECK(!strcmp(hw_fact_term_name(r, 0), "embed") && !strcmp(hw_fact_term_name(r, 1), "0.0") &&
              !strcmp(hw_fact_term_name(r, in.n_terms - 1), "mlp.3"), "term names");
    CHECK(isfinite(in.r2) && in.r2 > 0 && in.r2 <= 1, "R^2 %g", in.r2);
    CHECK(in.n_answers == 3, "answers %d", in.n_answers);

    /* Recompute: attention to the topic token, alignment with its held-scale direction,
     * the final layer's DLA on the top token, p(top). */
    double *att = calloc(LH, sizeof(double)), *ali = calloc(LH, sizeof(double)), dla[64] = {0};
    float *dir = malloc(sizeof(float) * Dm);
    const int *pi = hw_fact_prompt_info(r);
    const double *pr = hw_fact_prompt_probs(r);
    runner run;
    runner_open(&run, 1);
    for (int i = 0; i < 5; i++) {
        int *ids = NULL, n = run_prompt(&run, ps, i, &ids), tp = pi[i * 5 + 1];
        CHECK(pi[i * 5] == n && ids[tp] == pi[i * 5 + 2], "prompt %d: tokens %d/%d, topic token", i, pi[i * 5], n);
        int top = hw_argmax(run.logits, V);
        CHECK(pi[i * 5 + 3] == top, "prompt %d top token %d vs %d", i, pi[i * 5 + 3], top);
        CHECK(fabs(pr[i * 2] - softmax_p(run.logits, V, top)) < 1e-9, "prompt %d p(top)", i);
        const float *resid = hw_capture_find(run.cap, HW_HOOK_RESID_POST, L - 1, 0)->data + (size_t)(n - 1) * Dm;
        hw_logit_direction(model, &ids[tp], 1, NULL, 0, resid, dir);
        for (int l = 0; l < L; l++) {
            const hw_capture_entry *pat = hw_capture_find(run.cap, HW_HOOK_PATTERN, l, 0); /* (H, T, T) */
            const float *res = hw_capture_find(run.cap, HW_HOOK_RESULT, l, 0)->data + (size_t)(n - 1) * H * Dm;
            for (int h = 0; h < H; h++) {
                att[l * H + h] += pat->data[((size_t)h * n + n - 1) * n + tp] / 5;
                double a = 0;
                for (int d = 0; d < Dm; d++) a += (double)res[h * Dm + d] * dir[d];
                ali[l * H + h] += a / 5;
            }
        }
        hw_logit_direction(model, &top, 1, NULL, 0, resid, dir);
        const float *res = hw_capture_find(run.cap, HW_HOOK_RESULT, L - 1, 0)->data + (size_t)(n - 1) * H * Dm;
        const float *mo = hw_capture_find(run.cap, HW_HOOK_MLP_OUT, L - 1, 0)->data + (size_t)(n - 1) * Dm;
        for (int k = 0; k <= H; k++)
            for (int d = 0; d < Dm; d++) dla[k] += (double)(k < H ? res[k * Dm + d] : mo[d]) * dir[d] / 5;
        free(ids);
    }
    runner_close(&run);
    const hw_head_table *t = hw_fact_movers(r);
    const double *tv = t->values;
    double worst = 0, ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
    for (int k = 0; k < LH; k++) {
        worst = fmax(worst, fmax(fabs(tv[k] - att[k]), fabs(tv[LH + k] - ali[k])));
        worst = fmax(worst, fabs(tv[2 * LH + k] - att[k] * ali[k]));
        ma += att[k] / LH, mb += ali[k] / LH;
    }
    CHECK(worst < 1e-5, "movers differ from the captures by %g", worst);
    for (int k = 0; k < LH; k++) {
        sab += (att[k] - ma) * (ali[k] - mb), saa += (att[k] - ma) * (att[k] - ma), sbb += (ali[k] - mb) * (ali[k] - mb);
    }
    CHECK(fabs(in.pearson_r - sab / sqrt(saa * sbb)) < 1e-6, "Pearson r %g vs %g", in.pearson_r, sab / sqrt(saa * sbb));
    CHECK(in.n_final == H + 1, "final components %d", in.n_final);
    const double *fd = hw_fact_final_dla(r);
    const int *sup = hw_fact_final_suppressed(r);
    int nsup = 0;
    for (int k = 0; k <= H; k++) {
        CHECK(fabs(fd[k] - dla[k]) < 1e-5, "final DLA %s: %g vs %g", hw_fact_final_name(r, k), fd[k], dla[k]);
        CHECK(sup[k] == (dla[k] < 0), "%s suppressor flag", hw_fact_final_name(r, k));
        nsup += sup[k];
    }
    CHECK(nsup == in.n_suppressors && nsup > 0, "suppressors %d (%d)", nsup, in.n_suppressors);

    /* The mitigation: every suppressor scaled by 0 in a run of our own. */
    hw_head heads[64];
    int nh = 0, mlp_layer = L - 1;
    for (int h = 0; h < H; h++)
        if (sup[h]) heads[nh++] = (hw_head){L - 1, h};
    runner mit;
    runner_open(&mit, 0);
    if (nh) hw_hooks_scale(mit.hooks, heads, nh, 0, HW_PHASE_BOTH);
    if (sup[H]) hw_hooks_add(mit.hooks, mlp_hook, &mlp_layer);
    double before = 0, after = 0;
    for (int i = 0; i < 5; i++) {
        int *ids = NULL;
        run_prompt(&mit, ps, i, &ids);
        double pa = softmax_p(mit.logits, V, pi[i * 5 + 3]);
        CHECK(fabs(pr[i * 2 + 1] - pa) < 1e-9, "prompt %d p after %g vs %g", i, pr[i * 2 + 1], pa);
        before += pr[i * 2] / 5, after += pa / 5;
        free(ids);
    }
    runner_close(&mit);
    CHECK(fabs(in.confidence_before - before) < 1e-9 && fabs(in.confidence_after - after) < 1e-9,
          "confidence %g -> %g vs %g -> %g", in.confidence_before, in.confidence_after, before, after);

    /* Readings: the intercept first, then terms by |beta|. */
    hw_fact_reading rd;
    CHECK(hw_fact_get_reading(r, 0, &rd) == HW_OK && !strcmp(rd.name, "intercept") && rd.beta == 1, "intercept");
    double last = INFINITY;
    for (int k = 1; k < in.n_readings; k++) {
        CHECK(hw_fact_get_reading(r, k, &rd) == HW_OK, "reading %d", k);
        CHECK(fabs(rd.beta) <= last, "reading %d out of |beta| order", k);
        CHECK(rd.logits[0] >= rd.logits[4], "reading %d tokens out of order", k);
        last = fabs(rd.beta);
    }
    CHECK(hw_fact_get_reading(r, in.n_readings, &rd) == HW_ERR_ARG, "reading past the end");
    free(att), free(ali), free(dir);
    hw_fact_free(r);
    hw_prompts_free(ps);
}

static hw_status run_text(const char *text, hw_fact_params *p) {
    hw_prompts *ps = hw_prompts_read(write_tmp(text), 1);
    if (!ps) return HW_ERR_IO;
    p->prompts = ps;
    hw_fact_result *r = NULL;
    hw_status s = hw_fact_run(model, tok, p, NULL, NULL, &r);
    hw_fact_free(r);
    hw_prompts_free(ps);
    return s;
}

static void refuses_bad_prompts(void) {
    hw_fact_params p = hw_fact_params_default();
    CHECK(run_text("The cat sat on the mat. The dog was\tzebra\nTom ran.\tTom\n", &p) == HW_ERR_ARG,
          "a topic absent from its prompt accepted");
    CHECK(strstr(hw_last_error(), "prompt 1") && strstr(hw_last_error(), "zebra"), "message: %s", hw_last_error());
    p = hw_fact_params_default();
    CHECK(run_text("Tom had a ball. Tom\tTom\n", &p) == HW_ERR_ARG, "one prompt accepted for the regression");
    CHECK(strstr(hw_last_error(), "at least 2"), "message: %s", hw_last_error());
    p = hw_fact_params_default();
    p.mlp_layer = 5;
    CHECK(run_text("Tom had a ball. Tom\tTom\nSue ran. Sue\tSue\n", &p) == HW_ERR_ARG, "MLP layer 5 of 5 accepted");
    p = hw_fact_params_default();
    p.topic = HW_FACT_TOPIC_CONTEXT;
    CHECK(run_text("Tom had a ball. Tom\tTom\nSue ran. Sue\tSue\n", &p) == HW_ERR_ARG, "in-context topic with prompts");
    p = hw_fact_params_default();
    p.mitigate_scale = NAN;
    CHECK(run_text("Tom had a ball. Tom\tTom\nSue ran. Sue\tSue\n", &p) == HW_ERR_ARG, "NaN scale accepted");
    p = hw_fact_params_default();
    p.task.name = "induction";
    hw_fact_result *r = NULL;
    CHECK(hw_fact_run(model, tok, &p, NULL, NULL, &r) == HW_ERR_ARG && !r, "task induction accepted");
    p = hw_fact_params_default();
    CHECK(hw_fact_run(model, tok, &p, NULL, NULL, &r) == HW_ERR_ARG, "no prompts accepted");
    CHECK(hw_fact_run(model, tok, NULL, NULL, NULL, &r) == HW_ERR_ARG, "no params accepted");
    /* Free functions and accessors take NULL. */
    hw_fact_free(NULL);
    CHECK(!hw_fact_movers(NULL) && !hw_fact_betas(NULL) && !hw_fact_term_name(NULL, 0), "NULL accessors");
}

int main(void) {
    RUN(regress_recovers_exact_combination);
    RUN(regress_constant_term_gets_zero);
    RUN(regress_collinear_terms_get_ridge);
    RUN(regress_noisy_residual_orthogonal);
    RUN(regress_refuses_bad_input);
    model = hw_model_load(shared_path("models/stories260K/stories260K.bin"));
    tok = model ? hw_tokenizer_load(shared_path("models/stories260K/tok512.bin"), hw_model_config(model)->vocab_size) : NULL;
    if (!model || !tok) {
        printf("FAIL load stories260K: %s\n", hw_last_error());
        return 1;
    }
    RUN(movers_and_final_layer_match_captures);
    RUN(refuses_bad_prompts);
    hw_tokenizer_free(tok);
    hw_model_free(model);
    for (int i = 0; i < n_tmp; i++) unlink(tmp_paths[i]);
    CHECK_DONE();
}

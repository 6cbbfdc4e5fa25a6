/*
 * test_duo_train.c: DuoAttention's gate training (src/train/duo.c, src/methods/duo_train.c).
 *
 *   gradient      d loss / d alpha (distillation through every later layer + the L1 term)
 *                 against central finite differences, on tiny random models of four
 *                 families (GQA with a sliding window, GPT-2, GPT-NeoX parallel, the
 *                 organisms' attention-only Llama), over two query blocks
 *   identities    gates at 1 give the full model's hidden states bit for bit (distillation
 *                 0); a recent window covering the sequence makes streaming = full (the
 *                 distillation gradient 0); plain training is unchanged after the mode ran
 *   run           hw_duo_train_run on a tiny model: the loss history, gates in [0, 1] after
 *                 the clamp, the multiplier's schedule, the files in duo-attention's layout
 *                 read back, bad parameters refused before any work
 */
#include "check.h"
#include "train/train.h"

#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15ull;
static double urand(void) { /* xorshift64, (0, 1) */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return ((rng_state >> 11) + 0.5) / 9007199254740992.0;
}
static double nrand(void) { return sqrt(-2 * log(urand())) * cos(6.283185307179586 * urand()); }

static hw_config base_cfg(void) {
    hw_config c = {0};
    snprintf(c.arch, sizeof c.arch, "llama");
    c.n_layer = 3;
    c.d_model = 16;
    c.n_head = 4;
    c.n_kv_head = 2;
    c.head_dim = 4;
    c.d_ff = 24;
    c.vocab_size = 13;
    c.n_ctx = 64;
    c.norm = HW_NORM_RMS;
    c.norm_eps = 1e-5f;
    c.pos = HW_POS_ROTARY;
    c.rope_layout = HW_ROPE_HALVES;
    c.rope_theta = 10000.0f;
    c.rotary_frac = 1.0f;
    c.act = HW_ACT_SILU_GATED;
    c.bos_id = c.eos_id = -1;
    return c;
}

typedef struct {
    const char *name;
    hw_config cfg;
} family;

static int families(family *out) {
    int n = 0;
    hw_config c = base_cfg(); /* GQA 2:1, a sliding window from layer 1 */
    c.sliding_window = 9;
    c.sliding_window_from = 1;
    out[n++] = (family){"llama_gqa_window", c};
    c = base_cfg(); /* GPT-2: LayerNorm, learned positions, biases */
    snprintf(c.arch, sizeof c.arch, "gpt2");
    c.n_kv_head = 4;
    c.norm = HW_NORM_LAYER;
    c.norm_bias = 1;
    c.pos = HW_POS_LEARNED;
    c.act = HW_ACT_GELU_TANH;
    c.qkv_bias = c.out_bias = c.mlp_bias = 1;
    c.tied_embeddings = 1;
    out[n++] = (family){"gpt2", c};
    c = out[n - 1].cfg; /* GPT-NeoX: parallel residual, partial rotary */
    snprintf(c.arch, sizeof c.arch, "gpt_neox");
    c.pos = HW_POS_ROTARY;
    c.rotary_frac = 0.5f;
    c.head_dim = 8;
    c.act = HW_ACT_GELU_EXACT;
    c.parallel_residual = 1;
    c.tied_embeddings = 0;
    out[n++] = (family){"neox_parallel", c};
    c = base_cfg(); /* the organisms: attention-only, MHA */
    c.n_kv_head = 4;
    c.d_ff = 0;
    c.tied_embeddings = 1;
    out[n++] = (family){"attn_only", c};
    return n;
}

/* Weights a little sharper than the init's, so attention is not uniform and streaming
 * differs from full attention. */
static void sharpen(hw_model *m, double k) {
    const hw_config *c = hw_model_config(m);
    for (int i = 0; i < hw_param_count(c); i++) {
        hw_param p;
        hw_param_get(c, i, &p);
        float *d = (float *)hw_model_param(m, i);
        int qk = strstr(p.name, ".wq") || strstr(p.name, ".wk");
        int norm = strstr(p.name, "norm") && !strstr(p.name, "norm_b");
        for (int64_t j = 0; j < p.size; j++) {
            double r = nrand();
            if (p.ndim == 2 && strstr(p.name, "embed")) d[j] = (float)(k * 0.5 * r);
            else if (p.ndim == 2) d[j] = (float)(k * r * (qk ? 2.4 : 0.8) / sqrt(p.shape[1]));
            else d[j] = (float)(norm ? 1 + 0.1 * r : 0.2 * r);
        }
    }
}

/* A batch, the full model's hidden states, and every third row supervised. */
typedef struct {
    int tokens[128], targets[128];
    unsigned char sup[128];
    hw_batch b;
    float *h_full;
} fixture;

static int fixture_make(fixture *f, hw_grad *g, const hw_config *c, int B, int T) {
    for (int i = 0; i < B * T; i++) {
        f->tokens[i] = (int)(urand() * c->vocab_size);
        f->targets[i] = -1;
        f->sup[i] = i % T >= T / 3 && i % 3 == 0;
    }
    f->b = (hw_batch){f->tokens, f->targets, B, T};
    const float *h;
    if (hw_train_hidden(g, &f->b, &h) != HW_OK) return 0;
    f->h_full = malloc((size_t)B * T * c->d_model * sizeof(float));
    memcpy(f->h_full, h, (size_t)B * T * c->d_model * sizeof(float));
    return 1;
}

static double loss_at(hw_grad *g, fixture *f, const float *alpha, int sink, int recent) {
    float loss = NAN;
    hw_train_duo_set(g, alpha, sink, recent);
    hw_train_duo_loss(g, &f->b, f->h_full, f->sup, 0.05f, &loss, NULL, NULL);
    return loss;
}

/* ---------------------------------------------------------------- gradient */

static void test_gradient(void) {
    family fam[8];
    int nf = families(fam);
    for (int k = 0; k < nf; k++) {
        const hw_config *c = &fam[k].cfg;
        hw_model *m = hw_model_new_random(c, 40 + k);
        CHECK(m != NULL, "%s: %s", fam[k].name, hw_last_error());
        if (!m) continue;
        sharpen(m, 0.7);
        hw_grad *g = hw_grad_new(m);
        fixture f;
        /* T = 40: two query blocks; sink 3 + recent 6 hide most keys of the late rows. */
        const int B = 2, T = 40, sink = 3, recent = 6, n = c->n_layer * c->n_kv_head;
        CHECK(g && fixture_make(&f, g, c, B, T), "%s: %s", fam[k].name, hw_last_error());
        float alpha[32], ga[32], loss = 0, distill = 0;
        for (int i = 0; i < n; i++) alpha[i] = (float)(0.2 + 0.6 * urand());
        alpha[1] = 0; /* the L1 term's gradient is 0 there, as torch's abs */
        CHECK(hw_train_duo_set(g, alpha, sink, recent) == HW_OK, "%s", hw_last_error());
        CHECK(hw_train_duo_loss(g, &f.b, f.h_full, f.sup, 0.05f, &loss, &distill, ga) == HW_OK,
              "%s: %s", fam[k].name, hw_last_error());
        double scale = 0;
        for (int i = 0; i < n; i++) scale = fmax(scale, fabs(ga[i]));
        double worst = 0;
        const double h = 1e-2;
        for (int i = 0; i < n; i++) {
            if (i == 1) continue; /* |alpha| has no derivative at 0 */
            float keep = alpha[i];
            alpha[i] = keep + (float)h;
            double up = loss_at(g, &f, alpha, sink, recent);
            alpha[i] = keep - (float)h;
            double dn = loss_at(g, &f, alpha, sink, recent);
            alpha[i] = keep;
            double fd = (up - dn) / (2 * h), e = fabs(fd - ga[i]) / (0.02 * scale + fabs(ga[i]));
            if (e > 2e-2) fprintf(stderr, "  %s gate %d: fd %g, gradient %g\n", fam[k].name, i, fd, ga[i]);
            worst = fmax(worst, e);
        }
        /* At 0 the L1 term contributes nothing: the gradient is the distillation's. */
        alpha[1] = 0;
        double up = loss_at(g, &f, (alpha[1] = (float)h, alpha), sink, recent);
        double dn = loss_at(g, &f, (alpha[1] = (float)-h, alpha), sink, recent); /* L1 symmetric */
        alpha[1] = 0;
        double fd0 = (up - dn) / (2 * h);
        printf("  %s: loss %.4g (distill %.4g), |grad| max %.3g, worst relative error %.2g, "
               "gate at 0: fd %.4g vs %.4g\n", fam[k].name, loss, distill, scale, worst, fd0, ga[1]);
        CHECK(distill > 1e-4, "%s: streaming should change the hidden states (%g)", fam[k].name, distill);
        CHECK(scale > 1e-4, "%s: a gradient that is not 0 (%g)", fam[k].name, scale);
        CHECK(worst <= 2e-2, "%s: gate gradients off by %g", fam[k].name, worst);
        CHECK(fabs(fd0 - ga[1]) <= 2e-2 * (0.02 * scale + fabs(ga[1])), "%s: gate at 0: fd %g, gradient %g",
              fam[k].name, fd0, ga[1]);
        free(f.h_full);
        hw_grad_free(g);
        hw_model_free(m);
    }
}

/* ---------------------------------------------------------------- identities */

static void test_identities(void) {
    hw_config c = base_cfg();
    hw_model *m = hw_model_new_random(&c, 5);
    CHECK(m != NULL, "%s", hw_last_error());
    if (!m) return;
    sharpen(m, 0.7);
    hw_grad *g = hw_grad_new(m);
    fixture f;
    const int B = 2, T = 37, n = c.n_layer * c.n_kv_head, D = c.d_model;
    CHECK(g && fixture_make(&f, g, &c, B, T), "%s", hw_last_error());
    float ones[32], ga[32], loss = -1, distill = -1;
    for (int i = 0; i < n; i++) ones[i] = 1;
    /* Gates at 1: 1 z + 0 z_s is z, the hidden states are the full model's bits. */
    CHECK(hw_train_duo_set(g, ones, 2, 4) == HW_OK, "%s", hw_last_error());
    const float *h = NULL;
    CHECK(hw_train_hidden(g, &f.b, &h) == HW_OK, "%s", hw_last_error());
    CHECK(h && memcmp(h, f.h_full, (size_t)B * T * D * sizeof(float)) == 0,
          "gates at 1 change the hidden states");
    CHECK(hw_train_duo_loss(g, &f.b, f.h_full, f.sup, 0.05f, &loss, &distill, ga) == HW_OK, "%s",
          hw_last_error());
    CHECK(distill == 0 && fabsf(loss - 0.05f) < 1e-7f, "gates at 1: distill %g, loss %g", distill, loss);
    /* Streaming = full when the recent window covers the sequence: no distillation
     * gradient, only lambda / n from the L1 term. */
    float half[32];
    for (int i = 0; i < n; i++) half[i] = 0.5f;
    CHECK(hw_train_duo_set(g, half, 0, T) == HW_OK, "%s", hw_last_error());
    CHECK(hw_train_duo_loss(g, &f.b, f.h_full, f.sup, 0.05f, &loss, &distill, ga) == HW_OK, "%s",
          hw_last_error());
    double off = 0;
    for (int i = 0; i < n; i++) off = fmax(off, fabs(ga[i] - 0.05 / n));
    CHECK(distill < 1e-10 && off < 1e-6, "recent = T: distill %g, gradient off by %g", distill, off);
    /* Head gates and DuoAttention's together are refused; plain training after the mode
     * is the same as before it. */
    float hg[64];
    for (int i = 0; i < c.n_layer * c.n_head; i++) hg[i] = 1;
    CHECK(hw_grad_set_gates(g, hg) == HW_ERR_UNSUPPORTED, "head gates with DuoAttention's accepted");
    for (int i = 0; i < B * T; i++) f.targets[i] = (i * 7) % c.vocab_size;
    float l0 = 0, l1 = 1;
    hw_grad *g0 = hw_grad_new(m);
    CHECK(hw_grad_compute(g0, &f.b, HW_GRAD_WEIGHTS, &l0) == HW_OK, "%s", hw_last_error());
    CHECK(hw_train_duo_set(g, NULL, 0, 0) == HW_OK, "%s", hw_last_error());
    CHECK(hw_grad_compute(g, &f.b, HW_GRAD_WEIGHTS, &l1) == HW_OK, "%s", hw_last_error());
    size_t np = (size_t)hw_param_total(&c);
    CHECK(l0 == l1 && memcmp(hw_grad_weights(g0), hw_grad_weights(g), np * sizeof(float)) == 0,
          "plain training after DuoAttention's mode: loss %g vs %g", l1, l0);
    /* Bad settings. */
    CHECK(hw_train_duo_set(g, half, 0, 0) == HW_ERR_ARG, "recent 0 accepted");
    half[0] = NAN;
    CHECK(hw_train_duo_set(g, half, 1, 1) == HW_ERR_RANGE, "a NaN gate accepted");
    hw_grad_free(g0);
    free(f.h_full);
    hw_grad_free(g);
    hw_model_free(m);
}

/* ---------------------------------------------------------------- run */

/* A random attention-only model over the retrieval task's vocabulary: the run's
 * mechanics (not what it learns: tests/duo_train_test.sh on the organism). */
static hw_model *task_model(void) {
    hw_config c = base_cfg();
    c.n_layer = 2;
    c.n_kv_head = 2;
    c.d_ff = 0;
    c.vocab_size = 165;
    c.n_ctx = 64;
    c.tied_embeddings = 1;
    hw_model *m = hw_model_new_random(&c, 9);
    if (m) sharpen(m, 0.7);
    return m;
}

static hw_duo_train_result *run(const hw_model *m, int steps) {
    hw_duo_train_params p = hw_duo_train_params_default();
    p.task = "retrieval";
    p.steps = steps;
    p.batch = 2;
    hw_duo_train_result *r = NULL;
    hw_status s = hw_duo_train_run(m, NULL, &p, NULL, NULL, &r);
    CHECK(s == HW_OK && r, "%d steps: %s", steps, hw_last_error());
    return r;
}

/* The first step's AdamW update is lr m(0) sign(g), and at gates of 1 the distillation
 * is at its minimum (gradient 0), so g = lambda / n > 0: every gate moves to
 * 1 - 0.02 m(0). m(0) = min(1, max(1 / (N / 5), 0.1)): 1 for N = 1, 0.5 for N = 10, the
 * floor 0.1 for N = 50; step 1's loss shows it (lambda times the mean gate). */
static void test_schedule(void) {
    hw_model *m = task_model();
    if (!m) return;
    const int N[3] = {1, 10, 50};
    const double m0[3] = {1, 0.5, 0.1};
    for (int k = 0; k < 3; k++) {
        hw_duo_train_result *r = run(m, N[k]);
        if (!r) continue;
        int steps, L, Hk;
        const float *loss = hw_duo_train_losses(r, &steps), *dist = hw_duo_train_distill(r, NULL);
        const float *g = hw_duo_train_gates(r, &L, &Hk);
        CHECK(steps == N[k] && L == 2 && Hk == 2, "steps %d, gates %d x %d", steps, L, Hk);
        CHECK(dist[0] == 0 && fabsf(loss[0] - 0.05f) < 1e-7f, "step 0: gates at 1 give distill %g, loss %g",
              dist[0], loss[0]);
        double want = 0.05 * (1 - 0.02 * m0[k]);
        if (N[k] == 1)
            for (int i = 0; i < L * Hk; i++) CHECK(fabs(g[i] - 0.98) < 1e-6, "gate %d: %g, not 0.98", i, g[i]);
        else
            CHECK(fabs((loss[1] - dist[1]) - want) < 2e-7, "N %d: step 1's L1 term %.7g, want %.7g", N[k],
                  loss[1] - dist[1], want);
        for (int i = 0; i < steps; i++) CHECK(isfinite(loss[i]) && dist[i] >= 0, "step %d: loss %g", i, loss[i]);
        hw_duo_train_free(r);
    }
    hw_model_free(m);
}

/* Gates in [0, 1]; the folder read back as duo-attention reads it; settings resolved. */
static void test_files(void) {
    hw_model *m = task_model();
    if (!m) return;
    hw_duo_train_result *r = run(m, 40);
    if (!r) return hw_model_free(m);
    int L, Hk;
    const float *g = hw_duo_train_gates(r, &L, &Hk);
    const hw_duo_train_params *p = hw_duo_train_settings(r);
    CHECK(p->seq_len == 64 && p->sink == 4 && p->recent == 8 && p->batch == 2,
          "settings: seq_len %d, sink %d, recent %d, batch %d", p->seq_len, p->sink, p->recent, p->batch);
    int moved = 0;
    for (int i = 0; i < L * Hk; i++) {
        CHECK(g[i] >= 0 && g[i] <= 1, "gate %d = %g", i, g[i]);
        moved += g[i] < 0.99f;
    }
    CHECK(moved > 0, "40 steps moved no gate");
    char dir[] = "/tmp/duo_train_XXXXXX", path[512];
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    char sub[300];
    snprintf(sub, sizeof sub, "%s/pattern", dir); /* created by the writer */
    CHECK(hw_duo_train_write(r, sub) == HW_OK, "%s", hw_last_error());
    snprintf(path, sizeof path, "%s/full_attention_heads.tsv", sub);
    FILE *f = fopen(path, "r");
    int lines = 0, bad = 0;
    char line[4096];
    while (f && fgets(line, sizeof line, f)) {
        char *e = line;
        for (int j = 0; j < Hk; j++) {
            char *end;
            double v = strtod(e, &end);
            bad += end == e || (float)v != g[lines * Hk + j] || *end != (j + 1 < Hk ? '\t' : '\n');
            e = end + 1;
        }
        lines++;
    }
    if (f) fclose(f);
    CHECK(lines == L && !bad, "tsv: %d lines (want %d), %d values wrong", lines, L, bad);
    snprintf(path, sizeof path, "%s/config.json", sub);
    f = fopen(path, "r");
    size_t n = f ? fread(line, 1, sizeof line - 1, f) : 0;
    line[n] = 0;
    if (f) fclose(f);
    CHECK(strstr(line, "\"sink_size\":\t4,") && strstr(line, "\"recent_size\":\t8,") &&
              strstr(line, "\"lr\":\t0.02,") && strstr(line, "\"reg_weight\":\t0.05,") &&
              strstr(line, "\"num_steps\":\t40,"),
          "config.json: %s", line);
    snprintf(path, sizeof path, "rm -rf '%s'", dir);
    CHECK(system(path) == 0, "cleanup");
    hw_duo_train_free(r);
    hw_model_free(m);
}

typedef struct {
    const char *what;
    hw_duo_train_params p;
} bad_case;

/* Bad settings fail before any work, with the error set; NULL is harmless. */
static void test_bad_params(void) {
    hw_model *m = task_model();
    if (!m) return;
    hw_duo_train_result *r = (hw_duo_train_result *)1;
    hw_duo_train_params p = hw_duo_train_params_default();
    p.task = "retrieval";
    bad_case bad[8];
    int nb = 0;
    for (int k = 0; k < 8; k++) bad[k].p = p;
    bad[nb].what = "0 steps", bad[nb++].p.steps = 0;
    bad[nb].what = "lr NaN", bad[nb++].p.lr = NAN;
    bad[nb].what = "negative lambda", bad[nb++].p.lambda = -1;
    bad[nb].what = "initial value 2", bad[nb++].p.initial_value = 2;
    bad[nb].what = "unknown task", bad[nb++].p.task = "nope";
    bad[nb].what = "text without a tokenizer", bad[nb++].p.task = NULL;
    bad[nb].what = "11 passkeys", bad[nb].p.task = NULL, bad[nb++].p.n_passkeys = 11;
    for (int k = 0; k < nb; k++) {
        r = (hw_duo_train_result *)1;
        hw_status s = hw_duo_train_run(m, NULL, &bad[k].p, NULL, NULL, &r);
        CHECK(s != HW_OK && r == NULL && hw_last_error()[0], "%s accepted", bad[k].what);
    }
    CHECK(hw_duo_train_run(NULL, NULL, &p, NULL, NULL, &r) == HW_ERR_ARG, "no model accepted");
    hw_duo_train_free(NULL);
    CHECK(hw_duo_train_gates(NULL, NULL, NULL) == NULL && hw_duo_train_write(NULL, "/tmp/x") == HW_ERR_ARG,
          "NULL result");
    hw_model_free(m);
}

int main(int argc, char **argv) {
    (void)argc;
    (void)argv;
    RUN(test_gradient);
    RUN(test_identities);
    RUN(test_schedule);
    RUN(test_files);
    RUN(test_bad_params);
    CHECK_DONE();
}

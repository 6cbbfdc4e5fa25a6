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

int main(int argc, char **argv) {
    (void)argc;
    (void)argv;
    RUN(test_gradient);
    RUN(test_identities);
    CHECK_DONE();
}

/*
 * test_grad.c: gradients and training (src/train/).
 *
 *   test_grad                 training forward = hw_forward on every family; central
 *                             finite differences on a tiny model (weights, an activation,
 *                             a gate); a run killed halfway and resumed = one straight run;
 *                             head dropout's gates, frozen dropped heads and resume;
 *                             1 thread = 2 threads; bad batches fail cleanly
 *   test_grad --write DIR     random "sharp" models of every family with a batch and
 *                             gates, for tests/grad_ref.py (PyTorch autograd)
 *   test_grad --compare DIR   our gradients against grad_ref.py's (relative error <= 1e-4)
 */
#include "check.h"
#include "hf_files.h"
#include "train/train.h"

#include <stdint.h>
#include <unistd.h>

#define TOL_REF 1e-4

/* ---------------------------------------------------------------- configs */

static hw_config base_cfg(void) {
    hw_config c = {0};
    c.n_layer = 2;
    c.d_model = 32;
    c.n_head = 4;
    c.n_kv_head = 4;
    c.head_dim = 8;
    c.d_ff = 48;
    c.vocab_size = 41;
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

/* Every family and option the engine supports, small. */
static int families(family *out) {
    int n = 0;
    hw_config c = base_cfg(); /* Llama: GQA 2:1, Dh * H != D, untied, sliding window on layer 1 */
    snprintf(c.arch, sizeof c.arch, "llama");
    c.n_kv_head = 2;
    c.head_dim = 10;
    c.sliding_window = 5;
    c.sliding_window_from = 1;
    out[n++] = (family){"llama_gqa_window", c};
    c = base_cfg(); /* Qwen2: q/k/v biases, tied, linear rope scaling */
    snprintf(c.arch, sizeof c.arch, "qwen2");
    c.n_kv_head = 1;
    c.qkv_bias = 1;
    c.tied_embeddings = 1;
    c.rope_scaling = HW_ROPE_SCALE_LINEAR;
    c.rope_factor = 2.0f;
    out[n++] = (family){"qwen2_bias_tied", c};
    c = base_cfg(); /* llama2.c: interleaved rotary, llama3 scaling, MLP and o biases */
    snprintf(c.arch, sizeof c.arch, "llama");
    c.rope_layout = HW_ROPE_INTERLEAVED;
    c.rope_scaling = HW_ROPE_SCALE_LLAMA3;
    c.rope_factor = 8.0f;
    c.rope_low_freq_factor = 1.0f;
    c.rope_high_freq_factor = 4.0f;
    c.rope_orig_ctx = 8;
    c.out_bias = c.mlp_bias = 1;
    out[n++] = (family){"llama_interleaved_bias", c};
    c = base_cfg(); /* GPT-2 */
    snprintf(c.arch, sizeof c.arch, "gpt2");
    c.norm = HW_NORM_LAYER;
    c.norm_bias = 1;
    c.pos = HW_POS_LEARNED;
    c.act = HW_ACT_GELU_TANH;
    c.qkv_bias = c.out_bias = c.mlp_bias = 1;
    c.tied_embeddings = 1;
    c.d_ff = 4 * c.d_model;
    out[n++] = (family){"gpt2", c};
    c = out[n - 1].cfg; /* GPT-NeoX / Pythia: parallel residual, partial rotary, exact GELU */
    snprintf(c.arch, sizeof c.arch, "gpt_neox");
    c.pos = HW_POS_ROTARY;
    c.rotary_frac = 0.25f;
    c.act = HW_ACT_GELU_EXACT;
    c.parallel_residual = 1;
    c.tied_embeddings = 0;
    c.head_dim = 16;
    out[n++] = (family){"neox_parallel", c};
    c = out[n - 1].cfg; /* GPT-NeoX sequential */
    c.parallel_residual = 0;
    c.rotary_frac = 0.5f;
    c.act = HW_ACT_GELU_TANH;
    out[n++] = (family){"neox_sequential", c};
    c = base_cfg(); /* the organisms: attention-only */
    snprintf(c.arch, sizeof c.arch, "llama");
    c.d_ff = 0;
    c.tied_embeddings = 1;
    out[n++] = (family){"attn_only", c};
    return n;
}

/* ---------------------------------------------------------------- helpers */

static uint64_t rng_state = 88172645463325252ull;
static double urand(void) { /* xorshift64, (0, 1) */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return ((rng_state >> 11) + 0.5) / 9007199254740992.0;
}
static double nrand(void) { return sqrt(-2 * log(urand())) * cos(6.283185307179586 * urand()); }

/* Weights with the "sharp" scale of tests/hf_fixtures.py (peaked attention, so a wrong
 * rotary layout, window or head mapping changes everything). */
static void sharpen_by(hw_model *m, double k) {
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

static void sharpen(hw_model *m) { sharpen_by(m, 1.0); }

static void random_batch(int *tokens, int *targets, int n, int V, int holes) {
    for (int i = 0; i < n; i++) {
        tokens[i] = (int)(urand() * V);
        targets[i] = holes && i % 5 == 3 ? -1 : (int)(urand() * V);
    }
}

static double rel_err(const float *a, const float *ref, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)a[i] - ref[i];
        num += d * d;
        den += (double)ref[i] * ref[i];
    }
    if (num != num) return INFINITY;
    return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* ---------------------------------------------------------------- forward = hw_forward */

static void test_forward_matches_inference(void) {
    family fam[16];
    int nf = families(fam);
    for (int f = 0; f < nf; f++) {
        hw_model *m = hw_model_new_random(&fam[f].cfg, 7 + f);
        CHECK(m != NULL, "%s: %s", fam[f].name, hw_last_error());
        if (!m) continue;
        sharpen(m);
        const int B = 2, T = 45, V = fam[f].cfg.vocab_size; /* two query blocks */
        int tokens[90], targets[90];
        random_batch(tokens, targets, B * T, V, 1);
        hw_grad *g = hw_grad_new(m);
        hw_batch b = {tokens, targets, B, T};
        float loss = 0;
        CHECK(g && hw_grad_loss(g, &b, &loss) == HW_OK, "%s: %s", fam[f].name, hw_last_error());
        float *want = malloc((size_t)T * V * sizeof(float));
        double worst = 0, lref = 0;
        int nt = 0;
        for (int s = 0; g && s < B; s++) {
            hw_context *c = hw_context_new(m, T);
            CHECK(c && hw_forward(c, tokens + s * T, T, HW_LOGITS_ALL, want) == HW_OK, "%s: %s",
                  fam[f].name, hw_last_error());
            const float *got = hw_grad_logits(g) + (size_t)s * T * V;
            /* Relative to the largest logit of the sequence (sharp weights make some large). */
            double top = 1;
            for (int i = 0; i < T * V; i++) top = fmax(top, fabs(want[i]));
            for (int i = 0; i < T * V; i++) {
                double d = fabs(got[i] - want[i]) / top;
                worst = d > worst || d != d ? d : worst;
            }
            for (int t = 0; t < T; t++) { /* the loss from hw_forward's logits, in double */
                int y = targets[s * T + t];
                if (y < 0) continue;
                const float *r = want + (size_t)t * V;
                double mx = r[0], sum = 0;
                for (int v = 1; v < V; v++) mx = r[v] > mx ? r[v] : mx;
                for (int v = 0; v < V; v++) sum += exp(r[v] - mx);
                lref += log(sum) + mx - r[y];
                nt++;
            }
            hw_context_free(c);
        }
        lref /= nt;
        printf("  %s: logits within %.1e of hw_forward, loss %.6f\n", fam[f].name, worst, loss);
        CHECK(worst <= 1e-5, "%s: logits differ from hw_forward by %g", fam[f].name, worst);
        CHECK(fabs(loss - lref) <= 1e-5 * (1 + lref), "%s: loss %.8g, from hw_forward %.8g",
              fam[f].name, loss, lref);
        CHECK(lref > 0.5, "%s: sharp weights give a non-trivial loss (%g)", fam[f].name, lref);
        free(want);
        hw_grad_free(g);
        hw_model_free(m);
    }
}

/* ---------------------------------------------------------------- finite differences */

/* Loss of m (whose parameter arena is `arena`) on b with gates, in the model as is. */
static double loss_at(hw_grad *g, const hw_batch *b) {
    float loss = 0;
    hw_grad_loss(g, b, &loss);
    return loss;
}

/* Central differences, step h, on a few coordinates of every family's tiny model:
 * weights of every kind, gates; compared with hw_grad_compute. The forward is f32,
 * so the step is large (3e-3) and the tolerance 2e-2 of the gradient's scale. */
static void test_finite_differences(void) {
    family fam[16];
    int nf = families(fam);
    for (int f = 0; f < nf; f++) {
        hw_config cfg = fam[f].cfg;
        cfg.n_layer = 2;
        cfg.d_model = 16;
        cfg.vocab_size = 13;
        if (cfg.d_ff) cfg.d_ff = 24;
        cfg.head_dim = cfg.rotary_frac < 1 ? 16 : 4;
        hw_model *m = hw_model_new_random(&cfg, 100 + f);
        CHECK(m != NULL, "%s: %s", fam[f].name, hw_last_error());
        if (!m) continue;
        /* Half as sharp as the reference cases: less curvature for the differences' step. */
        sharpen_by(m, 0.5);
        const int B = 2, T = 7, L = cfg.n_layer, H = cfg.n_head;
        int tokens[14], targets[14];
        random_batch(tokens, targets, B * T, cfg.vocab_size, 1);
        hw_batch b = {tokens, targets, B, T};
        float gates[64];
        for (int i = 0; i < L * H; i++) gates[i] = (float)(0.5 + urand());
        hw_grad *g = hw_grad_new(m);
        hw_grad_set_gates(g, gates);
        float loss;
        CHECK(hw_grad_compute(g, &b, HW_GRAD_WEIGHTS | HW_GRAD_GATES, &loss) == HW_OK, "%s",
              hw_last_error());
        int np = hw_param_count(&cfg);
        float *gw = malloc((size_t)hw_param_total(&cfg) * sizeof(float));
        float gg[64];
        memcpy(gw, hw_grad_weights(g), (size_t)hw_param_total(&cfg) * sizeof(float));
        memcpy(gg, hw_grad_gates(g), (size_t)L * H * sizeof(float));
        double scale = 0;
        for (int64_t i = 0; i < hw_param_total(&cfg); i++) scale = fmax(scale, fabs(gw[i]));
        const double h = 3e-3;
        int checked = 0;
        double worst = 0;
        for (int i = 0; i < np; i++) { /* two coordinates of every tensor */
            hw_param p;
            hw_param_get(&cfg, i, &p);
            float *d = (float *)hw_model_param(m, i);
            for (int k = 0; k < 2; k++) {
                int64_t j = (int64_t)(urand() * p.size);
                if (strstr(p.name, "embed")) j = (int64_t)tokens[k] * cfg.d_model + k;
                float keep = d[j];
                d[j] = keep + (float)h;
                double up = loss_at(g, &b);
                d[j] = keep - (float)h;
                double dn = loss_at(g, &b);
                d[j] = keep;
                double fd = (up - dn) / (2 * h), an = gw[p.offset + j];
                double e = fabs(fd - an) / (scale * 0.05 + fabs(an));
                if (e > worst) worst = e;
                if (e > 2e-2)
                    fprintf(stderr, "  %s %s[%lld]: finite difference %g, gradient %g\n",
                            fam[f].name, p.name, (long long)j, fd, an);
                checked++;
            }
        }
        for (int i = 0; i < L * H; i += 3) {
            float keep = gates[i];
            gates[i] = keep + (float)h;
            hw_grad_set_gates(g, gates);
            double up = loss_at(g, &b);
            gates[i] = keep - (float)h;
            hw_grad_set_gates(g, gates);
            double dn = loss_at(g, &b);
            gates[i] = keep;
            hw_grad_set_gates(g, gates);
            double fd = (up - dn) / (2 * h), e = fabs(fd - gg[i]) / (1e-3 + fabs(gg[i]));
            if (e > 2e-2) fprintf(stderr, "  %s gate %d: fd %g, gradient %g\n", fam[f].name, i, fd, gg[i]);
            worst = fmax(worst, e);
            checked++;
        }
        printf("  %s: %d coordinates, worst relative difference %.2e\n", fam[f].name, checked, worst);
        CHECK(worst <= 2e-2 && checked > 2 * np, "%s: worst relative difference %g over %d",
              fam[f].name, worst, checked);
        free(gw);
        hw_grad_free(g);
        hw_model_free(m);
    }
}

/* ---------------------------------------------------------------- training */

static hw_config organism_cfg(void) {
    hw_config c = base_cfg();
    snprintf(c.arch, sizeof c.arch, "llama");
    c.d_ff = 0;
    c.tied_embeddings = 0;
    c.vocab_size = 24;
    return c;
}

/* The batch of step k for seed: random tokens; the target at t is the token at t-1
 * (the first position has none), which takes attention to learn. A pure function of
 * (seed, k), as the trainer's callers generate data. */
static void step_batch(uint64_t seed, int k, int *tokens, int *targets, int B, int T, int V) {
    uint64_t s = seed * 1000003u + (uint64_t)k * 7919u + 1;
    for (int i = 0; i < B * T; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        tokens[i] = (int)(s % (uint64_t)V);
        targets[i] = i % T == 0 ? -1 : tokens[i - 1];
    }
}

static void test_schedule(void) {
    hw_train_params p = hw_train_params_default();
    p.lr = 1.0f, p.min_lr_frac = 0.1f, p.warmup = 10, p.steps = 110;
    CHECK(fabsf(hw_train_lr(&p, 0) - 0.1f) < 1e-6f && fabsf(hw_train_lr(&p, 9) - 1.0f) < 1e-6f,
          "warm-up %g %g", hw_train_lr(&p, 0), hw_train_lr(&p, 9));
    CHECK(fabsf(hw_train_lr(&p, 10) - 1.0f) < 1e-6f && fabsf(hw_train_lr(&p, 60) - 0.55f) < 1e-6f &&
              fabsf(hw_train_lr(&p, 110) - 0.1f) < 1e-6f,
          "cosine %g %g %g", hw_train_lr(&p, 10), hw_train_lr(&p, 60), hw_train_lr(&p, 110));
    p.schedule = HW_SCHED_WSD, p.decay_frac = 0.2f; /* decay over the last 22 steps */
    CHECK(hw_train_lr(&p, 87) == 1.0f && fabsf(hw_train_lr(&p, 98) - 0.55f) < 1e-6f &&
              fabsf(hw_train_lr(&p, 109) - 0.1f) < 1e-6f,
          "wsd %g %g %g", hw_train_lr(&p, 87), hw_train_lr(&p, 98), hw_train_lr(&p, 109));
}

/* Train n steps from step `from` with a fresh trainer on m (resuming from `ckpt` if
 * given, saving to `save` at the end if given); returns the last loss or NAN. */
static float train_steps(hw_model *m, const hw_train_params *p, int from, int n,
                         const char *ckpt, const char *save) {
    enum { B = 8, T = 16 };
    int tokens[B * T], targets[B * T];
    hw_trainer *t = hw_trainer_new(m, p);
    float loss = NAN;
    if (!t) return NAN;
    if (ckpt && hw_trainer_resume(t, ckpt) != HW_OK) {
        hw_trainer_free(t);
        return NAN;
    }
    if (hw_trainer_steps_done(t) != from) loss = NAN;
    else
        for (int k = from; k < from + n; k++) {
            step_batch(p->seed, k, tokens, targets, B, T, hw_model_config(m)->vocab_size);
            hw_batch b = {tokens, targets, B, T};
            if (hw_trainer_step(t, &b, &loss) != HW_OK) {
                loss = NAN;
                break;
            }
        }
    if (save && hw_trainer_save(t, save) != HW_OK) loss = NAN;
    hw_trainer_free(t);
    return loss;
}

static void test_resume_equals_straight(void) {
    hw_config c = organism_cfg();
    hw_train_params p = hw_train_params_default();
    p.lr = 3e-3f, p.warmup = 4, p.steps = 24, p.seed = 5;
    char *dir = hf_tempdir();
    CHECK(dir != NULL, "no temporary folder");
    if (!dir) return;
    const char *ck = hf_path(dir, "train.ckpt");
    hw_model *a = hw_model_new_random(&c, 11);
    float la = train_steps(a, &p, 0, 24, NULL, NULL);
    /* Half, save, a new model (other seed: the checkpoint must bring the weights) and
     * a new trainer, resume, the other half. */
    hw_model *b = hw_model_new_random(&c, 11);
    float lb1 = train_steps(b, &p, 0, 12, NULL, ck);
    hw_model_free(b);
    b = hw_model_new_random(&c, 99);
    float lb = train_steps(b, &p, 12, 12, ck, NULL);
    CHECK(la == la && lb1 == lb1 && lb == lb, "training failed: %s", hw_last_error());
    int64_t n = hw_param_total(&c);
    CHECK(memcmp(hw_model_param(a, 0), hw_model_param(b, 0), (size_t)n * sizeof(float)) == 0,
          "resumed weights differ from the straight run's by %g",
          max_abs_diff(hw_model_param(a, 0), hw_model_param(b, 0), (size_t)n));
    CHECK(la == lb, "last losses %.9g vs %.9g", la, lb);

    /* A wrong model, a damaged file and a truncated one are refused, changing nothing. */
    hw_config other = c;
    other.d_model = 40;
    hw_model *o = hw_model_new_random(&other, 1);
    hw_trainer *t = hw_trainer_new(o, &p);
    CHECK(t && hw_trainer_resume(t, ck) == HW_ERR_ARG, "another model's checkpoint: %s", hw_last_error());
    hw_trainer_free(t);
    hw_model_free(o);
    FILE *f = fopen(ck, "r+b");
    if (f) {
        fseek(f, 300, SEEK_SET);
        fputc(0x5a, f);
        fclose(f);
    }
    t = hw_trainer_new(b, &p);
    CHECK(t && hw_trainer_resume(t, ck) == HW_ERR_FORMAT && hw_trainer_steps_done(t) == 0,
          "a damaged checkpoint: %s", hw_last_error());
    CHECK(t && hw_trainer_resume(t, hf_path(dir, "missing")) == HW_ERR_IO, "missing file");
    CHECK(t && truncate(ck, 200) == 0 && hw_trainer_resume(t, ck) == HW_ERR_FORMAT,
          "a truncated checkpoint: %s", hw_last_error());
    hw_trainer_free(t);
    hw_model_free(a);
    hw_model_free(b);
    hf_rmdir(dir);
}

static void test_training_learns(void) {
    hw_config c = organism_cfg();
    hw_model *m = hw_model_new_random(&c, 3);
    hw_train_params p = hw_train_params_default();
    p.lr = 1e-2f, p.warmup = 10, p.steps = 150, p.seed = 1;
    float first = train_steps(m, &p, 0, 1, NULL, NULL);
    hw_model_free(m);
    m = hw_model_new_random(&c, 3);
    float last = train_steps(m, &p, 0, 150, NULL, NULL);
    printf("  previous-token task: loss %.3f at step 1, %.3f at step 150 (ln V = %.3f)\n",
           first, last, log(c.vocab_size));
    CHECK(fabsf(first - logf((float)c.vocab_size)) < 0.2f, "initial loss %g", first);
    CHECK(last < 0.25f * first, "loss %g after 150 steps (first %g)", last, first);
    hw_model_free(m);
}

/* The gates' gradient with the model frozen equals the one computed with the weights';
 * no weight gradient then; 1 thread gives what 2 threads give. */
static void test_frozen_and_threads(void) {
    hw_config c = organism_cfg();
    c.d_ff = 24;
    hw_model *m = hw_model_new_random(&c, 4);
    sharpen(m);
    enum { B = 4, T = 12 };
    int tokens[B * T], targets[B * T];
    step_batch(2, 0, tokens, targets, B, T, c.vocab_size);
    hw_batch b = {tokens, targets, B, T};
    float gates[8];
    for (int i = 0; i < c.n_layer * c.n_head; i++) gates[i] = 0.25f * (float)(i + 1);
    hw_grad *g = hw_grad_new(m);
    hw_grad_set_gates(g, gates);
    hw_grad_want(g, HW_HOOK_Z, -1);
    float l1, l2, gg[8], *gw = malloc((size_t)hw_param_total(&c) * sizeof(float));
    hw_set_threads(2);
    CHECK(hw_grad_compute(g, &b, HW_GRAD_WEIGHTS | HW_GRAD_GATES, &l1) == HW_OK, "%s", hw_last_error());
    memcpy(gg, hw_grad_gates(g), sizeof gg);
    memcpy(gw, hw_grad_weights(g), (size_t)hw_param_total(&c) * sizeof(float));
    CHECK(hw_grad_compute(g, &b, HW_GRAD_GATES, &l2) == HW_OK, "%s", hw_last_error());
    CHECK(hw_grad_weights(g) == NULL && memcmp(gg, hw_grad_gates(g), sizeof gg) == 0 && l1 == l2,
          "frozen model: gate gradients differ");
    hw_set_threads(1);
    CHECK(hw_grad_compute(g, &b, HW_GRAD_WEIGHTS | HW_GRAD_GATES, &l2) == HW_OK, "%s", hw_last_error());
    double e = rel_err(hw_grad_weights(g), gw, (size_t)hw_param_total(&c));
    CHECK(l1 == l2 && e <= 1e-6 && memcmp(gg, hw_grad_gates(g), sizeof gg) == 0,
          "1 thread vs 2: loss %.9g vs %.9g, weights %g", l2, l1, e);
    printf("  1 thread vs 2: loss %s, weight gradients within %.1e\n", l1 == l2 ? "equal" : "differs", e);
    hw_set_threads(0);
    free(gw);
    hw_grad_free(g);
    hw_model_free(m);
}

/* Head dropout: the gates are a pure function of (seed, step, layer, head) at the asked
 * rate, only in the chosen layers and from the chosen step; a dropped head's weights get no gradient for that
 * step; a resumed run with dropout still equals a straight one. */
static void test_head_dropout(void) {
    hw_train_params p = hw_train_params_default();
    p.seed = 7, p.head_dropout = 0.3f, p.head_dropout_layers = 1u << 1;
    enum { L = 3, H = 4, STEPS = 4000 };
    float g[L * H], g2[L * H];
    long dropped[L] = {0}, differ = 0;
    for (int k = 0; k < STEPS; k++) {
        hw_train_head_gates(&p, k, L, H, g);
        hw_train_head_gates(&p, k, L, H, g2);
        differ += memcmp(g, g2, sizeof g) != 0;
        for (int i = 0; i < L * H; i++) dropped[i / H] += g[i] == 0.0f, differ += g[i] != 0.0f && g[i] != 1.0f;
    }
    double rate = (double)dropped[1] / (STEPS * H);
    printf("  head dropout 0.3 on layer 1: %.4f of its heads dropped, %ld and %ld elsewhere\n", rate, dropped[0],
           dropped[2]);
    CHECK(differ == 0 && dropped[0] == 0 && dropped[2] == 0 && fabs(rate - 0.3) < 0.02,
          "gates: rate %g, %ld/%ld dropped outside layer 1, %ld not repeatable or not 0/1", rate, dropped[0],
          dropped[2], differ);
    long other = 0; /* another seed, other gates */
    for (int k = 0; k < 100; k++) {
        p.seed = 7;
        hw_train_head_gates(&p, k, L, H, g);
        p.seed = 8;
        hw_train_head_gates(&p, k, L, H, g2);
        other += memcmp(g, g2, sizeof g) != 0;
    }
    CHECK(other > 60, "seeds 7 and 8 draw the same gates at %ld of 100 steps", 100 - other);
    p.seed = 7, p.head_dropout_layers = 0; /* every layer */
    long all = 0;
    for (int k = 0; k < 200; k++) {
        hw_train_head_gates(&p, k, L, H, g);
        for (int i = 0; i < H; i++) all += g[i] == 0.0f;
    }
    CHECK(all > 150 && all < 330, "layers 0 (all): %ld of 800 layer-0 gates dropped", all);
    p.head_dropout_from = 100; /* none before step 100, the same draws from it on */
    long before = 0, after = 0;
    for (int k = 0; k < 200; k++) {
        hw_train_head_gates(&p, k, L, H, g);
        for (int i = 0; i < H; i++) *(k < 100 ? &before : &after) += g[i] == 0.0f;
    }
    CHECK(before == 0 && after > 60 && after < 180, "from step 100: %ld dropped before, %ld of 400 after", before,
          after);
    p.head_dropout_from = 0;
    p.head_dropout = 0;
    hw_train_head_gates(&p, 5, L, H, g);
    int ones = 1;
    for (int i = 0; i < L * H; i++) ones &= g[i] == 1.0f;
    CHECK(ones, "dropout 0 drops a head");

    /* One step from a fresh model: a dropped layer-1 head's V rows and O columns stay put
     * (weight decay off), a kept head's move; layer 0 moves. */
    hw_config c = organism_cfg();
    p = hw_train_params_default();
    p.weight_decay = 0, p.warmup = 1, p.steps = 4, p.lr = 1e-2f, p.head_dropout = 0.5f, p.head_dropout_layers = 2;
    int Hn = c.n_head, mixed = 0;
    float gates[2 * 16];
    for (p.seed = 1; p.seed < 100 && !mixed; p.seed++) {
        hw_train_head_gates(&p, 0, c.n_layer, Hn, gates);
        int kept = 0;
        for (int h = 0; h < Hn; h++) kept += gates[Hn + h] == 1.0f;
        mixed = kept > 0 && kept < Hn;
    }
    p.seed--;
    CHECK(mixed, "no seed below 100 drops some but not all of layer 1's heads at step 0");
    hw_model *m = hw_model_new_random(&c, 3), *ref = hw_model_new_random(&c, 3);
    float loss = train_steps(m, &p, 0, 1, NULL, NULL);
    CHECK(loss == loss, "training with head dropout: %s", hw_last_error());
    int wrong = 0, moved0 = 0;
    const int D = c.d_model, Dh = c.head_dim;
    for (int i = 0; i < hw_param_count(&c); i++) {
        hw_param pr;
        hw_param_get(&c, i, &pr);
        const float *a = hw_model_param(m, i), *b = hw_model_param(ref, i);
        int v = !strcmp(pr.name, "layers.1.wv"), o = !strcmp(pr.name, "layers.1.wo");
        if (pr.layer == 0) moved0 |= memcmp(a, b, (size_t)pr.size * sizeof(float)) != 0;
        for (int h = 0; (v || o) && h < Hn; h++) {
            int moved = 0;
            for (int r = 0; r < (v ? Dh : D); r++)
                for (int k = 0; k < (v ? D : Dh); k++) {
                    size_t at = v ? (size_t)(h * Dh + r) * D + k : (size_t)r * (Hn * Dh) + h * Dh + k;
                    moved |= a[at] != b[at];
                }
            wrong += moved != (gates[Hn + h] == 1.0f);
        }
    }
    CHECK(wrong == 0 && moved0, "%d layer-1 heads moved against their gate (layer 0 moved: %d)", wrong, moved0);
    hw_model_free(m);
    hw_model_free(ref);

    /* Resume with dropout: 3 steps, save, a fresh trainer resumes for 3 more = 6 straight;
     * and the dropout changed the run. */
    char *dir = hf_tempdir();
    CHECK(dir != NULL, "no temporary folder");
    if (!dir) return;
    const char *ck = hf_path(dir, "drop.ckpt");
    p.steps = 6, p.weight_decay = 0.1f;
    hw_model *a = hw_model_new_random(&c, 11), *b = hw_model_new_random(&c, 11), *n = hw_model_new_random(&c, 11);
    float la = train_steps(a, &p, 0, 6, NULL, NULL);
    float lb = train_steps(b, &p, 0, 3, NULL, ck);
    lb = lb == lb ? train_steps(b, &p, 3, 3, ck, NULL) : lb;
    hw_train_params plain = p;
    plain.head_dropout = 0;
    float ln = train_steps(n, &plain, 0, 6, NULL, NULL);
    int64_t total = hw_param_total(&c);
    CHECK(la == la && lb == lb && ln == ln, "training failed: %s", hw_last_error());
    CHECK(la == lb && memcmp(hw_model_param(a, 0), hw_model_param(b, 0), (size_t)total * sizeof(float)) == 0,
          "with head dropout, resumed weights differ from the straight run's by %g",
          max_abs_diff(hw_model_param(a, 0), hw_model_param(b, 0), (size_t)total));
    CHECK(memcmp(hw_model_param(a, 0), hw_model_param(n, 0), (size_t)total * sizeof(float)) != 0,
          "head dropout changed nothing");
    p.head_dropout = 1.0f;
    CHECK(hw_trainer_new(a, &p) == NULL, "head dropout 1 accepted");
    hw_model_free(a);
    hw_model_free(b);
    hw_model_free(n);
    hf_rmdir(dir);
}

/* A trained organism written as a Hugging Face folder loads back with the same logits. */
static void test_trained_model_saves(void) {
    hw_config c = organism_cfg();
    hw_model *m = hw_model_new_random(&c, 21);
    hw_train_params p = hw_train_params_default();
    p.warmup = 2, p.steps = 6, p.lr = 1e-2f;
    float loss = train_steps(m, &p, 0, 6, NULL, NULL);
    CHECK(loss == loss, "training: %s", hw_last_error());
    char *dir = hf_tempdir();
    CHECK(dir && hw_model_save_hf(m, dir) == HW_OK, "save: %s", hw_last_error());
    hw_model *back = dir ? hw_model_load(dir) : NULL;
    CHECK(back != NULL, "load: %s", hw_last_error());
    if (back) {
        int ids[12] = {1, 5, 9, 2, 7, 7, 3, 11, 4, 0, 8, 6};
        float a[12 * 24], b[12 * 24];
        hw_context *ca = hw_context_new(m, 12), *cb = hw_context_new(back, 12);
        CHECK(ca && cb && hw_forward(ca, ids, 12, HW_LOGITS_ALL, a) == HW_OK &&
                  hw_forward(cb, ids, 12, HW_LOGITS_ALL, b) == HW_OK,
              "%s", hw_last_error());
        CHECK(max_abs_diff(a, b, 12 * 24) <= 1e-5f, "logits after save and load differ by %g",
              max_abs_diff(a, b, 12 * 24));
        hw_context_free(ca);
        hw_context_free(cb);
    }
    hw_model_free(back);
    hw_model_free(m);
    if (dir) hf_rmdir(dir);
}

static void test_bad_input(void) {
    hw_config c = organism_cfg();
    hw_model *m = hw_model_new_random(&c, 4);
    hw_grad *g = hw_grad_new(m);
    int tokens[4] = {1, 2, 3, 24}, targets[4] = {2, 3, -1, 1};
    hw_batch b = {tokens, targets, 1, 4};
    CHECK(hw_grad_compute(g, &b, HW_GRAD_WEIGHTS, NULL) == HW_ERR_ARG, "token 24 of 24");
    tokens[3] = 0, targets[0] = -2;
    CHECK(hw_grad_compute(g, &b, HW_GRAD_WEIGHTS, NULL) == HW_ERR_ARG, "target -2");
    targets[0] = 2;
    CHECK(hw_grad_compute(g, &b, HW_GRAD_WEIGHTS, NULL) == HW_OK, "%s", hw_last_error());
    CHECK(hw_grad_want(g, HW_HOOK_MLP_OUT, 0) == HW_ERR_UNSUPPORTED, "attention-only has no MLP");
    CHECK(hw_grad_want(g, HW_HOOK_RESULT, 0) == HW_ERR_UNSUPPORTED, "no hook_result gradient");
    CHECK(hw_grad_want(g, HW_HOOK_Z, 2) == HW_ERR_ARG, "layer 2 of 2");
    hw_train_params p = hw_train_params_default();
    p.lr = -1;
    CHECK(hw_trainer_new(m, &p) == NULL, "negative lr");
    hw_config bad = c;
    bad.n_kv_head = 3;
    CHECK(hw_model_new_random(&bad, 1) == NULL && strstr(hw_last_error(), "multiple"), "4 heads, 3 KV heads");
    hw_grad_free(g);
    hw_model_free(m);
    /* A loaded (mmap'd) model has gradients but cannot be trained in place. */
    hw_model *s = hw_model_load(shared_path("models/stories260K/stories260K.bin"));
    if (s) {
        p = hw_train_params_default();
        CHECK(hw_trainer_new(s, &p) == NULL && strstr(hw_last_error(), "own arena"), "mmap'd model");
        hw_grad *gs = hw_grad_new(s);
        int tk[3] = {1, 400, 401}, tg[3] = {400, 401, 402};
        hw_batch bs = {tk, tg, 1, 3};
        float loss = 0;
        CHECK(gs && hw_grad_compute(gs, &bs, HW_GRAD_WEIGHTS, &loss) == HW_OK && loss > 0,
              "gradients of a loaded model: %s", hw_last_error());
        hw_grad_free(gs);
        hw_model_free(s);
    }
}

/* ---------------------------------------------------------------- reference cases */

static const char *act_names[] = {"hook_embed", "hook_pos_embed", "hook_resid_pre", "hook_q",
                                  "hook_k", "hook_v", "hook_rot_q", "hook_rot_k",
                                  "hook_attn_scores", "hook_pattern", "hook_z", "hook_result",
                                  "hook_attn_out", "hook_resid_mid", "hook_mlp_post",
                                  "hook_mlp_out", "hook_resid_post", "hook_ln_final",
                                  "hook_logits"};

/* Does this config have a gradient at point p (the list grad_ref.py writes)? */
static int ref_point(const hw_config *c, hw_hook_point p) {
    if (p == HW_HOOK_RESULT) return 0;
    if ((p == HW_HOOK_MLP_POST || p == HW_HOOK_MLP_OUT) && c->d_ff == 0) return 0;
    if (p == HW_HOOK_RESID_MID && (c->d_ff == 0 || c->parallel_residual)) return 0;
    if ((p == HW_HOOK_ROT_Q || p == HW_HOOK_ROT_K) && c->pos != HW_POS_ROTARY) return 0;
    if (p == HW_HOOK_POS_EMBED && c->pos != HW_POS_LEARNED) return 0;
    return 1;
}

static int write_cases(const char *dir) {
    family fam[16];
    int nf = families(fam);
    for (int f = 0; f < nf; f++) {
        hw_config c = fam[f].cfg;
        char folder[512], path[600];
        snprintf(folder, sizeof folder, "%s/%s", dir, fam[f].name);
        mkdir(folder, 0755);
        hw_model *m = hw_model_new_random(&c, 500 + f);
        if (!m) return 1;
        sharpen(m);
        const int B = 2, T = 37, N = B * T, L = c.n_layer, H = c.n_head; /* two query blocks */
        int tokens[74], targets[74];
        float gates[64];
        random_batch(tokens, targets, N, c.vocab_size, 1);
        for (int i = 0; i < L * H; i++) gates[i] = (float)(0.5 + urand());
        FILE *fc = fopen(hf_path(folder, "config.txt"), "w");
        if (!fc) return 1;
        fprintf(fc,
                "arch %s\nn_layer %d\nd_model %d\nn_head %d\nn_kv_head %d\nhead_dim %d\n"
                "d_ff %d\nvocab_size %d\nn_ctx %d\nnorm %s\nnorm_eps %.9g\npos %s\n"
                "rope_layout %s\nrope_theta %.9g\nrotary_frac %.9g\nrope_scaling %d\n"
                "rope_factor %.9g\nrope_low %.9g\nrope_high %.9g\nrope_orig_ctx %d\nact %d\n"
                "parallel_residual %d\nsliding_window %d\nsliding_window_from %d\ntied %d\n"
                "B %d\nT %d\n",
                c.arch, c.n_layer, c.d_model, c.n_head, c.n_kv_head, c.head_dim, c.d_ff,
                c.vocab_size, c.n_ctx, c.norm == HW_NORM_RMS ? "rms" : "layer", c.norm_eps,
                c.pos == HW_POS_ROTARY ? "rotary" : "learned",
                c.rope_layout == HW_ROPE_HALVES ? "halves" : "interleaved", c.rope_theta,
                c.rotary_frac, (int)c.rope_scaling, c.rope_factor, c.rope_low_freq_factor,
                c.rope_high_freq_factor, c.rope_orig_ctx, (int)c.act, c.parallel_residual,
                c.sliding_window, c.sliding_window_from, c.tied_embeddings, B, T);
        fclose(fc);
        FILE *fl = fopen(hf_path(folder, "layout.txt"), "w");
        if (!fl) return 1;
        for (int i = 0; i < hw_param_count(&c); i++) {
            hw_param p;
            hw_param_get(&c, i, &p);
            fprintf(fl, "%s %lld %d %d\n", p.name, (long long)p.offset, p.shape[0],
                    p.ndim == 2 ? p.shape[1] : 0);
        }
        fclose(fl);
        snprintf(path, sizeof path, "%s/params.f32", folder);
        hf_write(path, hw_model_param(m, 0), (size_t)hw_param_total(&c) * sizeof(float));
        hf_write(hf_path(folder, "tokens.i32"), tokens, sizeof tokens);
        hf_write(hf_path(folder, "targets.i32"), targets, sizeof targets);
        hf_write(hf_path(folder, "gates.f32"), gates, (size_t)L * H * sizeof(float));
        hw_model_free(m);
        printf("%s\n", folder);
    }
    return 0;
}

static float *read_f32(const char *path, size_t n) {
    FILE *f = fopen(path, "rb");
    float *d = malloc(n * sizeof(float) + 1);
    size_t got = f ? fread(d, sizeof(float), n + 1, f) : 0;
    if (f) fclose(f);
    if (got != n) {
        fprintf(stderr, "  %s: %zu floats, want %zu\n", path, got, n);
        free(d);
        return NULL;
    }
    return d;
}

/* Rebuild the model of a case folder from its config and parameters. */
static hw_model *load_case(const char *folder, hw_config *c, int *B, int *T) {
    family fam[16];
    int nf = families(fam);
    const char *name = strrchr(folder, '/') ? strrchr(folder, '/') + 1 : folder;
    for (int f = 0; f < nf; f++)
        if (strcmp(fam[f].name, name) == 0) *c = fam[f].cfg;
    FILE *fc = fopen(hf_path(folder, "config.txt"), "r");
    char key[64];
    int val = 0;
    *B = *T = 0;
    while (fc && fscanf(fc, "%63s", key) == 1) {
        if (strcmp(key, "B") == 0 && fscanf(fc, "%d", &val) == 1) *B = val;
        else if (strcmp(key, "T") == 0 && fscanf(fc, "%d", &val) == 1) *T = val;
        else if (fscanf(fc, "%*s") != 0) break;
    }
    if (fc) fclose(fc);
    if (!*B || !c->n_layer) return NULL;
    hw_model *m = hw_model_new_random(c, 1);
    float *p = m ? read_f32(hf_path(folder, "params.f32"), (size_t)hw_param_total(c)) : NULL;
    if (!p) {
        hw_model_free(m);
        return NULL;
    }
    memcpy((float *)hw_model_param(m, 0), p, (size_t)hw_param_total(c) * sizeof(float));
    free(p);
    return m;
}

static void compare_case(const char *folder) {
    hw_config c;
    int B, T;
    hw_model *m = load_case(folder, &c, &B, &T);
    CHECK(m != NULL, "%s: cannot rebuild the case", folder);
    if (!m) return;
    const int N = B * T, L = c.n_layer, H = c.n_head;
    int tokens[1024], targets[1024];
    FILE *f1 = fopen(hf_path(folder, "tokens.i32"), "rb"), *f2 = fopen(hf_path(folder, "targets.i32"), "rb");
    CHECK(f1 && f2 && fread(tokens, 4, N, f1) == (size_t)N && fread(targets, 4, N, f2) == (size_t)N,
          "%s: tokens", folder);
    if (f1) fclose(f1);
    if (f2) fclose(f2);
    float *gates = read_f32(hf_path(folder, "gates.f32"), (size_t)L * H);
    float *ref_loss = read_f32(hf_path(folder, "ref_loss.f32"), 1);
    float *ref_w = read_f32(hf_path(folder, "ref_params.f32"), (size_t)hw_param_total(&c));
    float *ref_g = read_f32(hf_path(folder, "ref_gates.f32"), (size_t)L * H);
    CHECK(gates && ref_loss && ref_w && ref_g, "%s: reference files missing", folder);
    hw_grad *g = hw_grad_new(m);
    for (int p = 0; p < HW_HOOK_COUNT; p++)
        if (ref_point(&c, (hw_hook_point)p)) CHECK(hw_grad_want(g, (hw_hook_point)p, -1) == HW_OK, "%s", hw_last_error());
    hw_batch b = {tokens, targets, B, T};
    float loss = 0;
    if (gates) hw_grad_set_gates(g, gates);
    CHECK(hw_grad_compute(g, &b, HW_GRAD_WEIGHTS | HW_GRAD_GATES, &loss) == HW_OK, "%s",
          hw_last_error());
    double worst = 0;
    char worst_name[160] = "";
    if (ref_loss) CHECK(fabs(loss - ref_loss[0]) <= 1e-5 * (1 + fabs(ref_loss[0])), "%s: loss %.8g vs %.8g", folder, loss, ref_loss[0]);
    /* A tensor whose gradient vanishes (a key bias: softmax ignores a shift of all
     * scores) is compared relative to 1e-3 of the whole gradient's norm. */
    double floor = 0, all = 0;
    for (int64_t i = 0; ref_w && i < hw_param_total(&c); i++) all += (double)ref_w[i] * ref_w[i];
    floor = 1e-3 * sqrt(all);
    for (int i = 0; ref_w && i < hw_param_count(&c); i++) {
        hw_param p;
        hw_param_get(&c, i, &p);
        double e = rel_err(hw_grad_weights(g) + p.offset, ref_w + p.offset, (size_t)p.size);
        double own = 0;
        for (int64_t j = 0; j < p.size; j++) own += (double)ref_w[p.offset + j] * ref_w[p.offset + j];
        if (sqrt(own) < floor) e *= sqrt(own) / floor;
        if (e > worst) worst = e, snprintf(worst_name, sizeof worst_name, "%s", p.name);
    }
    double eg = ref_g ? rel_err(hw_grad_gates(g), ref_g, (size_t)L * H) : INFINITY;
    if (eg > worst) worst = eg, snprintf(worst_name, sizeof worst_name, "gates");
    int n_act = 0;
    for (int p = 0; p < HW_HOOK_COUNT; p++) {
        if (!ref_point(&c, (hw_hook_point)p)) continue;
        int global = p == HW_HOOK_EMBED || p == HW_HOOK_POS_EMBED || p == HW_HOOK_LN_FINAL ||
                     p == HW_HOOK_LOGITS;
        for (int l = global ? -1 : 0; l < (global ? 0 : L); l++) {
            int nd, shape[4];
            const float *d = hw_grad_activation(g, (hw_hook_point)p, l, &nd, shape);
            size_t n = 1;
            for (int k = 0; k < nd; k++) n *= (size_t)shape[k];
            char file[128];
            snprintf(file, sizeof file, "act_%s_%d.f32", act_names[p], l);
            float *ref = read_f32(hf_path(folder, file), n);
            CHECK(d && ref, "%s: %s", folder, file);
            if (d && ref) {
                double e = rel_err(d, ref, n);
                n_act++;
                if (e > worst) worst = e, snprintf(worst_name, sizeof worst_name, "%s", file);
            }
            free(ref);
        }
    }
    printf("  %s: worst relative error %.2e (%s), %d tensors, %d activations, gates %.2e\n",
           strrchr(folder, '/') + 1, worst, worst_name, hw_param_count(&c), n_act, eg);
    CHECK(worst <= TOL_REF && n_act >= 10, "%s: relative error %g in %s", folder, worst, worst_name);
    free(gates);
    free(ref_loss);
    free(ref_w);
    free(ref_g);
    hw_grad_free(g);
    hw_model_free(m);
}

static char **compare_dirs;
static int n_compare_dirs;
static void test_against_pytorch(void) {
    CHECK(n_compare_dirs >= 7, "%d reference cases, want every family", n_compare_dirs);
    for (int i = 0; i < n_compare_dirs; i++) compare_case(compare_dirs[i]);
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--write") == 0) return write_cases(argv[2]);
    if (argc >= 2 && strcmp(argv[1], "--compare") == 0) {
        compare_dirs = argv + 2;
        n_compare_dirs = argc - 2;
        RUN(test_against_pytorch);
        CHECK_DONE();
    }
    RUN(test_forward_matches_inference);
    RUN(test_finite_differences);
    RUN(test_schedule);
    RUN(test_resume_equals_straight);
    RUN(test_head_dropout);
    RUN(test_training_learns);
    RUN(test_frozen_and_threads);
    RUN(test_trained_model_saves);
    RUN(test_bad_input);
    CHECK_DONE();
}

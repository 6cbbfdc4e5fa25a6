/*
 * test_grad.c: gradients and training (src/train/).
 *
 *   test_grad                 training forward = hw_forward on every family; central
 *                             finite differences on a tiny model (weights, an activation,
 *                             a gate); a run killed halfway and resumed = one straight run;
 *                             1 thread = 2 threads; bad batches fail cleanly
 *   test_grad --write DIR     random "sharp" models of every family with a batch and
 *                             gates, for tests/grad_ref.py (PyTorch autograd)
 *   test_grad --compare DIR   our gradients against grad_ref.py's (relative error <= 1e-4)
 */
#include "check.h"
#include "hf_files.h"
#include "train/train.h"

#include <stdint.h>

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
    c.n_ctx = 32;
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
static void sharpen(hw_model *m) {
    const hw_config *c = hw_model_config(m);
    for (int i = 0; i < hw_param_count(c); i++) {
        hw_param p;
        hw_param_get(c, i, &p);
        float *d = (float *)hw_model_param(m, i);
        int qk = strstr(p.name, ".wq") || strstr(p.name, ".wk");
        int norm = strstr(p.name, "norm") && !strstr(p.name, "norm_b");
        for (int64_t j = 0; j < p.size; j++) {
            double r = nrand();
            if (p.ndim == 2 && strstr(p.name, "embed")) d[j] = (float)(0.5 * r);
            else if (p.ndim == 2) d[j] = (float)(r * (qk ? 2.4 : 0.8) / sqrt(p.shape[1]));
            else d[j] = (float)(norm ? 1 + 0.1 * r : 0.2 * r);
        }
    }
}

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
        const int B = 3, T = 11, V = fam[f].cfg.vocab_size;
        int tokens[33], targets[33];
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
            for (int i = 0; i < T * V; i++) {
                double d = fabs(got[i] - want[i]) / (1 + fabs(want[i]));
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
 * so the step is large (1e-2) and the tolerance 2e-2 of the gradient's scale. */
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
        sharpen(m);
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
        const double h = 1e-2;
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
        const int B = 2, T = 9, N = B * T, L = c.n_layer, H = c.n_head;
        int tokens[18], targets[18];
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
    CHECK_DONE();
}

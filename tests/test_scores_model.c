/* test_scores_model.c: the weight-based head scores against the engine on the real
 * stories260K model (GQA: 8 query heads read 4 KV heads): a head's OV logits from
 * hw_ov_logits equal the unembedding of that head's captured hook_result on a
 * one-token run, and the whole-block-0 effective embedding equals the captured
 * residual stream after block 0. */
#include "check.h"
#include "headwise.h"
#include "internal.h"

static hw_model *model;

/* One token at position 0 with captures of resid_pre, result and resid_post. */
static hw_capture *run_one(int token) {
    hw_capture *cap = hw_capture_new();
    hw_hooks *h = hw_hooks_new();
    hw_context *c = hw_context_new(model, 8);
    hw_capture_want(cap, HW_HOOK_RESID_PRE, -1);
    hw_capture_want(cap, HW_HOOK_RESULT, -1);
    hw_capture_want(cap, HW_HOOK_RESID_POST, 0);
    hw_hooks_add_capture(h, cap);
    hw_status s = hw_forward_hooked(c, &token, 1, HW_LOGITS_NONE, NULL, h);
    CHECK(s == HW_OK, "forward: %s", hw_last_error());
    hw_hooks_free(h);
    hw_context_free(c);
    return cap;
}

static void ov_logits_equal_unembedded_head_results(void) {
    const hw_config *cfg = hw_model_config(model);
    const int D = cfg->d_model, V = cfg->vocab_size, H = cfg->n_head;
    int *all = malloc(sizeof(int) * (size_t)V);
    float *e = malloc(sizeof(float) * (size_t)D), *got = malloc(sizeof(float) * (size_t)V);
    for (int v = 0; v < V; v++) all[v] = v;
    int tokens[] = {1, 300, 411};
    double worst = 0, scale = 0;
    for (size_t k = 0; k < sizeof tokens / sizeof *tokens; k++) {
        hw_capture *cap = run_one(tokens[k]);
        for (int l = 0; l < cfg->n_layer; l++) {
            /* The head's input: the attention norm of the residual before layer l. */
            const float *x = hw_capture_find(cap, HW_HOOK_RESID_PRE, l, 0)->data;
            hw_rmsnorm(e, x, model->w.layers[l].attn_norm, 1, D, cfg->norm_eps);
            const float *res = hw_capture_find(cap, HW_HOOK_RESULT, l, 0)->data; /* (1, H, D) */
            for (int h = 0; h < H; h++) {
                CHECK(hw_ov_logits(model, l, h, e, 1, all, V, got) == HW_OK, "%s", hw_last_error());
                for (int v = 0; v < V; v++) {
                    double want = 0;
                    for (int d = 0; d < D; d++)
                        want += (double)model->w.classifier.f32[(size_t)v * D + d] * res[(size_t)h * D + d];
                    worst = fmax(worst, fabs(want - got[v]));
                    scale = fmax(scale, fabs(want));
                }
            }
        }
        hw_capture_free(cap);
    }
    CHECK(worst <= 1e-4 * scale, "OV logits differ from the unembedded hook_result by %g (scale %g)",
          worst, scale);
    CHECK(hw_ov_logits(model, cfg->n_layer, 0, e, 1, all, V, got) == HW_ERR_ARG, "layer range");
    CHECK(hw_ov_logits(model, 0, 0, e, 1, (int[]){V}, 1, got) == HW_ERR_ARG, "token range");
    free(all);
    free(e);
    free(got);
}

static void block0_embedding_equals_resid_post(void) {
    const hw_config *cfg = hw_model_config(model);
    const int D = cfg->d_model;
    int tokens[] = {1, 5, 259, 300, 511};
    enum { N = 5 };
    float *e = malloc(sizeof(float) * (size_t)N * D), *m0 = malloc(sizeof(float) * (size_t)N * D);
    CHECK(hw_effective_embedding(model, tokens, N, 1, e) == HW_OK, "%s", hw_last_error());
    CHECK(hw_effective_embedding(model, tokens, N, 0, m0) == HW_OK, "%s", hw_last_error());
    for (int k = 0; k < N; k++) {
        hw_capture *cap = run_one(tokens[k]);
        const float *want = hw_capture_find(cap, HW_HOOK_RESID_POST, 0, 0)->data;
        float d = max_abs_diff(e + (size_t)k * D, want, (size_t)D);
        CHECK(d < 1e-5f, "token %d: block-0 embedding differs from resid_post by %g", tokens[k], d);
        /* MLP0(W_E) is a different thing: not the residual, not W_E. */
        CHECK(max_abs_diff(m0 + (size_t)k * D, want, (size_t)D) > 1e-3f &&
                  max_abs_diff(m0 + (size_t)k * D, model->w.tok_embed + (size_t)tokens[k] * D, (size_t)D) > 1e-3f,
              "token %d: MLP0(W_E) should differ from both", tokens[k]);
        hw_capture_free(cap);
    }
    CHECK(hw_effective_embedding(model, (int[]){cfg->vocab_size}, 1, 0, e) == HW_ERR_ARG, "range");
    CHECK(hw_effective_embedding(model, tokens, 1, 2, e) == HW_ERR_ARG, "mode");
    free(e);
    free(m0);
}

static void logit_direction_reproduces_logits(void) {
    /* dir(t) . (final residual) with the norm held = the logit of t (RMSNorm, no bias). */
    const hw_config *cfg = hw_model_config(model);
    const int D = cfg->d_model, V = cfg->vocab_size;
    int toks[] = {1, 403, 407, 261, 300};
    hw_capture *cap = hw_capture_new();
    hw_hooks *h = hw_hooks_new();
    hw_context *c = hw_context_new(model, 0);
    float *logits = malloc(sizeof(float) * (size_t)V), *dir = malloc(sizeof(float) * (size_t)D);
    hw_capture_want(cap, HW_HOOK_RESID_POST, cfg->n_layer - 1);
    hw_hooks_add_capture(h, cap);
    CHECK(hw_forward_hooked(c, toks, 5, HW_LOGITS_LAST, logits, h) == HW_OK, "forward");
    const float *x = hw_capture_find(cap, HW_HOOK_RESID_POST, cfg->n_layer - 1, 0)->data + 4 * D;
    double worst = 0;
    for (int t = 0; t < V; t += 7) {
        int other = (t + 1) % V;
        hw_logit_direction(model, &t, 1, &other, 1, x, dir);
        double s = 0;
        for (int d = 0; d < D; d++) s += (double)dir[d] * x[d];
        worst = fmax(worst, fabs(s - (logits[t] - logits[other])));
    }
    CHECK(worst < 1e-4, "logit differences through the held direction off by %g", worst);
    CHECK(hw_logit_direction(model, NULL, 0, NULL, 0, NULL, dir) == HW_ERR_ARG, "no target");
    free(logits);
    free(dir);
    hw_context_free(c);
    hw_hooks_free(h);
    hw_capture_free(cap);
}

int main(void) {
    model = hw_model_load(shared_path("models/stories260K/stories260K.bin"));
    if (!model) {
        printf("FAIL load stories260K: %s\n", hw_last_error());
        return 1;
    }
    RUN(ov_logits_equal_unembedded_head_results);
    RUN(block0_embedding_equals_resid_post);
    RUN(logit_direction_reproduces_logits);
    hw_model_free(model);
    CHECK_DONE();
}

/*
 * test_logit_lens.c: hw_lens_run on stories260K: the last row with the norm recomputed is
 * the model's own logits (at the last position and at an earlier one); with the norm's
 * scale held fixed the rows are linear, so embedding + every attn_out + every mlp_out is
 * the final logits (RMSNorm: no bias), each layer's heads add up to its attn_out (no
 * output bias) and each head's row at the target is DLA's value for that head; the top
 * tokens and the target's rank agree with the logits; bad input is refused; the writers.
 */
#include "check.h"
#include "headwise.h"

#include <math.h>

static hw_model *model;
static hw_tokenizer *tok;
static const char *prompt = "Once upon a time, there was a little girl named Lily. She loved to play in the";

/* The row named name, or -1. */
static int row_of(const hw_lens_result *r, const char *name) {
    for (int i = 0; i < hw_lens_rows(r); i++)
        if (!strcmp(hw_lens_row_name(r, i), name)) return i;
    return -1;
}

/* The model's logits at position pos of ids (n tokens). */
static float *model_logits(const int *ids, int n, int pos) {
    const int V = hw_model_config(model)->vocab_size;
    hw_context *c = hw_context_new(model, 0);
    float *all = malloc(sizeof(float) * (size_t)n * V), *row = malloc(sizeof(float) * V);
    CHECK(c && all && row && hw_forward_hooked(c, ids, n, HW_LOGITS_ALL, all, NULL) == HW_OK, "forward");
    memcpy(row, all + (size_t)pos * V, sizeof(float) * V);
    hw_context_free(c);
    free(all);
    return row;
}

static void lens_last_row_is_the_models_logits(void) {
    const int V = hw_model_config(model)->vocab_size, L = hw_model_config(model)->n_layer;
    hw_lens_params p = hw_lens_params_default();
    p.prompt = prompt;
    hw_lens_result *r = NULL;
    CHECK(hw_lens_run(model, tok, &p, NULL, NULL, &r) == HW_OK, "%s", hw_last_error());
    if (!r) return;
    hw_lens_info in;
    hw_lens_get_info(r, &in);
    CHECK(hw_lens_rows(r) == L + 1, "%d rows", hw_lens_rows(r));
    CHECK(in.pos == in.n_tokens - 1 && in.tokens[0] == 1, "pos %d of %d", in.pos, in.n_tokens);
    CHECK(!strcmp(hw_lens_row_name(r, L), "resid_post.4") && !hw_lens_row_name(r, L + 1), "names");
    float *want = model_logits(in.tokens, in.n_tokens, in.n_tokens - 1);
    float d = max_abs_diff(hw_lens_logits(r) + (size_t)L * V, want, V);
    CHECK(d < 1e-4, "last row differs from the logits by %g", d);
    /* earlier layers are not the answer yet */
    CHECK(max_abs_diff(hw_lens_logits(r), want, V) > 1, "resid_pre.0 equals the logits");
    free(want);
    /* an earlier position, from token ids */
    hw_lens_params q = hw_lens_params_default();
    q.ids = in.tokens;
    q.n_ids = in.n_tokens;
    q.pos = 7;
    hw_lens_result *r2 = NULL;
    CHECK(hw_lens_run(model, NULL, &q, NULL, NULL, &r2) == HW_OK, "%s", hw_last_error());
    want = model_logits(in.tokens, in.n_tokens, 7);
    d = r2 ? max_abs_diff(hw_lens_logits(r2) + (size_t)L * V, want, V) : INFINITY;
    CHECK(d < 1e-4, "pos 7: last row differs from the logits by %g", d);
    free(want);
    hw_lens_free(r2);
    hw_lens_free(r);
}

static void lens_fixed_rows_add_up_and_match_dla(void) {
    const hw_config *cfg = hw_model_config(model);
    const int V = cfg->vocab_size, L = cfg->n_layer, H = cfg->n_head;
    hw_lens_params p = hw_lens_params_default();
    p.prompt = prompt;
    p.norm = HW_LENS_NORM_FIXED;
    p.components = 1;
    p.target = "park";
    hw_lens_result *r = NULL;
    CHECK(hw_lens_run(model, tok, &p, NULL, NULL, &r) == HW_OK, "%s", hw_last_error());
    if (!r) return;
    CHECK(hw_lens_rows(r) == L * (1 + H + 2) + 1, "%d rows", hw_lens_rows(r));
    const float *z = hw_lens_logits(r);
    hw_lens_info in;
    hw_lens_get_info(r, &in);
    float *sum = calloc((size_t)V, sizeof(float)), *heads = calloc((size_t)V, sizeof(float));
    int i0 = row_of(r, "resid_pre.0");
    for (int v = 0; v < V; v++) sum[v] = z[(size_t)i0 * V + v];
    double worst_heads = 0;
    for (int l = 0; l < L; l++) {
        char name[32];
        snprintf(name, sizeof name, "attn.%d", l);
        int ia = row_of(r, name);
        snprintf(name, sizeof name, "mlp.%d", l);
        int im = row_of(r, name);
        CHECK(ia >= 0 && im >= 0, "layer %d rows", l);
        memset(heads, 0, sizeof(float) * V);
        for (int h = 0; h < H; h++) {
            snprintf(name, sizeof name, "%d.%d", l, h);
            int ih = row_of(r, name);
            for (int v = 0; v < V; v++) heads[v] += z[(size_t)ih * V + v];
        }
        double dh = max_abs_diff(heads, z + (size_t)ia * V, V);
        if (dh > worst_heads) worst_heads = dh;
        for (int v = 0; v < V; v++) sum[v] += z[(size_t)ia * V + v] + z[(size_t)im * V + v];
    }
    CHECK(worst_heads < 1e-4, "a layer's heads differ from its attn_out by %g", worst_heads);
    float *want = model_logits(in.tokens, in.n_tokens, in.n_tokens - 1);
    float d = max_abs_diff(sum, want, V);
    CHECK(d < 2e-4, "embedding + attn_out + mlp_out differ from the logits by %g", d);
    /* the final residual through its own fixed scale is the recomputed norm (no bias) */
    d = max_abs_diff(z + (size_t)row_of(r, "resid_post.4") * V, want, V);
    CHECK(d < 1e-4, "resid_post (fixed) differs from the logits by %g", d);
    /* each head at the target is DLA's value */
    hw_dla_params dp = hw_dla_params_default();
    dp.prompt = prompt;
    dp.target = "park";
    hw_dla_result *dr = NULL;
    CHECK(hw_dla_run(model, tok, &dp, NULL, NULL, &dr) == HW_OK, "%s", hw_last_error());
    double worst = 0;
    for (int l = 0; dr && l < L; l++)
        for (int h = 0; h < H; h++) {
            char name[32];
            snprintf(name, sizeof name, "%d.%d", l, h);
            double e = fabs(hw_dla_heads(dr)[l * H + h] - z[(size_t)row_of(r, name) * V + in.target]);
            if (e > worst) worst = e;
        }
    CHECK(worst < 1e-4, "heads differ from DLA by %g", worst);
    hw_dla_free(dr);
    free(want);
    free(sum);
    free(heads);
    hw_lens_free(r);
}

static void lens_top_and_rank_agree_with_logits(void) {
    const int V = hw_model_config(model)->vocab_size;
    hw_lens_params p = hw_lens_params_default();
    p.prompt = prompt;
    p.target = "park";
    p.top = 7;
    p.components = 1;
    hw_lens_result *r = NULL;
    CHECK(hw_lens_run(model, tok, &p, NULL, NULL, &r) == HW_OK, "%s", hw_last_error());
    if (!r) return;
    hw_lens_info in;
    hw_lens_get_info(r, &in);
    CHECK(in.target == hw_tokenizer_answer_token(tok, "park") && in.target >= 0, "target %d", in.target);
    CHECK(!strcmp(in.target_text, " p"), "target text '%s'", in.target_text);
    int bad = 0;
    for (int i = 0; i < hw_lens_rows(r); i++) {
        const float *z = hw_lens_logits(r) + (size_t)i * V;
        const int *top = hw_lens_top(r) + (size_t)i * 7;
        int above = 0;
        double se = 0;
        for (int v = 0; v < V; v++) above += z[v] > z[in.target];
        for (int v = 0; v < V; v++) se += exp((double)z[v] - z[top[0]]);
        bad += top[0] != hw_argmax(z, V);
        for (int k = 1; k < 7; k++) bad += z[top[k]] > z[top[k - 1]] || top[k] == top[k - 1];
        /* the 8th best is no better than the 7th */
        int seventh = 0;
        for (int v = 0; v < V; v++) seventh += z[v] > z[top[6]];
        bad += seventh != 6;
        bad += hw_lens_target_rank(r)[i] != above || hw_lens_target_logit(r)[i] != z[in.target];
        bad += fabs(hw_lens_target_logprob(r)[i] - (z[in.target] - z[top[0]] - log(se))) > 1e-4;
    }
    CHECK(bad == 0, "%d disagreements", bad);
    CHECK(hw_lens_target_rank(r)[hw_lens_rows(r) - 1] == 0, "the model's top token is ' p' (rank %d)",
          hw_lens_target_rank(r)[hw_lens_rows(r) - 1]);
    hw_lens_free(r);
}

static void lens_refuses_bad_input(void) {
    hw_lens_result *r = NULL;
    hw_lens_params p = hw_lens_params_default();
    CHECK(hw_lens_run(model, tok, &p, NULL, NULL, &r) == HW_ERR_ARG && !r, "no prompt accepted");
    p.prompt = "Once upon a time";
    p.pos = 50;
    CHECK(hw_lens_run(model, tok, &p, NULL, NULL, &r) == HW_ERR_ARG && strstr(hw_last_error(), "position"),
          "pos: %s", hw_last_error());
    p.pos = -1;
    p.top = 0;
    CHECK(hw_lens_run(model, tok, &p, NULL, NULL, &r) == HW_ERR_ARG, "top 0 accepted");
    p.top = 10;
    p.norm = (hw_lens_norm)7;
    CHECK(hw_lens_run(model, tok, &p, NULL, NULL, &r) == HW_ERR_ARG, "norm 7 accepted");
    p.norm = HW_LENS_NORM_FIXED;
    p.target_id = 512;
    CHECK(hw_lens_run(model, tok, &p, NULL, NULL, &r) == HW_ERR_ARG, "target 512 accepted");
    p.target_id = -1;
    CHECK(hw_lens_run(model, NULL, &p, NULL, NULL, &r) == HW_ERR_ARG, "text without tokenizer");
    int ids[] = {1, 600};
    hw_lens_params q = hw_lens_params_default();
    q.ids = ids;
    q.n_ids = 2;
    CHECK(hw_lens_run(model, tok, &q, NULL, NULL, &r) == HW_ERR_ARG && strstr(hw_last_error(), "600"), "id 600");
    CHECK(!r, "a result on failure");
    hw_lens_free(NULL);
    CHECK(hw_lens_rows(NULL) == 0 && !hw_lens_logits(NULL) && !hw_lens_row_name(NULL, 0), "NULL accessors");
}

static void lens_writers(void) {
    hw_lens_params p = hw_lens_params_default();
    p.prompt = "Tom had a \"red\" kite";
    p.target_id = 13;   /* <0x0A>, a newline */
    p.top = 3;
    hw_lens_result *r = NULL;
    CHECK(hw_lens_run(model, tok, &p, NULL, NULL, &r) == HW_OK, "%s", hw_last_error());
    char dir[] = "/tmp/hw_lens.XXXXXX", path[256], buf[1 << 16];
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(path, sizeof path, "%s/sub/lens.json", dir);
    CHECK(hw_lens_write(r, path) == HW_OK, "%s", hw_last_error());
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    buf[n] = 0;
    if (f) fclose(f);
    CHECK(strstr(buf, "\"norm\": \"recompute\"") && strstr(buf, "\"name\": \"resid_post.4\"") &&
          strstr(buf, "\"target_token\": 13") && strstr(buf, "\"target_rank\": "), "json: %.300s", buf);
    /* the byte token's text is a control byte: escaped */
    CHECK(strstr(buf, "\"target\": \"\\u000a\""), "target text: %.200s", buf);
    snprintf(path, sizeof path, "%s/lens.html", dir);
    CHECK(hw_lens_write(r, path) == HW_OK, "%s", hw_last_error());
    f = fopen(path, "r");
    n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    buf[n] = 0;
    if (f) fclose(f);
    CHECK(strstr(buf, "<table>") && strstr(buf, "<td>resid_pre.0</td>") && strstr(buf, "target rank"), "html");
    CHECK(hw_lens_write(NULL, path) == HW_ERR_ARG, "NULL written");
    hw_lens_free(r);
    snprintf(buf, sizeof buf, "rm -rf '%s'", dir);
    CHECK(system(buf) == 0, "rm");
}

int main(void) {
    hw_set_threads(2);
    model = hw_model_load(shared_path("models/stories260K/stories260K.bin"));
    tok = model ? hw_tokenizer_load(shared_path("models/stories260K/tok512.bin"), 512) : NULL;
    if (!model || !tok) return fprintf(stderr, "test_logit_lens: %s (set HW_SHARED)\n", hw_last_error()), 1;
    RUN(lens_last_row_is_the_models_logits);
    RUN(lens_fixed_rows_add_up_and_match_dla);
    RUN(lens_top_and_rank_agree_with_logits);
    RUN(lens_refuses_bad_input);
    RUN(lens_writers);
    hw_tokenizer_free(tok);
    hw_model_free(model);
    CHECK_DONE();
}

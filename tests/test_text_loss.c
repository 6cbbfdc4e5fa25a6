/*
 * test_text_loss.c: hw_text_loss on the real stories260K model: its losses against
 * llama2.c's own logits, chunked prefill against one call, its greedy continuation
 * against llama2.c's greedy tokens, and LongHeads past the trained context (512)
 * against full attention on the story haystack.
 */
#include "check.h"
#include "headwise.h"

#include "stories260k_ref.h"

static hw_model *model;

/* -ln softmax(ref[t])[inputs[t + 1]] in double: run.c's logits, our arithmetic. */
static double ref_loss(int t) {
    const float *l = ref + t * VOCAB;
    double mx = l[0], sum = 0.0;
    for (int v = 1; v < VOCAB; v++) mx = l[v] > mx ? l[v] : mx;
    for (int v = 0; v < VOCAB; v++) sum += exp(l[v] - mx);
    return log(sum) - (l[inputs[t + 1]] - mx);
}

static void losses_match_llama2c(void) {
    float loss[NPOS];
    hw_text_loss_params p = hw_text_loss_params_default();
    CHECK(hw_text_loss(model, inputs, NPOS, &p, NULL, NULL, loss) == HW_OK, "%s", hw_last_error());
    double worst = 0.0;
    for (int t = 0; t < NPOS - 1; t++) worst = fmax(worst, fabs(loss[t] - ref_loss(t)));
    CHECK(worst < 1e-4, "largest |loss - run.c's| %.3g", worst);
}

static void chunked_equals_whole(void) {
    float a[NPOS], b[NPOS];
    hw_text_loss_params p = hw_text_loss_params_default();
    p.chunk = 0;
    CHECK(hw_text_loss(model, inputs, NPOS, &p, NULL, NULL, a) == HW_OK, "%s", hw_last_error());
    p.chunk = 5; /* chunks that end mid-way, and the decode path for the last */
    CHECK(hw_text_loss(model, inputs, NPOS, &p, NULL, NULL, b) == HW_OK, "%s", hw_last_error());
    CHECK(max_abs_diff(a, b, NPOS - 1) < 1e-4, "chunk 5 vs whole %.3g", max_abs_diff(a, b, NPOS - 1));
}

/* run.c's 64 tokens are its own greedy output: after the first 32, ours continue them. */
static void greedy_continues_as_llama2c(void) {
    float loss[NPOS];
    int g[NPOS / 2];
    hw_text_loss_params p = hw_text_loss_params_default();
    p.n_greedy = NPOS / 2, p.greedy = g;
    CHECK(hw_text_loss(model, inputs, NPOS / 2, &p, NULL, NULL, loss) == HW_OK, "%s", hw_last_error());
    int same = 0;
    while (same < NPOS / 2 && g[same] == inputs[NPOS / 2 + same]) same++;
    CHECK(same == NPOS / 2, "greedy token %d differs: %d vs run.c's %d", same, g[same], inputs[NPOS / 2 + same]);
}

static void bad_input_refused(void) {
    float loss[4];
    const int bad[3] = {1, VOCAB, 2};
    hw_text_loss_params p = hw_text_loss_params_default();
    CHECK(hw_text_loss(model, bad, 3, &p, NULL, NULL, loss) == HW_ERR_ARG, "token past the vocabulary");
    CHECK(strstr(hw_last_error(), "position 1") != NULL, "%s", hw_last_error());
    CHECK(hw_text_loss(model, inputs, 1, &p, NULL, NULL, loss) == HW_ERR_ARG, "one token");
    p.n_greedy = 2;
    CHECK(hw_text_loss(model, inputs, 3, &p, NULL, NULL, loss) == HW_ERR_ARG, "greedy without a buffer");
}

/* Mean of v[a..b). */
static double mean(const float *v, int a, int b) {
    double s = 0.0;
    for (int i = a; i < b; i++) s += v[i];
    return s / (b - a);
}

/* The story haystack (about 1,990 tokens) read at 2,048 tokens, four times the
 * trained context: the same losses as full attention up to A = 512, then lower. */
static void longheads_past_the_context(void) {
    hw_tokenizer *t = hw_tokenizer_load(shared_path("models/stories260K/tok512.bin"), VOCAB);
    FILE *f = t ? fopen("data/haystack/stories.txt", "rb") : NULL; /* tests run from the root */
    CHECK(t && f, "tokenizer or data/haystack/stories.txt missing");
    static char text[1 << 16];
    size_t n_text = f ? fread(text, 1, sizeof text - 1, f) : 0;
    if (f) fclose(f);
    text[n_text] = 0;
    enum { N = 2048 };
    static int tok[N + 4096];
    int n = t ? hw_tokenizer_encode(t, text, HW_TOK_BOS, tok, N + 4096) : 0;
    if (n < 1500) {
        CHECK(0, "the haystack has %d tokens", n);
        hw_tokenizer_free(t);
        return;
    }
    for (int i = n; i < N; i++) tok[i] = tok[1 + (i - 1) % (n - 1)]; /* repeated, as `loss` does */
    static float full[N], lh[N];
    hw_text_loss_params p = hw_text_loss_params_default();
    CHECK(hw_text_loss(model, tok, N, &p, NULL, NULL, full) == HW_OK, "%s", hw_last_error());
    p.kv = hw_kv_policy_new_longheads(model, 0, 0, 0, HW_LONGHEADS_POOLED);
    CHECK(p.kv && hw_text_loss(model, tok, N, &p, NULL, NULL, lh) == HW_OK, "%s", hw_last_error());
    hw_kv_policy_free((hw_kv_policy *)p.kv);
    CHECK(!memcmp(full, lh, 512 * sizeof *full), "longheads differs from full below A");
    const double f_past = mean(full, 512, N - 1), l_past = mean(lh, 512, N - 1);
    printf("  loss past 512 tokens: full %.4f, longheads %.4f\n", f_past, l_past);
    /* measured: full 1.797, longheads 1.557 */
    CHECK(l_past < f_past - 0.15, "longheads %.4f vs full %.4f past the context", l_past, f_past);
    hw_tokenizer_free(t);
}

int main(void) {
    model = hw_model_load(shared_path("models/stories260K/stories260K.bin"));
    if (!model || !load_reference()) {
        printf("FAIL stories260K_available\n");
        return 1;
    }
    hw_set_threads(2);
    RUN(losses_match_llama2c);
    RUN(chunked_equals_whole);
    RUN(greedy_continues_as_llama2c);
    RUN(bad_input_refused);
    RUN(longheads_past_the_context);
    hw_model_free(model);
    CHECK_DONE();
}

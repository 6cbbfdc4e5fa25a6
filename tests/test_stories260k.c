/*
 * test_stories260k.c: the real trained stories260K model against the reference
 * logits of llama2.c's run.c (../shared/models/stories260K), on both forward
 * paths, plus the invariants KV cache = recomputation and 1 thread = 2 threads.
 */
#include "check.h"
#include "headwise.h"

#include "stories260k_ref.h"

static hw_model *model;

/* Logits at every position, one token per hw_forward call (the decode path). */
static void decode_all(float *out) {
    hw_context *c = hw_context_new(model, 0);
    for (int t = 0; t < NPOS; t++) hw_forward(c, &inputs[t], 1, HW_LOGITS_LAST, out + t * VOCAB);
    hw_context_free(c);
}

static void prefill_all(float *out) {
    hw_context *c = hw_context_new(model, 0);
    hw_forward(c, inputs, NPOS, HW_LOGITS_ALL, out);
    hw_context_free(c);
}

static void config_is_stories260k(void) {
    const hw_config *c = hw_model_config(model);
    CHECK(c->d_model == 64 && c->d_ff == 172 && c->n_layer == 5, "dims %d %d %d", c->d_model,
          c->d_ff, c->n_layer);
    CHECK(c->n_head == 8 && c->n_kv_head == 4 && c->head_dim == 8, "heads %d/%d", c->n_head,
          c->n_kv_head);
    CHECK(c->vocab_size == VOCAB && c->n_ctx == 512, "vocab %d ctx %d", c->vocab_size, c->n_ctx);
}

static void decode_matches_reference(void) {
    static float out[NPOS * VOCAB];
    decode_all(out);
    for (int t = 0; t < NPOS; t++) {
        float d = max_abs_diff(out + t * VOCAB, ref + t * VOCAB, VOCAB);
        CHECK(d <= 1e-4f, "position %d: max-abs %g", t, d);
    }
    /* The reference's documented first row: token 403 first at 17.023516. */
    CHECK(fabsf(out[403] - 17.023516f) < 1e-4f, "logit[403] = %f", out[403]);
}

static void prefill_matches_reference(void) {
    static float out[NPOS * VOCAB];
    prefill_all(out);
    for (int t = 0; t < NPOS; t++) {
        float d = max_abs_diff(out + t * VOCAB, ref + t * VOCAB, VOCAB);
        CHECK(d <= 1e-4f, "position %d: max-abs %g", t, d);
    }
}

/* Paths that sum in different orders (matrix-vector vs matrix-matrix kernels)
 * agree to float rounding: logits here reach 17, so 5e-5 is a few ulps. */
#define ORDER_TOL 5e-5f

/* Decoding with the cache must equal recomputing the whole prefix from scratch. */
static void kv_cache_equals_recomputation(void) {
    static float cached[NPOS * VOCAB], fresh[VOCAB];
    decode_all(cached);
    float worst = 0;
    for (int t = 1; t < NPOS; t += 7) {
        hw_context *c = hw_context_new(model, 0);
        hw_forward(c, inputs, t + 1, HW_LOGITS_LAST, fresh);
        hw_context_free(c);
        float d = max_abs_diff(cached + t * VOCAB, fresh, VOCAB);
        worst = d > worst ? d : worst;
    }
    CHECK(worst <= ORDER_TOL, "cache vs recomputation max-abs %g", worst);
}

/* Prefill in two calls (cache reused across calls) equals one call. */
static void split_prefill_equals_whole(void) {
    static float whole[NPOS * VOCAB], split[NPOS * VOCAB];
    prefill_all(whole);
    hw_context *c = hw_context_new(model, 0);
    hw_forward(c, inputs, 23, HW_LOGITS_ALL, split);
    hw_forward(c, inputs + 23, NPOS - 23, HW_LOGITS_ALL, split + 23 * VOCAB);
    CHECK(hw_context_pos(c) == NPOS, "pos %d", hw_context_pos(c));
    hw_context_free(c);
    float d = max_abs_diff(whole, split, NPOS * VOCAB);
    CHECK(d <= ORDER_TOL, "split prefill max-abs %g", d);
}

/* Every product is shared out in blocks fixed by its shape, and every output summed by
 * one thread in a fixed order: the thread count changes no bit. */
static void one_thread_equals_two(void) {
    static float a[NPOS * VOCAB], b[NPOS * VOCAB], c1[NPOS * VOCAB], c2[NPOS * VOCAB];
    hw_set_threads(1);
    prefill_all(a);
    decode_all(c1);
    hw_set_threads(2);
    prefill_all(b);
    decode_all(c2);
    CHECK(memcmp(a, b, sizeof a) == 0, "prefill 1 vs 2 threads: max-abs %g",
          max_abs_diff(a, b, NPOS * VOCAB));
    CHECK(memcmp(c1, c2, sizeof c1) == 0, "decode 1 vs 2 threads: max-abs %g",
          max_abs_diff(c1, c2, NPOS * VOCAB));
}

static void context_overflow_is_refused(void) {
    hw_context *c = hw_context_new(model, 16);
    float out[VOCAB];
    CHECK(hw_forward(c, inputs, 17, HW_LOGITS_LAST, out) == HW_ERR_RANGE, "17 tokens in 16");
    CHECK(hw_context_pos(c) == 0, "a refused call changed the cache");
    CHECK(hw_forward(c, inputs, 16, HW_LOGITS_LAST, out) == HW_OK, "16 tokens in 16");
    CHECK(hw_forward(c, inputs, 1, HW_LOGITS_LAST, out) == HW_ERR_RANGE, "one past the end");
    int bad = VOCAB;
    hw_context_reset(c);
    CHECK(hw_forward(c, &bad, 1, HW_LOGITS_LAST, out) == HW_ERR_ARG, "token id %d", bad);
    hw_context_free(c);
}

int main(void) {
    model = hw_model_load(shared_path("models/stories260K/stories260K.bin"));
    if (!model || !load_reference()) {
        printf("FAIL setup: %s\n", model ? "reference files unreadable" : hw_last_error());
        return 1;
    }
    RUN(config_is_stories260k);
    RUN(decode_matches_reference);
    RUN(prefill_matches_reference);
    RUN(kv_cache_equals_recomputation);
    RUN(split_prefill_equals_whole);
    RUN(one_thread_equals_two);
    RUN(context_overflow_is_refused);
    hw_model_free(model);
    CHECK_DONE();
}

/*
 * test_llama2c_formats.c: every llama2.c checkpoint layout gives the logits it
 * must. tests/fixtures/llama2c_variants.py rewrites stories260K as version 1,
 * with an unshared (row-reversed) classifier, and as Q8_0 version 2 together
 * with an f32 file of exactly its dequantised weights.
 */
#include "check.h"
#include "headwise.h"

#include <unistd.h>

#define NPOS 24
#define VOCAB 512

static char dir[] = "/tmp/headwise-formats-XXXXXX";
static const int tokens[NPOS] = {1,   403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315,
                                 421, 395, 317, 426, 338, 401, 396, 267, 337, 410, 408, 419};

/* Logits (NPOS, VOCAB) of a checkpoint in dir (or an absolute path), by prefill. */
static int logits_of(const char *name, float *out) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", name[0] == '/' ? "" : dir, name);
    hw_model *m = hw_model_load(name[0] == '/' ? name : path);
    if (!m) {
        fprintf(stderr, "  load %s: %s\n", name, hw_last_error());
        return 0;
    }
    hw_context *c = hw_context_new(m, 64);
    hw_status s = hw_forward(c, tokens, NPOS, HW_LOGITS_ALL, out);
    hw_context_free(c);
    hw_model_free(m);
    return s == HW_OK;
}

static float base[NPOS * VOCAB], other[NPOS * VOCAB];

static void v1_equals_legacy(void) {
    CHECK(logits_of("v1.bin", other), "v1 did not run");
    CHECK(max_abs_diff(base, other, NPOS * VOCAB) == 0.0f, "max-abs %g",
          max_abs_diff(base, other, NPOS * VOCAB));
}

/* With classifier row i = embedding row V-1-i, logit i must be the shared model's logit V-1-i. */
static void check_reversed(const char *name) {
    CHECK(logits_of(name, other), "%s did not run", name);
    float worst = 0;
    for (int t = 0; t < NPOS; t++)
        for (int i = 0; i < VOCAB; i++) {
            float d = fabsf(other[t * VOCAB + i] - base[t * VOCAB + VOCAB - 1 - i]);
            worst = d > worst ? d : worst;
        }
    CHECK(worst <= 1e-5f, "%s: max-abs %g", name, worst);
}

static void v1_unshared_classifier(void) { check_reversed("v1_unshared.bin"); }
static void legacy_unshared_classifier(void) { check_reversed("legacy_unshared.bin"); }

static void q8_equals_its_dequantised_f32(void) {
    static float q8[NPOS * VOCAB];
    CHECK(logits_of("v2.bin", q8), "v2 did not run");
    CHECK(logits_of("v2_dequant.bin", other), "v2_dequant did not run");
    float d = max_abs_diff(q8, other, NPOS * VOCAB);
    CHECK(d <= 1e-4f, "q8 vs dequantised f32 max-abs %g", d);
    /* And quantisation moved the logits, so the test above was not vacuous. */
    CHECK(max_abs_diff(q8, base, NPOS * VOCAB) > 1e-3f, "q8 logits identical to f32");
}

static void info_reports_formats(void) {
    char path[512];
    snprintf(path, sizeof path, "%s/v2.bin", dir);
    hw_model *m = hw_model_load(path);
    CHECK(m != NULL, "%s", hw_last_error());
    if (!m) return;
    hw_model_info info;
    hw_model_get_info(m, &info);
    CHECK(!strcmp(info.dtype, "q8_0"), "dtype %s", info.dtype);
    CHECK(info.n_params == 260032 /* stories260K, classifier shared */, "n_params %lld", (long long)info.n_params);
    hw_model_free(m);
}

int main(void) {
    if (!mkdtemp(dir)) {
        printf("FAIL setup: mkdtemp\n");
        return 1;
    }
    const char *model = shared_path("models/stories260K/stories260K.bin");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "/usr/bin/python3 tests/fixtures/llama2c_variants.py %s %s %s",
             model, shared_path("models/stories260K/tok512.bin"), dir);
    if (system(cmd) != 0 || !logits_of(model, base)) {
        printf("FAIL setup: could not write or run the variants (%s)\n", cmd);
        return 1;
    }
    RUN(v1_equals_legacy);
    RUN(v1_unshared_classifier);
    RUN(legacy_unshared_classifier);
    RUN(q8_equals_its_dequantised_f32);
    RUN(info_reports_formats);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    CHECK_DONE();
}

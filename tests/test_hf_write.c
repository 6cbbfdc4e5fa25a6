/* test_hf_write.c: hw_model_save_hf. stories260K (llama2.c, interleaved
 * rotary) written as a Hugging Face folder loads back with the same config and
 * the same logits (rows permuted, so equal up to summation order); writing that
 * folder again gives the same bytes and bit-identical logits; a random
 * attention-only model with attention biases comes back bit for bit; models a
 * Llama config cannot describe are refused, leaving nothing behind. */
#include "check.h"
#include "internal.h"

#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static const char *tmp(const char *name) {
    static char path[8][600];
    static int next;
    char *p = path[next++ % 8];
    snprintf(p, sizeof path[0], "%s/%s", tmpdir, name);
    return p;
}

/* Logits (T, V) of the ids on a fresh context; NULL on failure. */
static float *logits_of(const hw_model *m, const int *ids, int T) {
    hw_context *c = hw_context_new(m, T);
    float *out = malloc((size_t)T * (size_t)hw_model_config(m)->vocab_size * sizeof *out);
    if (!c || !out || hw_forward(c, ids, T, HW_LOGITS_ALL, out) != HW_OK) {
        free(out);
        out = NULL;
    }
    hw_context_free(c);
    return out;
}

static int same_file(const char *a, const char *b) {
    hw_mapped_file fa, fb;
    if (hw_file_map(&fa, a) != HW_OK) return 0;
    if (hw_file_map(&fb, b) != HW_OK) {
        hw_file_unmap(&fa);
        return 0;
    }
    int same = fa.size == fb.size && memcmp(fa.data, fb.data, fa.size) == 0;
    hw_file_unmap(&fa);
    hw_file_unmap(&fb);
    return same;
}

static void stories_round_trip(void) {
    hw_model *a = hw_model_load(shared_path("models/stories260K/stories260K.bin"));
    CHECK(a, "%s", hw_last_error());
    if (!a) return;
    const char *d1 = tmp("s1"), *d2 = tmp("s2");
    CHECK(hw_model_save_hf(a, d1) == HW_OK, "save: %s", hw_last_error());
    hw_model *b = hw_model_load(d1);
    CHECK(b, "load: %s", hw_last_error());
    if (!b) {
        hw_model_free(a);
        return;
    }
    const hw_config *ca = hw_model_config(a), *cb = hw_model_config(b);
    CHECK(ca->rope_layout == HW_ROPE_INTERLEAVED && cb->rope_layout == HW_ROPE_HALVES, "layouts");
    CHECK(ca->n_layer == cb->n_layer && ca->d_model == cb->d_model && ca->n_head == cb->n_head &&
              ca->n_kv_head == cb->n_kv_head && ca->head_dim == cb->head_dim && ca->d_ff == cb->d_ff &&
              ca->vocab_size == cb->vocab_size && ca->n_ctx == cb->n_ctx && ca->norm_eps == cb->norm_eps &&
              ca->rope_theta == cb->rope_theta && ca->tied_embeddings == cb->tied_embeddings,
          "config differs");
    int ids[40];
    for (int i = 0; i < 40; i++) ids[i] = (i * 37 + 11) % ca->vocab_size;
    ids[0] = 1;
    float *la = logits_of(a, ids, 40), *lb = logits_of(b, ids, 40);
    CHECK(la && lb, "forward: %s", hw_last_error());
    if (la && lb) {
        size_t n = (size_t)40 * ca->vocab_size;
        float scale = 0;
        for (size_t i = 0; i < n; i++) scale = fmaxf(scale, fabsf(la[i]));
        float d = max_abs_diff(la, lb, n);
        CHECK(d <= 1e-5f * scale, "logits differ by %g (scale %g)", d, scale);
    }

    /* The folder written again: same bytes, bit-identical logits. */
    CHECK(hw_model_save_hf(b, d2) == HW_OK, "save again: %s", hw_last_error());
    char p1[700], p2[700];
    snprintf(p1, sizeof p1, "%s/model.safetensors", d1);
    snprintf(p2, sizeof p2, "%s/model.safetensors", d2);
    CHECK(same_file(p1, p2), "model.safetensors differs when written twice");
    snprintf(p1, sizeof p1, "%s/config.json", d1);
    snprintf(p2, sizeof p2, "%s/config.json", d2);
    CHECK(same_file(p1, p2), "config.json differs when written twice");
    hw_model *c = hw_model_load(d2);
    float *lc = c ? logits_of(c, ids, 40) : NULL;
    CHECK(lc && lb && memcmp(lb, lc, (size_t)40 * ca->vocab_size * sizeof(float)) == 0, "second copy's logits");
    free(la);
    free(lb);
    free(lc);
    hw_model_free(c);

    /* What a Llama config cannot say is refused before anything is written. */
    const char *d3 = tmp("refused");
    hw_config saved = b->cfg;
    b->cfg.norm = HW_NORM_LAYER;
    CHECK(hw_model_save_hf(b, d3) == HW_ERR_UNSUPPORTED && strstr(hw_last_error(), "LayerNorm"), "[%s]",
          hw_last_error());
    b->cfg = saved;
    b->cfg.mlp_bias = 1;
    CHECK(hw_model_save_hf(b, d3) == HW_ERR_UNSUPPORTED && strstr(hw_last_error(), "biases"), "[%s]",
          hw_last_error());
    b->cfg = saved;
    hw_matrix q = b->w.layers[0].wq;
    b->w.layers[0].wq.dtype = HW_Q8_0;
    CHECK(hw_model_save_hf(b, d3) == HW_ERR_UNSUPPORTED && strstr(hw_last_error(), "quantised"), "[%s]",
          hw_last_error());
    b->w.layers[0].wq = q;
    CHECK(access(d3, F_OK) != 0, "a refused model left %s", d3);
    CHECK(hw_model_save_hf(b, "/proc/no/such/dir") == HW_ERR_IO, "unwritable folder: [%s]", hw_last_error());
    CHECK(hw_model_save_hf(NULL, d3) == HW_ERR_ARG, "NULL model");
    hw_model_free(b);
    hw_model_free(a);
}

/* A fresh attention-only model with Llama's attention_bias (the organisms' shape):
 * written, read back, the same logits bit for bit (no permutation: halves layout). */
static void random_attention_only(void) {
    hw_config c = {.n_layer = 2, .d_model = 32, .n_head = 4, .n_kv_head = 2, .head_dim = 8, .d_ff = 0,
                   .vocab_size = 50, .n_ctx = 40, .norm = HW_NORM_RMS, .norm_eps = 1e-5f, .pos = HW_POS_ROTARY,
                   .rope_layout = HW_ROPE_HALVES, .rope_theta = 10000, .rotary_frac = 1, .rope_factor = 1,
                   .rope_orig_ctx = 40, .act = HW_ACT_SILU_GATED, .qkv_bias = 1, .out_bias = 1, .bos_id = 0,
                   .eos_id = -1};
    strcpy(c.arch, "llama");
    hw_model *a = hw_model_new_random(&c, 5);
    CHECK(a, "%s", hw_last_error());
    if (!a) return;
    const char *d = tmp("attn_only");
    CHECK(hw_model_save_hf(a, d) == HW_OK, "save: %s", hw_last_error());
    hw_model *b = hw_model_load(d);
    CHECK(b && hw_model_config(b)->d_ff == 0 && hw_model_config(b)->qkv_bias && hw_model_config(b)->out_bias &&
              hw_model_config(b)->n_kv_head == 2,
          "load: %s", hw_last_error());
    int ids[40];
    for (int i = 0; i < 40; i++) ids[i] = (i * 7 + 3) % 50;
    float *la = logits_of(a, ids, 40), *lb = b ? logits_of(b, ids, 40) : NULL;
    CHECK(la && lb && memcmp(la, lb, (size_t)40 * 50 * sizeof(float)) == 0, "logits differ");
    free(la);
    free(lb);
    hw_model_free(a);
    hw_model_free(b);
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/hw_hfwrite_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        printf("FAIL mkdtemp\n");
        return 1;
    }
    RUN(stories_round_trip);
    RUN(random_attention_only);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    CHECK_DONE();
}

/*
 * test_hooks.c: hook points, captures and head interventions.
 *
 *   test_hooks                  on stories260K (real weights): observing changes
 *                               nothing, zero-output = zeroing W_O's columns,
 *                               GQA group masking = masking the KV head, phases,
 *                               patching, mean ablation, errors, allocation
 *   test_hooks --ref DIR L H    on a tests/hooks_ref.py folder: mask-uniform of
 *                               head L.H against PyTorch, and the invariants above
 */
#include "check.h"
#include "headwise.h"
#include "model/context.h" /* to see which hook buffers a run allocated */

#include <stdint.h>
#include <unistd.h>

static const char *stories(void) { return shared_path("models/stories260K/stories260K.bin"); }

/* Logits (T, V) of tokens: the first `split` as one prefill, the rest one by one
 * (decode steps), with hooks. Returns the status of the first failing call. */
static hw_status run_logits(const hw_model *m, const int *tok, int T, int split,
                            const hw_hooks *hooks, float *out) {
    const int V = hw_model_config(m)->vocab_size;
    hw_context *c = hw_context_new(m, T);
    if (!c) return HW_ERR_NOMEM;
    hw_status st = hw_forward_hooked(c, tok, split, HW_LOGITS_ALL, out, hooks);
    for (int t = split; st == HW_OK && t < T; t++)
        st = hw_forward_hooked(c, tok + t, 1, HW_LOGITS_LAST, out + (size_t)t * V, hooks);
    hw_context_free(c);
    return st;
}

static void tokens_for(const hw_model *m, int *tok, int T, unsigned seed) {
    const int V = hw_model_config(m)->vocab_size;
    for (int t = 0; t < T; t++) {
        seed = seed * 1103515245u + 12345u;
        tok[t] = (int)((seed >> 8) % (unsigned)V);
    }
}

/* A capture of every point of the model in every layer. */
static hw_capture *capture_everything(const hw_model *m) {
    hw_capture *cap = hw_capture_new();
    for (int p = 0; p < HW_HOOK_COUNT; p++) {
        char name[64];
        hw_hook_point point;
        int layer;
        hw_hook_name(name, sizeof name, (hw_hook_point)p, 0);
        if (hw_hook_parse(m, name, &point, &layer) == HW_OK) hw_capture_want(cap, point, -1);
    }
    return cap;
}

static int bitwise_equal(const float *a, const float *b, size_t n) {
    return memcmp(a, b, n * sizeof *a) == 0;
}

/* ------------------------------------------------------------ invariants */

/* Capturing every point (scores, patterns and per-head results included)
 * leaves every logit bit as it was, in prefill and decode. */
static void observing_changes_nothing(const hw_model *m, const char *label) {
    enum { T = 20, SPLIT = 14 };
    const hw_config *cfg = hw_model_config(m);
    const int V = cfg->vocab_size;
    int tok[T];
    tokens_for(m, tok, T, 7);
    float *plain = malloc(sizeof(float) * T * V), *seen = malloc(sizeof(float) * T * V);
    hw_capture *cap = capture_everything(m);
    hw_hooks *h = hw_hooks_new();
    hw_hooks_add_capture(h, cap);
    CHECK(run_logits(m, tok, T, SPLIT, NULL, plain) == HW_OK, "%s", hw_last_error());
    CHECK(run_logits(m, tok, T, SPLIT, h, seen) == HW_OK, "%s", hw_last_error());
    CHECK(bitwise_equal(plain, seen, (size_t)T * V), "%s: logits moved by %g", label,
          max_abs_diff(plain, seen, (size_t)T * V));
    /* One visit per point and layer per forward call (1 prefill + 6 decode steps). */
    int per_call = 0;
    for (int p = 0; p < HW_HOOK_COUNT; p++) {
        char name[64];
        hw_hook_point point;
        int layer;
        hw_hook_name(name, sizeof name, (hw_hook_point)p, 0);
        if (hw_hook_parse(m, name, &point, &layer) == HW_OK)
            per_call += layer < 0 ? 1 : cfg->n_layer;
    }
    CHECK(hw_capture_count(cap) == per_call * (1 + T - SPLIT), "%s: %d entries, expected %d",
          label, hw_capture_count(cap), per_call * (1 + T - SPLIT));

    /* The captured tensors fit together. */
    const hw_capture_entry *logits = hw_capture_find(cap, HW_HOOK_LOGITS, -1, 0);
    CHECK(logits && logits->shape[0] == SPLIT && logits->shape[1] == V, "%s: logits shape", label);
    if (logits)
        CHECK(max_abs_diff(logits->data, plain, (size_t)SPLIT * V) < 1e-5, "%s: hook_logits",
              label);
    for (int l = 0; l + 1 < cfg->n_layer; l++) {
        const hw_capture_entry *post = hw_capture_find(cap, HW_HOOK_RESID_POST, l, 0);
        const hw_capture_entry *pre = hw_capture_find(cap, HW_HOOK_RESID_PRE, l + 1, 0);
        CHECK(post && pre && bitwise_equal(post->data, pre->data, (size_t)SPLIT * cfg->d_model),
              "%s: resid_post %d != resid_pre %d", label, l, l + 1);
    }
    const hw_capture_entry *k = hw_capture_find(cap, HW_HOOK_K, 1, 0);
    CHECK(k && k->ndim == 3 && k->shape[1] == cfg->n_kv_head, "%s: hook_k has Hk heads", label);
    /* A decode step's pattern: (H, 1, pos + 1), rows summing to 1. */
    const hw_capture_entry *pat = hw_capture_find(cap, HW_HOOK_PATTERN, 1, SPLIT + 2);
    CHECK(pat && pat->shape[0] == cfg->n_head && pat->shape[1] == 1 && pat->shape[2] == SPLIT + 3 &&
              pat->decode, "%s: decode pattern shape", label);
    /* Prefill pattern: causal (zero above the diagonal), rows sum to 1. */
    pat = hw_capture_find(cap, HW_HOOK_PATTERN, 0, 0);
    double worst = 0;
    int causal = 1;
    for (int hd = 0; pat && hd < cfg->n_head; hd++)
        for (int t = 0; t < SPLIT; t++) {
            const float *row = pat->data + ((size_t)hd * SPLIT + t) * SPLIT;
            double s = 0;
            for (int j = 0; j < SPLIT; j++) {
                s += row[j];
                if (j > t && row[j] != 0) causal = 0;
            }
            worst = fabs(s - 1) > worst ? fabs(s - 1) : worst;
        }
    CHECK(pat && causal && worst < 1e-5, "%s: pattern rows sum to 1 +- %g, causal %d", label,
          worst, causal);
    /* attn_out = sum of per-head results (+ output bias). */
    const hw_capture_entry *res = hw_capture_find(cap, HW_HOOK_RESULT, 1, 0);
    const hw_capture_entry *out = hw_capture_find(cap, HW_HOOK_ATTN_OUT, 1, 0);
    if (res && out && !cfg->out_bias) {
        const int D = cfg->d_model, H = cfg->n_head;
        float *sum = calloc((size_t)SPLIT * D, sizeof *sum);
        for (int t = 0; t < SPLIT; t++)
            for (int hd = 0; hd < H; hd++)
                for (int d = 0; d < D; d++)
                    sum[(size_t)t * D + d] += res->data[((size_t)t * H + hd) * D + d];
        CHECK(max_abs_diff(sum, out->data, (size_t)SPLIT * D) < 1e-4, "%s: results sum to %g",
              label, max_abs_diff(sum, out->data, (size_t)SPLIT * D));
        free(sum);
    }
    hw_hooks_free(h);
    hw_capture_free(cap);
    free(plain);
    free(seen);
}

/* scale 1, and a clean run patched into itself at z and at the pattern,
 * change nothing. */
static void identity_interventions(const hw_model *m, const char *label) {
    enum { T = 16, SPLIT = 10 };
    const hw_config *cfg = hw_model_config(m);
    const int V = cfg->vocab_size;
    int tok[T];
    tokens_for(m, tok, T, 11);
    float *plain = malloc(sizeof(float) * T * V), *out = malloc(sizeof(float) * T * V);
    CHECK(run_logits(m, tok, T, SPLIT, NULL, plain) == HW_OK, "%s", hw_last_error());

    hw_head all[64];
    int n = 0;
    for (int l = 0; l < cfg->n_layer && n < 64; l++)
        for (int hd = 0; hd < cfg->n_head && n < 64; hd++) all[n++] = (hw_head){l, hd};
    hw_hooks *h = hw_hooks_new();
    hw_hooks_scale(h, all, n, 1.0f, HW_PHASE_BOTH);
    CHECK(run_logits(m, tok, T, SPLIT, h, out) == HW_OK, "%s", hw_last_error());
    CHECK(bitwise_equal(plain, out, (size_t)T * V), "%s: scale 1 moved logits by %g", label,
          max_abs_diff(plain, out, (size_t)T * V));
    hw_hooks_free(h);

    hw_capture *clean = hw_capture_new();
    hw_capture_want(clean, HW_HOOK_Z, -1);
    hw_capture_want(clean, HW_HOOK_PATTERN, 1);
    h = hw_hooks_new();
    hw_hooks_add_capture(h, clean);
    CHECK(run_logits(m, tok, T, SPLIT, h, out) == HW_OK, "%s", hw_last_error());
    hw_hooks_free(h);
    h = hw_hooks_new();
    hw_hooks_patch(h, HW_HOOK_Z, -1, clean, HW_PHASE_BOTH);
    hw_hooks_patch(h, HW_HOOK_PATTERN, 1, clean, HW_PHASE_BOTH);
    CHECK(run_logits(m, tok, T, SPLIT, h, out) == HW_OK, "%s", hw_last_error());
    /* The patched pattern is "edited" only if it differs, so the fused path runs. */
    CHECK(bitwise_equal(plain, out, (size_t)T * V), "%s: self-patch moved logits by %g", label,
          max_abs_diff(plain, out, (size_t)T * V));
    hw_hooks_free(h);
    hw_capture_free(clean);
    free(plain);
    free(out);
}

/* Masking every query head that reads KV head g of layer l equals making that
 * KV head's keys zero (scores all 0: uniform attention for the whole group). */
static int zero_k_hook(hw_hook_call *call, void *user) {
    const int *lg = user; /* layer, kv head */
    const hw_hook_point p =
        hw_model_config(call->model)->pos == HW_POS_ROTARY ? HW_HOOK_ROT_K : HW_HOOK_K;
    if (call->ask) return call->point == p && call->layer == lg[0];
    for (int t = 0; t < call->shape[0]; t++)
        memset(call->data + ((size_t)t * call->shape[1] + lg[1]) * call->shape[2], 0,
               (size_t)call->shape[2] * sizeof(float));
    return 0;
}

static void gqa_group_is_kv_head(const hw_model *m, int layer, int kv, const char *label) {
    enum { T = 16, SPLIT = 9 };
    const hw_config *cfg = hw_model_config(m);
    const int V = cfg->vocab_size, group = cfg->n_head / cfg->n_kv_head;
    int tok[T];
    tokens_for(m, tok, T, 5);
    float *a = malloc(sizeof(float) * T * V), *b = malloc(sizeof(float) * T * V);
    float *plain = malloc(sizeof(float) * T * V);
    hw_head heads[64];
    for (int i = 0; i < group; i++) heads[i] = (hw_head){layer, kv * group + i};
    for (int i = 0; i < group; i++)
        CHECK(hw_kv_head(cfg, heads[i].head) == kv, "%s: kv head of %d", label, heads[i].head);
    hw_hooks *h = hw_hooks_new();
    hw_hooks_mask_uniform(h, heads, group, HW_PHASE_BOTH);
    CHECK(run_logits(m, tok, T, SPLIT, h, a) == HW_OK, "%s", hw_last_error());
    hw_hooks_free(h);
    int lg[2] = {layer, kv};
    h = hw_hooks_new();
    hw_hooks_add(h, zero_k_hook, lg);
    CHECK(run_logits(m, tok, T, SPLIT, h, b) == HW_OK, "%s", hw_last_error());
    hw_hooks_free(h);
    CHECK(run_logits(m, tok, T, SPLIT, NULL, plain) == HW_OK, "%s", hw_last_error());
    float d = max_abs_diff(a, b, (size_t)T * V), moved = max_abs_diff(a, plain, (size_t)T * V);
    CHECK(d < 1e-4 && moved > 1e-3, "%s: group mask vs KV head %g (mask moved logits %g)", label,
          d, moved);
    printf("  %s: masking KV group %d.%d (%d heads) vs zero keys: %.2g (moved %.2g)\n", label,
           layer, kv, group, d, moved);
    free(a);
    free(b);
    free(plain);
}

/* ------------------------------------------------------------ stories260K */

static hw_model *model;

/* A copy of stories260K.bin (llama2.c legacy layout) with head `head` of layer
 * `layer` cut out of W_O: its Dh input columns zeroed. */
static char *write_without_head(int layer, int head) {
    static char path[256];
    snprintf(path, sizeof path, "/tmp/hw_test_hooks_%d.bin", (int)getpid());
    FILE *in = fopen(stories(), "rb");
    if (!in) return NULL;
    fseek(in, 0, SEEK_END);
    long size = ftell(in);
    fseek(in, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)size);
    size_t got = fread(buf, 1, (size_t)size, in);
    fclose(in);
    if (got != (size_t)size) {
        free(buf);
        return NULL;
    }
    const hw_config *c = hw_model_config(model);
    const size_t D = c->d_model, L = c->n_layer, V = c->vocab_size, Dh = c->head_dim;
    const size_t HD = c->n_head * Dh, KD = c->n_kv_head * Dh;
    /* header, embed, rms_att, wq, wk, wv, then wo (L, D, HD) */
    size_t off = 28 + 4 * (V * D + L * D + L * D * HD + 2 * L * KD * D) + 4 * layer * D * HD;
    float *wo = (float *)(buf + off);
    for (size_t r = 0; r < D; r++) memset(wo + r * HD + head * Dh, 0, Dh * sizeof(float));
    FILE *out = fopen(path, "wb");
    fwrite(buf, 1, (size_t)size, out);
    fclose(out);
    free(buf);
    return path;
}

static void zero_output_equals_weight_edit(void) {
    enum { T = 18, SPLIT = 12, LAYER = 2, HEAD = 5 };
    const int V = hw_model_config(model)->vocab_size;
    char *path = write_without_head(LAYER, HEAD);
    CHECK(path != NULL, "cannot write a model copy");
    if (!path) return;
    hw_model *cut = hw_model_load(path);
    CHECK(cut != NULL, "%s", hw_last_error());
    int tok[T];
    tokens_for(model, tok, T, 3);
    float *a = malloc(sizeof(float) * T * V), *b = malloc(sizeof(float) * T * V);
    float *plain = malloc(sizeof(float) * T * V);
    hw_head head = {LAYER, HEAD};
    hw_hooks *h = hw_hooks_new();
    hw_hooks_zero_output(h, &head, 1, HW_PHASE_BOTH);
    CHECK(run_logits(model, tok, T, SPLIT, h, a) == HW_OK, "%s", hw_last_error());
    CHECK(cut && run_logits(cut, tok, T, SPLIT, NULL, b) == HW_OK, "%s", hw_last_error());
    CHECK(run_logits(model, tok, T, SPLIT, NULL, plain) == HW_OK, "%s", hw_last_error());
    float d = max_abs_diff(a, b, (size_t)T * V), moved = max_abs_diff(a, plain, (size_t)T * V);
    CHECK(d < 1e-5 && moved > 1e-3, "zero-output vs W_O edit %g (moved %g)", d, moved);
    printf("  zero-output 2.5 vs W_O columns zeroed: %.2g (the head moves logits by %.2g)\n", d,
           moved);
    hw_hooks_free(h);
    hw_model_free(cut);
    unlink(path);
    free(a);
    free(b);
    free(plain);
}

/* Decode-only masking leaves the prefill alone and changes decode steps;
 * prefill-only the reverse. */
static void phases(void) {
    enum { T = 20, SPLIT = 12 };
    const int V = hw_model_config(model)->vocab_size;
    int tok[T];
    tokens_for(model, tok, T, 9);
    float *plain = malloc(sizeof(float) * T * V), *out = malloc(sizeof(float) * T * V);
    CHECK(run_logits(model, tok, T, SPLIT, NULL, plain) == HW_OK, "%s", hw_last_error());
    hw_head heads[] = {{1, 0}, {1, 1}, {2, 3}, {3, 4}, {4, 6}};
    for (int ph = HW_PHASE_PREFILL; ph <= HW_PHASE_DECODE; ph++) {
        hw_hooks *h = hw_hooks_new();
        hw_hooks_mask_uniform(h, heads, 5, (hw_phase)ph);
        CHECK(run_logits(model, tok, T, SPLIT, h, out) == HW_OK, "%s", hw_last_error());
        const size_t pre = (size_t)SPLIT * V, dec = (size_t)(T - SPLIT) * V;
        float dp = max_abs_diff(plain, out, pre), dd = max_abs_diff(plain + pre, out + pre, dec);
        if (ph == HW_PHASE_DECODE)
            CHECK(dp == 0 && dd > 1e-3, "decode-only: prefill moved %g, decode %g", dp, dd);
        else
            CHECK(dp > 1e-3 && dd > 1e-3, "prefill-only: prefill moved %g, decode %g", dp, dd);
        hw_hooks_free(h);
    }
    free(plain);
    free(out);
}

/* Mean ablation with a zero mean is zero-output; hw_mean_z is the mean of the
 * captured z. */
static void mean_ablation(void) {
    enum { T = 12 };
    const hw_config *cfg = hw_model_config(model);
    const int V = cfg->vocab_size, L = cfg->n_layer, H = cfg->n_head, Dh = cfg->head_dim;
    int s0[T], s1[T - 4];
    tokens_for(model, s0, T, 21);
    tokens_for(model, s1, T - 4, 22);
    const int *seqs[] = {s0, s1};
    const int lens[] = {T, T - 4};
    float *mean = malloc(sizeof(float) * L * H * Dh);
    CHECK(hw_mean_z(model, seqs, lens, 2, mean) == HW_OK, "%s", hw_last_error());
    /* The same mean from captures. */
    double *ref = calloc((size_t)L * H * Dh, sizeof *ref);
    for (int s = 0; s < 2; s++) {
        hw_capture *cap = hw_capture_new();
        hw_capture_want(cap, HW_HOOK_Z, -1);
        hw_hooks *h = hw_hooks_new();
        hw_hooks_add_capture(h, cap);
        hw_context *c = hw_context_new(model, T);
        hw_forward_hooked(c, seqs[s], lens[s], HW_LOGITS_NONE, NULL, h);
        for (int i = 0; i < hw_capture_count(cap); i++) {
            const hw_capture_entry *e = hw_capture_get(cap, i);
            for (int t = 0; t < e->T; t++)
                for (int j = 0; j < H * Dh; j++)
                    ref[(size_t)e->layer * H * Dh + j] += e->data[(size_t)t * H * Dh + j];
        }
        hw_context_free(c);
        hw_hooks_free(h);
        hw_capture_free(cap);
    }
    double worst = 0;
    for (int i = 0; i < L * H * Dh; i++) {
        double d = fabs(ref[i] / (2 * T - 4) - mean[i]);
        worst = d > worst ? d : worst;
    }
    CHECK(worst < 1e-5, "hw_mean_z vs captured mean: %g", worst);

    float *zeros = calloc((size_t)L * H * Dh, sizeof *zeros);
    float *a = malloc(sizeof(float) * T * V), *b = malloc(sizeof(float) * T * V);
    hw_head heads[] = {{0, 2}, {3, 7}};
    hw_hooks *h = hw_hooks_new();
    hw_hooks_mean_ablate(h, heads, 2, zeros, HW_PHASE_BOTH);
    CHECK(run_logits(model, s0, T, 6, h, a) == HW_OK, "%s", hw_last_error());
    hw_hooks_free(h);
    h = hw_hooks_new();
    hw_hooks_zero_output(h, heads, 2, HW_PHASE_BOTH);
    CHECK(run_logits(model, s0, T, 6, h, b) == HW_OK, "%s", hw_last_error());
    hw_hooks_free(h);
    CHECK(bitwise_equal(a, b, (size_t)T * V), "mean-ablate with 0 mean != zero-output");
    h = hw_hooks_new();
    hw_hooks_mean_ablate(h, heads, 2, mean, HW_PHASE_BOTH);
    CHECK(run_logits(model, s0, T, 6, h, a) == HW_OK, "%s", hw_last_error());
    CHECK(max_abs_diff(a, b, (size_t)T * V) > 1e-4, "mean ablation equals zeroing");
    hw_hooks_free(h);
    free(zeros);
    free(a);
    free(b);
    free(mean);
    free(ref);
}

static int stop_hook(hw_hook_call *call, void *user) {
    if (call->ask) return call->point == HW_HOOK_Z && call->layer == 2;
    return 1;
}

static void names_and_errors(void) {
    /* Every point's name parses back to itself. */
    for (int p = 0; p < HW_HOOK_COUNT; p++) {
        char name[64];
        hw_hook_point point;
        int layer;
        hw_hook_name(name, sizeof name, (hw_hook_point)p, 3);
        hw_status st = hw_hook_parse(model, name, &point, &layer);
        if (p == HW_HOOK_POS_EMBED) { /* stories260K has rotary positions */
            CHECK(st == HW_ERR_ARG, "hook_pos_embed accepted for a rotary model");
            continue;
        }
        CHECK(st == HW_OK && (int)point == p && (layer == 3 || layer == -1), "%s: %s", name,
              hw_last_error());
    }
    hw_hook_point point;
    int layer;
    CHECK(hw_hook_parse(model, "blocks.5.attn.hook_z", &point, &layer) == HW_ERR_ARG,
          "layer 5 of 5 accepted");
    CHECK(strstr(hw_last_error(), "layer 5"), "message: %s", hw_last_error());
    CHECK(hw_hook_parse(model, "blocks.1.attn.hook_zz", &point, &layer) == HW_ERR_ARG, "hook_zz");
    CHECK(hw_hook_parse(model, "hook_z", &point, &layer) == HW_ERR_ARG, "unlayered hook_z");
    hw_head heads[8];
    CHECK(hw_heads_parse(model, "3.1,4.0", heads, 8) == 2 && heads[1].layer == 4 &&
              heads[1].head == 0, "3.1,4.0");
    CHECK(hw_heads_parse(model, "3.8", heads, 8) < 0, "head 8 of 8 accepted");
    CHECK(hw_heads_parse(model, "3-1", heads, 8) < 0, "3-1 accepted");

    /* A hook that stops the run: an error naming the point, the cache unchanged. */
    hw_hooks *h = hw_hooks_new();
    hw_hooks_add(h, stop_hook, NULL);
    hw_context *c = hw_context_new(model, 32);
    int tok[4] = {1, 100, 200, 300};
    CHECK(hw_forward(c, tok, 2, HW_LOGITS_NONE, NULL) == HW_OK, "%s", hw_last_error());
    CHECK(hw_forward_hooked(c, tok + 2, 2, HW_LOGITS_NONE, NULL, h) == HW_ERR_ARG, "not stopped");
    CHECK(strstr(hw_last_error(), "blocks.2.attn.hook_z") != NULL, "message: %s", hw_last_error());
    CHECK(hw_context_pos(c) == 2, "pos %d after a stopped run", hw_context_pos(c));
    hw_context_free(c);
    hw_hooks_free(h);

    /* Patching from a capture with nothing at that position fails the run. */
    hw_capture *empty = hw_capture_new();
    h = hw_hooks_new();
    hw_hooks_patch(h, HW_HOOK_Z, 1, empty, HW_PHASE_BOTH);
    c = hw_context_new(model, 8);
    CHECK(hw_forward_hooked(c, tok, 3, HW_LOGITS_NONE, NULL, h) == HW_ERR_ARG, "patch from nothing");
    CHECK(strstr(hw_last_error(), "nothing captured"), "message: %s", hw_last_error());
    hw_context_free(c);
    hw_hooks_free(h);
    hw_capture_free(empty);
}

/* With no hooks no hook buffer exists; asking for one layer's pattern
 * allocates (H, T, P) for it and nothing else. */
static void allocates_only_what_is_asked(void) {
    enum { T = 40 };
    const hw_config *cfg = hw_model_config(model);
    int tok[T];
    tokens_for(model, tok, T, 4);
    hw_context *c = hw_context_new(model, 64);
    CHECK(hw_forward(c, tok, T, HW_LOGITS_NONE, NULL) == HW_OK, "%s", hw_last_error());
    CHECK(c->hook_att_n + c->hook_big_n + c->hook_row_n + c->hook_snap_n == 0,
          "hook buffers without hooks");
    hw_context_reset(c);
    hw_capture *cap = hw_capture_new();
    hw_capture_want(cap, HW_HOOK_PATTERN, 3);
    hw_hooks *h = hw_hooks_new();
    hw_hooks_add_capture(h, cap);
    CHECK(hw_forward_hooked(c, tok, T, HW_LOGITS_NONE, NULL, h) == HW_OK, "%s", hw_last_error());
    CHECK(c->hook_att_n == (size_t)cfg->n_head * T * T && c->hook_big_n == 0 &&
              c->hook_row_n == 0, "att %zu big %zu row %zu", c->hook_att_n, c->hook_big_n,
          c->hook_row_n);
    CHECK(hw_capture_count(cap) == 1, "%d entries for one layer's pattern", hw_capture_count(cap));
    hw_hooks_free(h);
    hw_capture_free(cap);
    hw_context_free(c);
}

static void stories_observing(void) { observing_changes_nothing(model, "stories260K"); }
static void stories_identities(void) { identity_interventions(model, "stories260K"); }
static void stories_gqa(void) { gqa_group_is_kv_head(model, 1, 2, "stories260K"); }

/* ------------------------------------------------------------ PyTorch refs */

static void reference_case(const char *dir, int layer, int head) {
    char path[1024];
    hw_model *m = hw_model_load(dir);
    CHECK(m != NULL, "%s: %s", dir, hw_last_error());
    if (!m) return;
    const hw_config *cfg = hw_model_config(m);
    const int V = cfg->vocab_size;
    int tok[13];
    float *ref = malloc(sizeof(float) * 13 * V), *out = malloc(sizeof(float) * 13 * V);
    float *plain = malloc(sizeof(float) * 13 * V);
    snprintf(path, sizeof path, "%s/tokens.i32", dir);
    FILE *f = fopen(path, "rb");
    int ok = f && fread(tok, sizeof(int), 13, f) == 13;
    if (f) fclose(f);
    snprintf(path, sizeof path, "%s/masked.f32", dir);
    f = fopen(path, "rb");
    ok = ok && f && fread(ref, sizeof(float), (size_t)13 * V, f) == (size_t)13 * V;
    if (f) fclose(f);
    CHECK(ok, "%s: cannot read tokens.i32 / masked.f32", dir);
    const char *name = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
    hw_head h1 = {layer, head};
    for (int split = 13; ok && split >= 5; split -= 8) {
        hw_hooks *h = hw_hooks_new();
        hw_hooks_mask_uniform(h, &h1, 1, HW_PHASE_BOTH);
        CHECK(run_logits(m, tok, 13, split, h, out) == HW_OK, "%s", hw_last_error());
        CHECK(run_logits(m, tok, 13, split, NULL, plain) == HW_OK, "%s", hw_last_error());
        float d = max_abs_diff(out, ref, (size_t)13 * V);
        float moved = max_abs_diff(plain, ref, (size_t)13 * V);
        CHECK(d < 1e-4 && moved > 1e-2, "%s: mask-uniform %d.%d vs torch %g (mask moves %g)", name,
              layer, head, d, moved);
        printf("  %s: mask-uniform %d.%d vs PyTorch, prefill %d + decode %d: %.2g (masking moves "
               "logits by %.2g)\n", name, layer, head, split, 13 - split, d, moved);
        hw_hooks_free(h);
    }
    observing_changes_nothing(m, name);
    identity_interventions(m, name);
    if (cfg->n_kv_head < cfg->n_head) gqa_group_is_kv_head(m, 1, cfg->n_kv_head - 1, name);
    free(ref);
    free(out);
    free(plain);
    hw_model_free(m);
}

int main(int argc, char **argv) {
    hw_set_threads(2);
    if (argc == 5 && !strcmp(argv[1], "--ref")) {
        char label[512];
        const char *name = strrchr(argv[2], '/') ? strrchr(argv[2], '/') + 1 : argv[2];
        snprintf(label, sizeof label, "hooks/%s", name);
        check_case_failed = 0;
        reference_case(argv[2], atoi(argv[3]), atoi(argv[4]));
        printf("%s %s\n", check_case_failed ? "FAIL" : "PASS", label);
        return check_case_failed;
    }
    model = hw_model_load(stories());
    if (!model) {
        printf("FAIL load stories260K: %s\n", hw_last_error());
        return 1;
    }
    RUN(stories_observing);
    RUN(stories_identities);
    RUN(stories_gqa);
    RUN(zero_output_equals_weight_edit);
    RUN(phases);
    RUN(mean_ablation);
    RUN(names_and_errors);
    RUN(allocates_only_what_is_asked);
    hw_model_free(model);
    CHECK_DONE();
}

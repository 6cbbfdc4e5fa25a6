/* test_tokenizer.c: llama2.c tokenizer.bin on the real 512 and 32000 piece
 * vocabularies, against SentencePiece's published ids, a stories260K greedy
 * path, a plain O(n^2) rescan of llama2.c's merge loop, and broken files. */
#include "check.h"
#include "headwise.h"
#include "tokenizer/tokenizer.h"

#include <stdint.h>
#include <unistd.h>

#define TOK512 "models/stories260K/tok512.bin"
#define TOK32K "models/llama2-tokenizer/tokenizer.bin"

static char *read_all(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            char *b = realloc(buf, 2 * cap + 1);
            if (!b) { free(buf); buf = NULL; break; }
            buf = b;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf) buf[n] = 0;
    if (len) *len = n;
    return buf;
}

/* Encode text with BOS; returns a malloc'd array and its length in *n. */
static int *encode(const hw_tokenizer *t, const char *text, int flags, int *n) {
    *n = hw_tokenizer_encode(t, text, flags, NULL, 0);
    if (*n < 0) return NULL;
    int *ids = malloc((size_t)(*n + 1) * sizeof *ids);
    int m = hw_tokenizer_encode(t, text, flags, ids, *n);
    if (m != *n) {
        free(ids);
        return NULL;
    }
    return ids;
}

/* Concatenate the decoded pieces of ids (starting after prev). */
static char *decode_all(const hw_tokenizer *t, int prev, const int *ids, int n, size_t *len) {
    size_t cap = 64, k = 0;
    char *out = malloc(cap);
    for (int i = 0; i < n && out; i++) {
        size_t l;
        const char *p = hw_tokenizer_decode(t, prev, ids[i], &l);
        if (!p) { free(out); return NULL; }
        while (k + l + 1 > cap) {
            cap *= 2;
            char *o = realloc(out, cap);
            if (!o) { free(out); return NULL; }
            out = o;
        }
        memcpy(out + k, p, l);
        k += l;
        prev = ids[i];
    }
    if (out) out[k] = 0;
    if (len) *len = k;
    return out;
}

static int same_ids(const int *a, int na, const int *b, int nb) {
    if (na != nb) return 0;
    for (int i = 0; i < na; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

static void print_ids(const char *what, const int *ids, int n) {
    fprintf(stderr, "  %s (%d):", what, n);
    for (int i = 0; i < n && i < 80; i++) fprintf(stderr, " %d", ids[i]);
    fprintf(stderr, "\n");
}

/* ------------------------------------------------------------ published ids */

static void llama2_published_ids(void) {
    /* SentencePiece's ids for llama2.c's test.c prompts (with BOS). */
    static const struct { const char *text; int n; int ids[64]; } cases[] = {
        {"", 1, {1}},
        {"I believe the meaning of life is", 8, {1, 306, 4658, 278, 6593, 310, 2834, 338}},
        {"Simply put, the theory of relativity states that ", 13,
         {1, 3439, 17632, 1925, 29892, 278, 6368, 310, 14215, 537, 5922, 393, 29871}},
        {"A brief message congratulating the team on the launch:\n\n        Hi everyone,\n\n        I just ",
         26, {1, 319, 11473, 2643, 378, 629, 271, 18099, 278, 3815, 373, 278, 6826, 29901, 13, 13,
              4706, 6324, 14332, 29892, 13, 13, 4706, 306, 925, 29871}},
        {"Translate English to French:\n\n        sea otter => loutre de mer\n        peppermint => "
         "menthe poivrée\n        plush girafe => girafe peluche\n        cheese =>",
         50, {1, 4103, 9632, 4223, 304, 5176, 29901, 13, 13, 4706, 7205, 4932, 357, 1149, 301, 449,
              276, 316, 2778, 13, 4706, 1236, 407, 837, 524, 1149, 6042, 354, 772, 440, 29878, 1318,
              13, 4706, 715, 1878, 330, 3055, 1725, 1149, 330, 3055, 1725, 4639, 28754, 13, 4706,
              923, 968, 1149}},
    };
    hw_tokenizer *t = hw_tokenizer_load(shared_path(TOK32K), 32000);
    CHECK(t, "load: %s", hw_last_error());
    if (!t) return;
    CHECK(hw_tokenizer_vocab_size(t) == 32000, "vocab %d", hw_tokenizer_vocab_size(t));
    CHECK(hw_tokenizer_bos(t) == 1 && hw_tokenizer_eos(t) == 2, "bos/eos");
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        int n;
        int *ids = encode(t, cases[c].text, HW_TOK_BOS, &n);
        CHECK(ids && same_ids(ids, n, cases[c].ids, cases[c].n), "case %zu differs", c);
        if (ids && !same_ids(ids, n, cases[c].ids, cases[c].n)) {
            print_ids("got", ids, n);
            print_ids("want", cases[c].ids, cases[c].n);
        }
        /* Decoding after BOS gives the text back. */
        char *back = ids ? decode_all(t, ids[0], ids + 1, n - 1, NULL) : NULL;
        CHECK(back && strcmp(back, cases[c].text) == 0, "case %zu decodes to [%s]", c,
              back ? back : "(null)");
        free(back);
        free(ids);
    }
    hw_tokenizer_free(t);
}

/* ------------------------------------------------------------ stories260K */

static void tok512_greedy_path(void) {
    hw_tokenizer *t = hw_tokenizer_load(shared_path(TOK512), 512);
    CHECK(t, "load: %s", hw_last_error());
    size_t glen = 0;
    char *inputs = read_all(shared_path("models/stories260K/greedy-64-inputs.txt"), NULL);
    char *greedy = read_all(shared_path("models/stories260K/greedy-200.txt"), &glen);
    CHECK(inputs && greedy, "reference files missing");
    if (t && inputs && greedy) {
        int ids[128], n = 0;
        char *p = inputs, *end;
        for (long v; n < 128 && (v = strtol(p, &end, 10), end != p); p = end) ids[n++] = (int)v;
        CHECK(n == 64 && ids[0] == 1, "read %d ids, first %d", n, ids[0]);
        size_t len;
        char *text = decode_all(t, ids[0], ids + 1, n - 1, &len);
        CHECK(text && len > 100 && len <= glen && memcmp(text, greedy, len) == 0,
              "decoded path is not a prefix of greedy-200.txt: [%s]", text ? text : "(null)");
        CHECK(text && strncmp(text, "Once upon a time, there was a little girl named Lily.", 53) == 0,
              "starts [%.60s]", text ? text : "");
        /* The model's greedy path is also how the tokenizer itself splits this text. */
        int m;
        int *again = text ? encode(t, text, HW_TOK_BOS, &m) : NULL;
        CHECK(again && same_ids(again, m, ids, n), "re-encoding the path differs");
        if (again && !same_ids(again, m, ids, n)) {
            print_ids("got", again, m);
            print_ids("want", ids, n);
        }
        free(again);
        free(text);
    }
    free(inputs);
    free(greedy);
    hw_tokenizer_free(t);
}

/* ------------------------------------------------------------ round trips */

static const char *varied[] = {
    "Once upon a time, there was a little girl named Lily.",
    "  two leading spaces, and   three inside, trailing  ",
    " a single leading space",
    "tabs\tand\nnewlines\n\n\nand \r\n CRLF",
    "Café crème brûlée, naïve façade, Ångström, Øresund, Łódź, ß",
    "Ελληνικά και Русский текст, עִבְרִית, العربية",
    "日本語のテキストと中文文本, 한국어",
    "emoji: 😀🎉👍🏽 family 👨‍👩‍👧‍👦 flags 🇫🇷🇯🇵",
    "math ∀x∈ℝ: x² ≥ 0, ∑ᵢ aᵢ = ∞ ≠ ∅",
    "code: int main(void) { return a[i] >> 2 && b != 0; } // ok",
    "numbers 3.14159 2,718 1e-10 0x7fffffff -42 12345678901234567890",
    "<s> </s> <unk> <0x41> look like specials but are text",
    "\x01\x02\x7f control bytes",
    "x",
    " ",
    "\n",
};

static void round_trip(const char *path, int vocab) {
    hw_tokenizer *t = hw_tokenizer_load(shared_path(path), vocab);
    CHECK(t, "load %s: %s", path, hw_last_error());
    if (!t) return;
    for (size_t c = 0; c < sizeof varied / sizeof varied[0]; c++) {
        for (int flags = 0; flags <= HW_TOK_BOS; flags += HW_TOK_BOS) {
            int n;
            int *ids = encode(t, varied[c], flags, &n);
            CHECK(ids && n > 0, "encode [%s]", varied[c]);
            if (!ids) continue;
            for (int i = 0; i < n; i++) CHECK(ids[i] >= 0 && ids[i] < vocab, "id %d", ids[i]);
            int skip = flags & HW_TOK_BOS ? 1 : 0;
            char *back = decode_all(t, skip ? ids[0] : -1, ids + skip, n - skip, NULL);
            CHECK(back && strcmp(back, varied[c]) == 0, "[%s] came back as [%s]", varied[c],
                  back ? back : "(null)");
            free(back);
            free(ids);
        }
    }
    hw_tokenizer_free(t);
}

static void tok512_round_trip(void) { round_trip(TOK512, 512); }
static void llama2_round_trip(void) { round_trip(TOK32K, 32000); }

static void byte_fallback(void) {
    hw_tokenizer *t = hw_tokenizer_load(shared_path(TOK512), 512);
    CHECK(t, "load: %s", hw_last_error());
    if (!t) return;
    /* tok512 has no piece for the emoji U+1F600 (F0 9F 98 80): four byte pieces. */
    int ids[16];
    int n = hw_tokenizer_encode(t, "\xF0\x9F\x98\x80", 0, ids, 16);
    CHECK(n >= 5, "n %d", n);
    if (n >= 5) {
        CHECK(ids[n - 4] == 0xF0 + 3 && ids[n - 3] == 0x9F + 3 && ids[n - 2] == 0x98 + 3 &&
                  ids[n - 1] == 0x80 + 3,
              "byte ids %d %d %d %d", ids[n - 4], ids[n - 3], ids[n - 2], ids[n - 1]);
    }
    size_t len;
    const char *p = hw_tokenizer_decode(t, 5, 0xF0 + 3, &len);
    CHECK(p && len == 1 && (uint8_t)p[0] == 0xF0, "byte piece decodes to the byte");
    p = hw_tokenizer_decode(t, 5, 3, &len);
    CHECK(p && len == 1 && p[0] == 0, "<0x00> decodes to one NUL byte");
    hw_tokenizer_free(t);
}

/* ------------------------------------------------------------ the contract */

static void encode_contract(void) {
    hw_tokenizer *t = hw_tokenizer_load(shared_path(TOK32K), 32000);
    CHECK(t, "load: %s", hw_last_error());
    if (!t) return;
    const char *text = "I believe the meaning of life is";
    int n = hw_tokenizer_encode(t, text, HW_TOK_BOS | HW_TOK_EOS, NULL, 0);
    CHECK(n == 9, "count with BOS and EOS %d", n);
    int ids[12];
    for (int i = 0; i < 12; i++) ids[i] = -7;
    int m = hw_tokenizer_encode(t, text, HW_TOK_BOS | HW_TOK_EOS, ids, 4);
    CHECK(m == 9, "returns the full count %d", m);
    CHECK(ids[0] == 1 && ids[1] == 306 && ids[2] == 4658 && ids[3] == 278, "first four");
    CHECK(ids[4] == -7, "wrote past max_ids");
    m = hw_tokenizer_encode(t, text, HW_TOK_BOS | HW_TOK_EOS, ids, 12);
    CHECK(m == 9 && ids[8] == 2 && ids[9] == -7, "EOS last");
    m = hw_tokenizer_encode(t, text, 0, ids, 12);
    CHECK(m == 7 && ids[0] == 306, "no BOS: %d %d", m, ids[0]);
    CHECK(hw_tokenizer_encode(t, "", 0, ids, 12) == 0, "empty text, no flags");
    CHECK(hw_tokenizer_encode(t, NULL, 0, ids, 12) == -1, "NULL text");
    CHECK(hw_tokenizer_encode(t, text, 0, NULL, 3) == -1, "NULL ids with room");
    CHECK(hw_tokenizer_encode(t, text, 0, ids, -1) == -1, "negative max_ids");
    size_t len = 99;
    CHECK(hw_tokenizer_decode(t, 1, 32000, &len) == NULL && len == 0, "id past the end");
    CHECK(hw_tokenizer_decode(t, 1, -1, &len) == NULL, "negative id");
    const char *p = hw_tokenizer_decode(t, 1, 306, &len);
    CHECK(p && len == 1 && p[0] == 'I', "strip after BOS");
    p = hw_tokenizer_decode(t, 306, 306, &len);
    CHECK(p && len == 2 && memcmp(p, " I", 2) == 0, "keep space mid-text");
    hw_tokenizer_free(t);
    hw_tokenizer_free(NULL);
    CHECK(hw_tokenizer_vocab_size(NULL) == 0, "NULL vocab");
}

/* ------------------------------------------------------------ a plain rescan */

/* llama2.c's merge loop as written there: rescan every pair after each merge
 * and take the first strictly best score. Independent of the heap in merge.c
 * (only the piece lookup is shared). */
static int rescan_encode(const hw_tokenizer *t, const char *text, int *ids) {
    int n = 0;
    size_t len = strlen(text);
    if (len) {
        int id = hw_vocab_find(&t->vocab, " ", 1);
        ids[n++] = id >= 0 ? id : ' ' + 3;
    }
    for (size_t i = 0; i < len;) {
        size_t k = 1;
        while (k < 4 && i + k < len && ((uint8_t)text[i + k] & 0xC0) == 0x80) k++;
        int id = hw_vocab_find(&t->vocab, text + i, k);
        if (id >= 0) ids[n++] = id;
        else
            for (size_t j = 0; j < k; j++) ids[n++] = (uint8_t)text[i + j] + 3;
        i += k;
    }
    for (;;) {
        float best = -1e10f;
        int best_id = -1, best_i = -1;
        for (int i = 0; i + 1 < n; i++) {
            size_t la, lb;
            const char *a = hw_vocab_piece(&t->vocab, ids[i], &la);
            const char *b = hw_vocab_piece(&t->vocab, ids[i + 1], &lb);
            int id = hw_vocab_find2(&t->vocab, a, la, b, lb);
            if (id >= 0 && t->scores[id] > best) {
                best = t->scores[id];
                best_id = id;
                best_i = i;
            }
        }
        if (best_i < 0) break;
        ids[best_i] = best_id;
        memmove(ids + best_i + 1, ids + best_i + 2, (size_t)(n - best_i - 2) * sizeof *ids);
        n--;
    }
    return n;
}

static void heap_matches_rescan(void) {
    const char *paths[2] = {TOK512, TOK32K};
    int vocabs[2] = {512, 32000};
    size_t glen;
    char *greedy = read_all(shared_path("models/stories260K/greedy-200.txt"), &glen);
    CHECK(greedy, "greedy-200.txt");
    for (int v = 0; v < 2 && greedy; v++) {
        hw_tokenizer *t = hw_tokenizer_load(shared_path(paths[v]), vocabs[v]);
        CHECK(t, "load: %s", hw_last_error());
        if (!t) continue;
        int mismatches = 0;
        for (size_t c = 0; c <= sizeof varied / sizeof varied[0]; c++) {
            const char *text = c < sizeof varied / sizeof varied[0] ? varied[c] : greedy;
            size_t len = strlen(text);
            int *want = malloc((len + 2) * sizeof *want);
            int nw = rescan_encode(t, text, want), n;
            int *got = encode(t, text, 0, &n);
            if (!got || !same_ids(got, n, want, nw)) {
                mismatches++;
                fprintf(stderr, "  vocab %d text [%.40s]\n", vocabs[v], text);
                if (got) print_ids("heap", got, n);
                print_ids("rescan", want, nw);
            }
            free(got);
            free(want);
        }
        CHECK(mismatches == 0, "%d texts differ", mismatches);
        hw_tokenizer_free(t);
    }
    free(greedy);
}

/* A long text must not take quadratic time: 2 MB of varied text. */
static void long_text(void) {
    hw_tokenizer *t = hw_tokenizer_load(shared_path(TOK32K), 32000);
    CHECK(t, "load: %s", hw_last_error());
    if (!t) return;
    size_t cap = 2u << 20, k = 0;
    char *text = malloc(cap + 256);
    for (size_t c = 0; k < cap; c++) {
        const char *s = varied[c % (sizeof varied / sizeof varied[0])];
        size_t l = strlen(s);
        memcpy(text + k, s, l);
        k += l;
        text[k++] = c % 7 ? ' ' : '\n';
    }
    text[k] = 0;
    int n;
    int *ids = encode(t, text, HW_TOK_BOS, &n);
    CHECK(ids && n > (int)(k / 8), "n %d for %zu bytes", n, k);
    char *back = ids ? decode_all(t, ids[0], ids + 1, n - 1, NULL) : NULL;
    CHECK(back && strcmp(back, text) == 0, "2 MB round trip");
    free(back);
    free(ids);
    free(text);
    hw_tokenizer_free(t);
}

/* ------------------------------------------------------------ broken files */

typedef struct {
    uint8_t b[256];
    size_t n;
} blob;

static void put(blob *x, const void *p, size_t n) {
    memcpy(x->b + x->n, p, n);
    x->n += n;
}
static void put_i32(blob *x, int32_t v) { put(x, &v, 4); }
static void put_piece(blob *x, float score, int32_t len, const char *s) {
    put(x, &score, 4);
    put_i32(x, len);
    if (len > 0) put(x, s, strlen(s));
}

static char tmpdir[256];

static const char *write_blob(const char *name, const blob *x) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(x->b, 1, x->n, f);
        fclose(f);
    }
    return path;
}

static void expect_format_error(const char *name, const blob *x, int vocab) {
    const char *path = write_blob(name, x);
    hw_tokenizer *t = hw_tokenizer_load(path, vocab);
    CHECK(!t, "%s loaded", name);
    CHECK(strstr(hw_last_error(), path) != NULL, "%s: message [%s] does not name the file", name,
          hw_last_error());
    hw_tokenizer_free(t);
    /* The status behind the NULL: the format loader itself. */
    hw_tokenizer *raw = calloc(1, sizeof *raw);
    hw_status s = hw_tokenizer_load_llama2c(raw, path, vocab);
    CHECK(s == HW_ERR_FORMAT, "%s: status %s (%s)", name, hw_status_str(s), hw_last_error());
    hw_tokenizer_free(raw);
}

static void bad_files(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/hw_tok_XXXXXX");
    CHECK(mkdtemp(tmpdir), "mkdtemp");
    blob x;

    x.n = 0;
    put_i32(&x, 4);
    put_piece(&x, 0, 1, "a");
    put_piece(&x, 0, 40, "bc"); /* says 40 bytes, has 2 */
    expect_format_error("past_end.bin", &x, 2);

    x.n = 0;
    put_i32(&x, 4);
    put_piece(&x, 0, 1, "a");
    put(&x, "\0\0", 2); /* half a score */
    expect_format_error("mid_score.bin", &x, 2);
    expect_format_error("mid_score_all.bin", &x, 0);

    x.n = 0;
    put_i32(&x, 4);
    put_piece(&x, 0, 1, "a");
    put_piece(&x, 0, -3, "");
    expect_format_error("negative.bin", &x, 2);

    x.n = 0;
    put_i32(&x, 4);
    put_piece(&x, 0, 1, "a");
    put_piece(&x, 0, 1, "b");
    expect_format_error("too_few.bin", &x, 3);
    expect_format_error("far_too_few.bin", &x, 1000000);

    x.n = 0;
    put(&x, "\1\0", 2);
    expect_format_error("short_header.bin", &x, 1);

    x.n = 0;
    put_i32(&x, -1);
    put_piece(&x, 0, 1, "a");
    expect_format_error("negative_max.bin", &x, 1);

    x.n = 0;
    put_i32(&x, 2);
    put_piece(&x, 0, 3, "abc"); /* longer than max_token_length */
    expect_format_error("over_max.bin", &x, 1);

    x.n = 0;
    put_i32(&x, 4);
    expect_format_error("no_pieces.bin", &x, 0);

    x.n = 0;
    put_i32(&x, 4);
    put_piece(&x, 0.0f / 0.0f, 1, "a");
    expect_format_error("nan.bin", &x, 1);

    /* Missing file: an I/O error naming it. */
    char missing[600];
    snprintf(missing, sizeof missing, "%s/none.bin", tmpdir);
    CHECK(!hw_tokenizer_load(missing, 10) && strstr(hw_last_error(), missing), "missing file");
    CHECK(!hw_tokenizer_load(NULL, 10), "NULL path");

    /* A well-formed tiny file with extra pieces loads the first vocab_size. */
    x.n = 0;
    put_i32(&x, 2);
    put_piece(&x, 0, 1, "a");
    put_piece(&x, 0, 1, "b");
    put_piece(&x, -1, 2, "ab");
    const char *path = write_blob("tiny.bin", &x);
    hw_tokenizer *t = hw_tokenizer_load(path, 2);
    CHECK(t && hw_tokenizer_vocab_size(t) == 2, "first 2 pieces: %s", hw_last_error());
    hw_tokenizer_free(t);
    t = hw_tokenizer_load(path, 0);
    CHECK(t && hw_tokenizer_vocab_size(t) == 3, "all pieces: %s", hw_last_error());
    if (t) {
        /* No " " piece and no byte pieces: encoding "ab" cannot fall back. */
        CHECK(hw_tokenizer_encode(t, "ab", 0, NULL, 0) == -1, "no byte fallback available");
        hw_tokenizer_free(t);
    }

    const char *names[] = {"past_end.bin", "mid_score.bin", "mid_score_all.bin", "negative.bin",
                           "too_few.bin", "far_too_few.bin", "short_header.bin",
                           "negative_max.bin", "over_max.bin", "no_pieces.bin", "nan.bin",
                           "tiny.bin"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        char p[600];
        snprintf(p, sizeof p, "%s/%s", tmpdir, names[i]);
        unlink(p);
    }
    rmdir(tmpdir);
}

int main(void) {
    RUN(llama2_published_ids);
    RUN(tok512_greedy_path);
    RUN(tok512_round_trip);
    RUN(llama2_round_trip);
    RUN(byte_fallback);
    RUN(encode_contract);
    RUN(heap_matches_rescan);
    RUN(long_text);
    RUN(bad_files);
    CHECK_DONE();
}

/* test_wordlevel.c: WordLevel tokenizer.json files: the writer's output read
 * back (ids, BOS from the template, decoding joined by spaces), a file as
 * Hugging Face writes it by hand with unk and a decoder-free join, and every
 * malformed input (writer arguments, unknown words without unk, broken
 * models) giving one clear error. */
#include "check.h"
#include "headwise.h"
#include "tokenizer/tokenizer.h"

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

static const char *write_text(const char *name, const char *text) {
    const char *p = tmp(name);
    FILE *f = fopen(p, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return p;
}

/* The decoded text of ids (n), piece after piece as hw_generate prints it. */
static const char *decode_all(const hw_tokenizer *t, const int *ids, int n) {
    static char out[1024];
    size_t k = 0;
    for (int i = 0; i < n; i++) {
        size_t len;
        const char *s = hw_tokenizer_decode(t, i ? ids[i - 1] : -1, ids[i], &len);
        if (!s || k + len >= sizeof out) return "(decode failed)";
        memcpy(out + k, s, len);
        k += len;
    }
    out[k] = 0;
    return out;
}

static void written_round_trip(void) {
    const char *sym[] = {"<bos>", "t0", "t1", "SEP", "Q:", "monday", "\"quoted\"", "\xc3\xa9t\xc3\xa9"};
    int n = (int)(sizeof sym / sizeof sym[0]);
    const char *path = tmp("rt.json");
    hw_status s = hw_tokenizer_write_wordlevel(path, sym, n, 0, -1);
    CHECK(s == HW_OK, "write: %s", hw_last_error());
    hw_tokenizer *t = hw_tokenizer_load(path, 0);
    CHECK(t, "load: %s", hw_last_error());
    if (!t) return;
    CHECK(hw_tokenizer_vocab_size(t) == n, "vocab %d", hw_tokenizer_vocab_size(t));
    CHECK(hw_tokenizer_bos(t) == 0, "bos %d (from the template)", hw_tokenizer_bos(t));
    int ids[16];
    int k = hw_tokenizer_encode(t, "  t1 t0\tSEP\nQ: monday \"quoted\" \xc3\xa9t\xc3\xa9 ", HW_TOK_BOS, ids, 16);
    int want[] = {0, 2, 1, 3, 4, 5, 6, 7};
    CHECK(k == 8, "%d ids", k);
    for (int i = 0; i < 8 && k == 8; i++) CHECK(ids[i] == want[i], "id %d: %d, want %d", i, ids[i], want[i]);
    /* Every symbol is its own id, even when it is a prefix of another. */
    for (int i = 1; i < n; i++) {
        int one = -1;
        CHECK(hw_tokenizer_encode(t, sym[i], 0, &one, 1) == 1 && one == i, "%s -> %d", sym[i], one);
    }
    /* BOS first prints nothing before the text; pieces are joined by spaces. */
    const char *text = decode_all(t, ids + 1, k - 1);
    CHECK(!strcmp(text, "t1 t0 SEP Q: monday \"quoted\" \xc3\xa9t\xc3\xa9"), "decoded [%s]", text);
    size_t len;
    const char *p = hw_tokenizer_decode(t, 0, 2, &len);
    CHECK(p && len == 2 && !memcmp(p, "t1", 2), "after BOS: no space");
    p = hw_tokenizer_decode(t, 2, 3, &len);
    CHECK(p && len == 4 && !memcmp(p, " SEP", 4), "after a piece: a space");
    CHECK(hw_tokenizer_encode(t, "t0 t7", 0, ids, 16) < 0 && strstr(hw_last_error(), "t7"),
          "unknown word without unk: [%s]", hw_last_error());
    CHECK(hw_tokenizer_encode(t, "", 0, ids, 16) == 0, "empty text");
    hw_tokenizer_free(t);

    /* Through the folder, as every command finds it. */
    const char *dir = tmp("folder");
    mkdir(dir, 0755);
    char file[700];
    snprintf(file, sizeof file, "%s/tokenizer.json", dir);
    CHECK(hw_tokenizer_write_wordlevel(file, sym, n, 0, -1) == HW_OK, "%s", hw_last_error());
    t = hw_tokenizer_load(dir, 0);
    CHECK(t && hw_tokenizer_vocab_size(t) == n, "folder: %s", hw_last_error());
    hw_tokenizer_free(t);
}

static void unk_and_hand_written(void) {
    /* As a user might write it: no added tokens, unk in the vocab, a Whitespace
     * pre-tokenizer (punctuation split from words). */
    const char *path = write_text("hand.json",
                                  "{\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"[UNK]\":0,\"hello\":1,\"world\":2,\"!\":3},"
                                  "\"unk_token\":\"[UNK]\"},\"pre_tokenizer\":{\"type\":\"Whitespace\"},\"decoder\":null}");
    hw_tokenizer *t = hw_tokenizer_load(path, 0);
    CHECK(t, "%s", hw_last_error());
    if (!t) return;
    int ids[8], k = hw_tokenizer_encode(t, "hello world! bye", HW_TOK_BOS, ids, 8);
    int want[] = {1, 2, 3, 0};
    CHECK(k == 4, "%d ids (no BOS token to add)", k);
    for (int i = 0; i < 4 && k == 4; i++) CHECK(ids[i] == want[i], "id %d: %d want %d", i, ids[i], want[i]);
    const char *text = decode_all(t, ids, k);
    CHECK(!strcmp(text, "hello world ! [UNK]"), "decoded [%s]", text);
    hw_tokenizer_free(t);
}

static void expect_load_error(const char *name, const char *json, const char *mention) {
    const char *path = write_text(name, json);
    hw_tokenizer *t = hw_tokenizer_load(path, 0);
    CHECK(!t, "%s loaded", name);
    CHECK(strstr(hw_last_error(), path) && strstr(hw_last_error(), mention), "%s: [%s] should name the file and %s",
          name, hw_last_error(), mention);
    hw_tokenizer_free(t);
}

static void malformed(void) {
    expect_load_error("novocab.json", "{\"model\":{\"type\":\"WordLevel\"}}", "vocab");
    expect_load_error("vocablist.json", "{\"model\":{\"type\":\"WordLevel\",\"vocab\":[\"a\"]}}", "vocab");
    expect_load_error("badid.json", "{\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"a\":-3}}}", "a");
    expect_load_error("dup.json", "{\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"a\":0,\"b\":0}}}", "both");
    expect_load_error("empty.json", "{\"model\":{\"type\":\"WordLevel\",\"vocab\":{}}}", "empty");
    expect_load_error("dec.json", "{\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"a\":0}},\"decoder\":{\"type\":\"CTC\"}}",
                      "CTC");
    expect_load_error("pre.json",
                      "{\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"a\":0}},\"pre_tokenizer\":{\"type\":\"BertPreTokenizer\"}}",
                      "BertPreTokenizer");

    /* Writer arguments. */
    const char *ok[] = {"a", "b"}, *space[] = {"a", "b c"}, *dup[] = {"a", "b", "a"}, *empty[] = {"a", ""};
    const char *path = tmp("w.json");
    CHECK(hw_tokenizer_write_wordlevel(path, space, 2, -1, -1) == HW_ERR_ARG && strstr(hw_last_error(), "whitespace"),
          "[%s]", hw_last_error());
    CHECK(hw_tokenizer_write_wordlevel(path, dup, 3, -1, -1) == HW_ERR_ARG && strstr(hw_last_error(), "both"),
          "[%s]", hw_last_error());
    CHECK(hw_tokenizer_write_wordlevel(path, empty, 2, -1, -1) == HW_ERR_ARG && strstr(hw_last_error(), "empty"),
          "[%s]", hw_last_error());
    CHECK(hw_tokenizer_write_wordlevel(path, ok, 2, 2, -1) == HW_ERR_ARG, "bos out of range");
    CHECK(hw_tokenizer_write_wordlevel(path, ok, 0, -1, -1) == HW_ERR_ARG, "no symbols");
    CHECK(access(path, F_OK) != 0, "nothing written on errors");
    CHECK(hw_tokenizer_write_wordlevel(tmp("nodir/x.json"), ok, 2, -1, -1) != HW_OK, "missing folder");
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/hw_wordlevel_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        printf("FAIL mkdtemp\n");
        return 1;
    }
    RUN(written_round_trip);
    RUN(unk_and_hand_written);
    RUN(malformed);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    CHECK_DONE();
}

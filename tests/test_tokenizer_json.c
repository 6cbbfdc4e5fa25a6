/* test_tokenizer_json.c: tokenizer.json and encoder.json + vocab.bpe on tiny
 * files written here: each pipeline part on a case worked out by hand (split
 * behaviours, added tokens, byte fallback and unk, ignore_merges, Metaspace,
 * decoders, BOS/EOS), and every kind of broken file giving one error that
 * names the file. Real vocabularies are compared with independent tokenizers
 * in tokenizer_conformance_test.sh. */
#include "check.h"
#include "headwise.h"
#include "tokenizer/tokenizer.h"

#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[256];

static const char *write_file(const char *name, const char *text) {
    static char path[8][600];
    static int next;
    char *p = path[next++ % 8];
    snprintf(p, sizeof path[0], "%s/%s", tmpdir, name);
    FILE *f = fopen(p, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
    return p;
}

/* A char-level vocabulary: a b c ' ' "a " " b" "  " ab abc, then byte pieces
 * for 0xC3 and 0x41 only, <unk>, <X>, <XY>, <Y>, ▁, ▁a, ▁b, Å, and "ba",
 * which no merge makes. */
#define VOCAB                                                                          \
    "{\"a\":0,\"b\":1,\"c\":2,\" \":3,\"a \":4,\" b\":5,\"  \":6,\"ab\":7,\"abc\":8,"  \
    "\"<0xC3>\":9,\"<0x41>\":10,\"<unk>\":11,\"\\u2581\":15,\"\\u2581a\":16,\"\\u2581b\":17,"   \
    "\"\\u00c5\":18,\"ba\":19}"
#define MERGES "[[\"a\",\" \"],[\" \",\"b\"],[\" \",\" \"],\"a b\",\"ab c\",\"\\u2581 a\",\"\\u2581 b\"]"
#define ADDED                                                                           \
    "[{\"id\":12,\"content\":\"<X>\",\"special\":true},"                               \
    "{\"id\":13,\"content\":\"<XY>\",\"special\":true},"                               \
    "{\"id\":14,\"content\":\"<Y>\",\"special\":false,\"lstrip\":true,\"rstrip\":true}]"

/* The post_processor tiny() writes. */
static const char *tiny_post = "null";

/* A tokenizer.json with the given parts (JSON text, "null" for none). */
static hw_tokenizer *tiny(const char *name, const char *model_extra, const char *normalizer,
                          const char *pre, const char *decoder) {
    char json[4096];
    snprintf(json, sizeof json,
             "{\"version\":\"1.0\",\"added_tokens\":" ADDED ",\"normalizer\":%s,\"pre_tokenizer\":%s,"
             "\"post_processor\":%s,\"decoder\":%s,\"model\":{\"type\":\"BPE\",%s\"vocab\":" VOCAB
             ",\"merges\":" MERGES "}}",
             normalizer, pre, tiny_post, decoder, model_extra);
    char dir[600];
    snprintf(dir, sizeof dir, "%s/%s", tmpdir, name);
    mkdir(dir, 0755);
    char file[64];
    snprintf(file, sizeof file, "%s/tokenizer.json", name);
    const char *path = write_file(file, json);
    hw_tokenizer *t = hw_tokenizer_load(path, 0);
    CHECK(t, "%s: %s", name, hw_last_error());
    return t;
}

/* ids of text == want (terminated by -1). */
static int ids_are(const hw_tokenizer *t, const char *text, const int *want) {
    int got[64];
    int n = t ? hw_tokenizer_encode(t, text, 0, got, 64) : -1;
    int k = 0;
    while (want[k] >= 0) k++;
    int ok = n == k;
    for (int i = 0; ok && i < k; i++) ok = got[i] == want[i];
    if (!ok) {
        fprintf(stderr, "  [%s] got", text);
        for (int i = 0; i < n && i < 64; i++) fprintf(stderr, " %d", got[i]);
        fprintf(stderr, ", want");
        for (int i = 0; i < k; i++) fprintf(stderr, " %d", want[i]);
        fprintf(stderr, "\n");
    }
    return ok;
}
#define IDS(...) ((const int[]){__VA_ARGS__, -1})

static char *decode_all(const hw_tokenizer *t, const int *ids, int n) {
    static char out[256];
    size_t k = 0;
    int prev = -1;
    for (int i = 0; i < n; i++) {
        size_t l;
        const char *p = hw_tokenizer_decode(t, prev, ids[i], &l);
        if (!p || k + l >= sizeof out) return NULL;
        memcpy(out + k, p, l);
        k += l;
        prev = ids[i];
    }
    out[k] = 0;
    return out;
}

/* ------------------------------------------------------------ the model */

static void merges_by_rank(void) {
    hw_tokenizer *t = tiny("plain", "", "null", "null", "null");
    CHECK(ids_are(t, "abc", IDS(8)), "ab then abc");
    CHECK(ids_are(t, "a b", IDS(4, 1)), "(a, ' ') ranks before (' ', b)");
    CHECK(ids_are(t, "ab ab", IDS(7, 3, 7)), "' ' cannot merge with ab");
    CHECK(ids_are(t, "   ", IDS(6, 3)), "leftmost of equal pairs first");
    CHECK(hw_tokenizer_vocab_size(t) == 20, "ids up to 19: %d", hw_tokenizer_vocab_size(t));
    CHECK(ids_are(t, "ba", IDS(1, 0)), "no merge makes ba");
    hw_tokenizer_free(t);
}

static void byte_fallback_and_unk(void) {
    /* "é" is C3 A9: <0xA9> is missing, so with byte fallback it is still unknown. */
    hw_tokenizer *t = tiny("fallback", "\"byte_fallback\":true,\"unk_token\":\"<unk>\",\"fuse_unk\":true,", "null",
                           "null", "null");
    CHECK(ids_are(t, "\xC3", IDS(9)), "a lone byte with a piece");
    CHECK(ids_are(t, "a\xC3\xA9\xC3\xA9z", IDS(0, 11)), "unknowns fused into one unk");
    hw_tokenizer_free(t);
    t = tiny("unk", "\"unk_token\":\"<unk>\",", "null", "null", "null");
    CHECK(ids_are(t, "aAzz", IDS(0, 11, 11, 11)), "no fuse: one unk each");
    hw_tokenizer_free(t);
    t = tiny("drop", "", "null", "null", "null");
    /* No unk token: dropped, as tokenizers does, and what is left merges. */
    CHECK(ids_are(t, "azb", IDS(7)), "z dropped, then a b merge");
    hw_tokenizer_free(t);
}

static void ignore_merges(void) {
    /* With ignore_merges a word that is a piece is taken whole, even one no
     * merge makes ("ba"); other words go through the merges. */
    hw_tokenizer *t = tiny("nomerge_on", "\"ignore_merges\":true,", "null",
                           "{\"type\":\"Split\",\"pattern\":{\"String\":\" \"},\"behavior\":\"Removed\"}",
                           "null");
    CHECK(ids_are(t, "ba abca bab", IDS(19, 8, 0, 1, 7)), "whole words");
    hw_tokenizer_free(t);
}

/* ------------------------------------------------------------ pre-tokenizers */

static void split_behaviours(void) {
    static const struct {
        const char *behavior;
        const char *text;
        int want[6];
    } cases[] = {
        {"Removed", "a b", {0, 1, -1}},
        {"Isolated", "a b", {0, 3, 1, -1}},
        {"MergedWithPrevious", "a b", {4, 1, -1}},
        {"MergedWithNext", "a b", {0, 5, -1}},
        {"Isolated", "a  b", {0, 3, 3, 1, -1}},
        {"Contiguous", "a  b", {0, 6, 1, -1}},
        {"MergedWithNext", "a  b", {0, 3, 5, -1}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char pre[256], name[32];
        snprintf(pre, sizeof pre, "{\"type\":\"Split\",\"pattern\":{\"String\":\" \"},\"behavior\":\"%s\",\"invert\":false}",
                 cases[i].behavior);
        snprintf(name, sizeof name, "split%zu", i);
        hw_tokenizer *t = tiny(name, "", "null", pre, "null");
        CHECK(ids_are(t, cases[i].text, cases[i].want), "%s on [%s]", cases[i].behavior, cases[i].text);
        hw_tokenizer_free(t);
    }
    /* invert: the pattern marks what to keep; the rest is the delimiter. */
    hw_tokenizer *t = tiny("invert", "", "null",
                           "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"[ab]+\"},\"behavior\":\"Removed\",\"invert\":true}",
                           "null");
    CHECK(ids_are(t, "ab  ab", IDS(7, 7)), "inverted Removed keeps the matches");
    hw_tokenizer_free(t);
    /* Unicode properties: \p{L}+ splits letters from the rest. */
    t = tiny("unicode", "", "null",
             "{\"type\":\"Split\",\"pattern\":{\"Regex\":\"\\\\p{L}+\"},\"behavior\":\"Isolated\"}", "null");
    CHECK(ids_are(t, "ab c", IDS(7, 3, 2)), "letters isolated");
    hw_tokenizer_free(t);
}

static void metaspace(void) {
    const char *fmt = "{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\",\"prepend_scheme\":\"%s\",\"split\":%s}";
    char pre[256];
    snprintf(pre, sizeof pre, fmt, "always", "true");
    hw_tokenizer *t = tiny("ms_always", "", "null", pre, "null");
    CHECK(ids_are(t, "a b", IDS(16, 17)), "prefix and split");
    CHECK(ids_are(t, "a<X>b", IDS(16, 12, 17)), "always: every stretch gets the prefix");
    hw_tokenizer_free(t);
    snprintf(pre, sizeof pre, fmt, "first", "true");
    t = tiny("ms_first", "", "null", pre, "null");
    CHECK(ids_are(t, "a<X>b", IDS(16, 12, 1)), "first: only the start");
    CHECK(ids_are(t, " a", IDS(16)), "a leading space is the prefix");
    hw_tokenizer_free(t);
    snprintf(pre, sizeof pre, fmt, "never", "false");
    t = tiny("ms_never", "", "null", pre, "null");
    CHECK(ids_are(t, "a b", IDS(0, 17)), "no prefix, no split");
    hw_tokenizer_free(t);
}

/* ------------------------------------------------------------ added tokens */

static void added_tokens(void) {
    hw_tokenizer *t = tiny("added", "", "null", "null", "null");
    CHECK(ids_are(t, "a<X>b", IDS(0, 12, 1)), "special in the middle");
    CHECK(ids_are(t, "<XY><X>", IDS(13, 12)), "longest match first");
    CHECK(ids_are(t, "<X", (const int[]){-1}), "a partial match is text (unknown characters dropped)");
    CHECK(ids_are(t, "a <Y> b", IDS(0, 14, 1)), "lstrip and rstrip swallow the spaces");
    CHECK(ids_are(t, "a <X> b", IDS(4, 12, 5)), "no strip: spaces stay");
    hw_tokenizer_free(t);
}

/* ------------------------------------------------------------ normalizers, decoders */

static void normalizers(void) {
    hw_tokenizer *t = tiny("norm",
                           "", "{\"type\":\"Sequence\",\"normalizers\":[{\"type\":\"Prepend\",\"prepend\":\"\\u2581\"},"
                           "{\"type\":\"Replace\",\"pattern\":{\"String\":\" \"},\"content\":\"\\u2581\"}]}",
                           "null", "null");
    CHECK(ids_are(t, "a b", IDS(16, 17)), "Prepend + Replace");
    CHECK(ids_are(t, "a<X>b", IDS(16, 12, 17)), "Prepend applies to each stretch (legacy Llama)");
    hw_tokenizer_free(t);
    t = tiny("norm_re", "", "{\"type\":\"Replace\",\"pattern\":{\"Regex\":\"c+\"},\"content\":\"b\"}", "null", "null");
    CHECK(ids_are(t, "accc", IDS(7)), "regex Replace");
    hw_tokenizer_free(t);
    t = tiny("nfc", "", "{\"type\":\"NFC\"}", "null", "null");
    CHECK(ids_are(t, "A\xCC\x8A", IDS(18)), "A + combining ring composes to the piece Å");
    hw_tokenizer_free(t);
    t = tiny("no_nfc", "", "null", "null", "null");
    CHECK(ids_are(t, "A\xCC\x8A", (const int[]){-1}), "without NFC neither character is a piece");
    hw_tokenizer_free(t);
}

static void decoders(void) {
    hw_tokenizer *t = tiny("dec_spm", "", "null", "null",
                           "{\"type\":\"Sequence\",\"decoders\":[{\"type\":\"Replace\",\"pattern\":{\"String\":\"\\u2581\"},"
                           "\"content\":\" \"},{\"type\":\"ByteFallback\"},{\"type\":\"Fuse\"},"
                           "{\"type\":\"Strip\",\"content\":\" \",\"start\":1,\"stop\":0}]}");
    int ids[] = {16, 17, 10, 9};
    char *s = t ? decode_all(t, ids, 4) : NULL;
    CHECK(s && strcmp(s, "a bA\xC3") == 0, "[%s]", s ? s : "(null)");
    size_t len;
    const char *p = t ? hw_tokenizer_decode(t, 3, 16, &len) : NULL;
    CHECK(p && len == 2 && memcmp(p, " a", 2) == 0, "space kept mid-text");
    hw_tokenizer_free(t);
    t = tiny("dec_ms", "", "null", "null",
             "{\"type\":\"Metaspace\",\"replacement\":\"\\u2581\",\"prepend_scheme\":\"always\"}");
    s = t ? decode_all(t, ids, 2) : NULL;
    CHECK(s && strcmp(s, "a b") == 0, "[%s]", s ? s : "(null)");
    hw_tokenizer_free(t);
    t = tiny("dec_none", "", "null", "null", "null");
    s = t ? decode_all(t, ids, 3) : NULL;
    CHECK(s && strcmp(s, "\xE2\x96\x81" "a\xE2\x96\x81" "b<0x41>") == 0, "no decoder: pieces as they are");
    hw_tokenizer_free(t);
}

/* ------------------------------------------------------------ BOS / EOS */

static void bos_eos(void) {
    hw_tokenizer *t = tiny("noconfig", "", "null", "null", "null");
    CHECK(t && hw_tokenizer_bos(t) == -1 && hw_tokenizer_eos(t) == -1, "no known names");
    int ids[4];
    CHECK(t && hw_tokenizer_encode(t, "a", HW_TOK_BOS | HW_TOK_EOS, ids, 4) == 1, "no BOS/EOS to add");
    hw_tokenizer_free(t);
    char dir[600];
    snprintf(dir, sizeof dir, "%s/config", tmpdir);
    mkdir(dir, 0755);
    write_file("config/tokenizer_config.json", "{\"bos_token\":{\"content\":\"<X>\"},\"eos_token\":\"<XY>\"}");
    t = tiny("config", "", "null", "null", "null");
    CHECK(t && hw_tokenizer_bos(t) == 12 && hw_tokenizer_eos(t) == 13, "from tokenizer_config.json");
    CHECK(t && hw_tokenizer_encode(t, "a", HW_TOK_BOS | HW_TOK_EOS, ids, 4) == 3 && ids[0] == 12 && ids[2] == 13,
          "added");
    hw_tokenizer_free(t);
    /* The post-processor's template: <X> before the sequence, <XY> after. */
    tiny_post = "{\"type\":\"Sequence\",\"processors\":[{\"type\":\"ByteLevel\"},{\"type\":\"TemplateProcessing\","
                "\"single\":[{\"SpecialToken\":{\"id\":\"<X>\"}},{\"Sequence\":{\"id\":\"A\"}},"
                "{\"SpecialToken\":{\"id\":\"<XY>\"}}],"
                "\"special_tokens\":{\"<X>\":{\"ids\":[12]},\"<XY>\":{\"ids\":[1e300]}}}]}";
    t = tiny("template", "", "null", "null", "null");
    CHECK(t && hw_tokenizer_bos(t) == 12, "template BOS %d", hw_tokenizer_bos(t));
    CHECK(t && hw_tokenizer_eos(t) == -1, "an id out of range is ignored: %d", hw_tokenizer_eos(t));
    hw_tokenizer_free(t);
    tiny_post = "null";
}

/* ------------------------------------------------------------ broken files */

static void expect_error(const char *name, const char *json, hw_status want, const char *mention) {
    const char *path = write_file(name, json);
    hw_tokenizer *t = hw_tokenizer_load(path, 0);
    CHECK(!t, "%s loaded", name);
    CHECK(strstr(hw_last_error(), path), "%s: [%s] does not name the file", name, hw_last_error());
    CHECK(!mention || strstr(hw_last_error(), mention), "%s: [%s] does not mention %s", name, hw_last_error(),
          mention);
    hw_tokenizer_free(t);
    hw_tokenizer *raw = calloc(1, sizeof *raw);
    hw_status s = hw_tokenizer_load_json(raw, path);
    CHECK(s == want, "%s: %s, want %s (%s)", name, hw_status_str(s), hw_status_str(want), hw_last_error());
    hw_tokenizer_free(raw);
}

#define MODEL(extra) "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1,\"ab\":2},\"merges\":[\"a b\"]}" extra "}"

static void broken_json(void) {
    expect_error("trunc.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\"", HW_ERR_FORMAT, "JSON");
    expect_error("array.json", "[1, 2]", HW_ERR_FORMAT, "object");
    expect_error("emptyobj.json", "{}", HW_ERR_FORMAT, "model");
    expect_error("nomodel.json", "{\"version\":\"1.0\"}", HW_ERR_FORMAT, "model");
    expect_error("novocab.json", "{\"model\":{\"type\":\"BPE\",\"merges\":[]}}", HW_ERR_FORMAT, "vocab");
    expect_error("nomerges.json", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0}}}", HW_ERR_FORMAT, "merges");
    expect_error("unigram.json", "{\"model\":{\"type\":\"Unigram\",\"vocab\":[[\"a\",0.0]]}}", HW_ERR_UNSUPPORTED,
                 "Unigram");
    expect_error("wordpiece.json", "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"a\":0}}}", HW_ERR_UNSUPPORTED,
                 "WordPiece");
    expect_error("badid.json", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":-1},\"merges\":[]}}", HW_ERR_FORMAT,
                 NULL);
    expect_error("fracid.json", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0.5},\"merges\":[]}}", HW_ERR_FORMAT,
                 NULL);
    expect_error("hugeid.json", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":1e12},\"merges\":[]}}", HW_ERR_FORMAT,
                 NULL);
    expect_error("strid.json", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":\"0\"},\"merges\":[]}}", HW_ERR_FORMAT,
                 NULL);
    expect_error("dupid.json", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":0},\"merges\":[]}}",
                 HW_ERR_FORMAT, "both");
    expect_error("empty_vocab.json", "{\"model\":{\"type\":\"BPE\",\"vocab\":{},\"merges\":[]}}", HW_ERR_FORMAT,
                 "empty");
    expect_error("badmerge.json", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a z\"]}}",
                 HW_ERR_FORMAT, "merge 0");
    expect_error("spaces.json", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[\"a a a\"]}}",
                 HW_ERR_FORMAT, "merge 0");
    expect_error("mergetype.json", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[[\"a\"]]}}",
                 HW_ERR_FORMAT, "merge 0");
    expect_error("noresult.json", "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0,\"b\":1},\"merges\":[\"a b\"]}}",
                 HW_ERR_FORMAT, "merge 0");
    expect_error("added.json", MODEL(",\"added_tokens\":[{\"id\":5}]"), HW_ERR_FORMAT, "added token");
    expect_error("lower.json", MODEL(",\"normalizer\":{\"type\":\"Lowercase\"}"), HW_ERR_UNSUPPORTED, "Lowercase");
    expect_error("punct.json", MODEL(",\"pre_tokenizer\":{\"type\":\"Punctuation\"}"), HW_ERR_UNSUPPORTED,
                 "Punctuation");
    expect_error("regex.json",
                 MODEL(",\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"Regex\":\"(\"},\"behavior\":\"Isolated\"}"),
                 HW_ERR_UNSUPPORTED, "pattern");
    expect_error("behavior.json",
                 MODEL(",\"pre_tokenizer\":{\"type\":\"Split\",\"pattern\":{\"String\":\" \"},\"behavior\":\"Sideways\"}"),
                 HW_ERR_UNSUPPORTED, "Sideways");
    expect_error("after_bl.json",
                 MODEL(",\"pre_tokenizer\":{\"type\":\"Sequence\",\"pretokenizers\":[{\"type\":\"ByteLevel\"},"
                       "{\"type\":\"Digits\"}]}"),
                 HW_ERR_UNSUPPORTED, "after ByteLevel");
    expect_error("wpdec.json", MODEL(",\"decoder\":{\"type\":\"WordPiece\"}"), HW_ERR_UNSUPPORTED, "WordPiece");
    expect_error("strip.json", MODEL(",\"decoder\":{\"type\":\"Strip\",\"content\":\" \",\"start\":0,\"stop\":1}"),
                 HW_ERR_UNSUPPORTED, "Strip");
    expect_error("notype.json", MODEL(",\"normalizer\":{\"prepend\":\"x\"}"), HW_ERR_FORMAT, "no type");
    expect_error("prefix.json",
                 "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":0},\"merges\":[],\"continuing_subword_prefix\":\"##\"}}",
                 HW_ERR_UNSUPPORTED, NULL);
}

static void broken_gpt2_files(void) {
    char dir[600], enc[700], bpe[700];
    snprintf(dir, sizeof dir, "%s/gpt2", tmpdir);
    mkdir(dir, 0755);
    snprintf(enc, sizeof enc, "%s/encoder.json", dir);
    snprintf(bpe, sizeof bpe, "%s/vocab.bpe", dir);
    write_file("gpt2/encoder.json", "{\"a\":0,\"b\":1,\"ab\":2,\"<|endoftext|>\":3}");
    unlink(bpe);
    hw_tokenizer *t = hw_tokenizer_load(enc, 0);
    CHECK(!t && strstr(hw_last_error(), bpe), "missing vocab.bpe: [%s]", hw_last_error());
    write_file("gpt2/vocab.bpe", "#version: 0.2\na b\nab\n");
    t = hw_tokenizer_load(enc, 0);
    CHECK(!t && strstr(hw_last_error(), "vocab.bpe:3"), "bad line: [%s]", hw_last_error());
    write_file("gpt2/vocab.bpe", "#version: 0.2\na b\n");
    t = hw_tokenizer_load(dir, 0);
    CHECK(t, "tiny GPT-2 folder: %s", hw_last_error());
    /* Bytes without a piece (here every byte but a, b, <, |, ...) are dropped. */
    CHECK(t && hw_tokenizer_bos(t) == 3 && hw_tokenizer_eos(t) == 3, "<|endoftext|> is BOS and EOS");
    CHECK(ids_are(t, "ab", IDS(2)), "merged");
    hw_tokenizer_free(t);
    write_file("gpt2/encoder.json", "[\"a\"]");
    t = hw_tokenizer_load(enc, 0);
    CHECK(!t && strstr(hw_last_error(), enc), "encoder.json not an object: [%s]", hw_last_error());

    char empty[600];
    snprintf(empty, sizeof empty, "%s/emptydir", tmpdir);
    mkdir(empty, 0755);
    t = hw_tokenizer_load(empty, 0);
    CHECK(!t && strstr(hw_last_error(), empty), "empty folder: [%s]", hw_last_error());
    t = hw_tokenizer_load(write_file("empty.json", ""), 0);
    CHECK(!t && strstr(hw_last_error(), "empty.json"), "empty file: [%s]", hw_last_error());
}

int main(void) {
    snprintf(tmpdir, sizeof tmpdir, "/tmp/hw_tokjson_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        printf("FAIL mkdtemp\n");
        return 1;
    }
    RUN(merges_by_rank);
    RUN(byte_fallback_and_unk);
    RUN(ignore_merges);
    RUN(split_behaviours);
    RUN(metaspace);
    RUN(added_tokens);
    RUN(normalizers);
    RUN(decoders);
    RUN(bos_eos);
    RUN(broken_json);
    RUN(broken_gpt2_files);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", tmpdir);
    CHECK_DONE();
}

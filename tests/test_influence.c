/* test_influence.c: AttentionInfluence (src/methods/influence*.c) on stories260K: scores
 * equal a direct computation from hw_forward with and without the masking hooks, a run
 * stopped halfway resumes without duplicates, other settings are refused, bad lines are
 * counted with their line numbers (or refused with strict), shards split anywhere merge
 * into the whole run's output, a .gz corpus reads as the plain one, and the selection keeps
 * each domain's top fraction. */
#include "check.h"
#include "headwise.h"
#include "methods/influence.h"

#include <unistd.h>
#ifdef HW_HAVE_ZLIB
#include <zlib.h>
#endif

static hw_model *model;
static hw_tokenizer *tok;
static char dir[] = "/tmp/hw_influence_XXXXXX";
static const hw_head heads[] = {{1, 0}, {3, 2}, {4, 5}};
enum { W = 32 }; /* a window far below the model's 512, so that documents span several */

static const char *path(const char *name) {
    static char buf[8][512];
    static int k;
    char *b = buf[k++ % 8];
    snprintf(b, sizeof buf[0], "%s/%s", dir, name);
    return b;
}

static void write_text(const char *p, const char *s) {
    FILE *f = fopen(p, "w");
    if (f) fputs(s, f), fclose(f);
}

static char *read_all(const char *p) {
    FILE *f = fopen(p, "rb");
    if (!f) return NULL;
    static char buf[1 << 18];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    return strdup(buf);
}

static const char corpus_text[] =
    "{\"id\": \"a\", \"domain\": \"story\", \"text\": \"Once upon a time, there was a little girl named Lily.\"}\n"
    "{\"domain\": \"story\", \"text\": \"She liked to play outside in the sun with her dog. One day the dog ran away and "
    "Lily was sad. She looked for him in the park, by the tree, and near the big pond. Then she heard a bark. The "
    "dog was hiding under the slide, and Lily laughed and hugged him.\"}\n"
    "{\"id\": 7, \"domain\": \"short\", \"text\": \"Tom\"}\n"
    "{\"id\": \"d\", \"domain\": \"short\", \"text\": \"The cat sat on the mat and looked at the bird.\"}\n";

static hw_influence_params params(void) {
    hw_influence_params p = hw_influence_params_default();
    p.heads = heads, p.n_heads = 3, p.context = W, p.model_id = "stories260K";
    return p;
}

/* The corpus scored into out (log out.log), 0 on success. */
static hw_status score(const char *corpus, const char *out, const hw_influence_params *p, hw_influence_summary *s) {
    char log[600];
    snprintf(log, sizeof log, "%s.log", out);
    hw_status st = hw_influence_run(model, tok, corpus, log, p, NULL, NULL, s);
    const char *logs[] = {log};
    return st ? st : hw_influence_merge(logs, 1, out, NULL);
}

/* The mean next-token loss of a text read as the method should: windows of BOS + W - 1
 * tokens, each in a fresh context, every position's -log softmax in double. */
static double direct_loss(const char *text, const hw_hooks *hooks, int *n_scored) {
    static int ids[4096], win[W];
    static float logits[W * 512];
    const int n = hw_tokenizer_encode(tok, text, 0, ids, 4096), V = hw_model_config(model)->vocab_size;
    hw_context *c = hw_context_new(model, W);
    double sum = 0.0;
    *n_scored = 0;
    for (int a = 0; a < n; a += W - 1) {
        const int k = n - a < W - 1 ? n - a : W - 1;
        win[0] = hw_tokenizer_bos(tok);
        memcpy(win + 1, ids + a, sizeof(int) * (size_t)k);
        hw_context_reset(c);
        if (hw_forward_hooked(c, win, k, HW_LOGITS_ALL, logits, hooks)) return NAN;
        for (int t = 0; t < k; t++) {
            const float *l = logits + (size_t)t * V;
            double mx = -INFINITY, z = 0.0;
            for (int v = 0; v < V; v++) mx = l[v] > mx ? l[v] : mx;
            for (int v = 0; v < V; v++) z += exp(l[v] - mx);
            sum += log(z) + mx - l[win[t + 1]];
        }
        *n_scored += k;
    }
    hw_context_free(c);
    return sum / *n_scored;
}

/* Field `key` of a JSON line as a number. */
static double field(const char *line, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(line, pat);
    return p ? strtod(p + strlen(pat), NULL) : NAN;
}

static void compare_with_direct(hw_influence_mode mode) {
    hw_influence_params p = params();
    p.mode = mode;
    hw_influence_summary s;
    write_text(path("c.jsonl"), corpus_text);
    const char *out = path(mode == HW_INFLUENCE_ZERO ? "direct_zero.jsonl" : "direct.jsonl");
    CHECK(score(path("c.jsonl"), out, &p, &s) == HW_OK, "%s", hw_last_error());
    CHECK(s.documents == 4 && s.bad_lines == 0, "%lld documents", (long long)s.documents);
    hw_hooks *mask = hw_hooks_new();
    if (mode == HW_INFLUENCE_ZERO) hw_hooks_zero_output(mask, heads, 3, HW_PHASE_BOTH);
    else hw_hooks_mask_uniform(mask, heads, 3, HW_PHASE_BOTH);
    const char *texts[] = {"Once upon a time, there was a little girl named Lily.", NULL, "Tom",
                           "The cat sat on the mat and looked at the bird."};
    char *second = strstr(corpus_text, "She liked"), buf[1024];
    snprintf(buf, sizeof buf, "%.*s", (int)(strstr(second, "\"}") - second), second);
    texts[1] = buf;
    char *text = read_all(out), *line = text;
    int windows_seen = 0;
    for (int i = 0; i < 4 && line; i++) {
        int n_base, n_mask;
        const double lb = direct_loss(texts[i], NULL, &n_base), lm = direct_loss(texts[i], mask, &n_mask);
        CHECK(field(line, "tokens") == n_base && n_base == n_mask, "doc %d: %g tokens vs %d", i, field(line, "tokens"), n_base);
        CHECK(fabs(field(line, "loss_base") - lb) < 1e-6, "doc %d base %.9g vs %.9g", i, field(line, "loss_base"), lb);
        CHECK(fabs(field(line, "loss_masked") - lm) < 1e-6, "doc %d masked %.9g vs %.9g", i, field(line, "loss_masked"), lm);
        CHECK(fabs(field(line, "influence") - (lm - lb) / lb) < 1e-6, "doc %d influence", i);
        CHECK(fabs(lm - lb) > 1e-4, "doc %d: masking changes nothing (%.6f)", i, lm - lb);
        windows_seen += n_base > W - 1;
        line = strchr(line, '\n');
        line = line ? line + 1 : NULL;
    }
    CHECK(windows_seen == 1, "the long document spans several windows");
    CHECK(text && strstr(text, "{\"id\":\"a\",\"domain\":\"story\"") && strstr(text, "{\"id\":2,") && strstr(text, "{\"id\":7,"),
          "ids: given, or the line number: %s", text ? text : "(none)");
    free(text);
    hw_hooks_free(mask);
}
static void scores_match_direct_uniform(void) { compare_with_direct(HW_INFLUENCE_UNIFORM); }
static void scores_match_direct_zero(void) { compare_with_direct(HW_INFLUENCE_ZERO); }

static int stop_after_two(const char *stage, int64_t done, int64_t total, void *user) {
    return !strcmp(stage, "documents") && done >= 2;
}

static void resume_without_duplicates(void) {
    hw_influence_params p = params();
    write_text(path("c.jsonl"), corpus_text);
    CHECK(score(path("c.jsonl"), path("whole.jsonl"), &p, NULL) == HW_OK, "%s", hw_last_error());
    unlink(path("part.jsonl.log"));
    hw_influence_summary s;
    CHECK(hw_influence_run(model, tok, path("c.jsonl"), path("part.jsonl.log"), &p, stop_after_two, NULL, &s) == HW_ERR_ARG,
          "the callback stops the run");
    CHECK(s.documents == 2, "%lld documents before the stop", (long long)s.documents);
    const char *logs[] = {path("part.jsonl.log")};
    CHECK(hw_influence_merge(logs, 1, path("part.jsonl"), NULL) == HW_ERR_FORMAT, "an incomplete log is not merged");
    /* A torn line, as a kill in mid-write leaves: cut on resume. */
    FILE *f = fopen(path("part.jsonl.log"), "a");
    if (f) fputs("999\t3\t{\"id\":", f), fclose(f);
    CHECK(hw_influence_run(model, tok, path("c.jsonl"), path("part.jsonl.log"), &p, NULL, NULL, &s) == HW_OK, "%s", hw_last_error());
    CHECK(s.resumed == 2 && s.documents == 4, "resumed %lld of %lld", (long long)s.resumed, (long long)s.documents);
    CHECK(hw_influence_merge(logs, 1, path("part.jsonl"), NULL) == HW_OK, "%s", hw_last_error());
    char *a = read_all(path("whole.jsonl")), *b = read_all(path("part.jsonl"));
    CHECK(a && b && !strcmp(a, b), "the resumed output differs:\n%s\nvs\n%s", a, b);
    free(a), free(b);
    /* Other heads on the same log: refused, naming the setting. */
    const hw_head other[] = {{0, 0}};
    p.heads = other, p.n_heads = 1;
    CHECK(hw_influence_run(model, tok, path("c.jsonl"), path("part.jsonl.log"), &p, NULL, NULL, NULL) == HW_ERR_ARG &&
          strstr(hw_last_error(), "heads"), "other heads: %s", hw_last_error());
}

static int64_t warned[16];
static int n_warned;
static void on_warn(int64_t line, const char *reason, void *user) {
    if (n_warned < 16) warned[n_warned++] = line;
}

static void bad_lines_counted(void) {
    write_text(path("bad.jsonl"), "{\"text\": \"Once upon a time\", \"domain\": \"x\"}\n"
                                  "{\"text\": \"no end\"\n"
                                  "{\"domain\": \"x\"}\n"
                                  "{\"text\": \"caf\xe9\", \"domain\": \"x\"}\n"
                                  "\n"
                                  "{\"text\": \"\\ud800\", \"domain\": \"x\"}\n"
                                  "[1, 2]\n"
                                  "{\"text\": \"The end\", \"domain\": \"x\"}");
    hw_influence_params p = params();
    p.warn = on_warn;
    hw_influence_summary s;
    n_warned = 0;
    CHECK(score(path("bad.jsonl"), path("bad_out.jsonl"), &p, &s) == HW_OK, "%s", hw_last_error());
    CHECK(s.documents == 2 && s.bad_lines == 6, "%lld documents, %lld bad", (long long)s.documents, (long long)s.bad_lines);
    CHECK(n_warned == 6 && warned[0] == 2 && warned[1] == 3 && warned[2] == 4 && warned[3] == 5 && warned[5] == 7,
          "warned lines %lld %lld %lld %lld", (long long)warned[0], (long long)warned[1], (long long)warned[2], (long long)warned[3]);
    char *log = read_all(path("bad_out.jsonl.log"));
    CHECK(log && strstr(log, "\t2\t!malformed JSON") && strstr(log, "\t3\t!no \"text\"") && strstr(log, "\t4\t!not UTF-8") &&
          strstr(log, "\t5\t!an empty line") && strstr(log, "\t7\t!not a JSON object"), "%s", log);
    free(log);
    p.strict = 1;
    unlink(path("strict.log"));
    CHECK(hw_influence_run(model, tok, path("bad.jsonl"), path("strict.log"), &p, NULL, NULL, NULL) == HW_ERR_FORMAT &&
          strstr(hw_last_error(), "line 2: malformed JSON"), "strict: %s", hw_last_error());
    write_text(path("empty.jsonl"), "");
    p.strict = 0;
    CHECK(score(path("empty.jsonl"), path("empty_out.jsonl"), &p, NULL) == HW_ERR_FORMAT && strstr(hw_last_error(), "empty corpus"),
          "empty: %s", hw_last_error());
    CHECK(access(path("empty_out.jsonl"), F_OK) != 0, "no output for an empty corpus");
    CHECK(hw_influence_run(model, tok, path("missing.jsonl"), path("m.log"), &p, NULL, NULL, NULL) == HW_ERR_IO, "missing corpus");
    CHECK(hw_influence_run(model, tok, path("c.jsonl.zst"), path("m.log"), &p, NULL, NULL, NULL) != HW_OK &&
          strstr(hw_last_error(), "zstd"), "zst: %s", hw_last_error());
    p.n_heads = 0;
    CHECK(hw_influence_run(model, tok, path("c.jsonl"), path("m.log"), &p, NULL, NULL, NULL) == HW_ERR_ARG, "no heads");
}

/* The reader alone: for every split byte k, the lines of [0, k) and [k, end) are each
 * line exactly once, with the file's line numbers. */
static void corpus_split_anywhere(void) {
    const char *text = "a\nbb\n\nccc\nd";
    write_text(path("split.txt"), text);
    const int size = (int)strlen(text);
    for (int k = 0; k <= size; k++) {
        char got[64] = "";
        for (int part = 0; part < 2; part++) {
            hw_corpus *c = hw_corpus_open(path("split.txt"));
            CHECK(c && hw_corpus_seek_line(c, part ? k : 0) == HW_OK, "open/seek %d", k);
            char *line;
            size_t len;
            int64_t start, no;
            while (c && hw_corpus_next(c, &line, &len, &start, &no) == 1 && (part || start < k))
                snprintf(got + strlen(got), sizeof got - strlen(got), "%lld:%s|", (long long)no, line);
            hw_corpus_close(c);
        }
        CHECK(!strcmp(got, "1:a|2:bb|3:|4:ccc|5:d|"), "split at %d: %s", k, got);
    }
}

/* Two shards split inside the long document, and at a line start, merge into the whole. */
static void shards_merge_to_whole(void) {
    hw_influence_params p = params();
    write_text(path("c.jsonl"), corpus_text);
    CHECK(score(path("c.jsonl"), path("whole.jsonl"), &p, NULL) == HW_OK, "%s", hw_last_error());
    char *whole = read_all(path("whole.jsonl"));
    const int64_t line2 = (int64_t)(strchr(corpus_text, '\n') - corpus_text) + 1;
    const int64_t splits[] = {line2 + 40, line2, line2 + 1, 1};
    for (int i = 0; i < 4; i++) {
        const char *logs[] = {path("s0.log"), path("s1.log")};
        unlink(logs[0]), unlink(logs[1]);
        p.byte_begin = 0, p.byte_end = splits[i];
        hw_status a = hw_influence_run(model, tok, path("c.jsonl"), logs[0], &p, NULL, NULL, NULL);
        p.byte_begin = splits[i], p.byte_end = -1;
        hw_status b = hw_influence_run(model, tok, path("c.jsonl"), logs[1], &p, NULL, NULL, NULL);
        CHECK(!a && !b && hw_influence_merge(logs, 2, path("merged.jsonl"), NULL) == HW_OK, "%s", hw_last_error());
        char *m = read_all(path("merged.jsonl"));
        CHECK(m && whole && !strcmp(m, whole), "split at %lld differs", (long long)splits[i]);
        free(m);
        const char *swapped[] = {logs[1], logs[0]};
        CHECK(hw_influence_merge(swapped, 2, path("merged.jsonl"), NULL) == HW_ERR_FORMAT, "shards out of order refused");
    }
    free(whole);
}

static void gzip_reads_as_plain(void) {
#ifdef HW_HAVE_ZLIB
    gzFile g = gzopen(path("c.jsonl.gz"), "wb");
    if (g) gzputs(g, corpus_text), gzclose(g);
    hw_influence_params p = params();
    write_text(path("c.jsonl"), corpus_text);
    CHECK(score(path("c.jsonl"), path("plain.jsonl"), &p, NULL) == HW_OK, "%s", hw_last_error());
    CHECK(score(path("c.jsonl.gz"), path("gz.jsonl"), &p, NULL) == HW_OK, "%s", hw_last_error());
    char *a = read_all(path("plain.jsonl")), *b = read_all(path("gz.jsonl"));
    CHECK(a && b && !strcmp(a, b), "gz differs");
    free(a), free(b);
#else
    printf("  (no zlib in this build: .gz not tested)\n");
#endif
}

static void select_per_domain(void) {
    write_text(path("scores.jsonl"),
               "{\"id\":1,\"domain\":\"a\",\"tokens\":10,\"influence\":0.1}\n"
               "{\"id\":2,\"domain\":\"b\",\"tokens\":10,\"influence\":0.9}\n"
               "{\"id\":3,\"domain\":\"a\",\"tokens\":10,\"influence\":0.5}\n"
               "{\"id\":4,\"domain\":\"b\",\"tokens\":10,\"influence\":0.8}\n"
               "{\"id\":5,\"domain\":\"a\",\"tokens\":10,\"influence\":0.3}\n"
               "{\"id\":6,\"domain\":\"a\",\"tokens\":10,\"influence\":0.5}\n");
    CHECK(hw_influence_select(path("scores.jsonl"), 0.5, 1, path("sel.jsonl"), NULL) == HW_OK, "%s", hw_last_error());
    char *s = read_all(path("sel.jsonl"));
    /* a: 3 and 6 (0.5, 0.5) of 4; b: 2 of 2, kept in corpus order */
    CHECK(s && !strcmp(s, "{\"id\":2,\"domain\":\"b\",\"tokens\":10,\"influence\":0.9}\n"
                          "{\"id\":3,\"domain\":\"a\",\"tokens\":10,\"influence\":0.5}\n"
                          "{\"id\":6,\"domain\":\"a\",\"tokens\":10,\"influence\":0.5}\n"), "%s", s);
    free(s);
    CHECK(hw_influence_select(path("scores.jsonl"), 0.5, 0, path("sel.jsonl"), NULL) == HW_OK, "%s", hw_last_error());
    s = read_all(path("sel.jsonl"));
    CHECK(s && strstr(s, "\"id\":2,") && strstr(s, "\"id\":4,") && strstr(s, "\"id\":3,") && !strstr(s, "\"id\":6,"), "%s", s);
    free(s);
    CHECK(hw_influence_select(path("scores.jsonl"), 1.5, 1, path("sel.jsonl"), NULL) == HW_ERR_ARG, "fraction > 1");
    write_text(path("scores_bad.jsonl"), "{\"domain\":\"a\",\"tokens\":1,\"influence\":\"x\"}\n");
    CHECK(hw_influence_select(path("scores_bad.jsonl"), 0.5, 1, path("sel.jsonl"), NULL) == HW_ERR_FORMAT &&
          strstr(hw_last_error(), ":1:"), "%s", hw_last_error());
}

static void heads_from_scores(void) {
    const hw_config *c = hw_model_config(model);
    FILE *f = fopen(path("heads.json"), "w");
    for (int l = 0; f && l < c->n_layer; l++)
        for (int h = 0; h < c->n_head; h++)
            fprintf(f, "%s\"%d-%d\": [%g]", l || h ? ", " : "{", l, h, l == 2 && h == 3 ? 0.9 : l == 4 && h == 1 ? 0.8 : 0.01 * h);
    if (f) fputs("}\n", f), fclose(f);
    hw_head *hs = NULL;
    const int n = hw_influence_heads_from_file(model, path("heads.json"), 2.0 / (c->n_layer * c->n_head), &hs);
    CHECK(n == 2 && hs && hs[0].layer == 2 && hs[0].head == 3 && hs[1].layer == 4 && hs[1].head == 1, "%d heads: %s", n, hw_last_error());
    free(hs);
    CHECK(hw_influence_heads_from_file(model, path("heads.json"), 1e-6, &hs) == -1 && strstr(hw_last_error(), "none"),
          "a top of no head: %s", hw_last_error());
}

int main(void) {
    model = hw_model_load(shared_path("models/stories260K/stories260K.bin"));
    tok = model ? hw_tokenizer_load(shared_path("models/stories260K/tok512.bin"), 512) : NULL;
    if (!model || !tok || !mkdtemp(dir)) {
        printf("FAIL stories260K_available\n");
        return 1;
    }
    hw_set_threads(2);
    RUN(scores_match_direct_uniform);
    RUN(scores_match_direct_zero);
    RUN(resume_without_duplicates);
    RUN(bad_lines_counted);
    RUN(corpus_split_anywhere);
    RUN(shards_merge_to_whole);
    RUN(gzip_reads_as_plain);
    RUN(select_per_domain);
    RUN(heads_from_scores);
    hw_tokenizer_free(tok);
    hw_model_free(model);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd)) {}
    CHECK_DONE();
}

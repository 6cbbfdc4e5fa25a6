/*
 * test_capture_files.c: what run and patterns capture and write, now in the library
 * (hw_capture_want_name, hw_dir_create, hw_capture_write_npy_dir,
 * hw_capture_write_patterns), and the tokenizer found beside a model
 * (hw_tokenizer_path_for_model, hw_tokenizer_load_for_model), on stories260K.
 */
#include "check.h"
#include "headwise.h"

#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmp[256];

static int exists(const char *dir, const char *file) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    return access(p, F_OK) == 0;
}

static char *slurp(const char *dir, const char *file) {
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", dir, file);
    FILE *f = fopen(p, "rb");
    if (!f) return NULL;
    char *s = calloc(1, 1 << 20);
    if (s) fread(s, 1, (1 << 20) - 1, f);
    fclose(f);
    return s;
}

static void test_dir_create(void) {
    char d[512], file[512];
    snprintf(d, sizeof d, "%s/a/b//c/", tmp);
    CHECK(hw_dir_create(d) == HW_OK, "%s", hw_last_error());
    struct stat st;
    CHECK(stat(d, &st) == 0 && S_ISDIR(st.st_mode), "a/b/c not made");
    CHECK(hw_dir_create(d) == HW_OK, "an existing folder: %s", hw_last_error());
    snprintf(file, sizeof file, "%s/plain", tmp);
    FILE *f = fopen(file, "w");
    if (f) fclose(f);
    CHECK(hw_dir_create(file) == HW_ERR_IO, "a file is not a folder");
    CHECK(strstr(hw_last_error(), "plain") != NULL, "error names the path: %s", hw_last_error());
    snprintf(d, sizeof d, "%s/plain/sub", tmp);
    CHECK(hw_dir_create(d) == HW_ERR_IO, "a folder under a file");
    CHECK(hw_dir_create("") == HW_ERR_ARG && hw_dir_create(NULL) == HW_ERR_ARG, "empty path");
}

static void test_tokenizer_for_model(void) {
    char out[1024];
    CHECK(hw_tokenizer_path_for_model("models/x/stories.bin", out, sizeof out) == HW_OK &&
              !strcmp(out, "models/x/tokenizer.bin"), "%s", out);
    CHECK(hw_tokenizer_path_for_model("stories.bin", out, sizeof out) == HW_OK &&
              !strcmp(out, "tokenizer.bin"), "%s", out);
    CHECK(hw_tokenizer_path_for_model(tmp, out, sizeof out) == HW_OK && !strcmp(out, tmp),
          "a folder is its own: %s", out);
    CHECK(hw_tokenizer_path_for_model("a/b.bin", out, 8) == HW_ERR_ARG, "too long for out");
    /* stories260K ships tok512.bin, not tokenizer.bin: not found, and said so. */
    const char *model = shared_path("models/stories260K/stories260K.bin");
    hw_tokenizer *t = hw_tokenizer_load_for_model(model, 512);
    CHECK(!t && strstr(hw_last_error(), "stories260K.bin") &&
              strstr(hw_last_error(), "tokenizer.bin"), "%s", hw_last_error());
    hw_tokenizer_free(t);
    /* Beside a copy of the checkpoint, as tokenizer.bin, it is found. */
    char cmd[2048], copy[512];
    snprintf(copy, sizeof copy, "%s/m/stories260K.bin", tmp);
    snprintf(cmd, sizeof cmd, "mkdir -p %s/m && cp %s %s && cp %s %s/m/tokenizer.bin", tmp, model,
             copy, shared_path("models/stories260K/tok512.bin"), tmp);
    CHECK(system(cmd) == 0, "copy");
    t = hw_tokenizer_load_for_model(copy, 512);
    CHECK(t && hw_tokenizer_vocab_size(t) == 512, "%s", hw_last_error());
    hw_tokenizer_free(t);
}

static void test_capture_dirs(void) {
    hw_model *m = hw_model_load(shared_path("models/stories260K/stories260K.bin"));
    hw_tokenizer *t = hw_tokenizer_load(shared_path("models/stories260K/tok512.bin"), 512);
    CHECK(m && t, "%s", hw_last_error());
    if (!m || !t) return;
    int tok[16];
    int T = hw_tokenizer_encode(t, "Once upon a time", HW_TOK_BOS, tok, 16);
    hw_capture *cap = hw_capture_new();
    hw_hooks *h = hw_hooks_new();
    hw_context *c = hw_context_new(m, T);
    CHECK(hw_capture_want_name(cap, m, "blocks.*.attn.hook_pattern") == HW_OK &&
              hw_capture_want_name(cap, m, "blocks.2.attn.hook_z") == HW_OK, "%s", hw_last_error());
    CHECK(hw_capture_want_name(cap, m, "blocks.9.hook_resid_pre") == HW_ERR_ARG &&
              strstr(hw_last_error(), "layer 9"), "layer out of range: %s", hw_last_error());
    CHECK(hw_capture_want_name(cap, m, "blocks.*.hook_embed") == HW_ERR_ARG, "a global point per layer");
    hw_hooks_add_capture(h, cap);
    float logits[512];
    CHECK(hw_forward_hooked(c, tok, T, HW_LOGITS_LAST, logits, h) == HW_OK, "%s", hw_last_error());
    char d[512];
    snprintf(d, sizeof d, "%s/run/x", tmp);
    CHECK(hw_capture_write_npy_dir(cap, t, tok, T, logits, 512, T - 1, NULL, d) == HW_OK, "%s",
          hw_last_error());
    CHECK(exists(d, "blocks.4.attn.hook_pattern.npy") && exists(d, "blocks.2.attn.hook_z.npy") &&
              exists(d, "logits.npy") && exists(d, "tokens.json"), "files");
    char *idx = slurp(d, "index.json"), *toks = slurp(d, "tokens.json");
    /* 5 patterns and one z, then logits.npy last. */
    int entries = 0;
    for (const char *p = idx; p && (p = strstr(p, "\"hook\":")); p++) entries++;
    CHECK(entries == 7, "%d entries in index.json", entries);
    const char *last = idx ? strstr(idx, "\"hook\":\t\"logits\"") : NULL;
    CHECK(last && strstr(last, "\"file\":\t\"logits.npy\"") && strstr(last, "[512]") &&
              !strstr(last + 1, "\"hook\":"), "logits entry: %s", idx ? idx : "(none)");
    CHECK(toks && strstr(toks, "\"text\":\t\"Once\""), "tokens.json: %s", toks ? toks : "(none)");
    free(idx);
    free(toks);
    snprintf(d, sizeof d, "%s/pat/a/b", tmp);
    CHECK(hw_capture_write_patterns(cap, t, tok, T, "title", d) == HW_OK, "%s", hw_last_error());
    CHECK(exists(d, "patterns.npy") && exists(d, "patterns.html") &&
              exists(d, "blocks.0.attn.hook_pattern.npy") && !exists(d, "index.json"), "patterns");
    CHECK(hw_capture_write_patterns(cap, t, tok, T - 1, "title", d) == HW_ERR_ARG,
          "a token count other than the captured one");
    hw_capture *none = hw_capture_new();
    CHECK(hw_capture_write_patterns(none, t, tok, T, "", d) == HW_ERR_ARG, "nothing captured");
    hw_capture_free(none);
    hw_context_free(c);
    hw_hooks_free(h);
    hw_capture_free(cap);
    hw_tokenizer_free(t);
    hw_model_free(m);
}

int main(void) {
    snprintf(tmp, sizeof tmp, "/tmp/hw_capture_files_XXXXXX");
    if (!mkdtemp(tmp)) return 1;
    RUN(test_dir_create);
    RUN(test_tokenizer_for_model);
    RUN(test_capture_dirs);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmp);
    if (system(cmd) != 0) return 1;
    CHECK_DONE();
}

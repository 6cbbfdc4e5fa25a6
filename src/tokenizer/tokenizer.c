/* tokenizer.c: the public tokenizer functions and format detection; formats
 * live in their own files (see tokenizer.h). */
#include "tokenizer/tokenizer.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static int is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* JSON files are named *.json or start with '{' after optional whitespace
 * (and a UTF-8 BOM); a tokenizer.bin starts with a small little-endian int32. */
static int looks_like_json(const char *path) {
    size_t n = strlen(path);
    if (n >= 5 && strcmp(path + n - 5, ".json") == 0) return 1;
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    int c, json = 0;
    while ((c = fgetc(f)) != EOF) {
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == 0xEF || c == 0xBB || c == 0xBF) continue;
        json = c == '{';
        break;
    }
    fclose(f);
    return json;
}

/* tokenizer.json objects have a "model"; GPT-2's encoder.json maps pieces to ids. */
static int is_encoder_json(const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    return strcmp(base, "encoder.json") == 0;
}

static hw_status load_any(hw_tokenizer *t, const char *path, int vocab_size) {
    struct stat st;
    if (stat(path, &st) != 0) return hw_fail(HW_ERR_IO, "%s: no such file or folder", path);
    char a[4096], b[4096];
    if (S_ISDIR(st.st_mode)) {
        snprintf(a, sizeof a, "%s/tokenizer.json", path);
        if (is_file(a)) return hw_tokenizer_load_json(t, a);
        snprintf(a, sizeof a, "%s/encoder.json", path);
        snprintf(b, sizeof b, "%s/vocab.bpe", path);
        if (is_file(a) && is_file(b)) return hw_tokenizer_load_gpt2(t, a, b);
        snprintf(a, sizeof a, "%s/tokenizer.bin", path);
        if (is_file(a)) return hw_tokenizer_load_llama2c(t, a, vocab_size);
        return hw_fail(HW_ERR_IO, "%s: no tokenizer.json, encoder.json + vocab.bpe or tokenizer.bin in this folder",
                       path);
    }
    if (hw_is_gguf_file(path)) return hw_tokenizer_load_gguf(t, path);
    if (!looks_like_json(path)) return hw_tokenizer_load_llama2c(t, path, vocab_size);
    if (!is_encoder_json(path)) return hw_tokenizer_load_json(t, path);
    /* encoder.json: its merges are vocab.bpe in the same folder. */
    const char *slash = strrchr(path, '/');
    int dir = slash ? (int)(slash - path) : 0;
    snprintf(b, sizeof b, "%.*s%svocab.bpe", dir, path, slash ? "/" : "");
    return hw_tokenizer_load_gpt2(t, path, b);
}

hw_tokenizer *hw_tokenizer_load(const char *path, int vocab_size) {
    if (!path) {
        hw_fail(HW_ERR_ARG, "hw_tokenizer_load: path is NULL");
        return NULL;
    }
    if (strlen(path) > 4000) {
        hw_fail(HW_ERR_ARG, "hw_tokenizer_load: path too long");
        return NULL;
    }
    hw_tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        hw_fail(HW_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    t->bos = t->eos = t->unk_id = -1;
    if (load_any(t, path, vocab_size) != HW_OK) {
        hw_tokenizer_free(t);
        return NULL;
    }
    return t;
}

void hw_tokenizer_free(hw_tokenizer *t) {
    if (!t) return;
    hw_vocab_free(&t->vocab);
    hw_vocab_free(&t->dec);
    free(t->scores);
    hw_pairs_free(&t->merges);
    for (int i = 0; i < t->n_norm; i++) hw_norm_step_free(&t->norm[i]);
    free(t->norm);
    for (int i = 0; i < t->n_pre; i++) hw_pre_step_free(&t->pre[i]);
    free(t->pre);
    for (int i = 0; i < t->n_added; i++) free(t->added[i].content);
    free(t->added);
    free(t->added_by_byte);
    free(t->added_order);
    free(t);
}

int hw_tokenizer_vocab_size(const hw_tokenizer *t) { return t ? t->vocab.n : 0; }
int hw_tokenizer_bos(const hw_tokenizer *t) { return t ? t->bos : -1; }
int hw_tokenizer_eos(const hw_tokenizer *t) { return t ? t->eos : -1; }

int hw_tokenizer_encode(const hw_tokenizer *t, const char *text, int flags, int *ids, int max_ids) {
    if (!t || !text || max_ids < 0 || (max_ids > 0 && !ids)) {
        hw_fail(HW_ERR_ARG, "hw_tokenizer_encode: bad arguments");
        return -1;
    }
    size_t len = strlen(text);
    if (len > INT_MAX - 3) {
        hw_fail(HW_ERR_RANGE, "hw_tokenizer_encode: %zu bytes of text is too long", len);
        return -1;
    }
    int *body = NULL;
    /* Score-driven vocabularies with special tokens (GGUF's) split them out first. */
    int n = t->kind == HW_TOKENIZER_LLAMA2C && !t->n_added ? hw_tokenizer_encode_llama2c(t, text, len, &body)
                                                           : hw_tokenizer_encode_hf(t, text, len, &body);
    if (n < 0) return -1;
    int k = 0;
#define EMIT(id)                        \
    do {                                \
        if (k < max_ids) ids[k] = (id); \
        k++;                            \
    } while (0)
    /* A tokenizer without BOS (GPT-2's encoder.json, Qwen2) adds none. */
    if ((flags & HW_TOK_BOS) && t->bos >= 0) EMIT(t->bos);
    for (int i = 0; i < n; i++) EMIT(body[i]);
    if ((flags & HW_TOK_EOS) && t->eos >= 0) EMIT(t->eos);
#undef EMIT
    free(body);
    return k;
}

const char *hw_tokenizer_decode(const hw_tokenizer *t, int prev_id, int id, size_t *len) {
    size_t dummy;
    if (!len) len = &dummy;
    *len = 0;
    if (!t || id < 0 || id >= t->dec.n) {
        hw_fail(HW_ERR_ARG, "hw_tokenizer_decode: id %d is outside the vocabulary", id);
        return NULL;
    }
    const char *s = hw_vocab_piece(&t->dec, id, len);
    /* The space SentencePiece put before the text is not part of it. llama2.c
     * strips it only from pieces spelled with it, not from <0x20>. */
    size_t plen;
    const char *piece = t->kind == HW_TOKENIZER_LLAMA2C ? hw_vocab_piece(&t->vocab, id, &plen) : s;
    if (t->strip_leading && (prev_id < 0 || prev_id == t->bos) && *len > 0 && s[0] == ' ' &&
        piece[0] == ' ') {
        s++;
        (*len)--;
    }
    return s;
}

int hw_tokenizer_encode_alloc(const hw_tokenizer *t, const char *text, int flags, int **ids) {
    /* One id per byte plus BOS and EOS holds every tokenizer's output unless a
     * normalizer added text; only then encode a second time with the count it gave
     * (encoding a haystack twice was a third of a needle-in-a-haystack setup). */
    *ids = NULL;
    size_t len = strlen(text);
    int cap = len < INT_MAX - 16 ? (int)len + 16 : INT_MAX;
    for (;;) {
        *ids = malloc(sizeof(int) * (size_t)cap);
        if (!*ids) return hw_fail(HW_ERR_NOMEM, "out of memory encoding %zu bytes", len), -1;
        int n = hw_tokenizer_encode(t, text, flags, *ids, cap);
        if (n < 0) return free(*ids), *ids = NULL, -1;
        if (n <= cap) return n;
        free(*ids);
        cap = n;
    }
}

int hw_tokenizer_word_token(const hw_tokenizer *t, const char *word) {
    char buf[512];
    int ids[4];
    snprintf(buf, sizeof buf, " %s", word);
    /* A SentencePiece-style tokenizer already puts a space before the text. */
    for (int k = 0; k < 2; k++) {
        int n = hw_tokenizer_encode(t, k ? word : buf, 0, ids, 4);
        if (n == 1) return ids[0];
    }
    return -1;
}

int hw_tokenizer_answer_token(const hw_tokenizer *t, const char *text) {
    int id = hw_tokenizer_word_token(t, text);
    if (id >= 0) return id;
    int ids[64];
    int n = hw_tokenizer_encode(t, text, 0, ids, 64);
    return n > 0 ? ids[0] : -1;
}

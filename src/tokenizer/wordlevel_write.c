/* wordlevel_write.c: a Hugging Face tokenizer.json for a list of symbols.
 *
 * The synthetic tasks' vocabularies are lists of whitespace-free symbols
 * ("t17", "monday", "Q:"), so the file is the simplest standard form that both
 * headwise and Hugging Face tokenizers read the same way: a WordLevel model,
 * a WhitespaceSplit pre-tokenizer and no decoder (tokenizers then joins the
 * pieces with spaces). BOS, when given, is a special added token that the
 * post-processor's template puts before every text, and the unk token (if
 * any) is what an unknown word becomes. */
#include "tokenizer/tokenizer.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

static int is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

static hw_status check_symbols(const char *path, const char *const *sym, int n, int bos, int unk) {
    if (!sym || n <= 0) return hw_fail(HW_ERR_ARG, "%s: no symbols to write", path);
    if (bos >= n || unk >= n) return hw_fail(HW_ERR_ARG, "%s: bos %d or unk %d outside the %d symbols", path, bos, unk, n);
    hw_vocab v;
    hw_status s = hw_vocab_init(&v, n, 0);
    for (int i = 0; i < n && s == HW_OK; i++) {
        const char *w = sym[i];
        if (!w || !*w) {
            s = hw_fail(HW_ERR_ARG, "%s: symbol %d is empty", path, i);
            break;
        }
        for (const char *p = w; *p && s == HW_OK; p++)
            if (is_space(*p)) s = hw_fail(HW_ERR_ARG, "%s: symbol %d (\"%.40s\") contains whitespace", path, i, w);
        if (s == HW_OK) s = hw_vocab_push(&v, w, strlen(w));
    }
    if (s == HW_OK) s = hw_vocab_index(&v);
    for (int i = 0; i < n && s == HW_OK; i++) {
        int first = hw_vocab_find(&v, sym[i], strlen(sym[i]));
        if (first != i) s = hw_fail(HW_ERR_ARG, "%s: symbol \"%.40s\" is both %d and %d", path, sym[i], first, i);
    }
    hw_vocab_free(&v);
    return s;
}

static cJSON *added_token(int id, const char *content) {
    cJSON *a = cJSON_CreateObject();
    cJSON_AddNumberToObject(a, "id", id);
    cJSON_AddStringToObject(a, "content", content);
    cJSON_AddBoolToObject(a, "single_word", 0);
    cJSON_AddBoolToObject(a, "lstrip", 0);
    cJSON_AddBoolToObject(a, "rstrip", 0);
    cJSON_AddBoolToObject(a, "normalized", 0);
    cJSON_AddBoolToObject(a, "special", 1);
    return a;
}

/* {"SpecialToken": {"id": name, "type_id": 0}} or {"Sequence": {"id": "A", "type_id": t}} */
static cJSON *template_piece(const char *kind, const char *id, int type_id) {
    cJSON *o = cJSON_CreateObject(), *in = cJSON_AddObjectToObject(o, kind);
    cJSON_AddStringToObject(in, "id", id);
    cJSON_AddNumberToObject(in, "type_id", type_id);
    return o;
}

/* TemplateProcessing: "<bos> $A" for one text, "<bos> $A <bos> $B" for pairs. */
static cJSON *post_processor(const char *bos, int bos_id) {
    cJSON *pp = cJSON_CreateObject();
    cJSON_AddStringToObject(pp, "type", "TemplateProcessing");
    cJSON *single = cJSON_AddArrayToObject(pp, "single"), *pair = cJSON_AddArrayToObject(pp, "pair");
    cJSON_AddItemToArray(single, template_piece("SpecialToken", bos, 0));
    cJSON_AddItemToArray(single, template_piece("Sequence", "A", 0));
    cJSON_AddItemToArray(pair, template_piece("SpecialToken", bos, 0));
    cJSON_AddItemToArray(pair, template_piece("Sequence", "A", 0));
    cJSON_AddItemToArray(pair, template_piece("SpecialToken", bos, 1));
    cJSON_AddItemToArray(pair, template_piece("Sequence", "B", 1));
    cJSON *st = cJSON_AddObjectToObject(pp, "special_tokens"), *b = cJSON_AddObjectToObject(st, bos);
    cJSON_AddStringToObject(b, "id", bos);
    cJSON_AddItemToObject(b, "ids", cJSON_CreateIntArray(&bos_id, 1));
    cJSON_AddItemToObject(b, "tokens", cJSON_CreateStringArray(&bos, 1));
    return pp;
}

hw_status hw_tokenizer_write_wordlevel(const char *path, const char *const *symbols, int n, int bos,
                                       int unk) {
    if (!path) return hw_fail(HW_ERR_ARG, "hw_tokenizer_write_wordlevel: path is NULL");
    hw_status s = check_symbols(path, symbols, n, bos, unk);
    if (s != HW_OK) return s;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "version", "1.0");
    cJSON_AddNullToObject(root, "truncation");
    cJSON_AddNullToObject(root, "padding");
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens");
    if (bos >= 0) cJSON_AddItemToArray(added, added_token(bos, symbols[bos]));
    if (unk >= 0 && unk != bos) cJSON_AddItemToArray(added, added_token(unk, symbols[unk]));
    cJSON_AddNullToObject(root, "normalizer");
    cJSON *pre = cJSON_AddObjectToObject(root, "pre_tokenizer");
    cJSON_AddStringToObject(pre, "type", "WhitespaceSplit");
    if (bos >= 0) cJSON_AddItemToObject(root, "post_processor", post_processor(symbols[bos], bos));
    else cJSON_AddNullToObject(root, "post_processor");
    cJSON_AddNullToObject(root, "decoder");
    cJSON *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "WordLevel");
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab");
    for (int i = 0; i < n; i++) cJSON_AddNumberToObject(vocab, symbols[i], i);
    /* tokenizers requires unk_token to be a string; one that is not in the
     * vocabulary only matters if an unknown word is met, which then fails. */
    cJSON_AddStringToObject(model, "unk_token", unk >= 0 ? symbols[unk] : "<unk>");
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) return hw_fail(HW_ERR_NOMEM, "%s: out of memory", path);
    s = hw_write_file_atomic(path, text, strlen(text));
    cJSON_free(text);
    return s;
}

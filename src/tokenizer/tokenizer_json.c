/* tokenizer_json.c: Hugging Face tokenizer.json files with a BPE or WordLevel model.
 *
 * Reads the parts the pipeline in hf.c runs: the BPE model (vocab, merges as
 * "a b" strings or ["a", "b"] lists, byte_fallback, ignore_merges, unk),
 * added_tokens, the normalizer, pre-tokenizer and decoder (including nested
 * Sequences), and finds BOS/EOS in tokenizer_config.json beside the file, else
 * in the post-processor's template, else by the usual names. Anything it does
 * not know is refused with the file's name and the part's type, rather than
 * tokenizing differently from tokenizers. */
#include "tokenizer/hf_vocab.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    hw_tokenizer *t;
    const char *path;
    hw_dec_step dec[16];
    int n_dec;
    int after_bytelevel; /* a pre-tokenizer step came after ByteLevel */
} loader;

static const cJSON *get(const cJSON *obj, const char *key) { return cJSON_GetObjectItemCaseSensitive(obj, key); }

static const char *get_str(const cJSON *obj, const char *key) {
    const cJSON *x = get(obj, key);
    return cJSON_IsString(x) ? x->valuestring : NULL;
}

static int get_bool(const cJSON *obj, const char *key, int dflt) {
    const cJSON *x = get(obj, key);
    return cJSON_IsBool(x) ? cJSON_IsTrue(x) : dflt;
}

/* A {"String": s} or {"Regex": r} pattern; *literal says which. */
static const char *pattern_of(const cJSON *obj, int *literal) {
    const cJSON *p = get(obj, "pattern");
    const char *s;
    if ((s = get_str(p, "String"))) {
        *literal = 1;
        return s;
    }
    *literal = 0;
    return get_str(p, "Regex");
}

static char *dup_str(const char *s, size_t *len) {
    *len = strlen(s);
    char *d = malloc(*len + 1);
    if (d) memcpy(d, s, *len + 1);
    return d;
}

/* ---------------------------------------------------------------- normalizer */

static hw_status add_norm(loader *L, const cJSON *n) {
    if (!n || cJSON_IsNull(n)) return HW_OK;
    const char *type = get_str(n, "type");
    if (!type) return hw_fail(HW_ERR_FORMAT, "%s: a normalizer has no type", L->path);
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *x, *list = get(n, "normalizers");
        if (!cJSON_IsArray(list)) return hw_fail(HW_ERR_FORMAT, "%s: Sequence normalizer without a list", L->path);
        cJSON_ArrayForEach(x, list) {
            hw_status s = add_norm(L, x);
            if (s != HW_OK) return s;
        }
        return HW_OK;
    }
    hw_tokenizer *t = L->t;
    hw_norm_step *grown = realloc(t->norm, (size_t)(t->n_norm + 1) * sizeof *grown);
    if (!grown) return hw_fail(HW_ERR_NOMEM, "%s: out of memory", L->path);
    t->norm = grown;
    hw_norm_step *st = &t->norm[t->n_norm];
    memset(st, 0, sizeof *st);
    if (strcmp(type, "Prepend") == 0) {
        const char *p = get_str(n, "prepend");
        if (!p) return hw_fail(HW_ERR_FORMAT, "%s: Prepend normalizer without \"prepend\"", L->path);
        st->kind = HW_NORMALIZE_PREPEND;
        if (!(st->a = dup_str(p, &st->alen))) return hw_fail(HW_ERR_NOMEM, "%s: out of memory", L->path);
    } else if (strcmp(type, "Replace") == 0) {
        int literal;
        const char *p = pattern_of(n, &literal), *c = get_str(n, "content");
        if (!p || !c) return hw_fail(HW_ERR_FORMAT, "%s: Replace normalizer without pattern or content", L->path);
        st->kind = HW_NORMALIZE_REPLACE;
        if (!(st->a = dup_str(p, &st->alen)) || !(st->b = dup_str(c, &st->blen))) {
            hw_norm_step_free(st);
            return hw_fail(HW_ERR_NOMEM, "%s: out of memory", L->path);
        }
        if (!literal && !(st->re = hw_regex_compile(p, strlen(p), 0, L->path))) {
            hw_norm_step_free(st);
            return HW_ERR_UNSUPPORTED;
        }
    } else if (strcmp(type, "NFC") == 0) {
        st->kind = HW_NORMALIZE_NFC;
    } else {
        return hw_fail(HW_ERR_UNSUPPORTED, "%s: normalizer \"%s\" is not supported", L->path, type);
    }
    t->n_norm++;
    return HW_OK;
}

/* ---------------------------------------------------------------- pre-tokenizer */

static int prepend_scheme(const cJSON *n) {
    const char *s = get_str(n, "prepend_scheme");
    if (s) return strcmp(s, "never") == 0 ? HW_PREPEND_NEVER : strcmp(s, "first") == 0 ? HW_PREPEND_FIRST
                                                                                       : HW_PREPEND_ALWAYS;
    /* Older files: add_prefix_space, true unless said otherwise. */
    return get_bool(n, "add_prefix_space", 1) ? HW_PREPEND_ALWAYS : HW_PREPEND_NEVER;
}

static hw_status set_replacement(loader *L, const cJSON *n, char *out, size_t *len) {
    const char *r = get_str(n, "replacement");
    if (!r) r = "\xE2\x96\x81"; /* U+2581, SentencePiece's space */
    *len = strlen(r);
    if (*len == 0 || *len > 4 || hw_utf8_len(r, *len) != *len)
        return hw_fail(HW_ERR_FORMAT, "%s: Metaspace replacement must be one character", L->path);
    memcpy(out, r, *len);
    return HW_OK;
}

static hw_status add_pre(loader *L, const cJSON *n) {
    if (!n || cJSON_IsNull(n)) return HW_OK;
    const char *type = get_str(n, "type");
    if (!type) return hw_fail(HW_ERR_FORMAT, "%s: a pre-tokenizer has no type", L->path);
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *x, *list = get(n, "pretokenizers");
        if (!cJSON_IsArray(list)) return hw_fail(HW_ERR_FORMAT, "%s: Sequence pre-tokenizer without a list", L->path);
        cJSON_ArrayForEach(x, list) {
            hw_status s = add_pre(L, x);
            if (s != HW_OK) return s;
        }
        return HW_OK;
    }
    hw_tokenizer *t = L->t;
    /* ByteLevel spells words in its byte alphabet; a later step would see that
     * alphabet, which this pipeline (working on raw bytes) does not model. */
    if (t->byte_level)
        return hw_fail(HW_ERR_UNSUPPORTED, "%s: pre-tokenizer \"%s\" after ByteLevel is not supported", L->path, type);
    hw_pre_step *grown = realloc(t->pre, (size_t)(t->n_pre + 1) * sizeof *grown);
    if (!grown) return hw_fail(HW_ERR_NOMEM, "%s: out of memory", L->path);
    t->pre = grown;
    hw_pre_step *st = &t->pre[t->n_pre];
    memset(st, 0, sizeof *st);
    const char *pat = NULL;
    int literal = 0;
    if (strcmp(type, "ByteLevel") == 0) {
        st->kind = HW_PRE_BYTELEVEL;
        st->add_prefix_space = get_bool(n, "add_prefix_space", 1);
        if (get_bool(n, "use_regex", 1)) pat = hw_gpt2_pattern;
        t->byte_level = 1;
    } else if (strcmp(type, "Split") == 0) {
        st->kind = HW_PRE_SPLIT;
        pat = pattern_of(n, &literal);
        if (!pat) return hw_fail(HW_ERR_FORMAT, "%s: Split pre-tokenizer without a pattern", L->path);
        const char *b = get_str(n, "behavior");
        static const char *names[] = {"Removed", "Isolated", "MergedWithPrevious", "MergedWithNext", "Contiguous"};
        int k = -1;
        for (int i = 0; b && i < 5; i++)
            if (strcmp(b, names[i]) == 0) k = i;
        if (k < 0) return hw_fail(HW_ERR_UNSUPPORTED, "%s: Split behavior \"%s\" is not supported", L->path, b ? b : "(none)");
        st->behavior = (hw_split_behavior)k;
        st->invert = get_bool(n, "invert", 0);
    } else if (strcmp(type, "Digits") == 0) {
        /* tokenizers splits on numeric characters: each alone, or runs. */
        st->kind = HW_PRE_SPLIT;
        pat = "\\p{N}";
        st->behavior = get_bool(n, "individual_digits", 0) ? HW_SPLIT_ISOLATED : HW_SPLIT_CONTIGUOUS;
    } else if (strcmp(type, "Whitespace") == 0) {
        st->kind = HW_PRE_SPLIT; /* keep runs of word characters and of other non-spaces */
        pat = "\\w+|[^\\w\\s]+";
        st->behavior = HW_SPLIT_REMOVED;
        st->invert = 1;
    } else if (strcmp(type, "WhitespaceSplit") == 0) {
        st->kind = HW_PRE_SPLIT;
        pat = "\\s";
        st->behavior = HW_SPLIT_REMOVED;
    } else if (strcmp(type, "Metaspace") == 0) {
        st->kind = HW_PRE_METASPACE;
        hw_status s = set_replacement(L, n, st->replacement, &st->replacement_len);
        if (s != HW_OK) return s;
        st->prepend_scheme = prepend_scheme(n);
        st->split = get_bool(n, "split", 1);
    } else {
        return hw_fail(HW_ERR_UNSUPPORTED, "%s: pre-tokenizer \"%s\" is not supported", L->path, type);
    }
    if (pat && !(st->re = hw_regex_compile(pat, strlen(pat), literal, L->path))) return HW_ERR_UNSUPPORTED;
    t->n_pre++;
    return HW_OK;
}

/* ---------------------------------------------------------------- decoder */

static hw_status add_dec(loader *L, const cJSON *n) {
    if (!n || cJSON_IsNull(n)) return HW_OK;
    const char *type = get_str(n, "type");
    if (!type) return hw_fail(HW_ERR_FORMAT, "%s: a decoder has no type", L->path);
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *x, *list = get(n, "decoders");
        if (!cJSON_IsArray(list)) return hw_fail(HW_ERR_FORMAT, "%s: Sequence decoder without a list", L->path);
        cJSON_ArrayForEach(x, list) {
            hw_status s = add_dec(L, x);
            if (s != HW_OK) return s;
        }
        return HW_OK;
    }
    if (strcmp(type, "Fuse") == 0) return HW_OK; /* joins pieces: nothing per piece */
    if (L->n_dec == (int)(sizeof L->dec / sizeof L->dec[0]))
        return hw_fail(HW_ERR_UNSUPPORTED, "%s: too many decoders", L->path);
    hw_dec_step *st = &L->dec[L->n_dec];
    memset(st, 0, sizeof *st);
    if (strcmp(type, "ByteLevel") == 0) {
        st->kind = HW_DEC_BYTELEVEL;
    } else if (strcmp(type, "ByteFallback") == 0) {
        st->kind = HW_DEC_BYTE_FALLBACK;
    } else if (strcmp(type, "Replace") == 0) {
        int literal;
        const char *p = pattern_of(n, &literal), *c = get_str(n, "content");
        if (!p || !c || !literal)
            return hw_fail(HW_ERR_UNSUPPORTED, "%s: Replace decoder needs a String pattern and content", L->path);
        *st = (hw_dec_step){HW_DEC_REPLACE, p, c, strlen(p), strlen(c)};
    } else if (strcmp(type, "Metaspace") == 0) {
        /* Strings live in the decoder's own buffer: keep them in the loader. */
        static const char space[] = " ";
        const char *r = get_str(n, "replacement");
        if (!r) r = "\xE2\x96\x81";
        *st = (hw_dec_step){HW_DEC_REPLACE, r, space, strlen(r), 1};
        if (prepend_scheme(n) != HW_PREPEND_NEVER) L->t->strip_leading = 1;
    } else if (strcmp(type, "Strip") == 0) {
        const char *c = get_str(n, "content");
        const cJSON *start = get(n, "start"), *stop = get(n, "stop");
        /* The Llama-2 form: drop the one space the normalizer put first. */
        if (!c || strcmp(c, " ") != 0 || !cJSON_IsNumber(start) || start->valuedouble != 1 ||
            (cJSON_IsNumber(stop) && stop->valuedouble != 0))
            return hw_fail(HW_ERR_UNSUPPORTED, "%s: only Strip(content=\" \", start=1, stop=0) is supported", L->path);
        L->t->strip_leading = 1;
        return HW_OK;
    } else {
        return hw_fail(HW_ERR_UNSUPPORTED, "%s: decoder \"%s\" is not supported", L->path, type);
    }
    L->n_dec++;
    return HW_OK;
}

/* ---------------------------------------------------------------- BOS / EOS */

/* A special token in tokenizer_config.json: "..." or {"content": "..."}; 1
 * when the key is present (even as null), with its id (-1 if none) in *id. */
static int config_token(const hw_tokenizer *t, const cJSON *cfg, const char *key, int *id) {
    const cJSON *x = get(cfg, key);
    if (!x) return 0;
    const char *s = cJSON_IsString(x) ? x->valuestring : get_str(x, "content");
    *id = hw_hf_token_id(t, s);
    return 1;
}

/* The post-processor's single-sequence template: a special token before the
 * sequence is BOS, one after it EOS. */
static void template_tokens(const hw_tokenizer *t, const cJSON *pp, int *bos, int *eos, int *found) {
    if (!pp) return;
    const char *type = get_str(pp, "type");
    if (type && strcmp(type, "Sequence") == 0) {
        const cJSON *x;
        cJSON_ArrayForEach(x, get(pp, "processors")) template_tokens(t, x, bos, eos, found);
        return;
    }
    if (!type || strcmp(type, "TemplateProcessing") != 0) return;
    *found = 1;
    int seen_seq = 0;
    const cJSON *x;
    cJSON_ArrayForEach(x, get(pp, "single")) {
        if (get(x, "Sequence")) {
            seen_seq = 1;
            continue;
        }
        const char *name = get_str(get(x, "SpecialToken"), "id");
        if (!name) continue;
        const cJSON *first = cJSON_GetArrayItem(get(get(get(pp, "special_tokens"), name), "ids"), 0);
        int id = hw_hf_token_id(t, name);
        if (cJSON_IsNumber(first)) /* range-checked before the cast */
            id = first->valuedouble >= 0 && first->valuedouble < t->vocab.n ? (int)first->valuedouble : -1;
        if (id < 0 || id >= t->vocab.n) continue;
        if (!seen_seq && *bos < 0) *bos = id;
        if (seen_seq && *eos < 0) *eos = id;
    }
}

static int first_known(const hw_tokenizer *t, const char *const *names) {
    for (; *names; names++) {
        int id = hw_hf_token_id(t, *names);
        if (id >= 0) return id;
    }
    return -1;
}

static void find_bos_eos(hw_tokenizer *t, const cJSON *root, const char *path) {
    char cfg_path[4200];
    const char *slash = strrchr(path, '/');
    int dir = slash ? (int)(slash - path) : 0;
    snprintf(cfg_path, sizeof cfg_path, "%.*s%stokenizer_config.json", dir, path, slash ? "/" : "");
    int have_bos = 0, have_eos = 0;
    hw_mapped_file f;
    char saved[512];
    snprintf(saved, sizeof saved, "%s", hw_last_error()); /* a missing config is not an error */
    if (hw_file_map(&f, cfg_path) == HW_OK) {
        cJSON *cfg = cJSON_ParseWithLength((const char *)f.data, f.size);
        if (cJSON_IsObject(cfg)) {
            have_bos = config_token(t, cfg, "bos_token", &t->bos);
            have_eos = config_token(t, cfg, "eos_token", &t->eos);
        }
        cJSON_Delete(cfg);
        hw_file_unmap(&f);
    }
    hw_fail(HW_OK, "%s", saved);
    int bos = -1, eos = -1, found = 0;
    template_tokens(t, get(root, "post_processor"), &bos, &eos, &found);
    if (!have_bos && found) {
        t->bos = bos;
        have_bos = 1;
    }
    static const char *const bos_names[] = {"<s>", "<|begin_of_text|>", "<|startoftext|>", "<bos>", "<|endoftext|>", NULL};
    static const char *const eos_names[] = {"</s>", "<|end_of_text|>", "<|endoftext|>", "<eos>", NULL};
    if (!have_bos) t->bos = first_known(t, bos_names);
    if (!have_eos) t->eos = eos >= 0 ? eos : first_known(t, eos_names);
}

/* ---------------------------------------------------------------- model */

static hw_status read_merges(loader *L, const cJSON *merges) {
    hw_tokenizer *t = L->t;
    int n = cJSON_GetArraySize(merges), rank = 0;
    hw_status s = hw_pairs_init(&t->merges, n);
    const cJSON *m;
    cJSON_ArrayForEach(m, merges) {
        if (s != HW_OK) break;
        if (cJSON_IsString(m)) { /* "a b": exactly one space, as tokenizers requires */
            const char *str = m->valuestring, *sp = strchr(str, ' ');
            if (!sp || strchr(sp + 1, ' '))
                return hw_fail(HW_ERR_FORMAT, "%s: merge %d \"%.60s\" is not two pieces split by one space",
                               L->path, rank, str);
            s = hw_hf_add_merge(t, str, (size_t)(sp - str), sp + 1, strlen(sp + 1), rank, L->path);
        } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(cJSON_GetArrayItem(m, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(m, 1))) {
            const char *a = cJSON_GetArrayItem(m, 0)->valuestring, *b = cJSON_GetArrayItem(m, 1)->valuestring;
            s = hw_hf_add_merge(t, a, strlen(a), b, strlen(b), rank, L->path);
        } else {
            return hw_fail(HW_ERR_FORMAT, "%s: merge %d is neither \"a b\" nor [\"a\", \"b\"]", L->path, rank);
        }
        rank++;
    }
    return s;
}

/* WordLevel: every pre-tokenized word is one piece, or unk_token. Without a
 * decoder, tokenizers joins the pieces with spaces; the decode table holds
 * each piece after a space and strip_leading drops the first one. */
static hw_status load_wordlevel(loader *L, const cJSON *root, const cJSON *model) {
    hw_tokenizer *t = L->t;
    const char *path = L->path;
    const cJSON *vocab = get(model, "vocab");
    if (!cJSON_IsObject(vocab)) return hw_fail(HW_ERR_FORMAT, "%s: WordLevel model has no \"vocab\" object", path);
    hw_status s = hw_hf_build_vocab(t, vocab, get(root, "added_tokens"), path);
    if (s != HW_OK) return s;
    t->kind = HW_TOKENIZER_WORDLEVEL;
    /* As in tokenizers, an unk_token missing from the vocabulary only matters
     * when an unknown word is met, which then fails the encoding. */
    t->unk_id = hw_hf_token_id(t, get_str(model, "unk_token"));
    if ((s = add_norm(L, get(root, "normalizer"))) != HW_OK) return s;
    if ((s = add_pre(L, get(root, "pre_tokenizer"))) != HW_OK) return s;
    const cJSON *dec = get(root, "decoder");
    int join_spaces = !dec || cJSON_IsNull(dec);
    if ((s = add_dec(L, dec)) != HW_OK) return s;
    find_bos_eos(t, root, path);
    if ((s = hw_bpe_prepare(t)) != HW_OK || (s = hw_added_index(t)) != HW_OK) return s;
    if (join_spaces) {
        static const char space[] = " ";
        L->dec[L->n_dec++] = (hw_dec_step){.kind = HW_DEC_PREFIX, .to = space, .to_len = 1};
        t->strip_leading = 1;
    }
    return hw_tokenizer_build_decode(t, L->dec, L->n_dec);
}

static hw_status load(loader *L, const cJSON *root) {
    hw_tokenizer *t = L->t;
    const char *path = L->path;
    if (!cJSON_IsObject(root)) return hw_fail(HW_ERR_FORMAT, "%s: not a JSON object", path);
    const cJSON *model = get(root, "model");
    if (!cJSON_IsObject(model)) return hw_fail(HW_ERR_FORMAT, "%s: no \"model\" object", path);
    const char *type = get_str(model, "type");
    const cJSON *vocab = get(model, "vocab"), *merges = get(model, "merges");
    if (type && strcmp(type, "WordLevel") == 0) return load_wordlevel(L, root, model);
    if (type && strcmp(type, "BPE") != 0)
        return hw_fail(HW_ERR_UNSUPPORTED, "%s: model type \"%s\" is not supported (BPE, WordLevel)", path, type);
    if (!type && !merges) return hw_fail(HW_ERR_UNSUPPORTED, "%s: model has no type and no merges", path);
    if (!cJSON_IsObject(vocab)) return hw_fail(HW_ERR_FORMAT, "%s: model has no \"vocab\" object", path);
    if (!cJSON_IsArray(merges)) return hw_fail(HW_ERR_FORMAT, "%s: model has no \"merges\" list", path);
    const char *csp = get_str(model, "continuing_subword_prefix"), *eow = get_str(model, "end_of_word_suffix");
    if ((csp && *csp) || (eow && *eow))
        return hw_fail(HW_ERR_UNSUPPORTED, "%s: BPE with subword prefixes or suffixes is not supported", path);
    hw_status s = hw_hf_build_vocab(t, vocab, get(root, "added_tokens"), path);
    if (s == HW_OK) s = read_merges(L, merges);
    if (s != HW_OK) return s;
    t->kind = HW_TOKENIZER_BPE;
    t->byte_fallback = get_bool(model, "byte_fallback", 0);
    t->ignore_merges = get_bool(model, "ignore_merges", 0);
    t->fuse_unk = get_bool(model, "fuse_unk", 0);
    t->unk_id = hw_hf_token_id(t, get_str(model, "unk_token"));
    if ((s = add_norm(L, get(root, "normalizer"))) != HW_OK) return s;
    if ((s = add_pre(L, get(root, "pre_tokenizer"))) != HW_OK) return s;
    if ((s = add_dec(L, get(root, "decoder"))) != HW_OK) return s;
    find_bos_eos(t, root, path);
    if ((s = hw_bpe_prepare(t)) != HW_OK || (s = hw_added_index(t)) != HW_OK) return s;
    return hw_tokenizer_build_decode(t, L->dec, L->n_dec);
}

hw_status hw_tokenizer_load_json(hw_tokenizer *t, const char *path) {
    hw_mapped_file f;
    hw_status s = hw_file_map(&f, path);
    if (s != HW_OK) return s;
    size_t bad;
    if (!hw_utf8_valid((const char *)f.data, f.size, &bad)) {
        hw_file_unmap(&f);
        return hw_fail(HW_ERR_FORMAT, "%s: not UTF-8 text (invalid byte at offset %zu)", path, bad);
    }
    cJSON *root = cJSON_ParseWithLength((const char *)f.data, f.size);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        size_t off = at && at >= (const char *)f.data && at <= (const char *)f.data + f.size
                         ? (size_t)(at - (const char *)f.data)
                         : 0;
        s = hw_fail(HW_ERR_FORMAT, "%s: not valid JSON (near byte %zu)", path, off);
    } else {
        loader L = {.t = t, .path = path};
        s = load(&L, root);
    }
    cJSON_Delete(root);
    hw_file_unmap(&f);
    return s;
}

/*
 * gguf_vocab.c: the tokenizer a GGUF file carries in its metadata (tokenizer.ggml.*), as
 * llama.cpp reads it, built on the encoders the other formats use:
 *
 *   model "llama": SentencePiece-style pieces with scores, token types and <0xNN> byte
 *     fallback: llama2c.c's score-driven merges (the same algorithm), with the pieces'
 *     U+2581 spelled as the ' ' that encoder works in;
 *   model "gpt2": byte-level BPE with ranked merges ("a b" strings): hf.c's pipeline,
 *     its pre-tokenizer being llama.cpp's regex list for tokenizer.ggml.pre (each regex
 *     splits the pieces of the one before, matches and gaps both kept).
 *
 * Token types (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte):
 * control and user-defined tokens are split out of the text before encoding, as
 * Hugging Face tokenizers matches its added tokens (llama.cpp matches control tokens
 * only when asked to parse special tokens; test texts hold none). After such a token a
 * SentencePiece stretch gets its dummy prefix again, as llama.cpp gives it (unless
 * tokenizer.ggml.add_space_prefix is false). BOS and EOS are the files' ids;
 * add_bos_token false means no BOS is added.
 */
#include "tokenizer/hf_vocab.h"
#include "io/gguf.h"
#include "hw_limits.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

enum { TYPE_NORMAL = 1, TYPE_UNKNOWN = 2, TYPE_CONTROL = 3, TYPE_USER = 4, TYPE_UNUSED = 5, TYPE_BYTE = 6 };

/* llama.cpp's pre-tokenizer regexes (llama-vocab.cpp) by tokenizer.ggml.pre name. */
#define GPT2_RE "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"
#define LLAMA3_RE                                                                                  \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"      \
    "\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define QWEN2_RE                                                                                   \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|"      \
    "\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define CJK_RE "[一-龥ࠀ-一가-퟿]+"

static const struct {
    const char *names;      /* '|'-separated tokenizer.ggml.pre values */
    const char *re[6];
    int ignore_merges;
} pre_types[] = {
    {"default|", {"[\\p{P}\\$\\+<=>\\^~\\|]+", GPT2_RE, "\\p{N}+", "[0-9][0-9][0-9]"}, 0},
    {"gpt-2|gpt2|mpt|olmo|jais", {GPT2_RE}, 0},
    {"llama3|llama-v3|llama-bpe|falcon3|dbrx|smaug-bpe", {LLAMA3_RE}, 1},
    {"qwen2|deepseek-r1-qwen|stablelm2", {QWEN2_RE}, 0},
    {"deepseek-llm",
     {"[\r\n]",
      "\\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-"
      "ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-"
      "ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+",
      "\\s?[!-/:-~！-／：-～‘-‟　-。]+", "\\s+$", CJK_RE, "\\p{N}+"},
     0},
    {"deepseek-coder", {"[\r\n]", "\\s?\\p{L}+", "\\s?\\p{P}+", CJK_RE, "\\p{N}"}, 0},
    {"falcon", {"[\\p{P}\\$\\+<=>\\^~\\|`]+", GPT2_RE, "[0-9][0-9][0-9]"}, 0},
    {"starcoder|refact|command-r|smollm|codeshell|exaone|minerva", {"\\p{N}", GPT2_RE}, 0},
    {"poro-chat|bloom|gpt3-finnish", {" ?[^(\\s|.,!?…。，、।۔،)]+"}, 0},
};

/* Whether name (len bytes) is one of the '|'-separated names. */
static bool names_match(const char *names, const char *name, size_t len) {
    for (const char *p = names;;) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == len && memcmp(p, name, len) == 0) return true;
        if (!bar) return false;
        p = bar + 1;
    }
}

typedef struct {
    hw_tokenizer *t;
    const hw_gguf *g;
    const char *path;
    const hw_gguf_kv *tokens, *types;
} loader;

static int token_type(const loader *L, int id) {
    return L->types ? (int)hw_gguf_array_int(L->types, (uint64_t)id) : TYPE_NORMAL;
}

/* Every piece into t->vocab; spm: U+2581 spelled ' '. Control and user-defined tokens
 * become added tokens. */
static hw_status read_pieces(loader *L, bool spm) {
    hw_tokenizer *t = L->t;
    int n = (int)L->tokens->n, n_added = 0;
    hw_status s = hw_vocab_init(&t->vocab, n, L->tokens->nbytes);
    if (s) return s;
    hw_buf piece = {0};
    const uint8_t *p = L->tokens->data;
    for (int i = 0; i < n && s == HW_OK; i++) {
        hw_gguf_str str = hw_gguf_next_str(&p);
        if (str.len > HW_MAX_PIECE_BYTES) {
            s = hw_fail(HW_ERR_FORMAT, "%s: token %d is longer than %d bytes", L->path, i, HW_MAX_PIECE_BYTES);
            break;
        }
        piece.n = 0;
        for (size_t k = 0; k < str.len && s == HW_OK;) {
            bool sp = spm && k + 3 <= str.len && memcmp(str.s + k, "\xE2\x96\x81", 3) == 0;
            s = hw_buf_put(&piece, sp ? " " : str.s + k, 1);
            k += sp ? 3 : 1;
        }
        if (s == HW_OK) s = hw_vocab_push(&t->vocab, piece.s ? piece.s : "", piece.n);
        int ty = token_type(L, i);
        n_added += (ty == TYPE_CONTROL || ty == TYPE_USER) && piece.n > 0;
    }
    hw_buf_free(&piece);
    if (s == HW_OK) s = hw_vocab_index(&t->vocab);
    if (s != HW_OK) return s;
    if (!(t->added = calloc((size_t)n_added + 1, sizeof *t->added)))
        return hw_fail(HW_ERR_NOMEM, "%s: out of memory for special tokens", L->path);
    for (int i = 0; i < n; i++) {
        int ty = token_type(L, i);
        size_t len;
        const char *c = hw_vocab_piece(&t->vocab, i, &len);
        if (!((ty == TYPE_CONTROL || ty == TYPE_USER) && len > 0)) continue;
        hw_added_token *a = &t->added[t->n_added];
        if (!(a->content = malloc(len + 1))) return hw_fail(HW_ERR_NOMEM, "%s: out of memory", L->path);
        memcpy(a->content, c, len);
        a->content[len] = 0;
        a->len = len;
        a->id = i;
        a->special = ty == TYPE_CONTROL;
        t->n_added++;
    }
    return hw_added_index(t);
}

static hw_status load_spm(loader *L) {
    hw_tokenizer *t = L->t;
    const hw_gguf_kv *scores;
    hw_status s = hw_gguf_get_array(L->g, "tokenizer.ggml.scores", HW_GGUF_F64, &scores);
    if (s) return s;
    if (!scores || scores->n != L->tokens->n)
        return hw_fail(HW_ERR_FORMAT, "%s: tokenizer.ggml.scores is missing or not one per token", L->path);
    if ((s = read_pieces(L, true))) return s;
    if (!(t->scores = malloc((size_t)L->tokens->n * sizeof *t->scores)))
        return hw_fail(HW_ERR_NOMEM, "%s: out of memory for scores", L->path);
    for (uint64_t i = 0; i < scores->n; i++) {
        double v = hw_gguf_array_float(scores, i);
        if (isnan(v)) return hw_fail(HW_ERR_FORMAT, "%s: token %llu has a NaN score", L->path, (unsigned long long)i);
        t->scores[i] = (float)v;
    }
    bool prefix = true, found;
    if ((s = hw_gguf_get_bool(L->g, "tokenizer.ggml.add_space_prefix", &prefix, &found))) return s;
    t->kind = HW_TOKENIZER_LLAMA2C;
    t->no_dummy_prefix = !prefix;
    t->strip_leading = prefix;
    static const hw_dec_step bytes = {HW_DEC_BYTE_FALLBACK, NULL, NULL, 0, 0};
    return hw_tokenizer_build_decode(t, &bytes, 1);
}

static hw_status add_pre_regex(loader *L, const char *re) {
    hw_tokenizer *t = L->t;
    hw_pre_step *st = &t->pre[t->n_pre];
    memset(st, 0, sizeof *st);
    st->kind = HW_PRE_SPLIT;
    st->behavior = HW_SPLIT_ISOLATED;
    if (!(st->re = hw_regex_compile(re, strlen(re), 0, L->path))) return HW_ERR_UNSUPPORTED;
    t->n_pre++;
    return HW_OK;
}

static hw_status read_merges(loader *L) {
    const hw_gguf_kv *merges;
    hw_status s = hw_gguf_get_array(L->g, "tokenizer.ggml.merges", HW_GGUF_STRING, &merges);
    if (s) return s;
    if (!merges) return hw_fail(HW_ERR_FORMAT, "%s: a gpt2 tokenizer without tokenizer.ggml.merges", L->path);
    if (merges->n > (uint64_t)INT32_MAX / 2)
        return hw_fail(HW_ERR_FORMAT, "%s: %llu merges", L->path, (unsigned long long)merges->n);
    if ((s = hw_pairs_init(&L->t->merges, (int)merges->n))) return s;
    const uint8_t *p = merges->data;
    for (uint64_t i = 0; i < merges->n && s == HW_OK; i++) {
        hw_gguf_str m = hw_gguf_next_str(&p);
        /* llama.cpp splits at the first space after the first byte. */
        const char *sp = m.len > 1 ? memchr(m.s + 1, ' ', m.len - 1) : NULL;
        if (!sp || sp + 1 == m.s + m.len)
            return hw_fail(HW_ERR_FORMAT, "%s: merge %llu is not two pieces separated by a space", L->path,
                           (unsigned long long)i);
        s = hw_hf_add_merge(L->t, m.s, (size_t)(sp - m.s), sp + 1, (size_t)(m.s + m.len - sp - 1), (int)i,
                            L->path);
    }
    return s;
}

static hw_status load_bpe(loader *L) {
    hw_tokenizer *t = L->t;
    hw_gguf_str pre = {"", 0};
    bool found;
    hw_status s = hw_gguf_get_str(L->g, "tokenizer.ggml.pre", &pre, &found);
    if (s) return s;
    int k = -1;
    for (size_t i = 0; i < sizeof pre_types / sizeof pre_types[0] && k < 0; i++)
        if (names_match(pre_types[i].names, pre.s, pre.len)) k = (int)i;
    if (k < 0)
        return hw_fail(HW_ERR_UNSUPPORTED, "%s: pre-tokenizer \"%.*s\" is not supported", L->path,
                       (int)(pre.len < 60 ? pre.len : 60), pre.s);
    if ((s = read_pieces(L, false)) || (s = read_merges(L))) return s;
    t->kind = HW_TOKENIZER_BPE;
    t->byte_level = 1;
    t->ignore_merges = pre_types[k].ignore_merges;
    if (!(t->pre = calloc(6, sizeof *t->pre))) return hw_fail(HW_ERR_NOMEM, "%s: out of memory", L->path);
    for (int i = 0; i < 6 && pre_types[k].re[i] && s == HW_OK; i++) s = add_pre_regex(L, pre_types[k].re[i]);
    static const hw_dec_step bytes = {HW_DEC_BYTELEVEL, NULL, NULL, 0, 0};
    if (s == HW_OK && (s = hw_bpe_prepare(t)) == HW_OK) s = hw_tokenizer_build_decode(t, &bytes, 1);
    return s;
}

/* A special token id: -1 when absent or outside the vocabulary (llama.cpp's files write
 * 2^32 - 1 for "none"). */
static hw_status special_id(loader *L, const char *key, int *out) {
    int64_t v;
    bool found;
    *out = -1;
    hw_status s = hw_gguf_get_int(L->g, key, INT64_MIN, INT64_MAX, &v, &found);
    if (s == HW_OK && found && v >= 0 && v < (int64_t)L->tokens->n) *out = (int)v;
    return s;
}

static hw_status load(loader *L) {
    hw_gguf_str model;
    hw_status s = hw_gguf_get_str(L->g, "tokenizer.ggml.model", &model, NULL);
    if (s) return s;
    if ((s = hw_gguf_get_array(L->g, "tokenizer.ggml.tokens", HW_GGUF_STRING, &L->tokens))) return s;
    if (!L->tokens || L->tokens->n == 0 || L->tokens->n > HW_MAX_VOCAB)
        return hw_fail(HW_ERR_FORMAT, "%s: tokenizer.ggml.tokens is missing or not 1..%d pieces", L->path,
                       HW_MAX_VOCAB);
    if ((s = hw_gguf_get_array(L->g, "tokenizer.ggml.token_type", HW_GGUF_I64, &L->types))) return s;
    if (L->types && L->types->n != L->tokens->n)
        return hw_fail(HW_ERR_FORMAT, "%s: tokenizer.ggml.token_type has %llu entries for %llu tokens",
                       L->path, (unsigned long long)L->types->n, (unsigned long long)L->tokens->n);
    bool spm = model.len == 5 && memcmp(model.s, "llama", 5) == 0;
    bool bpe = model.len == 4 && memcmp(model.s, "gpt2", 4) == 0;
    if (!spm && !bpe)
        return hw_fail(HW_ERR_UNSUPPORTED, "%s: tokenizer model \"%.*s\" is not supported (llama, gpt2)",
                       L->path, (int)(model.len < 40 ? model.len : 40), model.s);
    if ((s = spm ? load_spm(L) : load_bpe(L))) return s;
    if ((s = special_id(L, "tokenizer.ggml.bos_token_id", &L->t->bos)) ||
        (s = special_id(L, "tokenizer.ggml.eos_token_id", &L->t->eos)) ||
        (s = special_id(L, "tokenizer.ggml.unknown_token_id", &L->t->unk_id)))
        return s;
    /* add_bos_token false (Qwen2's files): the model's texts start without one, so
     * HW_TOK_BOS adds none, as for Qwen2's tokenizer.json. */
    bool add_bos = true, found;
    if ((s = hw_gguf_get_bool(L->g, "tokenizer.ggml.add_bos_token", &add_bos, &found))) return s;
    if (!add_bos) L->t->bos = -1;
    return HW_OK;
}

int hw_is_gguf_file(const char *path) {
    uint8_t magic[4];
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    int ok = fread(magic, 1, 4, f) == 4 && hw_gguf_is(magic, 4);
    fclose(f);
    return ok;
}

hw_status hw_tokenizer_load_gguf(hw_tokenizer *t, const char *path) {
    hw_gguf g;
    hw_status s = hw_gguf_open(&g, path);
    if (s == HW_OK) {
        loader L = {.t = t, .g = &g, .path = path};
        s = load(&L);
    }
    hw_gguf_free(&g);
    return s;
}

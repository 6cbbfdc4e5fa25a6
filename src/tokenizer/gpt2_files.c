/* gpt2_files.c: OpenAI's GPT-2 tokenizer files, encoder.json ({"piece": id})
 * and vocab.bpe ("#version" line, then one "a b" merge per line).
 *
 * These describe byte-level BPE with GPT-2's pattern and nothing else: unlike
 * tokenizer.json, <|endoftext|> written in the text is ordinary text here, as
 * in OpenAI's encoder.py. It is BOS and EOS. */
#include "tokenizer/hf_vocab.h"

#include <string.h>

static hw_status read_merges(hw_tokenizer *t, const char *path) {
    hw_mapped_file f;
    hw_status s = hw_file_map(&f, path);
    if (s != HW_OK) return s;
    const char *p = (const char *)f.data, *end = p + f.size;
    int line = 0, rank = 0;
    if ((s = hw_pairs_init(&t->merges, (int)(f.size / 8))) != HW_OK) goto done;
    while (p < end && s == HW_OK) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *e = nl ? nl : end;
        line++;
        size_t len = (size_t)(e - p);
        if (len && p[len - 1] == '\r') len--;
        if (len && !(line == 1 && len >= 8 && memcmp(p, "#version", 8) == 0)) {
            const char *sp = memchr(p, ' ', len);
            if (!sp || sp == p || sp + 1 == p + len || memchr(sp + 1, ' ', (size_t)(p + len - sp - 1))) {
                s = hw_fail(HW_ERR_FORMAT, "%s:%d: a merge line must be two pieces separated by one space",
                            path, line);
                break;
            }
            s = hw_hf_add_merge(t, p, (size_t)(sp - p), sp + 1, (size_t)(p + len - sp - 1), rank++, path);
        }
        p = nl ? nl + 1 : end;
    }
done:
    hw_file_unmap(&f);
    return s;
}

hw_status hw_tokenizer_load_gpt2(hw_tokenizer *t, const char *encoder_json, const char *vocab_bpe) {
    hw_mapped_file f;
    hw_status s = hw_file_map(&f, encoder_json);
    if (s != HW_OK) return s;
    size_t bad;
    cJSON *root = NULL;
    if (!hw_utf8_valid((const char *)f.data, f.size, &bad)) {
        s = hw_fail(HW_ERR_FORMAT, "%s: not UTF-8 text (invalid byte at offset %zu)", encoder_json, bad);
        goto done;
    }
    root = cJSON_ParseWithLength((const char *)f.data, f.size);
    if (!root || !cJSON_IsObject(root)) {
        s = hw_fail(HW_ERR_FORMAT, "%s: not a JSON object of pieces to ids", encoder_json);
        goto done;
    }
    if ((s = hw_hf_build_vocab(t, root, NULL, encoder_json)) != HW_OK) goto done;
    if ((s = read_merges(t, vocab_bpe)) != HW_OK) goto done;
    t->kind = HW_TOKENIZER_BPE;
    t->byte_level = 1;
    if (!(t->pre = calloc(1, sizeof *t->pre))) {
        s = hw_fail(HW_ERR_NOMEM, "%s: out of memory", encoder_json);
        goto done;
    }
    t->n_pre = 1;
    t->pre[0].kind = HW_PRE_BYTELEVEL;
    if (!(t->pre[0].re = hw_regex_compile(hw_gpt2_pattern, strlen(hw_gpt2_pattern), 0, encoder_json))) {
        s = HW_ERR_UNSUPPORTED;
        goto done;
    }
    t->bos = t->eos = hw_hf_token_id(t, "<|endoftext|>");
    static const hw_dec_step bytes = {HW_DEC_BYTELEVEL, NULL, NULL, 0, 0};
    if ((s = hw_bpe_prepare(t)) == HW_OK && (s = hw_added_index(t)) == HW_OK)
        s = hw_tokenizer_build_decode(t, &bytes, 1);
done:
    cJSON_Delete(root);
    hw_file_unmap(&f);
    return s;
}

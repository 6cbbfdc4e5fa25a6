/* fuzz_tokenizer_json.c: Hugging Face tokenizer.json (model, vocab, merges,
 * added tokens, normalizer, pre-tokenizer, decoder, post-processor) and the
 * tokenizer_config.json beside it, then encoding the input's text with it.
 *
 * Input: tokenizer.json NUL text NUL tokenizer_config.json (the last part
 * absent: no tokenizer_config.json). */
#include "fuzz_tok.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *json, *rest, *text, *cfg;
    size_t json_n, rest_n, text_n, cfg_n;
    fuzz_split(data, size, &json, &json_n, &rest, &rest_n);
    fuzz_split(rest, rest_n, &text, &text_n, &cfg, &cfg_n);
    const char *path = fuzz_file("tokenizer.json", json, json_n);
    if (cfg_n) fuzz_file("tokenizer_config.json", cfg, cfg_n);
    else fuzz_unlink("tokenizer_config.json");
    hw_tokenizer *t = hw_tokenizer_load(path, 0);
    fuzz_note(t != NULL);
    if (t) {
        if (hw_tokenizer_vocab_size(t) <= (1 << 12)) fuzz_tokenizer_decode_all(t);
        fuzz_tokenizer_roundtrip(t, text, text_n);
        hw_tokenizer_free(t);
    }
    return 0;
}

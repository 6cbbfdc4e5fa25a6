/* fuzz_gpt2_files.c: OpenAI's GPT-2 tokenizer files, encoder.json and
 * vocab.bpe, then encoding the input's text with them.
 *
 * Input: encoder.json NUL vocab.bpe NUL text. */
#include "fuzz_tok.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *enc, *rest, *bpe, *text;
    size_t enc_n, rest_n, bpe_n, text_n;
    fuzz_split(data, size, &enc, &enc_n, &rest, &rest_n);
    fuzz_split(rest, rest_n, &bpe, &bpe_n, &text, &text_n);
    const char *path = fuzz_file("encoder.json", enc, enc_n);
    fuzz_file("vocab.bpe", bpe, bpe_n);
    hw_tokenizer *t = hw_tokenizer_load(path, 0);
    fuzz_note(t != NULL);
    if (t) {
        if (hw_tokenizer_vocab_size(t) <= (1 << 12)) fuzz_tokenizer_decode_all(t);
        fuzz_tokenizer_roundtrip(t, text, text_n);
        hw_tokenizer_free(t);
    }
    return 0;
}

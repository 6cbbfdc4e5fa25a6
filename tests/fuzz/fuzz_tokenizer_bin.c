/* fuzz_tokenizer_bin.c: llama2.c tokenizer.bin (max_token_length, then score,
 * length and bytes per piece). The first input byte picks the vocab_size the
 * caller passes (0: every piece in the file; else 1..255 pieces), the rest is
 * the file. A tokenizer that loads encodes a fixed text and decodes every id. */
#include "fuzz_tok.h"
#include "tokenizer/tokenizer.h"

static const char text[] = "Once upon a time, a caf\xc3\xa9 \xf0\x9f\x98\x80 \xff\xfe <0x41> <s>\n\t";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    int vocab_size = data[0];
    hw_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return 0;
    t->bos = t->eos = t->unk_id = -1;
    const char *path = fuzz_file("tokenizer.bin", data + 1, size - 1);
    hw_status st = hw_tokenizer_load_llama2c(t, path, vocab_size);
    fuzz_note(st == HW_OK);
    if (st == HW_OK) {
        if (vocab_size && hw_tokenizer_vocab_size(t) != vocab_size) abort();
        fuzz_tokenizer_decode_all(t);
        fuzz_tokenizer_roundtrip(t, (const uint8_t *)text, sizeof text - 1);
    }
    hw_tokenizer_free(t);
    return 0;
}

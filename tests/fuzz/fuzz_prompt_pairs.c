/* fuzz_prompt_pairs.c: the prompt pairs of `headwise patch` (hw_prompt_pairs_read over
 * two prompts files, src/methods/prompt_pairs.c), with stories260K's tok512.bin
 * ($HW_SHARED, default ../shared), loaded once.
 *
 * Input: one byte (bit 0: --target/--minus given; bit 1: the clean file read as the
 * corrupted one too), then the clean file, a NUL byte and the corrupted file. A pair
 * read must have equal lengths, tokens inside the vocabulary and a target. */
#include "fuzz.h"

static hw_tokenizer *tok;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    tok = fuzz_stories_tokenizer("fuzz_prompt_pairs");
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const uint8_t *a, *b;
    size_t na, nb;
    fuzz_split(data + 1, size - 1, &a, &na, &b, &nb);
    const char *clean = fuzz_file("clean.txt", a, na);
    const char *corrupt = data[0] & 2 ? clean : fuzz_file("corrupt.txt", b, nb);
    hw_prompt_pairs *pp = hw_prompt_pairs_read(tok, clean, corrupt, data[0] & 1 ? "Lily" : NULL,
                                               data[0] & 1 ? "Tom" : NULL);
    fuzz_note(pp != NULL);
    const int V = hw_tokenizer_vocab_size(tok);
    for (int i = 0; i < hw_prompt_pairs_count(pp); i++) {
        const int *x, *y;
        int t, m, n = hw_prompt_pairs_get(pp, i, &x, &y, &t, &m);
        if (n < 1 || t < 0 || t >= V || m < -1 || m >= V || !hw_prompt_pairs_label(pp, i)) abort();
        for (int k = 0; k < n; k++)
            if (x[k] < 0 || x[k] >= V || y[k] < 0 || y[k] >= V) abort();
    }
    hw_prompt_pairs_free(pp);
    return 0;
}

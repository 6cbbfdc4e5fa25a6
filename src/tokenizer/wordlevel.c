/* wordlevel.c: the Hugging Face WordLevel model on one pre-tokenized word.
 *
 * A word is one piece of the vocabulary, or the unk token when it is not;
 * with no unk token tokenizers refuses the text, and so does this. The small
 * symbolic vocabularies of the synthetic tasks (src/tasks) use this model. */
#include "tokenizer/tokenizer.h"

#include <string.h>

hw_status hw_wordlevel_word(const hw_tokenizer *t, const char *w, size_t len, int **ids, size_t *n,
                            size_t *cap) {
    if (len == 0) return HW_OK;
    int id = hw_vocab_find(&t->vocab, w, len);
    if (id < 0) id = t->unk_id;
    if (id < 0)
        return hw_fail(HW_ERR_ARG, "word \"%.*s\" is not in the vocabulary and there is no unk_token",
                       (int)(len > 60 ? 60 : len), w);
    if (*n == *cap) {
        size_t c = *cap ? 2 * *cap : 256;
        int *p = realloc(*ids, c * sizeof *p);
        if (!p) return hw_fail(HW_ERR_NOMEM, "out of memory for %zu ids", c);
        *ids = p;
        *cap = c;
    }
    (*ids)[(*n)++] = id;
    return HW_OK;
}

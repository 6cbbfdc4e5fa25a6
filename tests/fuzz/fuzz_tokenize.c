/* fuzz_tokenize.c: encode and decode arbitrary bytes with real tokenizers.
 *
 * Loads, once: llama2.c's tok512.bin and the 32k Llama-2 tokenizer.bin from
 * the shared models ($HW_SHARED, default ../shared), and every *.json in
 * $HW_FUZZ_DATA (tokenizer.json files in each supported layout, written by
 * tests/fuzz/make_data.py). The first input byte picks the tokenizer; the
 * rest is the text, with ids decoded after each other and the raw bytes also
 * read as ids (in and out of range) to decode. */
#include "fuzz_tok.h"

#include <dirent.h>

#define MAX_TOK 32
static hw_tokenizer *toks[MAX_TOK];
static int n_toks;

static void add(const char *path) {
    if (n_toks == MAX_TOK || access(path, R_OK) != 0) return;
    hw_tokenizer *t = hw_tokenizer_load(path, 0);
    if (!t) {
        fprintf(stderr, "fuzz_tokenize: %s\n", hw_last_error());
        abort(); /* a seed tokenizer that does not load is a broken setup */
    }
    toks[n_toks++] = t;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    const char *shared = getenv("HW_SHARED");
    char p[4096];
    snprintf(p, sizeof p, "%s/models/stories260K/tok512.bin", shared ? shared : "../shared");
    add(p);
    snprintf(p, sizeof p, "%s/models/llama2-tokenizer/tokenizer.bin", shared ? shared : "../shared");
    add(p);
    const char *data = getenv("HW_FUZZ_DATA");
    DIR *d = data ? opendir(data) : NULL;
    struct dirent *e;
    char *names[MAX_TOK];
    int n = 0;
    while (d && (e = readdir(d)) && n < MAX_TOK) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".json") == 0) names[n++] = strdup(e->d_name);
    }
    if (d) closedir(d);
    /* Name order, so a tokenizer keeps its selector byte between runs. */
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            if (strcmp(names[j], names[i]) < 0) {
                char *x = names[i];
                names[i] = names[j];
                names[j] = x;
            }
    for (int i = 0; i < n; i++) {
        snprintf(p, sizeof p, "%s/%s", data, names[i]);
        add(p);
        free(names[i]);
    }
    if (n_toks == 0) {
        fprintf(stderr, "fuzz_tokenize: no tokenizers (set HW_SHARED and HW_FUZZ_DATA)\n");
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const hw_tokenizer *t = toks[data[0] % n_toks];
    fuzz_tokenizer_roundtrip(t, data + 1, size - 1);
    /* Any int is a valid argument to decode: in range it prints, else it fails. */
    int V = hw_tokenizer_vocab_size(t), prev = -1;
    for (size_t i = 1; i + 4 <= size; i += 4) {
        int id;
        memcpy(&id, data + i, 4);
        if (id >= 0) id %= V + 1; /* mostly in range, sometimes just past it */
        size_t len;
        const char *s = hw_tokenizer_decode(t, prev, id, &len);
        if ((s != NULL) != (id >= 0 && id < V)) abort();
        prev = id;
    }
    return 0;
}

/* fuzz_gguf.c: one GGUF file: the header, every metadata value (arrays nested in
 * arrays, strings), the tensor table with its alignment and offsets; then every
 * accessor a loader uses is read back (an accepted table must lie inside the input),
 * the file goes through the model loader, with one forward step of a model that loads,
 * and through the tokenizer loader (tokenizer.ggml.*), encoding and decoding a text with
 * a tokenizer that loads. The input is handed over as the map (as a file for the
 * tokenizer, which opens a path). */
#include "io/gguf.h"
#include "model/model.h" /* before fuzz.h: its loader helpers need it */
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    hw_set_threads(1);
    return 0;
}

/* Read every value of a parsed file, as the loaders and the tokenizer would. */
static void read_back(const hw_gguf *g, const uint8_t *data, size_t size) {
    volatile double sink = 0;
    for (int64_t i = 0; i < g->n_kv; i++) {
        const hw_gguf_kv *kv = &g->kv[i];
        char key[64];
        snprintf(key, sizeof key, "%.*s", (int)(kv->key.len < 63 ? kv->key.len : 63), kv->key.s);
        if (hw_gguf_find(g, key) == NULL && kv->key.len < 63 && !memchr(kv->key.s, 0, kv->key.len))
            abort(); /* every key can be found */
        int64_t v;
        double f;
        hw_gguf_str s;
        bool found, b;
        if (hw_gguf_get_int(g, key, INT64_MIN, INT64_MAX, &v, &found) == HW_OK && found) sink += (double)v;
        if (hw_gguf_get_float(g, key, &f, &found) == HW_OK && found) sink += f;
        if (hw_gguf_get_bool(g, key, &b, &found) == HW_OK && found) sink += b;
        if (hw_gguf_get_str(g, key, &s, &found) == HW_OK && found && s.len) sink += (uint8_t)s.s[s.len - 1];
        if (kv->type != HW_GGUF_ARRAY) continue;
        if (kv->elem_type == HW_GGUF_STRING) {
            const uint8_t *p = kv->data;
            for (uint64_t j = 0; j < kv->n; j++) {
                hw_gguf_str e = hw_gguf_next_str(&p);
                if (e.len) sink += (uint8_t)e.s[e.len - 1];
            }
            if (p != kv->data + kv->nbytes) abort();
        } else if (kv->elem_type == HW_GGUF_F32 || kv->elem_type == HW_GGUF_F64) {
            for (uint64_t j = 0; j < kv->n; j++) sink += hw_gguf_array_float(kv, j);
        } else if (kv->elem_type != HW_GGUF_ARRAY && kv->elem_type != HW_GGUF_BOOL) {
            for (uint64_t j = 0; j < kv->n; j++) sink += (double)hw_gguf_array_int(kv, j);
        }
    }
    for (int64_t i = 0; i < g->n_tensors; i++) {
        const hw_gguf_tensor *t = &g->tensors[i];
        if (t->data < data || t->nbytes > size || t->data + t->nbytes > data + size) abort();
        if (!hw_gguf_is_float(t) || t->numel > (1 << 16)) continue;
        float *out = malloc((size_t)(t->numel ? t->numel : 1) * sizeof *out);
        if (out) hw_gguf_to_f32(t, 0, t->numel, out);
        free(out);
    }
}

/* The tokenizer in the metadata, if any: encode a text that exercises byte fallback,
 * pre-tokenizer regexes and special tokens, and decode every id it gave. */
static void tokenizer(const uint8_t *data, size_t size) {
    const char *path = fuzz_file("vocab.gguf", data, size);
    /* The public listing (headwise info --gguf) prints every value as text. */
    hw_gguf_file *f = hw_gguf_file_open(path);
    char key[64], value[96];
    for (int64_t i = 0; f && i < hw_gguf_file_n_metadata(f); i++)
        if (hw_gguf_file_metadata(f, i, key, sizeof key, value, sizeof value) != HW_OK ||
            strlen(value) >= sizeof value)
            abort();
    hw_gguf_tensor_info ti;
    for (int64_t i = 0; f && i < hw_gguf_file_n_tensors(f); i++)
        if (hw_gguf_file_tensor(f, i, &ti) != HW_OK || ti.offset < 0 || ti.offset + ti.bytes > (int64_t)size)
            abort();
    if (!f) abort(); /* hw_gguf_parse accepted these bytes */
    hw_gguf_file_free(f);
    hw_tokenizer *t = hw_tokenizer_load(path, 0);
    if (!t) return;
    int *ids = NULL;
    int n = hw_tokenizer_encode_alloc(t, "Hello, y'all! 3333 caf\xc3\xa9 \xf0\x9f\xa6\x99<s></s>\n\t  x", HW_TOK_BOS, &ids);
    for (int i = 0; i < n; i++) {
        size_t len;
        if (ids[i] < 0 || ids[i] >= hw_tokenizer_vocab_size(t) || !hw_tokenizer_decode(t, i ? ids[i - 1] : -1, ids[i], &len))
            abort(); /* an id outside the vocabulary */
    }
    free(ids);
    hw_tokenizer_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    hw_gguf g;
    hw_status s = hw_gguf_parse(&g, data, size, "fuzz.gguf");
    fuzz_note(s == HW_OK);
    if (s == HW_OK) read_back(&g, data, size);
    hw_gguf_free(&g);
    if (s != HW_OK) return 0;
    tokenizer(data, size);
    hw_mapped_file f = {.data = data, .size = size}; /* not a map: never unmapped */
    hw_loaded ld = {0};
    fuzz_bind_and_step(&ld, hw_load_gguf(&ld, &f, "fuzz.gguf"));
    return 0;
}

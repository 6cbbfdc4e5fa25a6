/*
 * model_tokenizer.c: the tokenizer that goes with a model path, where every headwise
 * command looks when none is given. A Hugging Face folder holds its own (tokenizer.json,
 * or GPT-2's encoder.json + vocab.bpe); a llama2.c checkpoint FILE.bin has tokenizer.bin
 * in the same folder, as llama2.c's releases lay them out; a GGUF file holds its own. Checkpoints that ship another
 * name (stories260K.bin with tok512.bin) need hw_tokenizer_load with the file.
 */
#include "tokenizer/tokenizer.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

hw_status hw_tokenizer_path_for_model(const char *model_path, char *out, size_t n) {
    if (!model_path || !out || n == 0)
        return hw_fail(HW_ERR_ARG, "hw_tokenizer_path_for_model: no model path or buffer");
    struct stat st;
    int len;
    if ((stat(model_path, &st) == 0 && S_ISDIR(st.st_mode)) || hw_is_gguf_file(model_path)) {
        len = snprintf(out, n, "%s", model_path); /* a GGUF holds its own tokenizer */
    } else {
        const char *slash = strrchr(model_path, '/');
        int dir = slash ? (int)(slash - model_path) + 1 : 0;
        len = snprintf(out, n, "%.*stokenizer.bin", dir, model_path);
    }
    if (len < 0 || (size_t)len >= n) return hw_fail(HW_ERR_ARG, "%s: path too long", model_path);
    return HW_OK;
}

hw_tokenizer *hw_tokenizer_load_for_model(const char *model_path, int vocab_size) {
    char path[4096];
    if (hw_tokenizer_path_for_model(model_path, path, sizeof path) != HW_OK) return NULL;
    hw_tokenizer *t = hw_tokenizer_load(path, vocab_size);
    if (!t) {
        /* hw_last_error's buffer is the one hw_fail writes: copy it first. */
        char why[1024];
        snprintf(why, sizeof why, "%s", hw_last_error());
        hw_fail(HW_ERR_IO, "the tokenizer of model %s: %s", model_path, why);
    }
    return t;
}

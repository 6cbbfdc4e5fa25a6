/* fuzz_hf_folder.c: a Hugging Face folder as hw_model_load sees it:
 * config.json, then either model.safetensors or an index with its shard.
 *
 * Input: config.json NUL index NUL safetensors. An empty index part writes
 * the safetensors part as model.safetensors; otherwise the index is
 * model.safetensors.index.json and the shard is s.safetensors (the name the
 * seeds' weight_map uses). A model that loads runs one forward step. */
#include "fuzz.h"
#include "internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    hw_set_threads(1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *cfg, *rest, *index, *st;
    size_t cfg_n, rest_n, index_n, st_n;
    fuzz_split(data, size, &cfg, &cfg_n, &rest, &rest_n);
    fuzz_split(rest, rest_n, &index, &index_n, &st, &st_n);
    fuzz_file("config.json", cfg, cfg_n);
    /* Remove only what this input does not write (each call is a syscall). */
    if (index_n == 0) {
        fuzz_unlink("model.safetensors.index.json");
        fuzz_unlink("s.safetensors");
        fuzz_file("model.safetensors", st, st_n);
    } else {
        fuzz_unlink("model.safetensors");
        fuzz_file("model.safetensors.index.json", index, index_n);
        fuzz_file("s.safetensors", st, st_n);
    }
    hw_model *m = hw_model_load(fuzz_dir());
    fuzz_note(m != NULL);
    if (m) {
        fuzz_forward_step(m);
        hw_model_free(m);
    }
    return 0;
}

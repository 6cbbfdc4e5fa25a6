/* fuzz_safetensors.c: one safetensors file: the u64 header length, the JSON
 * header, every tensor's dtype, shape and data_offsets; then every float
 * tensor is converted, so an accepted table must lie inside the file. */
#include "fuzz.h"
#include "io/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file("model.safetensors", data, size);
    hw_st_set s = {0};
    hw_status st = hw_st_add_file(&s, path);
    if (st == HW_OK) st = hw_st_finish(&s);
    fuzz_note(st == HW_OK);
    if (st == HW_OK) {
        for (int i = 0; i < s.n_tensors; i++) {
            const hw_st_tensor *t = &s.tensors[i];
            if (hw_st_find(&s, t->name) == NULL) abort(); /* every name can be found */
            if (!hw_st_is_float(t->dtype) || t->numel > (1 << 20)) continue;
            float *out = malloc((size_t)(t->numel ? t->numel : 1) * sizeof *out);
            if (out) hw_st_to_f32(t, out);
            free(out);
        }
    }
    hw_st_free(&s);
    return 0;
}

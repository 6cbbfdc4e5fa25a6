/* fuzz_hfconfig.c: config.json to hw_config, straight from memory. An
 * accepted config must satisfy what the loader and the forward rely on. */
#include "fuzz.h"
#include "io/hfconfig.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    hw_config c;
    if (hw_hf_config_parse(&c, (const char *)data, size, "config.json") != HW_OK) {
        fuzz_note(0);
        return 0;
    }
    fuzz_note(1);
    /* Invariants of an accepted config (a violation is a parser bug). */
    if (c.d_model <= 0 || c.n_layer <= 0 || c.n_head <= 0 || c.n_kv_head <= 0 ||
        c.head_dim <= 0 || c.d_ff < 0 || c.vocab_size <= 0 || c.n_ctx <= 0 ||
        c.n_head % c.n_kv_head != 0)
        abort();
    return 0;
}

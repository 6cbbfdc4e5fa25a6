/* fuzz_llama2c.c: llama2.c checkpoints (header, versions 0/1/2, tensor table).
 * The loader reads the bytes it is given, so the input is handed over as the map.
 * A model that loads is small (the input is), so one forward step runs too: a
 * header the loader accepts must not make the engine read out of bounds. */
#include "fuzz.h"
#include "io/load.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    hw_set_threads(1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    hw_mapped_file f = {.data = data, .size = size}; /* not a map: never unmapped */
    hw_loaded ld = {0};
    hw_status s = hw_load_llama2c(&ld, &f, "fuzz.bin");
    fuzz_note(s == HW_OK);
    hw_model *m = s == HW_OK ? calloc(1, sizeof *m) : NULL;
    if (!m) {
        hw_loaded_free(&ld);
        return 0;
    }
    /* Bound as hw_model_load does (src/model/model.c). */
    *m = (hw_model){.cfg = ld.cfg, .w = ld.w, .info = ld.info, .store = ld.store};
    const hw_config *c = hw_model_config(m);
    /* Bound the work: the forward is linear in the weights, not the file. */
    if ((int64_t)c->n_layer * c->d_model * (c->d_ff + c->d_model) < (1 << 20) &&
        (int64_t)c->vocab_size * c->d_model < (1 << 20)) {
        hw_context *ctx = hw_context_new(m, c->n_ctx < 4 ? c->n_ctx : 4);
        if (ctx) {
            int tokens[2] = {0, c->vocab_size - 1};
            float *logits = malloc((size_t)c->vocab_size * sizeof *logits);
            if (logits) hw_forward(ctx, tokens, c->n_ctx < 2 ? 1 : 2, HW_LOGITS_LAST, logits);
            free(logits);
            hw_context_free(ctx);
        }
    }
    hw_model_free(m);
    return 0;
}

/* fuzz_llama2c.c: llama2.c checkpoints (header, versions 0/1/2, tensor table).
 * The loader reads the bytes it is given, so the input is handed over as the map.
 * A model that loads is small (the input is), so one forward step runs too: a
 * header the loader accepts must not make the engine read out of bounds. */
#include "model/model.h" /* before fuzz.h: its loader helpers need it */
#include "fuzz.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    hw_set_threads(1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    hw_mapped_file f = {.data = data, .size = size}; /* not a map: never unmapped */
    hw_loaded ld = {0};
    hw_status s = hw_load_llama2c(&ld, &f, "fuzz.bin");
    fuzz_note(s == HW_OK);
    fuzz_bind_and_step(&ld, s);
    return 0;
}

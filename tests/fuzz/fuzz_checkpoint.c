/* fuzz_checkpoint.c: a training checkpoint as `headwise train --resume` reads it
 * (hw_trainer_resume), into a trainer of a small model made once.
 *
 * Input: the checkpoint file. The seeds are this model's own checkpoints: with
 * HW_FUZZ_WRITE_SEED=FILE set, the target saves one to FILE at start-up. */
#include "fuzz.h"

static hw_trainer *trainer;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    hw_set_threads(1);
    hw_config c = {0};
    snprintf(c.arch, sizeof c.arch, "llama");
    c.n_layer = 1, c.d_model = 8, c.n_head = 2, c.n_kv_head = 1, c.head_dim = 4, c.d_ff = 12;
    c.vocab_size = 16, c.n_ctx = 8, c.norm = HW_NORM_RMS, c.norm_eps = 1e-5f;
    c.pos = HW_POS_ROTARY, c.rope_layout = HW_ROPE_HALVES, c.rope_theta = 10000.0f;
    c.rotary_frac = 1.0f, c.act = HW_ACT_SILU_GATED, c.bos_id = c.eos_id = -1;
    hw_model *m = hw_model_new_random(&c, 1);
    hw_train_params p = hw_train_params_default();
    trainer = m ? hw_trainer_new(m, &p) : NULL;
    if (!trainer) {
        fprintf(stderr, "fuzz_checkpoint: %s\n", hw_last_error());
        abort(); /* the harness, not the reader, is broken */
    }
    const char *seed = getenv("HW_FUZZ_WRITE_SEED");
    if (seed && hw_trainer_save(trainer, seed) != HW_OK) {
        fprintf(stderr, "fuzz_checkpoint: %s\n", hw_last_error());
        abort();
    }
    return 0; /* the model lives as long as the process */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_file("train.hwt", data, size);
    int before = hw_trainer_steps_done(trainer);
    hw_status s = hw_trainer_resume(trainer, path);
    fuzz_note(s == HW_OK);
    /* A refused file leaves the step alone; an accepted one sets it in range. */
    int step = hw_trainer_steps_done(trainer);
    if ((s != HW_OK && step != before) || step < 0 || step > 1 << 30) abort();
    return 0;
}

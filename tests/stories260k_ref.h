/*
 * stories260k_ref.h: llama2.c run.c's reference for the real stories260K model
 * (../shared/models/stories260K): its 64 greedy tokens and the logits it computed at
 * each, for the tests that check headwise against it.
 */
#ifndef HW_STORIES260K_REF_H
#define HW_STORIES260K_REF_H

#include "check.h"

#define NPOS 64
#define VOCAB 512

static int inputs[NPOS];
static float ref[NPOS * VOCAB]; /* (NPOS, VOCAB) */

/* 1 when both reference files were read whole. */
static int load_reference(void) {
    FILE *f = fopen(shared_path("models/stories260K/greedy-64-inputs.txt"), "r");
    if (!f) return 0;
    int n = 0;
    while (n < NPOS && fscanf(f, "%d", &inputs[n]) == 1) n++;
    fclose(f);
    f = fopen(shared_path("models/stories260K/greedy-64-logits.f32"), "rb");
    if (!f) return 0;
    size_t got = fread(ref, sizeof(float), NPOS * VOCAB, f);
    fclose(f);
    return n == NPOS && got == NPOS * VOCAB;
}

#endif

/*
 * fuzz.h: helpers the fuzz targets share (tests/fuzz/fuzz_*.c).
 *
 * Each target defines LLVMFuzzerTestOneInput. Built with clang and
 * -fsanitize=fuzzer it runs under libFuzzer (`make fuzz`); built with the
 * normal compiler and replay.c's main it replays files (the corpus and every
 * regression input) as part of `make test`, plain and under the sanitizers.
 *
 * Loaders that take a path get the input written to a file in a per-process
 * folder (under /dev/shm when it exists: a tmpfs, so writing costs no disk),
 * removed at exit.
 */
#ifndef HW_FUZZ_H
#define HW_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_dir_path[256];

static inline void fuzz_dir_remove(void) {
    char cmd[300];
    if (!fuzz_dir_path[0]) return;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fuzz_dir_path);
    if (system(cmd) != 0) fprintf(stderr, "fuzz: could not remove %s\n", fuzz_dir_path);
}

/* The per-process folder, created on first use. */
static inline const char *fuzz_dir(void) {
    if (fuzz_dir_path[0]) return fuzz_dir_path;
    struct stat st;
    const char *base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) ? "/dev/shm" : "/tmp";
    snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "%s/hwfuzz.%ld", base, (long)getpid());
    if (mkdir(fuzz_dir_path, 0700) != 0) {
        perror(fuzz_dir_path);
        abort(); /* the harness, not the code under test, is broken */
    }
    atexit(fuzz_dir_remove);
    return fuzz_dir_path;
}

/* Write n bytes to NAME in the per-process folder; returns the path (static,
 * one buffer per call site is not needed: each call gets its own slot of 8). */
static inline const char *fuzz_file(const char *name, const void *data, size_t n) {
    static char paths[8][512];
    static int next;
    char *p = paths[next++ % 8];
    snprintf(p, sizeof paths[0], "%s/%s", fuzz_dir(), name);
    FILE *f = fopen(p, "wb");
    if (!f || (n && fwrite(data, 1, n, f) != n) || fclose(f) != 0) {
        perror(p);
        abort();
    }
    return p;
}

/* Remove NAME from the per-process folder if it is there. */
static inline void fuzz_unlink(const char *name) {
    char p[512];
    snprintf(p, sizeof p, "%s/%s", fuzz_dir(), name);
    unlink(p);
}

/* Split the input at its first NUL byte: *a is everything before it, *b
 * everything after (empty when there is no NUL). Multi-file inputs are
 * written this way: JSON never holds a raw NUL. */
static inline void fuzz_split(const uint8_t *data, size_t size, const uint8_t **a, size_t *alen,
                       const uint8_t **b, size_t *blen) {
    const uint8_t *z = size ? memchr(data, 0, size) : NULL;
    *a = data;
    *alen = z ? (size_t)(z - data) : size;
    *b = z ? z + 1 : data + size;
    *blen = z ? size - *alen - 1 : 0;
}

/* With HW_FUZZ_VERBOSE set (replaying seeds by hand), say whether the
 * input loaded and, if not, why: seeds should load, or coverage is lost. */
#include "headwise.h"
static inline void fuzz_note(int ok) {
    static int verbose = -1;
    if (verbose < 0) verbose = getenv("HW_FUZZ_VERBOSE") != NULL;
    if (verbose) fprintf(stderr, "fuzz: %s\n", ok ? "loaded" : hw_last_error());
}

/* stories260K's tok512.bin ($HW_SHARED, default ../shared), for targets that encode text;
 * aborts (the harness, not a reader, is broken) if it cannot be loaded. */
static inline hw_tokenizer *fuzz_stories_tokenizer(const char *who) {
    const char *shared = getenv("HW_SHARED");
    char p[4096];
    snprintf(p, sizeof p, "%s/models/stories260K/tok512.bin", shared ? shared : "../shared");
    hw_tokenizer *t = hw_tokenizer_load(p, 0);
    if (!t) {
        fprintf(stderr, "%s: %s (set HW_SHARED)\n", who, hw_last_error());
        abort();
    }
    return t;
}

/* One forward step of a model that loaded, when it is small enough (the work is linear
 * in the weights, not the file): a file the loader accepts must not make the engine
 * read out of bounds. */
static inline void fuzz_forward_step(const hw_model *m) {
    const hw_config *c = hw_model_config(m);
    if ((int64_t)c->n_layer * c->d_model * (c->d_ff + c->d_model) >= (1 << 20) ||
        (int64_t)c->vocab_size * c->d_model >= (1 << 20))
        return;
    hw_context *ctx = hw_context_new(m, c->n_ctx < 4 ? c->n_ctx : 4);
    if (!ctx) return;
    int tokens[2] = {0, c->vocab_size - 1};
    float *logits = malloc((size_t)c->vocab_size * sizeof *logits);
    if (logits) hw_forward(ctx, tokens, c->n_ctx < 2 ? 1 : 2, HW_LOGITS_LAST, logits);
    free(logits);
    hw_context_free(ctx);
}

/* For the model loaders' targets (which include model/model.h): bind what a loader
 * filled if it succeeded, run one forward step, and free it either way. */
#ifdef HW_MODEL_MODEL_H
static inline void fuzz_bind_and_step(hw_loaded *ld, hw_status s) {
    hw_model *m = s == HW_OK ? hw_model_bind(ld) : NULL;
    if (m) fuzz_forward_step(m);
    else hw_loaded_free(ld);
    hw_model_free(m);
}
#endif

#endif

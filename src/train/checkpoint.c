/*
 * checkpoint.c: a trainer's state in one file, written atomically, so that a run
 * killed at any moment resumes from its last checkpoint to the same bits.
 *
 * Layout (little-endian, as the machine stores it):
 *   header  "HWTRAIN1", then int64 fields: version, step, n (floats per arena), the
 *           config's L, D, H, Hk, Dh, F, V, n_ctx, norm, pos, act, flags, and the
 *           training parameters (for the record: lr, min_lr_frac, weight_decay,
 *           beta1, beta2, eps, clip as float bits; warmup, steps, schedule, seed)
 *   data    weights (n floats), Adam first moments (n), second moments (n)
 *   check   FNV-1a 64 of everything before it
 */
#include "trainer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAGIC "HWTRAIN1"
#define N_FIELDS 29

static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

static int64_t float_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

/* The header fields that describe t; the first 17 must match to resume. */
static void header_fields(const hw_trainer *t, int64_t *f) {
    const hw_config *c = &t->m->cfg;
    const hw_train_params *p = &t->p;
    int64_t flags = c->qkv_bias | c->out_bias << 1 | c->mlp_bias << 2 | c->norm_bias << 3 |
                    c->parallel_residual << 4 | c->tied_embeddings << 5;
    int64_t v[N_FIELDS] = {1, t->step, t->n, c->n_layer, c->d_model, c->n_head, c->n_kv_head,
                           c->head_dim, c->d_ff, c->vocab_size, c->n_ctx, c->norm, c->pos, c->act,
                           flags, c->rope_layout, float_bits(c->rotary_frac),
                           float_bits(p->lr), float_bits(p->min_lr_frac),
                           float_bits(p->weight_decay), float_bits(p->beta1),
                           float_bits(p->beta2), float_bits(p->eps), float_bits(p->clip),
                           p->warmup, p->steps, p->schedule, (int64_t)p->seed,
                           float_bits(p->decay_frac)};
    memcpy(f, v, sizeof v);
}
#define N_MATCH 17

hw_status hw_trainer_save(const hw_trainer *t, const char *path) {
    if (!t || !path) return hw_fail(HW_ERR_ARG, "hw_trainer_save: no trainer or path");
    int64_t f[N_FIELDS];
    header_fields(t, f);
    hw_atomic_file *a = hw_atomic_open(path);
    if (!a) return HW_ERR_IO;
    FILE *out = hw_atomic_stream(a);
    uint64_t h = 0xcbf29ce484222325ull;
    const size_t bytes = (size_t)t->n * sizeof(float);
    int ok = fwrite(MAGIC, 1, 8, out) == 8 && fwrite(f, sizeof f, 1, out) == 1 &&
             fwrite(t->w, 1, bytes, out) == bytes && fwrite(t->m1, 1, bytes, out) == bytes &&
             fwrite(t->m2, 1, bytes, out) == bytes;
    h = fnv1a(h, MAGIC, 8);
    h = fnv1a(h, f, sizeof f);
    h = fnv1a(h, t->w, bytes);
    h = fnv1a(h, t->m1, bytes);
    h = fnv1a(h, t->m2, bytes);
    ok = ok && fwrite(&h, sizeof h, 1, out) == 1;
    if (!ok) {
        hw_atomic_abort(a);
        return hw_fail(HW_ERR_IO, "cannot write %s", path);
    }
    return hw_atomic_commit(a);
}

hw_status hw_trainer_resume(hw_trainer *t, const char *path) {
    if (!t || !path) return hw_fail(HW_ERR_ARG, "hw_trainer_resume: no trainer or path");
    hw_mapped_file mf;
    hw_status s = hw_file_map(&mf, path);
    if (s != HW_OK) return s;
    int64_t want[N_FIELDS], got[N_FIELDS];
    header_fields(t, want);
    const size_t bytes = (size_t)t->n * sizeof(float);
    const size_t head = 8 + sizeof got, total = head + 3 * bytes + 8;
    s = HW_OK;
    if (mf.size < head || memcmp(mf.data, MAGIC, 8) != 0) {
        s = hw_fail(HW_ERR_FORMAT, "%s: not a headwise training checkpoint", path);
    } else {
        memcpy(got, mf.data + 8, sizeof got);
        if (got[0] != 1)
            s = hw_fail(HW_ERR_FORMAT, "%s: checkpoint version %lld (this build reads 1)", path,
                        (long long)got[0]);
        else if (memcmp(got + 2, want + 2, (N_MATCH - 2) * sizeof(int64_t)) != 0)
            s = hw_fail(HW_ERR_ARG, "%s: checkpoint of another model (%lld parameters, %lld "
                        "layers, d_model %lld; this one: %lld, %lld, %lld)", path,
                        (long long)got[2], (long long)got[3], (long long)got[4],
                        (long long)want[2], (long long)want[3], (long long)want[4]);
        else if (mf.size != total)
            s = hw_fail(HW_ERR_FORMAT, "%s: %zu bytes, want %zu (truncated?)", path, mf.size, total);
        else if (got[1] < 0 || got[1] > 1 << 30)
            s = hw_fail(HW_ERR_FORMAT, "%s: step %lld out of range", path, (long long)got[1]);
    }
    if (s == HW_OK) {
        uint64_t h = fnv1a(0xcbf29ce484222325ull, mf.data, total - 8), stored;
        memcpy(&stored, mf.data + total - 8, 8);
        if (h != stored) s = hw_fail(HW_ERR_FORMAT, "%s: checksum mismatch (corrupted)", path);
    }
    if (s == HW_OK) {
        memcpy(t->w, mf.data + head, bytes);
        memcpy(t->m1, mf.data + head + bytes, bytes);
        memcpy(t->m2, mf.data + head + 2 * bytes, bytes);
        t->step = (int)got[1];
    }
    hw_file_unmap(&mf);
    return s;
}

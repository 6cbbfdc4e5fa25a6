/* model.c: a model's lifetime: pick the loader for a path, bind what it loaded, free it. */
#include "model.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void *hw_model_alloc(hw_model *m, size_t bytes) { return hw_store_alloc(&m->store, bytes); }

/* A folder is a Hugging Face checkpoint; a file is a llama2.c one, whose map the
 * weights point into, so the store keeps it. */
static hw_status load(hw_loaded *ld, const char *path) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return hw_load_hf(ld, path);
    hw_mapped_file f;
    hw_status s = hw_file_map(&f, path);
    if (s != HW_OK) return s;
    s = hw_load_llama2c(ld, &f, path);
    if (s != HW_OK) {
        hw_file_unmap(&f);
        return s;
    }
    return hw_store_keep_map(&ld->store, f);
}

hw_model *hw_model_bind(hw_loaded *ld) {
    hw_model *m = calloc(1, sizeof *m);
    if (!m) {
        hw_loaded_free(ld); /* and empties it */
        return hw_fail(HW_ERR_NOMEM, "out of memory for a model"), NULL;
    }
    *m = (hw_model){.cfg = ld->cfg, .w = ld->w, .info = ld->info, .store = ld->store};
    *ld = (hw_loaded){0};
    return m;
}

hw_model *hw_model_load(const char *path) {
    if (!path || !*path) {
        hw_fail(HW_ERR_ARG, "no model path given");
        return NULL;
    }
    hw_loaded ld = {0};
    if (load(&ld, path) != HW_OK) {
        hw_loaded_free(&ld);
        return NULL;
    }
    return hw_model_bind(&ld);
}

void hw_model_free(hw_model *m) {
    if (!m) return;
    hw_store_free(&m->store);
    free(m);
}

const hw_config *hw_model_config(const hw_model *m) { return &m->cfg; }

void hw_model_get_info(const hw_model *m, hw_model_info *out) { *out = m->info; }

/* A q-head's kv head: query heads share a kv head in groups of n_head / n_kv_head. */
int hw_kv_head(const hw_config *cfg, int q_head) {
    return q_head / (cfg->n_head / cfg->n_kv_head);
}

hw_status hw_model_save_hf(const hw_model *m, const char *dir) {
    if (!m || !dir || !*dir) return hw_fail(HW_ERR_ARG, "hw_model_save_hf: no model or folder");
    return hw_save_hf(&m->cfg, &m->w, dir);
}

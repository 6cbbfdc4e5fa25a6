/* model.c: a model's lifetime: pick the loader for a path, own its buffers, free it. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void *hw_model_alloc(hw_model *m, size_t bytes) {
    void **grown = realloc(m->owned, (size_t)(m->n_owned + 1) * sizeof *grown);
    if (!grown) return NULL;
    m->owned = grown;
    void *p = malloc(bytes ? bytes : 1);
    if (p) m->owned[m->n_owned++] = p;
    return p;
}

hw_model *hw_model_load(const char *path) {
    if (!path || !*path) {
        hw_fail(HW_ERR_ARG, "no model path given");
        return NULL;
    }
    hw_model *m = calloc(1, sizeof *m);
    if (!m) {
        hw_fail(HW_ERR_NOMEM, "%s: out of memory", path);
        return NULL;
    }
    struct stat st;
    hw_status s;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        s = hw_load_hf(m, path);
    } else {
        s = hw_file_map(&m->file, path);
        if (s == HW_OK) s = hw_load_llama2c(m, path);
    }
    if (s != HW_OK) {
        hw_model_free(m);
        return NULL;
    }
    return m;
}

void hw_model_free(hw_model *m) {
    if (!m) return;
    hw_hf_release(m); /* unmaps extra shards; their list is an owned buffer, so first */
    for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    hw_file_unmap(&m->file);
    free(m);
}

const hw_config *hw_model_config(const hw_model *m) { return &m->cfg; }

void hw_model_get_info(const hw_model *m, hw_model_info *out) { *out = m->info; }

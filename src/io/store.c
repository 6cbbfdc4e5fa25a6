/* store.c: the maps and buffers weights point into, owned as one (hw_store). */
#include "load.h"

#include <stdlib.h>

void *hw_store_alloc(hw_store *s, size_t bytes) {
    void **grown = realloc(s->bufs, (size_t)(s->n_bufs + 1) * sizeof *grown);
    if (!grown) return NULL;
    s->bufs = grown;
    void *p = malloc(bytes ? bytes : 1);
    if (p) s->bufs[s->n_bufs++] = p;
    return p;
}

hw_status hw_store_keep_map(hw_store *s, hw_mapped_file f) {
    hw_mapped_file *grown = realloc(s->maps, (size_t)(s->n_maps + 1) * sizeof *grown);
    if (!grown) {
        hw_file_unmap(&f);
        return hw_fail(HW_ERR_NOMEM, "out of memory");
    }
    s->maps = grown;
    s->maps[s->n_maps++] = f;
    return HW_OK;
}

void hw_store_free(hw_store *s) {
    if (!s) return;
    for (int i = 0; i < s->n_maps; i++) hw_file_unmap(&s->maps[i]);
    for (int i = 0; i < s->n_bufs; i++) free(s->bufs[i]);
    free(s->maps);
    free(s->bufs);
    *s = (hw_store){0};
}

void hw_loaded_free(hw_loaded *ld) {
    if (!ld) return;
    hw_store_free(&ld->store);
    *ld = (hw_loaded){0};
}

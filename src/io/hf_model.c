/* hf_model.c: Hugging Face model folders (config.json + *.safetensors). */
#include "internal.h"

hw_status hw_load_hf(hw_model *m, const char *folder) {
    (void)m;
    return hw_fail(HW_ERR_UNSUPPORTED, "%s: Hugging Face folders are not supported yet", folder);
}

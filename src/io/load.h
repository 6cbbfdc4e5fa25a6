/*
 * load.h: the io layer's checkpoint loaders and writer, for the model layer
 * (src/model/model.c), which binds what they load. Not part of the API.
 *
 * A loader fills an hw_loaded: the config, the weights as a struct of named pointers
 * (the tensor table the forward reads) and the facts for hw_model_info, with every
 * map and buffer those pointers reach in its store. It never sees an hw_model.
 */
#ifndef HW_LOAD_H
#define HW_LOAD_H

#include "internal.h"

typedef struct {
    hw_config cfg;
    hw_weights w;               /* points into store */
    hw_model_info info;
    hw_store store;
} hw_loaded;

/* A llama2.c checkpoint held in f (not taken over: the caller keeps or unmaps it; the
 * weights point into it). path only names the file in messages. */
hw_status hw_load_llama2c(hw_loaded *ld, const hw_mapped_file *f, const char *path);
/* A GGUF file held in f (gguf_model.c), kept by the caller as for hw_load_llama2c.
 * hw_load_llama2c hands a file that starts with the GGUF magic to it, so the model
 * layer's one file path loads both. */
hw_status hw_load_gguf(hw_loaded *ld, const hw_mapped_file *f, const char *path);
/* A Hugging Face folder (config.json + safetensors): the maps weights point into go to
 * ld->store, the rest are closed. */
hw_status hw_load_hf(hw_loaded *ld, const char *folder);
/* Write c and w as a Hugging Face Llama folder (hf_write.c; hw_model_save_hf's work). */
hw_status hw_save_hf(const hw_config *c, const hw_weights *w, const char *dir);
/* Free what a loader filled (also after a failed load); safe on a zeroed one. */
void hw_loaded_free(hw_loaded *ld);

#endif

/*
 * hfconfig.h: a Hugging Face config.json to hw_config. Private to src/io/.
 *
 * Families: GPT2LMHeadModel ("gpt2"), GPTNeoXForCausalLM ("gpt_neox"),
 * LlamaForCausalLM ("llama"), MistralForCausalLM ("mistral"),
 * Qwen2ForCausalLM ("qwen2"). Keys a config may omit take the defaults of the
 * family's Hugging Face configuration class; the shape keys are required.
 */
#ifndef HW_HFCONFIG_H
#define HW_HFCONFIG_H

#include "internal.h"

/* Fill cfg from len bytes of JSON; path only names the source in messages. */
hw_status hw_hf_config_parse(hw_config *cfg, const char *json, size_t len, const char *path);
/* Read and parse the file at path. */
hw_status hw_hf_config_load(hw_config *cfg, const char *path);

#endif

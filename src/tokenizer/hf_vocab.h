/* hf_vocab.h: helpers for the JSON-based tokenizer loaders (cJSON types). */
#ifndef HW_HF_VOCAB_H
#define HW_HF_VOCAB_H

#include "tokenizer/tokenizer.h"

#include <cjson/cJSON.h>

/* Fill t->vocab from {"piece": id} and t->added from tokenizers' added_tokens
 * list (may be NULL); ids must be integers in [0, 2^22). */
hw_status hw_hf_build_vocab(hw_tokenizer *t, const cJSON *vocab, const cJSON *added, const char *path);
/* Add merge (a, b) at rank to t->merges; all three pieces must exist. */
hw_status hw_hf_add_merge(hw_tokenizer *t, const char *a, size_t alen, const char *b, size_t blen,
                          int rank, const char *path);
/* The id of a piece given as a C string, or -1 (also for NULL). */
int hw_hf_token_id(const hw_tokenizer *t, const char *content);

#endif

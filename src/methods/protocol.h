/* protocol.h: what the protocol runs of src/methods share: the progress call that can
 * stop a run, and one prompt's forward with the captures direct logit attribution reads
 * at the final position (memory vs in-context heads, section 6; dla, section 9). */
#ifndef HW_PROTOCOL_H
#define HW_PROTOCOL_H

#include "internal.h"

#include <stdio.h>

/* Report progress; HW_ERR_ARG ("<what>: stopped by the caller") if the callback asks to
 * stop, else HW_OK. */
static inline hw_status hw_progress_step(hw_progress_fn fn, void *user, const char *what,
                                         const char *stage, int64_t done, int64_t total) {
    if (fn && fn(stage, done, total, user)) return hw_fail(HW_ERR_ARG, "%s: stopped by the caller", what);
    return HW_OK;
}

/* One prompt at a time from an empty cache, capturing every layer's hook_result,
 * hook_attn_out, hook_mlp_out, hook_resid_pre and hook_resid_post. */
typedef struct {
    hw_capture *cap;
    hw_hooks *hooks;
    hw_context *ctx;
    float *logits;          /* (V) of the prompt's last token */
    int T;                  /* tokens of the last prompt run */
} hw_final_run;
/* what names the protocol in messages; kv the context's KV-cache policy (NULL: every
 * head full). r is zeroed first; close it even on failure. */
hw_status hw_final_run_open(hw_final_run *r, const hw_model *m, const hw_kv_policy *kv,
                            const char *what);
void hw_final_run_close(hw_final_run *r);
/* Run ids (n >= 1, at most the context) from an empty cache. */
hw_status hw_final_run_ids(hw_final_run *r, const int *ids, int n, const char *what);
/* The last position's row of the captured (T, ...) tensor at (point, layer), or NULL
 * (hook_mlp_out of a model without MLPs). */
const float *hw_final_run_row(const hw_final_run *r, hw_hook_point point, int layer);

/* A token's text as it reads after a word (SentencePiece's leading space kept), malloc'd
 * (NULL when out of memory). */
char *hw_token_text(const hw_tokenizer *t, int id);
/* s as a JSON string: quotes, backslashes and control bytes escaped, and the bytes of a
 * text that is not UTF-8 (byte tokens) written as the code points of their values. */
void hw_json_string(FILE *f, const char *s);
/* Write result r to path atomically (parents made): tsv(r, f) when path ends in ".tsv",
 * else json(r, f). */
hw_status hw_write_json_or_tsv(const char *path, const void *r, void (*json)(const void *, FILE *),
                               void (*tsv)(const void *, FILE *));

#endif

/*
 * capture_files.c: captures as a folder of NumPy files that any language reads, the
 * folder `headwise run -o` and `headwise patterns -o` write, so C and Python users can
 * write the same one.
 */
#include "internal.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Axis names of each hook point's tensor (headwise.h, hooks section). */
static const char *axes(hw_hook_point p) {
    switch (p) {
    case HW_HOOK_Q: case HW_HOOK_ROT_Q: case HW_HOOK_Z: return "pos,head,d_head";
    case HW_HOOK_K: case HW_HOOK_V: case HW_HOOK_ROT_K: return "pos,kv_head,d_head";
    case HW_HOOK_ATTN_SCORES: case HW_HOOK_PATTERN: return "head,query_pos,key_pos";
    case HW_HOOK_RESULT: return "pos,head,d_model";
    case HW_HOOK_MLP_POST: return "pos,d_mlp";
    case HW_HOOK_LOGITS: return "pos,d_vocab";
    default: return "pos,d_model";
    }
}

static hw_status write_json(const char *dir, const char *file, cJSON *j) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    char *text = j ? cJSON_Print(j) : NULL;
    hw_status s = text ? hw_write_file_atomic(path, text, strlen(text))
                       : hw_fail(HW_ERR_NOMEM, "out of memory for %s", path);
    free(text);
    cJSON_Delete(j);
    return s;
}

/* One index.json entry: what a file holds and where it came from. */
static cJSON *index_entry(const char *hook, const char *file, int layer, int pos, int decode,
                          const char *ax, int ndim, const int *shape) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "hook", hook);
    cJSON_AddStringToObject(o, "file", file);
    cJSON_AddNumberToObject(o, "layer", layer);
    cJSON_AddNumberToObject(o, "pos", pos);
    cJSON_AddStringToObject(o, "phase", decode ? "decode" : "prefill");
    cJSON_AddStringToObject(o, "axes", ax);
    cJSON *sh = cJSON_AddArrayToObject(o, "shape");
    for (int d = 0; d < ndim; d++) cJSON_AddItemToArray(sh, cJSON_CreateNumber(shape[d]));
    return o;
}

/* Each entry as NAME.npy (a decode step's, or any visit after position 0, as
 * NAME.posP.npy), listed in the array idx. */
static hw_status write_entries(const hw_capture *cap, const char *dir, cJSON *idx) {
    char path[4096], name[64], file[128];
    for (int i = 0; i < hw_capture_count(cap); i++) {
        const hw_capture_entry *e = hw_capture_get(cap, i);
        hw_hook_name(name, sizeof name, e->point, e->layer);
        if (e->decode || e->pos > 0) snprintf(file, sizeof file, "%s.pos%d.npy", name, e->pos);
        else snprintf(file, sizeof file, "%s.npy", name);
        snprintf(path, sizeof path, "%s/%s", dir, file);
        int64_t shape[3] = {e->shape[0], e->shape[1], e->shape[2]};
        if (hw_npy_write(path, e->data, e->ndim, shape) != HW_OK) return HW_ERR_IO;
        cJSON_AddItemToArray(idx, index_entry(name, file, e->layer, e->pos, e->decode,
                                              axes(e->point), e->ndim, e->shape));
    }
    return HW_OK;
}

/* tokens.json: [{"pos", "id", "text"}], each token's text as it follows the one before
 * (at most 255 bytes; no "text" without a tokenizer). */
static cJSON *tokens_json(const hw_tokenizer *t, const int *tokens, int n) {
    cJSON *arr = cJSON_CreateArray();
    for (int i = 0; i < n; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "pos", i);
        cJSON_AddNumberToObject(o, "id", tokens[i]);
        if (t) {
            size_t len;
            const char *piece = hw_tokenizer_decode(t, i ? tokens[i - 1] : -1, tokens[i], &len);
            char text[256];
            snprintf(text, sizeof text, "%.*s", (int)(len < 255 ? len : 255), piece ? piece : "");
            cJSON_AddStringToObject(o, "text", text);
        }
        cJSON_AddItemToArray(arr, o);
    }
    return arr;
}

hw_status hw_capture_write_npy_dir(const hw_capture *cap, const hw_tokenizer *t,
                                   const int *tokens, int n, const float *logits, int V,
                                   int logits_pos, const hw_context *ctx, const char *dir) {
    if (!cap || !dir || (tokens && n < 0) || (logits && V <= 0))
        return hw_fail(HW_ERR_ARG, "hw_capture_write_npy_dir: bad arguments");
    if (hw_dir_create(dir) != HW_OK) return HW_ERR_IO;
    cJSON *idx = cJSON_CreateArray();
    if (!idx) return hw_fail(HW_ERR_NOMEM, "out of memory for index.json");
    if (write_entries(cap, dir, idx) != HW_OK) {
        cJSON_Delete(idx);
        return HW_ERR_IO;
    }
    char path[4096];
    if (logits) {
        snprintf(path, sizeof path, "%s/logits.npy", dir);
        int64_t shape[1] = {V};
        if (hw_npy_write(path, logits, 1, shape) != HW_OK) {
            cJSON_Delete(idx);
            return HW_ERR_IO;
        }
        /* Listed last, as the pseudo-hook "logits" (not hook_logits, which is every row). */
        cJSON *e = index_entry("logits", "logits.npy", -1, logits_pos, 0, "d_vocab", 1, &V);
        if (e && ctx) {
            cJSON_AddStringToObject(e, "kv", hw_kv_policy_name(hw_context_kv_policy(ctx)));
            cJSON_AddNumberToObject(e, "kv_bytes", (double)hw_context_kv_bytes(ctx, -1, -1));
        }
        cJSON_AddItemToArray(idx, e);
    }
    if (write_json(dir, "index.json", idx) != HW_OK) return HW_ERR_IO;
    if (tokens && write_json(dir, "tokens.json", tokens_json(t, tokens, n)) != HW_OK)
        return HW_ERR_IO;
    return HW_OK;
}

hw_status hw_capture_write_patterns(const hw_capture *cap, const hw_tokenizer *t,
                                    const int *tokens, int T, const char *title,
                                    const char *dir) {
    if (!cap || !t || !tokens || T <= 0 || !dir)
        return hw_fail(HW_ERR_ARG, "hw_capture_write_patterns: bad arguments");
    int L = 0;
    while (hw_capture_find(cap, HW_HOOK_PATTERN, L, 0)) L++;
    const hw_capture_entry *e0 = hw_capture_find(cap, HW_HOOK_PATTERN, 0, 0);
    if (L == 0) return hw_fail(HW_ERR_ARG, "no attention patterns captured at position 0");
    const int H = e0->shape[0];
    for (int l = 0; l < L; l++) {
        const hw_capture_entry *e = hw_capture_find(cap, HW_HOOK_PATTERN, l, 0);
        if (e->shape[0] != H || e->shape[1] != T || e->shape[2] != T)
            return hw_fail(HW_ERR_ARG, "layer %d's pattern is not (%d, %d, %d)", l, H, T, T);
    }
    if (hw_dir_create(dir) != HW_OK) return HW_ERR_IO;
    const size_t per_layer = (size_t)H * T * T;
    float *all = malloc(per_layer * L * sizeof *all);   /* (L, H, T, T) */
    char **pieces = calloc((size_t)T, sizeof *pieces);
    hw_status s = all && pieces ? HW_OK : hw_fail(HW_ERR_NOMEM, "out of memory for patterns");
    char path[4096], name[64];
    for (int l = 0; s == HW_OK && l < L; l++) {
        const hw_capture_entry *e = hw_capture_find(cap, HW_HOOK_PATTERN, l, 0);
        memcpy(all + per_layer * l, e->data, per_layer * sizeof *all);
        hw_hook_name(name, sizeof name, HW_HOOK_PATTERN, l);
        snprintf(path, sizeof path, "%s/%s.npy", dir, name);
        int64_t shape[3] = {H, T, T};
        s = hw_npy_write(path, e->data, 3, shape);
    }
    snprintf(path, sizeof path, "%s/patterns.npy", dir);
    int64_t shape4[4] = {L, H, T, T};
    if (s == HW_OK) s = hw_npy_write(path, all, 4, shape4);
    for (int i = 0; s == HW_OK && i < T; i++) {
        size_t len;
        const char *p = hw_tokenizer_decode(t, i ? tokens[i - 1] : -1, tokens[i], &len);
        if (!(pieces[i] = strndup(p ? p : "", p ? len : 0)))
            s = hw_fail(HW_ERR_NOMEM, "out of memory for patterns");
    }
    snprintf(path, sizeof path, "%s/patterns.html", dir);
    if (s == HW_OK)
        s = hw_patterns_html(path, title ? title : "", (const char *const *)pieces, T, L, H, all);
    for (int i = 0; pieces && i < T; i++) free(pieces[i]);
    free(pieces);
    free(all);
    return s;
}

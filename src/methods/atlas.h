/* atlas.h: what the head atlas's files share (atlas.c runs the probes and labels,
 * atlas_mask.c masks heads and derives the KV policy, atlas_write.c writes the JSON and
 * the page). Not part of the public API. */
#ifndef HW_ATLAS_H
#define HW_ATLAS_H

#include "protocol.h"

/* The scores, in the order of hw_atlas_score's names. */
enum { AS_RETRIEVAL, AS_ECHO, AS_INDUCTION, AS_PREV, AS_SUCCESSOR, AS_ATTRIBUTION, AS_STREAMING,
       AS_GATE, AS_COUNT };
extern const char *const hw_atlas_score_names[AS_COUNT];

/* One head's masking: the task's measure without and with it. */
typedef struct {
    int measured;
    const char *task, *metric;   /* static strings */
    double baseline, masked;
} atlas_mask;

struct hw_atlas_result {
    int L, H, Hk, Dh, C;
    char *label;                /* the model's name */
    char *task;                 /* the organism's task, or NULL (text) */
    hw_atlas_thresholds th;
    double *score[AS_COUNT];    /* (L, H) each, NULL when not run */
    char probe_note[AS_COUNT][160]; /* why a probe did not run ("" when it did) */
    unsigned char (*lab)[2];    /* (L * H) labels, nlab of them */
    int *nlab;
    atlas_mask *mask;           /* (L * H) */
    int T;                      /* the probe prompt */
    int *tok;
    char **text;                /* (T) each token's text */
    int R;                      /* the patterns' bins */
    unsigned char *pat;         /* (L * H, R (R + 1) / 2) packed (pattern_view.h) */
    int *full;                  /* (L, Hk) the policy's full KV heads */
    int n_full, sink, recent, context;
    size_t bytes_full, bytes_policy;
    int evaluated;
    const char *eval_task;
    double acc_full, acc_policy;
};

/* atlas_mask.c: every labelled head (up to p->mask_max per label) masked alone on its
 * task; then the KV policy (r->full, bytes) and, unless skipped, its accuracy. */
hw_status hw_atlas_mask_heads(hw_atlas_result *r, const hw_model *m, const hw_tokenizer *t,
                              const hw_atlas_params *p, hw_task *task, hw_progress_fn progress,
                              void *user);
hw_status hw_atlas_kv_policy(hw_atlas_result *r, const hw_model *m, const hw_tokenizer *t,
                             const hw_atlas_params *p, hw_progress_fn progress, void *user);
/* The text needle trials of the retrieval probe, the masking and the policy's check:
 * p->niah with two lengths up to min(C, 2000) unless given (seconds, not the paper's
 * hours). */
hw_niah_params hw_atlas_text_niah(const hw_atlas_result *r, const hw_atlas_params *p);
/* The label set counts as needing a full cache (retrieval, induction, echo, in-context). */
int hw_atlas_label_long(int label);

#endif

/*
 * atlas_mask.c: the head atlas's interventions. Each labelled head is masked alone
 * (uniform attention, the Retrieval Head paper's masking, methods.md section 1.3) on the
 * task that fits its label: an organism's own task, scored as mask-test scores it
 * (hw_task_evaluate_hooked, decode-only for greedy tasks); on a text model the needle
 * trials for retrieval heads and the prompts for memory / in-context heads (both through
 * hw_mask_test_run), and for the rest the copy task the probe prompt is (its second copy
 * of the text, teacher-forced next-token accuracy). Then the KV policy the labels give:
 * heads that read far back keep a full cache, the others sink + recent positions
 * (DuoAttention's two caches, section 2.4), checked on the needle trials.
 */
#include "atlas.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

hw_niah_params hw_atlas_text_niah(const hw_atlas_result *r, const hw_atlas_params *p) {
    hw_niah_params n = p->niah;
    if (n.length_max <= 0) n.length_max = r->C < 2000 ? r->C - n.max_new - 64 : 2000;
    if (n.length_min <= 0) n.length_min = n.length_max / 2;
    if (n.buffer > n.length_min / 2) n.buffer = n.length_min / 2;
    return n;
}

int hw_atlas_label_long(int label) {
    return label == HW_ATLAS_RETRIEVAL || label == HW_ATLAS_INDUCTION || label == HW_ATLAS_ECHO ||
           label == HW_ATLAS_IN_CONTEXT;
}

/* The score that ranks a label's heads (higher first). */
static double label_strength(const hw_atlas_result *r, int label, int i) {
    static const int score_of[HW_ATLAS_LABELS] = {AS_RETRIEVAL, AS_INDUCTION, AS_PREV,       AS_ECHO, AS_SUCCESSOR,
                                                  AS_ATTRIBUTION, AS_ATTRIBUTION, AS_STREAMING, -1};
    const int k = score_of[label];
    if (k < 0 || !r->score[k]) return 0;
    return label == HW_ATLAS_IN_CONTEXT ? -r->score[k][i] : r->score[k][i];
}

/* ---------------------------------------------------------------- the tasks */

typedef struct {
    const hw_model *m;
    const hw_tokenizer *t;
    const hw_atlas_params *p;
    hw_atlas_result *r;
    hw_task *task;
    hw_context *ctx;          /* organism task or copy task */
    double base[2];           /* organism: the task's two measures */
    int have_base;
    double copy_base;         /* copy task */
    int have_copy;
    float *logits;            /* (T, V) copy task */
} masker;

/* Teacher-forced next-token accuracy over the probe's second copy of its text. */
static hw_status copy_accuracy(masker *k, const hw_hooks *h, double *acc) {
    const hw_atlas_result *r = k->r;
    const int V = hw_model_config(k->m)->vocab_size, first = r->T % 2, block = (r->T - first) / 2;
    hw_context_reset(k->ctx);
    hw_status s = hw_forward_hooked(k->ctx, r->tok, r->T, HW_LOGITS_ALL, k->logits, h);
    if (s) return s;
    int right = 0, n = 0;
    for (int i = first + block; i + 1 < r->T; i++, n++) right += hw_argmax(k->logits + (size_t)i * V, V) == r->tok[i + 1];
    *acc = n ? (double)right / n : 0;
    return HW_OK;
}

/* Mask-test with the one head ranked first, no random draws: (exact, recall). */
static hw_status mask_test_one(masker *k, int i, int prompts, double base[2], double masked[2]) {
    const hw_atlas_result *r = k->r;
    hw_head_scores *sc = hw_head_scores_new(r->L, r->H);
    hw_status s = sc ? HW_OK : hw_fail(HW_ERR_NOMEM, "atlas: out of memory");
    for (int j = 0; !s && j < r->L * r->H; j++) s = hw_head_scores_append(sc, j / r->H, j % r->H, j == i);
    hw_mask_test_params mp = hw_mask_test_params_default();
    mp.scores = sc;
    mp.top = 1;
    mp.draws = 0;
    if (prompts) mp.prompts = k->p->prompts;
    else mp.niah = hw_atlas_text_niah(r, k->p);
    hw_mask_test_result *mr = NULL;
    if (!s) s = hw_mask_test_run(k->m, k->t, &mp, NULL, NULL, &mr);
    if (!s) {
        hw_mask_test_result_baseline(mr, &base[0], &base[1]);
        hw_mask_test_result_top(mr, NULL, &masked[0], &masked[1]);
    }
    hw_mask_test_result_free(mr);
    hw_head_scores_free(sc);
    return s;
}

static hw_status task_measures(masker *k, const hw_hooks *h, double acc[2]) {
    hw_context_reset(k->ctx);
    return hw_task_evaluate_hooked(k->task, k->ctx, k->p->task.seed, k->p->task.samples, h, &acc[0], &acc[1]);
}

/* Head i masked on its label's task into r->mask[i]. */
static hw_status mask_one(masker *k, int i, int label) {
    hw_atlas_result *r = k->r;
    atlas_mask *out = &r->mask[i];
    const hw_head head = {i / r->H, i % r->H};
    hw_hooks *h = hw_hooks_new();
    hw_status s = h ? HW_OK : hw_fail(HW_ERR_NOMEM, "atlas: out of memory");
    double base[2] = {0}, masked[2] = {0};
    int col = 0;
    if (!s && k->task) {
        /* Greedy tasks are masked while decoding (the paper's), the rest in every call. */
        const hw_phase ph = hw_task_is_greedy(k->task) ? HW_PHASE_DECODE : HW_PHASE_BOTH;
        if (!k->have_base && !(s = task_measures(k, NULL, k->base))) k->have_base = 1;
        if (!s) s = hw_hooks_mask_uniform(h, &head, 1, ph);
        if (!s) s = task_measures(k, h, masked);
        base[0] = k->base[0], base[1] = k->base[1];
        col = !strcmp(r->task, "recall") && label == HW_ATLAS_IN_CONTEXT;
        out->task = hw_task_name(k->task);
        out->metric = !strcmp(r->task, "retrieval") ? "exact" : !strcmp(r->task, "recall") ? (col ? "override" : "recall")
                                                                                            : "accuracy";
    } else if (!s && (label == HW_ATLAS_RETRIEVAL || ((label == HW_ATLAS_MEMORY || label == HW_ATLAS_IN_CONTEXT) &&
                                                      k->p->prompts))) {
        const int prompts = label != HW_ATLAS_RETRIEVAL;
        s = mask_test_one(k, i, prompts, base, masked);
        col = !prompts;   /* needle trials: mean ROUGE-1 recall; prompts: exact answers */
        out->task = prompts ? "prompts" : "niah";
        out->metric = prompts ? "exact" : "rouge1_recall";
    } else if (!s) {
        if (!k->have_copy && !(s = copy_accuracy(k, NULL, &k->copy_base))) k->have_copy = 1;
        if (!s) s = hw_hooks_mask_uniform(h, &head, 1, HW_PHASE_BOTH);
        if (!s) s = copy_accuracy(k, h, &masked[0]);
        base[0] = k->copy_base;
        out->task = "copy";
        out->metric = "accuracy";
    }
    hw_hooks_free(h);
    if (s) return s;
    out->measured = 1;
    out->baseline = base[col];
    out->masked = masked[col];
    return HW_OK;
}

hw_status hw_atlas_mask_heads(hw_atlas_result *r, const hw_model *m, const hw_tokenizer *t,
                              const hw_atlas_params *p, hw_task *task, hw_progress_fn progress, void *user) {
    const int N = r->L * r->H, V = hw_model_config(m)->vocab_size;
    masker k = {.m = m, .t = t, .p = p, .r = r, .task = task};
    int *pick = calloc((size_t)N, sizeof *pick), *order = malloc((size_t)N * sizeof *order);
    double *key = malloc((size_t)N * sizeof *key);
    hw_status s = pick && order && key ? HW_OK : hw_fail(HW_ERR_NOMEM, "atlas: out of memory");
    /* Per label (streaming and other have no task), its strongest mask_max heads; a head
     * is masked once, on the task of its first label. */
    for (int l = 0; !s && l < HW_ATLAS_STREAMING; l++) {
        for (int i = 0; i < N; i++) {
            int has = 0;
            for (int j = 0; j < r->nlab[i]; j++) has |= r->lab[i][j] == l;
            key[i] = has ? label_strength(r, l, i) : -INFINITY;
        }
        hw_scores_rank(key, N, order);
        for (int j = 0; j < N && j < p->mask_max && isfinite(key[order[j]]); j++) pick[order[j]] = 1;
    }
    int total = 0, done = 0;
    for (int i = 0; i < N; i++) total += pick[i];
    if (!s && total) {
        const int T = task ? hw_task_seq_len(task) : r->T;
        if (!(k.ctx = hw_context_new(m, T)) ||
            (!task && !(k.logits = malloc((size_t)r->T * V * sizeof *k.logits))))
            s = hw_fail(HW_ERR_NOMEM, "atlas: out of memory");
    }
    for (int i = 0; !s && i < N; i++) {
        if (!pick[i]) continue;
        int label = r->lab[i][0];
        if (label == HW_ATLAS_STREAMING && r->nlab[i] > 1) label = r->lab[i][1];
        char stage[64];
        snprintf(stage, sizeof stage, "mask %d.%d", i / r->H, i % r->H);
        if (!(s = hw_progress_step(progress, user, "atlas", stage, done++, total))) s = mask_one(&k, i, label);
    }
    hw_context_free(k.ctx);
    free(k.logits);
    free(pick);
    free(order);
    free(key);
    return s;
}

/* ---------------------------------------------------------------- the KV policy */

/* Exact-answer rate of the needle grid (the task's, or the text trials) under kv. */
static hw_status grid_exact(const hw_atlas_result *r, const hw_model *m, const hw_tokenizer *t,
                            const hw_atlas_params *p, const hw_kv_policy *kv, double *exact) {
    hw_niah_grid_params g = hw_niah_grid_params_default();
    g.kv = kv;
    if (r->task) {
        g.task = r->task;
        g.samples = 10;
        g.seed = p->task.seed;
        g.n_symbols = p->task.n_symbols;
        g.niah.length_min = r->C / 2;
        g.niah.length_max = r->C;
        g.niah.n_lengths = 3;
        g.niah.n_depths = 5;
    } else {
        g.niah = hw_atlas_text_niah(r, p);
    }
    hw_niah_grid_result *gr = NULL;
    hw_status s = hw_niah_grid_run(m, t, &g, NULL, NULL, &gr);
    if (!s) hw_niah_grid_result_overall(gr, NULL, exact, NULL, NULL);
    hw_niah_grid_result_free(gr);
    return s;
}

hw_status hw_atlas_kv_policy(hw_atlas_result *r, const hw_model *m, const hw_tokenizer *t,
                             const hw_atlas_params *p, hw_progress_fn progress, void *user) {
    const int G = r->H / r->Hk;
    r->n_full = 0;
    for (int l = 0; l < r->L; l++)
        for (int kh = 0; kh < r->Hk; kh++) {
            int full = 0;
            for (int h = kh * G; h < (kh + 1) * G; h++)
                for (int j = 0; j < r->nlab[l * r->H + h]; j++) full |= hw_atlas_label_long(r->lab[l * r->H + h][j]);
            r->full[l * r->Hk + kh] = full;
            r->n_full += full;
        }
    /* Rows per KV head as the cache holds them (hw_context_kv_bytes): every position,
     * or sink + recent for a streaming head. */
    const size_t row = 2 * (size_t)r->Dh * sizeof(float), ctx = (size_t)r->context;
    const size_t win = (size_t)(r->sink + r->recent) < ctx ? (size_t)(r->sink + r->recent) : ctx;
    r->bytes_full = (size_t)r->L * r->Hk * ctx * row;
    r->bytes_policy = (size_t)r->n_full * ctx * row + (size_t)(r->L * r->Hk - r->n_full) * win * row;
    const int applies = r->task ? !strcmp(r->task, "retrieval") : 1;
    if ((p->skip & HW_ATLAS_SKIP_KV_EVAL) || !applies || (!r->task && (p->skip & HW_ATLAS_SKIP_RETRIEVAL)))
        return HW_OK;
    hw_kv_policy *kv = hw_kv_policy_new(m, r->sink, r->recent, 0, HW_KV_COMP_NONE);
    hw_status s = kv ? HW_OK : HW_ERR_NOMEM;
    for (int i = 0; !s && i < r->L * r->Hk; i++) s = hw_kv_policy_set_full(kv, i / r->Hk, i % r->Hk, r->full[i]);
    if (!s) s = hw_progress_step(progress, user, "atlas", "kv policy", 0, 2);
    if (!s) s = grid_exact(r, m, t, p, NULL, &r->acc_full);
    if (!s) s = hw_progress_step(progress, user, "atlas", "kv policy", 1, 2);
    if (!s) s = grid_exact(r, m, t, p, kv, &r->acc_policy);
    hw_kv_policy_free(kv);
    if (s) return s;
    r->evaluated = 1;
    r->eval_task = r->task ? "retrieval" : "niah";
    return HW_OK;
}

int hw_atlas_kv_flag(const hw_atlas_result *r, const char *mask_path, char *buf, size_t n) {
    if (!r || !buf) {
        hw_fail(HW_ERR_ARG, "atlas: no result or buffer for the --kv flag");
        return -1;
    }
    if (r->n_full == r->L * r->Hk) return snprintf(buf, n, "full");
    if (r->n_full == 0) return snprintf(buf, n, "window:sink=%d,recent=%d", r->sink, r->recent);
    return snprintf(buf, n, "duo:heads=%s,sink=%d,recent=%d", mask_path ? mask_path : "full_heads.tsv", r->sink,
                    r->recent);
}

/*
 * niah_grid.c: the needle-in-a-haystack grid under a KV-cache policy (headwise.h,
 * "needle-in-a-haystack grid"; methods.md sections 1.2 and 2.4), `headwise niah`.
 *
 * Every trial runs in one context made by hw_context_new_kv with the policy, through
 * the one greedy loop (hw_greedy): the prompt prefilled whole (the engine cuts it into
 * chunks of the policy's chunk), the answer decoded a token per step. That is how
 * DuoAttention's NIAH evaluation runs (methods.md 2.4), and how the tasks score their
 * own answers (src/tasks/task.c, hw_task_greedy), so the full policy reproduces
 * hw_task_evaluate. Cells hold the exact-match rate and the mean ROUGE-1 recall (the
 * Retrieval Head paper) and F (DuoAttention's figures).
 */
#include "eval.h"
#include "report/niah_html.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* hw_kv_policy_new's chunk 0: "the engine's default, 512" (src/model/context.h). */
enum { ENGINE_CHUNK = 512, ANSWER_CAP = 4096 };

typedef struct {
    int li, di, item;           /* length and depth index; needle or sample */
    int key, key_at;            /* passkey trials: the number, the key line's first token */
    double exact, recall, f;
    char *answer;               /* what the model generated */
} trial_rec;

struct hw_niah_grid_result {
    char *label, *policy, *task;
    int sink, recent, chunk, full_heads, kv_heads;
    int lh_chunk, lh_len, lh_max;   /* LongHeads' W and A (0: not LongHeads), score max */
    hw_kv_compensation comp;
    int samples, needles, passkey;
    uint64_t seed;
    int n_len, n_dep, *lengths, *depths;
    size_t *kv_bytes, *kv_full;     /* (n_len) */
    int *count;                     /* (n_dep, n_len) trials per cell */
    double *sum;                    /* (3, n_dep, n_len) exact, recall, F summed */
    trial_rec *trials;
    int n_trials;
};

/* One run's working state. */
typedef struct {
    const hw_model *m;
    const hw_tokenizer *t;
    const hw_niah_grid_params *p;
    hw_niah *niah;              /* text trials */
    hw_task **tasks;            /* task trials: (n_dep, n_len), one per cell */
    hw_passkey *pk;             /* passkey trials */
    int *keys, *n_ans, **ans;   /* passkey: per sample its number and answer tokens */
    hw_context *ctx;
    int n_ctx, max_new, total;
    int *tok, *gen;             /* task sample (2 T), generated tokens (max_new) */
} grid_run;

hw_niah_grid_params hw_niah_grid_params_default(void) {
    return (hw_niah_grid_params){.niah = hw_niah_params_default(), .samples = 10, .seed = 12345};
}

/* round(linspace(lo, hi, cnt)) into v (room for cnt), repeats dropped; the count. */
static int linspace_int(double lo, double hi, int cnt, int *v) {
    int n = 0;
    for (int k = 0; k < cnt; k++) {
        int x = (int)lround(cnt == 1 ? hi : lo + (hi - lo) * k / (cnt - 1));
        if (!n || v[n - 1] != x) v[n++] = x;
    }
    return n;
}

static hw_status alloc_grid(hw_niah_grid_result *r, int n_len, int n_dep) {
    r->lengths = malloc(sizeof(int) * (size_t)n_len);
    r->depths = malloc(sizeof(int) * (size_t)n_dep);
    return r->lengths && r->depths ? HW_OK : hw_fail(HW_ERR_NOMEM, "out of memory");
}

/* Text trials: hw_niah's grid (trial i is needle, length, depth in that nesting) and
 * the context the longest prompt needs with its decode budget. */
static hw_status open_text(grid_run *g, hw_niah_grid_result *r) {
    if (!g->t) return hw_fail(HW_ERR_ARG, "niah: text trials need a tokenizer");
    if (!(g->niah = hw_niah_new(g->m, g->t, &g->p->niah))) return HW_ERR_ARG;
    const int total = hw_niah_trial_count(g->niah), needles = hw_niah_needle_count(g->niah);
    const int per = total / needles;
    int first, len, dep, n_dep = 0;
    hw_niah_trial_key(g->niah, 0, NULL, &first, NULL);
    while (n_dep < per && !hw_niah_trial_key(g->niah, n_dep, NULL, &len, NULL) && len == first) n_dep++;
    if (alloc_grid(r, per / n_dep, n_dep)) return HW_ERR_NOMEM;
    r->n_len = per / n_dep;
    r->n_dep = n_dep;
    r->needles = needles;
    for (int i = 0; i < per; i++) {
        hw_niah_trial_key(g->niah, i, NULL, &len, &dep);
        if (i % n_dep == 0) r->lengths[i / n_dep] = len;
        if (i < n_dep) r->depths[i] = dep;
    }
    g->max_new = hw_niah_max_new(g->niah);
    /* A trial's size does not depend on its depth: one prompt per needle x length. */
    for (int i = 0; i < total; i += n_dep) {
        int *prompt, s0, s1, n = hw_niah_trial_prompt(g->niah, i, &prompt, &s0, &s1);
        if (n < 0) return HW_ERR_ARG;
        free(prompt);
        if (n + g->max_new > g->n_ctx) g->n_ctx = n + g->max_new;
    }
    g->total = total;
    return HW_OK;
}

/* The grid of task and passkey trials from niah's fields, each length with `answer`
 * tokens decoded after it (0: within the length) checked against the model's context;
 * the samples checked. */
static hw_status open_grid(grid_run *g, hw_niah_grid_result *r, int answer) {
    const hw_niah_params *np = &g->p->niah;
    const hw_config *cfg = hw_model_config(g->m);
    const int C = cfg->n_ctx, rotary = cfg->pos == HW_POS_ROTARY;
    int lo = np->length_min, hi = np->length_max, cnt = np->n_lengths;
    if (!cnt) hi = rotary ? C : C - answer, lo = hi / 2, cnt = 4;
    if (lo < 1 || hi < lo || cnt < 1 || cnt > 10000)
        return hw_fail(HW_ERR_ARG, "lengths %d:%d:%d: expected 1 <= MIN <= MAX and 1 to 10000 lengths", lo, hi, cnt);
    /* A rotary model runs at any length (how it copes past its training is what a
     * LongHeads cache is measured by); learned positions end at C. */
    if (hi + answer > C && !rotary) {
        if (answer)
            return hw_fail(HW_ERR_RANGE, "context length %d + %d answer tokens is longer than the model's "
                           "context (%d), which has learned positions", hi, answer, C);
        return hw_fail(HW_ERR_RANGE, "context length %d is longer than the model's context (%d)", hi, C);
    }
    if (np->n_depths < 1 || np->n_depths > 1000)
        return hw_fail(HW_ERR_ARG, "depths: %d is not in [1, 1000]", np->n_depths);
    if (g->p->samples < 1) return hw_fail(HW_ERR_ARG, "niah: samples must be at least 1 (got %d)", g->p->samples);
    if (alloc_grid(r, cnt, np->n_depths)) return HW_ERR_NOMEM;
    r->n_len = linspace_int(lo, hi, cnt, r->lengths);
    r->n_dep = linspace_int(0, 100, np->n_depths, r->depths);
    g->total = r->n_len * r->n_dep * g->p->samples;
    return HW_OK;
}

/* Task trials: one task per cell (a task's needle depth is fixed when it is made), each
 * checked to be scored by greedy answers and to fit the model. */
static hw_status open_task(grid_run *g, hw_niah_grid_result *r) {
    const hw_config *cfg = hw_model_config(g->m);
    hw_status s = open_grid(g, r, 0);
    if (s) return s;
    if (!(g->tasks = calloc((size_t)r->n_len * r->n_dep, sizeof *g->tasks)))
        return hw_fail(HW_ERR_NOMEM, "out of memory");
    for (int di = 0; di < r->n_dep; di++)
        for (int li = 0; li < r->n_len; li++) {
            /* As hw_task_new_for_model makes a task, at this cell's length and depth. */
            hw_task_params tp = hw_task_params_default();
            tp.seq_len = r->lengths[li];
            tp.depth = (float)r->depths[di] / 100.0f;
            if (g->p->n_symbols) tp.n_symbols = g->p->n_symbols;
            if (g->p->n_needles) tp.max_len = g->p->n_needles;
            hw_task *t = g->tasks[di * r->n_len + li] = hw_task_new(g->p->task, &tp);
            if (!t) {
                char why[512];
                snprintf(why, sizeof why, "%s", hw_last_error());
                return hw_fail(HW_ERR_ARG, "task %s at length %d: %s", g->p->task, r->lengths[li], why);
            }
            if (!hw_task_is_greedy(t))
                return hw_fail(HW_ERR_ARG, "task %s is scored teacher-forced, not by greedy answers: niah needs a "
                               "task with a needle to copy (retrieval)", g->p->task);
            if (hw_task_vocab_size(t) > cfg->vocab_size)
                return hw_fail(HW_ERR_ARG, "task %s has %d symbols; the model only %d", g->p->task,
                               hw_task_vocab_size(t), cfg->vocab_size);
        }
    g->n_ctx = g->max_new = r->lengths[r->n_len - 1];
    if (!(g->tok = malloc(sizeof(int) * (size_t)g->n_ctx * 2)))
        return hw_fail(HW_ERR_NOMEM, "out of memory");
    return HW_OK;
}

/* Passkey trials: every sample's number and answer tokens made once, the grid checked
 * against the longest answer and the longest prompt without garbage. */
static hw_status open_passkey(grid_run *g, hw_niah_grid_result *r) {
    const int S = g->p->samples;
    if (!g->t) return hw_fail(HW_ERR_ARG, "niah: passkey trials need a tokenizer");
    if (S < 1) return hw_fail(HW_ERR_ARG, "niah: samples must be at least 1 (got %d)", S);
    if (!(g->pk = hw_passkey_new(g->m, g->t))) return HW_ERR_ARG;
    g->keys = calloc((size_t)S * 2, sizeof(int));
    g->ans = calloc((size_t)S, sizeof *g->ans);
    if (!g->keys || !g->ans) return hw_fail(HW_ERR_NOMEM, "out of memory");
    g->n_ans = g->keys + S;
    int shortest = 0;
    for (int k = 0; k < S; k++) {
        g->keys[k] = hw_passkey_key(g->p->seed, k);
        int least = hw_passkey_min_length(g->pk, g->keys[k]);
        if ((g->n_ans[k] = hw_passkey_answer(g->pk, g->keys[k], &g->ans[k])) < 1 || least < 0) return HW_ERR_ARG;
        if (g->n_ans[k] > g->max_new) g->max_new = g->n_ans[k];
        if (least > shortest) shortest = least;
    }
    hw_status s = open_grid(g, r, g->max_new);
    if (s) return s;
    if (r->lengths[0] < shortest)
        return hw_fail(HW_ERR_RANGE, "passkey: length %d is shorter than the prompt without garbage (%d tokens "
                       "for these passkeys)", r->lengths[0], shortest);
    g->n_ctx = r->lengths[r->n_len - 1] + g->max_new;
    return HW_OK;
}

/* The policy's description and the KV bytes of a context of each length, with the
 * policy and with every head full (the contexts' buffers are calloc'd and never
 * touched here, so this costs no resident memory). */
static hw_status describe_policy(const grid_run *g, hw_niah_grid_result *r) {
    const hw_kv_policy *kv = g->p->kv;
    const hw_config *cfg = hw_model_config(g->m);
    r->policy = strdup(kv ? hw_kv_policy_name(kv) : "full");
    r->sink = kv ? hw_kv_policy_sink(kv) : 0;
    r->recent = kv ? hw_kv_policy_recent(kv) : 0;
    r->chunk = kv && hw_kv_policy_chunk(kv) > 0 ? hw_kv_policy_chunk(kv) : ENGINE_CHUNK;
    r->comp = kv ? hw_kv_policy_compensation(kv) : HW_KV_COMP_NONE;
    r->kv_heads = cfg->n_layer * cfg->n_kv_head;
    r->full_heads = kv ? hw_kv_policy_full_count(kv) : r->kv_heads;
    hw_longheads_score score = HW_LONGHEADS_POOLED;
    hw_kv_policy_longheads(kv, &r->lh_chunk, &r->lh_len, &score);
    r->lh_max = score == HW_LONGHEADS_MAX;
    r->kv_bytes = calloc((size_t)r->n_len * 2, sizeof(size_t));
    if (!r->policy || !r->kv_bytes) return hw_fail(HW_ERR_NOMEM, "out of memory");
    r->kv_full = r->kv_bytes + r->n_len;
    for (int li = 0; li < r->n_len; li++) {
        hw_context *a = hw_context_new_kv(g->m, r->lengths[li], kv), *b = hw_context_new(g->m, r->lengths[li]);
        if (a && b) r->kv_bytes[li] = hw_context_kv_bytes(a, -1, -1), r->kv_full[li] = hw_context_kv_bytes(b, -1, -1);
        hw_context_free(a);
        hw_context_free(b);
        if (!a || !b) return HW_ERR_NOMEM;
    }
    return HW_OK;
}

/* ROUGE-1 recall and F of candidate against reference: the clipped unigram overlap is
 * symmetric, so precision is the recall with the roles swapped. */
static void rouge1(const char *reference, const char *candidate, double *recall, double *f) {
    double rc = hw_rouge1_recall(reference, candidate), pr = hw_rouge1_recall(candidate, reference);
    *recall = rc;
    *f = rc + pr > 0 ? 2 * rc * pr / (rc + pr) : 0;
}

/* Text trial i into *rec. */
static hw_status text_trial(grid_run *g, int i, trial_rec *rec, char *text) {
    int *prompt, s0, s1, needle, n = hw_niah_trial_prompt(g->niah, i, &prompt, &s0, &s1);
    if (n < 0) return HW_ERR_ARG;
    hw_greedy_params gp = hw_greedy_params_default();
    gp.max_new = g->max_new;
    gp.stop = HW_STOP_EOS | HW_STOP_NEWLINE;
    int got = hw_greedy(g->ctx, g->t, prompt, n, &gp, g->gen, text, ANSWER_CAP);
    free(prompt);
    if (got < 0) return HW_ERR_ARG;
    hw_niah_trial_key(g->niah, i, &needle, NULL, NULL);
    rec->item = needle;
    rouge1(hw_niah_answer(g->niah, needle), text, &rec->recall, &rec->f);
    rec->exact = rec->recall >= 1;
    return HW_OK;
}

/* Symbols of ids (n) joined by spaces into out (cap bytes). */
static void symbols_text(const hw_task *t, const int *ids, int n, char *out, size_t cap) {
    size_t k = 0;
    out[0] = 0;
    for (int j = 0; j < n && k + 1 < cap; j++) {
        const char *s = hw_task_symbol(t, ids[j]);
        int w = snprintf(out + k, cap - k, "%s%s", j ? " " : "", s ? s : "?");
        k = w < 0 ? k : k + (size_t)w >= cap ? cap - 1 : k + (size_t)w;
    }
}

/* Sample k of the task of cell (li, di) into *rec, scored as the tasks score
 * themselves: the sample up to its answer prefilled, the answer greedily decoded. */
static hw_status task_trial(grid_run *g, const hw_niah_grid_result *r, int li, int di, int k, trial_rec *rec,
                            char *text) {
    const hw_task *t = g->tasks[di * r->n_len + li];
    const int T = hw_task_seq_len(t);
    hw_task_layout lay;
    hw_status s = hw_task_sample(t, g->p->seed, k, g->tok, g->tok + T, &lay);
    if (s) return s;
    hw_greedy_params gp = hw_greedy_params_default();
    gp.max_new = lay.len;
    gp.stop = HW_STOP_EOS;
    int got = hw_greedy(g->ctx, NULL, g->tok, lay.dst, &gp, g->gen, NULL, 0);
    if (got < 0) return HW_ERR_ARG;
    int hit = 0;
    for (int j = 0; j < got && j < lay.len; j++) hit += g->gen[j] == g->tok[lay.dst + j];
    char ref[ANSWER_CAP];
    symbols_text(t, g->tok + lay.dst, lay.len, ref, sizeof ref);
    symbols_text(t, g->gen, got, text, ANSWER_CAP);
    rec->item = k;
    rec->exact = got == lay.len && hit == lay.len;
    rouge1(ref, text, &rec->recall, &rec->f);
    return HW_OK;
}

/* Sample k's passkey at the length and depth of cell (li, di) into *rec: the prompt
 * prefilled, the answer's tokens greedily decoded and compared. */
static hw_status passkey_trial(grid_run *g, const hw_niah_grid_result *r, int li, int di, int k, trial_rec *rec,
                               char *text) {
    int *prompt, n = hw_passkey_prompt(g->pk, r->lengths[li], r->depths[di], g->keys[k], &prompt, &rec->key_at, NULL);
    if (n < 0) return HW_ERR_ARG;
    hw_greedy_params gp = hw_greedy_params_default();
    gp.max_new = g->n_ans[k];
    gp.stop = HW_STOP_EOS;
    int got = hw_greedy(g->ctx, g->t, prompt, n, &gp, g->gen, text, ANSWER_CAP);
    free(prompt);
    if (got < 0) return HW_ERR_ARG;
    int hit = 0;
    for (int j = 0; j < got; j++) hit += g->gen[j] == g->ans[k][j];
    char ref[24];
    snprintf(ref, sizeof ref, "%d", g->keys[k]);
    rec->item = k;
    rec->key = g->keys[k];
    rec->exact = got == g->n_ans[k] && hit == got;
    rouge1(ref, text, &rec->recall, &rec->f);
    return HW_OK;
}

static hw_status run_trials(grid_run *g, hw_niah_grid_result *r, hw_progress_fn progress, void *user) {
    const size_t cells = (size_t)r->n_len * r->n_dep;
    r->count = calloc(cells, sizeof(int));
    r->sum = calloc(cells * 3, sizeof(double));
    r->trials = calloc((size_t)g->total, sizeof *r->trials);
    g->gen = malloc(sizeof(int) * (size_t)g->max_new);
    if (!r->count || !r->sum || !r->trials || !g->gen) return hw_fail(HW_ERR_NOMEM, "out of memory");
    if (!(g->ctx = hw_context_new_kv(g->m, g->n_ctx, g->p->kv))) return HW_ERR_ARG;
    char *text = malloc(ANSWER_CAP);
    if (!text) return hw_fail(HW_ERR_NOMEM, "out of memory");
    hw_status s = HW_OK;
    for (int i = 0; i < g->total && !s; i++) {
        trial_rec *rec = &r->trials[i];
        if (g->niah) {
            /* needle, length, depth nesting */
            rec->li = i / r->n_dep % r->n_len;
            rec->di = i % r->n_dep;
            s = text_trial(g, i, rec, text);
        } else {
            /* length, depth, sample nesting */
            const int S = g->p->samples;
            rec->li = i / (S * r->n_dep);
            rec->di = i / S % r->n_dep;
            s = g->pk ? passkey_trial(g, r, rec->li, rec->di, i % S, rec, text)
                      : task_trial(g, r, rec->li, rec->di, i % S, rec, text);
        }
        if (s) break;
        if (!(rec->answer = strdup(text))) s = hw_fail(HW_ERR_NOMEM, "out of memory");
        r->n_trials = i + 1;
        const size_t at = (size_t)rec->di * r->n_len + rec->li;
        r->count[at]++;
        r->sum[at] += rec->exact;
        r->sum[cells + at] += rec->recall;
        r->sum[2 * cells + at] += rec->f;
        char stage[256];
        snprintf(stage, sizeof stage, "length %d, depth %d%%, %s %d: %s, ROUGE-1 F %.2f", r->lengths[rec->li],
                 r->depths[rec->di], g->niah ? "needle" : "sample", rec->item, rec->exact ? "exact" : "missed",
                 rec->f);
        if (!s && progress && progress(stage, i + 1, g->total, user))
            s = hw_fail(HW_ERR_ARG, "niah: stopped by the caller");
    }
    free(text);
    return s;
}

static void close_run(grid_run *g, int cells) {
    hw_niah_free(g->niah);
    for (int i = 0; g->tasks && i < cells; i++) hw_task_free(g->tasks[i]);
    free(g->tasks);
    hw_passkey_free(g->pk);
    for (int k = 0; g->ans && k < g->p->samples; k++) free(g->ans[k]);
    free(g->ans);
    free(g->keys);
    hw_context_free(g->ctx);
    free(g->tok);
    free(g->gen);
}

hw_status hw_niah_grid_run(const hw_model *m, const hw_tokenizer *t, const hw_niah_grid_params *p,
                           hw_progress_fn progress, void *user, hw_niah_grid_result **out) {
    if (out) *out = NULL;
    if (!m || !p || !out) return hw_fail(HW_ERR_ARG, "hw_niah_grid_run: no model, params or result");
    grid_run g = {.m = m, .t = t, .p = p};
    hw_niah_grid_result *r = calloc(1, sizeof *r);
    if (!r) return hw_fail(HW_ERR_NOMEM, "out of memory");
    r->label = strdup(p->label ? p->label : "model");
    r->task = p->task ? strdup(p->task) : NULL;
    r->samples = p->task || p->passkey ? p->samples : 0;
    r->passkey = p->passkey != 0;
    r->seed = p->seed;
    hw_status s = r->label && (!p->task || r->task) ? HW_OK : hw_fail(HW_ERR_NOMEM, "out of memory");
    if (!s && p->task && p->passkey)
        s = hw_fail(HW_ERR_ARG, "niah: passkey trials and task trials are two sources; give one");
    if (!s) s = p->passkey ? open_passkey(&g, r) : p->task ? open_task(&g, r) : open_text(&g, r);
    if (!s) s = describe_policy(&g, r);
    if (!s) s = run_trials(&g, r, progress, user);
    close_run(&g, r->n_len * r->n_dep);
    if (s) {
        hw_niah_grid_result_free(r);
        return s;
    }
    *out = r;
    return HW_OK;
}

void hw_niah_grid_result_free(hw_niah_grid_result *r) {
    if (!r) return;
    for (int i = 0; i < r->n_trials; i++) free(r->trials[i].answer);
    free(r->trials);
    free(r->label);
    free(r->policy);
    free(r->task);
    free(r->lengths);
    free(r->depths);
    free(r->kv_bytes);
    free(r->count);
    free(r->sum);
    free(r);
}

int hw_niah_grid_result_lengths(const hw_niah_grid_result *r, const int **lengths) {
    if (lengths) *lengths = r ? r->lengths : NULL;
    return r ? r->n_len : 0;
}

int hw_niah_grid_result_depths(const hw_niah_grid_result *r, const int **depths) {
    if (depths) *depths = r ? r->depths : NULL;
    return r ? r->n_dep : 0;
}

/* Cell at (or everything with at < 0): trials and the three means. */
static void cell_means(const hw_niah_grid_result *r, long at, int *trials, double *exact, double *recall,
                       double *f) {
    const size_t cells = (size_t)r->n_len * r->n_dep;
    double sum[3] = {0, 0, 0};
    int n = 0;
    for (size_t c = 0; c < cells; c++) {
        if (at >= 0 && (size_t)at != c) continue;
        n += r->count[c];
        for (int k = 0; k < 3; k++) sum[k] += r->sum[k * cells + c];
    }
    if (trials) *trials = n;
    if (exact) *exact = n ? sum[0] / n : 0;
    if (recall) *recall = n ? sum[1] / n : 0;
    if (f) *f = n ? sum[2] / n : 0;
}

hw_status hw_niah_grid_result_cell(const hw_niah_grid_result *r, int li, int di, int *trials, double *exact,
                                   double *rouge1_recall, double *rouge1_f) {
    if (!r || li < 0 || li >= r->n_len || di < 0 || di >= r->n_dep)
        return hw_fail(HW_ERR_ARG, "niah grid: no cell (%d, %d)", li, di);
    cell_means(r, (long)di * r->n_len + li, trials, exact, rouge1_recall, rouge1_f);
    return HW_OK;
}

void hw_niah_grid_result_overall(const hw_niah_grid_result *r, int *trials, double *exact, double *rouge1_recall,
                                 double *rouge1_f) {
    if (!r) {
        if (trials) *trials = 0;
        if (exact) *exact = 0;
        if (rouge1_recall) *rouge1_recall = 0;
        if (rouge1_f) *rouge1_f = 0;
        return;
    }
    cell_means(r, -1, trials, exact, rouge1_recall, rouge1_f);
}

size_t hw_niah_grid_result_kv_bytes(const hw_niah_grid_result *r, int li, size_t *full) {
    int ok = r && li >= 0 && li < r->n_len;
    if (full) *full = ok ? r->kv_full[li] : 0;
    return ok ? r->kv_bytes[li] : 0;
}

const char *hw_niah_grid_result_policy(const hw_niah_grid_result *r) { return r ? r->policy : NULL; }
int hw_niah_grid_result_chunk(const hw_niah_grid_result *r) { return r ? r->chunk : 0; }

hw_status hw_niah_grid_result_trial(const hw_niah_grid_result *r, int i, hw_niah_trial *out) {
    if (!r || !out || i < 0 || i >= r->n_trials)
        return hw_fail(HW_ERR_ARG, "niah grid: no trial %d (of %d)", i, r ? r->n_trials : 0);
    const trial_rec *t = &r->trials[i];
    *out = (hw_niah_trial){.length = r->lengths[t->li], .depth = r->depths[t->di], .item = t->item,
                           .passkey = r->passkey ? t->key : 0, .key_position = r->passkey ? t->key_at : -1,
                           .exact = t->exact > 0, .rouge1_recall = t->recall, .rouge1_f = t->f,
                           .answer = t->answer ? t->answer : ""};
    return HW_OK;
}

/* ---------------------------------------------------------------- writers */

static const char *comp_name(hw_kv_compensation c) {
    return c == HW_KV_COMP_WEIGHTED ? "weighted" : c == HW_KV_COMP_MEAN ? "mean" : "none";
}

/* The prefill semantics in a sentence, for the JSON and the page. */
static void prefill_note(const hw_niah_grid_result *r, char *out, size_t cap) {
    snprintf(out, cap, "prompt prefilled in chunks of %d rows, answer decoded one token per step; a streaming "
             "head sees every earlier row of its own chunk (DuoAttention), so a prompt within one chunk is full "
             "attention for it and only decoding sees sink + recent", r->chunk);
}

/* An (n_dep, n_len) plane as rows of numbers. */
static cJSON *plane_json(const hw_niah_grid_result *r, int k) {
    const size_t cells = (size_t)r->n_len * r->n_dep;
    cJSON *rows = cJSON_CreateArray();
    for (int di = 0; rows && di < r->n_dep; di++) {
        cJSON *row = cJSON_CreateArray();
        for (int li = 0; row && li < r->n_len; li++) {
            size_t at = (size_t)di * r->n_len + li;
            double v = k < 0 ? r->count[at] : r->count[at] ? r->sum[k * cells + at] / r->count[at] : 0;
            cJSON_AddItemToArray(row, cJSON_CreateNumber(v));
        }
        cJSON_AddItemToArray(rows, row);
    }
    return rows;
}

static cJSON *policy_json(const hw_niah_grid_result *r) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", r->policy);
    cJSON_AddNumberToObject(o, "sink", r->sink);
    cJSON_AddNumberToObject(o, "recent", r->recent);
    cJSON_AddNumberToObject(o, "chunk", r->chunk);
    cJSON_AddStringToObject(o, "compensation", comp_name(r->comp));
    cJSON_AddNumberToObject(o, "full_kv_heads", r->full_heads);
    cJSON_AddNumberToObject(o, "kv_heads", r->kv_heads);
    if (r->lh_len) {
        cJSON *lh = cJSON_AddObjectToObject(o, "longheads");
        cJSON_AddNumberToObject(lh, "chunk", r->lh_chunk);
        cJSON_AddNumberToObject(lh, "heads_len", r->lh_len);
        cJSON_AddStringToObject(lh, "score", r->lh_max ? "max" : "pooled");
    }
    return o;
}

static cJSON *source_json(const hw_niah_grid_result *r) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", r->passkey ? "passkey" : r->task ? "task" : "text");
    if (r->task || r->passkey) {
        if (r->task) cJSON_AddStringToObject(o, "task", r->task);
        cJSON_AddNumberToObject(o, "samples", r->samples);
        cJSON_AddNumberToObject(o, "seed", (double)r->seed);
    } else {
        cJSON_AddNumberToObject(o, "needles", r->needles);
    }
    return o;
}

static cJSON *ints_json(const int *v, int n) { return cJSON_CreateIntArray(v, n); }

static cJSON *sizes_json(const size_t *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)v[i]));
    return a;
}

static cJSON *trials_json(const hw_niah_grid_result *r) {
    cJSON *a = cJSON_CreateArray();
    hw_niah_trial t;
    for (int i = 0; a && i < r->n_trials && !hw_niah_grid_result_trial(r, i, &t); i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "length", t.length);
        cJSON_AddNumberToObject(o, "depth", t.depth);
        cJSON_AddNumberToObject(o, r->samples ? "sample" : "needle", t.item);
        if (r->passkey) {
            cJSON_AddNumberToObject(o, "passkey", t.passkey);
            cJSON_AddNumberToObject(o, "key_position", t.key_position);
        }
        cJSON_AddBoolToObject(o, "exact", t.exact);
        cJSON_AddNumberToObject(o, "rouge1_recall", t.rouge1_recall);
        cJSON_AddNumberToObject(o, "rouge1_f", t.rouge1_f);
        cJSON_AddStringToObject(o, "answer", t.answer);
        cJSON_AddItemToArray(a, o);
    }
    return a;
}

hw_status hw_niah_grid_result_write(const hw_niah_grid_result *r, const char *path) {
    if (!r || !path) return hw_fail(HW_ERR_ARG, "hw_niah_grid_result_write: no result or path");
    hw_status s = hw_output_prepare(path);
    if (s) return s;
    char note[512];
    prefill_note(r, note, sizeof note);
    int n;
    double ex, rc, f;
    hw_niah_grid_result_overall(r, &n, &ex, &rc, &f);
    cJSON *o = cJSON_CreateObject(), *all = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", r->label);
    cJSON_AddItemToObject(o, "policy", policy_json(r));
    cJSON_AddStringToObject(o, "prefill", note);
    cJSON_AddItemToObject(o, "source", source_json(r));
    cJSON_AddItemToObject(o, "lengths", ints_json(r->lengths, r->n_len));
    cJSON_AddItemToObject(o, "depths", ints_json(r->depths, r->n_dep));
    cJSON_AddItemToObject(o, "kv_bytes", sizes_json(r->kv_bytes, r->n_len));
    cJSON_AddItemToObject(o, "kv_bytes_full", sizes_json(r->kv_full, r->n_len));
    cJSON_AddItemToObject(o, "trials", plane_json(r, -1));
    cJSON_AddItemToObject(o, "exact", plane_json(r, 0));
    cJSON_AddItemToObject(o, "rouge1_recall", plane_json(r, 1));
    cJSON_AddItemToObject(o, "rouge1_f", plane_json(r, 2));
    cJSON_AddNumberToObject(all, "trials", n);
    cJSON_AddNumberToObject(all, "exact", ex);
    cJSON_AddNumberToObject(all, "rouge1_recall", rc);
    cJSON_AddNumberToObject(all, "rouge1_f", f);
    cJSON_AddItemToObject(o, "overall", all);
    cJSON_AddItemToObject(o, "trial_results", trials_json(r));
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    if (!text) return hw_fail(HW_ERR_NOMEM, "out of memory writing %s", path);
    s = hw_write_file_atomic(path, text, strlen(text));
    free(text);
    return s;
}

/* n bytes as "12.0 KiB". */
static void human_bytes(size_t n, char *out, size_t cap) {
    static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1024 && u < 4) v /= 1024, u++;
    if (u == 0) snprintf(out, cap, "%zu B", n);
    else snprintf(out, cap, "%.1f %s", v, unit[u]);
}

/* "KV cache at N tokens: A vs B full (P%)" for the longest length. */
static void bytes_note(const hw_niah_grid_result *r, char *out, size_t cap) {
    const int li = r->n_len - 1;
    char a[32], b[32];
    human_bytes(r->kv_bytes[li], a, sizeof a);
    human_bytes(r->kv_full[li], b, sizeof b);
    snprintf(out, cap, "KV cache at %d tokens: %s vs %s with every head full (%.1f%%)", r->lengths[li], a, b,
             r->kv_full[li] ? 100.0 * (double)r->kv_bytes[li] / (double)r->kv_full[li] : 0);
}

static void policy_note(const hw_niah_grid_result *r, char *out, size_t cap) {
    if (r->lh_len) {
        snprintf(out, cap, "LongHeads: each of %d KV heads reads %d tokens in chunks of %d (%s)", r->kv_heads,
                 r->lh_len, r->lh_chunk, r->lh_max ? "by their largest q.k" : "by pooled chunk keys");
        return;
    }
    if (r->full_heads == r->kv_heads) {
        snprintf(out, cap, "every one of %d KV heads full", r->kv_heads);
        return;
    }
    snprintf(out, cap, "%d of %d KV heads full; streaming heads keep sink %d + recent %d%s", r->full_heads,
             r->kv_heads, r->sink, r->recent,
             r->comp == HW_KV_COMP_NONE ? "" : r->comp == HW_KV_COMP_MEAN ? " + a mean compensation token"
                                                                          : " + a weighted compensation token");
}

hw_status hw_niah_grid_result_write_html(const hw_niah_grid_result *r, const char *path) {
    if (!r || !path) return hw_fail(HW_ERR_ARG, "hw_niah_grid_result_write_html: no result or path");
    const size_t cells = (size_t)r->n_len * r->n_dep;
    double *v = malloc(sizeof(double) * cells * 3);
    if (!v) return hw_fail(HW_ERR_NOMEM, "out of memory");
    /* F first (DuoAttention's figure), then exact match and recall. */
    static const int order[3] = {2, 0, 1};
    static const char *const names[3] = {"ROUGE-1 F", "exact match", "ROUGE-1 recall"};
    for (int m = 0; m < 3; m++)
        for (size_t c = 0; c < cells; c++)
            v[m * cells + c] = r->count[c] ? r->sum[order[m] * cells + c] / r->count[c] : 0;
    char title[512], sub[2048], bytes[256], pol[256], note[512], src[128];
    int n;
    double ex, rc, f;
    hw_niah_grid_result_overall(r, &n, &ex, &rc, &f);
    const int last = r->n_len - 1;
    char kb[32], fb[32];
    human_bytes(r->kv_bytes[last], kb, sizeof kb);
    human_bytes(r->kv_full[last], fb, sizeof fb);
    snprintf(title, sizeof title, "Needle in a haystack: %s, --kv %s (KV cache %s vs %s full at %d tokens)",
             r->label, r->policy, kb, fb, r->lengths[last]);
    bytes_note(r, bytes, sizeof bytes);
    policy_note(r, pol, sizeof pol);
    prefill_note(r, note, sizeof note);
    if (r->passkey) snprintf(src, sizeof src, "passkey retrieval, %d passkeys per cell", r->samples);
    else if (r->task) snprintf(src, sizeof src, "task %s, %d samples per cell", r->task, r->samples);
    else snprintf(src, sizeof src, "%d needle%s per cell", r->needles, r->needles == 1 ? "" : "s");
    snprintf(sub, sizeof sub, "%s. %s. %s. %s; %d trials: exact %.3f, ROUGE-1 recall %.3f, F %.3f.", bytes, pol,
             note, src, n, ex, rc, f);
    hw_niah_html page = {.title = title, .subtitle = sub, .n_x = r->n_len, .n_y = r->n_dep, .x = r->lengths,
                         .y = r->depths, .n_metrics = 3, .metric_names = names, .values = v, .counts = r->count};
    hw_status s = hw_niah_html_write(&page, path);
    free(v);
    return s;
}

static void print_plane(const hw_niah_grid_result *r, FILE *f, int k, const char *what) {
    const size_t cells = (size_t)r->n_len * r->n_dep;
    fprintf(f, "# %s (%%): depth down, context length across\ndepth", what);
    for (int li = 0; li < r->n_len; li++) fprintf(f, "\t%d", r->lengths[li]);
    fputc('\n', f);
    for (int di = 0; di < r->n_dep; di++) {
        fprintf(f, "%d%%", r->depths[di]);
        for (int li = 0; li < r->n_len; li++) {
            size_t at = (size_t)di * r->n_len + li;
            if (r->count[at]) fprintf(f, "\t%.0f", 100 * r->sum[k * cells + at] / r->count[at]);
            else fputs("\t-", f);
        }
        fputc('\n', f);
    }
}

void hw_niah_grid_result_print(const hw_niah_grid_result *r, FILE *f) {
    if (!r || !f) return;
    char bytes[256], pol[256];
    bytes_note(r, bytes, sizeof bytes);
    policy_note(r, pol, sizeof pol);
    fprintf(f, "# niah: %s, --kv %s (%s; prefill chunk %d)\n# %s\n", r->label, r->policy, pol, r->chunk, bytes);
    print_plane(r, f, 0, "exact match");
    print_plane(r, f, 2, "ROUGE-1 F");
    int n;
    double ex, rc, rf;
    hw_niah_grid_result_overall(r, &n, &ex, &rc, &rf);
    fprintf(f, "overall\t%d trials\texact %.4f\tROUGE-1 recall %.4f\tROUGE-1 F %.4f\n", n, ex, rc, rf);
}

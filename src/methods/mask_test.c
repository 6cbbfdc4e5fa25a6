/* mask_test.c: the Retrieval Head masking experiment (methods.md section 1.3): task
 * accuracy with the top-K heads of a score ranking masked, against K random heads drawn
 * outside the top-K (mean over draws), and optionally every head masked alone. Masking
 * is uniform attention (the paper's) or a zeroed output, during decoding only (the
 * paper's) or also in the prefill. */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

hw_mask_test_params hw_mask_test_params_default(void) {
    hw_mask_test_params p = {.column = -1, .top = 5, .draws = 10, .exclude = -1, .seed = 1,
                             .mode = HW_MASK_UNIFORM, .phase = HW_PHASE_DECODE,
                             .task = hw_task_eval_params_default(), .niah = hw_niah_params_default()};
    p.task.name = NULL;
    return p;
}

struct hw_mask_test_result {
    hw_mask_mode mode;
    hw_phase phase;
    int L, H, K, draws, exclude, singles, ties;
    double base[2], top[2], random_mean[2];  /* exact, recall */
    hw_head *top_heads;     /* (K) */
    hw_head *draw_heads;    /* (draws, K) */
    double *draw_acc;       /* (draws, 2) */
    int *order;             /* (L * H) heads by rank */
    double *single_acc;     /* (L * H, 2) by head index */
};

/* The task the heads are masked on: prompts, NIAH trials or a synthetic task. */
typedef struct {
    const hw_tokenizer *t;
    hw_context *ctx;
    int np, **ids, *lens, **ans, *n_ans;   /* prompts: (np) each */
    hw_niah *niah;
    hw_task *task;
    const hw_task_eval_params *tp;
    int *gen;
} evaluator;

static int greedy(evaluator *e, const int *prompt, int n, int max_new, const hw_hooks *hooks, char *text,
                  size_t cap) {
    hw_greedy_params g = hw_greedy_params_default();
    g.max_new = max_new;
    g.stop = HW_STOP_EOS | HW_STOP_NEWLINE;
    g.decode_last = 1;
    g.hooks = hooks;
    return hw_greedy(e->ctx, e->t, prompt, n, &g, e->gen, text, cap);
}

/* Exact rate and mean recall with hooks. */
static hw_status evaluate(evaluator *e, const hw_hooks *hooks, double *exact, double *recall) {
    if (e->task) return hw_task_evaluate_hooked(e->task, e->ctx, e->tp->seed, e->tp->samples, hooks, exact, recall);
    int right = 0, total = 0;
    double rsum = 0;
    for (int p = 0; p < e->np; p++) {
        int got = greedy(e, e->ids[p], e->lens[p], e->n_ans[p], hooks, NULL, 0);
        if (got < 0) return HW_ERR_ARG;
        int hit = 0;
        for (int k = 0; k < got && k < e->n_ans[p]; k++) hit += e->gen[k] == e->ans[p][k];
        right += got == e->n_ans[p] && hit == got;
        rsum += (double)hit / e->n_ans[p];
        total++;
    }
    for (int i = 0; e->niah && i < hw_niah_trial_count(e->niah); i++) {
        int *prompt, s0, s1, needle;
        char text[4096];
        int n = hw_niah_trial_prompt(e->niah, i, &prompt, &s0, &s1);
        if (n < 0) return HW_ERR_ARG;
        int got = greedy(e, prompt, n, hw_niah_max_new(e->niah), hooks, text, sizeof text);
        free(prompt);
        if (got < 0) return HW_ERR_ARG;
        hw_niah_trial_key(e->niah, i, &needle, NULL, NULL);
        double r = hw_rouge1_recall(hw_niah_answer(e->niah, needle), text);
        rsum += r;
        right += r >= 1;
        total++;
    }
    *exact = total ? (double)right / total : 0;
    *recall = total ? rsum / total : 0;
    return HW_OK;
}

static hw_status masked(evaluator *e, const hw_head *heads, int n, hw_mask_mode mode, hw_phase phase,
                        double acc[2]) {
    hw_hooks *h = hw_hooks_new();
    if (!h) return HW_ERR_NOMEM;
    hw_status s = n == 0 ? HW_OK : mode == HW_MASK_ZERO ? hw_hooks_zero_output(h, heads, n, phase)
                                                        : hw_hooks_mask_uniform(h, heads, n, phase);
    if (!s) s = evaluate(e, h, &acc[0], &acc[1]);
    hw_hooks_free(h);
    return s;
}

/* The prompts (with BOS) and their answers (without), checked to fit the context. */
static hw_status encode_prompts(evaluator *e, const hw_prompts *ps, int *max_new) {
    e->np = hw_prompts_count(ps);
    e->ids = calloc((size_t)e->np * 2, sizeof(int *));
    e->lens = calloc((size_t)e->np * 2, sizeof(int));
    if (!e->ids || !e->lens) return hw_fail(HW_ERR_NOMEM, "out of memory");
    e->ans = e->ids + e->np;
    e->n_ans = e->lens + e->np;
    const int C = hw_context_size(e->ctx);
    for (int p = 0; p < e->np; p++) {
        const char *answer = hw_prompts_answer(ps, p, 0);
        if (!answer) return hw_fail(HW_ERR_ARG, "prompt %d has no answer", p + 1);
        if ((e->lens[p] = hw_tokenizer_encode_alloc(e->t, hw_prompts_text(ps, p), HW_TOK_BOS, &e->ids[p])) < 0 ||
            (e->n_ans[p] = hw_tokenizer_encode_alloc(e->t, answer, 0, &e->ans[p])) < 0)
            return HW_ERR_ARG;
        if (e->n_ans[p] < 1) return hw_fail(HW_ERR_ARG, "prompt %d: the answer encodes to no token", p + 1);
        if (e->lens[p] < 2) return hw_fail(HW_ERR_ARG, "prompt %d is empty", p + 1);
        if (e->lens[p] + e->n_ans[p] > C)
            return hw_fail(HW_ERR_RANGE, "prompt %d with its answer (%d tokens) is longer than the model's "
                           "context (%d)", p + 1, e->lens[p] + e->n_ans[p], C);
        if (e->n_ans[p] > *max_new) *max_new = e->n_ans[p];
    }
    return HW_OK;
}

/* The task of p, ready to evaluate; *phase becomes HW_PHASE_BOTH for a task scored
 * teacher-forced, where there is no decoding to mask. */
static hw_status open_task(evaluator *e, const hw_model *m, const hw_mask_test_params *p, hw_phase *phase) {
    int max_new = 1;
    if (!(e->ctx = hw_context_new_kv(m, 0, p->kv))) return HW_ERR_NOMEM;
    if (p->prompts) {
        if (encode_prompts(e, p->prompts, &max_new)) return HW_ERR_ARG;
    } else if (p->task.name) {
        if (p->task.samples < 1) return hw_fail(HW_ERR_ARG, "samples must be at least 1");
        if (!(e->task = hw_task_new_for_model(m, &p->task))) return HW_ERR_ARG;
        e->tp = &p->task;
        if (!hw_task_is_greedy(e->task) && *phase == HW_PHASE_DECODE) *phase = HW_PHASE_BOTH;
    } else {
        if (!(e->niah = hw_niah_new(m, e->t, &p->niah))) return HW_ERR_ARG;
        max_new = hw_niah_max_new(e->niah);
    }
    if (!(e->gen = malloc(sizeof(int) * (size_t)max_new))) return hw_fail(HW_ERR_NOMEM, "out of memory");
    return HW_OK;
}

static void close_task(evaluator *e) {
    for (int p = 0; e->ids && p < e->np; p++) {
        free(e->ids[p]);
        free(e->ans[p]);
    }
    free(e->ids);
    free(e->lens);
    free(e->gen);
    hw_niah_free(e->niah);
    hw_task_free(e->task);
    hw_context_free(e->ctx);
}

/* Heads ranked by their key (the mean of their list, or one column of it; negated when
 * ascending); heads the file lacks rank as 0. A top K that is one tie with the best head
 * left out is no choice (every score 0 once masked heads 0.0-0.4 in index order). */
static hw_status rank_heads(hw_mask_test_result *r, const hw_mask_test_params *p) {
    const hw_head_scores *s = p->scores;
    const int sL = hw_head_scores_layers(s), sH = hw_head_scores_heads(s), N = r->L * r->H, K = r->K;
    double *key = calloc((size_t)N + (size_t)sL * sH, sizeof(double)), *mean = key + N;
    if (!key) return hw_fail(HW_ERR_NOMEM, "out of memory");
    hw_head_scores_mean(s, mean);
    for (int l = 0; l < sL; l++)
        for (int h = 0; h < sH; h++) {
            int cnt;
            const double *vals = hw_head_scores_values(s, l, h, &cnt);
            double x = p->column >= 0 ? (p->column < cnt ? vals[p->column] : 0) : mean[l * sH + h];
            key[l * r->H + h] = p->ascending ? -x : x;
        }
    hw_scores_rank(key, N, r->order);
    hw_status st = HW_OK;
    if (K < N) {
        double edge = key[r->order[K]];
        if (key[r->order[0]] == edge)
            st = hw_fail(HW_ERR_ARG, "the scores cannot choose the top %d heads: they all tie with the "
                         "heads after them (at %g%s)", K, p->ascending ? -edge : edge,
                         edge == 0 ? ": are the scores all 0?" : "");
        for (int i = 0; i < K; i++) r->ties += key[r->order[i]] == edge;
    }
    free(key);
    return st;
}

static hw_status check_params(const hw_model *m, const hw_tokenizer *t, const hw_mask_test_params *p) {
    if (!m || !t || !p || !p->scores) return hw_fail(HW_ERR_ARG, "hw_mask_test_run: no model, tokenizer, params or scores");
    const hw_config *cfg = hw_model_config(m);
    const int L = cfg->n_layer, H = cfg->n_head, N = L * H;
    const int sL = hw_head_scores_layers(p->scores), sH = hw_head_scores_heads(p->scores);
    if (sL != L || sH > H)
        return hw_fail(HW_ERR_ARG, "the scores have %d layers x %d heads; the model has %d x %d", sL, sH, L, H);
    if (p->mode != HW_MASK_UNIFORM && p->mode != HW_MASK_ZERO) return hw_fail(HW_ERR_ARG, "mask mode %d unknown", p->mode);
    if (p->phase != HW_PHASE_DECODE && p->phase != HW_PHASE_BOTH && p->phase != HW_PHASE_PREFILL)
        return hw_fail(HW_ERR_ARG, "phase %d unknown", p->phase);
    int exclude = p->exclude < 0 ? p->top : p->exclude;
    if (p->top < 1 || p->draws < 0) return hw_fail(HW_ERR_ARG, "top must be >= 1 and draws >= 0");
    if (p->top > N || exclude > N || (p->draws && N - exclude < p->top))
        return hw_fail(HW_ERR_ARG, "the model has %d heads: too few for top %d and %d random outside the top %d",
                       N, p->top, p->top, exclude);
    return HW_OK;
}

static hw_mask_test_result *new_result(const hw_model *m, const hw_mask_test_params *p) {
    const hw_config *cfg = hw_model_config(m);
    hw_mask_test_result *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    *r = (hw_mask_test_result){.mode = p->mode, .phase = p->phase, .L = cfg->n_layer, .H = cfg->n_head,
                               .K = p->top, .draws = p->draws, .exclude = p->exclude < 0 ? p->top : p->exclude,
                               .singles = p->singles != 0};
    size_t N = (size_t)r->L * r->H;
    r->top_heads = malloc(sizeof(hw_head) * (size_t)r->K);
    r->draw_heads = malloc(sizeof(hw_head) * ((size_t)r->draws * r->K + 1));
    r->draw_acc = calloc((size_t)r->draws * 2 + 1, sizeof(double));
    r->order = malloc(sizeof(int) * N);
    r->single_acc = calloc(N * 2, sizeof(double));
    if (!r->top_heads || !r->draw_heads || !r->draw_acc || !r->order || !r->single_acc) {
        hw_mask_test_result_free(r);
        return NULL;
    }
    return r;
}

/* Progress before an evaluation; non-zero to stop. */
static hw_status step(hw_progress_fn progress, void *user, int *done, int total, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static hw_status step(hw_progress_fn progress, void *user, int *done, int total, const char *fmt, ...) {
    if (!progress) return HW_OK;
    char stage[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(stage, sizeof stage, fmt, ap);
    va_end(ap);
    return progress(stage, (*done)++, total, user) ? hw_fail(HW_ERR_ARG, "stopped by the caller") : HW_OK;
}

/* K distinct heads uniformly from ranks [exclude, N) per draw: a partial Fisher-Yates on
 * the library's stream, seeded once for all draws. */
static hw_status random_draws(hw_mask_test_result *r, evaluator *e, const hw_mask_test_params *p,
                              hw_progress_fn progress, void *user, int *done, int total) {
    const int N = r->L * r->H, K = r->K, pool = N - r->exclude;
    int *cand = malloc(sizeof(int) * (size_t)(pool > 0 ? pool : 1));
    if (!cand) return hw_fail(HW_ERR_NOMEM, "out of memory");
    hw_rng rng = {p->seed};
    hw_status s = HW_OK;
    for (int d = 0; d < r->draws && !s; d++) {
        hw_head *heads = r->draw_heads + (size_t)d * K;
        for (int i = 0; i < pool; i++) cand[i] = r->order[r->exclude + i];
        for (int i = 0; i < K; i++) {
            int j = i + (int)(hw_rng_next(&rng) % (uint64_t)(pool - i));
            int tmp = cand[i];
            cand[i] = cand[j];
            cand[j] = tmp;
            heads[i] = (hw_head){cand[i] / r->H, cand[i] % r->H};
        }
        if (!(s = step(progress, user, done, total, "random draw %d/%d", d + 1, r->draws)))
            s = masked(e, heads, K, r->mode, r->phase, r->draw_acc + 2 * d);
        r->random_mean[0] += r->draw_acc[2 * d] / r->draws;
        r->random_mean[1] += r->draw_acc[2 * d + 1] / r->draws;
    }
    free(cand);
    return s;
}

static hw_status run_all(hw_mask_test_result *r, evaluator *e, const hw_mask_test_params *p,
                         hw_progress_fn progress, void *user) {
    const int N = r->L * r->H, total = 2 + r->draws + (r->singles ? N : 0);
    int done = 0;
    hw_status s = step(progress, user, &done, total, "baseline");
    if (!s) s = masked(e, NULL, 0, r->mode, r->phase, r->base);
    for (int i = 0; i < r->K; i++) r->top_heads[i] = (hw_head){r->order[i] / r->H, r->order[i] % r->H};
    if (!s) s = step(progress, user, &done, total, "top %d masked", r->K);
    if (!s) s = masked(e, r->top_heads, r->K, r->mode, r->phase, r->top);
    if (!s) s = random_draws(r, e, p, progress, user, &done, total);
    for (int k = 0; r->singles && k < N && !s; k++) {
        hw_head h = {r->order[k] / r->H, r->order[k] % r->H};
        if (!(s = step(progress, user, &done, total, "head %d.%d alone (%d/%d)", h.layer, h.head, k + 1, N)))
            s = masked(e, &h, 1, r->mode, r->phase, r->single_acc + 2 * r->order[k]);
    }
    return s;
}

hw_status hw_mask_test_run(const hw_model *m, const hw_tokenizer *t, const hw_mask_test_params *p,
                           hw_progress_fn progress, void *user, hw_mask_test_result **out) {
    if (!out) return hw_fail(HW_ERR_ARG, "hw_mask_test_run: no result pointer");
    *out = NULL;
    hw_status s = check_params(m, t, p);
    if (s) return s;
    hw_mask_test_result *r = new_result(m, p);
    if (!r) return hw_fail(HW_ERR_NOMEM, "out of memory");
    evaluator e = {.t = t};
    s = rank_heads(r, p);
    if (!s) s = open_task(&e, m, p, &r->phase);
    if (!s) s = run_all(r, &e, p, progress, user);
    close_task(&e);
    if (s) {
        hw_mask_test_result_free(r);
        return s;
    }
    *out = r;
    return HW_OK;
}

void hw_mask_test_result_free(hw_mask_test_result *r) {
    if (!r) return;
    free(r->top_heads);
    free(r->draw_heads);
    free(r->draw_acc);
    free(r->order);
    free(r->single_acc);
    free(r);
}

hw_mask_mode hw_mask_test_result_mode(const hw_mask_test_result *r) { return r ? r->mode : HW_MASK_UNIFORM; }
hw_phase hw_mask_test_result_phase(const hw_mask_test_result *r) { return r ? r->phase : HW_PHASE_DECODE; }
int hw_mask_test_result_ties(const hw_mask_test_result *r) { return r ? r->ties : 0; }
int hw_mask_test_result_draw_count(const hw_mask_test_result *r) { return r ? r->draws : 0; }
int hw_mask_test_result_single_count(const hw_mask_test_result *r) { return r && r->singles ? r->L * r->H : 0; }

static void get2(const double *v, double *exact, double *recall) {
    if (exact) *exact = v ? v[0] : 0;
    if (recall) *recall = v ? v[1] : 0;
}

void hw_mask_test_result_baseline(const hw_mask_test_result *r, double *exact, double *recall) {
    get2(r ? r->base : NULL, exact, recall);
}

const hw_head *hw_mask_test_result_top(const hw_mask_test_result *r, int *k, double *exact, double *recall) {
    if (k) *k = r ? r->K : 0;
    get2(r ? r->top : NULL, exact, recall);
    return r ? r->top_heads : NULL;
}

const hw_head *hw_mask_test_result_draw(const hw_mask_test_result *r, int d, double *exact, double *recall) {
    int ok = r && d >= 0 && d < r->draws;
    get2(ok ? r->draw_acc + 2 * d : NULL, exact, recall);
    return ok ? r->draw_heads + (size_t)d * r->K : NULL;
}

void hw_mask_test_result_random_mean(const hw_mask_test_result *r, double *exact, double *recall) {
    get2(r ? r->random_mean : NULL, exact, recall);
}

hw_status hw_mask_test_result_single(const hw_mask_test_result *r, int rank, hw_head *head, double *exact,
                                     double *recall) {
    if (!r || !r->singles || rank < 0 || rank >= r->L * r->H)
        return hw_fail(HW_ERR_ARG, "mask test: no single of rank %d", rank);
    int i = r->order[rank];
    if (head) *head = (hw_head){i / r->H, i % r->H};
    get2(r->single_acc + 2 * i, exact, recall);
    return HW_OK;
}

static void put_heads(FILE *f, const hw_head *h, int n) {
    for (int i = 0; i < n; i++) fprintf(f, "%s\"%d-%d\"", i ? ", " : "", h[i].layer, h[i].head);
}

hw_status hw_mask_test_result_write(const hw_mask_test_result *r, const char *path) {
    if (!r || !path) return hw_fail(HW_ERR_ARG, "hw_mask_test_result_write: no result or path");
    hw_atomic_file *a = hw_atomic_open(path);
    if (!a) return HW_ERR_IO;
    FILE *f = hw_atomic_stream(a);
    static const char *const phases[] = {"both", "prefill", "decode"};
    fprintf(f, "{\"mode\": \"%s\", \"phase\": \"%s\", \"baseline\": {\"exact\": %.6f, \"recall\": %.6f},\n",
            r->mode == HW_MASK_ZERO ? "zero" : "uniform", phases[r->phase], r->base[0], r->base[1]);
    fputs(" \"top\": {\"heads\": [", f);
    put_heads(f, r->top_heads, r->K);
    fprintf(f, "], \"exact\": %.6f, \"recall\": %.6f},\n \"random\": [", r->top[0], r->top[1]);
    for (int d = 0; d < r->draws; d++) {
        fprintf(f, "%s{\"heads\": [", d ? ", " : "");
        put_heads(f, r->draw_heads + (size_t)d * r->K, r->K);
        fprintf(f, "], \"exact\": %.6f, \"recall\": %.6f}", r->draw_acc[2 * d], r->draw_acc[2 * d + 1]);
    }
    fprintf(f, "],\n \"random_mean\": {\"exact\": %.6f, \"recall\": %.6f}", r->random_mean[0], r->random_mean[1]);
    if (r->singles) {
        fputs(",\n \"singles\": {", f);
        for (int k = 0; k < r->L * r->H; k++) {
            int i = r->order[k];
            fprintf(f, "%s\"%d-%d\": {\"rank\": %d, \"exact\": %.6f, \"recall\": %.6f}", k ? ", " : "", i / r->H,
                    i % r->H, k + 1, r->single_acc[2 * i], r->single_acc[2 * i + 1]);
        }
        fputc('}', f);
    }
    fputs("}\n", f);
    return hw_atomic_commit(a);
}

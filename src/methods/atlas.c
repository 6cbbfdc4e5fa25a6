/*
 * atlas.c: the head atlas (include/headwise.h, "head atlas"): every head probe that
 * applies to a model, run once each through its own protocol (retrieval score, section
 * 1; echo / induction / previous-token probe, section 3.1; successor score, section 5;
 * memory vs in-context attribution, section 6; DuoAttention gates, section 2.3), plus a
 * streaming score from one pass over a probe prompt, then labels from thresholds. The
 * masking and the KV policy are in atlas_mask.c, the files in atlas_write.c.
 *
 * Text models are probed with text: random ids leave a story model's heads idle (on
 * stories260K no head reaches 0.05 previous-token score on random ids, head 1.3 about
 * 0.6 on a story sentence).
 */
#include "atlas.h"

#include "eval/eval.h"
#include "report/pattern_view.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *const hw_atlas_score_names[AS_COUNT] = {"retrieval", "echo", "induction", "prev_token",
                                                    "successor", "attribution", "streaming", "duo_gate"};
static const char *const label_names[HW_ATLAS_LABELS] = {
    "retrieval", "induction", "previous-token", "echo", "successor", "memory", "in-context", "streaming", "other"};

const char *hw_atlas_label_name(hw_atlas_label label) {
    return (int)label >= 0 && label < HW_ATLAS_LABELS ? label_names[label] : NULL;
}

hw_atlas_params hw_atlas_params_default(void) {
    hw_atlas_params p = {.task = hw_task_eval_params_default(), .niah = hw_niah_params_default(),
                         .echo_repeats = 4, .mask_max = 8, .sink = 4};
    p.task.name = NULL;
    p.task.samples = 50;
    p.niah.n_lengths = 2;
    p.niah.n_depths = 3;
    p.niah.max_new = 20;
    p.thresholds = (hw_atlas_thresholds){.retrieval = 0.1, .induction = 0.3, .prev_token = 0.3, .echo = 0.2,
                                         .successor = 0.5, .memory = 0.5, .in_context = 0.5, .streaming = 0.95};
    return p;
}

void hw_atlas_free(hw_atlas_result *r) {
    if (!r) return;
    for (int i = 0; i < AS_COUNT; i++) free(r->score[i]);
    for (int i = 0; r->text && i < r->T; i++) free(r->text[i]);
    free(r->text);
    free(r->tok);
    free(r->pat);
    free(r->lab);
    free(r->nlab);
    free(r->mask);
    free(r->full);
    free(r->label);
    free(r->task);
    free(r);
}

void hw_atlas_shape(const hw_atlas_result *r, int *layers, int *heads, int *kv_heads) {
    if (layers) *layers = r ? r->L : 0;
    if (heads) *heads = r ? r->H : 0;
    if (kv_heads) *kv_heads = r ? r->Hk : 0;
}

const double *hw_atlas_score(const hw_atlas_result *r, const char *name) {
    for (int i = 0; r && name && i < AS_COUNT; i++)
        if (!strcmp(name, hw_atlas_score_names[i])) return r->score[i];
    return NULL;
}

int hw_atlas_labels(const hw_atlas_result *r, int layer, int head, hw_atlas_label labels[2]) {
    if (!r || layer < 0 || layer >= r->L || head < 0 || head >= r->H) return -1;
    const int i = layer * r->H + head;
    for (int k = 0; k < r->nlab[i] && labels; k++) labels[k] = (hw_atlas_label)r->lab[i][k];
    return r->nlab[i];
}

hw_status hw_atlas_mask_effect_get(const hw_atlas_result *r, int layer, int head, hw_atlas_mask_effect *out) {
    if (!r || !out || layer < 0 || layer >= r->L || head < 0 || head >= r->H)
        return hw_fail(HW_ERR_ARG, "atlas: no head %d.%d", layer, head);
    const atlas_mask *k = &r->mask[layer * r->H + head];
    *out = (hw_atlas_mask_effect){k->measured, k->task, k->metric, k->baseline, k->masked};
    return HW_OK;
}

void hw_atlas_kv_get(const hw_atlas_result *r, hw_atlas_kv *out) {
    if (!r || !out) return;
    *out = (hw_atlas_kv){r->n_full, r->full, r->sink, r->recent, r->context, r->bytes_full, r->bytes_policy,
                         r->evaluated, r->eval_task, r->acc_full, r->acc_policy};
}

int hw_atlas_probe(const hw_atlas_result *r, const int **tokens, const char *const **texts) {
    if (!r) return 0;
    if (tokens) *tokens = r->tok;
    if (texts) *texts = (const char *const *)r->text;
    return r->T;
}

/* ---------------------------------------------------------------- the probe prompt */

/* The probe text's tokens (no BOS): p->text, else the default haystack. */
static int probe_text_ids(const hw_tokenizer *t, const hw_atlas_params *p, int **ids) {
    char *own = NULL;
    const char *text = p->text;
    if (!text) {
        char path[4096];
        if (hw_niah_default_haystack(p->niah.data_dir, path, sizeof path)) return -1;
        if (!(own = hw_read_text(path))) return -1;
        text = own;
    }
    int n = hw_tokenizer_encode_alloc(t, text, 0, ids);
    free(own);
    if (n >= 0 && n < 2) {
        free(*ids);
        *ids = NULL;
        hw_fail(HW_ERR_ARG, "atlas: the probe text has %d token(s); it needs at least 2", n);
        return -1;
    }
    return n;
}

/* A text model's probe: BOS (if any) and a block of the text's first tokens twice, T in
 * all, so that the second copy shows previous-token, induction and echo heads at work. An
 * organism's: held-out sample 0 of its task. */
static hw_status probe_prompt(hw_atlas_result *r, const hw_tokenizer *t, const hw_atlas_params *p,
                              const hw_task *task, const int *text_ids, int n_text) {
    if (task) {
        r->T = hw_task_seq_len(task);
        int *tgt = malloc((size_t)r->T * sizeof *tgt);
        r->tok = malloc((size_t)r->T * sizeof *r->tok);
        hw_status s = !tgt || !r->tok ? hw_fail(HW_ERR_NOMEM, "atlas: out of memory")
                                      : hw_task_sample(task, p->task.seed, 0, r->tok, tgt, NULL);
        free(tgt);
        return s;
    }
    const int bos = hw_tokenizer_bos(t), first = bos >= 0;
    int T = p->probe_tokens > 0 ? p->probe_tokens : 256;
    if (T > r->C) T = r->C;
    int block = (T - first) / 2;
    if (block > n_text) block = n_text;
    if (block < 2) return hw_fail(HW_ERR_ARG, "atlas: a probe of %d tokens is too short", T);
    r->T = first + 2 * block;
    if (!(r->tok = malloc((size_t)r->T * sizeof *r->tok))) return hw_fail(HW_ERR_NOMEM, "atlas: out of memory");
    if (first) r->tok[0] = bos;
    for (int i = 0; i < 2 * block; i++) r->tok[first + i] = text_ids[i % block];
    return HW_OK;
}

static hw_status token_texts(hw_atlas_result *r, const hw_tokenizer *t) {
    if (!(r->text = calloc((size_t)r->T, sizeof *r->text))) return hw_fail(HW_ERR_NOMEM, "atlas: out of memory");
    for (int i = 0; i < r->T; i++) {
        size_t n = 0;
        const char *s = t ? hw_tokenizer_decode(t, i ? r->tok[i - 1] : -1, r->tok[i], &n) : NULL;
        char num[16];
        if (!s) n = (size_t)snprintf(num, sizeof num, "%d", r->tok[i]), s = num;
        if (!(r->text[i] = malloc(n + 1))) return hw_fail(HW_ERR_NOMEM, "atlas: out of memory");
        memcpy(r->text[i], s, n);
        r->text[i][n] = 0;
    }
    return HW_OK;
}

/* ---------------------------------------------------------------- streaming score and patterns */

typedef struct {
    hw_atlas_result *r;
    double *acc;            /* (L * H, R, R) binned patterns */
    double *mass, *rows;    /* (L * H) streaming mass and its query rows */
} probe_pass;

/* Per layer's pattern (H, Tq, P): each query at i >= sink + recent adds its mass on the
 * sinks and the recent window; every row goes into its head's bins. */
static int probe_hook(hw_hook_call *c, void *user) {
    if (c->point != HW_HOOK_PATTERN) return 0;
    if (c->ask) return 1;
    probe_pass *pp = user;
    hw_atlas_result *r = pp->r;
    const int H = c->shape[0], Tq = c->shape[1], P = c->shape[2], S = r->sink, W = r->recent;
    for (int h = 0; h < H; h++) {
        const int i = c->layer * r->H + h;
        const float *a = c->data + (size_t)h * Tq * P;
        hw_view_bin_rows(pp->acc + (size_t)i * r->R * r->R, a, Tq, c->pos, P, r->T, r->R);
        for (int q = 0; q < Tq; q++) {
            const int abs = c->pos + q;
            if (abs < S + W) continue;
            double s = 0;
            for (int k = 0; k < S; k++) s += a[(size_t)q * P + k];
            for (int k = abs - W + 1; k <= abs; k++) s += a[(size_t)q * P + k];
            pp->mass[i] += s;
            pp->rows[i] += 1;
        }
    }
    return 0;
}

static hw_status probe_run(hw_atlas_result *r, const hw_model *m, hw_progress_fn progress, void *user) {
    const int N = r->L * r->H;
    r->R = hw_view_bins(r->T, N, HW_VIEW_BUDGET);
    probe_pass pp = {r, calloc((size_t)N * r->R * r->R, sizeof(double)), calloc((size_t)N, sizeof(double)),
                     calloc((size_t)N, sizeof(double))};
    r->pat = malloc((size_t)N * hw_view_packed_size(r->R));
    r->score[AS_STREAMING] = calloc((size_t)N, sizeof(double));
    hw_context *c = pp.acc && pp.mass && pp.rows && r->pat && r->score[AS_STREAMING] ? hw_context_new(m, r->T) : NULL;
    hw_hooks *h = c ? hw_hooks_new() : NULL;
    hw_status s = h ? hw_hooks_add(h, probe_hook, &pp) : hw_fail(HW_ERR_NOMEM, "atlas: out of memory");
    /* 64 query rows per call bound the pattern the engine materialises (H x 64 x T). */
    for (int q0 = 0; !s && q0 < r->T; q0 += 64) {
        const int n = r->T - q0 < 64 ? r->T - q0 : 64;
        if (!(s = hw_progress_step(progress, user, "atlas", "probe prompt", q0, r->T)))
            s = hw_forward_hooked(c, r->tok + q0, n, HW_LOGITS_NONE, NULL, h);
    }
    for (int i = 0; !s && i < N; i++) {
        r->score[AS_STREAMING][i] = pp.rows[i] > 0 ? pp.mass[i] / pp.rows[i] : 1;
        hw_view_pack(pp.acc + (size_t)i * r->R * r->R, r->T, r->R, r->pat + (size_t)i * hw_view_packed_size(r->R));
    }
    if (!s && r->T <= r->sink + r->recent) {   /* every query sees only its window: no score */
        snprintf(r->probe_note[AS_STREAMING], sizeof r->probe_note[0],
                 "probe of %d tokens within sink %d + recent %d: not scored", r->T, r->sink, r->recent);
        free(r->score[AS_STREAMING]);
        r->score[AS_STREAMING] = NULL;
    }
    hw_hooks_free(h);
    hw_context_free(c);
    free(pp.acc);
    free(pp.mass);
    free(pp.rows);
    return s;
}

/* ---------------------------------------------------------------- the protocols */

static double *copy_column(const hw_head_table *tb, const char *name, int N) {
    const double *v = hw_head_table_column(tb, name);
    double *out = v ? malloc((size_t)N * sizeof *out) : NULL;
    if (out) memcpy(out, v, (size_t)N * sizeof *out);
    return out;
}

/* A text model's echo probe: the probe text's first tokens as text, as many as
 * `repeats` copies of them (and BOS) fit in the context. */
static char *echo_text(const hw_tokenizer *t, const int *ids, int n, int C, int repeats) {
    int block = (C - 1) / repeats;
    if (block > n) block = n;
    if (block > 512) block = 512;   /* the probe's cost grows as T^2; 512 x 4 suffices */
    while (block >= 2) {
        size_t cap = 16, len = 0;
        char *s = malloc(cap);
        for (int i = 0; s && i < block; i++) {
            size_t k;
            const char *piece = hw_tokenizer_decode(t, i ? ids[i - 1] : -1, ids[i], &k);
            if (!piece) continue;
            if (len + k + 1 > cap) {
                char *g = realloc(s, cap = 2 * (len + k + 1));
                if (!g) free(s);
                s = g;
            }
            if (s) memcpy(s + len, piece, k), len += k;
        }
        if (!s) return NULL;
        s[len] = 0;
        int *re = NULL, k = hw_tokenizer_encode_alloc(t, s, 0, &re);
        free(re);
        if (k >= 2 && 1 + (size_t)k * repeats <= (size_t)C) return s;
        free(s);
        block = block * 9 / 10;   /* re-encoding merged differently: shorter */
    }
    hw_fail(HW_ERR_ARG, "atlas: no echo probe of %d copies fits the context %d", repeats, C);
    return NULL;
}

static hw_status run_echo(hw_atlas_result *r, const hw_model *m, const hw_tokenizer *t, const hw_atlas_params *p,
                          const int *text_ids, int n_text, hw_progress_fn progress, void *user) {
    hw_echo_induction_params ep = hw_echo_induction_params_default();
    ep.repeats = p->echo_repeats;
    char *text = NULL;
    if (!r->task && !(ep.text = text = echo_text(t, text_ids, n_text, r->C, ep.repeats))) return HW_ERR_ARG;
    hw_echo_induction_result *er = NULL;
    hw_status s = hw_echo_induction_run(m, t, &ep, progress, user, &er);
    free(text);
    if (s) return s;
    const hw_head_table *tb = hw_echo_induction_table(er);
    const int N = r->L * r->H;
    if (!(r->score[AS_ECHO] = copy_column(tb, "echo_mass", N)) ||
        !(r->score[AS_INDUCTION] = copy_column(tb, "induction_mass", N)) ||
        !(r->score[AS_PREV] = copy_column(tb, "prev_token", N)))
        s = hw_fail(HW_ERR_NOMEM, "atlas: out of memory");
    hw_echo_induction_free(er);
    return s;
}

static hw_status run_retrieval(hw_atlas_result *r, const hw_model *m, const hw_tokenizer *t,
                               const hw_atlas_params *p, hw_progress_fn progress, void *user) {
    hw_retrieval_params rp = hw_retrieval_params_default();
    if (r->task) rp.task = p->task;
    else rp.niah = hw_atlas_text_niah(r, p);
    hw_retrieval_result *rr = NULL;
    hw_status s = hw_retrieval_run(m, t, &rp, progress, user, &rr);
    if (s) return s;
    if (!(r->score[AS_RETRIEVAL] = malloc((size_t)r->L * r->H * sizeof(double))))
        s = hw_fail(HW_ERR_NOMEM, "atlas: out of memory");
    else hw_head_scores_mean(hw_retrieval_result_scores(rr), r->score[AS_RETRIEVAL]);
    if (!s && hw_retrieval_result_counted(rr) == 0)
        snprintf(r->probe_note[AS_RETRIEVAL], sizeof r->probe_note[0],
                 "no trial answered well enough to count (%d trials): every score 0", hw_retrieval_result_trials(rr));
    hw_retrieval_result_free(rr);
    return s;
}

/* The successor organism's tasks: data/tasks/successor_organism.txt, found beside the
 * default haystack (data/haystack/stories.txt). */
static hw_successor_tasks *organism_successor_tasks(const hw_tokenizer *t, const hw_atlas_params *p) {
    char path[4096];
    if (p->successor_tasks) return hw_successor_tasks_read(t, p->successor_tasks);
    if (hw_niah_default_haystack(p->niah.data_dir, path, sizeof path)) return NULL;
    char *slash = strrchr(path, '/');
    if (slash) *slash = 0;
    if ((slash = strrchr(path, '/'))) *slash = 0;   /* .../data */
    if (strlen(path) + 32 >= sizeof path) {
        hw_fail(HW_ERR_IO, "atlas: path too long");
        return NULL;
    }
    strcat(path, "/tasks/successor_organism.txt");
    return hw_successor_tasks_read(t, path);
}

static hw_status run_successor(hw_atlas_result *r, const hw_model *m, const hw_tokenizer *t,
                               const hw_atlas_params *p, hw_progress_fn progress, void *user) {
    hw_successor_tasks *ts = r->task && !strcmp(r->task, "successor") ? organism_successor_tasks(t, p)
                             : p->successor_tasks                     ? hw_successor_tasks_read(t, p->successor_tasks)
                                                                      : hw_successor_tasks_default(t);
    if (!ts) return HW_ERR_ARG;
    int pairs = 0;
    for (int i = 0; i < hw_successor_tasks_count(ts); i++) {
        hw_successor_task_info in;
        if (!hw_successor_tasks_get(ts, i, &in)) pairs += in.pairs;
    }
    hw_status s = HW_OK;
    if (!pairs) {
        snprintf(r->probe_note[AS_SUCCESSOR], sizeof r->probe_note[0],
                 "no successor task has two consecutive single-token items in this vocabulary");
    } else {
        hw_successor_params sp = hw_successor_params_default();
        sp.tasks = ts;
        hw_successor_result *sr = NULL;
        if (!(s = hw_successor_run(m, t, &sp, progress, user, &sr)) &&
            !(r->score[AS_SUCCESSOR] = copy_column(hw_successor_table(sr), "score", r->L * r->H)))
            s = hw_fail(HW_ERR_NOMEM, "atlas: out of memory");
        hw_successor_free(sr);
    }
    hw_successor_tasks_free(ts);
    return s;
}

static hw_status run_attribution(hw_atlas_result *r, const hw_model *m, const hw_tokenizer *t,
                                 const hw_atlas_params *p, hw_progress_fn progress, void *user) {
    hw_attribution_params ap = hw_attribution_params_default();
    if (p->prompts) ap.prompts = p->prompts;
    else {
        ap.task = "recall";
        ap.samples = p->task.samples < 100 ? 100 : p->task.samples;
        ap.task_seed = p->task.seed;
        ap.task_symbols = p->task.n_symbols;
    }
    hw_attribution_result *ar = NULL;
    hw_status s = hw_attribution_run(m, t, &ap, progress, user, &ar);
    if (!s && !(r->score[AS_ATTRIBUTION] = copy_column(hw_attribution_table(ar), "scaled", r->L * r->H)))
        s = hw_fail(HW_ERR_NOMEM, "atlas: out of memory");
    hw_attribution_free(ar);
    return s;
}

static hw_status run_gates(hw_atlas_result *r, const hw_atlas_params *p) {
    double *kv = NULL;
    hw_status s = hw_kv_head_scores_read(p->gates_path, NULL, r->L, r->H, r->Hk, &kv, NULL);
    if (s) return s;
    if (!(r->score[AS_GATE] = malloc((size_t)r->L * r->H * sizeof(double)))) s = hw_fail(HW_ERR_NOMEM, "atlas: out of memory");
    for (int l = 0; !s && l < r->L; l++)
        for (int h = 0; h < r->H; h++) r->score[AS_GATE][l * r->H + h] = kv[l * r->Hk + h / (r->H / r->Hk)];
    free(kv);
    return s;
}

/* ---------------------------------------------------------------- labels */

/* Every label whose score reaches its threshold, the two furthest above theirs (score /
 * threshold; a zero threshold counts any positive score as far above). */
static void label_heads(hw_atlas_result *r) {
    const hw_atlas_thresholds *th = &r->th;
    const int N = r->L * r->H;
    double amax = 0;
    for (int i = 0; r->score[AS_ATTRIBUTION] && i < N; i++)
        if (fabs(r->score[AS_ATTRIBUTION][i]) > amax) amax = fabs(r->score[AS_ATTRIBUTION][i]);
    for (int i = 0; i < N; i++) {
        double ratio[HW_ATLAS_LABELS] = {0};
        const struct { int label, score; double thr; } rule[] = {
            {HW_ATLAS_RETRIEVAL, AS_RETRIEVAL, th->retrieval}, {HW_ATLAS_INDUCTION, AS_INDUCTION, th->induction},
            {HW_ATLAS_PREV_TOKEN, AS_PREV, th->prev_token},    {HW_ATLAS_ECHO, AS_ECHO, th->echo},
            {HW_ATLAS_SUCCESSOR, AS_SUCCESSOR, th->successor}, {HW_ATLAS_STREAMING, AS_STREAMING, th->streaming}};
        for (size_t k = 0; k < sizeof rule / sizeof *rule; k++) {
            const double *v = r->score[rule[k].score];
            if (v && v[i] > 0 && v[i] >= rule[k].thr) ratio[rule[k].label] = rule[k].thr > 0 ? v[i] / rule[k].thr : 1e9;
        }
        if (amax > 0) {
            const double a = r->score[AS_ATTRIBUTION][i] / amax;
            if (a > 0 && a >= th->memory) ratio[HW_ATLAS_MEMORY] = th->memory > 0 ? a / th->memory : 1e9;
            if (a < 0 && -a >= th->in_context) ratio[HW_ATLAS_IN_CONTEXT] = th->in_context > 0 ? -a / th->in_context : 1e9;
        }
        r->nlab[i] = 0;
        for (int pick = 0; pick < 2; pick++) {
            int best = -1;
            for (int l = 0; l < HW_ATLAS_OTHER; l++)
                if (ratio[l] > 0 && (best < 0 || ratio[l] > ratio[best])) best = l;
            if (best < 0) break;
            r->lab[i][r->nlab[i]++] = (unsigned char)best;
            ratio[best] = 0;
        }
    }
}

/* ---------------------------------------------------------------- the run */

static hw_status check_params(const hw_tokenizer *t, const hw_atlas_params *p) {
    const hw_atlas_thresholds *th = &p->thresholds;
    const double v[] = {th->retrieval, th->induction, th->prev_token, th->echo, th->successor, th->memory,
                        th->in_context, th->streaming};
    for (size_t i = 0; i < sizeof v / sizeof *v; i++)
        if (!isfinite(v[i]) || v[i] < 0) return hw_fail(HW_ERR_ARG, "atlas: threshold %g is not a finite number >= 0", v[i]);
    if (p->sink < 0 || p->recent < 0 || p->kv_context < 0 || p->probe_tokens < 0 || p->mask_max < 0)
        return hw_fail(HW_ERR_ARG, "atlas: sink, recent, kv_context, probe_tokens and mask_max must be >= 0");
    if (p->echo_repeats < 2) return hw_fail(HW_ERR_ARG, "atlas: echo_repeats %d: at least 2", p->echo_repeats);
    if (!p->task.name && !t) return hw_fail(HW_ERR_ARG, "atlas: a text model needs its tokenizer");
    if (p->prompts && !t) return hw_fail(HW_ERR_ARG, "atlas: prompts need the tokenizer");
    return HW_OK;
}

static hw_atlas_result *result_new(const hw_model *m, const hw_atlas_params *p) {
    const hw_config *cfg = hw_model_config(m);
    hw_atlas_result *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->L = cfg->n_layer, r->H = cfg->n_head, r->Hk = cfg->n_kv_head, r->Dh = cfg->head_dim, r->C = cfg->n_ctx;
    r->th = p->thresholds;
    r->sink = p->sink;
    r->recent = p->recent > 0 ? p->recent : r->C / 4 - p->sink < 256 ? r->C / 4 - p->sink : 256;
    if (r->recent < 1) r->recent = 1;
    r->context = p->kv_context > 0 ? p->kv_context : r->C;
    const size_t N = (size_t)r->L * r->H;
    r->lab = calloc(N, sizeof *r->lab);
    r->nlab = calloc(N, sizeof *r->nlab);
    r->mask = calloc(N, sizeof *r->mask);
    r->full = calloc((size_t)r->L * r->Hk, sizeof *r->full);
    r->label = strdup(p->label ? p->label : "model");
    r->task = p->task.name ? strdup(p->task.name) : NULL;
    if (!r->lab || !r->nlab || !r->mask || !r->full || !r->label || (p->task.name && !r->task)) {
        hw_atlas_free(r);
        return NULL;
    }
    return r;
}

/* The probes' own progress, each stage named after its probe ("retrieval: <stage>"). */
typedef struct {
    hw_progress_fn fn;
    void *user;
    const char *probe;
} inner_progress;

static int inner_stage(const char *stage, int64_t done, int64_t total, void *user) {
    inner_progress *ip = user;
    char buf[256];
    snprintf(buf, sizeof buf, "%s: %s", ip->probe, stage ? stage : "");
    return ip->fn(buf, done, total, ip->user);
}

/* Which probes apply, and each probe's note when it does not. */
static hw_status run_probes(hw_atlas_result *r, const hw_model *m, const hw_tokenizer *t, const hw_atlas_params *p,
                            const int *text_ids, int n_text, hw_progress_fn fn, void *fn_user) {
    const char *task = r->task;
    hw_status s = HW_OK;
    char(*note)[160] = r->probe_note;
    inner_progress ip = {fn, fn_user, "echo-induction"};
    hw_progress_fn progress = fn ? inner_stage : NULL;
    void *user = &ip;
    if (p->skip & HW_ATLAS_SKIP_ECHO) snprintf(note[AS_ECHO], sizeof note[0], "skipped");
    else s = run_echo(r, m, t, p, text_ids, n_text, progress, user);
    if (s) return s;
    ip.probe = "retrieval";
    if (p->skip & HW_ATLAS_SKIP_RETRIEVAL) snprintf(note[AS_RETRIEVAL], sizeof note[0], "skipped");
    else if (task && strcmp(task, "retrieval")) snprintf(note[AS_RETRIEVAL], sizeof note[0], "task %s has no needles", task);
    else s = run_retrieval(r, m, t, p, progress, user);
    if (s) return s;
    ip.probe = "successor";
    if (p->skip & HW_ATLAS_SKIP_SUCCESSOR) snprintf(note[AS_SUCCESSOR], sizeof note[0], "skipped");
    else if (task && strcmp(task, "successor")) snprintf(note[AS_SUCCESSOR], sizeof note[0], "task %s has no ordinal items", task);
    else s = run_successor(r, m, t, p, progress, user);
    if (s) return s;
    ip.probe = "attribution";
    if (p->skip & HW_ATLAS_SKIP_ATTRIBUTION) snprintf(note[AS_ATTRIBUTION], sizeof note[0], "skipped");
    else if (!p->prompts && !(task && !strcmp(task, "recall")))
        snprintf(note[AS_ATTRIBUTION], sizeof note[0], "needs prompts (prompt, memorized, in-context) or task recall");
    else s = run_attribution(r, m, t, p, progress, user);
    if (s) return s;
    if (!p->gates_path) snprintf(note[AS_GATE], sizeof note[0], "no gates file given");
    else s = run_gates(r, p);
    return s;
}

hw_status hw_atlas_run(const hw_model *m, const hw_tokenizer *t, const hw_atlas_params *p,
                       hw_progress_fn progress, void *user, hw_atlas_result **out) {
    if (!out) return hw_fail(HW_ERR_ARG, "atlas: no result pointer");
    *out = NULL;
    if (!m || !p) return hw_fail(HW_ERR_ARG, "atlas: no model or params");
    hw_status s = check_params(t, p);
    if (s) return s;
    hw_atlas_result *r = result_new(m, p);
    if (!r) return hw_fail(HW_ERR_NOMEM, "atlas: out of memory");
    hw_task *task = NULL;
    int *text_ids = NULL, n_text = 0;
    if (p->task.name && !(task = hw_task_new_for_model(m, &p->task))) s = HW_ERR_ARG;
    else if (!p->task.name && (n_text = probe_text_ids(t, p, &text_ids)) < 0) s = HW_ERR_ARG;
    if (!s && p->gates_path) {   /* a bad gates file fails before the long work */
        double *g = NULL;
        s = hw_kv_head_scores_read(p->gates_path, NULL, r->L, r->H, r->Hk, &g, NULL);
        free(g);
    }
    if (!s) s = probe_prompt(r, t, p, task, text_ids, n_text);
    if (!s) s = token_texts(r, t);
    if (!s) s = probe_run(r, m, progress, user);
    if (!s) s = run_probes(r, m, t, p, text_ids, n_text, progress, user);
    if (!s) label_heads(r);
    if (!s && !(p->skip & HW_ATLAS_SKIP_MASK)) s = hw_atlas_mask_heads(r, m, t, p, task, progress, user);
    if (!s) s = hw_atlas_kv_policy(r, m, t, p, progress, user);
    free(text_ids);
    hw_task_free(task);
    if (s) {
        hw_atlas_free(r);
        return s;
    }
    *out = r;
    return HW_OK;
}

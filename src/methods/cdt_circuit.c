/*
 * cdt_circuit.c: circuits by CD-T (methods.md section 8): every head, as the only
 * relevant source, decomposed through the rest of the model once per prompt
 * (hw_cdt_sweep_prompt, cdt.c), which gives at the same time
 *   - its relevant logit difference at the last position (the target minus the minus
 *     token's logit, beta's part): its contribution to the task's output, and
 *   - its relevance at every later head's query (at the last position), keys and values
 *     (every position): mean |beta| / (mean |beta| + mean |gamma|), the CD-T code's "l1"
 *     score of a target node,
 * averaged over the prompts. Discovery then walks back from the output as the paper's
 * notebooks do: the heads with the largest relevant logit difference are the circuit's
 * output heads; for each circuit head, the earlier heads most relevant to one of its
 * inputs join it, joined by an edge labelled with that input; and so on until no head
 * joins. The circuit's faithfulness is the metric with every head outside it
 * mean-ablated (the mean z of the corrupted prompts), as a fraction of the way from all
 * heads ablated to none, against random sets of heads of the same size.
 */
#include "protocol.h"
#include "report/cdt_html.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

hw_status hw_cdt_sweep_prompt(const hw_model *m, const int *ids, int T, int target, int minus, double *logit,
                              double *ratio);

struct hw_cdt_result {
    int L, H, n_pairs;
    double *logit;          /* (L*H) mean relevant logit difference */
    double *ratio;          /* (L*H, L*H, 3) mean relevance at each receiver's q, k, v */
    double *relevance;      /* (L*H) in [0, 1]: how strongly discovery points at a head */
    int *in_circuit;        /* (L*H) 0, or the order it joined in (1, 2, ...) */
    hw_head *circuit;       /* (n_circuit) in the order they joined */
    int n_circuit;
    hw_cdt_edge *edges;
    int n_edges;
    int n_sizes;            /* faithfulness curve, sizes 1..n_sizes */
    double *faith, *faith_random;
    hw_head *order;         /* (L*H) heads by relevance: the curve's sets are its prefixes */
    double metric_full, metric_none;
};

hw_cdt_params hw_cdt_params_default(void) {
    hw_cdt_params p = {.top = 3, .keep = 0.3, .faithfulness = 1, .random_draws = 20, .seed = 1, .max_size = 0};
    return p;
}

void hw_cdt_result_free(hw_cdt_result *r) {
    if (!r) return;
    free(r->logit);
    free(r->ratio);
    free(r->relevance);
    free(r->in_circuit);
    free(r->circuit);
    free(r->edges);
    free(r->faith);
    free(r->faith_random);
    free(r->order);
    free(r);
}

/* ---------------------------------------------------------------- discovery */

static void join(hw_cdt_result *r, int k) {
    if (r->in_circuit[k]) return;
    r->circuit[r->n_circuit] = (hw_head){k / r->H, k % r->H};
    r->in_circuit[k] = ++r->n_circuit;
}

/* The best of a sender's three inputs into receiver rcv (input in *x); NaN if no path. */
static double best_input(const hw_cdt_result *r, int snd, int rcv, int *x) {
    const double *v = r->ratio + ((size_t)snd * r->L * r->H + rcv) * 3;
    *x = v[1] > v[0] ? 1 : 0;
    if (v[2] > v[*x]) *x = 2;
    return v[*x];
}

/* Up to top indices of score (n, NaN and <= 0 skipped), highest first, each at least
 * keep x the highest. Returns how many. */
static int pick(const double *score, int n, int top, double keep, int *out) {
    int k = 0;
    double best = 0;
    for (int i = 0; i < n; i++)
        if (score[i] > best) best = score[i];
    while (k < top && best > 0) {
        int arg = -1;
        for (int i = 0; i < n; i++) {
            int taken = 0;
            for (int j = 0; j < k && !taken; j++) taken = out[j] == i;
            if (!taken && !isnan(score[i]) && score[i] >= keep * best && (arg < 0 || score[i] > score[arg])) arg = i;
        }
        if (arg < 0) break;
        out[k++] = arg;
    }
    return k;
}

static hw_status discover(hw_cdt_result *r, const hw_cdt_params *p) {
    const int N = r->L * r->H;
    int *picked = malloc(sizeof(int) * (size_t)N), *queue = malloc(sizeof(int) * (size_t)N);
    double *w = malloc(sizeof(double) * (size_t)N);
    r->edges = malloc(sizeof(hw_cdt_edge) * (size_t)N * (size_t)(p->top > 0 ? p->top : 1));
    if (!picked || !queue || !w || !r->edges) {
        free(picked), free(queue), free(w);
        return hw_fail(HW_ERR_NOMEM, "cdt: out of memory");
    }
    double best = 0;
    for (int k = 0; k < N; k++) best = fmax(best, r->logit[k]);
    for (int k = 0; k < N; k++) r->relevance[k] = best > 0 ? fmax(0, r->logit[k] / best) : 0;
    int n_out = pick(r->logit, N, p->top, p->keep, picked), head = 0, tail = 0;
    for (int i = 0; i < n_out; i++) join(r, picked[i]), queue[tail++] = picked[i];
    while (head < tail) { /* each circuit head once, as a receiver */
        const int rcv = queue[head++];
        int x;
        for (int s = 0; s < N; s++) w[s] = s / r->H < rcv / r->H ? best_input(r, s, rcv, &x) : NAN;
        double wmax = 0;
        for (int s = 0; s < N; s++)
            if (w[s] > wmax) wmax = w[s];
        for (int s = 0; s < N; s++)
            if (w[s] > 0 && wmax > 0) r->relevance[s] = fmax(r->relevance[s], w[s] / wmax);
        int n = pick(w, N, p->top, p->keep, picked);
        for (int i = 0; i < n; i++) {
            const int s = picked[i];
            double v = best_input(r, s, rcv, &x);
            r->edges[r->n_edges++] = (hw_cdt_edge){{s / r->H, s % r->H}, {rcv / r->H, rcv % r->H}, x, v};
            if (!r->in_circuit[s]) join(r, s), queue[tail++] = s;
        }
    }
    free(picked), free(queue), free(w);
    return HW_OK;
}

/* ---------------------------------------------------------------- faithfulness */

typedef struct {
    const hw_model *m;
    const hw_prompt_pairs *pairs;
    hw_context *ctx;
    float *logits, *mean_z;
    hw_head *ablate;
} faith_run;

/* The metric averaged over the clean prompts with the heads not in keep (N flags)
 * mean-ablated. */
static hw_status metric_with(faith_run *f, const unsigned char *keep, double *out) {
    const hw_config *cfg = &f->m->cfg;
    const int N = cfg->n_layer * cfg->n_head, n = hw_prompt_pairs_count(f->pairs);
    int na = 0;
    for (int k = 0; k < N; k++)
        if (!keep[k]) f->ablate[na++] = (hw_head){k / cfg->n_head, k % cfg->n_head};
    hw_hooks *h = hw_hooks_new();
    hw_status st = h ? HW_OK : hw_fail(HW_ERR_NOMEM, "cdt: out of memory");
    if (!st && na) st = hw_hooks_mean_ablate(h, f->ablate, na, f->mean_z, HW_PHASE_BOTH);
    double sum = 0;
    for (int i = 0; !st && i < n; i++) {
        const int *clean;
        int target, minus, T = hw_prompt_pairs_get(f->pairs, i, &clean, NULL, &target, &minus);
        hw_context_reset(f->ctx);
        st = hw_forward_hooked(f->ctx, clean, T, HW_LOGITS_LAST, f->logits, h);
        if (!st) sum += hw_metric_value(HW_METRIC_LOGIT_DIFF, f->logits, cfg->vocab_size, target, minus);
    }
    hw_hooks_free(h);
    *out = sum / n;
    return st;
}

static hw_status faith_open(faith_run *f, const hw_model *m, const hw_prompt_pairs *pairs) {
    const hw_config *cfg = &m->cfg;
    const int n = hw_prompt_pairs_count(pairs);
    memset(f, 0, sizeof *f);
    f->m = m, f->pairs = pairs;
    f->ctx = hw_context_new(m, 0);
    f->logits = malloc(sizeof(float) * (size_t)cfg->vocab_size);
    f->mean_z = malloc(sizeof(float) * (size_t)cfg->n_layer * cfg->n_head * cfg->head_dim);
    f->ablate = malloc(sizeof(hw_head) * (size_t)cfg->n_layer * cfg->n_head);
    const int **seqs = malloc(sizeof(int *) * (size_t)n);
    int *lens = malloc(sizeof(int) * (size_t)n);
    hw_status st = f->ctx && f->logits && f->mean_z && f->ablate && seqs && lens ? HW_OK
                                                                                 : hw_fail(HW_ERR_NOMEM, "cdt: out of memory");
    for (int i = 0; !st && i < n; i++) lens[i] = hw_prompt_pairs_get(pairs, i, NULL, &seqs[i], NULL, NULL);
    if (!st) st = hw_mean_z(m, seqs, lens, n, f->mean_z); /* the reference: the corrupted prompts */
    free(seqs);
    free(lens);
    return st;
}

static void faith_close(faith_run *f) {
    hw_context_free(f->ctx);
    free(f->logits);
    free(f->mean_z);
    free(f->ablate);
}

/* The heads by relevance, circuit heads first in the order they joined. */
static void order_heads(hw_cdt_result *r) {
    const int N = r->L * r->H;
    int n = 0;
    for (int k = 0; k < r->n_circuit; k++) r->order[n++] = r->circuit[k];
    while (n < N) {
        int arg = -1;
        for (int k = 0; k < N; k++) {
            int taken = r->in_circuit[k] != 0;
            for (int j = r->n_circuit; j < n && !taken; j++) taken = r->order[j].layer * r->H + r->order[j].head == k;
            if (!taken && (arg < 0 || r->relevance[k] > r->relevance[arg])) arg = k;
        }
        r->order[n++] = (hw_head){arg / r->H, arg % r->H};
    }
}

static hw_status faithfulness(hw_cdt_result *r, const hw_model *m, const hw_prompt_pairs *pairs,
                              const hw_cdt_params *p, hw_progress_fn progress, void *user) {
    const size_t N = (size_t)r->L * r->H;
    r->n_sizes = p->max_size > 0 && (size_t)p->max_size < N ? p->max_size : (int)N;
    r->faith = calloc((size_t)r->n_sizes, sizeof(double));
    r->faith_random = calloc((size_t)r->n_sizes, sizeof(double));
    unsigned char *keep = calloc(N, 1);
    int *perm = malloc(sizeof(int) * N);
    faith_run f;
    hw_status st = faith_open(&f, m, pairs);
    if (!st && (!r->faith || !r->faith_random || !keep || !perm)) st = hw_fail(HW_ERR_NOMEM, "cdt: out of memory");
    if (!st) st = metric_with(&f, keep, &r->metric_none);
    if (keep) memset(keep, 1, N);
    if (!st) st = metric_with(&f, keep, &r->metric_full);
    const double span = r->metric_full - r->metric_none;
    hw_rng rng = {p->seed};
    for (int size = 1; !st && size <= r->n_sizes; size++) {
        double v;
        memset(keep, 0, N);
        for (int k = 0; k < size; k++) keep[r->order[k].layer * r->H + r->order[k].head] = 1;
        st = metric_with(&f, keep, &v);
        r->faith[size - 1] = span != 0 ? (v - r->metric_none) / span : NAN;
        double sum = 0;
        for (int d = 0; !st && d < p->random_draws; d++) { /* a uniform set of `size` heads */
            for (int k = 0; k < (int)N; k++) perm[k] = k;
            memset(keep, 0, N);
            for (int k = 0; k < size; k++) {
                int j = k + hw_rng_int(&rng, (int)N - k), t = perm[k];
                perm[k] = perm[j], perm[j] = t;
                keep[perm[k]] = 1;
            }
            st = metric_with(&f, keep, &v);
            sum += v;
        }
        r->faith_random[size - 1] = span != 0 && p->random_draws > 0 ? (sum / p->random_draws - r->metric_none) / span : NAN;
        if (!st) st = hw_progress_step(progress, user, "cdt", "faithfulness", size, r->n_sizes);
    }
    faith_close(&f);
    free(keep);
    free(perm);
    return st;
}

/* ---------------------------------------------------------------- the run */

static hw_status check_params(const hw_cdt_params *p) {
    if (p->top < 1) return hw_fail(HW_ERR_ARG, "cdt: top %d (at least 1 head kept per level)", p->top);
    if (!(p->keep >= 0 && p->keep <= 1)) return hw_fail(HW_ERR_ARG, "cdt: keep %g outside [0, 1]", p->keep);
    if (p->random_draws < 0 || p->max_size < 0)
        return hw_fail(HW_ERR_ARG, "cdt: %d random draws, curve up to %d heads (>= 0)", p->random_draws, p->max_size);
    return HW_OK;
}

static hw_cdt_result *result_new(const hw_model *m, int n_pairs) {
    hw_cdt_result *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    r->L = m->cfg.n_layer, r->H = m->cfg.n_head, r->n_pairs = n_pairs;
    const size_t N = (size_t)r->L * r->H;
    if (!(r->logit = calloc(N, sizeof(double))) || !(r->ratio = calloc(N * N * 3, sizeof(double))) ||
        !(r->relevance = calloc(N, sizeof(double))) || !(r->in_circuit = calloc(N, sizeof(int))) ||
        !(r->circuit = calloc(N, sizeof(hw_head))) || !(r->order = calloc(N, sizeof(hw_head)))) {
        hw_cdt_result_free(r);
        return NULL;
    }
    return r;
}

/* Every prompt's sweep, averaged. */
static hw_status sweep(hw_cdt_result *r, const hw_model *m, const hw_prompt_pairs *pairs, hw_progress_fn progress,
                       void *user) {
    const size_t N = (size_t)r->L * r->H;
    double *logit = malloc(sizeof(double) * N), *ratio = malloc(sizeof(double) * N * N * 3);
    hw_status st = logit && ratio ? HW_OK : hw_fail(HW_ERR_NOMEM, "cdt: out of memory");
    for (int i = 0; !st && i < r->n_pairs; i++) {
        const int *clean;
        int target, minus, T = hw_prompt_pairs_get(pairs, i, &clean, NULL, &target, &minus);
        st = hw_cdt_sweep_prompt(m, clean, T, target, minus, logit, ratio);
        for (size_t k = 0; !st && k < N; k++) r->logit[k] += logit[k] / r->n_pairs;
        for (size_t k = 0; !st && k < N * N * 3; k++) r->ratio[k] += ratio[k] / r->n_pairs;
        if (!st) st = hw_progress_step(progress, user, "cdt", "decompose", i + 1, r->n_pairs);
    }
    free(logit);
    free(ratio);
    return st;
}

hw_status hw_cdt_run(const hw_model *m, const hw_prompt_pairs *pairs, const hw_cdt_params *p, hw_progress_fn progress,
                     void *user, hw_cdt_result **out) {
    if (out) *out = NULL;
    if (!m || !pairs || !p || !out) return hw_fail(HW_ERR_ARG, "cdt: no model, pairs, params or result");
    hw_status st = check_params(p);
    if (!st) st = hw_prompt_pairs_check(pairs, m);
    if (st) return st;
    hw_cdt_result *r = result_new(m, hw_prompt_pairs_count(pairs));
    if (!r) return hw_fail(HW_ERR_NOMEM, "cdt: out of memory");
    st = sweep(r, m, pairs, progress, user);
    if (!st) st = discover(r, p);
    if (!st) order_heads(r);
    if (!st && p->faithfulness) st = faithfulness(r, m, pairs, p, progress, user);
    if (st) {
        hw_cdt_result_free(r);
        return st;
    }
    *out = r;
    return HW_OK;
}

/* ---------------------------------------------------------------- accessors */

void hw_cdt_result_shape(const hw_cdt_result *r, int *layers, int *heads, int *pairs) {
    if (layers) *layers = r ? r->L : 0;
    if (heads) *heads = r ? r->H : 0;
    if (pairs) *pairs = r ? r->n_pairs : 0;
}
const double *hw_cdt_result_logit(const hw_cdt_result *r) {
    return r ? r->logit : NULL;
}
const double *hw_cdt_result_edges(const hw_cdt_result *r) {
    return r ? r->ratio : NULL;
}
const double *hw_cdt_result_relevance(const hw_cdt_result *r) {
    return r ? r->relevance : NULL;
}
int hw_cdt_result_circuit(const hw_cdt_result *r, const hw_head **heads) {
    if (heads) *heads = r ? r->circuit : NULL;
    return r ? r->n_circuit : 0;
}
int hw_cdt_result_circuit_edges(const hw_cdt_result *r, const hw_cdt_edge **edges) {
    if (edges) *edges = r ? r->edges : NULL;
    return r ? r->n_edges : 0;
}
int hw_cdt_result_faithfulness(const hw_cdt_result *r, const hw_head **order, const double **circuit,
                               const double **random) {
    if (order) *order = r ? r->order : NULL;
    if (circuit) *circuit = r ? r->faith : NULL;
    if (random) *random = r ? r->faith_random : NULL;
    return r ? r->n_sizes : 0;
}
void hw_cdt_result_metrics(const hw_cdt_result *r, double *full, double *none) {
    if (full) *full = r ? r->metric_full : NAN;
    if (none) *none = r ? r->metric_none : NAN;
}
double hw_cdt_roc_auc(const hw_cdt_result *r, const hw_head *known, int n_known) {
    if (!r || !known || n_known <= 0) return NAN;
    const int N = r->L * r->H;
    double wins = 0;
    int pairs = 0;
    for (int a = 0; a < N; a++) {
        int pos = 0;
        for (int k = 0; k < n_known && !pos; k++) pos = known[k].layer * r->H + known[k].head == a;
        if (!pos) continue;
        for (int b = 0; b < N; b++) {
            int neg = 1;
            for (int k = 0; k < n_known && neg; k++) neg = known[k].layer * r->H + known[k].head != b;
            if (!neg) continue;
            wins += r->relevance[a] > r->relevance[b] ? 1 : r->relevance[a] == r->relevance[b] ? 0.5 : 0;
            pairs++;
        }
    }
    return pairs ? wins / pairs : NAN;
}

/* ---------------------------------------------------------------- writers */

static const char *const input_name[3] = {"q", "k", "v"};

/* (L, H) as [[...], ...] */
static void write_grid(FILE *f, const hw_cdt_result *r, const double *v) {
    for (int l = 0; l < r->L; l++)
        for (int h = 0; h < r->H; h++)
            fprintf(f, "%s%.9g%s", h ? ", " : l ? ", [" : "[[", v[l * r->H + h], h < r->H - 1 ? "" : l < r->L - 1 ? "]" : "]]");
}

static void write_json(const void *rv, FILE *f) {
    const hw_cdt_result *r = rv;
    const int N = r->L * r->H;
    fprintf(f, "{\"layers\": %d, \"heads\": %d, \"pairs\": %d, \"logit\": ", r->L, r->H, r->n_pairs);
    write_grid(f, r, r->logit);
    fputs(", \"relevance\": ", f);
    write_grid(f, r, r->relevance);
    fputs(", \"circuit\": [", f);
    for (int k = 0; k < r->n_circuit; k++) fprintf(f, "%s\"%d.%d\"", k ? ", " : "", r->circuit[k].layer, r->circuit[k].head);
    fputs("], \"edges\": [", f);
    for (int k = 0; k < r->n_edges; k++) {
        const hw_cdt_edge *e = &r->edges[k];
        fprintf(f, "%s{\"sender\": \"%d.%d\", \"receiver\": \"%d.%d\", \"input\": \"%s\", \"weight\": %.9g", k ? ", " : "",
                e->sender.layer, e->sender.head, e->receiver.layer, e->receiver.head, input_name[e->input], e->weight);
        const double *v = r->ratio + ((size_t)(e->sender.layer * r->H + e->sender.head) * N + e->receiver.layer * r->H +
                                      e->receiver.head) * 3;
        fprintf(f, ", \"q\": %.9g, \"k\": %.9g, \"v\": %.9g}", v[0], v[1], v[2]);
    }
    fprintf(f, "], \"metric_full\": %.9g, \"metric_none\": %.9g, \"faithfulness\": [", r->metric_full, r->metric_none);
    for (int k = 0; k < r->n_sizes; k++)
        fprintf(f, "%s{\"size\": %d, \"added\": \"%d.%d\", \"circuit\": %.9g, \"random\": %.9g}", k ? ", " : "", k + 1,
                r->order[k].layer, r->order[k].head, r->faith[k], r->faith_random[k]);
    fputs("]}\n", f);
}

static void write_tsv(const void *rv, FILE *f) {
    const hw_cdt_result *r = rv;
    fputs("layer\thead\tlogit\trelevance\tcircuit\n", f);
    for (int k = 0; k < r->L * r->H; k++)
        fprintf(f, "%d\t%d\t%.9g\t%.9g\t%d\n", k / r->H, k % r->H, r->logit[k], r->relevance[k], r->in_circuit[k]);
}

hw_status hw_cdt_result_write(const hw_cdt_result *r, const char *path) {
    return hw_write_json_or_tsv(path, r, write_json, write_tsv);
}

hw_status hw_cdt_result_write_html(const hw_cdt_result *r, const char *path) {
    if (!r || !path) return hw_fail(HW_ERR_ARG, "cdt: no result or path to write");
    hw_status st = hw_output_prepare(path);
    if (st) return st;
    hw_cdt_html_edge *e = malloc(sizeof *e * (size_t)(r->n_edges ? r->n_edges : 1));
    if (!e) return hw_fail(HW_ERR_NOMEM, "cdt: out of memory");
    for (int k = 0; k < r->n_edges; k++)
        e[k] = (hw_cdt_html_edge){r->edges[k].sender.layer * r->H + r->edges[k].sender.head,
                                  r->edges[k].receiver.layer * r->H + r->edges[k].receiver.head, r->edges[k].input,
                                  r->edges[k].weight};
    char sub[256];
    snprintf(sub, sizeof sub, "%d heads in the circuit over %d prompts; metric logit-diff %.4f with every head, %.4f "
             "with every head mean-ablated", r->n_circuit, r->n_pairs, r->metric_full, r->metric_none);
    hw_cdt_html page = {"CD-T circuit", sub, r->L, r->H, r->relevance, r->logit, r->in_circuit, r->n_edges, e,
                        r->n_sizes, r->faith, r->faith_random};
    st = hw_cdt_html_write(&page, path);
    free(e);
    return st;
}

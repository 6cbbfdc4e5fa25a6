/*
 * factual_recall.c: the factual-recall pipeline of Lv et al. 2024 (methods.md section 7):
 * mover heads (attention from the last position to the topic token, and alignment of
 * the head's output there with W_U[topic]), the regression of one MLP's output at the
 * last position onto the outputs of the components upstream of it (m ~ sum beta_i o_i +
 * b, each term read through the logit lens: beta > 1 amplifies, beta < 0 erases, b is
 * the task's "function" direction), and the final layer's anti-overconfidence (which
 * final-layer components push the top answer down) with its mitigation (scaling them).
 * Prompts come from a file (prompt, topic, optional answer) or are the recall task's
 * held-out samples (section 6's organism).
 */
#include "protocol.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- the regression */

/* Cholesky solve of G x = c (n x n, symmetric) in place; 0 when a pivot is at most tol. */
static int cholesky_solve(double *G, double *x, const double *c, int n, double tol) {
    for (int j = 0; j < n; j++) {
        double d = G[(size_t)j * n + j];
        for (int k = 0; k < j; k++) d -= G[(size_t)j * n + k] * G[(size_t)j * n + k];
        if (!(d > tol)) return 0;
        d = sqrt(d);
        G[(size_t)j * n + j] = d;
        for (int i = j + 1; i < n; i++) {
            double v = G[(size_t)i * n + j];
            for (int k = 0; k < j; k++) v -= G[(size_t)i * n + k] * G[(size_t)j * n + k];
            G[(size_t)i * n + j] = v / d;
        }
    }
    for (int i = 0; i < n; i++) { /* L z = c */
        double v = c[i];
        for (int k = 0; k < i; k++) v -= G[(size_t)i * n + k] * x[k];
        x[i] = v / G[(size_t)i * n + i];
    }
    for (int i = n - 1; i >= 0; i--) { /* L^T x = z */
        double v = x[i];
        for (int k = i + 1; k < n; k++) v -= G[(size_t)k * n + i] * x[k];
        x[i] = v / G[(size_t)i * n + i];
    }
    return 1;
}

/* The centred normal equations: G (n, n), c (n), the means om (n, D) and ym (D), and
 * SS_tot. */
static void normal_equations(const float *o, const float *y, int P, int n, int D, double *G,
                             double *c, double *om, double *ym, double *sst) {
    const size_t nD = (size_t)n * D;
    memset(om, 0, sizeof(double) * nD);
    memset(ym, 0, sizeof(double) * (size_t)D);
    for (int p = 0; p < P; p++) {
        for (size_t k = 0; k < nD; k++) om[k] += o[(size_t)p * nD + k] / (double)P;
        for (int d = 0; d < D; d++) ym[d] += y[(size_t)p * D + d] / (double)P;
    }
    memset(G, 0, sizeof(double) * (size_t)n * n);
    memset(c, 0, sizeof(double) * (size_t)n);
    *sst = 0;
    for (int p = 0; p < P; p++) {
        const float *op = o + (size_t)p * nD, *yp = y + (size_t)p * D;
        for (int d = 0; d < D; d++) *sst += (yp[d] - ym[d]) * (yp[d] - ym[d]);
        for (int i = 0; i < n; i++) {
            const float *oi = op + (size_t)i * D;
            const double *mi = om + (size_t)i * D;
            double ci = 0;
            for (int d = 0; d < D; d++) ci += (oi[d] - mi[d]) * (yp[d] - ym[d]);
            c[i] += ci;
            for (int j = 0; j <= i; j++) {
                const float *oj = op + (size_t)j * D;
                const double *mj = om + (size_t)j * D;
                double g = 0;
                for (int d = 0; d < D; d++) g += (oi[d] - mi[d]) * (oj[d] - mj[d]);
                G[(size_t)i * n + j] += g;
            }
        }
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++) G[(size_t)j * n + i] = G[(size_t)i * n + j];
}

/* SS_res of beta over the centred values (summed directly, not from the Gram matrix, so
 * an exact fit reads as 0 and not as a difference of large numbers). */
static double residual_ss(const float *o, const float *y, int P, int n, int D, const double *beta,
                          const double *om, const double *ym) {
    double ss = 0;
    for (int p = 0; p < P; p++)
        for (int d = 0; d < D; d++) {
            double r = y[(size_t)p * D + d] - ym[d];
            for (int i = 0; i < n; i++)
                r -= beta[i] * (o[((size_t)p * n + i) * D + d] - om[(size_t)i * D + d]);
            ss += r * r;
        }
    return ss;
}

/* The system G x = c restricted to the terms with keep[i] (the others get x 0), solved in
 * W (n x n scratch): 0, or 1 when it is singular even so. */
static int solve_kept(const double *G, const double *c, const int *keep, int n, double ridge, double tol,
                      double *W, double *wc, double *x) {
    int m = 0, *idx = (int *)(W + (size_t)n * n) /* n ints fit in the spare half */;
    for (int i = 0; i < n; i++)
        if (keep[i]) idx[m++] = i;
    for (int a = 0; a < m; a++) {
        wc[a] = c[idx[a]];
        for (int b2 = 0; b2 < m; b2++) W[(size_t)a * m + b2] = G[(size_t)idx[a] * n + idx[b2]] + (a == b2 ? ridge : 0);
    }
    double *xs = wc + n;
    if (!cholesky_solve(W, xs, wc, m, tol)) return 1;
    for (int i = 0; i < n; i++) x[i] = 0;
    for (int a = 0; a < m; a++) x[idx[a]] = xs[a];
    return 0;
}

hw_status hw_fact_regress(const float *o, const float *y, int P, int n, int D, double *beta,
                          double *b, double *r2, double *ridge, int *constant) {
    if (!o || !y || !beta || !b || !r2 || !ridge || n < 1 || D < 1 || P < 1)
        return hw_fail(HW_ERR_ARG, "regression: no data");
    if ((int64_t)(P - 1) * D <= n)
        return hw_fail(HW_ERR_ARG, "regression: %d samples of %d values give %lld centred equations for %d "
                       "terms: at least %d samples are needed", P, D, (long long)(P - 1) * D, n, n / D + 2);
    for (size_t k = 0; k < (size_t)P * n * D; k++)
        if (!isfinite(o[k])) return hw_fail(HW_ERR_ARG, "regression: a term is not finite");
    for (size_t k = 0; k < (size_t)P * D; k++)
        if (!isfinite(y[k])) return hw_fail(HW_ERR_ARG, "regression: the vector regressed is not finite");
    /* G, then W (n x n) and n ints after it; c, wc and the reduced solution (3n). */
    double *G = malloc(sizeof(double) * ((size_t)n * n * 3 + 3 * (size_t)n));
    double *om = malloc(sizeof(double) * (size_t)n * D), *ym = malloc(sizeof(double) * (size_t)D);
    int *keep = malloc(sizeof(int) * (size_t)n);
    if (!G || !om || !ym || !keep) {
        free(G), free(om), free(ym), free(keep);
        return hw_fail(HW_ERR_NOMEM, "regression: out of memory");
    }
    double sst, *W = G + (size_t)n * n, *c = W + 2 * (size_t)n * n, maxd = 0, trace = 0;
    normal_equations(o, y, P, n, D, G, c, om, ym, &sst);
    for (int i = 0; i < n; i++) maxd = fmax(maxd, G[(size_t)i * n + i]);
    /* A term constant over the samples (centred variance at float rounding's level, e.g.
     * the embedding of the token every prompt ends with) explains nothing: beta 0, and its
     * mean goes into b. */
    for (int i = 0; i < n; i++) {
        keep[i] = G[(size_t)i * n + i] > 1e-14 * maxd;
        if (keep[i]) trace += G[(size_t)i * n + i];
        if (constant) constant[i] = !keep[i];
    }
    *ridge = 0;
    for (int i = 0; i < n; i++) beta[i] = 0;
    if (maxd > 0 && solve_kept(G, c, keep, n, 0, 1e-12 * maxd, W, c + n, beta)) {
        /* Singular: terms that move together. A small ridge picks one of the equal fits. */
        *ridge = 1e-9 * trace / n;
        solve_kept(G, c, keep, n, *ridge, 0, W, c + n, beta);
    }
    for (int d = 0; d < D; d++) {
        b[d] = ym[d];
        for (int i = 0; i < n; i++) b[d] -= beta[i] * om[(size_t)i * D + d];
    }
    *r2 = sst > 0 ? 1 - residual_ss(o, y, P, n, D, beta, om, ym) / sst : NAN;
    free(G), free(om), free(ym), free(keep);
    return HW_OK;
}

/* ---------------------------------------------------------------- result */

static const char *const mover_cols[] = {"attention", "alignment", "score"};

typedef char hw_name32[32];

struct hw_fact_result {
    int L, H, D;
    hw_fact_info info;
    double *movers;         /* (3, L, H) attention, alignment, score */
    hw_head_table table;
    hw_name32 *term;        /* (n_terms) */
    double *beta;           /* (n_terms) */
    int *constant;          /* (n_terms) 1: constant over the prompts, beta 0 */
    double *intercept;      /* (D) */
    hw_name32 *reading;     /* (n_readings) */
    double *reading_beta;   /* (n_readings) */
    int *reading_ids;       /* (n_readings, top_k) */
    double *reading_logits; /* (n_readings, top_k) */
    char **reading_text;    /* (n_readings, top_k) */
    hw_name32 *final_name;  /* (n_final) */
    double *final_dla;      /* (n_final) */
    int *suppressed;        /* (n_final) */
    int *prompt;            /* (n, 5) tokens, topic position, topic token, top token, answer */
    double *probs;          /* (n, 2) */
};

hw_fact_params hw_fact_params_default(void) {
    hw_fact_params p = {0};
    p.task = hw_task_eval_params_default();
    p.task.name = NULL;
    p.mlp_layer = -1;
    p.top_k = 10;
    p.top_terms = 10;
    return p;
}

void hw_fact_free(hw_fact_result *r) {
    if (!r) return;
    for (int k = 0; r->reading_text && k < r->info.n_readings * r->info.top_k; k++) free(r->reading_text[k]);
    free(r->reading_text);
    free(r->movers), free(r->term), free(r->beta), free(r->constant), free(r->intercept), free(r->reading);
    free(r->reading_beta), free(r->reading_ids), free(r->reading_logits), free(r->final_name);
    free(r->final_dla), free(r->suppressed), free(r->prompt), free(r->probs);
    free(r);
}

/* ---------------------------------------------------------------- prompts */

/* The prompts: a file's lines, or task samples (their indices in kept). */
typedef struct {
    const hw_fact_params *p;
    const hw_model *m;
    const hw_tokenizer *t;
    hw_task *task;
    int *seq;               /* (2, task length) a sample's tokens and targets */
    int *kept;              /* (n) */
    int n;
} source;

/* The last position of the topic's token in ids (its word token, or its first token as
 * it encodes alone, at the start of a prompt), or -1. */
static int topic_position(const hw_tokenizer *t, const char *topic, const int *ids, int n) {
    int word = hw_tokenizer_answer_token(t, topic), *alone = NULL;
    int na = hw_tokenizer_encode_alloc(t, topic, 0, &alone), first = na > 0 ? alone[0] : -1;
    free(alone);
    for (int i = n - 1; i >= 0; i--)
        if (ids[i] >= 0 && (ids[i] == word || ids[i] == first)) return i;
    return -1;
}

/* Prompt i: its tokens (*ids malloc'd, *n of them), the topic's position and the answer
 * (-1: none). */
static hw_status prompt_get(source *src, int i, int **ids, int *n, int *topic_pos, int *answer) {
    *ids = NULL;
    if (src->task) {
        hw_task_layout lay;
        hw_status s = hw_task_sample(src->task, src->p->task.seed, src->kept[i], src->seq,
                                     src->seq + hw_task_seq_len(src->task), &lay);
        if (s) return s;
        if (!(*ids = malloc(sizeof(int) * (size_t)lay.dst))) return hw_fail(HW_ERR_NOMEM, "facts: out of memory");
        memcpy(*ids, src->seq, sizeof(int) * (size_t)lay.dst);
        *n = lay.dst;
        /* "... s is" before the answer: the subject's last mention is two back. */
        *topic_pos = src->p->topic == HW_FACT_TOPIC_CONTEXT ? lay.src : lay.dst - 2;
        *answer = src->seq[lay.dst];
        return HW_OK;
    }
    const hw_prompts *ps = src->p->prompts;
    const char *topic = hw_prompts_answer(ps, i, 0), *ans = hw_prompts_answer(ps, i, 1);
    *n = hw_tokenizer_encode_alloc(src->t, hw_prompts_text(ps, i), HW_TOK_BOS, ids);
    if (*n < 0) return HW_ERR_ARG;
    if (*n > hw_model_config(src->m)->n_ctx)
        return hw_fail(HW_ERR_RANGE, "prompt %d: %d tokens, longer than the model's context (%d)", i + 1, *n,
                       hw_model_config(src->m)->n_ctx);
    if ((*topic_pos = topic_position(src->t, topic, *ids, *n)) < 0)
        return hw_fail(HW_ERR_ARG, "prompt %d: its topic '%s' is not one of its tokens", i + 1, topic);
    *answer = ans ? hw_tokenizer_answer_token(src->t, ans) : -1;
    if (ans && *answer < 0) return hw_fail(HW_ERR_ARG, "prompt %d: its answer encodes to no token", i + 1);
    return HW_OK;
}

/* Task mode: the held-out samples of the shape asked for. */
static hw_status task_prompts(source *src) {
    const hw_fact_params *p = src->p;
    if (!(src->task = hw_task_new_for_model(src->m, &p->task))) return HW_ERR_ARG;
    const int T = hw_task_seq_len(src->task);
    src->seq = malloc(sizeof(int) * (size_t)T * 2);
    src->kept = malloc(sizeof(int) * (size_t)p->task.samples);
    if (!src->seq || !src->kept) return hw_fail(HW_ERR_NOMEM, "facts: out of memory");
    int want_cf = p->shape == HW_FACT_COUNTERFACTUAL || p->topic == HW_FACT_TOPIC_CONTEXT;
    for (int k = 0; k < p->task.samples; k++) {
        hw_task_layout lay;
        hw_status s = hw_task_sample(src->task, p->task.seed, k, src->seq, src->seq + T, &lay);
        if (s) return s;
        int cf = lay.src >= 0;
        if ((want_cf && !cf) || (p->shape == HW_FACT_PLAIN && cf) || lay.dst < 3) continue;
        src->kept[src->n++] = k;
    }
    return HW_OK;
}

/* ---------------------------------------------------------------- the captured runs */

/* What the captured pass gathers. */
typedef struct {
    const hw_model *m;
    int L, H, D, V, n;
    int mlp;                /* the MLP regressed, -1: none */
    int head_layers;        /* heads of layers < head_layers are its terms */
    int nt;                 /* terms */
    float *o;               /* (n, nt, D) */
    float *y;               /* (n, D) */
    double inv_sum;         /* sum over prompts of the final norm's 1 / sigma */
    float *dir;             /* (D) scratch */
} gather;

/* Head h of layer l's attention from the last position to key k, or -1 if not captured. */
static double pattern_at(const hw_final_run *f, int l, int h, int k) {
    for (int i = 0; i < hw_capture_count(f->cap); i++) {
        const hw_capture_entry *e = hw_capture_get(f->cap, i);
        if (e->point != HW_HOOK_PATTERN || e->layer != l || e->pos > f->T - 1 || e->pos + e->T <= f->T - 1)
            continue;
        size_t row = (size_t)h * e->shape[1] + (size_t)(f->T - 1 - e->pos);
        return k < e->shape[2] ? e->data[row * e->shape[2] + k] : -1;
    }
    return -1;
}

static double dot(const float *a, const float *b, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* p(tok) under softmax(logits), in double. */
static double prob_of(const float *logits, int V, int tok) {
    double z = 0;
    for (int j = 0; j < V; j++) z += exp((double)logits[j] - logits[tok]);
    return 1 / z;
}

/* The final norm's 1 / sigma of resid (D) (standard deviation for LayerNorm). */
static double norm_inv(const hw_config *cfg, const float *resid) {
    double mean = 0, ss = 0;
    if (cfg->norm == HW_NORM_LAYER) {
        for (int k = 0; k < cfg->d_model; k++) mean += resid[k];
        mean /= cfg->d_model;
    }
    for (int k = 0; k < cfg->d_model; k++) ss += (resid[k] - mean) * (resid[k] - mean);
    return 1 / sqrt(ss / cfg->d_model + cfg->norm_eps);
}

/* Mover quantities of one prompt, summed into r->movers. */
static hw_status movers_add(gather *g, const hw_final_run *f, int topic, int topic_pos, hw_fact_result *r) {
    const float *resid = hw_final_run_row(f, HW_HOOK_RESID_POST, g->L - 1);
    hw_status s = hw_logit_direction(g->m, &topic, 1, NULL, 0, resid, g->dir);
    const size_t LH = (size_t)g->L * g->H;
    for (int l = 0; !s && l < g->L; l++) {
        const float *res = hw_final_run_row(f, HW_HOOK_RESULT, l); /* (H, D) */
        for (int h = 0; h < g->H; h++) {
            double a = pattern_at(f, l, h, topic_pos);
            if (a < 0) return hw_fail(HW_ERR_ARG, "facts: no attention pattern captured at layer %d", l);
            r->movers[(size_t)l * g->H + h] += a;
            r->movers[LH + (size_t)l * g->H + h] += dot(res + (size_t)h * g->D, g->dir, g->D);
        }
    }
    return s;
}

/* Prompt p's regression terms and MLP output into g. */
static void terms_add(gather *g, const hw_final_run *f, int p) {
    if (g->mlp < 0) return;
    const size_t D = (size_t)g->D;
    float *o = g->o + (size_t)p * g->nt * D;
    memcpy(o, hw_final_run_row(f, HW_HOOK_RESID_PRE, 0), D * sizeof(float));
    o += D;
    for (int l = 0; l < g->head_layers; l++, o += g->H * D)
        memcpy(o, hw_final_run_row(f, HW_HOOK_RESULT, l), g->H * D * sizeof(float));
    for (int l = 0; l < g->mlp; l++, o += D) memcpy(o, hw_final_run_row(f, HW_HOOK_MLP_OUT, l), D * sizeof(float));
    memcpy(g->y + (size_t)p * D, hw_final_run_row(f, HW_HOOK_MLP_OUT, g->mlp), D * sizeof(float));
}

/* The final layer's components' DLA on the top token, summed into r->final_dla. */
static hw_status final_add(gather *g, const hw_final_run *f, int top, hw_fact_result *r) {
    const float *resid = hw_final_run_row(f, HW_HOOK_RESID_POST, g->L - 1);
    hw_status s = hw_logit_direction(g->m, &top, 1, NULL, 0, resid, g->dir);
    if (s) return s;
    const float *res = hw_final_run_row(f, HW_HOOK_RESULT, g->L - 1);
    for (int h = 0; h < g->H; h++) r->final_dla[h] += dot(res + (size_t)h * g->D, g->dir, g->D);
    const float *mo = hw_final_run_row(f, HW_HOOK_MLP_OUT, g->L - 1);
    if (mo) r->final_dla[g->H] += dot(mo, g->dir, g->D);
    return HW_OK;
}

static hw_status captured_pass(source *src, gather *g, hw_progress_fn progress, void *user, hw_fact_result *r) {
    hw_final_run f;
    hw_status s = hw_final_run_open(&f, g->m, NULL, "facts");
    if (!s) s = hw_capture_want(f.cap, HW_HOOK_PATTERN, -1);
    int nans = 0, right = 0;
    double conf = 0;
    for (int i = 0; !s && i < g->n; i++) {
        int *ids = NULL, n, tp, ans, *pi = r->prompt + (size_t)i * 5;
        if ((s = hw_progress_step(progress, user, "facts", "prompt", i + 1, g->n)) ||
            (s = prompt_get(src, i, &ids, &n, &tp, &ans)) || (s = hw_final_run_ids(&f, ids, n, "facts"))) {
            free(ids);
            break;
        }
        int top = hw_argmax(f.logits, g->V);
        pi[0] = n, pi[1] = tp, pi[2] = ids[tp], pi[3] = top, pi[4] = ans;
        r->probs[(size_t)i * 2] = prob_of(f.logits, g->V, top);
        conf += r->probs[(size_t)i * 2];
        nans += ans >= 0;
        right += ans >= 0 && top == ans;
        g->inv_sum += norm_inv(hw_model_config(g->m), hw_final_run_row(&f, HW_HOOK_RESID_POST, g->L - 1));
        if (!(s = movers_add(g, &f, ids[tp], tp, r))) s = final_add(g, &f, top, r);
        terms_add(g, &f, i);
        free(ids);
    }
    hw_final_run_close(&f);
    r->info.confidence_before = conf / g->n;
    r->info.n_answers = nans;
    r->info.accuracy_before = nans ? (double)right / nans : NAN;
    return s;
}

/* Means, scores and Pearson's r of the movers. */
static void movers_finish(hw_fact_result *r, int n) {
    const int LH = r->L * r->H;
    double *att = r->movers, *ali = att + LH, *score = ali + LH, ma = 0, mb = 0, sab = 0, saa = 0, sbb = 0;
    for (int k = 0; k < LH; k++) {
        att[k] /= n, ali[k] /= n;
        score[k] = att[k] * ali[k];
        ma += att[k] / LH, mb += ali[k] / LH;
    }
    for (int k = 0; k < LH; k++) {
        sab += (att[k] - ma) * (ali[k] - mb);
        saa += (att[k] - ma) * (att[k] - ma);
        sbb += (ali[k] - mb) * (ali[k] - mb);
    }
    r->info.pearson_r = saa > 0 && sbb > 0 ? sab / sqrt(saa * sbb) : NAN;
    r->table = (hw_head_table){r->L, r->H, 3, mover_cols, r->movers, 2, 0};
}

/* ---------------------------------------------------------------- logit lens */

/* The top_k tokens of v (D) read through the held final norm scale inv and W_U. */
static hw_status lens_read(const hw_model *m, const hw_tokenizer *t, const hw_task *task, const double *v,
                           double inv, int top_k, int *ids, double *logits, char **text) {
    const hw_config *cfg = hw_model_config(m);
    const int D = cfg->d_model, V = cfg->vocab_size;
    float *x = malloc(sizeof(float) * (size_t)D), *lg = malloc(sizeof(float) * (size_t)V);
    double *key = malloc(sizeof(double) * (size_t)V);
    int *order = malloc(sizeof(int) * (size_t)V);
    hw_status s = x && lg && key && order ? HW_OK : hw_fail(HW_ERR_NOMEM, "facts: out of memory");
    if (!s) {
        double mean = 0;
        if (cfg->norm == HW_NORM_LAYER) {
            for (int d = 0; d < D; d++) mean += v[d];
            mean /= D;
        }
        for (int d = 0; d < D; d++) x[d] = (float)((v[d] - mean) * m->w.final_norm[d] * inv);
        hw_matmul(lg, x, &m->w.classifier, NULL, 1);
        for (int j = 0; j < V; j++) key[j] = lg[j];
        hw_scores_rank(key, V, order);
        for (int k = 0; k < top_k && k < V; k++) {
            ids[k] = order[k];
            logits[k] = lg[order[k]];
            const char *sym = task && !t ? hw_task_symbol(task, order[k]) : NULL;
            text[k] = t ? hw_token_text(t, order[k]) : strdup(sym ? sym : "");
            if (!text[k]) s = hw_fail(HW_ERR_NOMEM, "facts: out of memory");
        }
    }
    free(x), free(lg), free(key), free(order);
    return s;
}

/* The regression solved and its terms read. */
static hw_status regression(const hw_model *m, const hw_tokenizer *t, const source *src, gather *g,
                            hw_fact_result *r) {
    hw_fact_info *in = &r->info;
    const int nt = g->nt, D = g->D, K = in->top_k;
    hw_status s = hw_fact_regress(g->o, g->y, g->n, nt, D, r->beta, r->intercept, &in->r2, &in->ridge,
                                  r->constant);
    if (s) return s;
    for (int i = 0; i < nt; i++) in->n_constant += r->constant[i];
    /* A constant term (beta 0) reads as nothing: left out. */
    const int varying = nt - in->n_constant;
    in->n_readings = 1 + (src->p->top_terms < varying ? src->p->top_terms : varying);
    const int nr = in->n_readings;
    double *mag = malloc(sizeof(double) * (size_t)nt), *v = malloc(sizeof(double) * (size_t)D);
    int *order = malloc(sizeof(int) * (size_t)nt);
    r->reading = calloc((size_t)nr, sizeof *r->reading);
    r->reading_beta = malloc(sizeof(double) * (size_t)nr);
    r->reading_ids = calloc((size_t)nr * K, sizeof(int));
    r->reading_logits = calloc((size_t)nr * K, sizeof(double));
    r->reading_text = calloc((size_t)nr * K, sizeof(char *));
    if (!mag || !v || !order || !r->reading || !r->reading_beta || !r->reading_ids || !r->reading_logits ||
        !r->reading_text)
        s = hw_fail(HW_ERR_NOMEM, "facts: out of memory");
    if (!s) {
        for (int i = 0; i < nt; i++) mag[i] = fabs(r->beta[i]);
        hw_scores_rank(mag, nt, order);
    }
    for (int k = 0; !s && k < nr; k++) {
        if (k == 0) {
            snprintf(r->reading[0], sizeof r->reading[0], "intercept");
            r->reading_beta[0] = 1;
            memcpy(v, r->intercept, sizeof(double) * (size_t)D);
        } else {
            int i = order[k - 1];
            snprintf(r->reading[k], sizeof r->reading[k], "%s", r->term[i]);
            r->reading_beta[k] = r->beta[i];
            for (int d = 0; d < D; d++) {
                double mean = 0;
                for (int p = 0; p < g->n; p++) mean += g->o[((size_t)p * nt + i) * D + d];
                v[d] = r->beta[i] * mean / g->n;
            }
        }
        s = lens_read(m, t, src->task, v, in->norm_scale, K, r->reading_ids + (size_t)k * K,
                      r->reading_logits + (size_t)k * K, r->reading_text + (size_t)k * K);
    }
    free(mag), free(v), free(order);
    return s;
}

/* ---------------------------------------------------------------- mitigation */

typedef struct { int layer; float s; } mlp_scale;

static int scale_mlp_hook(hw_hook_call *c, void *user) {
    const mlp_scale *ms = user;
    if (c->point != HW_HOOK_MLP_OUT || c->layer != ms->layer) return 0;
    if (c->ask) return 1;
    size_t n = 1;
    for (int d = 0; d < c->ndim; d++) n *= (size_t)c->shape[d];
    for (size_t i = 0; i < n; i++) c->data[i] *= ms->s;
    return 0;
}

/* Every prompt again with the suppressors scaled: p(original top token) and accuracy. */
static hw_status mitigate(source *src, gather *g, hw_progress_fn progress, void *user, hw_fact_result *r) {
    hw_fact_info *in = &r->info;
    const int H = g->H;
    hw_head heads[1024];
    int nh = 0;
    mlp_scale ms = {g->L - 1, in->mitigate_scale};
    for (int h = 0; h < H && nh < 1024; h++)
        if (r->suppressed[h]) heads[nh++] = (hw_head){g->L - 1, h};
    hw_hooks *hooks = hw_hooks_new();
    hw_context *ctx = hw_context_new(g->m, 0);
    float *logits = malloc(sizeof(float) * (size_t)g->V);
    hw_status s = hooks && ctx && logits ? HW_OK : hw_fail(HW_ERR_NOMEM, "facts: out of memory");
    if (!s && nh) s = hw_hooks_scale(hooks, heads, nh, in->mitigate_scale, HW_PHASE_BOTH);
    if (!s && in->n_final > H && r->suppressed[H]) s = hw_hooks_add(hooks, scale_mlp_hook, &ms);
    int right = 0;
    double conf = 0;
    for (int i = 0; !s && i < g->n; i++) {
        int *ids = NULL, n, tp, ans, *pi = r->prompt + (size_t)i * 5;
        if (!(s = hw_progress_step(progress, user, "facts", "mitigation", i + 1, g->n)) &&
            !(s = prompt_get(src, i, &ids, &n, &tp, &ans))) {
            hw_context_reset(ctx);
            s = hw_forward_hooked(ctx, ids, n, HW_LOGITS_LAST, logits, hooks);
        }
        free(ids);
        if (s) break;
        r->probs[(size_t)i * 2 + 1] = prob_of(logits, g->V, pi[3]);
        conf += r->probs[(size_t)i * 2 + 1];
        right += pi[4] >= 0 && hw_argmax(logits, g->V) == pi[4];
    }
    in->confidence_after = conf / g->n;
    in->accuracy_after = in->n_answers ? (double)right / in->n_answers : NAN;
    hw_hooks_free(hooks);
    hw_context_free(ctx);
    free(logits);
    return s;
}

/* Mean DLA of the final layer's components; the negative ones are the suppressors. */
static void final_finish(hw_fact_result *r, int n) {
    for (int k = 0; k < r->info.n_final; k++) {
        if (k < r->H) snprintf(r->final_name[k], sizeof r->final_name[k], "%d.%d", r->L - 1, k);
        else snprintf(r->final_name[k], sizeof r->final_name[k], "mlp.%d", r->L - 1);
        r->final_dla[k] /= n;
        r->suppressed[k] = r->final_dla[k] < 0;
        r->info.n_suppressors += r->suppressed[k];
    }
}

/* ---------------------------------------------------------------- run */

static hw_status check_params(const hw_model *m, const hw_tokenizer *t, const hw_fact_params *p) {
    if (!m || !p) return hw_fail(HW_ERR_ARG, "facts: no model or params");
    const char *task = p->task.name;
    if (!p->prompts == !task) return hw_fail(HW_ERR_ARG, "facts: give prompts (prompt, topic) or the task recall");
    if (task && strcmp(task, "recall")) return hw_fail(HW_ERR_ARG, "facts: the task must be recall");
    if (task && (p->task.samples < 1 || p->task.n_symbols < 0))
        return hw_fail(HW_ERR_ARG, "facts: %d samples, %d symbols", p->task.samples, p->task.n_symbols);
    if (p->prompts && !t) return hw_fail(HW_ERR_ARG, "facts: prompts need the tokenizer");
    if ((unsigned)p->shape > HW_FACT_COUNTERFACTUAL || (unsigned)p->topic > HW_FACT_TOPIC_CONTEXT)
        return hw_fail(HW_ERR_ARG, "facts: unknown sample shape or topic");
    if (p->topic == HW_FACT_TOPIC_CONTEXT && (!task || p->shape == HW_FACT_PLAIN))
        return hw_fail(HW_ERR_ARG, "facts: the in-context topic is the recall task's counterfactual samples'");
    const hw_config *cfg = hw_model_config(m);
    if (p->mlp_layer < -1 || p->mlp_layer >= cfg->n_layer)
        return hw_fail(HW_ERR_ARG, "facts: MLP layer %d of a %d-layer model", p->mlp_layer, cfg->n_layer);
    if (p->mlp_layer >= 0 && !cfg->d_ff) return hw_fail(HW_ERR_ARG, "facts: the model has no MLPs (--mlp)");
    if (p->top_k < 1 || p->top_k > cfg->vocab_size || p->top_terms < 0)
        return hw_fail(HW_ERR_ARG, "facts: %d tokens per reading (1 to %d), %d terms read", p->top_k,
                       cfg->vocab_size, p->top_terms);
    if (!isfinite(p->mitigate_scale)) return hw_fail(HW_ERR_ARG, "facts: the mitigation scale is not finite");
    if (cfg->n_head > 1024) return hw_fail(HW_ERR_ARG, "facts: %d heads a layer (at most 1024)", cfg->n_head);
    return HW_OK;
}

/* Every prompt read and its topic found, and enough of them for the regression, before
 * any forward pass. */
static hw_status check_prompts(source *src, const gather *g) {
    if (src->n < 1) return hw_fail(HW_ERR_ARG, "facts: no prompt (no sample of that shape among %d)", src->p->task.samples);
    for (int i = 0; !src->task && i < src->n; i++) {
        int *ids, n, tp, ans;
        hw_status s = prompt_get(src, i, &ids, &n, &tp, &ans);
        free(ids);
        if (s) return s;
    }
    if (g->mlp >= 0 && (int64_t)(src->n - 1) * g->D <= g->nt)
        return hw_fail(HW_ERR_ARG, "facts: %d prompts; the regression of mlp.%d on its %d upstream terms needs at "
                       "least %d", src->n, g->mlp, g->nt, g->nt / g->D + 2);
    return HW_OK;
}

static hw_status alloc_result(hw_fact_result *r, gather *g) {
    const size_t LH = (size_t)g->L * g->H, n = (size_t)g->n, nt = (size_t)g->nt, D = (size_t)g->D;
    r->movers = calloc(3 * LH, sizeof(double));
    r->final_name = calloc((size_t)r->info.n_final, sizeof *r->final_name);
    r->final_dla = calloc((size_t)r->info.n_final, sizeof(double));
    r->suppressed = calloc((size_t)r->info.n_final, sizeof(int));
    r->prompt = calloc(n * 5, sizeof(int));
    r->probs = calloc(n * 2, sizeof(double));
    g->dir = malloc(sizeof(float) * D);
    int ok = r->movers && r->final_name && r->final_dla && r->suppressed && r->prompt && r->probs && g->dir;
    if (ok && g->mlp >= 0) {
        r->term = calloc(nt, sizeof *r->term);
        r->beta = calloc(nt, sizeof(double));
        r->constant = calloc(nt, sizeof(int));
        r->intercept = calloc(D, sizeof(double));
        g->o = malloc(sizeof(float) * n * nt * D);
        g->y = malloc(sizeof(float) * n * D);
        ok = r->term && r->beta && r->constant && r->intercept && g->o && g->y;
    }
    if (!ok) return hw_fail(HW_ERR_NOMEM, "facts: out of memory");
    int k = 0;
    if (g->mlp >= 0) snprintf(r->term[k++], sizeof *r->term, "embed");
    for (int l = 0; g->mlp >= 0 && l < g->head_layers; l++)
        for (int h = 0; h < g->H; h++) snprintf(r->term[k++], sizeof *r->term, "%d.%d", l, h);
    for (int l = 0; l < g->mlp; l++) snprintf(r->term[k++], sizeof *r->term, "mlp.%d", l);
    return HW_OK;
}

static hw_status fact_work(const hw_model *m, const hw_tokenizer *t, source *src, gather *g,
                           hw_progress_fn progress, void *user, hw_fact_result *r) {
    hw_status s = src->p->task.name ? task_prompts(src) : HW_OK;
    g->n = src->n;
    if (!s) s = check_prompts(src, g);
    if (!s) s = alloc_result(r, g);
    if (!s) s = captured_pass(src, g, progress, user, r);
    if (s) return s;
    r->info.n_prompts = g->n;
    r->info.norm_scale = g->inv_sum / g->n;
    movers_finish(r, g->n);
    final_finish(r, g->n);
    if (g->mlp >= 0 && (s = regression(m, t, src, g, r))) return s;
    if (r->info.n_suppressors) return mitigate(src, g, progress, user, r);
    r->info.confidence_after = r->info.confidence_before;
    r->info.accuracy_after = r->info.accuracy_before;
    for (int i = 0; i < g->n; i++) r->probs[i * 2 + 1] = r->probs[i * 2];
    return HW_OK;
}

hw_status hw_fact_run(const hw_model *m, const hw_tokenizer *t, const hw_fact_params *p,
                      hw_progress_fn progress, void *user, hw_fact_result **out) {
    if (out) *out = NULL;
    if (!out) return hw_fail(HW_ERR_ARG, "facts: no result");
    hw_status s = check_params(m, t, p);
    if (s) return s;
    const hw_config *cfg = hw_model_config(m);
    hw_fact_result *r = calloc(1, sizeof *r);
    if (!r) return hw_fail(HW_ERR_NOMEM, "facts: out of memory");
    r->L = cfg->n_layer, r->H = cfg->n_head, r->D = cfg->d_model;
    gather g = {m, r->L, r->H, r->D, cfg->vocab_size, 0, -1, 0, 0, NULL, NULL, 0, NULL};
    if (cfg->d_ff) {
        g.mlp = p->mlp_layer >= 0 ? p->mlp_layer : r->L - 1;
        /* A parallel-residual MLP reads the layer's input, not its attention output. */
        g.head_layers = cfg->parallel_residual ? g.mlp : g.mlp + 1;
        g.nt = 1 + g.head_layers * r->H + g.mlp;
    }
    r->info = (hw_fact_info){.mlp_layer = g.mlp, .n_terms = g.nt, .top_k = p->top_k,
                             .n_final = r->H + (cfg->d_ff ? 1 : 0), .mitigate_scale = p->mitigate_scale,
                             .r2 = NAN, .pearson_r = NAN};
    source src = {p, m, t, NULL, NULL, NULL, p->prompts ? hw_prompts_count(p->prompts) : 0};
    s = fact_work(m, t, &src, &g, progress, user, r);
    hw_task_free(src.task);
    free(src.seq), free(src.kept), free(g.o), free(g.y), free(g.dir);
    if (s) {
        hw_fact_free(r);
        return s;
    }
    *out = r;
    return HW_OK;
}

/* ---------------------------------------------------------------- accessors */

void hw_fact_get_info(const hw_fact_result *r, hw_fact_info *out) {
    if (r && out) *out = r->info;
}
const hw_head_table *hw_fact_movers(const hw_fact_result *r) { return r ? &r->table : NULL; }
const char *hw_fact_term_name(const hw_fact_result *r, int i) {
    return r && r->term && i >= 0 && i < r->info.n_terms ? r->term[i] : NULL;
}
const double *hw_fact_betas(const hw_fact_result *r) { return r ? r->beta : NULL; }
const int *hw_fact_constant(const hw_fact_result *r) { return r ? r->constant : NULL; }
const double *hw_fact_intercept(const hw_fact_result *r) { return r ? r->intercept : NULL; }

hw_status hw_fact_get_reading(const hw_fact_result *r, int k, hw_fact_reading *out) {
    if (!r || !out || k < 0 || k >= r->info.n_readings)
        return hw_fail(HW_ERR_ARG, "facts: no reading %d (%d)", k, r ? r->info.n_readings : 0);
    size_t o = (size_t)k * r->info.top_k;
    *out = (hw_fact_reading){r->reading[k], r->reading_beta[k], r->reading_ids + o, r->reading_logits + o,
                             (const char *const *)r->reading_text + o};
    return HW_OK;
}

const char *hw_fact_final_name(const hw_fact_result *r, int i) {
    return r && i >= 0 && i < r->info.n_final ? r->final_name[i] : NULL;
}
const double *hw_fact_final_dla(const hw_fact_result *r) { return r ? r->final_dla : NULL; }
const int *hw_fact_final_suppressed(const hw_fact_result *r) { return r ? r->suppressed : NULL; }
const int *hw_fact_prompt_info(const hw_fact_result *r) { return r ? r->prompt : NULL; }
const double *hw_fact_prompt_probs(const hw_fact_result *r) { return r ? r->probs : NULL; }

/* ---------------------------------------------------------------- JSON */

static void num(FILE *f, double x) {
    if (isfinite(x)) fprintf(f, "%.9g", x);
    else fputs("null", f);
}

/* n doubles (stride apart) as a JSON list. */
static void num_list(FILE *f, const double *x, int n, int stride) {
    fputc('[', f);
    for (int i = 0; i < n; i++) {
        if (i) fputs(", ", f);
        num(f, x[(size_t)i * stride]);
    }
    fputc(']', f);
}

static void int_list(FILE *f, const int *x, int n, int stride) {
    fputc('[', f);
    for (int i = 0; i < n; i++) fprintf(f, "%s%d", i ? ", " : "", x[(size_t)i * stride]);
    fputc(']', f);
}

static void name_list(FILE *f, const hw_name32 *names, const int *which, int n) {
    fputc('[', f);
    for (int i = 0, first = 1; i < n; i++)
        if (!which || which[i]) {
            fputs(first ? "" : ", ", f);
            hw_json_string(f, names[i]);
            first = 0;
        }
    fputc(']', f);
}

static void write_movers(const hw_fact_result *r, FILE *f) {
    const int LH = r->L * r->H;
    fputs("\"movers\": {", f);
    for (int c = 0; c < 3; c++) {
        fprintf(f, "\"%s\": [", mover_cols[c]);
        for (int l = 0; l < r->L; l++) {
            fputs(l ? ", " : "", f);
            num_list(f, r->movers + (size_t)c * LH + (size_t)l * r->H, r->H, 1);
        }
        fputs("], ", f);
    }
    fputs("\"pearson_r\": ", f);
    num(f, r->info.pearson_r);
    fputs(", \"ranking\": [", f);
    int *order = malloc(sizeof(int) * (size_t)LH);
    if (order) hw_scores_rank(r->movers + 2 * (size_t)LH, LH, order);
    for (int k = 0; order && k < LH; k++) fprintf(f, "%s\"%d-%d\"", k ? ", " : "", order[k] / r->H, order[k] % r->H);
    free(order);
    fputs("]}", f);
}

static void write_regression(const hw_fact_result *r, FILE *f) {
    const hw_fact_info *in = &r->info;
    if (in->mlp_layer < 0) {
        fputs("\"regression\": null", f);
        return;
    }
    fprintf(f, "\"regression\": {\"mlp\": %d, \"terms\": ", in->mlp_layer);
    name_list(f, r->term, NULL, in->n_terms);
    fputs(", \"beta\": ", f);
    num_list(f, r->beta, in->n_terms, 1);
    fputs(", \"constant\": ", f);
    name_list(f, r->term, r->constant, in->n_terms);
    fputs(", \"r2\": ", f);
    num(f, in->r2);
    fputs(", \"ridge\": ", f);
    num(f, in->ridge);
    fputs(", \"norm_scale\": ", f);
    num(f, in->norm_scale);
    fputs(", \"intercept\": ", f);
    num_list(f, r->intercept, r->D, 1);
    fputs(", \"readings\": [", f);
    for (int k = 0; k < in->n_readings; k++) {
        hw_fact_reading rd;
        hw_fact_get_reading(r, k, &rd);
        fputs(k ? ", {\"term\": " : "{\"term\": ", f);
        hw_json_string(f, rd.name);
        fputs(", \"beta\": ", f);
        num(f, rd.beta);
        fputs(", \"tokens\": [", f);
        for (int j = 0; j < in->top_k; j++) {
            fputs(j ? ", " : "", f);
            hw_json_string(f, rd.text[j]);
        }
        fputs("], \"ids\": ", f);
        int_list(f, rd.ids, in->top_k, 1);
        fputs(", \"logits\": ", f);
        num_list(f, rd.logits, in->top_k, 1);
        fputc('}', f);
    }
    fputs("]}", f);
}

static void write_final(const hw_fact_result *r, FILE *f) {
    const hw_fact_info *in = &r->info;
    fputs("\"anti_overconfidence\": {\"components\": ", f);
    name_list(f, r->final_name, NULL, in->n_final);
    fputs(", \"dla\": ", f);
    num_list(f, r->final_dla, in->n_final, 1);
    fputs(", \"suppressors\": ", f);
    name_list(f, r->final_name, r->suppressed, in->n_final);
    fputs(", \"scale\": ", f);
    num(f, in->mitigate_scale);
    fputs(", \"confidence_before\": ", f);
    num(f, in->confidence_before);
    fputs(", \"confidence_after\": ", f);
    num(f, in->confidence_after);
    fputs(", \"confidence_gained\": ", f);
    num(f, in->confidence_after - in->confidence_before);
    fprintf(f, ", \"answers\": %d, \"accuracy_before\": ", in->n_answers);
    num(f, in->accuracy_before);
    fputs(", \"accuracy_after\": ", f);
    num(f, in->accuracy_after);
    fputc('}', f);
}

static void write_prompts(const hw_fact_result *r, FILE *f) {
    static const char *const cols[] = {"n_tokens", "topic_pos", "topic_token", "top_token", "answer"};
    const int n = r->info.n_prompts;
    fputs("\"per_prompt\": {", f);
    for (int c = 0; c < 5; c++) {
        fprintf(f, "\"%s\": ", cols[c]);
        int_list(f, r->prompt + c, n, 5);
        fputs(", ", f);
    }
    fputs("\"p_before\": ", f);
    num_list(f, r->probs, n, 2);
    fputs(", \"p_after\": ", f);
    num_list(f, r->probs + 1, n, 2);
    fputc('}', f);
}

static void write_json(const void *vr, FILE *f) {
    const hw_fact_result *r = vr;
    fprintf(f, "{\"prompts\": %d, ", r->info.n_prompts);
    write_movers(r, f);
    fputs(", ", f);
    write_regression(r, f);
    fputs(", ", f);
    write_final(r, f);
    fputs(", ", f);
    write_prompts(r, f);
    fputs("}\n", f);
}

/* The mover heads ranked by score. */
static void write_tsv(const void *vr, FILE *f) {
    const hw_fact_result *r = vr;
    const int LH = r->L * r->H;
    int *order = malloc(sizeof(int) * (size_t)LH);
    if (order) hw_scores_rank(r->movers + 2 * (size_t)LH, LH, order);
    fputs("layer\thead\tattention\talignment\tscore\n", f);
    for (int k = 0; order && k < LH; k++)
        fprintf(f, "%d\t%d\t%.9g\t%.9g\t%.9g\n", order[k] / r->H, order[k] % r->H, r->movers[order[k]],
                r->movers[LH + order[k]], r->movers[2 * LH + order[k]]);
    free(order);
}

hw_status hw_fact_write(const hw_fact_result *r, const char *path) {
    if (!r) return hw_fail(HW_ERR_ARG, "facts: no result to write");
    return hw_write_json_or_tsv(path, r, write_json, write_tsv);
}

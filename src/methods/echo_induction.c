/*
 * echo_induction.c: RazorAttention's head probe (methods.md section 3.1, Tang et al.
 * 2024): echo heads attend to earlier copies of the current token, induction heads to
 * the token that followed them; the top of each ranking keeps a full KV cache.
 */
#include "protocol.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Section 3.1 scores. Position i >= first + block is in a later repetition; its
 * earlier copies are j = i - k*block (k >= 1, j >= first); echo reads A[i, j] and
 * induction A[i, j + 1]. The sum is divided by T*T, not by the number of mask
 * entries, as the reference code takes a plain mean over the masked matrix. */
hw_status hw_echo_induction_scores(const float *pattern, int H, int Tq, int P, int q0, int T,
                                   int first, int block, double *echo, double *induction) {
    if (H <= 0 || T <= 0 || first < 0 || block <= 0 || first + block > T || q0 < 0 ||
        Tq < 0 || q0 + Tq > T || P < q0 + Tq)
        return hw_fail(HW_ERR_ARG, "echo/induction: bad probe shape (H %d, rows %d..%d of %d, "
                       "keys %d, first %d, block %d)", H, q0, q0 + Tq, T, P, first, block);
    double norm = (double)T * T;
    for (int h = 0; h < H; h++) {
        double e = 0, ind = 0;
        for (int r = 0; r < Tq; r++) {
            int i = q0 + r;
            if (i < first + block) continue;
            const float *row = pattern + ((size_t)h * Tq + r) * P;
            for (int j = i - block; j >= first; j -= block) {
                e += row[j];
                ind += row[j + 1];
            }
        }
        echo[h] += e / norm;
        induction[h] += ind / norm;
    }
    return HW_OK;
}

hw_status hw_scores_per_kv(const double *per_q, int L, int H, int Hk, int use_max,
                           double *per_kv) {
    if (L <= 0 || H <= 0 || Hk <= 0 || H % Hk)
        return hw_fail(HW_ERR_ARG, "per-KV-head scores: %d query heads do not split into %d "
                       "KV heads", H, Hk);
    int G = H / Hk;
    for (int l = 0; l < L; l++)
        for (int k = 0; k < Hk; k++) {
            const double *g = per_q + (size_t)l * H + (size_t)k * G;
            double acc = g[0];
            for (int i = 1; i < G; i++) acc = use_max ? fmax(acc, g[i]) : acc + g[i];
            per_kv[(size_t)l * Hk + k] = use_max ? acc : acc / G;
        }
    return HW_OK;
}

/* Section 3.1 selection: top round(N * 0.14) by induction united with the top
 * round(N * 0.01) by echo (the RAConfig defaults), N the number of KV heads. */
int hw_razor_select(const double *echo, const double *induction, int n, double echo_ratio,
                    double induction_ratio, int *keep) {
    if (!echo || !induction || !keep || n <= 0 || !(echo_ratio >= 0 && echo_ratio <= 1) ||
        !(induction_ratio >= 0 && induction_ratio <= 1))
        return hw_fail(HW_ERR_ARG, "hw_razor_select: %d scores, ratios %g and %g (want n > 0, "
                       "ratios in [0, 1])", n, echo_ratio, induction_ratio), -1;
    int *order = malloc(sizeof(int) * (size_t)n);
    if (!order) return hw_fail(HW_ERR_NOMEM, "hw_razor_select: out of memory"), -1;
    for (int i = 0; i < n; i++) keep[i] = 0;
    int n_ind = (int)lround(n * induction_ratio), n_echo = (int)lround(n * echo_ratio);
    if (n_ind > n) n_ind = n;
    if (n_echo > n) n_echo = n;
    hw_scores_rank(induction, n, order);
    for (int i = 0; i < n_ind; i++) keep[order[i]] = 1;
    hw_scores_rank(echo, n, order);
    for (int i = 0; i < n_echo; i++) keep[order[i]] = 1;
    free(order);
    int kept = 0;
    for (int i = 0; i < n; i++) kept += keep[i];
    return kept;
}

/* ---------------------------------------------------------------- the probe as one call */

static const char *const echo_cols[] = {"echo", "induction", "echo_mass", "induction_mass",
                                        "prev_token"};
enum { COL_ECHO, COL_IND, COL_ECHO_MASS, COL_IND_MASS, COL_PREV, N_COLS };

struct hw_echo_induction_result {
    hw_head_table table;
    double *values;         /* (N_COLS, L, H), the table's */
    double *kv_echo, *kv_ind; /* (L, Hk) */
    int *keep;              /* (L, Hk) */
    int *tokens;            /* (T) */
    hw_echo_induction_info info;
};

hw_echo_induction_params hw_echo_induction_params_default(void) {
    hw_echo_induction_params p = {0};
    p.repeats = 4;
    p.lo = p.hi = -1;
    p.seed = 1;
    p.echo_ratio = 0.01;
    p.induction_ratio = 0.14;
    p.kv_max = 1;
    p.chunk = 128;
    return p;
}

void hw_echo_induction_free(hw_echo_induction_result *r) {
    if (!r) return;
    free(r->values);
    free(r->kv_echo);
    free(r->kv_ind);
    free(r->keep);
    free(r->tokens);
    free(r);
}

/* The pattern hook: each chunk's rows add their echo, induction and previous-token shares. */
typedef struct {
    int H, T, first, block;
    double *echo, *ind, *prev; /* (L, H) */
} probe;

static int probe_hook(hw_hook_call *c, void *user) {
    probe *p = user;
    if (c->point != HW_HOOK_PATTERN) return 0;
    if (c->ask) return 1;
    int Tq = c->shape[1], P = c->shape[2];
    size_t off = (size_t)c->layer * p->H;
    if (hw_echo_induction_scores(c->data, p->H, Tq, P, c->pos, p->T, p->first, p->block,
                                 p->echo + off, p->ind + off))
        return 1;
    for (int h = 0; h < p->H; h++)
        for (int r = 0; r < Tq; r++) {
            int i = c->pos + r;
            if (i >= 1) p->prev[off + h] += c->data[((size_t)h * Tq + r) * P + i - 1] / (p->T - 1);
        }
    return 0;
}

static hw_status check_params(const hw_model *m, const hw_tokenizer *t,
                              const hw_echo_induction_params *p, hw_echo_induction_result **out) {
    const char *what = "echo-induction";
    if (out) *out = NULL;
    if (!m || !p || !out) return hw_fail(HW_ERR_ARG, "%s: no model, params or result", what);
    if (p->text && !t) return hw_fail(HW_ERR_ARG, "%s: a text block needs the tokenizer", what);
    if (p->repeats < 2 || p->block < 0 || p->chunk < 1)
        return hw_fail(HW_ERR_ARG, "%s: bad repeats (%d, at least 2), block (%d) or chunk (%d)",
                       what, p->repeats, p->block, p->chunk);
    if (!(p->echo_ratio >= 0 && p->echo_ratio <= 1 && p->induction_ratio >= 0 &&
          p->induction_ratio <= 1))
        return hw_fail(HW_ERR_ARG, "%s: ratios must be in [0, 1]", what);
    return HW_OK;
}

/* The probe's tokens, its defaults resolved into r->info; errors before any forward pass. */
static hw_status build_probe(const hw_model *m, const hw_tokenizer *t,
                             const hw_echo_induction_params *p, hw_echo_induction_result *r) {
    const hw_config *cfg = hw_model_config(m);
    const int V = cfg->vocab_size, C = cfg->n_ctx;
    hw_echo_induction_info *in = &r->info;
    int *text_ids = NULL;
    in->first = cfg->bos_id >= 0 ? 1 : 0;
    in->repeats = p->repeats;
    in->n_kv_head = cfg->n_kv_head;
    in->lo = in->hi = -1;
    long block = p->block;
    if (p->text) {
        int n = hw_tokenizer_encode_alloc(t, p->text, 0, &text_ids);
        if (n < 0) return HW_ERR_ARG;
        if (n < 2) return free(text_ids), hw_fail(HW_ERR_ARG, "--text has fewer than 2 tokens");
        block = n;
        in->from_text = 1;
    } else {
        in->seed = p->seed;
        in->lo = p->lo >= 0 ? p->lo : V > 12500 ? 10000 : V / 2;
        in->hi = p->hi >= 0 ? p->hi : V > 12500 ? 12500 : V;
    }
    if (!block) block = (C - in->first) / p->repeats < 2500 ? (C - in->first) / p->repeats : 2500;
    long T = in->first + (long)p->repeats * block;
    hw_status s = HW_OK;
    if (block < 2)
        s = hw_fail(HW_ERR_RANGE, "the model's context (%d) is too short for the probe", C);
    else if (T > C)
        s = hw_fail(HW_ERR_RANGE, "probe of %ld tokens (%d x %ld + BOS) is longer than the "
                    "model's context (%d)", T, p->repeats, block, C);
    else if (!text_ids && (in->lo >= in->hi || in->hi > V))
        s = hw_fail(HW_ERR_ARG, "token range [%d, %d) is empty or outside the vocabulary (%d)",
                    in->lo, in->hi, V);
    else if (!(r->tokens = malloc(sizeof(int) * (size_t)T)))
        s = hw_fail(HW_ERR_NOMEM, "out of memory");
    if (s) return free(text_ids), s;
    in->block = (int)block;
    in->n_tokens = (int)T;
    if (in->first) r->tokens[0] = cfg->bos_id;
    /* hw_rng_next modulo the range, not hw_rng_int: the probe's block as it always was
     * drawn, so a seed gives the same block as before the probe moved here. */
    hw_rng rng = {p->seed};
    for (long i = 0; i < block; i++)
        r->tokens[in->first + i] =
            text_ids ? text_ids[i] : (int)(in->lo + (long)(hw_rng_next(&rng) % (uint64_t)(in->hi - in->lo)));
    for (int k = 1; k < p->repeats; k++)
        memcpy(r->tokens + in->first + (size_t)k * block, r->tokens + in->first, sizeof(int) * (size_t)block);
    free(text_ids);
    return HW_OK;
}

/* One prefill of the probe, chunk rows per call, with the pattern hook. */
static hw_status prefill(const hw_model *m, const hw_echo_induction_params *p,
                         hw_echo_induction_result *r, hw_progress_fn progress, void *user) {
    const hw_config *cfg = hw_model_config(m);
    const int L = cfg->n_layer, H = cfg->n_head, T = r->info.n_tokens;
    const size_t LH = (size_t)L * H;
    probe pr = {H, T, r->info.first, r->info.block, r->values + COL_ECHO * LH,
                r->values + COL_IND * LH, r->values + COL_PREV * LH};
    /* Every head full, whatever cache a caller runs with elsewhere: this probe is how
     * RazorAttention chooses which heads keep a full cache, so it must see every
     * position (a streaming head's pattern would hide the echo and induction it scores).
     * Hence no KV-cache policy in hw_echo_induction_params. */
    hw_context *ctx = hw_context_new(m, T);
    hw_hooks *hooks = hw_hooks_new();
    hw_status s = !ctx ? HW_ERR_NOMEM /* error set */
                  : !hooks ? hw_fail(HW_ERR_NOMEM, "echo-induction: out of memory")
                           : hw_hooks_add(hooks, probe_hook, &pr);
    for (int pos = 0; !s && pos < T; pos += p->chunk) {
        int n = T - pos < p->chunk ? T - pos : p->chunk;
        if (!(s = hw_progress_step(progress, user, "echo-induction", "prefill", pos + n, T)))
            s = hw_forward_hooked(ctx, r->tokens + pos, n, HW_LOGITS_NONE, NULL, hooks);
    }
    hw_hooks_free(hooks);
    hw_context_free(ctx);
    return s;
}

/* Mass columns and the KV-head selection from the finished scores. */
static hw_status select_heads(const hw_config *cfg, const hw_echo_induction_params *p,
                              hw_echo_induction_result *r) {
    const int L = cfg->n_layer, H = cfg->n_head, Hk = cfg->n_kv_head;
    const size_t LH = (size_t)L * H;
    double *v = r->values;
    /* The paper's scores are means over all T*T entries, so even a perfect head scores
     * (T - first - block) / T^2; the mass columns divide by the rows that have earlier
     * copies instead. */
    const double T = r->info.n_tokens, rows = T - r->info.first - r->info.block, to_mass = T * T / rows;
    for (size_t i = 0; i < LH; i++) {
        v[COL_ECHO_MASS * LH + i] = v[COL_ECHO * LH + i] * to_mass;
        v[COL_IND_MASS * LH + i] = v[COL_IND * LH + i] * to_mass;
    }
    hw_status s = hw_scores_per_kv(v + COL_ECHO * LH, L, H, Hk, p->kv_max, r->kv_echo);
    if (!s) s = hw_scores_per_kv(v + COL_IND * LH, L, H, Hk, p->kv_max, r->kv_ind);
    if (s) return s;
    int kept = hw_razor_select(r->kv_echo, r->kv_ind, L * Hk, p->echo_ratio, p->induction_ratio, r->keep);
    if (kept < 0) return hw_last_error()[0] ? HW_ERR_ARG : hw_fail(HW_ERR_NOMEM, "echo-induction: out of memory");
    r->info.n_selected = kept;
    return HW_OK;
}

hw_status hw_echo_induction_run(const hw_model *m, const hw_tokenizer *t,
                                const hw_echo_induction_params *p, hw_progress_fn progress,
                                void *user, hw_echo_induction_result **out) {
    hw_status s = check_params(m, t, p, out);
    if (s) return s;
    const hw_config *cfg = hw_model_config(m);
    const int L = cfg->n_layer, H = cfg->n_head, Hk = cfg->n_kv_head;
    hw_echo_induction_result *r = calloc(1, sizeof *r);
    if (!r || !(r->values = calloc((size_t)N_COLS * L * H, sizeof(double))) ||
        !(r->kv_echo = malloc(sizeof(double) * (size_t)L * Hk)) ||
        !(r->kv_ind = malloc(sizeof(double) * (size_t)L * Hk)) ||
        !(r->keep = malloc(sizeof(int) * (size_t)L * Hk)))
        s = hw_fail(HW_ERR_NOMEM, "echo-induction: out of memory");
    if (!s) s = build_probe(m, t, p, r);
    if (!s) s = prefill(m, p, r, progress, user);
    if (!s) s = select_heads(cfg, p, r);
    if (s) {
        hw_echo_induction_free(r);
        return s;
    }
    r->table = (hw_head_table){L, H, N_COLS, echo_cols, r->values, COL_IND, 0};
    *out = r;
    return HW_OK;
}

const hw_head_table *hw_echo_induction_table(const hw_echo_induction_result *r) {
    return r ? &r->table : NULL;
}

void hw_echo_induction_get_info(const hw_echo_induction_result *r, hw_echo_induction_info *out) {
    if (r && out) *out = r->info;
}

const int *hw_echo_induction_tokens(const hw_echo_induction_result *r) { return r ? r->tokens : NULL; }
const double *hw_echo_induction_kv_echo(const hw_echo_induction_result *r) { return r ? r->kv_echo : NULL; }
const double *hw_echo_induction_kv_induction(const hw_echo_induction_result *r) { return r ? r->kv_ind : NULL; }
const int *hw_echo_induction_selected(const hw_echo_induction_result *r) { return r ? r->keep : NULL; }

hw_status hw_echo_induction_write(const hw_echo_induction_result *r, const char *path) {
    if (!r) return hw_fail(HW_ERR_ARG, "echo-induction: no result to write");
    return hw_head_table_write(&r->table, path);
}

hw_status hw_echo_induction_write_selection(const hw_echo_induction_result *r, const char *path) {
    if (!r) return hw_fail(HW_ERR_ARG, "echo-induction: no result to write");
    return hw_kv_head_mask_write(path, r->keep, r->table.n_layer, r->info.n_kv_head);
}

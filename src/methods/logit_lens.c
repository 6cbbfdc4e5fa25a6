/*
 * logit_lens.c: the logit lens (methods.md sections 7 and 9): one position's residual
 * stream, layer by layer, and optionally every component's output there, read through
 * the final norm and the unembedding; top tokens per row and a target's rank.
 *
 * The forward runs the prompt only up to the position read: the residual at position p
 * depends on tokens 0..p alone (causal attention), and hw_final_run captures the last
 * row of what it runs.
 */
#include "protocol.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct hw_lens_result {
    int rows, V, top;
    char (*name)[32];       /* (rows) */
    float *logits;          /* (rows, V) */
    int *top_ids;           /* (rows, top) */
    int *rank;              /* (rows) or NULL */
    float *tlogit, *tlogp;  /* (rows) or NULL */
    int *tokens;            /* (n_tokens) */
    char *target_text;
    char **text;            /* (V) token texts, filled for the tokens listed; NULL without t */
    hw_lens_info info;
};

hw_lens_params hw_lens_params_default(void) {
    hw_lens_params p = {0};
    p.target_id = -1;
    p.pos = -1;
    p.top = 10;
    p.norm = HW_LENS_NORM_RECOMPUTE;
    return p;
}

void hw_lens_free(hw_lens_result *r) {
    if (!r) return;
    for (int v = 0; r->text && v < r->V; v++) free(r->text[v]);
    free(r->text);
    free(r->name);
    free(r->logits);
    free(r->top_ids);
    free(r->rank);
    free(r->tlogit);
    free(r->tlogp);
    free(r->tokens);
    free(r->target_text);
    free(r);
}

/* The rows' count for m (see the header's order). */
static int lens_row_count(const hw_model *m, int components) {
    const hw_config *c = &m->cfg;
    int per = 1 + (components ? c->n_head + 1 + (c->d_ff > 0) : 0);
    return c->n_layer * per + 1;
}

/* The prompt's ids (into r->tokens) and the target, checked before the forward. */
static hw_status lens_inputs(const hw_model *m, const hw_tokenizer *t, const hw_lens_params *p,
                             hw_lens_result *r) {
    const int V = m->cfg.vocab_size;
    int n;
    if (p->prompt) {
        if (!t) return hw_fail(HW_ERR_ARG, "lens: a text prompt needs a tokenizer");
        if ((n = hw_tokenizer_encode_alloc(t, p->prompt, HW_TOK_BOS, &r->tokens)) < 0) return HW_ERR_ARG;
    } else {
        if (!p->ids || p->n_ids < 1) return hw_fail(HW_ERR_ARG, "lens: give a prompt or token ids");
        n = p->n_ids;
        if (!(r->tokens = malloc(sizeof(int) * (size_t)n))) return hw_fail(HW_ERR_NOMEM, "lens: out of memory");
        for (int i = 0; i < n; i++) {
            if (p->ids[i] < 0 || p->ids[i] >= V)
                return hw_fail(HW_ERR_ARG, "lens: token id %d outside the vocabulary (%d)", p->ids[i], V);
            r->tokens[i] = p->ids[i];
        }
    }
    if (n < 1) return hw_fail(HW_ERR_ARG, "lens: empty prompt");
    r->info.n_tokens = n;
    r->info.tokens = r->tokens;
    if (p->pos < -1 || p->pos >= n)
        return hw_fail(HW_ERR_ARG, "lens: position %d outside the prompt's %d tokens", p->pos, n);
    r->info.pos = p->pos < 0 ? n - 1 : p->pos;
    r->info.target = -1;
    if (p->target) {
        if (!t) return hw_fail(HW_ERR_ARG, "lens: a text target needs a tokenizer");
        if ((r->info.target = hw_tokenizer_answer_token(t, p->target)) < 0)
            return hw_fail(HW_ERR_ARG, "lens: target '%s' encodes to no token", p->target);
    } else if (p->target_id >= 0) {
        if (p->target_id >= V) return hw_fail(HW_ERR_ARG, "lens: target id %d outside the vocabulary (%d)", p->target_id, V);
        r->info.target = p->target_id;
    }
    r->target_text = r->info.target >= 0 && t ? hw_token_text(t, r->info.target) : calloc(1, 1);
    if (!r->target_text) return hw_fail(HW_ERR_NOMEM, "lens: out of memory");
    r->info.target_text = r->target_text;
    return HW_OK;
}

/* y (D) = x read through the final norm: recomputed on x (weight and bias), or with the
 * scale of the full residual `full` (LayerNorm: x centred on itself; no bias). */
static void lens_norm(const hw_model *m, hw_lens_norm mode, const float *x, const float *full, float *y) {
    const hw_config *c = &m->cfg;
    const int D = c->d_model;
    const int ln = c->norm == HW_NORM_LAYER;
    if (mode == HW_LENS_NORM_RECOMPUTE) {
        if (ln) hw_layernorm(y, x, m->w.final_norm, m->w.final_norm_b, 1, D, c->norm_eps);
        else hw_rmsnorm(y, x, m->w.final_norm, 1, D, c->norm_eps);
        return;
    }
    double fmean = 0, xmean = 0, ss = 0;
    for (int k = 0; ln && k < D; k++) {
        fmean += full[k];
        xmean += x[k];
    }
    fmean /= D;
    xmean /= D;
    for (int k = 0; k < D; k++) ss += ((double)full[k] - fmean) * ((double)full[k] - fmean);
    double inv = 1.0 / sqrt(ss / D + c->norm_eps);
    for (int k = 0; k < D; k++) y[k] = (float)(((double)x[k] - xmean) * inv * m->w.final_norm[k]);
}

/* The rows' vectors (rows, D) and names from the captures of run f. */
static void lens_vectors(const hw_model *m, const hw_final_run *f, const hw_lens_params *p, float *y,
                         hw_lens_result *r) {
    const int L = m->cfg.n_layer, H = m->cfg.n_head, D = m->cfg.d_model;
    const float *full = hw_final_run_row(f, HW_HOOK_RESID_POST, L - 1);
    int i = 0;
#define ROW(vec, ...)                                                   \
    do {                                                                \
        snprintf(r->name[i], sizeof r->name[i], __VA_ARGS__);           \
        lens_norm(m, p->norm, (vec), full, y + (size_t)i * D);          \
        i++;                                                            \
    } while (0)
    for (int l = 0; l < L; l++) {
        ROW(hw_final_run_row(f, HW_HOOK_RESID_PRE, l), "resid_pre.%d", l);
        if (!p->components) continue;
        const float *res = hw_final_run_row(f, HW_HOOK_RESULT, l); /* (H, D) */
        for (int h = 0; h < H; h++) ROW(res + (size_t)h * D, "%d.%d", l, h);
        ROW(hw_final_run_row(f, HW_HOOK_ATTN_OUT, l), "attn.%d", l);
        const float *mo = hw_final_run_row(f, HW_HOOK_MLP_OUT, l);
        if (mo) ROW(mo, "mlp.%d", l);
    }
    ROW(full, "resid_post.%d", L - 1);
#undef ROW
}

/* Top tokens, target rank, logit and log-probability of every row. */
static void lens_rank(hw_lens_result *r) {
    const int V = r->V, K = r->top, tg = r->info.target;
    for (int i = 0; i < r->rows; i++) {
        const float *z = r->logits + (size_t)i * V;
        int *top = r->top_ids + (size_t)i * K, n = 0;
        /* insertion into the top K, best first, the lower id first on ties */
        for (int v = 0; v < V; v++) {
            int j = n < K ? n++ : K;
            if (j == K && z[v] <= z[top[K - 1]]) continue;
            if (j == K) j = K - 1;
            while (j > 0 && z[v] > z[top[j - 1]]) {
                top[j] = top[j - 1];
                j--;
            }
            top[j] = v;
        }
        if (tg < 0) continue;
        int above = 0;
        double mx = z[top[0]], se = 0;
        for (int v = 0; v < V; v++) {
            above += z[v] > z[tg];
            se += exp((double)z[v] - mx);
        }
        r->rank[i] = above;
        r->tlogit[i] = z[tg];
        r->tlogp[i] = (float)((double)z[tg] - mx - log(se));
    }
}

static hw_status lens_alloc(hw_lens_result *r, int has_target) {
    const size_t R = (size_t)r->rows;
    r->name = calloc(R, sizeof *r->name);
    r->logits = malloc(sizeof(float) * R * (size_t)r->V);
    r->top_ids = malloc(sizeof(int) * R * (size_t)r->top);
    if (has_target) {
        r->rank = malloc(sizeof(int) * R);
        r->tlogit = malloc(sizeof(float) * R);
        r->tlogp = malloc(sizeof(float) * R);
    }
    if (!r->name || !r->logits || !r->top_ids || (has_target && (!r->rank || !r->tlogit || !r->tlogp)))
        return hw_fail(HW_ERR_NOMEM, "lens: out of memory");
    return HW_OK;
}

/* The texts of every token listed (and only those: V may be large). */
static hw_status lens_texts(const hw_tokenizer *t, hw_lens_result *r) {
    if (!t) return HW_OK;
    if (!(r->text = calloc((size_t)r->V, sizeof(char *)))) return hw_fail(HW_ERR_NOMEM, "lens: out of memory");
    for (size_t i = 0; i < (size_t)r->rows * r->top; i++) {
        int v = r->top_ids[i];
        if (!r->text[v] && !(r->text[v] = hw_token_text(t, v))) return hw_fail(HW_ERR_NOMEM, "lens: out of memory");
    }
    return HW_OK;
}

static hw_status lens_forward(const hw_model *m, const hw_lens_params *p, hw_progress_fn progress,
                              void *user, hw_lens_result *r) {
    const int D = m->cfg.d_model;
    hw_final_run f = {0};
    float *y = malloc(sizeof(float) * (size_t)r->rows * D);
    hw_status s = hw_final_run_open(&f, m, p->kv, "lens");
    if (!s && !y) s = hw_fail(HW_ERR_NOMEM, "lens: out of memory");
    if (!s) s = hw_progress_step(progress, user, "lens", "forward", 0, 1);
    if (!s) s = hw_final_run_ids(&f, r->tokens, r->info.pos + 1, "lens");
    if (!s) {
        lens_vectors(m, &f, p, y, r);
        hw_matmul(r->logits, y, &m->w.classifier, NULL, r->rows);
        lens_rank(r);
        s = hw_progress_step(progress, user, "lens", "forward", 1, 1);
    }
    hw_final_run_close(&f);
    free(y);
    return s;
}

hw_status hw_lens_run(const hw_model *m, const hw_tokenizer *t, const hw_lens_params *p,
                      hw_progress_fn progress, void *user, hw_lens_result **out) {
    if (out) *out = NULL;
    if (!m || !p || !out) return hw_fail(HW_ERR_ARG, "lens: no model, params or result");
    if (p->norm != HW_LENS_NORM_RECOMPUTE && p->norm != HW_LENS_NORM_FIXED)
        return hw_fail(HW_ERR_ARG, "lens: norm mode %d unknown", (int)p->norm);
    const int V = m->cfg.vocab_size;
    if (p->top < 1 || p->top > V) return hw_fail(HW_ERR_ARG, "lens: top must be in [1, %d]", V);
    hw_lens_result *r = calloc(1, sizeof *r);
    if (!r) return hw_fail(HW_ERR_NOMEM, "lens: out of memory");
    r->V = r->info.vocab = V;
    r->top = r->info.top = p->top;
    r->info.norm = p->norm;
    r->rows = lens_row_count(m, p->components);
    hw_status s = lens_inputs(m, t, p, r);
    if (!s) s = lens_alloc(r, r->info.target >= 0);
    if (!s) s = lens_forward(m, p, progress, user, r);
    if (!s) s = lens_texts(t, r);
    if (s) {
        hw_lens_free(r);
        return s;
    }
    *out = r;
    return HW_OK;
}

int hw_lens_rows(const hw_lens_result *r) { return r ? r->rows : 0; }
const char *hw_lens_row_name(const hw_lens_result *r, int i) { return r && i >= 0 && i < r->rows ? r->name[i] : NULL; }
const float *hw_lens_logits(const hw_lens_result *r) { return r ? r->logits : NULL; }
const int *hw_lens_top(const hw_lens_result *r) { return r ? r->top_ids : NULL; }
const int *hw_lens_target_rank(const hw_lens_result *r) { return r ? r->rank : NULL; }
const float *hw_lens_target_logit(const hw_lens_result *r) { return r ? r->tlogit : NULL; }
const float *hw_lens_target_logprob(const hw_lens_result *r) { return r ? r->tlogp : NULL; }

void hw_lens_get_info(const hw_lens_result *r, hw_lens_info *out) {
    if (r && out) *out = r->info;
}

/* ---------------------------------------------------------------- writers */

static const char *tok_text(const hw_lens_result *r, int v) { return r->text && r->text[v] ? r->text[v] : ""; }

static void lens_write_json(const hw_lens_result *r, FILE *f) {
    const hw_lens_info *in = &r->info;
    fprintf(f, "{\"n_tokens\": %d, \"pos\": %d, \"norm\": \"%s\", \"target\": ", in->n_tokens, in->pos,
            in->norm == HW_LENS_NORM_FIXED ? "fixed" : "recompute");
    hw_json_string(f, r->target_text);
    fprintf(f, ", \"target_token\": %d, \"tokens\": [", in->target);
    for (int i = 0; i < in->n_tokens; i++) fprintf(f, "%s%d", i ? ", " : "", r->tokens[i]);
    fputs("], \"rows\": [", f);
    for (int i = 0; i < r->rows; i++) {
        const int *top = r->top_ids + (size_t)i * r->top;
        fprintf(f, "%s\n  {\"name\": \"%s\", \"top\": [", i ? "," : "", r->name[i]);
        for (int k = 0; k < r->top; k++) fprintf(f, "%s%d", k ? ", " : "", top[k]);
        fputs("], \"top_text\": [", f);
        for (int k = 0; k < r->top; k++) {
            if (k) fputs(", ", f);
            hw_json_string(f, tok_text(r, top[k]));
        }
        fputs("], \"top_logit\": [", f);
        for (int k = 0; k < r->top; k++)
            fprintf(f, "%s%.9g", k ? ", " : "", r->logits[(size_t)i * r->V + top[k]]);
        fputc(']', f);
        if (r->rank)
            fprintf(f, ", \"target_rank\": %d, \"target_logit\": %.9g, \"target_logprob\": %.9g", r->rank[i],
                    r->tlogit[i], r->tlogp[i]);
        fputc('}', f);
    }
    fputs("]}\n", f);
}

/* Text in an HTML page: <, >, & escaped. */
static void html_text(FILE *f, const char *s) {
    for (; *s; s++) {
        if (*s == '<') fputs("&lt;", f);
        else if (*s == '>') fputs("&gt;", f);
        else if (*s == '&') fputs("&amp;", f);
        else fputc(*s, f);
    }
}

static void lens_write_html(const hw_lens_result *r, FILE *f) {
    fputs("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>logit lens</title><style>"
          "body{font-family:sans-serif}td,th{padding:2px 6px;border-bottom:1px solid #ddd;text-align:left}"
          "td.t{font-family:monospace;white-space:pre}</style></head><body>\n", f);
    fprintf(f, "<p>position %d of %d tokens; final norm %s", r->info.pos, r->info.n_tokens,
            r->info.norm == HW_LENS_NORM_FIXED ? "scale held fixed" : "recomputed");
    if (r->rank) {
        fputs("; target '", f);
        html_text(f, r->target_text);
        fprintf(f, "' = token %d", r->info.target);
    }
    fputs("</p>\n<table><tr><th>row</th>", f);
    if (r->rank) fputs("<th>target rank</th><th>target logit</th>", f);
    fputs("<th>top tokens (logit)</th></tr>\n", f);
    for (int i = 0; i < r->rows; i++) {
        fprintf(f, "<tr><td>%s</td>", r->name[i]);
        if (r->rank) fprintf(f, "<td>%d</td><td>%.3f</td>", r->rank[i], r->tlogit[i]);
        fputs("<td class=\"t\">", f);
        for (int k = 0; k < r->top; k++) {
            int v = r->top_ids[(size_t)i * r->top + k];
            fputs(k ? "  '" : "'", f);
            html_text(f, tok_text(r, v));
            fprintf(f, "' (%.2f)", r->logits[(size_t)i * r->V + v]);
        }
        fputs("</td></tr>\n", f);
    }
    fputs("</table></body></html>\n", f);
}

hw_status hw_lens_write(const hw_lens_result *r, const char *path) {
    if (!r) return hw_fail(HW_ERR_ARG, "lens: no result to write");
    hw_status s = hw_output_prepare(path);
    if (s) return s;
    hw_atomic_file *a = hw_atomic_open(path);
    if (!a) return HW_ERR_IO;
    size_t len = strlen(path);
    if (len >= 5 && !strcmp(path + len - 5, ".html")) lens_write_html(r, hw_atomic_stream(a));
    else lens_write_json(r, hw_atomic_stream(a));
    return hw_atomic_commit(a);
}

/*
 * successor.c: successor heads (methods.md section 5, Gould et al. 2024): heads whose
 * OV circuit maps a token of an ordinal sequence (Monday, 3, March) to its successor.
 * Everything here reads weights only; no forward pass is run.
 */
#include "protocol.h"
#include "weights_access.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void apply_norm(const hw_config *cfg, float *out, const float *x, const float *w,
                       const float *b) {
    if (cfg->norm == HW_NORM_RMS) hw_rmsnorm(out, x, w, 1, cfg->d_model, cfg->norm_eps);
    else hw_layernorm(out, x, w, b, 1, cfg->d_model, cfg->norm_eps);
}

/* out (D) = block 0's MLP applied to x (D), as the forward pass computes it. */
static void mlp0(const hw_model *m, const float *x, float *up, float *gate, float *out) {
    const hw_config *cfg = &m->cfg;
    const hw_layer_weights *w = &m->w.layers[0];
    hw_matmul(up, x, &w->w_up, w->b_up, 1);
    if (cfg->act == HW_ACT_SILU_GATED) hw_matmul(gate, x, &w->w_gate, w->b_gate, 1);
    hw_activate(up, gate, (size_t)cfg->d_ff, cfg->act);
    hw_matmul(out, up, &w->w_down, w->b_down, 1);
}

/* Section 5, effective token embedding. Mode 0 is the reimplementation the spec
 * follows: MLP0 fed W_E[t] directly (no ln2, no residual). Mode 1 is McDougall et al.'s:
 * all of block 0 on a one-token sequence, where attention can only read the token
 * itself, so each query head outputs its KV head's value vector. For a model without
 * MLPs (d_ff 0, attention-only) mode 0 gives W_E[t]. */
hw_status hw_effective_embedding(const hw_model *m, const int *tokens, int n, int mode,
                                 float *out) {
    const hw_config *cfg = &m->cfg;
    const int D = cfg->d_model, F = cfg->d_ff, H = cfg->n_head, Hk = cfg->n_kv_head,
              Dh = cfg->head_dim;
    if (mode != 0 && mode != 1) return hw_fail(HW_ERR_ARG, "effective embedding: mode %d", mode);
    for (int i = 0; i < n; i++)
        if (tokens[i] < 0 || tokens[i] >= cfg->vocab_size)
            return hw_fail(HW_ERR_ARG, "effective embedding: token %d outside the vocabulary",
                           tokens[i]);
    size_t need = (size_t)4 * D + 2 * (size_t)(F > 0 ? F : 1) + (size_t)H * Dh + (size_t)Hk * Dh;
    float *buf = malloc(need * sizeof(float));
    if (!buf) return hw_fail(HW_ERR_NOMEM, "effective embedding: out of memory");
    float *x = buf, *xn = x + D, *a = xn + D, *y = a + D, *up = y + D, *gate = up + (F > 0 ? F : 1),
          *z = gate + (F > 0 ? F : 1), *v = z + (size_t)H * Dh;
    const hw_layer_weights *w = &m->w.layers[0];
    for (int i = 0; i < n; i++) {
        float *o = out + (size_t)i * D;
        hw_embed_row(&m->w, tokens[i], D, x);
        if (mode == 0) {
            if (F > 0) mlp0(m, x, up, gate, o);
            else memcpy(o, x, (size_t)D * sizeof(float));
            continue;
        }
        if (m->w.pos_embed) hw_axpy(x, 1.0f, m->w.pos_embed, D);
        apply_norm(cfg, xn, x, w->attn_norm, w->attn_norm_b);
        hw_matmul(v, xn, &w->wv, w->bv, 1);
        for (int h = 0; h < H; h++)
            memcpy(z + (size_t)h * Dh, v + (size_t)(h / (H / Hk)) * Dh, (size_t)Dh * sizeof(float));
        hw_matmul(a, z, &w->wo, w->bo, 1);
        if (!cfg->parallel_residual) hw_axpy(x, 1.0f, a, D);
        memcpy(o, x, (size_t)D * sizeof(float));
        if (F > 0) {
            apply_norm(cfg, xn, x, w->mlp_norm, w->mlp_norm_b);
            mlp0(m, xn, up, gate, y);
            hw_axpy(o, 1.0f, y, D);
        }
        if (cfg->parallel_residual) hw_axpy(o, 1.0f, a, D);
    }
    free(buf);
    return HW_OK;
}

/* Section 5: z = W_U[task] . W_O^h W_V^h e, with head h's slice of W_O and the value
 * rows of the KV head it reads (no biases: the OV circuit of the weights). */
hw_status hw_ov_logits(const hw_model *m, int layer, int head, const float *e, int n_in,
                       const int *tokens, int n_tok, float *out) {
    const hw_config *cfg = &m->cfg;
    const int D = cfg->d_model, Dh = cfg->head_dim, H = cfg->n_head, Hk = cfg->n_kv_head;
    if (layer < 0 || layer >= cfg->n_layer || head < 0 || head >= H)
        return hw_fail(HW_ERR_ARG, "OV logits: no head %d.%d", layer, head);
    for (int j = 0; j < n_tok; j++)
        if (tokens[j] < 0 || tokens[j] >= cfg->vocab_size)
            return hw_fail(HW_ERR_ARG, "OV logits: token %d outside the vocabulary", tokens[j]);
    const hw_layer_weights *w = &m->w.layers[layer];
    int kv = head / (H / Hk);
    float *buf = malloc(((size_t)Dh + 2 * (size_t)D) * sizeof(float));
    if (!buf) return hw_fail(HW_ERR_NOMEM, "OV logits: out of memory");
    float *v = buf, *u = v + Dh, *row = u + D;
    for (int i = 0; i < n_in; i++) {
        const float *x = e + (size_t)i * D;
        for (int d = 0; d < Dh; d++) {
            double s = 0;
            for (int k = 0; k < D; k++) s += (double)hw_matrix_at(&w->wv, kv * Dh + d, k) * x[k];
            v[d] = (float)s;
        }
        for (int k = 0; k < D; k++) {
            double s = 0;
            for (int d = 0; d < Dh; d++) s += (double)hw_matrix_at(&w->wo, k, head * Dh + d) * v[d];
            u[k] = (float)s;
        }
        for (int j = 0; j < n_tok; j++) {
            hw_matrix_row(&m->w.classifier, tokens[j], row);
            double s = 0;
            for (int k = 0; k < D; k++) s += (double)row[k] * u[k];
            out[(size_t)i * n_tok + j] = (float)s;
        }
    }
    free(buf);
    return HW_OK;
}

/* Section 5: a pair succeeds when the argmax over the task's tokens (first on ties) is
 * the successor; the score is successes over pairs, pooled over tasks by the caller. */
int hw_successor_hits(const float *logits, const int *seq, int n, int U) {
    int hits = 0;
    for (int k = 0; k + 1 < n; k++) {
        const float *row = logits + (size_t)k * U;
        int best = hw_argmax(row, U);
        hits += best == seq[k + 1];
    }
    return hits;
}

/* ---------------------------------------------------------------- tasks and the protocol */

typedef struct {
    char name[64];
    int n, *tok;            /* (n) items' tokens, -1: not one token */
    int U, *uniq;           /* (U) distinct kept tokens */
    int *idx;               /* (n) item -> index into uniq, or -1 */
} task;

struct hw_successor_tasks {
    task *t;
    int n;
};

void hw_successor_tasks_free(hw_successor_tasks *ts) {
    if (!ts) return;
    for (int k = 0; k < ts->n; k++) {
        free(ts->t[k].tok);
        free(ts->t[k].uniq);
        free(ts->t[k].idx);
    }
    free(ts->t);
    free(ts);
}

/* "1 2 ... 200 " for a "numbers:" line without items (malloc'd). */
static char *numbers_1_200(void) {
    char *items = malloc(1200);
    if (!items) return NULL;
    for (int i = 1, o = 0; i <= 200; i++) o += sprintf(items + o, "%d ", i);
    return items;
}

/* The items of k as tokens (k->tok, k->n) from the space-separated words of items. */
static hw_status task_tokens(task *k, const hw_tokenizer *t, char *items) {
    int cap = 16;
    if (!(k->tok = malloc(sizeof(int) * (size_t)cap))) return hw_fail(HW_ERR_NOMEM, "out of memory");
    char *save = NULL;
    for (char *s = strtok_r(items, " \t\r\n", &save); s; s = strtok_r(NULL, " \t\r\n", &save)) {
        if (k->n == cap) {
            int *r = realloc(k->tok, sizeof(int) * (size_t)(cap *= 2));
            if (!r) return hw_fail(HW_ERR_NOMEM, "out of memory");
            k->tok = r;
        }
        k->tok[k->n++] = hw_tokenizer_word_token(t, s);
    }
    return HW_OK;
}

/* Parse "name: item item ..." into a new task of ts. */
static hw_status add_task(hw_successor_tasks *ts, const hw_tokenizer *t, const char *line) {
    const char *colon = strchr(line, ':');
    if (!colon) return hw_fail(HW_ERR_FORMAT, "task line '%.40s' has no 'name:'", line);
    task *nt = realloc(ts->t, sizeof *nt * (size_t)(ts->n + 1));
    if (!nt) return hw_fail(HW_ERR_NOMEM, "out of memory");
    ts->t = nt;
    task *k = &nt[ts->n++]; /* counted now, so hw_successor_tasks_free frees it on any error */
    memset(k, 0, sizeof *k);
    snprintf(k->name, sizeof k->name, "%.*s", (int)(colon - line), line);
    char *items = strdup(colon + 1);
    if (items && !strcmp(k->name, "numbers") && !*items) {
        free(items);
        items = numbers_1_200();
    }
    if (!items) return hw_fail(HW_ERR_NOMEM, "out of memory");
    hw_status s = task_tokens(k, t, items);
    free(items);
    if (s) return s;
    k->uniq = malloc(sizeof(int) * (size_t)(k->n + 1));
    k->idx = malloc(sizeof(int) * (size_t)(k->n + 1));
    if (!k->uniq || !k->idx) return hw_fail(HW_ERR_NOMEM, "out of memory");
    for (int i = 0; i < k->n; i++) {
        k->idx[i] = -1;
        if (k->tok[i] < 0) continue;
        for (int j = 0; j < k->U && k->idx[i] < 0; j++)
            if (k->uniq[j] == k->tok[i]) k->idx[i] = j;
        if (k->idx[i] < 0) {
            k->uniq[k->U] = k->tok[i];
            k->idx[i] = k->U++;
        }
    }
    return HW_OK;
}

hw_successor_tasks *hw_successor_tasks_read(const hw_tokenizer *t, const char *path) {
    if (!t || !path) return hw_fail(HW_ERR_ARG, "successor tasks: no tokenizer or path"), NULL;
    FILE *f = fopen(path, "r");
    if (!f) return hw_fail(HW_ERR_IO, "cannot read %s: %s", path, strerror(errno)), NULL;
    hw_successor_tasks *ts = calloc(1, sizeof *ts);
    char *line = NULL;
    size_t cap = 0;
    hw_status s = ts ? HW_OK : hw_fail(HW_ERR_NOMEM, "out of memory");
    while (!s && getline(&line, &cap, f) > 0) {
        char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        if (*p == '#' || *p == '\n' || !*p) continue;
        s = add_task(ts, t, p);
    }
    free(line);
    fclose(f);
    if (s) {
        hw_successor_tasks_free(ts);
        return NULL;
    }
    return ts;
}

static const char *const default_tasks[] = {
    "numbers:", /* 1..200 */
    "number-words: one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen twenty",
    "ordinal-words: first second third fourth fifth sixth seventh eighth ninth tenth",
    "days: Monday Tuesday Wednesday Thursday Friday Saturday Sunday Monday",
    "day-prefixes: Mon Tue Wed Thu Fri Sat Sun",
    "months: January February March April May June July August September October November "
    "December January",
    "month-prefixes: Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec",
    "letters: A B C D E F G H I J K L M N O P Q R S T U V W X Y Z",
};

hw_successor_tasks *hw_successor_tasks_default(const hw_tokenizer *t) {
    if (!t) return hw_fail(HW_ERR_ARG, "successor tasks: no tokenizer"), NULL;
    hw_successor_tasks *ts = calloc(1, sizeof *ts);
    hw_status s = ts ? HW_OK : hw_fail(HW_ERR_NOMEM, "out of memory");
    for (size_t k = 0; !s && k < sizeof default_tasks / sizeof *default_tasks; k++)
        s = add_task(ts, t, default_tasks[k]);
    if (s) {
        hw_successor_tasks_free(ts);
        return NULL;
    }
    return ts;
}

int hw_successor_tasks_count(const hw_successor_tasks *ts) { return ts ? ts->n : 0; }

hw_status hw_successor_tasks_get(const hw_successor_tasks *ts, int i, hw_successor_task_info *out) {
    if (!ts || !out || i < 0 || i >= ts->n) return hw_fail(HW_ERR_ARG, "successor tasks: no task %d", i);
    const task *k = &ts->t[i];
    out->name = k->name;
    out->items = k->n;
    out->single_tokens = out->pairs = 0;
    for (int j = 0; j < k->n; j++) out->single_tokens += k->idx[j] >= 0;
    for (int j = 0; j + 1 < k->n; j++) out->pairs += k->idx[j] >= 0 && k->idx[j + 1] >= 0;
    return HW_OK;
}

static const char *const successor_cols[] = {"score", "pairs"};

struct hw_successor_result {
    hw_head_table table;
    double *values;         /* (2, L, H) */
    hw_successor_info info;
};

hw_successor_params hw_successor_params_default(void) {
    hw_successor_params p = {NULL, 0};
    return p;
}

void hw_successor_free(hw_successor_result *r) {
    if (!r) return;
    free(r->values);
    free(r);
}

/* Add task k's successes of every head to hits (L, H). */
static hw_status score_task(const hw_model *m, const task *k, int mode, float *e, float *logits,
                            double *hits) {
    const int L = m->cfg.n_layer, H = m->cfg.n_head;
    /* The distinct tokens' effective embeddings, once per task. */
    hw_status s = hw_effective_embedding(m, k->uniq, k->U, mode, e);
    for (int l = 0; !s && l < L; l++)
        for (int h = 0; !s && h < H; h++) {
            /* logits (U, U): row u = OV logits of distinct token u over the task. */
            if ((s = hw_ov_logits(m, l, h, e, k->U, k->uniq, k->U, logits))) break;
            int n = 0;
            for (int i = 0; i + 1 < k->n; i++) {
                int a = k->idx[i], b = k->idx[i + 1];
                if (a < 0 || b < 0) continue;
                int seq[2] = {a, b};
                n += hw_successor_hits(logits + (size_t)a * k->U, seq, 2, k->U);
            }
            hits[(size_t)l * H + h] += n;
        }
    return s;
}

/* Every task's pairs pooled into r's table. */
static hw_status score_tasks(const hw_model *m, const hw_successor_tasks *ts, int mode,
                             hw_progress_fn progress, void *user, hw_successor_result *r) {
    const size_t LH = (size_t)m->cfg.n_layer * m->cfg.n_head;
    int max_n = 1, pairs = 0;
    for (int k = 0; k < ts->n; k++) {
        hw_successor_task_info ti;
        hw_successor_tasks_get(ts, k, &ti);
        pairs += ti.pairs;
        if (ts->t[k].n > max_n) max_n = ts->t[k].n;
    }
    if (!pairs)
        return hw_fail(HW_ERR_ARG, "no task has two consecutive single-token items for this tokenizer");
    float *e = malloc(sizeof(float) * (size_t)max_n * m->cfg.d_model);
    float *logits = malloc(sizeof(float) * (size_t)max_n * max_n);
    hw_status s = e && logits ? HW_OK : hw_fail(HW_ERR_NOMEM, "successor: out of memory");
    for (int k = 0; !s && k < ts->n; k++) {
        if (ts->t[k].U < 2) continue;
        char stage[80];
        snprintf(stage, sizeof stage, "task %s", ts->t[k].name);
        if (!(s = hw_progress_step(progress, user, "successor", stage, k + 1, ts->n)))
            s = score_task(m, &ts->t[k], mode, e, logits, r->values);
    }
    free(e);
    free(logits);
    for (size_t i = 0; !s && i < LH; i++) {
        r->values[i] /= pairs;
        r->values[LH + i] = pairs;
    }
    r->info.pairs = pairs;
    return s;
}

hw_status hw_successor_run(const hw_model *m, const hw_tokenizer *t, const hw_successor_params *p,
                           hw_progress_fn progress, void *user, hw_successor_result **out) {
    if (out) *out = NULL;
    if (!m || !p || !out) return hw_fail(HW_ERR_ARG, "successor: no model, params or result");
    if (p->embedding != 0 && p->embedding != 1)
        return hw_fail(HW_ERR_ARG, "successor: embedding %d (0: MLP0(W_E), 1: block 0)", p->embedding);
    if (!p->tasks && !t) return hw_fail(HW_ERR_ARG, "successor: the default tasks need the tokenizer");
    const int L = m->cfg.n_layer, H = m->cfg.n_head;
    hw_successor_tasks *own = p->tasks ? NULL : hw_successor_tasks_default(t);
    const hw_successor_tasks *ts = p->tasks ? p->tasks : own;
    hw_successor_result *r = calloc(1, sizeof *r);
    hw_status s = !ts ? HW_ERR_NOMEM /* error set */ : HW_OK;
    if (!s && (!r || !(r->values = calloc((size_t)2 * L * H, sizeof(double)))))
        s = hw_fail(HW_ERR_NOMEM, "successor: out of memory");
    if (!s) s = score_tasks(m, ts, p->embedding, progress, user, r);
    if (!s) {
        r->info.n_tasks = ts->n;
        r->info.embedding = p->embedding;
        r->table = (hw_head_table){L, H, 2, successor_cols, r->values, 0, 0};
        *out = r;
    } else {
        hw_successor_free(r);
    }
    hw_successor_tasks_free(own);
    return s;
}

const hw_head_table *hw_successor_table(const hw_successor_result *r) { return r ? &r->table : NULL; }

void hw_successor_get_info(const hw_successor_result *r, hw_successor_info *out) {
    if (r && out) *out = r->info;
}

hw_status hw_successor_write(const hw_successor_result *r, const char *path) {
    if (!r) return hw_fail(HW_ERR_ARG, "successor: no result to write");
    return hw_head_table_write(&r->table, path);
}

/*
 * duo_train.c: DuoAttention's gate training (methods.md 2.1-2.2) on a frozen model: the
 * data (the paper's multi-passkey prompts in text, or a model organism's own needles),
 * the two-way step (full forward without gradient, mixed forward and backward: the
 * training layer's DuoAttention mode, src/train/duo.c), AdamW on the gates alone, and
 * the attention-pattern folder duo-attention's load_attn_pattern reads.
 */
#include "internal.h"
#include "../train/train.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

hw_duo_train_params hw_duo_train_params_default(void) {
    return (hw_duo_train_params){.steps = 2000, .lr = 0.02f, .lambda = 0.05f,
                                 .initial_value = 1.0f, .seed = 42};
}

struct hw_duo_train_result {
    hw_duo_train_params p;      /* resolved; strings point into names below */
    char task[32], model_name[256], haystack[1024];
    int L, Hk;
    float *gates;               /* (L, Hk) */
    float *loss, *distill;      /* (steps) */
    double seconds;
};

void hw_duo_train_free(hw_duo_train_result *r) {
    if (!r) return;
    free(r->gates);
    free(r->loss);
    free(r->distill);
    free(r);
}

const float *hw_duo_train_gates(const hw_duo_train_result *r, int *n_layer, int *n_kv_head) {
    if (!r) return NULL;
    if (n_layer) *n_layer = r->L;
    if (n_kv_head) *n_kv_head = r->Hk;
    return r->gates;
}
const float *hw_duo_train_losses(const hw_duo_train_result *r, int *steps) {
    if (steps) *steps = r ? r->p.steps : 0;
    return r ? r->loss : NULL;
}
const float *hw_duo_train_distill(const hw_duo_train_result *r, int *steps) {
    if (steps) *steps = r ? r->p.steps : 0;
    return r ? r->distill : NULL;
}
const hw_duo_train_params *hw_duo_train_settings(const hw_duo_train_result *r) { return r ? &r->p : NULL; }
double hw_duo_train_seconds(const hw_duo_train_result *r) { return r ? r->seconds : 0; }

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int clampi(int x, int lo, int hi) { return x < lo ? lo : x > hi ? hi : x; }

/* ---------------------------------------------------------------- data */

/* Where a step's sequences come from: a task, or text pieces. */
typedef struct {
    const hw_model *m;
    const hw_tokenizer *tok;
    hw_task *task;
    int answer_marker;          /* the task's "A:" id, or -1 */
    int *hay, n_hay;            /* text: the haystack's tokens */
    int T, B, n_passkeys, n_words;
    uint64_t seed;
} source;

static void source_free(source *s) {
    hw_task_free(s->task);
    free(s->hay);
}

/* The paper's 26 passkey words. */
static const char *const nato[26] = {
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india",
    "juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo",
    "sierra", "tango", "uniform", "victor", "whiskey", "xray", "yankee", "zulu"};
static const char *const ordinal[10] = {"first", "second", "third", "fourth", "fifth",
                                        "sixth", "seventh", "eighth", "ninth", "tenth"};

static hw_status read_text(const char *path, char **out) {
    FILE *f = fopen(path, "rb");
    if (!f) return hw_fail(HW_ERR_IO, "cannot open haystack %s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        char *grown = cap < (1u << 28) ? realloc(buf, 2 * cap + 1) : NULL;
        if (!grown) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = grown;
        cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf) return hw_fail(HW_ERR_NOMEM, "haystack %s: out of memory (or over 256 MB)", path);
    if (bad) {
        free(buf);
        return hw_fail(HW_ERR_IO, "cannot read haystack %s", path);
    }
    buf[n] = 0;
    *out = buf;
    return HW_OK;
}

/* Append text's tokens (no BOS) to ids at *n (room for cap); HW_ERR_RANGE if they do not fit. */
static hw_status put_text(const hw_tokenizer *t, const char *text, int *ids, int *n, int cap) {
    int k = hw_tokenizer_encode(t, text, 0, ids + *n, cap - *n);
    if (k < 0) return HW_ERR_ARG;
    if (k > cap - *n) return HW_ERR_RANGE;
    *n += k;
    return HW_OK;
}

/* A text sample of exactly T tokens into tok, its supervised rows into sup. */
static hw_status text_sample(const source *s, hw_rng *r, int *tok, unsigned char *sup) {
    const int T = s->T, K = s->n_passkeys;
    int *head = malloc((size_t)T * 3 * sizeof(int)), *needles = head + T, *tail = needles + T;
    if (!head) return hw_fail(HW_ERR_NOMEM, "out of memory");
    char key[10][32 * 10], text[4096];
    for (int k = 0; k < K; k++) {
        key[k][0] = 0;
        for (int w = 0; w < s->n_words; w++) {
            const char *word = nato[hw_rng_int(r, 26)];
            size_t used = strlen(key[k]);
            snprintf(key[k] + used, sizeof key[k] - used, "%s%s", w ? " " : "", word);
        }
    }
    /* Depths: K distinct of linspace(0.05, 0.95, 1000), sorted. */
    int pick[10], nh = 0, nn[11] = {0}, n_head = 0, n_tail = 0, n_needles = 0;
    for (int k = 0; k < K; k++) {
        int dup;
        do {
            pick[k] = hw_rng_int(r, 1000);
            dup = 0;
            for (int j = 0; j < k; j++) dup |= pick[j] == pick[k];
        } while (dup);
    }
    for (int a = 1; a < K; a++)
        for (int b = a; b > 0 && pick[b - 1] > pick[b]; b--) {
            int x = pick[b];
            pick[b] = pick[b - 1], pick[b - 1] = x;
        }
    hw_status st = HW_OK;
    int bos = hw_tokenizer_bos(s->tok);
    if (bos >= 0) head[n_head++] = bos;
    st = put_text(s->tok, "<|im_start|> This is a very long story book: <book> ", head, &n_head, T);
    for (int k = 0; k < K && st == HW_OK; k++) {
        /* "Remeber": the released code's spelling. */
        snprintf(text, sizeof text,
                 "\n\nRemeber this sequence of words, it's the %s passkey to the vault: %s\n\n",
                 ordinal[k], key[k]);
        st = put_text(s->tok, text, needles, &n_needles, T);
        nn[k + 1] = n_needles;
    }
    if (st == HW_OK) st = put_text(s->tok, " </book>.\n\n", tail, &n_tail, T);
    const int tail0 = n_tail;
    for (int k = 0; k < K && st == HW_OK; k++) {
        snprintf(text, sizeof text,
                 "Based on the content of the book, what is the %s passkey to the vault?\n"
                 "Passkey: %s\n\n", ordinal[k], key[k]);
        st = put_text(s->tok, text, tail, &n_tail, T);
    }
    nh = T - n_head - n_needles - n_tail;
    if (st == HW_ERR_RANGE || (st == HW_OK && nh < K)) {
        free(head);
        return hw_fail(HW_ERR_RANGE,
                       "DuoAttention: %d passkeys of %d words leave no haystack in %d tokens "
                       "(fewer passkeys or words, or a longer --seq-len)", K, s->n_words, T);
    }
    if (st != HW_OK) {
        free(head);
        return st;
    }
    /* BOS + prefix, the haystack window with the needles at their depths, the tail. */
    int n = 0, off = hw_rng_int(r, s->n_hay), k = 0;
    memcpy(tok, head, (size_t)n_head * sizeof(int));
    n = n_head;
    for (int i = 0; i <= nh; i++) {
        while (k < K && (int)((0.05 + 0.9 * pick[k] / 999.0) * nh) == i) {
            memcpy(tok + n, needles + nn[k], (size_t)(nn[k + 1] - nn[k]) * sizeof(int));
            n += nn[k + 1] - nn[k];
            k++;
        }
        if (i < nh) tok[n++] = s->hay[(off + i) % s->n_hay];
    }
    memset(sup, 0, (size_t)T);
    memcpy(tok + n, tail, (size_t)n_tail * sizeof(int));
    for (int i = n + tail0; i < T; i++) sup[i] = 1;
    free(head);
    return HW_OK;
}

/* A task sample into tok, the rows holding or predicting an answer token into sup. */
static hw_status task_sample(const source *s, int64_t index, int *tok, unsigned char *sup) {
    const int T = s->T;
    int *tgt = malloc((size_t)T * sizeof(int));
    if (!tgt) return hw_fail(HW_ERR_NOMEM, "out of memory");
    hw_task_layout lay;
    hw_status st = hw_task_sample(s->task, s->seed, index, tok, tgt, &lay);
    free(tgt);
    if (st != HW_OK) return st;
    memset(sup, 0, (size_t)T);
    for (int i = lay.dst - 1; i < lay.dst + lay.len; i++)
        if (i >= 0 && i < T) sup[i] = 1;
    for (int i = 0; i < T && s->answer_marker >= 0; i++)
        if (tok[i] == s->answer_marker)
            for (int j = i; j <= i + lay.len && j < T; j++) sup[j] = 1;
    return HW_OK;
}

static hw_status make_batch(const source *s, int64_t step, int *tok, unsigned char *sup) {
    for (int b = 0; b < s->B; b++) {
        const int64_t index = step * s->B + b;
        hw_status st;
        if (s->task) {
            st = task_sample(s, index, tok + (size_t)b * s->T, sup + (size_t)b * s->T);
        } else {
            hw_rng r = {hw_seed_mix(s->seed, 0x44554fULL, (uint64_t)index)};
            st = text_sample(s, &r, tok + (size_t)b * s->T, sup + (size_t)b * s->T);
        }
        if (st != HW_OK) return st;
    }
    return HW_OK;
}

/* ---------------------------------------------------------------- settings */

/* Resolve p's defaults against m into r->p and open the data source; every check before
 * any training. */
static hw_status setup(const hw_model *m, const hw_tokenizer *t, const hw_duo_train_params *p,
                       hw_duo_train_result *r, source *s) {
    const hw_config *c = hw_model_config(m);
    hw_duo_train_params q = *p;
    if (q.steps <= 0 || q.steps > 10000000) return hw_fail(HW_ERR_ARG, "DuoAttention: %d steps (1 or more)", q.steps);
    if (!(q.lr > 0) || !isfinite(q.lr)) return hw_fail(HW_ERR_ARG, "DuoAttention: learning rate %g (> 0)", q.lr);
    if (!(q.lambda >= 0) || !isfinite(q.lambda)) return hw_fail(HW_ERR_ARG, "DuoAttention: lambda %g (>= 0)", q.lambda);
    if (!(q.initial_value >= 0 && q.initial_value <= 1))
        return hw_fail(HW_ERR_ARG, "DuoAttention: initial gate value %g (in [0, 1])", q.initial_value);
    if (q.seq_len < 0 || q.sink < 0 || q.recent < 0 || q.batch < 0 || q.n_passkeys < 0 || q.passkey_words < 0)
        return hw_fail(HW_ERR_ARG, "DuoAttention: negative sizes");
    if (q.n_passkeys > 10) return hw_fail(HW_ERR_ARG, "DuoAttention: %d passkeys (at most 10)", q.n_passkeys);
    if (q.passkey_words > 32) return hw_fail(HW_ERR_ARG, "DuoAttention: %d passkey words (at most 32)", q.passkey_words);
    if (!q.seq_len) q.seq_len = c->n_ctx;
    if (q.seq_len < 8) return hw_fail(HW_ERR_ARG, "DuoAttention: sequences of %d tokens (at least 8)", q.seq_len);
    if (c->pos == HW_POS_LEARNED && q.seq_len > c->n_ctx)
        return hw_fail(HW_ERR_RANGE, "DuoAttention: sequences of %d tokens exceed the model's %d positions",
                       q.seq_len, c->n_ctx);
    if (!q.sink) q.sink = clampi(q.seq_len / 16, 1, 128);
    if (!q.recent) q.recent = clampi(q.seq_len / 8, 2, 256);
    s->m = m;
    s->tok = t;
    s->T = q.seq_len;
    s->seed = q.seed;
    s->answer_marker = -1;
    if (q.task) {
        snprintf(r->task, sizeof r->task, "%s", q.task);
        q.task = r->task;
        /* An organism's own task settings where it has them (its vocabulary, filler). */
        hw_task_params tp = hw_task_params_default();
        hw_task_train_params trp;
        if (hw_organism_params(q.task, &tp, &trp, NULL) != HW_OK) tp = hw_task_params_default();
        tp.seq_len = q.seq_len;
        tp.depth = -1;
        if (!strcmp(q.task, "induction")) tp.n_symbols = c->vocab_size - 1;
        if (!(s->task = hw_task_new(q.task, &tp))) return HW_ERR_ARG;
        if (hw_task_vocab_size(s->task) > c->vocab_size)
            return hw_fail(HW_ERR_ARG, "task %s has %d symbols; the model only %d", q.task,
                           hw_task_vocab_size(s->task), c->vocab_size);
        for (int i = 0; i < hw_task_vocab_size(s->task); i++)
            if (!strcmp(hw_task_symbol(s->task, i), "A:")) s->answer_marker = i;
        if (!q.batch) q.batch = clampi(512 / q.seq_len, 1, 64);
        q.n_passkeys = q.passkey_words = 0;
        q.haystack = NULL;
    } else {
        if (!t) return hw_fail(HW_ERR_ARG, "DuoAttention: text passkeys need the model's tokenizer");
        if (hw_tokenizer_vocab_size(t) > c->vocab_size)
            return hw_fail(HW_ERR_ARG, "DuoAttention: the tokenizer's %d tokens exceed the model's %d",
                           hw_tokenizer_vocab_size(t), c->vocab_size);
        if (!q.batch) q.batch = 1;
        if (!q.n_passkeys) q.n_passkeys = clampi(q.seq_len / 256, 1, 10);
        if (!q.passkey_words) q.passkey_words = clampi(q.seq_len / 128, 2, 32);
        hw_status st = q.haystack ? HW_OK : hw_niah_default_haystack(NULL, r->haystack, sizeof r->haystack);
        if (st != HW_OK) return st;
        if (q.haystack) snprintf(r->haystack, sizeof r->haystack, "%s", q.haystack);
        q.haystack = r->haystack;
        char *text = NULL;
        if ((st = read_text(q.haystack, &text)) != HW_OK) return st;
        s->n_hay = hw_tokenizer_encode_alloc(t, text, 0, &s->hay);
        free(text);
        if (s->n_hay < 0) return HW_ERR_ARG;
        if (s->n_hay < 16) return hw_fail(HW_ERR_ARG, "haystack %s: %d tokens (at least 16)", q.haystack, s->n_hay);
        s->n_passkeys = q.n_passkeys;
        s->n_words = q.passkey_words;
    }
    if ((int64_t)q.batch * q.seq_len > (1 << 22))
        return hw_fail(HW_ERR_RANGE, "DuoAttention: %d x %d tokens per step is too many", q.batch, q.seq_len);
    s->B = q.batch;
    snprintf(r->model_name, sizeof r->model_name, "%s", q.model_name ? q.model_name : "model");
    q.model_name = r->model_name;
    r->p = q;
    r->L = c->n_layer;
    r->Hk = c->n_kv_head;
    return HW_OK;
}

/* ---------------------------------------------------------------- training */

/* The paper's LambdaLR multiplier: linear warm-up over the first N/5 steps, linear decay
 * over the last N/5, both floored at 0.1 (N/5 an integer division, at least 1). */
static double lr_mult(int step, int N) {
    const double f = N / 5 > 0 ? N / 5 : 1;
    double up = fmax((step + 1) / f, 0.1), down = fmax((N - step) / f, 0.1);
    return fmin(1.0, fmin(up, down));
}

typedef struct {
    float *m1, *m2;
} adam;

/* torch.optim.AdamW (betas 0.9, 0.999, eps 1e-8, weight decay 0) at step t (from 1). */
static void adam_step(float *x, const float *g, adam *a, int n, double lr, int t) {
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    const double c1 = 1 - pow(b1, t), c2 = 1 - pow(b2, t);
    for (int i = 0; i < n; i++) {
        a->m1[i] = (float)(b1 * a->m1[i] + (1 - b1) * g[i]);
        a->m2[i] = (float)(b2 * a->m2[i] + (1 - b2) * (double)g[i] * g[i]);
        const double denom = sqrt(a->m2[i]) / sqrt(c2) + eps;
        x[i] = (float)(x[i] - lr / c1 * a->m1[i] / denom);
    }
}

static void clamp01(float *x, int n) {
    for (int i = 0; i < n; i++) x[i] = x[i] < 0 ? 0 : x[i] > 1 ? 1 : x[i];
}

/* Work buffers of a run. */
typedef struct {
    int *tok, *tgt;
    unsigned char *sup;
    float *h_full, *ga;
    adam opt;
} work;

static void work_free(work *w) {
    free(w->tok);
    free(w->tgt);
    free(w->sup);
    free(w->h_full);
    free(w->ga);
    free(w->opt.m1);
    free(w->opt.m2);
}

/* One step: clamp, the full model's hidden states, the mixed loss and its gradient, AdamW. */
static hw_status train_step(hw_grad *g, const source *s, hw_duo_train_result *r, work *w, int step) {
    const int n = r->L * r->Hk, D = hw_model_config(s->m)->d_model;
    const hw_duo_train_params *p = &r->p;
    clamp01(r->gates, n);
    hw_status st = make_batch(s, step, w->tok, w->sup);
    hw_batch b = {w->tok, w->tgt, s->B, s->T};
    const float *h;
    if (st == HW_OK) st = hw_train_duo_set(g, NULL, 0, 0);
    if (st == HW_OK) st = hw_train_hidden(g, &b, &h);
    if (st != HW_OK) return st;
    memcpy(w->h_full, h, (size_t)s->B * s->T * D * sizeof(float));
    st = hw_train_duo_set(g, r->gates, p->sink, p->recent);
    if (st == HW_OK)
        st = hw_train_duo_loss(g, &b, w->h_full, w->sup, p->lambda, &r->loss[step], &r->distill[step], w->ga);
    if (st != HW_OK) return st;
    for (int i = 0; i < n; i++)
        if (!isfinite(w->ga[i]) || !isfinite(r->loss[step]))
            return hw_fail(HW_ERR_RANGE, "DuoAttention: loss %g, gate gradient %g at step %d", r->loss[step],
                           w->ga[i], step);
    adam_step(r->gates, w->ga, &w->opt, n, p->lr * lr_mult(step, p->steps), step + 1);
    return HW_OK;
}

hw_status hw_duo_train_run(const hw_model *m, const hw_tokenizer *t, const hw_duo_train_params *p,
                           hw_progress_fn progress, void *user, hw_duo_train_result **out) {
    if (out) *out = NULL;
    if (!m || !p || !out) return hw_fail(HW_ERR_ARG, "hw_duo_train_run: no model, parameters or result");
    hw_duo_train_result *r = calloc(1, sizeof *r);
    source s = {0};
    work w = {0};
    hw_grad *g = NULL;
    if (!r) return hw_fail(HW_ERR_NOMEM, "out of memory");
    hw_status st = setup(m, t, p, r, &s);
    const int n = r->L * r->Hk, N = s.B * s.T;
    if (st == HW_OK) {
        r->gates = malloc((size_t)n * sizeof(float));
        r->loss = calloc((size_t)r->p.steps, sizeof(float));
        r->distill = calloc((size_t)r->p.steps, sizeof(float));
        w.tok = malloc((size_t)N * sizeof(int));
        w.tgt = malloc((size_t)N * sizeof(int));
        w.sup = malloc((size_t)N);
        w.h_full = malloc((size_t)N * hw_model_config(m)->d_model * sizeof(float));
        w.ga = malloc((size_t)n * sizeof(float));
        w.opt.m1 = calloc((size_t)n, sizeof(float));
        w.opt.m2 = calloc((size_t)n, sizeof(float));
        if (!r->gates || !r->loss || !r->distill || !w.tok || !w.tgt || !w.sup || !w.h_full || !w.ga ||
            !w.opt.m1 || !w.opt.m2)
            st = hw_fail(HW_ERR_NOMEM, "out of memory");
    }
    if (st == HW_OK && !(g = hw_grad_new(m))) st = HW_ERR_UNSUPPORTED;
    if (st == HW_OK) {
        for (int i = 0; i < n; i++) r->gates[i] = r->p.initial_value;
        for (int i = 0; i < N; i++) w.tgt[i] = -1;
        /* The first sample is built now, so a context too short for the passkeys fails
         * before any training. */
        st = make_batch(&s, 0, w.tok, w.sup);
    }
    const double t0 = now_s();
    for (int step = 0; st == HW_OK && step < r->p.steps; step++) {
        st = train_step(g, &s, r, &w, step);
        /* About 50 reports a run (the first step's, then every 2%), not thousands of lines. */
        const int every = r->p.steps / 50 > 1 ? r->p.steps / 50 : 1;
        if (st != HW_OK || !progress || (step > 0 && (step + 1) % every && step + 1 < r->p.steps)) continue;
        char stage[128];
        const double el = now_s() - t0, eta = el / (step + 1) * (r->p.steps - step - 1);
        snprintf(stage, sizeof stage, "loss %.5g (distill %.5g), ETA %.0f s", r->loss[step], r->distill[step], eta);
        if (progress(stage, step + 1, r->p.steps, user)) st = hw_fail(HW_ERR_ARG, "stopped by the caller");
    }
    r->seconds = now_s() - t0;
    if (st == HW_OK) clamp01(r->gates, n);
    hw_grad_free(g);
    work_free(&w);
    source_free(&s);
    if (st != HW_OK) {
        hw_duo_train_free(r);
        return st;
    }
    *out = r;
    return HW_OK;
}

/* ---------------------------------------------------------------- files */

static hw_status write_tsv(const hw_duo_train_result *r, const char *path) {
    hw_atomic_file *a = hw_atomic_open(path);
    if (!a) return HW_ERR_IO;
    FILE *f = hw_atomic_stream(a);
    for (int l = 0; l < r->L; l++)
        for (int j = 0; j < r->Hk; j++)
            fprintf(f, "%.18e%c", (double)r->gates[l * r->Hk + j], j + 1 < r->Hk ? '\t' : '\n');
    return hw_atomic_commit(a);
}

/* config.json with the keys of duo-attention's train.py run config (the ones that
 * describe this run; load_attn_pattern reads sink_size and recent_size). */
/* A float as the decimal it was written as (0.02, not 0.0199999995529651). */
static double dec(float x) {
    char b[32];
    snprintf(b, sizeof b, "%.7g", (double)x);
    return strtod(b, NULL);
}

static hw_status write_config(const hw_duo_train_result *r, const char *path) {
    const hw_duo_train_params *p = &r->p;
    cJSON *o = cJSON_CreateObject();
    char fmt[64];
    if (!o) return hw_fail(HW_ERR_NOMEM, "out of memory");
    cJSON_AddStringToObject(o, "model_name", r->model_name);
    if (p->task) cJSON_AddStringToObject(o, "dataset_name", p->task);
    else cJSON_AddStringToObject(o, "dataset_name", p->haystack);
    snprintf(fmt, sizeof fmt, "%s", p->task ? "task" : "multiple_passkey");
    cJSON_AddStringToObject(o, "dataset_format", fmt);
    cJSON_AddNumberToObject(o, "lr", dec(p->lr));
    cJSON_AddNumberToObject(o, "num_steps", p->steps);
    cJSON_AddNumberToObject(o, "batch_size", p->batch);
    cJSON_AddNumberToObject(o, "max_length", p->seq_len);
    cJSON_AddNumberToObject(o, "context_length_min", p->seq_len);
    cJSON_AddNumberToObject(o, "context_length_max", p->seq_len);
    cJSON_AddNumberToObject(o, "num_passkeys", p->n_passkeys);
    cJSON_AddNumberToObject(o, "passkey_length", p->passkey_words);
    cJSON_AddNumberToObject(o, "sink_size", p->sink);
    cJSON_AddNumberToObject(o, "recent_size", p->recent);
    cJSON_AddNullToObject(o, "deploy_sink_size");
    cJSON_AddNullToObject(o, "deploy_recent_size");
    cJSON_AddNumberToObject(o, "reg_weight", dec(p->lambda));
    cJSON_AddNumberToObject(o, "initial_value", dec(p->initial_value));
    cJSON_AddNumberToObject(o, "min_needle_depth_ratio", 0.05);
    cJSON_AddNumberToObject(o, "max_needle_depth_ratio", 0.95);
    cJSON_AddNumberToObject(o, "gradient_accumulation_steps", 1);
    cJSON_AddStringToObject(o, "streaming_attn_implementation", "token_mask");
    cJSON_AddStringToObject(o, "supervision", "distill");
    cJSON_AddNumberToObject(o, "threshold", 0.5);
    cJSON_AddNullToObject(o, "sparsity");
    cJSON_AddNumberToObject(o, "seed", (double)p->seed);
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    if (!text) return hw_fail(HW_ERR_NOMEM, "out of memory");
    hw_atomic_file *a = hw_atomic_open(path);
    if (!a) {
        free(text);
        return HW_ERR_IO;
    }
    fprintf(hw_atomic_stream(a), "%s\n", text);
    free(text);
    return hw_atomic_commit(a);
}

hw_status hw_duo_train_write(const hw_duo_train_result *r, const char *dir) {
    if (!r || !dir || !*dir) return hw_fail(HW_ERR_ARG, "hw_duo_train_write: no result or folder");
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return hw_fail(HW_ERR_IO, "cannot create %s: %s", dir, strerror(errno));
    char path[4096];
    if (snprintf(path, sizeof path, "%s/full_attention_heads.tsv", dir) >= (int)sizeof path)
        return hw_fail(HW_ERR_ARG, "folder name too long: %s", dir);
    hw_status st = write_tsv(r, path);
    if (st != HW_OK) return st;
    snprintf(path, sizeof path, "%s/config.json", dir);
    return write_config(r, path);
}

int hw_organism_task_name(const char *model_path, char *name, size_t cap) {
    if (!model_path || !name || !cap) return hw_fail(HW_ERR_ARG, "hw_organism_task_name: no path or buffer"), -1;
    char path[4096];
    struct stat st;
    if (stat(model_path, &st) != 0 || !S_ISDIR(st.st_mode)) return 0;
    if (snprintf(path, sizeof path, "%s/training.json", model_path) >= (int)sizeof path) return 0;
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    cJSON *o = cJSON_Parse(buf);
    const cJSON *task = cJSON_GetObjectItemCaseSensitive(o, "task");
    int found = cJSON_IsString(task) && task->valuestring && strlen(task->valuestring) < cap;
    if (found) snprintf(name, cap, "%s", task->valuestring);
    cJSON_Delete(o);
    if (!found) return hw_fail(HW_ERR_ARG, "%s names no task", path), -1;
    return 1;
}

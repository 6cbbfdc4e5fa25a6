/* task.c: the synthetic tasks' shared parts: the registry, symbols, seeded
 * streams, batches, the tokenizer file and evaluation helpers. */
#include "tasks/task.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- random streams */

/* Training batches and the held-out stream draw from differently salted seeds,
 * so no evaluation sample is a training sample by construction of the stream. */
#define SALT_TRAIN 0x7452414Eull /* "TRAN" */
#define SALT_EVAL 0x4556414Cull  /* "EVAL" */

/* ---------------------------------------------------------------- registry */

static const hw_task_kind *const kinds[] = {&hw_task_induction, &hw_task_retrieval, &hw_task_successor,
                                            &hw_task_recall, &hw_task_mcq, &hw_task_icl};

hw_task_params hw_task_params_default(void) {
    return (hw_task_params){.depth = -1, .world_seed = 1234, .override = -1};
}

int hw_task_add_symbol(hw_task *t, const char *fmt, ...) {
    char buf[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char **grown = realloc(t->sym, (size_t)(t->n_sym + 1) * sizeof *grown);
    if (!grown) return hw_fail(HW_ERR_NOMEM, "out of memory for task symbols"), -1;
    t->sym = grown;
    if (!(t->sym[t->n_sym] = strdup(buf))) return hw_fail(HW_ERR_NOMEM, "out of memory for task symbols"), -1;
    return t->n_sym++;
}

int hw_task_find_symbol(const hw_task *t, const char *s) {
    for (int i = 0; s && i < t->n_sym; i++)
        if (!strcmp(t->sym[i], s)) return i;
    return -1;
}

hw_task *hw_task_new(const char *name, const hw_task_params *p) {
    const hw_task_kind *k = NULL;
    for (size_t i = 0; name && i < sizeof kinds / sizeof kinds[0]; i++)
        if (!strcmp(name, kinds[i]->name)) k = kinds[i];
    if (!k) {
        hw_fail(HW_ERR_ARG, "unknown task \"%s\" (induction, retrieval, successor, recall, mcq)", name ? name : "(null)");
        return NULL;
    }
    hw_task *t = calloc(1, sizeof *t);
    if (!t) {
        hw_fail(HW_ERR_NOMEM, "out of memory for task %s", name);
        return NULL;
    }
    t->kind = k;
    t->p = p ? *p : hw_task_params_default();
    if (t->p.seq_len < 0 || t->p.n_symbols < 0 || t->p.min_len < 0 || t->p.max_len < 0 || t->p.depth > 1) {
        hw_fail(HW_ERR_ARG, "task %s: negative sizes or a depth above 1", name);
        hw_task_free(t);
        return NULL;
    }
    if (hw_task_add_symbol(t, "<bos>") != 0 || k->init(t) != HW_OK) {
        hw_task_free(t);
        return NULL;
    }
    return t;
}

void hw_task_free(hw_task *t) {
    if (!t) return;
    for (int i = 0; i < t->n_sym; i++) free(t->sym[i]);
    free(t->sym);
    free(t->world);
    free(t);
}

const char *hw_task_name(const hw_task *t) { return t ? t->kind->name : NULL; }
int hw_task_vocab_size(const hw_task *t) { return t ? t->n_sym : 0; }
int hw_task_seq_len(const hw_task *t) { return t ? t->p.seq_len : 0; }

const char *hw_task_symbol(const hw_task *t, int id) {
    return t && id >= 0 && id < t->n_sym ? t->sym[id] : NULL;
}

hw_status hw_task_write_tokenizer(const hw_task *t, const char *path) {
    if (!t) return hw_fail(HW_ERR_ARG, "hw_task_write_tokenizer: no task");
    return hw_tokenizer_write_wordlevel(path, (const char *const *)t->sym, t->n_sym, 0, -1);
}

/* ---------------------------------------------------------------- sequences */

hw_status hw_task_batch(const hw_task *t, uint64_t seed, int64_t step, int B, int *tokens, int *targets) {
    if (!t || B <= 0 || !tokens || !targets || step < 0)
        return hw_fail(HW_ERR_ARG, "hw_task_batch: bad arguments");
    int T = t->p.seq_len;
    for (int b = 0; b < B; b++) {
        /* One stream per (step, row): row b of step k is the same whatever ran before. */
        hw_rng r = {hw_seed_mix(seed ^ SALT_TRAIN, (uint64_t)step, (uint64_t)b)};
        t->kind->sample(t, &r, tokens + (size_t)b * T, targets + (size_t)b * T, NULL);
    }
    return HW_OK;
}

hw_status hw_task_sample(const hw_task *t, uint64_t seed, int64_t index, int *tokens, int *targets,
                         hw_task_layout *layout) {
    if (!t || !tokens || !targets || index < 0) return hw_fail(HW_ERR_ARG, "hw_task_sample: bad arguments");
    hw_rng r = {hw_seed_mix(seed ^ SALT_EVAL, (uint64_t)index, 0)};
    hw_task_layout dummy;
    t->kind->sample(t, &r, tokens, targets, layout ? layout : &dummy);
    return HW_OK;
}

hw_status hw_task_counterfactual(const hw_task *t, const int *tokens, int to, int *out, int *targets,
                                 hw_task_layout *layout) {
    if (!t || !tokens || !out || !targets) return hw_fail(HW_ERR_ARG, "hw_task_counterfactual: bad arguments");
    if (!t->kind->counterfactual)
        return hw_fail(HW_ERR_ARG, "task %s has no counterfactual (mcq has)", t->kind->name);
    for (int i = 0; i < t->p.seq_len; i++)
        if (tokens[i] < 0 || tokens[i] >= t->n_sym)
            return hw_fail(HW_ERR_ARG, "%s: token %d at %d is outside the vocabulary of %d", t->kind->name, tokens[i],
                           i, t->n_sym);
    return t->kind->counterfactual(t, tokens, to, out, targets, layout);
}

/* One prompts-file line: tokens [1, dst) as text (the reader encodes with BOS), then a tab
 * and the answer's symbols, then the wrong answers a tab each, `first` (when one of them)
 * first: the other run's answer, which patching's logit difference subtracts. */
static void prompt_line(FILE *f, const hw_task *t, const int *tok, const hw_task_layout *l, int *wrong, int first) {
    for (int i = 1; i < l->dst; i++) fprintf(f, "%s%s", i > 1 ? " " : "", t->sym[tok[i]]);
    for (int i = l->dst; i < l->dst + l->len; i++) fprintf(f, "%s%s", i > l->dst ? " " : "\t", t->sym[tok[i]]);
    int n = t->kind->wrong_answers ? t->kind->wrong_answers(t, tok, l, wrong) : 0;
    for (int k = 0; k < n; k++)
        if (wrong[k] == first) memmove(wrong + 1, wrong, sizeof *wrong * (size_t)k), wrong[0] = first;
    for (int k = 0; k < n; k++) fprintf(f, "\t%s", t->sym[wrong[k]]);
    fputc('\n', f);
}

hw_status hw_task_write_prompts(const hw_task *t, uint64_t seed, int n, const char *path,
                                const char *counterfactual_path) {
    if (!t || n < 1 || !path) return hw_fail(HW_ERR_ARG, "hw_task_write_prompts: bad arguments");
    if (counterfactual_path && !t->kind->counterfactual)
        return hw_fail(HW_ERR_ARG, "task %s has no counterfactual (mcq has)", t->kind->name);
    int T = t->p.seq_len;
    int *buf = malloc(sizeof(int) * ((size_t)4 * T + (size_t)t->n_sym));
    hw_atomic_file *a = buf ? hw_atomic_open(path) : NULL;
    hw_atomic_file *b = a && counterfactual_path ? hw_atomic_open(counterfactual_path) : NULL;
    hw_status s = !buf ? hw_fail(HW_ERR_NOMEM, "out of memory") : !a || (counterfactual_path && !b) ? HW_ERR_IO : HW_OK;
    int *tok = buf, *tgt = buf + T, *cf = buf + 2 * T, *cft = buf + 3 * T, *wrong = buf + 4 * T;
    static const char head[] = "# %s held-out samples of seed %llu%s: prompt, answer%s\n";
    const char *wr = t->kind->wrong_answers ? ", wrong answers" : "";
    if (!s) fprintf(hw_atomic_stream(a), head, t->kind->name, (unsigned long long)seed, "", wr);
    if (!s && b) fprintf(hw_atomic_stream(b), head, t->kind->name, (unsigned long long)seed, ", counterfactuals", wr);
    for (int k = 0; k < n && !s; k++) {
        hw_task_layout l, lc;
        hw_task_sample(t, seed, k, tok, tgt, &l);
        /* to = -1, -2, -3 in turn: the answer moves 1, 2, 3 letters on (mcq), evenly. */
        if (b && (s = t->kind->counterfactual(t, tok, -1 - k % 3, cf, cft, &lc))) break;
        prompt_line(hw_atomic_stream(a), t, tok, &l, wrong, b ? cf[lc.dst] : -1);
        if (b) prompt_line(hw_atomic_stream(b), t, cf, &lc, wrong, tok[l.dst]);
    }
    /* Both files or neither: the counterfactuals first, so a failure leaves no clean file
     * without its pairs. */
    if (!s && b) s = hw_atomic_commit(b), b = NULL;
    if (!s) s = hw_atomic_commit(a), a = NULL;
    hw_atomic_abort(a);
    hw_atomic_abort(b);
    free(buf);
    return s;
}

/* ---------------------------------------------------------------- evaluation */

hw_status hw_task_check_model(const hw_task *t, const hw_model *m) {
    const hw_config *c = hw_model_config(m);
    if (c->vocab_size < t->n_sym)
        return hw_fail(HW_ERR_ARG, "task %s has %d symbols but the model's vocabulary is %d", t->kind->name,
                       t->n_sym, c->vocab_size);
    if (c->n_ctx < t->p.seq_len)
        return hw_fail(HW_ERR_ARG, "task %s needs a context of %d, the model's is %d", t->kind->name, t->p.seq_len,
                       c->n_ctx);
    return HW_OK;
}

hw_status hw_task_teacher_forced(const hw_model *m, hw_context *c, const int *tokens, const int *targets,
                                 const unsigned char *want, int T, int *right, int *total) {
    int V = hw_model_config(m)->vocab_size;
    float *logits = malloc((size_t)T * V * sizeof *logits);
    if (!logits) return hw_fail(HW_ERR_NOMEM, "out of memory for logits");
    hw_context_reset(c);
    hw_status s = hw_forward(c, tokens, T, HW_LOGITS_ALL, logits);
    for (int i = 0; i < T && s == HW_OK; i++) {
        if (targets[i] < 0 || (want && !want[i])) continue;
        *right += hw_argmax(logits + (size_t)i * V, V) == targets[i];
        (*total)++;
    }
    free(logits);
    return s;
}

hw_status hw_task_evaluate_targets(const hw_task *t, const hw_model *m, uint64_t seed, int n, const char *metric,
                                   hw_task_score *out) {
    int T = t->p.seq_len;
    int *tok = malloc((size_t)T * sizeof *tok), *tgt = malloc((size_t)T * sizeof *tgt);
    hw_context *c = hw_context_new(m, T);
    hw_status s = tok && tgt && c ? HW_OK : hw_fail(HW_ERR_NOMEM, "%s: out of memory", t->kind->name);
    int right = 0, total = 0;
    for (int k = 0; k < n && s == HW_OK; k++) {
        hw_task_sample(t, seed, k, tok, tgt, NULL);
        s = hw_task_teacher_forced(m, c, tok, tgt, NULL, T, &right, &total);
    }
    *out = (hw_task_score){.metric = metric, .accuracy = total ? (double)right / total : 0, .n = n};
    hw_context_free(c);
    free(tok);
    free(tgt);
    return s;
}

hw_status hw_task_greedy(const hw_model *m, hw_context *c, const int *prompt, int n, int len, int *out) {
    hw_greedy_params p = hw_greedy_params_default();
    p.max_new = len;
    p.stop = 0;
    return hw_greedy(c, NULL, prompt, n, &p, out, NULL, 0) < 0 ? HW_ERR_ARG : HW_OK;
}

hw_status hw_task_evaluate(const hw_task *t, const hw_model *m, uint64_t seed, int n, hw_task_score *out) {
    if (!t || !m || !out || n <= 0) return hw_fail(HW_ERR_ARG, "hw_task_evaluate: bad arguments");
    memset(out, 0, sizeof *out);
    hw_status s = hw_task_check_model(t, m);
    return s == HW_OK ? t->kind->evaluate(t, m, seed, n, out) : s;
}

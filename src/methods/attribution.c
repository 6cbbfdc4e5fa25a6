/*
 * attribution.c: memory vs in-context heads (methods.md section 6, Yu, Merullo and
 * Pavlick 2023): over prompts whose memorized answer (Warsaw) and in-context answer
 * (London, stated earlier in the prompt) differ, each head's output at the final
 * position dotted with W_U[memorized] - W_U[in-context], averaged. Memory heads score
 * high, in-context heads low. The prompts come from a file, or are the recall task's
 * counterfactual samples for a model organism trained on it.
 */
#include "protocol.h"

#include <stdlib.h>
#include <string.h>

static const char *const attribution_cols[] = {"raw", "scaled"};

struct hw_attribution_result {
    hw_head_table table;
    double *values;         /* (2, L, H) */
    int *tokens;            /* (n, 3) memorized, in-context, greedy */
    hw_attribution_info info;
};

hw_attribution_params hw_attribution_params_default(void) {
    hw_attribution_params p = {0};
    p.samples = 100;
    p.task_seed = 12345;
    return p;
}

void hw_attribution_free(hw_attribution_result *r) {
    if (!r) return;
    free(r->values);
    free(r->tokens);
    free(r);
}

/* What the prompts are: a file's lines, or the recall task's counterfactual samples. */
typedef struct {
    const hw_model *m;
    const hw_tokenizer *t;
    const hw_attribution_params *p;
    hw_task *task;
    int T;                  /* task sequence length */
    int *seq;               /* (2, T) a task sample's tokens and targets */
    int *kept;              /* (n, 2) task mode: sample index, memorized answer */
    int n;                  /* prompts */
} source;

/* Task mode: the counterfactual samples among p->samples, each with the memorized answer
 * the model gives to the plain query "<bos> s is". */
static hw_status task_prompts(source *src, hw_final_run *f, hw_progress_fn progress, void *user) {
    const hw_attribution_params *p = src->p;
    hw_task_params tp = hw_task_params_default();
    tp.seq_len = hw_model_config(src->m)->n_ctx;
    tp.n_symbols = p->task_symbols;
    if (!(src->task = hw_task_new(p->task, &tp))) return HW_ERR_ARG;
    if (hw_task_vocab_size(src->task) > hw_model_config(src->m)->vocab_size)
        return hw_fail(HW_ERR_ARG, "task %s has %d symbols; the model only %d", p->task,
                       hw_task_vocab_size(src->task), hw_model_config(src->m)->vocab_size);
    src->T = hw_task_seq_len(src->task);
    src->seq = malloc(sizeof(int) * (size_t)src->T * 2);
    src->kept = malloc(sizeof(int) * (size_t)p->samples * 2);
    if (!src->seq || !src->kept) return hw_fail(HW_ERR_NOMEM, "attribution: out of memory");
    const int V = hw_model_config(src->m)->vocab_size;
    for (int k = 0; k < p->samples; k++) {
        hw_task_layout lay;
        hw_status s = hw_progress_step(progress, user, "attribution", "memorized answers", k, p->samples);
        if (s || (s = hw_task_sample(src->task, p->task_seed, k, src->seq, src->seq + src->T, &lay))) return s;
        if (lay.src < 0 || lay.dst < 3) continue;
        int q[3] = {src->seq[0], src->seq[lay.dst - 2], src->seq[lay.dst - 1]};
        if ((s = hw_final_run_ids(f, q, 3, "attribution"))) return s;
        src->kept[src->n * 2] = k;
        src->kept[src->n * 2 + 1] = hw_argmax(f->logits, V);
        src->n++;
    }
    if (!src->n) return hw_fail(HW_ERR_ARG, "no counterfactual sample among %d", p->samples);
    return HW_OK;
}

/* Run prompt i; its memorized and in-context answers into ans[0], ans[1]. */
static hw_status run_prompt(source *src, hw_final_run *f, int i, int ans[2]) {
    if (src->task) {
        hw_task_layout lay;
        hw_status s = hw_task_sample(src->task, src->p->task_seed, src->kept[i * 2], src->seq,
                                     src->seq + src->T, &lay);
        if (s) return s;
        ans[0] = src->kept[i * 2 + 1];
        ans[1] = src->seq[lay.dst];
        return hw_final_run_ids(f, src->seq, lay.dst, "attribution");
    }
    const hw_prompts *ps = src->p->prompts;
    ans[0] = hw_tokenizer_answer_token(src->t, hw_prompts_answer(ps, i, 0)); /* checked >= 0 */
    ans[1] = hw_tokenizer_answer_token(src->t, hw_prompts_answer(ps, i, 1));
    int *ids = NULL, n = hw_tokenizer_encode_alloc(src->t, hw_prompts_text(ps, i), HW_TOK_BOS, &ids);
    hw_status s = n < 0 ? HW_ERR_ARG : hw_final_run_ids(f, ids, n, "attribution");
    free(ids);
    return s;
}

/* Every prompt's head attributions averaged into r. */
static hw_status attribute(source *src, hw_final_run *f, hw_progress_fn progress, void *user,
                           hw_attribution_result *r) {
    const hw_config *cfg = hw_model_config(src->m);
    const int L = cfg->n_layer, H = cfg->n_head, D = cfg->d_model, np = src->n;
    const size_t LH = (size_t)L * H;
    float *raw = malloc(sizeof(float) * (size_t)D * 2), *scaled = raw ? raw + D : NULL;
    hw_status s = raw ? HW_OK : hw_fail(HW_ERR_NOMEM, "attribution: out of memory");
    int hits[2] = {0, 0};
    for (int i = 0; !s && i < np; i++) {
        int *tk = r->tokens + (size_t)i * 3;
        if ((s = hw_progress_step(progress, user, "attribution", "prompt", i + 1, np)) ||
            (s = run_prompt(src, f, i, tk)))
            break;
        tk[2] = hw_argmax(f->logits, cfg->vocab_size);
        hits[0] += tk[2] == tk[1];
        hits[1] += tk[2] == tk[0];
        const float *resid = hw_final_run_row(f, HW_HOOK_RESID_POST, L - 1);
        if ((s = hw_logit_direction(src->m, &tk[0], 1, &tk[1], 1, NULL, raw)) ||
            (s = hw_logit_direction(src->m, &tk[0], 1, &tk[1], 1, resid, scaled)))
            break;
        for (int l = 0; l < L; l++) {
            const float *res = hw_final_run_row(f, HW_HOOK_RESULT, l); /* (H, D) */
            for (int h = 0; h < H; h++) {
                const float *u = res + (size_t)h * D;
                double a = 0, b = 0;
                for (int d = 0; d < D; d++) {
                    a += (double)u[d] * raw[d];
                    b += (double)u[d] * scaled[d];
                }
                r->values[(size_t)l * H + h] += a / np;
                r->values[LH + (size_t)l * H + h] += b / np;
            }
        }
    }
    free(raw);
    r->info = (hw_attribution_info){np, (double)hits[0] / np, (double)hits[1] / np};
    return s;
}

static hw_status check_params(const hw_model *m, const hw_tokenizer *t,
                              const hw_attribution_params *p, hw_attribution_result **out) {
    if (out) *out = NULL;
    if (!m || !p || !out) return hw_fail(HW_ERR_ARG, "attribution: no model, params or result");
    if (!p->prompts == !p->task)
        return hw_fail(HW_ERR_ARG, "attribution: give prompts (prompt, memorized, in-context) or "
                       "the task recall");
    if (p->task && strcmp(p->task, "recall")) return hw_fail(HW_ERR_ARG, "--task must be recall");
    if (p->task && (p->samples < 1 || p->task_symbols < 0))
        return hw_fail(HW_ERR_ARG, "attribution: %d samples, %d symbols", p->samples, p->task_symbols);
    if (p->prompts && !t) return hw_fail(HW_ERR_ARG, "attribution: prompts need the tokenizer");
    /* Every answer a token before the first forward pass, not at prompt 90 of 100. */
    for (int i = 0; p->prompts && i < hw_prompts_count(p->prompts); i++) {
        if (!hw_prompts_answer(p->prompts, i, 1))
            return hw_fail(HW_ERR_ARG, "attribution: prompt %d has no in-context answer", i + 1);
        for (int k = 0; k < 2; k++)
            if (hw_tokenizer_answer_token(t, hw_prompts_answer(p->prompts, i, k)) < 0)
                return hw_fail(HW_ERR_ARG, "prompt %d: an answer encodes to no token", i + 1);
    }
    return HW_OK;
}

hw_status hw_attribution_run(const hw_model *m, const hw_tokenizer *t,
                             const hw_attribution_params *p, hw_progress_fn progress, void *user,
                             hw_attribution_result **out) {
    hw_status s = check_params(m, t, p, out);
    if (s) return s;
    const int L = hw_model_config(m)->n_layer, H = hw_model_config(m)->n_head;
    source src = {m, t, p, NULL, 0, NULL, NULL, p->prompts ? hw_prompts_count(p->prompts) : 0};
    hw_final_run f;
    hw_attribution_result *r = calloc(1, sizeof *r);
    s = hw_final_run_open(&f, m, p->kv, "attribution");
    if (!s && (!r || !(r->values = calloc((size_t)2 * L * H, sizeof(double)))))
        s = hw_fail(HW_ERR_NOMEM, "attribution: out of memory");
    if (!s && p->task) s = task_prompts(&src, &f, progress, user);
    if (!s && !(r->tokens = malloc(sizeof(int) * (size_t)src.n * 3)))
        s = hw_fail(HW_ERR_NOMEM, "attribution: out of memory");
    if (!s) s = attribute(&src, &f, progress, user, r);
    hw_final_run_close(&f);
    hw_task_free(src.task);
    free(src.seq);
    free(src.kept);
    if (s) {
        hw_attribution_free(r);
        return s;
    }
    r->table = (hw_head_table){L, H, 2, attribution_cols, r->values, 1, 1};
    *out = r;
    return HW_OK;
}

const hw_head_table *hw_attribution_table(const hw_attribution_result *r) { return r ? &r->table : NULL; }

void hw_attribution_get_info(const hw_attribution_result *r, hw_attribution_info *out) {
    if (r && out) *out = r->info;
}

const int *hw_attribution_tokens(const hw_attribution_result *r) { return r ? r->tokens : NULL; }

hw_status hw_attribution_write(const hw_attribution_result *r, const char *path) {
    if (!r) return hw_fail(HW_ERR_ARG, "attribution: no result to write");
    return hw_head_table_write(&r->table, path);
}

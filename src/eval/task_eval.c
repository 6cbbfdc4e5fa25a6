/* task_eval.c: a synthetic task's held-out samples scored with hooks (masked, scaled or
 * patched heads), as the protocols score model organisms: mask test, scale sweep and
 * the Retrieval Head score on the retrieval task. The metrics are the tasks' own
 * (src/tasks/), which score the plain model; here every forward call carries hooks, and
 * the greedy task decodes its answer one token per call (decode_last), so that
 * decode-only interventions act on every answer token. */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

hw_task_eval_params hw_task_eval_params_default(void) {
    return (hw_task_eval_params){.seed = 12345, .samples = 100, .depth = -1};
}

hw_task *hw_task_new_for_model(const hw_model *m, const hw_task_eval_params *p) {
    if (!m || !p || !p->name) return hw_fail(HW_ERR_ARG, "hw_task_new_for_model: no model or task name"), NULL;
    const hw_config *cfg = hw_model_config(m);
    hw_task_params tp = hw_task_params_default();
    tp.seq_len = cfg->n_ctx;
    tp.depth = p->depth;
    /* An organism folder does not record its task's parameters; an induction
     * organism's vocabulary is its random tokens plus <bos>. */
    if (p->n_symbols) tp.n_symbols = p->n_symbols;
    else if (!strcmp(p->name, "induction")) tp.n_symbols = cfg->vocab_size - 1;
    hw_task *t = hw_task_new(p->name, &tp);
    if (t && hw_task_vocab_size(t) > cfg->vocab_size) {
        hw_fail(HW_ERR_ARG, "task %s has %d symbols; the model only %d", p->name, hw_task_vocab_size(t),
                cfg->vocab_size);
        hw_task_free(t);
        return NULL;
    }
    return t;
}

int hw_task_is_greedy(const hw_task *t) { return t && !strcmp(hw_task_name(t), "retrieval"); }

/* The greedy task (retrieval): the sample up to its answer, decoded for as many tokens
 * as the answer has (stopping at EOS or BOS); right[0] counts exact answers, right[1]
 * the share of answer tokens right. */
static hw_status greedy_sample(hw_context *c, const hw_hooks *hooks, const int *tok,
                               const hw_task_layout *lay, int *gen, double right[2]) {
    hw_greedy_params g = hw_greedy_params_default();
    g.max_new = lay->len;
    g.stop = HW_STOP_EOS;
    g.decode_last = 1;
    g.hooks = hooks;
    int got = hw_greedy(c, NULL, tok, lay->dst, &g, gen, NULL, 0);
    if (got < 0) return HW_ERR_ARG;
    int hit = 0;
    for (int i = 0; i < got && i < lay->len; i++) hit += gen[i] == tok[lay->dst + i];
    right[0] += got == lay->len && hit == lay->len;
    right[1] += (double)hit / lay->len;
    return HW_OK;
}

hw_status hw_task_evaluate_hooked(const hw_task *t, hw_context *c, uint64_t seed, int n,
                                  const hw_hooks *hooks, double *accuracy, double *accuracy2) {
    if (!t || !c || n < 1 || !accuracy) return hw_fail(HW_ERR_ARG, "hw_task_evaluate_hooked: bad arguments");
    const hw_model *m = hw_context_model(c);
    const char *name = hw_task_name(t);
    const int T = hw_task_seq_len(t), V = hw_model_config(m)->vocab_size;
    if (T > hw_context_size(c))
        return hw_fail(HW_ERR_ARG, "task %s needs a context of %d, this one holds %d", name, T,
                       hw_context_size(c));
    int greedy = hw_task_is_greedy(t);
    int *tok = malloc(sizeof(int) * (size_t)T * 3), *tgt = tok ? tok + T : NULL, *gen = tok ? tgt + T : NULL;
    float *logits = greedy ? NULL : malloc(sizeof(float) * (size_t)T * V);
    double right[2] = {0, 0}, total[2] = {0, 0};
    hw_status s = tok && (greedy || logits) ? HW_OK : hw_fail(HW_ERR_NOMEM, "out of memory");
    for (int k = 0; k < n && !s; k++) {
        hw_task_layout lay;
        if ((s = hw_task_sample(t, seed, k, tok, tgt, &lay))) break;
        if (greedy) {
            s = greedy_sample(c, hooks, tok, &lay, gen, right);
            total[0]++;
            total[1]++;
            continue;
        }
        hw_context_reset(c);
        if ((s = hw_forward_hooked(c, tok, T, HW_LOGITS_ALL, logits, hooks))) break;
        /* The scored positions, as the task's own evaluate picks them. */
        int lo = 0, hi = T, slot = 0;
        if (!strcmp(name, "induction")) lo = lay.dst, hi = lay.dst + lay.len - 1;
        else if (!strcmp(name, "recall")) lo = lay.dst - 1, hi = lay.dst, slot = lay.src >= 0;
        for (int i = lo; i < hi; i++) {
            if (tgt[i] < 0) continue;
            right[slot] += hw_argmax(logits + (size_t)i * V, V) == tgt[i];
            total[slot]++;
        }
    }
    if (!s) {
        *accuracy = total[0] ? right[0] / total[0] : 0;
        int second = greedy || !strcmp(name, "recall");
        if (accuracy2) *accuracy2 = second ? (total[1] ? right[1] / total[1] : 0) : *accuracy;
    }
    free(tok);
    free(logits);
    return s;
}

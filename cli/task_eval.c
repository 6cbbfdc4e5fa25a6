/* task_eval.c: synthetic tasks scored with hooks (see task_eval.h). */
#include "task_eval.h"
#include "niah.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int task_flag(task_opts *o, const char *cmd, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    if (!strcmp(a, "--task")) return cli_value(cmd, argc, argv, i, &o->name) ? -1 : 1;
    if (!strcmp(a, "--task-seed")) return cli_int(cmd, argc, argv, i, 0, 1L << 62, &o->seed) ? -1 : 1;
    if (!strcmp(a, "--samples")) return cli_int(cmd, argc, argv, i, 1, 1000000, &o->samples) ? -1 : 1;
    if (!strcmp(a, "--task-depth")) {
        o->depth_set = 1;
        return cli_float(cmd, argc, argv, i, -1, 1, &o->depth) ? -1 : 1;
    }
    if (!strcmp(a, "--task-symbols")) return cli_int(cmd, argc, argv, i, 1, 1 << 20, &o->symbols) ? -1 : 1;
    return 0;
}

int task_open(task_opts *o, const char *cmd, const hw_model *m) {
    if (!o->seed) o->seed = 12345;
    if (!o->samples) o->samples = 100;
    hw_task_params p = hw_task_params_default();
    p.seq_len = hw_model_config(m)->n_ctx;
    if (o->depth_set) p.depth = (float)o->depth;
    /* The organism folder does not record its task's parameters; an induction organism's
     * vocabulary is its random tokens plus <bos>. */
    if (o->symbols) p.n_symbols = (int)o->symbols;
    else if (o->name && !strcmp(o->name, "induction")) p.n_symbols = hw_model_config(m)->vocab_size - 1;
    if (!(o->task = hw_task_new(o->name, &p))) return cli_error(cmd, "%s", hw_last_error());
    if (hw_task_vocab_size(o->task) > hw_model_config(m)->vocab_size)
        return cli_error(cmd, "task %s has %d symbols; the model only %d", o->name,
                         hw_task_vocab_size(o->task), hw_model_config(m)->vocab_size);
    return 0;
}

void task_close(task_opts *o) {
    hw_task_free(o->task);
    o->task = NULL;
}

int task_is_greedy(const task_opts *o) { return !strcmp(hw_task_name(o->task), "retrieval"); }

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

int task_accuracy(task_opts *o, const char *cmd, const hw_model *m, const hw_tokenizer *t,
                  hw_context *c, const hw_hooks *hooks, double *acc, double *acc2) {
    const char *name = hw_task_name(o->task);
    const int T = hw_task_seq_len(o->task), V = hw_model_config(m)->vocab_size;
    int *tok = malloc(sizeof(int) * (size_t)T * 3), *tgt = tok ? tok + T : NULL, *gen = tok ? tgt + T : NULL;
    float *logits = malloc(sizeof(float) * (size_t)T * V);
    char text[4096];
    int rc = -1;
    double right[2] = {0, 0}, total[2] = {0, 0};
    if (!tok || !logits) {
        cli_error(cmd, "out of memory");
        goto done;
    }
    int greedy = task_is_greedy(o);
    for (long k = 0; k < o->samples; k++) {
        hw_task_layout lay;
        if (hw_task_sample(o->task, (uint64_t)o->seed, k, tok, tgt, &lay)) {
            cli_error(cmd, "%s", hw_last_error());
            goto done;
        }
        if (greedy) {
            int got = niah_greedy(cmd, m, t, c, tok, lay.dst, lay.len, hooks, NULL, NULL, gen, text,
                                  sizeof text);
            if (got < 0) goto done;
            int ok = got == lay.len, hit = 0;
            for (int i = 0; i < got && i < lay.len; i++) hit += gen[i] == tok[lay.dst + i];
            ok = ok && hit == lay.len;
            right[0] += ok;
            total[0]++;
            right[1] += (double)hit / lay.len;
            total[1]++;
            continue;
        }
        hw_context_reset(c);
        if (hw_forward_hooked(c, tok, T, HW_LOGITS_ALL, logits, hooks)) {
            cli_error(cmd, "%s", hw_last_error());
            goto done;
        }
        int lo = 0, hi = T, slot = 0;
        if (!strcmp(name, "induction")) lo = lay.dst, hi = lay.dst + lay.len - 1;
        else if (!strcmp(name, "recall")) lo = lay.dst - 1, hi = lay.dst, slot = lay.src >= 0;
        for (int i = lo; i < hi; i++) {
            if (tgt[i] < 0) continue;
            right[slot] += argmax(logits + (size_t)i * V, V) == tgt[i];
            total[slot]++;
        }
    }
    *acc = total[0] ? right[0] / total[0] : 0;
    *acc2 = !strcmp(name, "retrieval") || !strcmp(name, "recall") ? (total[1] ? right[1] / total[1] : 0) : *acc;
    rc = 0;
done:
    free(tok);
    free(logits);
    return rc;
}

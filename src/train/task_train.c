/*
 * task_train.c: a model trained from scratch on a synthetic task, what `headwise train`
 * and `headwise organism` run: a fresh Llama-style model (rotary halves, RMSNorm, SiLU-
 * gated MLP or none) over the task's vocabulary and length, hw_trainer over the task's
 * seeded batches, checkpoints and resume. Batches are a pure function of (seed, step),
 * so a resumed run ends with the same bytes as one that was never interrupted.
 */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

hw_task_train_params hw_task_train_params_default(void) {
    hw_task_train_params p = {.n_layer = 2, .n_head = 4, .d_model = 64, .batch = 32,
                              .train = hw_train_params_default()};
    p.train.seed = 1;
    return p;
}

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

hw_config hw_task_model_config(const hw_task *task, const hw_task_train_params *p) {
    int T = p->n_ctx > 0 ? p->n_ctx : hw_task_seq_len(task);
    hw_config c = {.n_layer = p->n_layer, .d_model = p->d_model, .n_head = p->n_head,
                   .n_kv_head = p->n_head, .head_dim = p->n_head > 0 ? p->d_model / p->n_head : 0,
                   .d_ff = p->d_ff, .vocab_size = hw_task_vocab_size(task), .n_ctx = T,
                   .norm = HW_NORM_RMS, .norm_eps = 1e-5f, .pos = HW_POS_ROTARY,
                   .rope_layout = HW_ROPE_HALVES, .rope_theta = 10000, .rotary_frac = 1,
                   .rope_factor = 1, .rope_orig_ctx = T, .act = HW_ACT_SILU_GATED,
                   .qkv_bias = p->attn_bias, .out_bias = p->attn_bias, .bos_id = 0, .eos_id = -1};
    strcpy(c.arch, "llama");
    return c;
}

static hw_status check_params(const hw_task *task, const hw_task_train_params *p) {
    if (p->n_layer < 1 || p->n_head < 1 || p->d_model < 2 || p->d_ff < 0 || p->batch < 1)
        return hw_fail(HW_ERR_ARG, "training: %d layers, %d heads, d_model %d, d_ff %d, batch %d",
                       p->n_layer, p->n_head, p->d_model, p->d_ff, p->batch);
    if (p->d_model % p->n_head || (p->d_model / p->n_head) % 2)
        return hw_fail(HW_ERR_ARG, "training: d_model %d over %d heads is not an even head "
                       "dimension (rotary)", p->d_model, p->n_head);
    if ((long)hw_task_seq_len(task) * p->batch > 1L << 26)
        return hw_fail(HW_ERR_ARG, "training: batch %d x sequence %d is too many tokens per step",
                       p->batch, hw_task_seq_len(task));
    if (p->n_ctx < 0 || (p->n_ctx > 0 && p->n_ctx < hw_task_seq_len(task)))
        return hw_fail(HW_ERR_ARG, "training: a context of %d is shorter than the task's sequences (%d)",
                       p->n_ctx, hw_task_seq_len(task));
    if ((p->checkpoint_every > 0 || p->stop_at > 0) && !p->checkpoint)
        return hw_fail(HW_ERR_ARG, "training: checkpoints need a checkpoint path");
    return HW_OK;
}

/* The steps from the trainer's next one; first: this run's first loss; final: the mean
 * over the last tenth of the steps (the final loss reported). */
static hw_status run_steps(hw_trainer *tr, const hw_task *task, const hw_task_train_params *p,
                           hw_train_step_fn fn, void *user, hw_task_train_result *r) {
    const int B = p->batch, T = hw_task_seq_len(task), steps = p->train.steps;
    int *tokens = malloc((size_t)B * T * sizeof *tokens), *targets = malloc((size_t)B * T * sizeof *targets);
    if (!tokens || !targets) {
        free(tokens);
        free(targets);
        return hw_fail(HW_ERR_NOMEM, "out of memory for training batches");
    }
    const int start = r->start, tail_from = steps - (steps - start + 9) / 10;
    double tail_sum = 0, t0 = now();
    int tail_n = 0;
    hw_status s = fn && fn(start, steps, NAN, user) ? hw_fail(HW_ERR_ARG, "stopped by the caller") : HW_OK;
    for (int step = start; step < steps && s == HW_OK; step++) {
        hw_batch b = {tokens, targets, B, T};
        float loss = NAN;
        s = hw_task_batch(task, p->train.seed, step, B, tokens, targets);
        if (s == HW_OK) s = hw_trainer_step(tr, &b, &loss);
        if (s == HW_OK && !isfinite(loss))
            s = hw_fail(HW_ERR_RANGE, "step %d: the loss is %g (try a lower learning rate)", step, loss);
        else if (s != HW_OK) {
            char why[512];
            snprintf(why, sizeof why, "%s", hw_last_error());
            hw_fail(s, "step %d: %s", step, why);
        }
        if (s != HW_OK) break;
        if (isnan(r->first_loss)) r->first_loss = loss;
        if (step >= tail_from) tail_sum += loss, tail_n++;
        if (fn && fn(step + 1, steps, loss, user)) s = hw_fail(HW_ERR_ARG, "stopped by the caller");
        int stop = p->stop_at > 0 && step + 1 == p->stop_at && step + 1 < steps;
        if (s == HW_OK && (stop || (p->checkpoint_every > 0 && (step + 1) % p->checkpoint_every == 0 &&
                                    step + 1 < steps)))
            s = hw_trainer_save(tr, p->checkpoint);
        if (s == HW_OK && stop) r->stopped = 1;
        if (r->stopped) break;
    }
    free(tokens);
    free(targets);
    r->steps = hw_trainer_steps_done(tr);
    r->final_loss = tail_n ? (float)(tail_sum / tail_n) : NAN;
    r->seconds = now() - t0;
    r->tokens_per_s = r->seconds > 0 ? (double)(r->steps - start) * B * T / r->seconds : 0;
    if (s == HW_OK && !r->stopped && p->checkpoint_every > 0) s = hw_trainer_save(tr, p->checkpoint);
    return s;
}

hw_model *hw_task_train(const hw_task *task, const hw_task_train_params *p, hw_train_step_fn fn,
                        void *user, hw_task_train_result *out) {
    hw_task_train_result r = {.first_loss = NAN, .final_loss = NAN};
    if (out) *out = r;
    if (!task || !p) return hw_fail(HW_ERR_ARG, "hw_task_train: no task or parameters"), NULL;
    if (check_params(task, p) != HW_OK) return NULL;
    hw_config c = hw_task_model_config(task, p);
    hw_model *m = hw_model_new_random(&c, p->train.seed);
    hw_trainer *tr = m ? hw_trainer_new(m, &p->train) : NULL;
    hw_status s = tr ? HW_OK : HW_ERR_ARG;
    if (s == HW_OK && p->resume) s = hw_trainer_resume(tr, p->resume);
    if (s == HW_OK) {
        r.start = hw_trainer_steps_done(tr);
        s = run_steps(tr, task, p, fn, user, &r);
    }
    hw_trainer_free(tr);
    if (out) *out = r;
    if (s != HW_OK) {
        hw_model_free(m);
        return NULL;
    }
    return m;
}

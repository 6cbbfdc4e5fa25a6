/*
 * test_task_train.c: hw_task_train (what `headwise train` and `organism` run) on a tiny
 * induction model: the loss falls, the callback sees every step, a run stopped at a step
 * and resumed from its checkpoint ends with the same weights as one never stopped, a
 * callback can stop it, bad shapes are refused; hw_organism_params knows the four tasks;
 * curriculum stages (shorter sequences at the final context) share one checkpoint, and
 * hw_organism_stages gives retrieval-long's.
 */
#include "check.h"
#include "headwise.h"

#include <unistd.h>

static hw_task_train_params tiny(void) {
    hw_task_train_params p = hw_task_train_params_default();
    p.n_layer = 1, p.n_head = 2, p.d_model = 16, p.batch = 4;
    p.train.steps = 12, p.train.warmup = 2, p.train.lr = 1e-2f;
    return p;
}

typedef struct { int calls, first_step, last_step, stop_after; float first_loss; } seen;

static int on_step(int step, int steps, float loss, void *user) {
    seen *s = user;
    if (s->calls++ == 0) s->first_step = step, s->first_loss = loss;
    s->last_step = step;
    return s->stop_after > 0 && step >= s->stop_after;
}

static int same_weights(const hw_model *a, const hw_model *b) {
    const hw_config *c = hw_model_config(a);
    for (int i = 0; i < hw_param_count(c); i++) {
        hw_param p;
        hw_param_get(c, i, &p);
        if (memcmp(hw_model_param(a, i), hw_model_param(b, i), (size_t)p.size * sizeof(float)))
            return 0;
    }
    return 1;
}

static void test_train_resume_stop(void) {
    hw_task_params tp = hw_task_params_default();
    tp.seq_len = 24;
    tp.min_len = 2, tp.max_len = 6;
    hw_task *task = hw_task_new("induction", &tp);
    CHECK(task != NULL, "%s", hw_last_error());
    if (!task) return;
    hw_task_train_params p = tiny();
    seen s = {0};
    hw_task_train_result r;
    hw_model *full = hw_task_train(task, &p, on_step, &s, &r);
    CHECK(full && r.start == 0 && r.steps == 12 && !r.stopped, "%s", hw_last_error());
    CHECK(s.calls == 13 && s.first_step == 0 && isnan(s.first_loss) && s.last_step == 12,
          "callback: %d calls, first %d, last %d", s.calls, s.first_step, s.last_step);
    CHECK(isfinite(r.first_loss) && r.final_loss < r.first_loss, "loss %g -> %g", r.first_loss,
          r.final_loss);
    CHECK(hw_model_config(full)->vocab_size == hw_task_vocab_size(task), "vocab");

    char ckpt[] = "/tmp/hw_task_train_XXXXXX";
    int fd = mkstemp(ckpt);
    if (fd >= 0) close(fd);
    p.checkpoint = ckpt;
    p.stop_at = 5;
    hw_model *half = hw_task_train(task, &p, NULL, NULL, &r);
    CHECK(half && r.stopped && r.steps == 5, "stop_at: %s", hw_last_error());
    p.stop_at = 0;
    p.resume = ckpt;
    hw_model *resumed = hw_task_train(task, &p, NULL, NULL, &r);
    CHECK(resumed && r.start == 5 && r.steps == 12, "resume: %s", hw_last_error());
    CHECK(full && resumed && same_weights(full, resumed), "resumed != uninterrupted");
    unlink(ckpt);

    hw_task_train_params q = tiny();
    seen stop = {.stop_after = 3};
    CHECK(!hw_task_train(task, &q, on_step, &stop, &r) && strstr(hw_last_error(), "stopped"),
          "a callback stops the run: %s", hw_last_error());
    q.d_model = 18, q.n_head = 4;
    CHECK(!hw_task_train(task, &q, NULL, NULL, NULL), "d_model 18 over 4 heads accepted");
    q = tiny();
    q.stop_at = 3;
    CHECK(!hw_task_train(task, &q, NULL, NULL, NULL), "stop_at without a checkpoint path");
    hw_model_free(full);
    hw_model_free(half);
    hw_model_free(resumed);
    hw_task_free(task);
}

static void test_organism_params(void) {
    const char *tasks[] = {"induction", "retrieval", "successor", "recall"};
    for (int i = 0; i < 4; i++) {
        hw_task_params tp;
        hw_task_train_params p;
        const char *why = NULL;
        CHECK(hw_organism_params(tasks[i], &tp, &p, &why) == HW_OK && why && *why &&
                  p.train.seed == 1 && p.d_model % p.n_head == 0, "%s", tasks[i]);
        if (i == 0)
            CHECK(p.n_layer == 2 && p.n_head == 2 && p.train.head_dropout > 0 &&
                      p.train.head_dropout_layers == 2, "induction: %d x %d", p.n_layer, p.n_head);
    }
    hw_task_params tp;
    hw_task_train_params p;
    CHECK(hw_organism_params("parity", &tp, &p, NULL) == HW_ERR_ARG &&
              strstr(hw_last_error(), "parity"), "unknown task");
}

/* A curriculum: a stage on shorter sequences with the final context (n_ctx) stops with a
 * checkpoint the next stage, on longer ones, resumes; n_ctx below the task's length is
 * refused. */
static void test_stages_share_a_checkpoint(void) {
    hw_task_params tp = hw_task_params_default();
    tp.seq_len = 24, tp.min_len = 2, tp.max_len = 6;
    hw_task *short_task = hw_task_new("induction", &tp);
    tp.seq_len = 40;
    hw_task *long_task = hw_task_new("induction", &tp);
    CHECK(short_task && long_task, "%s", hw_last_error());
    if (!short_task || !long_task) return;
    char ckpt[] = "/tmp/hw_task_stages_XXXXXX";
    int fd = mkstemp(ckpt);
    if (fd >= 0) close(fd);
    hw_task_train_params p = tiny();
    hw_task_train_result r;
    p.n_ctx = 24;
    CHECK(!hw_task_train(long_task, &p, NULL, NULL, NULL) && strstr(hw_last_error(), "context"),
          "a context under the task's length: %s", hw_last_error());
    p.n_ctx = 40, p.checkpoint = ckpt, p.stop_at = 6;
    hw_model *first = hw_task_train(short_task, &p, NULL, NULL, &r);
    CHECK(first && r.stopped && hw_model_config(first)->n_ctx == 40, "stage 1: %s", hw_last_error());
    p.stop_at = 0, p.resume = ckpt;
    hw_model *second = hw_task_train(long_task, &p, NULL, NULL, &r);
    CHECK(second && r.start == 6 && r.steps == 12 && hw_model_config(second)->n_ctx == 40, "stage 2: %s",
          hw_last_error());
    p.n_ctx = 0; /* another context: another model, whose checkpoint this is not */
    CHECK(!hw_task_train(short_task, &p, NULL, NULL, NULL), "resumed a checkpoint of context 40 at 24");
    unlink(ckpt);
    hw_model_free(first);
    hw_model_free(second);
    hw_task_free(short_task);
    hw_task_free(long_task);
}

/* retrieval-long: stages of the retrieval task growing to context 512 under one schedule;
 * a one-run organism is one stage equal to hw_organism_params. */
static void test_organism_stages(void) {
    hw_organism_stage st[HW_ORGANISM_MAX_STAGES];
    const char *why = NULL;
    int n = hw_organism_stages("retrieval-long", st, &why);
    CHECK(n >= 2 && n <= HW_ORGANISM_MAX_STAGES && why, "retrieval-long: %d stages", n);
    for (int k = 0; k < n && n > 0; k++) {
        const hw_task_train_params *p = &st[k].params;
        CHECK(!strcmp(st[k].task, "retrieval") && p->n_ctx == 512 && p->train.steps == st[0].params.train.steps,
              "stage %d: task %s, context %d", k, st[k].task, p->n_ctx);
        CHECK(k + 1 < n ? p->stop_at > (k ? st[k - 1].params.stop_at : 0) && p->stop_at < p->train.steps
                        : p->stop_at == 0, "stage %d ends at %d", k, p->stop_at);
        CHECK(k == 0 || st[k].task_params.seq_len >= st[k - 1].task_params.seq_len, "stage %d shorter", k);
    }
    if (n > 0) CHECK(st[n - 1].task_params.seq_len == 512, "last stage at %d", st[n - 1].task_params.seq_len);
    hw_task_params tp;
    hw_task_train_params p;
    CHECK(hw_organism_params("retrieval-long", &tp, &p, NULL) == HW_OK && tp.seq_len == 512 && p.n_ctx == 512,
          "retrieval-long's params: the last stage");
    CHECK(hw_organism_stages("retrieval", st, NULL) == 1 && !strcmp(st[0].task, "retrieval") &&
              hw_organism_params("retrieval", &tp, &p, NULL) == HW_OK &&
              st[0].params.n_layer == p.n_layer && st[0].params.train.steps == p.train.steps && !p.n_ctx,
          "retrieval: one stage");
    CHECK(hw_organism_stages("parity", st, NULL) == -1 && strstr(hw_last_error(), "parity"), "unknown organism");
}

int main(void) {
    hw_set_threads(2);
    RUN(test_train_resume_stop);
    RUN(test_organism_params);
    RUN(test_stages_share_a_checkpoint);
    RUN(test_organism_stages);
    CHECK_DONE();
}

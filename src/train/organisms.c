/*
 * organisms.c: the model organism of each task, i.e. a small model trained on one
 * synthetic task with settings known to make its heads interpretable, in at most about
 * five minutes on two cores. Why each shape, from the measurements in the task files
 * (src/tasks) and the README.
 */
#include "internal.h"

#include <string.h>

static const struct {
    const char *task;
    int layers, heads, d_model, d_ff, seq_len, batch, steps, warmup;
    float lr;
    const char *why;
    float head_dropout;         /* on layer 1's heads from step drop_from; 0: none */
    int drop_from;
} organisms[] = {
    /* A previous-token head in layer 0 and induction heads in layer 1. Two heads a layer
     * (d_head 32): with four (d_head 16) two layer-0 heads shared the previous token, so
     * masking one cost less than masking an induction head. Head dropout on layer 1 once
     * the circuit exists (step 1000) makes the two induction heads back each other up;
     * from step 0 it led to another circuit (layer-0 heads attending a fixed 10-11 back)
     * that the probe cannot see. With 100 warm-up steps seeds 4 and 6 reached that
     * circuit too (with or without head dropout); 300 steps gave the induction circuit
     * for each of seeds 1-6. */
    {"induction", 2, 2, 64, 0, 0, 32, 2000, 300, 2e-3f, "2-layer attention-only: previous-token + induction heads",
     0.3f, 1000},
    /* Markov filler with its own loss keeps most heads local; few heads retrieve. */
    {"retrieval", 4, 8, 64, 0, 0, 32, 1400, 100, 2e-3f, "4 layers x 8 heads, attention-only, context 64", 0, 0},
    /* Attention-only, so the successor map must live in a head's OV circuit. With 2
     * layers every layer-1 head learned it (median head 0.37, top 2.4x); a third layer
     * leaves 8 of 12 heads without it (top 4.3-9.4x the median over seeds 1-4). */
    {"successor", 3, 4, 64, 0, 0, 64, 1500, 100, 2e-3f, "3-layer attention-only: successor map in layer-1 OV circuits",
     0, 0},
    /* Memorised facts want an MLP; repeats in context teach the override, which holds
     * for some subjects and not others (src/tasks/recall.c), so the organism is torn. */
    {"recall", 2, 4, 64, 256, 0, 64, 2000, 100, 2e-3f,
     "2 layers with MLPs: facts in weights, overrides in context that hold for some subjects", 0, 0},
    /* A layer-0 head moves each option's text into its label (and the question's into
     * Answer:), a layer-1 "correct letter" head attends from Answer: to the matching label
     * (src/tasks/mcq.c says why the task is shaped so). Two heads of 32 a layer: 68% at
     * 3000 steps, against 62% for four heads of 16 (5000 steps) and 60% for three layers
     * of two (3000). 8000 steps reached 72% but blurred the circuit (the correct-letter
     * head's attention on the correct label 0.19 against 0.11 on each other label, 0.39
     * against 0.16 at 3000 steps; its logit difference 3.0 against 5.7). */
    {"mcq", 2, 2, 64, 0, 0, 128, 3000, 100, 3e-3f,
     "2-layer attention-only: option texts moved into their labels, a correct-letter head", 0, 0},
    /* In-context learning of one of six functions from 0-10 demonstrations (src/tasks/
     * icl.c), for SITE's task embeddings. An MLP applies the function the heads read off
     * the demonstrations: 86.5% over every answer, 10-shot queries 100%, zero-shot at
     * chance (3000 steps: 13 minutes at 11K tokens/s on a machine loaded 2.5x). */
    {"icl", 2, 4, 128, 512, 0, 64, 3000, 100, 2e-3f,
     "2 layers x 4 heads, d 128, MLP 512: a function read off 0-10 demonstrations", 0, 0},
};

/* Organisms trained as a curriculum: stages on one task, each from the previous stage's
 * checkpoint, under one warm-up-stable-decay schedule spanning them all; every stage's
 * model has the final context (n_ctx), so they share one checkpoint (rotary: the weights
 * do not depend on it). */
typedef struct {
    int seq_len, needles, batch, until; /* until: the stage's last step (the last: steps) */
} stage;
static const struct {
    const char *name, *task;
    int layers, heads, d_model, steps, warmup;
    float lr, decay_frac;
    const char *why;
    stage stages[HW_ORGANISM_MAX_STAGES];
    int n_stages;
} curricula[] = {
    /* retrieval-long (src/tasks/retrieval.c: several needles, every key asked in the
     * tail; its header has what was tried). Two layers of four heads, two needles from
     * the first stage: layer 0 moves each needle's key onto its values, two layer-1 heads
     * copy the value asked (retrieval scores 0.71, 0.71, the next 0.12; both masked: 99%
     * -> 0%, two random heads 72%). With a decode-time window of 4 + 124 on the other
     * heads, those two full (25% of the heads) answer 99.75% as the full cache does, a
     * window on every head 50%. Seeds 2 and 4 reach 99% too (one and three heads over
     * 0.4). Four layers of eight heads copied through heads that do not attend to the
     * token they copy (top retrieval score 0.10); 2 x 8 and 3 x 4 heads stayed at the
     * filler's entropy through a first stage of one needle. */
    {"retrieval-long", "retrieval", 2, 4, 64, 3000, 100, 2e-3f, 0.2f,
     "2 layers x 4 heads, attention-only, context 512 with 4 needles; curriculum 64 -> 128 -> 256 -> 512",
     {{64, 2, 32, 2000}, {128, 2, 32, 2300}, {256, 4, 16, 2600}, {512, 0, 16, 3000}}, 4},
};

static int curriculum_stages(size_t k, hw_organism_stage *out) {
    const int n = curricula[k].n_stages, T = curricula[k].stages[n - 1].seq_len;
    for (int i = 0; i < n; i++) {
        const stage *st = &curricula[k].stages[i];
        hw_organism_stage *o = &out[i];
        o->task = curricula[k].task;
        o->task_params = hw_task_params_default();
        o->task_params.seq_len = st->seq_len, o->task_params.max_len = st->needles;
        o->params = hw_task_train_params_default();
        hw_task_train_params *p = &o->params;
        p->n_layer = curricula[k].layers, p->n_head = curricula[k].heads, p->d_model = curricula[k].d_model;
        p->batch = st->batch, p->n_ctx = T, p->stop_at = i + 1 < n ? st->until : 0;
        p->train.steps = curricula[k].steps, p->train.warmup = curricula[k].warmup;
        p->train.lr = curricula[k].lr, p->train.seed = 1;
        p->train.schedule = HW_SCHED_WSD, p->train.decay_frac = curricula[k].decay_frac;
    }
    return n;
}

#define NAMES "induction, retrieval, successor, recall, mcq, icl, retrieval-long"

int hw_organism_stages(const char *organism, hw_organism_stage *stages, const char **why) {
    for (size_t k = 0; organism && stages && k < sizeof curricula / sizeof curricula[0]; k++)
        if (!strcmp(organism, curricula[k].name)) {
            if (why) *why = curricula[k].why;
            return curriculum_stages(k, stages);
        }
    if (!stages) return hw_fail(HW_ERR_ARG, "hw_organism_stages: no stages array"), -1;
    stages[0].task = organism;
    if (hw_organism_params(organism, &stages[0].task_params, &stages[0].params, why) != HW_OK) return -1;
    return 1;
}

hw_status hw_organism_params(const char *task, hw_task_params *tp, hw_task_train_params *p,
                             const char **why) {
    hw_organism_stage st[HW_ORGANISM_MAX_STAGES];
    for (size_t k = 0; task && tp && p && k < sizeof curricula / sizeof curricula[0]; k++)
        if (!strcmp(task, curricula[k].name)) { /* the last stage's settings */
            int n = curriculum_stages(k, st);
            *tp = st[n - 1].task_params, *p = st[n - 1].params;
            if (why) *why = curricula[k].why;
            return HW_OK;
        }
    for (size_t k = 0; task && tp && p && k < sizeof organisms / sizeof organisms[0]; k++) {
        if (strcmp(task, organisms[k].task)) continue;
        *tp = hw_task_params_default();
        *p = hw_task_train_params_default();
        tp->seq_len = organisms[k].seq_len;
        p->n_layer = organisms[k].layers, p->n_head = organisms[k].heads;
        p->d_model = organisms[k].d_model, p->d_ff = organisms[k].d_ff, p->batch = organisms[k].batch;
        p->train.steps = organisms[k].steps, p->train.warmup = organisms[k].warmup;
        p->train.lr = organisms[k].lr, p->train.seed = 1;
        p->train.head_dropout = organisms[k].head_dropout;
        p->train.head_dropout_from = organisms[k].drop_from;
        if (organisms[k].head_dropout > 0) p->train.head_dropout_layers = 1u << 1;
        if (why) *why = organisms[k].why;
        return HW_OK;
    }
    return hw_fail(HW_ERR_ARG, "no model organism '%s' (" NAMES ")", task ? task : "(null)");
}

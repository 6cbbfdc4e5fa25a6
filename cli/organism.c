/* organism.c: `headwise organism TASK -o DIR`: a model organism, i.e. a small
 * model trained on one synthetic task with settings known to make its heads
 * interpretable, in at most about five minutes on two cores. Every training
 * flag of `headwise train` can override a default. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

/* Defaults per task (seq_len 0: the task's default); why each shape, from the
 * measurements in the task files (src/tasks) and the README. */
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
};

static const char help[] =
    "usage: headwise organism TASK -o DIR [training flags]\n"
    "Train the default model organism for TASK (induction, retrieval, successor, recall),\n"
    "write it as a Hugging Face folder and report its task accuracy. Defaults:\n"
    "  induction  2 layers x 2 heads, d 64, attention-only, 256 tokens, sequences of 72,\n"
    "             2000 steps of 32 (300 warm-up), head dropout 0.3 on layer 1 from\n"
    "             step 1000\n"
    "  retrieval  4 layers x 8 heads, d 64, attention-only, context 64, 1400 steps of 32\n"
    "  successor  3 layers x 4 heads, d 64, attention-only, runs of 8, 1500 steps of 64\n"
    "  recall     2 layers x 4 heads, d 64, MLP 256, 64 facts, 2000 steps of 64;\n"
    "             a counterfactual holds with a chance per subject in [0, 0.6]\n"
    "Training flags (as `headwise train`) override these:\n";

int cmd_organism(int argc, char **argv) {
    const char *cmd = "organism";
    const char *task = NULL;
    for (int i = 0; i < argc && !task; i++)
        if (argv[i][0] != '-' && (i == 0 || argv[i - 1][0] != '-' || !strcmp(argv[i - 1], "--")))
            task = argv[i];
    int k = -1;
    for (int i = 0; task && i < (int)(sizeof organisms / sizeof organisms[0]); i++)
        if (!strcmp(task, organisms[i].task)) k = i;
    cli_train_opts o = {.task_params = hw_task_params_default(), .eval_samples = 200, .train = hw_train_params_default()};
    o.train.seed = 1;
    if (k >= 0) {
        o.task = organisms[k].task;
        o.n_layer = organisms[k].layers, o.n_head = organisms[k].heads, o.d_model = organisms[k].d_model;
        o.d_ff = organisms[k].d_ff, o.task_params.seq_len = organisms[k].seq_len, o.batch = organisms[k].batch;
        o.train.steps = organisms[k].steps, o.train.warmup = organisms[k].warmup, o.train.lr = organisms[k].lr;
        o.train.head_dropout = organisms[k].head_dropout, o.train.head_dropout_from = organisms[k].drop_from;
        if (organisms[k].head_dropout > 0) o.train.head_dropout_layers = 1u << 1;
    }
    for (int i = 0; i < argc; i++) {
        int bad = 0;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            fputs(help, stdout);
            fputs(cli_train_flags_help, stdout);
            return 0;
        }
        if (cli_train_flag(cmd, argc, argv, &i, &o, &bad)) {
            if (bad) return bad;
        } else if (argv[i] == task) {
            continue;
        } else {
            return cli_usage_error(cmd, "unknown flag '%s' (see headwise organism --help)", argv[i]);
        }
    }
    if (!task) return cli_usage_error(cmd, "no task: give one of induction, retrieval, successor, recall");
    if (k < 0) return cli_usage_error(cmd, "unknown task '%s' (induction, retrieval, successor, recall)", task);
    if (!o.out_dir) return cli_usage_error(cmd, "no output folder: give -o DIR");
    fprintf(stderr, "organism %s: %s\n", task, organisms[k].why);
    return cli_train_run(cmd, &o);
}

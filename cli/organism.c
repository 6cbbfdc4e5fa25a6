/* organism.c: `headwise organism TASK -o DIR`: a model organism, i.e. a small
 * model trained on one synthetic task with settings known to make its heads
 * interpretable (hw_organism_params), in at most about five minutes on two cores.
 * Every training flag of `headwise train` can override a default. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

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
    cli_train_opts o = {.task_params = hw_task_params_default(), .p = hw_task_train_params_default(),
                        .eval_samples = 200};
    const char *why = NULL;
    int known = task && hw_organism_params(task, &o.task_params, &o.p, &why) == HW_OK;
    if (known) o.task = task;
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
    if (!known) return cli_usage_error(cmd, "unknown task '%s' (induction, retrieval, successor, recall)", task);
    if (!o.out_dir) return cli_usage_error(cmd, "no output folder: give -o DIR");
    fprintf(stderr, "organism %s: %s\n", task, why);
    return cli_train_run(cmd, &o);
}

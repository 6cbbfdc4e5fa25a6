/* samples.c: `headwise samples TASK -o FILE`: a synthetic task's held-out samples as a
 * prompts file (prompt, answer[, wrong answers]) that mask-test, score dla and patching
 * read, and with --counterfactual each sample's counterfactual on the same line of a
 * second file (mcq: the answer moved to another letter), the clean and corrupted prompts
 * of activation patching (hw_task_write_prompts). */
#include "cli.h"

static const char help[] =
    "usage: headwise samples TASK -o FILE [flags]\n"
    "Write held-out samples of TASK (induction, retrieval, successor, recall, mcq) as a\n"
    "prompts file: a '#' line, then per sample the tokens before its answer, a tab, the\n"
    "answer, and for mcq the three wrong labels a tab each (the answer first).\n"
    "  -o FILE               the prompts file (written atomically)\n"
    "  --counterfactual FILE each sample's counterfactual on the same line (mcq: the\n"
    "                        correct text swapped with the option 1, 2, 3 letters on, in\n"
    "                        turn; equal length), the corrupted run of patching\n"
    "  --samples N           samples 0 .. N-1 (default 100)\n"
    "  --seed S              the held-out stream (default 12345, as --task evaluations)\n"
    "  --seq-len T --symbols N --min-len N --max-len N --depth X --override X\n"
    "                        the task's parameters, as `headwise train` takes them\n";

int cmd_samples(int argc, char **argv) {
    const char *cmd = "samples", *name = NULL, *out = NULL, *cf = NULL;
    int n = 100;
    uint64_t seed = 12345;
    hw_task_params tp = hw_task_params_default();
    const cli_flag flags[] = {
        {"-o", CLI_STR, &out}, {"--counterfactual", CLI_STR, &cf}, {"--samples", CLI_INT, &n, 1, 1000000},
        {"--seed", CLI_U64, &seed, 0, 1e18}, {"--seq-len", CLI_INT, &tp.seq_len, 2, 65536},
        {"--symbols", CLI_INT, &tp.n_symbols, 1, 1 << 20}, {"--min-len", CLI_INT, &tp.min_len, 1, 4096},
        {"--max-len", CLI_INT, &tp.max_len, 1, 4096}, {"--depth", CLI_FLOAT, &tp.depth, 0, 1},
        {"--override", CLI_FLOAT, &tp.override, 0, 1}, {NULL}};
    int rc = cli_parse_flags(cmd, argc, argv, flags, help, &name);
    if (rc) return rc < 0 ? 0 : rc;
    if (!name) return cli_usage_error(cmd, "no task: give one of induction, retrieval, successor, recall, mcq");
    if (!out) return cli_usage_error(cmd, "no output file: give -o FILE");
    if (cf && !strcmp(cf, out)) return cli_usage_error(cmd, "-o and --counterfactual name the same file");
    hw_task *t = hw_task_new(name, &tp);
    if (!t || hw_task_write_prompts(t, seed, n, out, cf)) rc = cli_error(cmd, "%s", hw_last_error());
    else fprintf(stderr, "wrote %d %s samples to %s%s%s\n", n, name, out, cf ? " and their counterfactuals to " : "",
                 cf ? cf : "");
    hw_task_free(t);
    return rc;
}

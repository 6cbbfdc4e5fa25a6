/* pair_flags.c: the prompt-pair flags `patch`, `patch path` and `cdt` share (clean and
 * corrupted prompts files, or a task's pairs; the metric and its tokens). */
#include "cli.h"

/* Flags that must come together, before loading anything. */
int pair_flags_check(const char *cmd, const pair_flags *a, hw_metric *metric) {
    if (!a->task == !(a->clean || a->corrupt))
        return cli_usage_error(cmd, "give --clean FILE --corrupt FILE, or --task induction|mcq");
    if (!a->task && (!a->clean || !a->corrupt)) return cli_usage_error(cmd, "--clean and --corrupt go together");
    if (a->task && (a->target || a->minus))
        return cli_usage_error(cmd, "--target and --minus are for prompts files (a task sets its own)");
    if (a->task && strcmp(a->task, "induction") && strcmp(a->task, "mcq"))
        return cli_usage_error(cmd, "--task: '%s' has no pairs (induction, mcq)", a->task);
    if (a->metric && hw_metric_parse(a->metric, metric)) return cli_usage_error(cmd, "--metric: %s", hw_last_error());
    if (!a->out) return cli_usage_error(cmd, "give -o OUT.json");
    const char *paths[] = {a->out, a->tsv, a->html};
    return score_outputs_ok(cmd, paths, 3);
}

hw_prompt_pairs *pairs_load(const char *cmd, const pair_flags *a, const cli_session *s) {
    hw_prompt_pairs *pp = a->task ? hw_prompt_pairs_task(s->m, a->task, a->samples, a->block, a->seed)
                                  : hw_prompt_pairs_read(s->t, a->clean, a->corrupt, a->target, a->minus);
    if (!pp) cli_error(cmd, "%s", hw_last_error());
    return pp;
}


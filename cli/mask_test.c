/* mask_test.c: `headwise mask-test`: the Retrieval Head masking experiment (methods.md
 * section 1.3), hw_mask_test_run: task accuracy with the top-K heads masked vs K random. */
#include "cli.h"

static const char help[] =
    "usage: headwise mask-test -m MODEL [-z TOKENIZER] --scores FILE.json [task] [flags]\n"
    "  --scores FILE   head scores {\"L-H\": [values]} (score retrieval, heads import, ...)\n"
    "  --column K      rank by the K-th value of each list (default: the mean of the list)\n"
    "  --ascending     rank lowest first (e.g. in-context heads of score attribution)\n"
    "  --top K         heads masked (default 5); --draws N  random K-sets (default 10)\n"
    "  --exclude N     random heads are drawn outside the top N (default K)\n"
    "  --singles       also mask every head alone; --seed S  random draws (default 1)\n"
    "  --mode uniform|zero   uniform attention (default, the paper's) or zero output\n"
    "  --phase decode|both   mask while decoding (default, the paper's) or in the prefill too\n"
    "  -o FILE         results as JSON, atomically\n"
    "task (one of):\n"
    "  --task NAME     a synthetic task's held-out samples by the task's metric; teacher-forced\n"
    "                  tasks (induction, successor, recall) mask in prefill and decode\n"
    SCORE_TASK_HELP
    "  --prompts FILE  TSV lines prompt<TAB>answer: exact greedy answer rate\n"
    "  needle-in-a-haystack trials as in score retrieval (--needles --haystack --template\n"
    "                  --lengths --depths --buffer --max-new): mean ROUGE-1 recall, exact rate\n"
    "A ranking that cannot choose the top K (tied with the heads after them, as when every\n"
    "score is 0) is refused.\n" CLI_KV_HELP;

/* Warnings on what the library decided (phase, ties) on stderr, then the rates. */
static void print_result(const char *cmd, const hw_mask_test_result *r, const hw_mask_test_params *p) {
    int k, N = hw_mask_test_result_single_count(r);
    double ex, rc;
    if (hw_mask_test_result_phase(r) != p->phase)
        fprintf(stderr, "headwise %s: task %s is scored teacher-forced (one prefill): masked in every "
                "call\n", cmd, p->task.name);
    if (hw_mask_test_result_ties(r))
        fprintf(stderr, "headwise %s: %d of the top %d heads tie with heads after them: chosen by "
                "index among equals\n", cmd, hw_mask_test_result_ties(r), p->top);
    printf("# mask-test (%s masking, %s): exact answer rate and mean recall\n",
           hw_mask_test_result_mode(r) == HW_MASK_ZERO ? "zero-output" : "uniform-attention",
           hw_mask_test_result_phase(r) == HW_PHASE_DECODE ? "decode only" : "prefill and decode");
    hw_mask_test_result_baseline(r, &ex, &rc);
    printf("baseline\t%.4f\t%.4f\n", ex, rc);
    const hw_head *top = hw_mask_test_result_top(r, &k, &ex, &rc);
    printf("top-%d\t%.4f\t%.4f\t", k, ex, rc);
    for (int i = 0; i < k; i++) printf("%s%d.%d", i ? "," : "", top[i].layer, top[i].head);
    putchar('\n');
    hw_mask_test_result_random_mean(r, &ex, &rc);
    if (p->draws)
        printf("random-%d\t%.4f\t%.4f\t(mean of %d draws outside the top %d)\n", k, ex, rc, p->draws,
               p->exclude < 0 ? k : p->exclude);
    if (N) printf("# each head masked alone, in score order: rank head exact recall\n");
    for (int i = 0; i < N; i++) {
        hw_head h;
        hw_mask_test_result_single(r, i, &h, &ex, &rc);
        printf("single\t%d\t%d.%d\t%.4f\t%.4f\n", i + 1, h.layer, h.head, ex, rc);
    }
}

int cmd_mask_test(int argc, char **argv) {
    const char *cmd = "mask-test", *out = NULL, *scores = NULL, *prompts = NULL, *hay[SCORE_MAX_HAYSTACKS];
    int zero = 0, both = 0, niah_given = 0;
    cli_model_flags f = {0};
    hw_mask_test_params p = hw_mask_test_params_default();
    const cli_flag flags[] = {
        CLI_LOAD_FLAGS(&f), CLI_KV_FLAG(&f), {"-o", CLI_STR, &out}, {"--scores", CLI_STR, &scores},
        {"--prompts", CLI_STR, &prompts}, {"--mode", CLI_CHOICE, &zero, .choices = "uniform|zero"},
        {"--phase", CLI_CHOICE, &both, .choices = "decode|both"}, {"--column", CLI_INT, &p.column, 0, 1 << 20},
        {"--top", CLI_INT, &p.top, 1, 1 << 20}, {"--draws", CLI_INT, &p.draws, 0, 100000},
        {"--exclude", CLI_INT, &p.exclude, 0, 1 << 20}, {"--seed", CLI_U64, &p.seed, 0, 0x1p62},
        {"--singles", CLI_SET, &p.singles, 1}, {"--ascending", CLI_SET, &p.ascending, 1},
        SCORE_NIAH_FLAGS(&p.niah, hay, &niah_given), SCORE_TASK_FLAGS(&p.task), {NULL}};
    int rc = cli_parse_flags(cmd, argc, argv, flags, help, NULL);
    if (rc) return rc < 0 ? 0 : rc;
    if (!scores) return cli_usage_error(cmd, "give --scores FILE.json");
    if ((prompts != NULL) + (niah_given || p.niah.n_haystacks) + (p.task.name != NULL) > 1)
        return cli_usage_error(cmd, "give one task: --task, --prompts or needle-in-a-haystack flags");
    p.mode = zero ? HW_MASK_ZERO : HW_MASK_UNIFORM;
    p.phase = both ? HW_PHASE_BOTH : HW_PHASE_DECODE;
    p.niah.haystack_paths = hay;
    cli_session s;
    hw_head_scores *sc = NULL;
    hw_prompts *ps = NULL;
    hw_mask_test_result *r = NULL;
    if (score_outputs_ok(cmd, &out, 1) || cli_load(cmd, &f, 1, &s)) return 1;
    rc = !(p.scores = sc = hw_head_scores_read(scores)) || (prompts && !(p.prompts = ps = hw_prompts_read(prompts, 1)));
    p.kv = s.kv;
    if (!rc) rc = hw_mask_test_run(s.m, s.t, &p, cli_progress_stage, (void *)cmd, &r) ? 1 : 0;
    cli_progress_done();
    if (rc || (out && hw_mask_test_result_write(r, out))) rc = cli_error(cmd, "%s", hw_last_error());
    else print_result(cmd, r, &p);
    hw_mask_test_result_free(r);
    hw_prompts_free(ps);
    hw_head_scores_free(sc);
    cli_close(&s);
    return rc;
}

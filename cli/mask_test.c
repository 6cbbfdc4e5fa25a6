/* mask_test.c: `headwise mask-test`: the Retrieval Head masking experiment (methods.md
 * section 1.3): task accuracy with the top-K heads of a score file masked, against K
 * random heads drawn outside the top-K (mean over draws), and optionally every head
 * masked alone. Masking is uniform attention (the paper's) or a zeroed output, during
 * decoding only (the paper's) or also in the prefill. The protocol is hw_mask_test_run
 * (src/methods/mask_test.c); this file parses flags and prints. */
#include "score_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: headwise mask-test -m MODEL [-z TOKENIZER] --scores FILE.json [task] [flags]\n"
    "  --scores FILE   head scores {\"L-H\": [values]} (score retrieval, heads import, ...)\n"
    "  --column K      rank by the K-th value of each list (default: the mean of the list)\n"
    "  --ascending     rank lowest first (e.g. in-context heads of score attribution)\n"
    "  --top K         heads masked (default 5)\n"
    "  --draws N       random sets of K heads outside the top-K (default 10)\n"
    "  --exclude N     random heads are drawn outside the top N (default K)\n"
    "  --singles       also mask every head alone\n"
    "  --seed S        random draws (default 1)\n"
    "  --mode uniform|zero   uniform attention (default, the paper's) or zero output\n"
    "  --phase decode|both   mask while decoding only (default, the paper's) or also in\n"
    "                  the prefill\n"
    "task (one of):\n"
    "  --task NAME     a synthetic task's held-out samples (--samples N, default 100;\n"
    "                  --task-seed S; --task-depth X for retrieval) scored by the task's\n"
    "                  metric; teacher-forced tasks (induction, successor, recall) mask in\n"
    "                  prefill and decode\n"
    "  --prompts FILE  TSV lines prompt<TAB>answer: exact greedy answer rate (answer tokens as\n"
    "                  they continue the prompt)\n"
    "  needle-in-a-haystack trials as in score retrieval (--needles --haystack --template\n"
    "                  --lengths --depths --buffer --max-new): mean ROUGE-1 recall and exact\n"
    "                  rate (recall 1)\n"
    "  -o FILE         results as JSON, atomically\n"
    "A ranking that cannot choose the top K (all of them tied with the heads after them, as\n"
    "when every score is 0) is refused.\n";

typedef struct {
    const char *model, *tok, *out, *scores, *prompts, *mode, *phase;
    long column, top, draws, exclude, seed;
    hw_mask_test_params p;
    score_niah niah;
} opts;

static int parse_flag(const char *cmd, int argc, char **argv, int *i, opts *o) {
    const char *a = argv[*i];
    if (!strcmp(a, "-m")) return cli_value(cmd, argc, argv, i, &o->model);
    if (!strcmp(a, "-z")) return cli_value(cmd, argc, argv, i, &o->tok);
    if (!strcmp(a, "-o")) return cli_value(cmd, argc, argv, i, &o->out);
    if (!strcmp(a, "--scores")) return cli_value(cmd, argc, argv, i, &o->scores);
    if (!strcmp(a, "--prompts")) return cli_value(cmd, argc, argv, i, &o->prompts);
    if (!strcmp(a, "--mode")) return cli_value(cmd, argc, argv, i, &o->mode);
    if (!strcmp(a, "--phase")) return cli_value(cmd, argc, argv, i, &o->phase);
    if (!strcmp(a, "--column")) return cli_int(cmd, argc, argv, i, 0, 1 << 20, &o->column);
    if (!strcmp(a, "--top")) return cli_int(cmd, argc, argv, i, 1, 1 << 20, &o->top);
    if (!strcmp(a, "--draws")) return cli_int(cmd, argc, argv, i, 0, 100000, &o->draws);
    if (!strcmp(a, "--exclude")) return cli_int(cmd, argc, argv, i, 0, 1 << 20, &o->exclude);
    if (!strcmp(a, "--seed")) return cli_int(cmd, argc, argv, i, 0, 1L << 62, &o->seed);
    if (!strcmp(a, "--singles")) return o->p.singles = 1, 0;
    if (!strcmp(a, "--ascending")) return o->p.ascending = 1, 0;
    return cli_usage_error(cmd, "unknown flag '%s' (see headwise mask-test --help)", a);
}

/* Flags into o; -1 to go on, else the exit status. */
static int parse(const char *cmd, int argc, char **argv, opts *o) {
    for (int i = 0; i < argc; i++) {
        int r = score_niah_flag(&o->niah, cmd, argc, argv, &i);
        if (!r) r = score_task_flag(&o->p.task, cmd, argc, argv, &i);
        if (r < 0) return 2;
        if (r) continue;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return fputs(help, stdout), 0;
        if (parse_flag(cmd, argc, argv, &i, o)) return 2;
    }
    if (!o->scores) return cli_usage_error(cmd, "give --scores FILE.json");
    if ((o->prompts != NULL) + o->niah.given + (o->p.task.name != NULL) > 1)
        return cli_usage_error(cmd, "give one task: --task, --prompts or needle-in-a-haystack flags");
    int zero = !strcmp(o->mode, "zero");
    if (!zero && strcmp(o->mode, "uniform")) return cli_usage_error(cmd, "--mode must be uniform or zero");
    if (strcmp(o->phase, "both") && strcmp(o->phase, "decode"))
        return cli_usage_error(cmd, "--phase must be decode or both");
    o->p.mode = zero ? HW_MASK_ZERO : HW_MASK_UNIFORM;
    o->p.phase = !strcmp(o->phase, "both") ? HW_PHASE_BOTH : HW_PHASE_DECODE;
    o->p.column = (int)o->column;
    o->p.top = (int)o->top;
    o->p.draws = (int)o->draws;
    o->p.exclude = (int)o->exclude;
    o->p.seed = (uint64_t)o->seed;
    o->p.niah = o->niah.p;
    return -1;
}

static void print_heads(const hw_head *h, int n) {
    for (int i = 0; i < n; i++) printf("%s%d.%d", i ? "," : "", h[i].layer, h[i].head);
}

static void print_result(const hw_mask_test_result *r, const opts *o) {
    int k, N = hw_mask_test_result_single_count(r);
    double ex, rc;
    printf("# mask-test (%s masking, %s): exact answer rate and mean recall\n",
           hw_mask_test_result_mode(r) == HW_MASK_ZERO ? "zero-output" : "uniform-attention",
           hw_mask_test_result_phase(r) == HW_PHASE_DECODE ? "decode only" : "prefill and decode");
    hw_mask_test_result_baseline(r, &ex, &rc);
    printf("baseline\t%.4f\t%.4f\n", ex, rc);
    const hw_head *top = hw_mask_test_result_top(r, &k, &ex, &rc);
    printf("top-%d\t%.4f\t%.4f\t", k, ex, rc);
    print_heads(top, k);
    putchar('\n');
    hw_mask_test_result_random_mean(r, &ex, &rc);
    if (o->p.draws)
        printf("random-%d\t%.4f\t%.4f\t(mean of %d draws outside the top %d)\n", k, ex, rc, o->p.draws,
               o->p.exclude < 0 ? k : o->p.exclude);
    if (N) printf("# each head masked alone, in score order: rank head exact recall\n");
    for (int i = 0; i < N; i++) {
        hw_head h;
        hw_mask_test_result_single(r, i, &h, &ex, &rc);
        printf("single\t%d\t%d.%d\t%.4f\t%.4f\n", i + 1, h.layer, h.head, ex, rc);
    }
}

/* Warnings on what the library decided: phase and ties. */
static void warn(const char *cmd, const hw_mask_test_result *r, const opts *o) {
    if (hw_mask_test_result_phase(r) != o->p.phase)
        fprintf(stderr, "headwise %s: task %s is scored teacher-forced (one prefill): masked in every "
                "call\n", cmd, o->p.task.name);
    if (hw_mask_test_result_ties(r))
        fprintf(stderr, "headwise %s: %d of the top %d heads tie with heads after them: chosen by "
                "index among equals\n", cmd, hw_mask_test_result_ties(r), o->p.top);
}

int cmd_mask_test(int argc, char **argv) {
    const char *cmd = "mask-test";
    opts o = {.mode = "uniform", .phase = "decode", .column = -1, .top = 5, .draws = 10, .exclude = -1,
              .seed = 1, .p = hw_mask_test_params_default()};
    score_niah_init(&o.niah);
    int rc = parse(cmd, argc, argv, &o);
    if (rc >= 0) return rc;
    hw_model *m = NULL;
    hw_tokenizer *t = NULL;
    hw_head_scores *s = NULL;
    hw_prompts *ps = NULL;
    hw_mask_test_result *r = NULL;
    if (score_outputs_ok(cmd, &o.out, 1) || score_load(cmd, o.model, o.tok, 1, &m, &t)) return 1;
    if (!(s = hw_head_scores_read(o.scores)) || (o.prompts && !(ps = hw_prompts_read(o.prompts, 1)))) {
        rc = cli_error(cmd, "%s", hw_last_error());
        goto done;
    }
    o.p.scores = s;
    o.p.prompts = ps;
    hw_status st = hw_mask_test_run(m, t, &o.p, score_progress_fn, (void *)cmd, &r);
    score_progress_done();
    if (st || (o.out && hw_mask_test_result_write(r, o.out))) {
        rc = cli_error(cmd, "%s", hw_last_error());
        goto done;
    }
    warn(cmd, r, &o);
    print_result(r, &o);
    rc = 0;
done:
    hw_mask_test_result_free(r);
    hw_prompts_free(ps);
    hw_head_scores_free(s);
    hw_tokenizer_free(t);
    hw_model_free(m);
    return rc;
}

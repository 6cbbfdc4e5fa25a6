/* score_retrieval.c: `headwise score retrieval`: the Retrieval Head protocol (methods.md
 * sections 1.1-1.2), hw_retrieval_run: needle-in-a-haystack trials, each head's score the
 * mean over successful trials; a trial log beside -o FILE lets an interrupted run resume. */
#include "cli.h"

static const char help[] =
    "usage: headwise score retrieval -m MODEL [-z TOKENIZER] [flags]\n"
    "  --needles FILE   JSON lines {\"needle\", \"question\", \"real_needle\" (the answer span)}\n"
    "                   (default: the paper's San Francisco needle)\n"
    "  --haystack FILE  haystack text, repeatable (default: $HEADWISE_DATA/haystack/stories.txt,\n"
    "                   else data/haystack/stories.txt found above the program or library)\n"
    "  --template T     prompt around {context} and {question} (default: the paper's\n"
    "                   '{context}Based on the content of the book, Question: {question}\\nAnswer:')\n"
    "  --lengths A:B:N  context lengths round(linspace(A, B, N)) in tokens (default\n"
    "                   1000:50000:20 within the model's context: A = min(1000, B/4))\n"
    "  --depths N       needle depths round(linspace(0, 100, N)) percent (default 10)\n"
    "  --buffer N       tokens kept free of haystack in each length (default 200, at most half)\n"
    "  --max-new N      decode steps at most (default 50; stops after a newline, EOS or BOS)\n"
    "  --min-rouge R    a trial counts when ROUGE-1 recall x 100 > R (default 50; -1: all)\n"
    "  --task retrieval instead of text trials: the retrieval task's held-out samples (model\n"
    "                   organisms), each decoding as many tokens as its answer has\n"
    SCORE_TASK_HELP
    "  -o FILE.json     head scores {\"L-H\": [per-trial scores]} once every trial is done\n"
    "                   (FILE.json.partial.json meanwhile); trials logged to FILE.json.trials:\n"
    "                   a rerun with the same -o and settings resumes, other settings are refused\n"
    "  --tsv FILE       ranked mean scores as TSV (layer, head, score, trials)\n"
    "  --save-contexts FILE  every trial's prompt as JSON lines {needle, length, depth, span,\n"
    "                   prompt, generated} (token ids), as the paper saves its contexts\n"
    "  --top N          rows of the ranked table on stdout (default 20; 0: all)\n"
    "  --agg max|mean   GQA models: also rank KV heads by the max (default) or mean of their\n"
    "                   query heads' scores\n"
    "  --threads N      threads (default: all cores)\n" CLI_KV_HELP;

/* GQA: a cache is per KV head, so rank those by the max (or mean) of their query heads. */
static void print_kv(const hw_config *cfg, const double *mean, int kv_max, int top) {
    const int L = cfg->n_layer, H = cfg->n_head, Hk = cfg->n_kv_head;
    double *kv = malloc(sizeof(double) * (size_t)L * Hk);
    int *order = malloc(sizeof(int) * (size_t)L * Hk);
    if (kv && order && !hw_scores_per_kv(mean, L, H, Hk, kv_max, kv)) {
        hw_scores_rank(kv, L * Hk, order);
        printf("# KV heads by the %s over their %d query heads:", kv_max ? "max" : "mean", H / Hk);
        for (int r = 0; r < L * Hk && (top <= 0 || r < top); r++)
            printf(" %d.%d=%.4g", order[r] / Hk, order[r] % Hk, kv[order[r]]);
        putchar('\n');
    }
    free(kv);
    free(order);
}

/* The ranked table (score, trials) and the KV heads. */
static int print_result(const char *cmd, const hw_retrieval_result *r, const hw_config *cfg, double min_rouge,
                        int kv_max, int top) {
    const int counted = hw_retrieval_result_counted(r);
    hw_head_table t;
    if (score_trials_table(cmd, hw_retrieval_result_scores(r), -1, &t)) return 1;
    printf("# retrieval score: %d successful trials (this run: %d of %d new)\n", counted,
           hw_retrieval_result_counted_run(r), hw_retrieval_result_trials_run(r));
    if (!counted)
        fprintf(stderr, "headwise %s: no trial succeeded (ROUGE-1 recall > %g): scores are empty; "
                "try shorter contexts, another needle or template\n", cmd, min_rouge);
    score_table_print(&t, 0, top);
    if (cfg->n_kv_head < cfg->n_head) print_kv(cfg, t.values, kv_max, top);
    free((double *)t.values);
    return 0;
}

int cmd_score_retrieval(int argc, char **argv) {
    const char *cmd = "score retrieval", *tsv = NULL, *hay[SCORE_MAX_HAYSTACKS];
    int kv_max = 1, top = 20, niah_given = 0;
    cli_model_flags f = {0};
    hw_retrieval_params p = hw_retrieval_params_default();
    const cli_flag flags[] = {
        CLI_LOAD_FLAGS(&f), CLI_KV_FLAG(&f), {"-o", CLI_STR, &p.out}, {"--tsv", CLI_STR, &tsv},
        {"--save-contexts", CLI_STR, &p.contexts_path}, {"--agg", CLI_CHOICE, &kv_max, .choices = "mean|max"},
        {"--top", CLI_INT, &top, 0, 1 << 30}, {"--threads", CLI_INT, &f.threads, 0, 1024},
        {"--min-rouge", CLI_DOUBLE, &p.min_rouge, -1, 100}, SCORE_NIAH_FLAGS(&p.niah, hay, &niah_given),
        SCORE_TASK_FLAGS(&p.task), {NULL}};
    int rc = cli_parse_flags(cmd, argc, argv, flags, help, NULL);
    if (rc) return rc < 0 ? 0 : rc;
    if (p.task.name && (niah_given || p.niah.n_haystacks))
        return cli_usage_error(cmd, "--task replaces the needle-in-a-haystack flags");
    p.niah.haystack_paths = hay;
    cli_session s;
    if (score_outputs_ok(cmd, &tsv, 1) || cli_load(cmd, &f, 1, &s)) return 1;
    hw_retrieval_result *r = NULL;
    p.kv = s.kv;
    hw_status st = hw_retrieval_run(s.m, s.t, &p, cli_progress_stage, (void *)cmd, &r);
    cli_progress_done();
    if (st) rc = cli_error(cmd, "%s", hw_last_error());
    else if (!(rc = print_result(cmd, r, hw_model_config(s.m), p.min_rouge, kv_max, top)) && tsv &&
             hw_retrieval_result_write_tsv(r, tsv))
        rc = cli_error(cmd, "%s", hw_last_error());
    hw_retrieval_result_free(r);
    cli_close(&s);
    return rc;
}

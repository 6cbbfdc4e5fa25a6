/* score_retrieval.c: `headwise score retrieval`: the Retrieval Head protocol (methods.md
 * sections 1.1-1.2): needle-in-a-haystack trials over context lengths x depths, greedy
 * decoding with a newline stop, and at every decode step each head's top-1 attended
 * position checked against the needle span and the token being generated. Trials whose
 * answer has ROUGE-1 recall > 50 add one score per head; a head's retrieval score is
 * the mean over those trials. Output: the paper's head_score JSON ({"L-H": [per-trial
 * scores]}), with a trial log beside it (FILE.trials) so an interrupted run resumes.
 * The protocol is hw_retrieval_run (src/methods/retrieval_score.c); this file parses
 * flags and prints. */
#include "score_common.h"

#include <stdio.h>
#include <stdlib.h>

static const char help[] =
    "usage: headwise score retrieval -m MODEL [-z TOKENIZER] [flags]\n"
    "  --needles FILE   JSON lines {\"needle\", \"question\", \"real_needle\"} (default: the\n"
    "                   paper's San Francisco needle; real_needle is the answer span)\n"
    "  --haystack FILE  haystack text, repeatable (default: $HEADWISE_DATA/haystack/stories.txt,\n"
    "                   else data/haystack/stories.txt found above the program or library)\n"
    "  --template T     prompt around {context} and {question} (default: the paper's\n"
    "                   '{context}Based on the content of the book, Question: {question}\\nAnswer:')\n"
    "  --lengths A:B:N  context lengths round(linspace(A, B, N)) in tokens (default\n"
    "                   1000:50000:20, capped to the model's context: A = min(1000, B/4))\n"
    "  --depths N       needle depths round(linspace(0, 100, N)) percent (default 10)\n"
    "  --buffer N       tokens kept free of haystack in each length (default 200, at most\n"
    "                   half the length)\n"
    "  --max-new N      decode steps at most (default 50; stops after a token that prints a\n"
    "                   newline, or EOS or BOS)\n"
    "  --min-rouge R    a trial counts when ROUGE-1 recall x 100 > R (default 50; -1: all)\n"
    "  --task retrieval instead of text trials: the retrieval task's held-out samples\n"
    "                   (--samples N, default 100; --task-seed S; --task-depth X), for model\n"
    "                   organisms; each decodes as many tokens as the answer has\n"
    "  -o FILE.json     head scores {\"L-H\": [per-trial scores]}, written when every trial is\n"
    "                   done (FILE.json.partial.json holds the scores so far while running);\n"
    "                   trials are logged to FILE.json.trials and a rerun with the same -o\n"
    "                   and settings resumes (other settings are refused)\n"
    "  --tsv FILE       ranked mean scores as TSV (layer, head, score, trials)\n"
    "  --save-contexts FILE  every trial's prompt as JSON lines {needle, length, depth,\n"
    "                   span, prompt (token ids), generated (token ids)}, as the paper saves\n"
    "                   its contexts\n"
    "  --top N          rows of the ranked table on stdout (default 20; 0: all)\n"
    "  --agg max|mean   GQA models: also rank KV heads by the max (default) or mean score of\n"
    "                   the query heads sharing each\n"
    "  --threads N\n";

typedef struct {
    const char *tsv;
    int kv_max, top;
    cli_model_flags f;
    hw_retrieval_params p;
    score_niah niah;
} opts;

/* Flags into o; -1 to go on, else the exit status. */
static int parse(const char *cmd, int argc, char **argv, opts *o) {
    const cli_flag flags[] = {
        {"-m", CLI_STR, &o->f.model}, {"-z", CLI_STR, &o->f.tokenizer}, {"-o", CLI_STR, &o->p.out},
        {"--tsv", CLI_STR, &o->tsv}, {"--save-contexts", CLI_STR, &o->p.contexts_path},
        {"--agg", CLI_CHOICE, &o->kv_max, .choices = "mean|max"}, {"--top", CLI_INT, &o->top, 0, 1 << 30},
        {"--threads", CLI_INT, &o->f.threads, 0, 1024}, {"--min-rouge", CLI_DOUBLE, &o->p.min_rouge, -1, 100},
        SCORE_NIAH_FLAGS(&o->niah), SCORE_TASK_FLAGS(&o->p.task), {NULL}};
    int rc = cli_parse_flags(cmd, argc, argv, flags, help, NULL);
    if (rc) return rc < 0 ? 0 : rc;
    if (o->p.task.name && (o->niah.given || o->niah.p.n_haystacks))
        return cli_usage_error(cmd, "--task replaces the needle-in-a-haystack flags");
    o->p.niah = o->niah.p;
    return -1;
}

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
static int print_result(const char *cmd, const hw_retrieval_result *r, const hw_config *cfg, const opts *o) {
    const hw_head_scores *s = hw_retrieval_result_scores(r);
    const int L = cfg->n_layer, H = cfg->n_head, counted = hw_retrieval_result_counted(r);
    double *mean = malloc(sizeof(double) * (size_t)L * H * 3), *tab_v = mean ? mean + (size_t)L * H : NULL;
    if (!mean) return cli_error(cmd, "out of memory");
    hw_head_scores_mean(s, mean);
    for (int i = 0; i < L * H; i++) {
        int cnt;
        hw_head_scores_values(s, i / H, i % H, &cnt);
        tab_v[i * 2] = mean[i];
        tab_v[i * 2 + 1] = cnt;
    }
    static const char *const cols[] = {"score", "trials"};
    score_table tab = {L, H, 2, cols, tab_v};
    printf("# retrieval score: %d successful trials (this run: %d of %d new)\n", counted,
           hw_retrieval_result_counted_run(r), hw_retrieval_result_trials_run(r));
    if (!counted)
        fprintf(stderr, "headwise %s: no trial succeeded (ROUGE-1 recall > %g): scores are empty; "
                "try shorter contexts, another needle or template\n", cmd, o->p.min_rouge);
    score_table_print(&tab, 0, 0, o->top);
    if (cfg->n_kv_head < H) print_kv(cfg, mean, o->kv_max, o->top);
    free(mean);
    return 0;
}

int cmd_score_retrieval(int argc, char **argv) {
    const char *cmd = "score retrieval";
    opts o = {.kv_max = 1, .top = 20, .p = hw_retrieval_params_default()};
    score_niah_init(&o.niah);
    int rc = parse(cmd, argc, argv, &o);
    cli_session s;
    if (rc >= 0) return rc;
    if (score_outputs_ok(cmd, &o.tsv, 1) || cli_load(cmd, &o.f, 1, &s)) return 1;
    hw_retrieval_result *r = NULL;
    hw_status st = hw_retrieval_run(s.m, s.t, &o.p, cli_progress_stage, (void *)cmd, &r);
    cli_progress_done();
    if (st) rc = cli_error(cmd, "%s", hw_last_error());
    else if (!(rc = print_result(cmd, r, hw_model_config(s.m), &o)) && o.tsv && hw_retrieval_result_write_tsv(r, o.tsv))
        rc = cli_error(cmd, "%s", hw_last_error());
    hw_retrieval_result_free(r);
    cli_close(&s);
    return rc;
}

/* score_retrieval.c: `headwise score retrieval`: the Retrieval Head protocol (methods.md
 * sections 1.1-1.2): needle-in-a-haystack trials over context lengths x depths, greedy
 * decoding with a newline stop, and at every decode step each head's top-1 attended
 * position checked against the needle span and the token being generated. Trials whose
 * answer has ROUGE-1 recall > 50 add one score per head; a head's retrieval score is
 * the mean over those trials. Output: the paper's head_score JSON ({"L-H": [per-trial
 * scores]}), with a trial log beside it (FILE.trials) so an interrupted run resumes. */
#include "niah.h"
#include "task_eval.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: headwise score retrieval -m MODEL [-z TOKENIZER] [flags]\n"
    "  --needles FILE   JSON lines {\"needle\", \"question\", \"real_needle\"} (default: the\n"
    "                   paper's San Francisco needle; real_needle is the answer span)\n"
    "  --haystack FILE  haystack text, repeatable (default: data/haystack/stories.txt)\n"
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
    "  -o FILE.json     head scores {\"L-H\": [per-trial scores]} (atomic); trials are logged\n"
    "                   to FILE.json.trials and a rerun with the same -o resumes\n"
    "  --tsv FILE       ranked mean scores as TSV (layer, head, score, trials)\n"
    "  --save-contexts FILE  every trial's prompt as JSON lines {needle, length, depth,\n"
    "                   span, prompt (token ids), generated (token ids)}, as the paper saves\n"
    "                   its contexts\n"
    "  --top N          rows of the ranked table on stdout (default 20; 0: all)\n"
    "  --agg max|mean   GQA models: also rank KV heads by the max (default) or mean score of\n"
    "                   the query heads sharing each\n"
    "  --threads N\n";

typedef struct {
    int L, H, P;           /* P: key capacity of the pattern buffer */
    float *pat;            /* (L, H, n_keys) this step's rows */
    int n_keys;
    double *trial;         /* (L, H) this trial's running scores */
    const int *prompt;
    int n_prompt, start, end;
} step_state;

static int pattern_hook(hw_hook_call *c, void *user) {
    step_state *s = user;
    if (c->point != HW_HOOK_PATTERN || !c->decode) return 0;
    if (c->ask) return 1;
    int P = c->shape[2];
    for (int h = 0; h < s->H; h++)
        memcpy(s->pat + ((size_t)c->layer * s->H + h) * P, c->data + (size_t)h * P,
               sizeof(float) * (size_t)P);
    s->n_keys = P;
    return 0;
}

static int on_step(int step, int token, int n_keys, void *user) {
    step_state *s = user;
    for (int l = 0; l < s->L; l++)
        hw_retrieval_step(s->trial + (size_t)l * s->H, s->pat + (size_t)l * s->H * s->n_keys,
                          s->H, s->n_keys, s->prompt, s->n_prompt, s->start, s->end, token);
    return 0;
}

typedef retrieval_trial_key trial_key;

int retrieval_read_log(const char *cmd, const char *path, int L, int H, hw_head_scores *s,
                       trial_key **done, int *n_done) {
    *done = NULL;
    *n_done = 0;
    FILE *f = fopen(path, "r");
    if (!f) return errno == ENOENT ? 0 : cli_error(cmd, "cannot read %s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0;
    int line_no = 0, rc = 0;
    while (getline(&line, &cap, f) > 0) {
        line_no++;
        if (line_no == 1) {
            int l, h;
            if (sscanf(line, "# headwise retrieval trials L %d H %d", &l, &h) != 2 || l != L || h != H) {
                rc = cli_error(cmd, "%s: not a trial log of this model (%d x %d heads)", path, L, H);
                break;
            }
            continue;
        }
        if (!strchr(line, '\n')) break; /* a torn last line from an interrupted run */
        int ni, len, dep, ok, used = 0;
        double rouge;
        if (sscanf(line, "%d\t%d\t%d\t%lf\t%d\t%n", &ni, &len, &dep, &rouge, &ok, &used) != 5) {
            rc = cli_error(cmd, "%s:%d: malformed trial line", path, line_no);
            break;
        }
        trial_key *nd = realloc(*done, sizeof **done * (size_t)(*n_done + 1));
        if (!nd) {
            rc = cli_error(cmd, "out of memory");
            break;
        }
        *done = nd;
        nd[(*n_done)++] = (trial_key){ni, len, dep};
        if (!ok) continue;
        char *p = line + used;
        for (int i = 0; i < L * H; i++) {
            char *end;
            double v = strtod(p, &end);
            if (end == p) {
                rc = cli_error(cmd, "%s:%d: expected %d head scores", path, line_no, L * H);
                break;
            }
            hw_head_scores_append(s, i / H, i % H, v);
            p = end;
            if (*p == ',') p++;
        }
        if (rc) break;
    }
    free(line);
    fclose(f);
    return rc;
}

int cmd_score_retrieval(int argc, char **argv) {
    const char *cmd = "score retrieval", *model_path = NULL, *tok_path = NULL, *out = NULL,
               *tsv = NULL, *save_path = NULL, *agg = "max";
    long top = 20, threads = 0;
    double min_rouge = 50;  /* -1 counts every trial */
    niah nh = {.cmd = cmd, .buffer = -1};
    task_opts topt = {0};
    int niah_flags = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int bad = 0, r = niah_flag(&nh, argc, argv, &i);
        if (r < 0) return 2;
        if (r) {
            niah_flags = 1;
            continue;
        }
        if ((r = task_flag(&topt, cmd, argc, argv, &i)) < 0) return 2;
        if (r) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return fputs(help, stdout), 0;
        else if (!strcmp(a, "-m")) bad = cli_value(cmd, argc, argv, &i, &model_path);
        else if (!strcmp(a, "-z")) bad = cli_value(cmd, argc, argv, &i, &tok_path);
        else if (!strcmp(a, "-o")) bad = cli_value(cmd, argc, argv, &i, &out);
        else if (!strcmp(a, "--tsv")) bad = cli_value(cmd, argc, argv, &i, &tsv);
        else if (!strcmp(a, "--agg")) bad = cli_value(cmd, argc, argv, &i, &agg);
        else if (!strcmp(a, "--save-contexts")) bad = cli_value(cmd, argc, argv, &i, &save_path);
        else if (!strcmp(a, "--top")) bad = cli_int(cmd, argc, argv, &i, 0, 1 << 30, &top);
        else if (!strcmp(a, "--threads")) bad = cli_int(cmd, argc, argv, &i, 0, 1024, &threads);
        else if (!strcmp(a, "--min-rouge")) bad = cli_float(cmd, argc, argv, &i, -1, 100, &min_rouge);
        else return cli_usage_error(cmd, "unknown flag '%s' (see headwise score retrieval --help)", a);
        if (bad) return 2;
    }
    if (strcmp(agg, "max") && strcmp(agg, "mean"))
        return cli_usage_error(cmd, "--agg must be max or mean, not '%s'", agg);
    if (topt.name && niah_flags)
        return cli_usage_error(cmd, "--task replaces the needle-in-a-haystack flags");
    hw_model *m;
    hw_tokenizer *t;
    if (score_load(cmd, model_path, tok_path, 1, &m, &t)) return 1;
    if (threads) hw_set_threads((int)threads);
    nh.m = m;
    nh.t = t;
    const hw_config *cfg = hw_model_config(m);
    const int L = cfg->n_layer, H = cfg->n_head, C = cfg->n_ctx;
    int rc = 1, n_done = 0, *prompt = NULL, *gen = NULL, *task_tok = NULL;
    trial_key *done = NULL;
    char *log_path = NULL, text[4096];
    FILE *log = NULL, *save = NULL;
    hw_head_scores *scores = hw_head_scores_new(L, H);
    hw_context *ctx = hw_context_new(m, 0);
    hw_hooks *hooks = hw_hooks_new();
    step_state st = {L, H, C, NULL, 0, NULL, NULL, 0, -1, -1};
    st.pat = malloc(sizeof(float) * (size_t)L * H * C);
    st.trial = malloc(sizeof(double) * (size_t)L * H);
    if (!scores || !ctx || !hooks || !st.pat || !st.trial) {
        cli_error(cmd, "%s", hw_last_error()[0] ? hw_last_error() : "out of memory");
        goto done;
    }
    if (topt.name) {
        if (task_open(&topt, cmd, m)) goto done;
        if (strcmp(hw_task_name(topt.task), "retrieval")) {
            cli_error(cmd, "--task must be retrieval (a task with a needle to copy)");
            goto done;
        }
        /* One "needle" (-1), the sequence length, and the sample index as the depth. */
        nh.n_needles = 0;
        nh.max_new = 64;
        if (!(task_tok = malloc(sizeof(int) * (size_t)hw_task_seq_len(topt.task) * 2))) goto done;
    } else if (niah_prepare(&nh)) {
        goto done;
    }
    if (!(gen = malloc(sizeof(int) * (size_t)nh.max_new))) goto done;
    hw_hooks_add(hooks, pattern_hook, &st);
    if (save_path && !(save = fopen(save_path, "w"))) {
        cli_error(cmd, "cannot write %s: %s", save_path, strerror(errno));
        goto done;
    }
    if (out) {
        size_t k = strlen(out) + 8;
        log_path = malloc(k);
        snprintf(log_path, k, "%s.trials", out);
        if (retrieval_read_log(cmd, log_path, L, H, scores, &done, &n_done)) goto done;
        int fresh = n_done == 0;
        if (!(log = fopen(log_path, fresh ? "w" : "a"))) {
            cli_error(cmd, "cannot write %s: %s", log_path, strerror(errno));
            goto done;
        }
        if (fresh) fprintf(log, "# headwise retrieval trials L %d H %d\n", L, H);
        if (n_done) fprintf(stderr, "headwise %s: resuming: %d trials already in %s\n", cmd, n_done, log_path);
    }
    int n_outer = topt.name ? 1 : nh.n_needles, n_mid = topt.name ? 1 : nh.n_lengths,
        n_inner = topt.name ? (int)topt.samples : nh.n_depths;
    int total = n_outer * n_mid * n_inner, k = 0, ok_trials = 0;
    for (int ni = 0; ni < n_outer; ni++)
        for (int li = 0; li < n_mid; li++)
            for (int di = 0; di < n_inner; di++) {
                k++;
                trial_key key = topt.name ? (trial_key){-1, hw_task_seq_len(topt.task), di}
                                          : (trial_key){ni, nh.lengths[li], nh.depths[di]};
                int seen = 0;
                for (int j = 0; j < n_done && !seen; j++)
                    seen = done[j].needle == ni && done[j].length == key.length && done[j].depth == key.depth;
                if (seen) continue;
                free(prompt);
                prompt = NULL;
                int n, max_new = nh.max_new;
                char answer[2048];
                const char *real = answer;
                if (topt.name) {
                    /* The sample up to its answer is the prompt; the answer's symbols are
                     * the real needle, located in the prompt as the paper locates it. */
                    hw_task_layout lay;
                    int *tg = task_tok + hw_task_seq_len(topt.task);
                    if (hw_task_sample(topt.task, (uint64_t)topt.seed, di, task_tok, tg, &lay)) {
                        cli_error(cmd, "%s", hw_last_error());
                        goto done;
                    }
                    n = lay.dst;
                    if (!(prompt = malloc(sizeof(int) * (size_t)n))) goto done;
                    memcpy(prompt, task_tok, sizeof(int) * (size_t)n);
                    hw_needle_span(prompt, n, task_tok + lay.dst, lay.len, &st.start, &st.end);
                    size_t al = 0;
                    answer[0] = 0;
                    for (int j = 0; j < lay.len; j++) {
                        const char *sym = hw_task_symbol(topt.task, task_tok[lay.dst + j]);
                        al += (size_t)snprintf(answer + al, al < sizeof answer ? sizeof answer - al : 0,
                                               "%s%s", j ? " " : "", sym ? sym : "?");
                        if (al >= sizeof answer) al = sizeof answer - 1;
                    }
                    max_new = lay.len;
                } else {
                    n = niah_prompt(&nh, ni, key.length, key.depth, &prompt, &st.start, &st.end);
                    if (n < 0) goto done;
                    real = nh.needles[ni].real_needle;
                }
                st.prompt = prompt;
                st.n_prompt = n;
                memset(st.trial, 0, sizeof(double) * (size_t)L * H);
                int got = niah_greedy(cmd, m, t, ctx, prompt, n, max_new, hooks, on_step, &st,
                                      gen, text, sizeof text);
                if (got < 0) goto done;
                double rouge = hw_rouge1_recall(real, text) * 100;
                if (save) {
                    fprintf(save, "{\"needle\": %d, \"length\": %d, \"depth\": %d, \"span\": [%d, %d], "
                            "\"prompt\": [", key.needle, key.length, key.depth, st.start, st.end);
                    for (int j = 0; j < n; j++) fprintf(save, "%s%d", j ? ", " : "", prompt[j]);
                    fputs("], \"generated\": [", save);
                    for (int j = 0; j < got; j++) fprintf(save, "%s%d", j ? ", " : "", gen[j]);
                    fputs("]}\n", save);
                }
                int ok = rouge > min_rouge;
                ok_trials += ok;
                for (char *p = text; *p; p++)
                    if (*p == '\n' || *p == '\t' || *p == '\r') *p = ' ';
                score_progress(cmd, "trial %d/%d: needle %d, length %d, depth %d: span %s, "
                               "ROUGE-1 %.0f%s: \"%.60s\"", k, total, ni, key.length, key.depth,
                               st.start >= 0 ? "found" : "NOT found", rouge, ok ? " (counted)" : "", text);
                if (ok)
                    for (int i = 0; i < L * H; i++) hw_head_scores_append(scores, i / H, i % H, st.trial[i]);
                if (log) {
                    fprintf(log, "%d\t%d\t%d\t%.4f\t%d\t", ni, key.length, key.depth, rouge, ok);
                    for (int i = 0; ok && i < L * H; i++) fprintf(log, "%s%.17g", i ? "," : "", st.trial[i]);
                    fprintf(log, "\t%s\n", text);
                    if (fflush(log)) {
                        cli_error(cmd, "cannot write %s: %s", log_path, strerror(errno));
                        goto done;
                    }
                    if (hw_head_scores_write(scores, out)) {
                        cli_error(cmd, "%s", hw_last_error());
                        goto done;
                    }
                }
            }
    score_progress_done();
    double *mean = malloc(sizeof(double) * (size_t)L * H * 3);
    if (!mean) goto done;
    double *tab_v = mean + (size_t)L * H;
    hw_head_scores_mean(scores, mean);
    for (int i = 0; i < L * H; i++) {
        tab_v[i * 2] = mean[i];
        int cnt;
        hw_head_scores_values(scores, i / H, i % H, &cnt);
        tab_v[i * 2 + 1] = cnt;
    }
    static const char *const cols[] = {"score", "trials"};
    score_table tab = {L, H, 2, cols, tab_v};
    int counted;
    hw_head_scores_values(scores, 0, 0, &counted);
    printf("# retrieval score: %d successful trials (this run: %d of %d new)\n", counted, ok_trials,
           total - n_done);
    if (!counted)
        fprintf(stderr, "headwise %s: no trial succeeded (ROUGE-1 recall > %g): scores are empty; "
                "try shorter contexts, another needle or template\n", cmd, min_rouge);
    score_table_print(&tab, 0, 0, (int)top);
    const int Hk = cfg->n_kv_head;
    if (Hk < H) {
        /* A cache is per KV head: rank those by the max (or mean) of their query heads. */
        double *kv = malloc(sizeof(double) * (size_t)L * Hk);
        int *order = malloc(sizeof(int) * (size_t)L * Hk);
        if (kv && order && !hw_scores_per_kv(mean, L, H, Hk, !strcmp(agg, "max"), kv)) {
            hw_scores_rank(kv, L * Hk, order);
            printf("# KV heads by the %s over their %d query heads:", agg, H / Hk);
            for (int r = 0; r < L * Hk && (top <= 0 || r < top); r++)
                printf(" %d.%d=%.4g", order[r] / Hk, order[r] % Hk, kv[order[r]]);
            putchar('\n');
        }
        free(kv);
        free(order);
    }
    if (out && hw_head_scores_write(scores, out)) {
        free(mean);
        cli_error(cmd, "%s", hw_last_error());
        goto done;
    }
    if (tsv && score_table_write(cmd, &tab, 0, 0, tsv)) {
        free(mean);
        goto done;
    }
    free(mean);
    rc = 0;
done:
    if (log) fclose(log);
    if (save && fclose(save)) rc = cli_error(cmd, "cannot write %s", save_path);
    free(log_path);
    free(done);
    free(prompt);
    free(gen);
    free(st.pat);
    free(st.trial);
    niah_free(&nh);
    free(task_tok);
    task_close(&topt);
    hw_hooks_free(hooks);
    hw_context_free(ctx);
    hw_head_scores_free(scores);
    hw_tokenizer_free(t);
    hw_model_free(m);
    return rc;
}

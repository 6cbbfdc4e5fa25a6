/* score_attribution.c: `headwise score attribution` (methods.md section 6: memory vs
 * in-context heads, hw_attribution_run) and `headwise score dla` (section 9: direct
 * logit attribution, hw_dla_run). */
#include "score_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------ attribution */

static const char help_attr[] =
    "usage: headwise score attribution -m MODEL [-z TOKENIZER] --prompts FILE [flags]\n"
    "  --prompts FILE  TSV lines: prompt<TAB>memorized answer<TAB>in-context answer (e.g.\n"
    "                  'The capital of Poland is London. The capital of Poland is<TAB>Warsaw<TAB>London')\n"
    "  --task recall   instead of --prompts: the recall task's counterfactual held-out\n"
    "                  samples (--samples N, --task-seed S); the in-context answer is the\n"
    "                  stated attribute, the memorized one the model's answer to the plain\n"
    "                  query '<bos> s is'\n"
    "  -o FILE         per head: raw, scaled (mean over prompts of logit(memorized) -\n"
    "                  logit(in-context) through that head; scaled holds the final norm fixed);\n"
    "                  .json {\"L-H\": [raw, scaled]} or .tsv; atomic\n"
    "  --top N         rows of each ranked table on stdout (default 10; 0: all)\n"
    "Memory heads score high, in-context heads low (most negative).\n";

static void print_attribution(const hw_attribution_result *r, int top) {
    hw_attribution_info in;
    hw_attribution_get_info(r, &in);
    const hw_head_table *tab = hw_attribution_table(r);
    printf("# attribution over %d prompts: greedy next token is the in-context answer in %.6f, "
           "the memorized one in %.6f\n", in.n_prompts, in.in_context_rate, in.memorized_rate);
    printf("# memory heads (highest scaled logit(memorized) - logit(in-context)):\n");
    score_head_table_print(tab, 0, top);
    printf("# in-context heads (lowest):\n");
    score_head_table_print(tab, 1, top);
}

/* Load, read the prompts if any, run, print, write. */
static int run_attribution(const char *cmd, const char *model_path, const char *tok_path,
                           const char *prompts_path, const char *out, int top, hw_attribution_params *p) {
    hw_model *m;
    hw_tokenizer *t;
    if (score_load(cmd, model_path, tok_path, 1, &m, &t)) return 1;
    hw_prompts *ps = prompts_path ? hw_prompts_read(prompts_path, 2) : NULL;
    hw_attribution_result *r = NULL;
    int rc = 1;
    p->prompts = ps;
    if ((prompts_path && !ps) || hw_attribution_run(m, t, p, score_progress_counted, (void *)cmd, &r)) {
        score_progress_done();
        cli_error(cmd, "%s", hw_last_error());
    } else {
        score_progress_done();
        print_attribution(r, top);
        rc = out && hw_attribution_write(r, out) ? cli_error(cmd, "%s", hw_last_error()) : 0;
    }
    hw_attribution_free(r);
    hw_prompts_free(ps);
    hw_tokenizer_free(t);
    hw_model_free(m);
    return rc;
}

int cmd_score_attribution(int argc, char **argv) {
    const char *cmd = "score attribution", *model_path = NULL, *tok_path = NULL, *out = NULL,
               *prompts_path = NULL;
    long top = 10;
    hw_task_eval_params topt = hw_task_eval_params_default();
    topt.name = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int bad = 0, tr = score_task_flag(&topt, cmd, argc, argv, &i);
        if (tr < 0) return 2;
        if (tr) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return fputs(help_attr, stdout), 0;
        else if (!strcmp(a, "-m")) bad = cli_value(cmd, argc, argv, &i, &model_path);
        else if (!strcmp(a, "-z")) bad = cli_value(cmd, argc, argv, &i, &tok_path);
        else if (!strcmp(a, "-o")) bad = cli_value(cmd, argc, argv, &i, &out);
        else if (!strcmp(a, "--prompts")) bad = cli_value(cmd, argc, argv, &i, &prompts_path);
        else if (!strcmp(a, "--top")) bad = cli_int(cmd, argc, argv, &i, 0, 1 << 30, &top);
        else return cli_usage_error(cmd, "unknown flag '%s' (see headwise score attribution --help)", a);
        if (bad) return 2;
    }
    if (!prompts_path == !topt.name)
        return cli_usage_error(cmd, "give --prompts FILE (prompt, memorized, in-context) or --task recall");
    if (topt.name && strcmp(topt.name, "recall")) return cli_usage_error(cmd, "--task must be recall");
    hw_attribution_params p = hw_attribution_params_default();
    p.task = topt.name;
    p.samples = topt.samples;
    p.task_seed = topt.seed;
    p.task_symbols = topt.n_symbols;
    if (score_outputs_ok(cmd, &out, 1)) return 1;
    return run_attribution(cmd, model_path, tok_path, prompts_path, out, (int)top, &p);
}

/* ------------------------------------------------------------------ dla */

static const char help_dla[] =
    "usage: headwise score dla -m MODEL [-z TOKENIZER] -p PROMPT --target TOKEN [flags]\n"
    "  --target TEXT   the answer whose logit is attributed (its first token)\n"
    "  --minus TEXT    subtract this answer's logit (repeatable: the mean of them), e.g. the\n"
    "                  other option labels\n"
    "  --raw           the raw unembedding direction (default: the final norm's scale on the\n"
    "                  full residual held fixed, so the parts add up to the logit difference)\n"
    "  -o FILE         every component (.json or .tsv), atomically\n"
    "  --top N         rows on stdout (default 20; 0: all)\n"
    "Components: embed, each head L.H, each layer's attention output bias L.bias, each MLP\n"
    "mlp.L; 'rest' is the logit difference minus their sum (final-norm bias; ~0 scaled).\n"
    "The first line names the tokens attributed: their text (as after a word) and id.\n";

/* A token's text in quotes, control bytes escaped, so one token stays on one line. */
static void print_token(const char *text, int id) {
    putchar('\'');
    for (const unsigned char *s = (const unsigned char *)text; *s; s++) {
        if (*s == '\n') fputs("\\n", stdout);
        else if (*s == '\t') fputs("\\t", stdout);
        else if (*s < 0x20 || *s == 0x7f) printf("\\x%02x", *s);
        else putchar(*s);
    }
    printf("' = token %d", id);
}

/* "# dla (...): target 'X' = token N[, minus 'Y' = token M, ...]: ...", then the ranking. */
static void print_dla(const hw_dla_result *r, int top) {
    hw_dla_info in;
    hw_dla_get_info(r, &in);
    printf("# dla (%s): target ", in.scaled ? "final norm scale held fixed" : "raw unembedding");
    print_token(in.target_text, in.target);
    for (int k = 0; k < in.n_minus; k++) {
        fputs(k ? ", " : ", minus ", stdout);
        print_token(in.minus_text[k], in.minus[k]);
    }
    printf(": logit difference %.6f, sum of components %.6f\n", in.logit_diff, in.sum);
    const int n = hw_dla_count(r);
    const double *val = hw_dla_values(r);
    int *order = malloc(sizeof(int) * (size_t)n);
    double *mag = malloc(sizeof(double) * (size_t)n);
    if (order && mag) {
        for (int k = 0; k < n; k++) mag[k] = fabs(val[k]);
        hw_scores_rank(mag, n, order);
        printf("rank\tcomponent\tlogit\n");
        for (int k = 0; k < n && (top <= 0 || k < top); k++)
            printf("%d\t%s\t%.6f\n", k + 1, hw_dla_name(r, order[k]), val[order[k]]);
    }
    free(order);
    free(mag);
}

int cmd_score_dla(int argc, char **argv) {
    const char *cmd = "score dla", *model_path = NULL, *tok_path = NULL, *out = NULL, *minus[64];
    hw_dla_params p = hw_dla_params_default();
    long top = 20;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int bad = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return fputs(help_dla, stdout), 0;
        else if (!strcmp(a, "-m")) bad = cli_value(cmd, argc, argv, &i, &model_path);
        else if (!strcmp(a, "-z")) bad = cli_value(cmd, argc, argv, &i, &tok_path);
        else if (!strcmp(a, "-o")) bad = cli_value(cmd, argc, argv, &i, &out);
        else if (!strcmp(a, "-p")) bad = cli_value(cmd, argc, argv, &i, &p.prompt);
        else if (!strcmp(a, "--target")) bad = cli_value(cmd, argc, argv, &i, &p.target);
        else if (!strcmp(a, "--minus")) {
            if (p.n_minus == 64) return cli_usage_error(cmd, "at most 64 --minus");
            bad = cli_value(cmd, argc, argv, &i, &minus[p.n_minus++]);
        } else if (!strcmp(a, "--raw")) p.raw = 1;
        else if (!strcmp(a, "--top")) bad = cli_int(cmd, argc, argv, &i, 0, 1 << 30, &top);
        else return cli_usage_error(cmd, "unknown flag '%s' (see headwise score dla --help)", a);
        if (bad) return 2;
    }
    if (!p.prompt || !p.target) return cli_usage_error(cmd, "give -p PROMPT and --target TOKEN");
    p.minus = minus;
    hw_model *m;
    hw_tokenizer *t;
    if (score_outputs_ok(cmd, &out, 1) || score_load(cmd, model_path, tok_path, 1, &m, &t)) return 1;
    hw_dla_result *r = NULL;
    int rc = 1;
    if (hw_dla_run(m, t, &p, NULL, NULL, &r)) {
        cli_error(cmd, "%s", hw_last_error());
    } else {
        print_dla(r, (int)top);
        rc = out && hw_dla_write(r, out) ? cli_error(cmd, "%s", hw_last_error()) : 0;
    }
    hw_dla_free(r);
    hw_tokenizer_free(t);
    hw_model_free(m);
    return rc;
}

/* score_attribution.c: `headwise score attribution` (methods.md section 6: memory vs
 * in-context heads, hw_attribution_run) and `headwise score dla` (section 9: direct
 * logit attribution, hw_dla_run). */
#include "cli.h"

#include <math.h>

static const char help_attr[] =
    "usage: headwise score attribution -m MODEL [-z TOKENIZER] --prompts FILE [flags]\n"
    "  --prompts FILE  TSV lines: prompt<TAB>memorized answer<TAB>in-context answer\n"
    "  --task recall   instead: the recall task's counterfactual held-out samples; in-context\n"
    "                  = the stated attribute, memorized = the model's answer to '<bos> s is'\n"
    SCORE_TASK_HELP
    "  -o FILE         per head: raw, scaled (mean over prompts of logit(memorized) -\n"
    "                  logit(in-context) through it; scaled holds the final norm fixed);\n"
    "                  .json {\"L-H\": [raw, scaled]} or .tsv; atomic\n"
    "  --top N         rows of each ranked table on stdout (default 10; 0: all)\n"
    "Memory heads score high, in-context heads low (most negative).\n" CLI_KV_HELP;

static void print_attribution(const hw_attribution_result *r, int top) {
    hw_attribution_info in;
    hw_attribution_get_info(r, &in);
    const hw_head_table *tab = hw_attribution_table(r);
    printf("# attribution over %d prompts: greedy next token is the in-context answer in %.6f, "
           "the memorized one in %.6f\n", in.n_prompts, in.in_context_rate, in.memorized_rate);
    printf("# memory heads (highest scaled logit(memorized) - logit(in-context)):\n");
    score_table_print(tab, 0, top);
    printf("# in-context heads (lowest):\n");
    score_table_print(tab, 1, top);
}

int cmd_score_attribution(int argc, char **argv) {
    const char *cmd = "score attribution", *out = NULL, *prompts_path = NULL;
    int top = 10;
    cli_model_flags f = {0};
    hw_task_eval_params task = hw_task_eval_params_default();
    task.name = NULL;
    const cli_flag flags[] = {
        CLI_LOAD_FLAGS(&f), CLI_KV_FLAG(&f), {"-o", CLI_STR, &out}, {"--prompts", CLI_STR, &prompts_path},
        {"--top", CLI_INT, &top, 0, 1 << 30}, SCORE_TASK_FLAGS(&task), {NULL}};
    int rc = cli_parse_flags(cmd, argc, argv, flags, help_attr, NULL);
    if (rc) return rc < 0 ? 0 : rc;
    if (!prompts_path == !task.name)
        return cli_usage_error(cmd, "give --prompts FILE (prompt, memorized, in-context) or --task recall");
    if (task.name && strcmp(task.name, "recall")) return cli_usage_error(cmd, "--task must be recall");
    hw_attribution_params p = hw_attribution_params_default();
    p.task = task.name;
    p.samples = task.samples;
    p.task_seed = task.seed;
    p.task_symbols = task.n_symbols;
    cli_session s;
    if (score_outputs_ok(cmd, &out, 1) || cli_load(cmd, &f, 1, &s)) return 1;
    hw_prompts *ps = prompts_path ? hw_prompts_read(prompts_path, 2) : NULL;
    hw_attribution_result *r = NULL;
    p.prompts = ps;
    p.kv = s.kv;
    rc = (prompts_path && !ps) || hw_attribution_run(s.m, s.t, &p, cli_progress_counted, (void *)cmd, &r);
    cli_progress_done();
    if (!rc) print_attribution(r, top);
    if (rc || (out && hw_attribution_write(r, out))) rc = cli_error(cmd, "%s", hw_last_error());
    hw_attribution_free(r);
    hw_prompts_free(ps);
    cli_close(&s);
    return rc;
}

static const char help_dla[] =
    "usage: headwise score dla -m MODEL [-z TOKENIZER] -p PROMPT --target TOKEN [flags]\n"
    "  --target TEXT   the answer whose logit is attributed (its first token)\n"
    "  --minus TEXT    subtract this answer's logit (repeatable: their mean)\n"
    "  --raw           the raw unembedding (default: the final norm's scale on the full\n"
    "                  residual held fixed, so the parts add up to the logit difference)\n"
    "  -o FILE         every component (.json or .tsv), atomically\n"
    "  --top N         rows on stdout (default 20; 0: all)\n"
    "Components: embed, each head L.H, each layer's attention output bias L.bias, each MLP\n"
    "mlp.L; 'rest' is the logit difference minus their sum (final-norm bias; ~0 scaled).\n"
    "The first line names the tokens attributed: their text (as after a word) and id.\n" CLI_KV_HELP;

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
    const char *cmd = "score dla", *out = NULL, *minus[64];
    int top = 20;
    cli_model_flags f = {0};
    hw_dla_params p = hw_dla_params_default();
    const cli_flag flags[] = {
        CLI_LOAD_FLAGS(&f), CLI_KV_FLAG(&f), {"-o", CLI_STR, &out}, {"-p", CLI_STR, &p.prompt},
        {"--target", CLI_STR, &p.target},
        {"--minus", CLI_LIST, minus, 0, 64, .n = &p.n_minus}, {"--raw", CLI_SET, &p.raw, 1},
        {"--top", CLI_INT, &top, 0, 1 << 30}, {NULL}};
    int rc = cli_parse_flags(cmd, argc, argv, flags, help_dla, NULL);
    if (rc) return rc < 0 ? 0 : rc;
    if (!p.prompt || !p.target) return cli_usage_error(cmd, "give -p PROMPT and --target TOKEN");
    p.minus = minus;
    cli_session s;
    if (score_outputs_ok(cmd, &out, 1) || cli_load(cmd, &f, 1, &s)) return 1;
    hw_dla_result *r = NULL;
    p.kv = s.kv;
    rc = hw_dla_run(s.m, s.t, &p, NULL, NULL, &r) ? 1 : 0;
    if (!rc) print_dla(r, top);
    if (rc || (out && hw_dla_write(r, out))) rc = cli_error(cmd, "%s", hw_last_error());
    hw_dla_free(r);
    cli_close(&s);
    return rc;
}

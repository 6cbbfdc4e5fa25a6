/* facts.c: `headwise facts` (methods.md section 7, Lv et al.'s factual-recall pipeline,
 * hw_fact_run): mover heads, the regression of an MLP's output onto the components
 * upstream of it, and the final layer's anti-overconfidence with its mitigation. */
#include "cli.h"

static const char help[] =
    "usage: headwise facts -m MODEL [-z TOKENIZER] (--prompts FILE | --task recall) [flags]\n"
    "  --prompts FILE  TSV lines: prompt<TAB>topic[<TAB>answer]; the topic token is the\n"
    "                  topic's token at its last occurrence in the prompt (BOS added)\n"
    "  --task recall   instead: the recall task's held-out samples, cut before the answer\n"
    SCORE_TASK_HELP
    "  --shape S       task samples kept: all (default), plain ('<bos> s is'),\n"
    "                  counterfactual ('<bos> s is a' . s is')\n"
    "  --topic T       task topic token: subject (default, its last mention) or context\n"
    "                  (the in-context attribute a'; counterfactual samples only)\n"
    "  --mlp L         the MLP regressed (default: the last layer's)\n"
    "  --top K         tokens per logit-lens reading and mover rows printed (default 10)\n"
    "  --terms N       regression terms read, largest |beta| first (default 10)\n"
    "  --mitigate S    scale of the final-layer components that push the top token down\n"
    "                  (default 0: removed)\n"
    "  -o FILE         everything as JSON, or with .tsv the mover heads ranked (atomic)\n"
    "Mover score = mean attention from the last position to the topic x mean alignment of\n"
    "the head's output with W_U[topic] (final norm scale held at each prompt's value).\n"
    "The regression fits mlp_out ~ sum_i beta_i o_i + b over prompts x d_model values;\n"
    "each term is read through the final norm (scale held at its mean) and W_U.\n";

/* 1 if s is well-formed UTF-8 as far as lead and continuation bytes go. */
static int utf8_ok(const unsigned char *s) {
    while (*s) {
        int n = *s < 0x80 ? 0 : (*s >> 5) == 6 ? 1 : (*s >> 4) == 14 ? 2 : (*s >> 3) == 30 ? 3 : -1;
        if (n < 0) return 0;
        for (s++; n > 0; n--, s++)
            if ((*s & 0xc0) != 0x80) return 0;
    }
    return 1;
}

/* A token's text in quotes, control bytes (and the bytes of a piece of a character)
 * escaped, one token on one line of valid text. */
static void print_text(const char *text) {
    int ok = utf8_ok((const unsigned char *)text);
    putchar('\'');
    for (const unsigned char *s = (const unsigned char *)text; *s; s++) {
        if (*s < 0x20 || *s == 0x7f || (*s >= 0x80 && !ok)) printf("\\x%02x", *s);
        else putchar(*s);
    }
    putchar('\'');
}

static void print_movers(const hw_fact_result *r, int top) {
    hw_fact_info in;
    hw_fact_get_info(r, &in);
    const hw_head_table *t = hw_fact_movers(r);
    const int LH = t->n_layer * t->n_head;
    int *order = malloc(sizeof(int) * (size_t)LH);
    if (!order) return;
    hw_scores_rank(t->values + 2 * (size_t)LH, LH, order);
    printf("# facts over %d prompts\n# mover heads (Pearson r of attention vs alignment over heads %.4f)\n",
           in.n_prompts, in.pearson_r);
    printf("rank\thead\tattention\talignment\tscore\n");
    for (int k = 0; k < LH && k < top; k++)
        printf("%d\t%d.%d\t%.6f\t%.6f\t%.6f\n", k + 1, order[k] / t->n_head, order[k] % t->n_head,
               t->values[order[k]], t->values[LH + order[k]], t->values[2 * LH + order[k]]);
    free(order);
}

static void print_regression(const hw_fact_result *r) {
    hw_fact_info in;
    hw_fact_get_info(r, &in);
    if (in.mlp_layer < 0) {
        printf("# no MLP regression: the model has no MLPs\n");
        return;
    }
    printf("# regression of mlp.%d on %d upstream terms: R^2 %.6f%s\n", in.mlp_layer, in.n_terms, in.r2,
           in.ridge > 0 ? " (singular: ridge added)" : "");
    const int *cst = hw_fact_constant(r);
    for (int i = 0; i < in.n_terms; i++)
        if (cst[i]) printf("# %s is the same in every prompt: beta 0, its mean in the intercept\n", hw_fact_term_name(r, i));
    for (int k = 0; k < in.n_readings; k++) {
        hw_fact_reading rd;
        if (hw_fact_get_reading(r, k, &rd)) return;
        printf("%s\tbeta %.4f\t", rd.name, rd.beta);
        for (int j = 0; j < in.top_k; j++) {
            print_text(rd.text[j]);
            putchar(j + 1 < in.top_k ? ' ' : '\n');
        }
    }
}

static void print_final(const hw_fact_result *r) {
    hw_fact_info in;
    hw_fact_get_info(r, &in);
    const double *dla = hw_fact_final_dla(r);
    const int *sup = hw_fact_final_suppressed(r);
    printf("# anti-overconfidence: mean DLA of the final layer's components on the top token\n");
    for (int k = 0; k < in.n_final; k++)
        printf("%s\t%.6f%s\n", hw_fact_final_name(r, k), dla[k], sup[k] ? "\tpushes down" : "");
    printf("# mitigation (%d components x %g): p(top token) %.6f -> %.6f (%+.6f)", in.n_suppressors,
           (double)in.mitigate_scale, in.confidence_before, in.confidence_after,
           in.confidence_after - in.confidence_before);
    if (in.n_answers) printf(", accuracy %.6f -> %.6f over %d answers", in.accuracy_before, in.accuracy_after,
                             in.n_answers);
    putchar('\n');
}

int cmd_facts(int argc, char **argv) {
    const char *cmd = "facts", *out = NULL, *prompts_path = NULL;
    int top = 10, shape = 0, topic = 0;
    cli_model_flags f = {0};
    hw_fact_params p = hw_fact_params_default();
    hw_task_eval_params *task = &p.task;
    const cli_flag flags[] = {
        CLI_LOAD_FLAGS(&f), {"-o", CLI_STR, &out}, {"--prompts", CLI_STR, &prompts_path},
        {"--top", CLI_INT, &top, 1, 1 << 20}, {"--terms", CLI_INT, &p.top_terms, 0, 1 << 20},
        {"--mlp", CLI_INT, &p.mlp_layer, 0, 1 << 20}, {"--mitigate", CLI_FLOAT, &p.mitigate_scale, -1e6, 1e6},
        {"--shape", CLI_CHOICE, &shape, .choices = "all|plain|counterfactual"},
        {"--topic", CLI_CHOICE, &topic, .choices = "subject|context"}, SCORE_TASK_FLAGS(task), {NULL}};
    int rc = cli_parse_flags(cmd, argc, argv, flags, help, NULL);
    if (rc) return rc < 0 ? 0 : rc;
    if (!prompts_path == !task->name) return cli_usage_error(cmd, "give --prompts FILE (prompt, topic) or --task recall");
    if (task->name && strcmp(task->name, "recall")) return cli_usage_error(cmd, "--task must be recall");
    if (prompts_path && (shape || topic)) return cli_usage_error(cmd, "--shape and --topic go with --task recall");
    p.shape = (hw_fact_shape)shape, p.topic = (hw_fact_topic)topic, p.top_k = top;
    cli_session s;
    if (score_outputs_ok(cmd, &out, 1) || cli_load(cmd, &f, 1, &s)) return 1;
    hw_prompts *ps = prompts_path ? hw_prompts_read(prompts_path, 1) : NULL;
    hw_fact_result *r = NULL;
    p.prompts = ps;
    rc = (prompts_path && !ps) || hw_fact_run(s.m, s.t, &p, cli_progress_counted, (void *)cmd, &r);
    cli_progress_done();
    if (!rc) {
        print_movers(r, top);
        print_regression(r);
        print_final(r);
    }
    if (rc || (out && hw_fact_write(r, out))) rc = cli_error(cmd, "%s", hw_last_error());
    hw_fact_free(r);
    hw_prompts_free(ps);
    cli_close(&s);
    return rc;
}

/* sweep.c: `headwise sweep scale`: one head's output scaled by s (methods.md section 6),
 * hw_scale_sweep_run: the in-context and memorized answer rates for each s. */
#include "cli.h"

#include <math.h>

static const char help[] =
    "usage: headwise sweep scale -m MODEL [-z TOKENIZER] --head L.H --prompts FILE [flags]\n"
    "  --prompts FILE  TSV lines: prompt<TAB>memorized answer<TAB>in-context answer\n"
    "  --task recall   instead: the recall task's held-out samples: in-context = counterfactual\n"
    "                  override rate, memorized = plain recall\n"
    SCORE_TASK_HELP
    "  --from A --to B --steps N   scales linspace(A, B, N) (default 0, 2, 5)\n"
    "  --scales S,S,.. explicit scales instead (finite numbers)\n"
    "  -o FILE         scale, in-context rate, memorized rate (.json or .tsv), atomically\n"
    CLI_KV_HELP;

/* --scales "S,S,..." into the hw_scale_sweep_params at dst (scales malloc'd): finite
 * numbers only (nan, inf and 1e400 once gave NaN logits). */
static int parse_scales(const char *cmd, const char *flag, const char *text, void *dst) {
    hw_scale_sweep_params *p = dst;
    int n = 1;
    for (const char *c = text; *c; c++) n += *c == ',';
    double *v = malloc(sizeof(double) * (size_t)n);
    free((double *)p->scales);
    if (!(p->scales = v)) return cli_error(cmd, "out of memory");
    p->n_scales = 0;
    for (const char *s = text;; s++) {
        char *end;
        v[p->n_scales] = strtod(s, &end);
        if (end == s || (*end && *end != ',')) return cli_usage_error(cmd, "bad %s '%s'", flag, text);
        if (!isfinite(v[p->n_scales++]))
            return cli_usage_error(cmd, "%s: '%.*s' is not a finite number", flag, (int)(end - s), s);
        if (!*(s = end)) return 0;
    }
}

static void print_result(const hw_scale_sweep_result *r, const hw_scale_sweep_params *p) {
    hw_head h = hw_scale_sweep_result_head(r);
    printf("# head %d.%d scaled, %d %s\nscale\tin_context\tmemorized\n", h.layer, h.head,
           hw_scale_sweep_result_samples(r), p->task.name ? "task samples" : "prompts");
    for (int k = 0; k < hw_scale_sweep_result_count(r); k++) {
        double s, ctx, mem;
        hw_scale_sweep_result_get(r, k, &s, &ctx, &mem);
        printf("%g\t%.4f\t%.4f\n", s, ctx, mem);
    }
}

int cmd_sweep(int argc, char **argv) {
    const char *cmd = "sweep scale", *out = NULL, *prompts = NULL, *head = NULL;
    cli_model_flags f = {0};
    hw_scale_sweep_params p = hw_scale_sweep_params_default();
    if (argc < 1) return fputs(help, stderr), 2;
    const int sub = !strcmp(argv[0], "scale");
    if (!sub && strcmp(argv[0], "-h") && strcmp(argv[0], "--help"))
        return cli_usage_error("sweep", "unknown sweep '%s' (try: headwise sweep scale --help)", argv[0]);
    const cli_flag flags[] = {
        CLI_LOAD_FLAGS(&f), CLI_KV_FLAG(&f), {"-o", CLI_STR, &out}, {"--prompts", CLI_STR, &prompts},
        {"--head", CLI_STR, &head},
        {"--scales", CLI_FN, &p, .fn = parse_scales}, {"--from", CLI_DOUBLE, &p.from, -1e6, 1e6},
        {"--to", CLI_DOUBLE, &p.to, -1e6, 1e6}, {"--steps", CLI_INT, &p.steps, 1, 10000},
        SCORE_TASK_FLAGS(&p.task), {NULL}};
    int rc = cli_parse_flags(cmd, argc - sub, argv + sub, flags, help, NULL);
    cli_session s = {0};
    hw_prompts *ps = NULL;
    hw_scale_sweep_result *r = NULL;
    if (!rc && (!head || !prompts == !p.task.name))
        rc = cli_usage_error(cmd, "give --head L.H and one of --prompts FILE or --task recall");
    else if (!rc && (score_outputs_ok(cmd, &out, 1) || cli_load(cmd, &f, 1, &s)))
        rc = 1;
    else if (!rc && hw_heads_parse(s.m, head, &p.head, 1) != 1)
        rc = cli_usage_error(cmd, "%s", hw_last_error());
    if (!rc) {
        p.kv = s.kv;
        hw_status st = prompts && !(p.prompts = ps = hw_prompts_read(prompts, 2))
                           ? HW_ERR_IO
                           : hw_scale_sweep_run(s.m, s.t, &p, cli_progress_stage, (void *)cmd, &r);
        cli_progress_done();
        size_t n = out ? strlen(out) : 0;   /* -o FILE: TSV when it ends in .tsv, else JSON */
        if (st || (out && (n >= 4 && !strcmp(out + n - 4, ".tsv") ? hw_scale_sweep_result_write_tsv(r, out)
                                                                  : hw_scale_sweep_result_write(r, out))))
            rc = cli_error(cmd, "%s", hw_last_error());
        else
            print_result(r, &p);
    }
    hw_scale_sweep_result_free(r);
    hw_prompts_free(ps);
    free((double *)p.scales);
    cli_close(&s);
    return rc < 0 ? 0 : rc;
}

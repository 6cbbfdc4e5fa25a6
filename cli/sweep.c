/* sweep.c: `headwise sweep scale`: one head's output scaled by s (methods.md section 6),
 * hw_scale_sweep_run: the in-context and memorized answer rates for each s. */
#include "cli.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: headwise sweep scale -m MODEL [-z TOKENIZER] --head L.H --prompts FILE [flags]\n"
    "  --prompts FILE  TSV lines: prompt<TAB>memorized answer<TAB>in-context answer\n"
    "  --task recall   instead: the recall task's held-out samples: in-context = counterfactual\n"
    "                  override rate, memorized = plain recall\n"
    SCORE_TASK_HELP
    "  --from A --to B --steps N   scales linspace(A, B, N) (default 0, 2, 5)\n"
    "  --scales S,S,.. explicit scales instead (finite numbers)\n"
    "  -o FILE         scale, in-context rate, memorized rate (.json or .tsv), atomically\n";

typedef struct {
    const char *out, *prompts, *head;
    double *scales;
    cli_model_flags f;
    hw_scale_sweep_params p;
} opts;

/* --scales "S,S,..." into o->scales (malloc'd): finite numbers only (nan, inf and 1e400
 * once gave NaN logits). */
static int parse_scales(const char *cmd, const char *flag, const char *text, void *dst) {
    opts *o = dst;
    int n = 1;
    for (const char *c = text; *c; c++) n += *c == ',';
    free(o->scales);
    if (!(o->p.scales = o->scales = malloc(sizeof(double) * (size_t)n))) return cli_error(cmd, "out of memory");
    o->p.n_scales = 0;
    for (const char *s = text;; s++) {
        char *end;
        double v = strtod(s, &end);
        if (end == s || (*end && *end != ',')) return cli_usage_error(cmd, "bad %s '%s'", flag, text);
        if (!isfinite(v)) return cli_usage_error(cmd, "%s: '%.*s' is not a finite number", flag, (int)(end - s), s);
        o->scales[o->p.n_scales++] = v;
        if (!*(s = end)) return 0;
    }
}

/* Flags into o; -1 to go on, else the exit status. */
static int parse(const char *cmd, int argc, char **argv, opts *o) {
    if (argc < 1) return fputs(help, stderr), 2;
    const int sub = !strcmp(argv[0], "scale");
    if (!sub && strcmp(argv[0], "-h") && strcmp(argv[0], "--help"))
        return cli_usage_error("sweep", "unknown sweep '%s' (try: headwise sweep scale --help)", argv[0]);
    const cli_flag flags[] = {
        CLI_LOAD_FLAGS(&o->f), {"-o", CLI_STR, &o->out}, {"--prompts", CLI_STR, &o->prompts},
        {"--head", CLI_STR, &o->head}, {"--scales", CLI_FN, o, .fn = parse_scales},
        {"--from", CLI_DOUBLE, &o->p.from, -1e6, 1e6}, {"--to", CLI_DOUBLE, &o->p.to, -1e6, 1e6},
        {"--steps", CLI_INT, &o->p.steps, 1, 10000}, SCORE_TASK_FLAGS(&o->p.task), {NULL}};
    int rc = cli_parse_flags(cmd, argc - sub, argv + sub, flags, help, NULL);
    if (rc) return rc < 0 ? 0 : rc;
    if (!o->head || (!o->prompts == !o->p.task.name))
        return cli_usage_error(cmd, "give --head L.H and one of --prompts FILE or --task recall");
    return -1;
}

static void print_result(const hw_scale_sweep_result *r, const opts *o) {
    hw_head h = hw_scale_sweep_result_head(r);
    printf("# head %d.%d scaled, %d %s\nscale\tin_context\tmemorized\n", h.layer, h.head,
           hw_scale_sweep_result_samples(r), o->p.task.name ? "task samples" : "prompts");
    for (int k = 0; k < hw_scale_sweep_result_count(r); k++) {
        double s, ctx, mem;
        hw_scale_sweep_result_get(r, k, &s, &ctx, &mem);
        printf("%g\t%.4f\t%.4f\n", s, ctx, mem);
    }
}

/* -o FILE: TSV when it ends in .tsv, else JSON. */
static hw_status write_result(const hw_scale_sweep_result *r, const char *out) {
    size_t n = strlen(out);
    return n >= 4 && !strcmp(out + n - 4, ".tsv") ? hw_scale_sweep_result_write_tsv(r, out)
                                                   : hw_scale_sweep_result_write(r, out);
}

int cmd_sweep(int argc, char **argv) {
    const char *cmd = "sweep scale";
    opts o = {.p = hw_scale_sweep_params_default()};
    int rc = parse(cmd, argc, argv, &o);
    cli_session s = {0};
    hw_prompts *ps = NULL;
    hw_scale_sweep_result *r = NULL;
    if (rc >= 0) goto done;
    rc = 1;
    if (score_outputs_ok(cmd, &o.out, 1) || cli_load(cmd, &o.f, 1, &s)) goto done;
    if (hw_heads_parse(s.m, o.head, &o.p.head, 1) != 1) {
        rc = cli_usage_error(cmd, "%s", hw_last_error());
        goto done;
    }
    hw_status st = o.prompts && !(o.p.prompts = ps = hw_prompts_read(o.prompts, 2))
                       ? HW_ERR_IO
                       : hw_scale_sweep_run(s.m, s.t, &o.p, cli_progress_stage, (void *)cmd, &r);
    cli_progress_done();
    if (st || (o.out && write_result(r, o.out))) rc = cli_error(cmd, "%s", hw_last_error());
    else rc = 0, print_result(r, &o);
done:
    hw_scale_sweep_result_free(r);
    hw_prompts_free(ps);
    free(o.scales);
    cli_close(&s);
    return rc;
}

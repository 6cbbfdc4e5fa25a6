/* sweep.c: `headwise sweep scale`: the intervention of methods.md section 6: one head's
 * output (equivalently its value vectors) multiplied by s at every position, and the
 * rate at which the greedy next token is the in-context answer, for s over a range.
 * The protocol is hw_scale_sweep_run (src/methods/scale_sweep.c); this file parses flags
 * and prints. */
#include "score_common.h"

#include <errno.h>
#include <math.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: headwise sweep scale -m MODEL [-z TOKENIZER] --head L.H --prompts FILE [flags]\n"
    "  --prompts FILE  TSV lines: prompt<TAB>memorized answer<TAB>in-context answer\n"
    "  --task recall   instead: the recall task's held-out samples (--samples N, --task-seed S):\n"
    "                  in-context = counterfactual override rate, memorized = plain recall\n"
    "  --from A --to B --steps N   scales linspace(A, B, N) (default 0, 2, 5)\n"
    "  --scales S,S,.. explicit scales instead (finite numbers)\n"
    "  -o FILE         scale, in-context rate, memorized rate (.json or .tsv), atomically\n";

typedef struct {
    const char *model, *tok, *out, *prompts, *head, *scales_text;
    long steps;
    double *scales;
    hw_scale_sweep_params p;
} opts;

/* "S,S,..." into o->scales (malloc'd): finite numbers only (nan, inf and 1e400 once
 * gave NaN logits). */
static int parse_scales(const char *cmd, opts *o) {
    const char *text = o->scales_text;
    int n = 1;
    for (const char *c = text; *c; c++) n += *c == ',';
    if (!(o->scales = malloc(sizeof(double) * (size_t)n))) return cli_error(cmd, "out of memory");
    o->p.n_scales = 0;
    for (const char *s = text;;) {
        char *end;
        errno = 0;
        double v = strtod(s, &end);
        if (end == s || (*end && *end != ','))
            return cli_usage_error(cmd, "bad --scales '%s'", text);
        if (!isfinite(v))
            return cli_usage_error(cmd, "--scales: '%.*s' is not a finite number", (int)(end - s), s);
        o->scales[o->p.n_scales++] = v;
        if (!*end) break;
        s = end + 1;
    }
    o->p.scales = o->scales;
    return 0;
}

static int parse_flag(const char *cmd, int argc, char **argv, int *i, opts *o) {
    const char *a = argv[*i];
    if (!strcmp(a, "-m")) return cli_value(cmd, argc, argv, i, &o->model);
    if (!strcmp(a, "-z")) return cli_value(cmd, argc, argv, i, &o->tok);
    if (!strcmp(a, "-o")) return cli_value(cmd, argc, argv, i, &o->out);
    if (!strcmp(a, "--prompts")) return cli_value(cmd, argc, argv, i, &o->prompts);
    if (!strcmp(a, "--head")) return cli_value(cmd, argc, argv, i, &o->head);
    if (!strcmp(a, "--scales")) return cli_value(cmd, argc, argv, i, &o->scales_text);
    if (!strcmp(a, "--from")) return cli_float(cmd, argc, argv, i, -1e6, 1e6, &o->p.from);
    if (!strcmp(a, "--to")) return cli_float(cmd, argc, argv, i, -1e6, 1e6, &o->p.to);
    if (!strcmp(a, "--steps")) return cli_int(cmd, argc, argv, i, 1, 10000, &o->steps);
    return cli_usage_error(cmd, "unknown flag '%s' (see headwise sweep scale --help)", a);
}

/* Flags into o; -1 to go on, else the exit status. */
static int parse(const char *cmd, int argc, char **argv, opts *o) {
    if (argc < 1 || !strcmp(argv[0], "-h") || !strcmp(argv[0], "--help"))
        return fputs(help, argc < 1 ? stderr : stdout), argc < 1 ? 2 : 0;
    if (strcmp(argv[0], "scale"))
        return cli_usage_error("sweep", "unknown sweep '%s' (try: headwise sweep scale --help)", argv[0]);
    for (int i = 1; i < argc; i++) {
        int r = score_task_flag(&o->p.task, cmd, argc, argv, &i);
        if (r < 0) return 2;
        if (r) continue;
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return fputs(help, stdout), 0;
        if (parse_flag(cmd, argc, argv, &i, o)) return 2;
    }
    if (!o->head || (!o->prompts == !o->p.task.name))
        return cli_usage_error(cmd, "give --head L.H and one of --prompts FILE or --task recall");
    o->p.steps = (int)o->steps;
    return o->scales_text && parse_scales(cmd, o) ? 2 : -1;
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
    opts o = {.steps = 5, .p = hw_scale_sweep_params_default()};
    int rc = parse(cmd, argc, argv, &o);
    hw_model *m = NULL;
    hw_tokenizer *t = NULL;
    hw_prompts *ps = NULL;
    hw_scale_sweep_result *r = NULL;
    if (rc >= 0) return free(o.scales), rc;
    rc = 1;
    if (score_outputs_ok(cmd, &o.out, 1) || score_load(cmd, o.model, o.tok, 1, &m, &t)) goto done;
    if (hw_heads_parse(m, o.head, &o.p.head, 1) != 1) {
        rc = cli_usage_error(cmd, "%s", hw_last_error());
        goto done;
    }
    hw_status s = o.prompts && !(o.p.prompts = ps = hw_prompts_read(o.prompts, 2))
                      ? HW_ERR_IO
                      : hw_scale_sweep_run(m, t, &o.p, score_progress_fn, (void *)cmd, &r);
    score_progress_done();
    if (s || (o.out && write_result(r, o.out))) {
        rc = cli_error(cmd, "%s", hw_last_error());
        goto done;
    }
    print_result(r, &o);
    rc = 0;
done:
    hw_scale_sweep_result_free(r);
    hw_prompts_free(ps);
    free(o.scales);
    hw_tokenizer_free(t);
    hw_model_free(m);
    return rc;
}

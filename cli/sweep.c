/* sweep.c: `headwise sweep scale`: the intervention of methods.md section 6: one head's
 * output (equivalently its value vectors) multiplied by s at every position, and the
 * rate at which the greedy next token is the in-context answer, for s over a range. */
#include "task_eval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: headwise sweep scale -m MODEL [-z TOKENIZER] --head L.H --prompts FILE [flags]\n"
    "  --prompts FILE  TSV lines: prompt<TAB>memorized answer<TAB>in-context answer\n"
    "  --task recall   instead: the recall task's held-out samples (--samples N, --task-seed S):\n"
    "                  in-context = counterfactual override rate, memorized = plain recall\n"
    "  --from A --to B --steps N   scales linspace(A, B, N) (default 0, 2, 5)\n"
    "  --scales S,S,.. explicit scales instead\n"
    "  -o FILE         scale, in-context rate, memorized rate (.json or .tsv), atomically\n";

int cmd_sweep(int argc, char **argv) {
    const char *cmd = "sweep scale", *model_path = NULL, *tok_path = NULL, *out = NULL,
               *prompts_path = NULL, *head_text = NULL, *scales_text = NULL;
    double from = 0, to = 2;
    long steps = 5;
    task_opts topt = {0};
    if (argc < 1 || !strcmp(argv[0], "-h") || !strcmp(argv[0], "--help"))
        return fputs(help, argc < 1 ? stderr : stdout), argc < 1 ? 2 : 0;
    if (strcmp(argv[0], "scale"))
        return cli_usage_error("sweep", "unknown sweep '%s' (try: headwise sweep scale --help)", argv[0]);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int bad = 0, r = task_flag(&topt, cmd, argc, argv, &i);
        if (r < 0) return 2;
        if (r) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return fputs(help, stdout), 0;
        else if (!strcmp(a, "-m")) bad = cli_value(cmd, argc, argv, &i, &model_path);
        else if (!strcmp(a, "-z")) bad = cli_value(cmd, argc, argv, &i, &tok_path);
        else if (!strcmp(a, "-o")) bad = cli_value(cmd, argc, argv, &i, &out);
        else if (!strcmp(a, "--prompts")) bad = cli_value(cmd, argc, argv, &i, &prompts_path);
        else if (!strcmp(a, "--head")) bad = cli_value(cmd, argc, argv, &i, &head_text);
        else if (!strcmp(a, "--scales")) bad = cli_value(cmd, argc, argv, &i, &scales_text);
        else if (!strcmp(a, "--from")) bad = cli_float(cmd, argc, argv, &i, -1e6, 1e6, &from);
        else if (!strcmp(a, "--to")) bad = cli_float(cmd, argc, argv, &i, -1e6, 1e6, &to);
        else if (!strcmp(a, "--steps")) bad = cli_int(cmd, argc, argv, &i, 1, 10000, &steps);
        else return cli_usage_error(cmd, "unknown flag '%s' (see headwise sweep scale --help)", a);
        if (bad) return 2;
    }
    if (!head_text || (!prompts_path == !topt.name))
        return cli_usage_error(cmd, "give --head L.H and one of --prompts FILE or --task recall");
    double scales[256];
    int n_scales = 0;
    if (scales_text) {
        for (const char *s = scales_text; *s && n_scales < 256;) {
            char *end;
            scales[n_scales++] = strtod(s, &end);
            if (end == s || (*end && *end != ',')) return cli_usage_error(cmd, "bad --scales '%s'", scales_text);
            s = *end ? end + 1 : end;
        }
    } else {
        if (steps > 256) return cli_usage_error(cmd, "at most 256 steps");
        for (int k = 0; k < steps; k++) scales[n_scales++] = steps == 1 ? from : from + (to - from) * k / (steps - 1);
    }
    hw_model *m;
    hw_tokenizer *t;
    if (score_load(cmd, model_path, tok_path, 1, &m, &t)) return 1;
    const hw_config *cfg = hw_model_config(m);
    hw_head head;
    score_prompt *ps = NULL;
    int np = 0, rc = 1, **ids = NULL, *lens = NULL, *mem = NULL, *inc = NULL;
    double *ctx_rate = calloc((size_t)n_scales * 2, sizeof(double)), *mem_rate = ctx_rate ? ctx_rate + n_scales : NULL;
    float *logits = malloc(sizeof(float) * (size_t)cfg->vocab_size);
    hw_context *ctx = hw_context_new(m, 0);
    if (!ctx_rate || !logits || !ctx) {
        cli_error(cmd, "out of memory");
        goto done;
    }
    if (score_parse_heads(cmd, m, head_text, &head, 1) != 1) goto done;
    if (topt.name) {
        if (task_open(&topt, cmd, m)) goto done;
        np = (int)topt.samples;
        for (int k = 0; k < n_scales; k++) {
            hw_hooks *hooks = hw_hooks_new();
            if (!hooks || hw_hooks_scale(hooks, &head, 1, (float)scales[k], HW_PHASE_BOTH)) {
                hw_hooks_free(hooks);
                cli_error(cmd, "%s", hw_last_error());
                goto done;
            }
            score_progress(cmd, "scale %g", scales[k]);
            int bad = task_accuracy(&topt, cmd, m, t, ctx, hooks, &mem_rate[k], &ctx_rate[k]);
            hw_hooks_free(hooks);
            if (bad) goto done;
        }
        goto report;
    }
    if (score_read_prompts(cmd, prompts_path, 2, &ps, &np)) goto done;
    ids = calloc((size_t)np, sizeof *ids);
    lens = calloc((size_t)np * 3, sizeof(int));
    if (!ids || !lens) {
        cli_error(cmd, "out of memory");
        goto done;
    }
    mem = lens + np;
    inc = mem + np;
    for (int p = 0; p < np; p++) {
        if ((lens[p] = score_encode(cmd, t, ps[p].prompt, HW_TOK_BOS, &ids[p])) < 1) goto done;
        if (lens[p] > hw_context_size(ctx)) {
            cli_error(cmd, "prompt %d (%d tokens) is longer than the model's context (%d)", p + 1,
                      lens[p], hw_context_size(ctx));
            goto done;
        }
        mem[p] = score_answer_token(t, ps[p].ans[0]);
        inc[p] = score_answer_token(t, ps[p].ans[1]);
    }
    for (int k = 0; k < n_scales; k++) {
        hw_hooks *hooks = hw_hooks_new();
        if (!hooks || hw_hooks_scale(hooks, &head, 1, (float)scales[k], HW_PHASE_BOTH)) {
            hw_hooks_free(hooks);
            cli_error(cmd, "%s", hw_last_error());
            goto done;
        }
        for (int p = 0; p < np; p++) {
            score_progress(cmd, "scale %g: prompt %d/%d", scales[k], p + 1, np);
            hw_context_reset(ctx);
            if (hw_forward_hooked(ctx, ids[p], lens[p], HW_LOGITS_LAST, logits, hooks)) {
                hw_hooks_free(hooks);
                score_progress_done();
                cli_error(cmd, "%s", hw_last_error());
                goto done;
            }
            int best = 0;
            for (int v = 1; v < cfg->vocab_size; v++)
                if (logits[v] > logits[best]) best = v;
            ctx_rate[k] += (best == inc[p]) / (double)np;
            mem_rate[k] += (best == mem[p]) / (double)np;
        }
        hw_hooks_free(hooks);
    }
report:
    score_progress_done();
    printf("# head %d.%d scaled, %d %s\nscale\tin_context\tmemorized\n", head.layer, head.head, np,
           topt.name ? "task samples" : "prompts");
    for (int k = 0; k < n_scales; k++) printf("%g\t%.4f\t%.4f\n", scales[k], ctx_rate[k], mem_rate[k]);
    if (out) {
        hw_atomic_file *a = hw_atomic_open(out);
        if (!a) {
            cli_error(cmd, "%s", hw_last_error());
            goto done;
        }
        FILE *f = hw_atomic_stream(a);
        size_t ol = strlen(out);
        if (ol >= 4 && !strcmp(out + ol - 4, ".tsv")) {
            fputs("scale\tin_context\tmemorized\n", f);
            for (int k = 0; k < n_scales; k++) fprintf(f, "%.9g\t%.9g\t%.9g\n", scales[k], ctx_rate[k], mem_rate[k]);
        } else {
            fprintf(f, "{\"head\": \"%d-%d\", \"prompts\": %d, \"sweep\": [", head.layer, head.head, np);
            for (int k = 0; k < n_scales; k++)
                fprintf(f, "%s{\"scale\": %.9g, \"in_context\": %.9g, \"memorized\": %.9g}", k ? ", " : "",
                        scales[k], ctx_rate[k], mem_rate[k]);
            fputs("]}\n", f);
        }
        if (hw_atomic_commit(a)) {
            cli_error(cmd, "%s", hw_last_error());
            goto done;
        }
    }
    rc = 0;
done:
    for (int p = 0; ids && p < np; p++) free(ids[p]);
    free(ids);
    free(lens);
    free(ctx_rate);
    free(logits);
    hw_context_free(ctx);
    score_free_prompts(ps, topt.name ? 0 : np);
    task_close(&topt);
    hw_tokenizer_free(t);
    hw_model_free(m);
    return rc;
}

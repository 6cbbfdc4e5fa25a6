/* score_attribution.c: `headwise score attribution` (methods.md section 6: memory vs
 * in-context heads) and `headwise score dla` (section 9: direct logit attribution).
 * Both read each component's output at the final position (hook_result per head,
 * hook_mlp_out per MLP, the embedding as layer 0's hook_resid_pre, each layer's output
 * bias as hook_attn_out minus its heads) and dot it with an unembedding direction,
 * raw or with the final norm's scale held at its value on the full residual. */
#include "score_common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One prompt's forward with the captures both commands need. */
typedef struct {
    hw_capture *cap;
    hw_hooks *hooks;
    hw_context *ctx;
    float *logits;
    int T;
} run_state;

static int run_ids(const char *cmd, run_state *r, const int *ids, int n) {
    if (n < 1) return cli_error(cmd, "empty prompt");
    if (n > hw_context_size(r->ctx))
        return cli_error(cmd, "prompt of %d tokens is longer than the model's context (%d)", n,
                         hw_context_size(r->ctx));
    hw_context_reset(r->ctx);
    hw_capture_clear(r->cap);
    if (hw_forward_hooked(r->ctx, ids, n, HW_LOGITS_LAST, r->logits, r->hooks))
        return cli_error(cmd, "%s", hw_last_error());
    r->T = n;
    return 0;
}

static int run_prompt(const char *cmd, const hw_model *m, const hw_tokenizer *t, run_state *r,
                      const char *prompt) {
    int *ids = NULL;
    int n = score_encode(cmd, t, prompt, HW_TOK_BOS, &ids);
    if (n < 0) return 1;
    int rc = run_ids(cmd, r, ids, n);
    free(ids);
    return rc;
}

static int run_open(const char *cmd, const hw_model *m, run_state *r) {
    const hw_config *cfg = hw_model_config(m);
    r->cap = hw_capture_new();
    r->hooks = hw_hooks_new();
    r->ctx = hw_context_new(m, 0);
    r->logits = malloc(sizeof(float) * (size_t)cfg->vocab_size);
    if (!r->cap || !r->hooks || !r->ctx || !r->logits) return cli_error(cmd, "out of memory");
    hw_hook_point pts[] = {HW_HOOK_RESULT, HW_HOOK_ATTN_OUT, HW_HOOK_MLP_OUT, HW_HOOK_RESID_PRE,
                           HW_HOOK_RESID_POST};
    for (size_t k = 0; k < sizeof pts / sizeof *pts; k++)
        if (hw_capture_want(r->cap, pts[k], -1)) return cli_error(cmd, "%s", hw_last_error());
    if (hw_hooks_add_capture(r->hooks, r->cap)) return cli_error(cmd, "%s", hw_last_error());
    return 0;
}

static void run_close(run_state *r) {
    hw_hooks_free(r->hooks);
    hw_capture_free(r->cap);
    hw_context_free(r->ctx);
    free(r->logits);
}

/* Row `row` of a captured (T, ...) tensor at (point, layer). */
static const float *captured(const run_state *r, hw_hook_point p, int layer) {
    const hw_capture_entry *e = hw_capture_find(r->cap, p, layer, 0);
    return e ? e->data : NULL;
}

static double dot(const float *a, const float *b, int n) {
    double s = 0;
    for (int i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

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

int cmd_score_attribution(int argc, char **argv) {
    const char *cmd = "score attribution", *model_path = NULL, *tok_path = NULL, *out = NULL,
               *prompts_path = NULL;
    long top = 10;
    hw_task_eval_params topt = hw_task_eval_params_default();
    hw_task *task = NULL;
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
    hw_model *m;
    hw_tokenizer *t;
    if (score_load(cmd, model_path, tok_path, 1, &m, &t)) return 1;
    const hw_config *cfg = hw_model_config(m);
    const int L = cfg->n_layer, H = cfg->n_head, D = cfg->d_model;
    score_prompt *ps = NULL;
    int np = 0, rc = 1, ctx_hits = 0, mem_hits = 0, *task_tok = NULL, *task_ids = NULL;
    run_state r = {0};
    double *tab_v = calloc((size_t)L * H * 2, sizeof(double));
    float *raw = malloc(sizeof(float) * (size_t)D * 2), *scaled = raw ? raw + D : NULL;
    if (!tab_v || !raw) {
        cli_error(cmd, "out of memory");
        goto done;
    }
    if (run_open(cmd, m, &r)) goto done;
    if (topt.name) {
        /* Counterfactual samples "<bos> s is a' . s is": in-context answer a' (the task's
         * target), memorized answer the model's own to "<bos> s is". */
        if (!(task = hw_task_new_for_model(m, &topt))) {
            cli_error(cmd, "%s", hw_last_error());
            goto done;
        }
        if (strcmp(hw_task_name(task), "recall")) {
            cli_error(cmd, "--task must be recall");
            goto done;
        }
        int T = hw_task_seq_len(task);
        if (!(task_tok = malloc(sizeof(int) * (size_t)T * 2)) ||
            !(ps = calloc((size_t)topt.samples, sizeof *ps)) ||
            !(task_ids = calloc((size_t)topt.samples * 3, sizeof(int)))) {
            cli_error(cmd, "out of memory");
            goto done;
        }
        for (long k = 0; k < topt.samples; k++) {
            hw_task_layout lay;
            if (hw_task_sample(task, (uint64_t)topt.seed, k, task_tok, task_tok + T, &lay)) {
                cli_error(cmd, "%s", hw_last_error());
                goto done;
            }
            if (lay.src < 0 || lay.dst < 3) continue;
            int q[3] = {task_tok[0], task_tok[lay.dst - 2], task_tok[lay.dst - 1]};
            if (run_ids(cmd, &r, q, 3)) goto done;
            int best = 0;
            for (int v = 1; v < cfg->vocab_size; v++)
                if (r.logits[v] > r.logits[best]) best = v;
            task_ids[np * 3] = (int)k;
            task_ids[np * 3 + 1] = best;
            task_ids[np * 3 + 2] = task_tok[lay.dst];
            np++;
        }
        if (!np) {
            cli_error(cmd, "no counterfactual sample among %d", topt.samples);
            goto done;
        }
    } else if (score_read_prompts(cmd, prompts_path, 2, &ps, &np)) {
        goto done;
    }
    for (int p = 0; p < np; p++) {
        int mem, inc;
        score_progress(cmd, "prompt %d/%d", p + 1, np);
        if (topt.name) {
            hw_task_layout lay;
            int T = hw_task_seq_len(task);
            hw_task_sample(task, (uint64_t)topt.seed, task_ids[p * 3], task_tok, task_tok + T, &lay);
            mem = task_ids[p * 3 + 1];
            inc = task_ids[p * 3 + 2];
            if (run_ids(cmd, &r, task_tok, lay.dst)) goto done;
        } else {
            mem = score_answer_token(t, ps[p].ans[0]);
            inc = score_answer_token(t, ps[p].ans[1]);
            if (mem < 0 || inc < 0) {
                cli_error(cmd, "%s: prompt %d: an answer encodes to no token", prompts_path, p + 1);
                goto done;
            }
            if (run_prompt(cmd, m, t, &r, ps[p].prompt)) goto done;
        }
        int last = r.T - 1, V = cfg->vocab_size, best = 0;
        for (int v = 1; v < V; v++)
            if (r.logits[v] > r.logits[best]) best = v;
        ctx_hits += best == inc;
        mem_hits += best == mem;
        const float *resid = captured(&r, HW_HOOK_RESID_POST, L - 1) + (size_t)last * D;
        if (hw_logit_direction(m, &mem, 1, &inc, 1, NULL, raw) ||
            hw_logit_direction(m, &mem, 1, &inc, 1, resid, scaled)) {
            cli_error(cmd, "%s", hw_last_error());
            goto done;
        }
        for (int l = 0; l < L; l++) {
            const float *res = captured(&r, HW_HOOK_RESULT, l);
            for (int h = 0; h < H; h++) {
                const float *u = res + ((size_t)last * H + h) * D;
                tab_v[((size_t)l * H + h) * 2] += dot(u, raw, D) / np;
                tab_v[((size_t)l * H + h) * 2 + 1] += dot(u, scaled, D) / np;
            }
        }
    }
    score_progress_done();
    static const char *const cols[] = {"raw", "scaled"};
    score_table tab = {L, H, 2, cols, tab_v};
    printf("# attribution over %d prompts: greedy next token is the in-context answer in %.6f, "
           "the memorized one in %.6f\n", np, (double)ctx_hits / np, (double)mem_hits / np);
    printf("# memory heads (highest scaled logit(memorized) - logit(in-context)):\n");
    score_table_print(&tab, 1, 0, (int)top);
    printf("# in-context heads (lowest):\n");
    score_table_print(&tab, 1, 1, (int)top);
    if (out && score_table_write(cmd, &tab, 1, 1, out)) goto done;
    rc = 0;
done:
    run_close(&r);
    score_free_prompts(ps, topt.name ? 0 : np);
    free(task_tok);
    free(task_ids);
    hw_task_free(task);
    free(tab_v);
    free(raw);
    hw_tokenizer_free(t);
    hw_model_free(m);
    return rc;
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
    "mlp.L; 'rest' is the logit difference minus their sum (final-norm bias; ~0 scaled).\n";

int cmd_score_dla(int argc, char **argv) {
    const char *cmd = "score dla", *model_path = NULL, *tok_path = NULL, *out = NULL,
               *prompt = NULL, *target = NULL, *minus[64];
    int n_minus = 0, raw_mode = 0;
    long top = 20;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int bad = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return fputs(help_dla, stdout), 0;
        else if (!strcmp(a, "-m")) bad = cli_value(cmd, argc, argv, &i, &model_path);
        else if (!strcmp(a, "-z")) bad = cli_value(cmd, argc, argv, &i, &tok_path);
        else if (!strcmp(a, "-o")) bad = cli_value(cmd, argc, argv, &i, &out);
        else if (!strcmp(a, "-p")) bad = cli_value(cmd, argc, argv, &i, &prompt);
        else if (!strcmp(a, "--target")) bad = cli_value(cmd, argc, argv, &i, &target);
        else if (!strcmp(a, "--minus")) {
            if (n_minus == 64) return cli_usage_error(cmd, "at most 64 --minus");
            bad = cli_value(cmd, argc, argv, &i, &minus[n_minus++]);
        } else if (!strcmp(a, "--raw")) raw_mode = 1;
        else if (!strcmp(a, "--top")) bad = cli_int(cmd, argc, argv, &i, 0, 1 << 30, &top);
        else return cli_usage_error(cmd, "unknown flag '%s' (see headwise score dla --help)", a);
        if (bad) return 2;
    }
    if (!prompt || !target) return cli_usage_error(cmd, "give -p PROMPT and --target TOKEN");
    hw_model *m;
    hw_tokenizer *t;
    if (score_load(cmd, model_path, tok_path, 1, &m, &t)) return 1;
    const hw_config *cfg = hw_model_config(m);
    const int L = cfg->n_layer, H = cfg->n_head, D = cfg->d_model;
    int rc = 1, pos_tok = score_answer_token(t, target), neg_tok[64];
    run_state r = {0};
    int n_comp = 1 + L * H + 2 * L + 1;
    double *val = calloc((size_t)n_comp, sizeof(double));
    char (*name)[32] = calloc((size_t)n_comp, sizeof *name);
    float *dir = malloc(sizeof(float) * (size_t)D), *sum = malloc(sizeof(float) * (size_t)D);
    if (!val || !name || !dir || !sum) {
        cli_error(cmd, "out of memory");
        goto done;
    }
    if (pos_tok < 0) {
        cli_error(cmd, "--target '%s' encodes to no token", target);
        goto done;
    }
    for (int k = 0; k < n_minus; k++)
        if ((neg_tok[k] = score_answer_token(t, minus[k])) < 0) {
            cli_error(cmd, "--minus '%s' encodes to no token", minus[k]);
            goto done;
        }
    if (run_open(cmd, m, &r) || run_prompt(cmd, m, t, &r, prompt)) goto done;
    int last = r.T - 1, c = 0;
    const float *resid = captured(&r, HW_HOOK_RESID_POST, L - 1) + (size_t)last * D;
    if (hw_logit_direction(m, &pos_tok, 1, neg_tok, n_minus, raw_mode ? NULL : resid, dir)) {
        cli_error(cmd, "%s", hw_last_error());
        goto done;
    }
    snprintf(name[c], sizeof name[c], "embed");
    val[c++] = dot(captured(&r, HW_HOOK_RESID_PRE, 0) + (size_t)last * D, dir, D);
    for (int l = 0; l < L; l++) {
        const float *res = captured(&r, HW_HOOK_RESULT, l) + (size_t)last * H * D;
        const float *attn = captured(&r, HW_HOOK_ATTN_OUT, l) + (size_t)last * D;
        for (int i = 0; i < D; i++) sum[i] = attn[i];
        for (int h = 0; h < H; h++) {
            snprintf(name[c], sizeof name[c], "%d.%d", l, h);
            val[c++] = dot(res + (size_t)h * D, dir, D);
            for (int i = 0; i < D; i++) sum[i] -= res[(size_t)h * D + i];
        }
        snprintf(name[c], sizeof name[c], "%d.bias", l);
        val[c++] = dot(sum, dir, D);
        snprintf(name[c], sizeof name[c], "mlp.%d", l);
        const float *mo = captured(&r, HW_HOOK_MLP_OUT, l);
        val[c++] = mo ? dot(mo + (size_t)last * D, dir, D) : 0;
    }
    double total = 0, actual = r.logits[pos_tok];
    for (int k = 0; k < c; k++) total += val[k];
    for (int k = 0; k < n_minus; k++) actual -= (double)r.logits[neg_tok[k]] / n_minus;
    snprintf(name[c], sizeof name[c], "rest");
    val[c++] = actual - total;
    int *order = malloc(sizeof(int) * (size_t)c);
    double *mag = malloc(sizeof(double) * (size_t)c);
    if (!order || !mag) {
        free(order);
        free(mag);
        cli_error(cmd, "out of memory");
        goto done;
    }
    for (int k = 0; k < c; k++) mag[k] = fabs(val[k]);
    hw_scores_rank(mag, c, order);
    printf("# dla (%s): logit difference %.6f, sum of components %.6f\n",
           raw_mode ? "raw unembedding" : "final norm scale held fixed", actual, total);
    printf("rank\tcomponent\tlogit\n");
    for (int k = 0; k < c && (top <= 0 || k < top); k++)
        printf("%d\t%s\t%.6f\n", k + 1, name[order[k]], val[order[k]]);
    if (out) {
        hw_atomic_file *a = hw_atomic_open(out);
        if (!a) {
            free(order);
            free(mag);
            cli_error(cmd, "%s", hw_last_error());
            goto done;
        }
        FILE *f = hw_atomic_stream(a);
        size_t ol = strlen(out);
        int tsv = ol >= 4 && !strcmp(out + ol - 4, ".tsv");
        if (tsv) {
            fputs("component\tlogit\n", f);
            for (int k = 0; k < c; k++) fprintf(f, "%s\t%.9g\n", name[order[k]], val[order[k]]);
        } else {
            fprintf(f, "{\"logit_diff\": %.9g, \"scaled\": %s, \"components\": {", actual,
                    raw_mode ? "false" : "true");
            for (int k = 0; k < c; k++) fprintf(f, "%s\"%s\": %.9g", k ? ", " : "", name[k], val[k]);
            fputs("}}\n", f);
        }
        if (hw_atomic_commit(a)) {
            free(order);
            free(mag);
            cli_error(cmd, "%s", hw_last_error());
            goto done;
        }
    }
    free(order);
    free(mag);
    rc = 0;
done:
    run_close(&r);
    free(val);
    free(name);
    free(dir);
    free(sum);
    hw_tokenizer_free(t);
    hw_model_free(m);
    return rc;
}

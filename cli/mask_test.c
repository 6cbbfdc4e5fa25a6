/* mask_test.c: `headwise mask-test`: the Retrieval Head masking experiment (methods.md
 * section 1.3): task accuracy with the top-K heads of a score file masked, against K
 * random heads drawn outside the top-K (mean over draws), and optionally every head
 * masked alone. Masking is uniform attention (the paper's) or a zeroed output, during
 * decoding only (the paper's) or also in the prefill. */
#include "niah.h"
#include "task_eval.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: headwise mask-test -m MODEL [-z TOKENIZER] --scores FILE.json [task] [flags]\n"
    "  --scores FILE   head scores {\"L-H\": [values]} (score retrieval, heads import, ...)\n"
    "  --column K      rank by the K-th value of each list (default: the mean of the list)\n"
    "  --ascending     rank lowest first (e.g. in-context heads of score attribution)\n"
    "  --top K         heads masked (default 5)\n"
    "  --draws N       random sets of K heads outside the top-K (default 10)\n"
    "  --exclude N     random heads are drawn outside the top N (default K)\n"
    "  --singles       also mask every head alone\n"
    "  --seed S        random draws (default 1)\n"
    "  --mode uniform|zero   uniform attention (default, the paper's) or zero output\n"
    "  --phase decode|both   mask while decoding only (default, the paper's) or also in\n"
    "                  the prefill\n"
    "task (one of):\n"
    "  --task NAME     a synthetic task's held-out samples (--samples N, default 100;\n"
    "                  --task-seed S; --task-depth X for retrieval) scored by the task's\n"
    "                  metric; teacher-forced tasks (induction, successor, recall) mask in\n"
    "                  prefill and decode\n"
    "  --prompts FILE  TSV lines prompt<TAB>answer: exact greedy answer rate (answer tokens as\n"
    "                  they continue the prompt)\n"
    "  needle-in-a-haystack trials as in score retrieval (--needles --haystack --template\n"
    "                  --lengths --depths --buffer --max-new): mean ROUGE-1 recall and exact\n"
    "                  rate (recall 1)\n"
    "  -o FILE         results as JSON, atomically\n";

typedef struct {
    const char *cmd;
    const hw_model *m;
    const hw_tokenizer *t;
    hw_context *ctx;
    /* prompts mode */
    int np, **ids, *lens, **ans, *n_ans;
    /* niah mode */
    niah *nh;
    /* task mode */
    task_opts *task;
    int max_new;
    int *gen;
    char text[4096];
} task_eval;

/* Accuracy (exact rate) and mean recall with hooks; -1 on error. */
static int evaluate(task_eval *e, const hw_hooks *hooks, double *exact, double *recall) {
    int right = 0, total = 0;
    double rsum = 0;
    if (e->task) return task_accuracy(e->task, e->cmd, e->m, e->t, e->ctx, hooks, exact, recall);
    if (!e->nh) {
        for (int p = 0; p < e->np; p++) {
            int got = niah_greedy(e->cmd, e->m, e->t, e->ctx, e->ids[p], e->lens[p], e->n_ans[p],
                                  hooks, NULL, NULL, e->gen, e->text, sizeof e->text);
            if (got < 0) return -1;
            int ok = got == e->n_ans[p];
            for (int k = 0; ok && k < got; k++) ok = e->gen[k] == e->ans[p][k];
            int hit = 0;
            for (int k = 0; k < got && k < e->n_ans[p]; k++) hit += e->gen[k] == e->ans[p][k];
            right += ok;
            rsum += (double)hit / e->n_ans[p];
            total++;
        }
    } else {
        niah *nh = e->nh;
        for (int ni = 0; ni < nh->n_needles; ni++)
            for (int li = 0; li < nh->n_lengths; li++)
                for (int di = 0; di < nh->n_depths; di++) {
                    int *prompt = NULL, s0, s1;
                    int n = niah_prompt(nh, ni, nh->lengths[li], nh->depths[di], &prompt, &s0, &s1);
                    if (n < 0) return -1;
                    int got = niah_greedy(e->cmd, e->m, e->t, e->ctx, prompt, n, nh->max_new, hooks,
                                          NULL, NULL, e->gen, e->text, sizeof e->text);
                    free(prompt);
                    if (got < 0) return -1;
                    double r = hw_rouge1_recall(nh->needles[ni].real_needle, e->text);
                    rsum += r;
                    right += r >= 1;
                    total++;
                }
    }
    *exact = total ? (double)right / total : 0;
    *recall = total ? rsum / total : 0;
    return 0;
}

static int masked(task_eval *e, const hw_head *heads, int n, int zero, hw_phase phase, double *exact,
                  double *recall) {
    hw_hooks *h = hw_hooks_new();
    if (!h) return cli_error(e->cmd, "%s", hw_last_error()), -1;
    hw_status s = n == 0 ? HW_OK : zero ? hw_hooks_zero_output(h, heads, n, phase)
                                        : hw_hooks_mask_uniform(h, heads, n, phase);
    if (s) {
        hw_hooks_free(h);
        return cli_error(e->cmd, "%s", hw_last_error()), -1;
    }
    int rc = evaluate(e, h, exact, recall);
    hw_hooks_free(h);
    return rc;
}

static uint64_t splitmix(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static void print_heads(FILE *f, const hw_head *h, int n) {
    for (int i = 0; i < n; i++) fprintf(f, "%s\"%d-%d\"", i ? ", " : "", h[i].layer, h[i].head);
}

int cmd_mask_test(int argc, char **argv) {
    const char *cmd = "mask-test", *model_path = NULL, *tok_path = NULL, *out = NULL,
               *scores_path = NULL, *prompts_path = NULL, *mode = "uniform", *phase_s = "decode";
    long column = -1, top = 5, draws = 10, exclude = -1, seed = 1;
    int singles = 0, ascending = 0, niah_flags = 0;
    niah nh = {.cmd = cmd, .buffer = -1};
    task_opts topt = {0};
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
        else if (!strcmp(a, "--scores")) bad = cli_value(cmd, argc, argv, &i, &scores_path);
        else if (!strcmp(a, "--prompts")) bad = cli_value(cmd, argc, argv, &i, &prompts_path);
        else if (!strcmp(a, "--mode")) bad = cli_value(cmd, argc, argv, &i, &mode);
        else if (!strcmp(a, "--phase")) bad = cli_value(cmd, argc, argv, &i, &phase_s);
        else if (!strcmp(a, "--column")) bad = cli_int(cmd, argc, argv, &i, 0, 1 << 20, &column);
        else if (!strcmp(a, "--top")) bad = cli_int(cmd, argc, argv, &i, 1, 1 << 20, &top);
        else if (!strcmp(a, "--draws")) bad = cli_int(cmd, argc, argv, &i, 0, 100000, &draws);
        else if (!strcmp(a, "--exclude")) bad = cli_int(cmd, argc, argv, &i, 0, 1 << 20, &exclude);
        else if (!strcmp(a, "--seed")) bad = cli_int(cmd, argc, argv, &i, 0, 1L << 62, &seed);
        else if (!strcmp(a, "--singles")) singles = 1;
        else if (!strcmp(a, "--ascending")) ascending = 1;
        else return cli_usage_error(cmd, "unknown flag '%s' (see headwise mask-test --help)", a);
        if (bad) return 2;
    }
    if (!scores_path) return cli_usage_error(cmd, "give --scores FILE.json");
    if ((prompts_path != NULL) + niah_flags + (topt.name != NULL) > 1)
        return cli_usage_error(cmd, "give one task: --task, --prompts or needle-in-a-haystack flags");
    int zero = !strcmp(mode, "zero");
    if (!zero && strcmp(mode, "uniform")) return cli_usage_error(cmd, "--mode must be uniform or zero");
    hw_phase phase = !strcmp(phase_s, "both") ? HW_PHASE_BOTH : HW_PHASE_DECODE;
    if (strcmp(phase_s, "both") && strcmp(phase_s, "decode"))
        return cli_usage_error(cmd, "--phase must be decode or both");
    if (exclude < 0) exclude = top;
    hw_model *m;
    hw_tokenizer *t;
    if (score_load(cmd, model_path, tok_path, 1, &m, &t)) return 1;
    const hw_config *cfg = hw_model_config(m);
    const int L = cfg->n_layer, H = cfg->n_head, N = L * H;
    int rc = 1, *order = NULL;
    double *key = NULL, *single_acc = NULL;
    hw_head *heads = NULL;
    score_prompt *ps = NULL;
    FILE *f = NULL;
    hw_atomic_file *af = NULL;
    task_eval e = {.cmd = cmd, .m = m, .t = t};
    hw_head_scores *s = hw_head_scores_read(scores_path);
    if (!s) {
        cli_error(cmd, "%s", hw_last_error());
        goto done;
    }
    const int sL = hw_head_scores_layers(s), sH = hw_head_scores_heads(s);
    if (sL != L || sH > H) {
        cli_error(cmd, "%s scores %d layers x %d heads; the model has %d x %d", scores_path, sL,
                  sH, L, H);
        goto done;
    }
    if (top > N || exclude > N || (draws && N - exclude < top)) {
        cli_error(cmd, "the model has %d heads: too few for top %ld and %ld random outside the top %ld",
                  N, top, top, exclude);
        goto done;
    }
    key = calloc((size_t)N, sizeof(double));
    order = malloc(sizeof(int) * (size_t)N);
    heads = malloc(sizeof(hw_head) * (size_t)(N + 1));
    single_acc = calloc((size_t)N * 2, sizeof(double));
    e.ctx = hw_context_new(m, 0);
    if (!key || !order || !heads || !single_acc || !e.ctx) {
        cli_error(cmd, "out of memory");
        goto done;
    }
    {
        double *mean = malloc(sizeof(double) * (size_t)sL * sH);
        if (!mean) {
            cli_error(cmd, "out of memory");
            goto done;
        }
        hw_head_scores_mean(s, mean);
        for (int l = 0; l < sL; l++)
            for (int h = 0; h < sH; h++) {
                int cnt;
                const double *vals = hw_head_scores_values(s, l, h, &cnt);
                double x = column >= 0 ? (column < cnt ? vals[column] : 0) : mean[l * sH + h];
                key[l * H + h] = ascending ? -x : x;
            }
        free(mean);
    }
    hw_scores_rank(key, N, order);
    /* The task. */
    if (topt.name) {
        if (task_open(&topt, cmd, m)) goto done;
        e.task = &topt;
        e.max_new = 1;
        if (!task_is_greedy(&topt) && phase == HW_PHASE_DECODE) {
            fprintf(stderr, "headwise %s: task %s is scored teacher-forced (one prefill): masking "
                    "in every call\n", cmd, topt.name);
            phase = HW_PHASE_BOTH;
            phase_s = "both";
        }
    } else if (prompts_path) {
        if (score_read_prompts(cmd, prompts_path, 1, &ps, &e.np)) goto done;
        e.ids = calloc((size_t)e.np * 2, sizeof(int *));
        e.lens = calloc((size_t)e.np * 2, sizeof(int));
        if (!e.ids || !e.lens) {
            cli_error(cmd, "out of memory");
            goto done;
        }
        e.ans = e.ids + e.np;
        e.n_ans = e.lens + e.np;
        for (int p = 0; p < e.np; p++) {
            if ((e.lens[p] = score_encode(cmd, t, ps[p].prompt, HW_TOK_BOS, &e.ids[p])) < 0) goto done;
            if ((e.n_ans[p] = score_encode(cmd, t, ps[p].ans[0], 0, &e.ans[p])) < 1) {
                cli_error(cmd, "%s: prompt %d: the answer encodes to no token", prompts_path, p + 1);
                goto done;
            }
            if (e.lens[p] + e.n_ans[p] > hw_context_size(e.ctx)) {
                cli_error(cmd, "prompt %d with its answer (%d tokens) is longer than the model's "
                          "context (%d)", p + 1, e.lens[p] + e.n_ans[p], hw_context_size(e.ctx));
                goto done;
            }
            if (e.n_ans[p] > e.max_new) e.max_new = e.n_ans[p];
        }
    } else {
        nh.m = m;
        nh.t = t;
        if (niah_prepare(&nh)) goto done;
        e.nh = &nh;
        e.max_new = nh.max_new;
    }
    if (!(e.gen = malloc(sizeof(int) * (size_t)e.max_new))) goto done;
    double base_ex, base_rc, top_ex, top_rc, rnd_ex = 0, rnd_rc = 0;
    score_progress(cmd, "baseline");
    if (masked(&e, NULL, 0, zero, phase, &base_ex, &base_rc)) goto done;
    for (int i = 0; i < top; i++) heads[i] = (hw_head){order[i] / H, order[i] % H};
    score_progress(cmd, "top %ld masked", top);
    if (masked(&e, heads, (int)top, zero, phase, &top_ex, &top_rc)) goto done;
    if (out) {
        if (!(af = hw_atomic_open(out))) {
            cli_error(cmd, "%s", hw_last_error());
            goto done;
        }
        f = hw_atomic_stream(af);
        fprintf(f, "{\"mode\": \"%s\", \"phase\": \"%s\", \"baseline\": {\"exact\": %.6f, \"recall\": %.6f},\n",
                zero ? "zero" : "uniform", phase_s, base_ex, base_rc);
        fprintf(f, " \"top\": {\"heads\": [");
        print_heads(f, heads, (int)top);
        fprintf(f, "], \"exact\": %.6f, \"recall\": %.6f},\n \"random\": [", top_ex, top_rc);
    }
    printf("# mask-test (%s masking, %s): exact answer rate and mean recall\n", zero ? "zero-output" : "uniform-attention",
           phase == HW_PHASE_DECODE ? "decode only" : "prefill and decode");
    printf("baseline\t%.4f\t%.4f\n", base_ex, base_rc);
    printf("top-%ld\t%.4f\t%.4f\t", top, top_ex, top_rc);
    for (int i = 0; i < top; i++) printf("%s%d.%d", i ? "," : "", heads[i].layer, heads[i].head);
    putchar('\n');
    uint64_t st = (uint64_t)seed;
    for (int d = 0; d < draws; d++) {
        /* K distinct heads uniformly from ranks [exclude, N): a partial Fisher-Yates. */
        int pool = N - (int)exclude, *cand = malloc(sizeof(int) * (size_t)pool);
        if (!cand) {
            cli_error(cmd, "out of memory");
            goto done;
        }
        for (int i = 0; i < pool; i++) cand[i] = order[exclude + i];
        for (int i = 0; i < top; i++) {
            int j = i + (int)(splitmix(&st) % (uint64_t)(pool - i));
            int tmp = cand[i];
            cand[i] = cand[j];
            cand[j] = tmp;
            heads[i] = (hw_head){cand[i] / H, cand[i] % H};
        }
        free(cand);
        double ex, rcl;
        score_progress(cmd, "random draw %d/%ld", d + 1, draws);
        if (masked(&e, heads, (int)top, zero, phase, &ex, &rcl)) goto done;
        rnd_ex += ex / draws;
        rnd_rc += rcl / draws;
        if (f) {
            fprintf(f, "%s{\"heads\": [", d ? ", " : "");
            print_heads(f, heads, (int)top);
            fprintf(f, "], \"exact\": %.6f, \"recall\": %.6f}", ex, rcl);
        }
    }
    if (draws) printf("random-%ld\t%.4f\t%.4f\t(mean of %ld draws outside the top %ld)\n", top, rnd_ex, rnd_rc, draws, exclude);
    if (f) fprintf(f, "],\n \"random_mean\": {\"exact\": %.6f, \"recall\": %.6f}", rnd_ex, rnd_rc);
    if (singles) {
        for (int r = 0; r < N; r++) {
            heads[0] = (hw_head){order[r] / H, order[r] % H};
            score_progress(cmd, "head %d.%d alone (%d/%d)", heads[0].layer, heads[0].head, r + 1, N);
            if (masked(&e, heads, 1, zero, phase, &single_acc[order[r] * 2], &single_acc[order[r] * 2 + 1]))
                goto done;
        }
        printf("# each head masked alone, in score order: rank head exact recall\n");
        for (int r = 0; r < N; r++)
            printf("single\t%d\t%d.%d\t%.4f\t%.4f\n", r + 1, order[r] / H, order[r] % H,
                   single_acc[order[r] * 2], single_acc[order[r] * 2 + 1]);
        if (f) {
            fprintf(f, ",\n \"singles\": {");
            for (int r = 0; r < N; r++)
                fprintf(f, "%s\"%d-%d\": {\"rank\": %d, \"exact\": %.6f, \"recall\": %.6f}", r ? ", " : "",
                        order[r] / H, order[r] % H, r + 1, single_acc[order[r] * 2], single_acc[order[r] * 2 + 1]);
            fputc('}', f);
        }
    }
    score_progress_done();
    if (f) {
        fputs("}\n", f);
        f = NULL;
        hw_status cs = hw_atomic_commit(af);
        af = NULL;
        if (cs) {
            cli_error(cmd, "%s", hw_last_error());
            goto done;
        }
    }
    rc = 0;
done:
    score_progress_done();
    if (af) hw_atomic_abort(af);
    for (int p = 0; e.ids && p < e.np; p++) {
        free(e.ids[p]);
        free(e.ans[p]);
    }
    free(e.ids);
    free(e.lens);
    free(e.gen);
    hw_context_free(e.ctx);
    if (e.nh) niah_free(&nh);
    task_close(&topt);
    score_free_prompts(ps, e.np);
    free(key);
    free(order);
    free(heads);
    free(single_acc);
    hw_head_scores_free(s);
    hw_tokenizer_free(t);
    hw_model_free(m);
    return rc;
}

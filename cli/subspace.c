/* subspace.c: `headwise subspace` (hw_subspace_run: the SVD of a head's QK or OV circuit
 * and its directions as tokens) and `headwise subspace lowrank` (hw_lowrank_run: task
 * accuracy with the head's q, k or v projected onto its top-r subspace). */
#include "cli.h"

static const char help[] =
    "usage: headwise subspace -m MODEL [-z TOKENIZER] --head L.H [flags]\n"
    "       headwise subspace lowrank --help   accuracy vs rank of a head's q, k or v\n"
    "  --head L.H        the query head (under GQA, W_K and W_V are its KV head's)\n"
    "  --kind qk|ov      W_QK = W_Q W_K^T (default) or W_OV = W_V W_O, as TransformerLens\n"
    "                    (rotary: W_QK is the form at relative distance 0; no biases)\n"
    "  --directions N    singular directions read as tokens (default 4)\n"
    "  --top N           tokens per direction and sign (default 10)\n"
    "  --no-fold         raw weights (default: the input norm's gain folded in, tokens read\n"
    "                    as normalised embeddings, OV's output through the final norm's gain)\n"
    "  -o FILE           JSON: singular values, each direction's top and bottom tokens\n"
    "Input sides (QK query and key, OV source) read through W_E; OV's output through W_U.\n";

static const char help_lowrank[] =
    "usage: headwise subspace lowrank -m MODEL --head L.H [--input q,k] (--task T|--prompts F)\n"
    "  --input LIST      what is projected, each onto its own top-r subspace: q (hook_q of the\n"
    "                    head, before rotary), k, v (hook_k / hook_v of its KV head); q,k for\n"
    "                    the QK circuit at rank r (default q)\n"
    "  --task T          a synthetic task (organisms): its held-out samples scored; the\n"
    "                    subspace fitted on --fit-samples N (default 100) of --fit-seed S\n"
    "                    (default 54321)\n" SCORE_TASK_HELP
    "  --prompts FILE    or prompt<TAB>answer lines: exact answers (teacher-forced argmax),\n"
    "                    the subspace fitted on the same prompts\n"
    "  --ranks R,R,...   ranks tried (default 0,1,2,4,...,Dh); r >= Dh is no projection\n"
    "  --center          PCA around the activations' mean (default: their uncentred SVD)\n"
    "  -o FILE           JSON: spectrum, baseline, accuracy per rank, atomically\n" CLI_KV_HELP;

static void print_side(const hw_subspace_result *r, const hw_tokenizer *t, int side, int i, const char *what) {
    const int top = hw_subspace_top(r), show = top < 6 ? top : 6;
    for (int sign = 1; sign >= -1; sign -= 2) {
        const int *ids = hw_subspace_tokens(r, side, sign, NULL) + (size_t)i * top;
        printf("  %s %s:", what, sign > 0 ? "+" : "-");
        for (int k = 0; k < show; k++) {
            size_t len;
            const char *s = t ? hw_tokenizer_decode(t, 0x7fffffff, ids[k], &len) : NULL;
            if (s) printf(" '%.*s'", (int)(len < 40 ? len : 40), s);
            else printf(" %d", ids[k]);
        }
        putchar('\n');
    }
}

static void print_subspace(const hw_subspace_result *r, const hw_tokenizer *t, int ov) {
    const double *s = hw_subspace_singular(r);
    printf("# singular values:");
    for (int i = 0; i < hw_subspace_rank(r); i++) printf(" %.4f", s[i]);
    putchar('\n');
    for (int i = 0; i < hw_subspace_directions(r); i++) {
        printf("direction %d (singular value %.4f)\n", i, s[i]);
        print_side(r, t, 0, i, ov ? "in " : "query");
        print_side(r, t, 1, i, ov ? "out" : "key  ");
    }
}

static int cmd_lowrank(int argc, char **argv);

/* --input q,k,v: hook points, each once. */
static int inputs_flag(const char *cmd, const char *flag, const char *value, void *dst) {
    hw_lowrank_params *p = dst;
    p->n_inputs = 0;
    for (const char *s = value;; s++) {
        const char *at = strchr("qkv", *s);
        if (!*s || !at || (s[1] && s[1] != ',') || p->n_inputs == 3)
            return cli_usage_error(cmd, "%s: '%s' is not a list of q, k and v (e.g. q,k)", flag, value);
        hw_hook_point pt = at - "qkv" + HW_HOOK_Q;
        for (int k = 0; k < p->n_inputs; k++)
            if (p->inputs[k] == pt) return cli_usage_error(cmd, "%s: '%c' given twice", flag, *s);
        p->inputs[p->n_inputs++] = pt;
        if (!*++s) return 0;
    }
}

int cmd_subspace(int argc, char **argv) {
    if (argc > 0 && !strcmp(argv[0], "lowrank")) return cmd_lowrank(argc - 1, argv + 1);
    const char *cmd = "subspace", *out = NULL, *head = NULL;
    int kind = 0, no_fold = 0;
    cli_model_flags f = {0};
    hw_subspace_params p = hw_subspace_params_default();
    const cli_flag flags[] = {
        CLI_LOAD_FLAGS(&f), {"-o", CLI_STR, &out}, {"--head", CLI_STR, &head},
        {"--kind", CLI_CHOICE, &kind, .choices = "qk|ov"}, {"--top", CLI_INT, &p.top, 1, 1 << 30},
        {"--directions", CLI_INT, &p.directions, 0, 1 << 20}, {"--no-fold", CLI_SET, &no_fold, 1}, {NULL}};
    int rc = cli_parse_flags(cmd, argc, argv, flags, help, NULL);
    if (rc) return rc < 0 ? 0 : rc;
    if (!head) return cli_usage_error(cmd, "give --head L.H");
    p.kind = kind ? HW_SUBSPACE_OV : HW_SUBSPACE_QK;
    p.fold_norm = !no_fold;
    cli_session s;
    if (score_outputs_ok(cmd, &out, 1) || cli_load(cmd, &f, 0, &s)) return 1;
    if (hw_heads_parse(s.m, head, &p.head, 1) != 1) {
        cli_close(&s);
        return cli_usage_error(cmd, "--head: %s", hw_last_error());
    }
    hw_subspace_result *r = NULL;
    rc = hw_subspace_run(s.m, s.t, &p, &r) ? 1 : 0;
    if (!rc) print_subspace(r, s.t, kind);
    if (rc || (out && hw_subspace_write(r, out))) rc = cli_error(cmd, "%s", hw_last_error());
    hw_subspace_free(r);
    cli_close(&s);
    return rc;
}

static void print_lowrank(const hw_lowrank_result *r) {
    double base[2];
    const double *a = hw_lowrank_accuracy(r, 0, base), *a2 = hw_lowrank_accuracy(r, 1, NULL);
    int rows;
    hw_lowrank_spectrum(r, 0, &rows);
    printf("# baseline %.4f (%.4f); subspace fitted on %d rows\nrank\taccuracy\taccuracy2\n", base[0], base[1], rows);
    for (int k = 0; k < hw_lowrank_count(r); k++) printf("%d\t%.4f\t%.4f\n", hw_lowrank_ranks(r)[k], a[k], a2[k]);
}

/* Load, parse --head, read --prompts, run, print, write. */
static int lowrank_run(const char *cmd, const cli_model_flags *f, const char *head, const char *prompts,
                       const char *out, hw_lowrank_params *p) {
    cli_session s;
    if (score_outputs_ok(cmd, &out, 1) || cli_load(cmd, f, prompts != NULL, &s)) return 1;
    if (hw_heads_parse(s.m, head, &p->head, 1) != 1) {
        cli_close(&s);
        return cli_usage_error(cmd, "--head: %s", hw_last_error());
    }
    hw_prompts *ps = prompts ? hw_prompts_read(prompts, 1) : NULL;
    hw_lowrank_result *r = NULL;
    p->prompts = ps;
    p->kv = s.kv;
    int rc = (prompts && !ps) || hw_lowrank_run(s.m, s.t, p, cli_progress_counted, (void *)cmd, &r);
    cli_progress_done();
    if (!rc) print_lowrank(r);
    if (rc || (out && hw_lowrank_write(r, out))) rc = cli_error(cmd, "%s", hw_last_error());
    hw_lowrank_free(r);
    hw_prompts_free(ps);
    cli_close(&s);
    return rc;
}

static int cmd_lowrank(int argc, char **argv) {
    const char *cmd = "subspace lowrank", *out = NULL, *head = NULL, *prompts = NULL;
    static cli_ints ranks;
    int n_ranks = 0;
    cli_model_flags f = {0};
    hw_lowrank_params p = hw_lowrank_params_default();
    const cli_flag flags[] = {
        CLI_LOAD_FLAGS(&f), CLI_KV_FLAG(&f), {"-o", CLI_STR, &out}, {"--head", CLI_STR, &head},
        {"--input", CLI_FN, &p, .fn = inputs_flag}, {"--prompts", CLI_STR, &prompts},
        {"--ranks", CLI_FN, &ranks, .fn = cli_ints_flag, .n = &n_ranks}, {"--center", CLI_SET, &p.center, 1},
        {"--fit-seed", CLI_U64, &p.fit_seed, 0, 0x1p62}, {"--fit-samples", CLI_INT, &p.fit_samples, 1, 1000000},
        SCORE_TASK_FLAGS(&p.task), {NULL}};
    int rc = cli_parse_flags(cmd, argc, argv, flags, help_lowrank, NULL);
    if (rc) return rc < 0 ? 0 : rc;
    if (!head) return cli_usage_error(cmd, "give --head L.H");
    if (!prompts == !p.task.name) return cli_usage_error(cmd, "give --task T or --prompts FILE (one of them)");
    p.ranks = n_ranks ? ranks.v : NULL;
    p.n_ranks = n_ranks ? ranks.n : 0;
    return lowrank_run(cmd, &f, head, prompts, out, &p);
}

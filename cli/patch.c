/* patch.c: `headwise patch` (activation patching over prompt pairs, hw_patch_run;
 * methods.md section 9) and `headwise patch path` (path patching sender -> receivers,
 * hw_path_patch_run; section 7). */
#include "cli.h"

#include <math.h>

static const char help[] =
    "usage: headwise patch -m MODEL [-z TOKENIZER] (--clean FILE --corrupt FILE | --task T)\n"
    "                      [--hook H] [--direction D] [--direct] -o OUT.json [flags]\n"
    "       headwise patch path --help   path patching, sender heads -> receiver heads\n"
    PAIRS_HELP
    "  --hook H        z (default), pattern, q, k, v: per (layer, head); resid_pre, resid_post,\n"
    "                  attn_out, mlp_out: per (layer, position)\n"
    "  --direction D   denoise (default; clean activation into the corrupted run) or noise\n"
    "                  (corrupted into clean)\n"
    "  --direct        also the direct effect: the component's change at the last position read\n"
    "                  through the final norm (scale held at the clean run's) and W_U\n"
    "  --identity      patch each run with its own activations (checks: 0 denoise, 1 noise)\n"
    "  -o FILE         JSON (per-pair values kept; .tsv: a table); --tsv FILE --html FILE too\n"
    "  --top N         components listed on stdout (default 10; 0: all)\n"
    "  --threads N\n"
    "Values are the normalised metric (0 = corrupted run, 1 = clean run), mean over pairs;\n"
    "components are listed by their distance from the unpatched run (0 denoise, 1 noise).\n";

static const char *const hook_names = "z|pattern|q|k|v|resid_pre|resid_post|attn_out|mlp_out";
static const hw_hook_point hook_points[] = {HW_HOOK_Z, HW_HOOK_PATTERN, HW_HOOK_Q, HW_HOOK_K, HW_HOOK_V,
                                            HW_HOOK_RESID_PRE, HW_HOOK_RESID_POST, HW_HOOK_ATTN_OUT, HW_HOOK_MLP_OUT};

/* "# patch ...", then the components farthest from the unpatched run, ranked by the
 * pooled value (steadier than the mean of per-pair ratios; both printed). */
static void print_patch(const hw_patch_result *r, int top) {
    hw_patch_info in;
    hw_patch_get_info(r, &in);
    double mc, mx;
    hw_patch_result_mean_baseline(r, &mc, &mx);
    char name[64];
    hw_hook_name(name, sizeof name, in.hook, 0);
    printf("# patch %s (%s, %s%s) over %d pairs: mean %s clean %.6f, corrupted %.6f\n", strstr(name, "hook_") + 5,
           in.direction == HW_PATCH_DENOISE ? "denoise" : "noise", in.per_position ? "layer x position" : "layer x head",
           in.identity ? ", identity" : "", in.n_pairs, hw_metric_name(in.metric), mc, mx);
    const double *v = hw_patch_result_mean(r, 0), *pv = hw_patch_result_pooled(r, 0);
    const double *d = hw_patch_result_mean(r, 1), *pd = hw_patch_result_pooled(r, 1);
    int *order = malloc(sizeof(int) * (size_t)(in.rows * in.cols));
    int n = order ? hw_patch_result_rank(r, pv, order) : 0;
    printf("rank\tlayer\t%s\tlabel\tpooled\tmean%s\n", in.per_position ? "pos" : "head",
           d ? "\tpooled_direct\tmean_direct" : "");
    for (int k = 0; k < n && (top <= 0 || k < top); k++) {
        int l = order[k] / in.cols, col = order[k] % in.cols;
        printf("%d\t%d\t%d\t%s\t%.6f\t%.6f", k + 1, l, col, hw_patch_result_label(r, col), pv[order[k]], v[order[k]]);
        if (d) printf("\t%.6f\t%.6f", pd[order[k]], d[order[k]]);
        putchar('\n');
    }
    free(order);
}

static int write_patch(const char *cmd, const pair_flags *a, const hw_patch_result *r) {
    if (hw_patch_result_write(r, a->out) || (a->tsv && hw_patch_result_write(r, a->tsv)) ||
        (a->html && hw_patch_result_write_html(r, a->html)))
        return cli_error(cmd, "%s", hw_last_error());
    return 0;
}

int cmd_patch_path(int argc, char **argv);

int cmd_patch(int argc, char **argv) {
    if (argc > 0 && !strcmp(argv[0], "path")) return cmd_patch_path(argc - 1, argv + 1);
    const char *cmd = "patch";
    pair_flags a = {.samples = 20, .seed = 1, .top = 10};
    hw_patch_params p = hw_patch_params_default();
    int hook = 0, direction = 0;
    const cli_flag flags[] = {PAIR_FLAGS(&a), {"--html", CLI_STR, &a.html},
                              {"--hook", CLI_CHOICE, &hook, .choices = hook_names},
                              {"--direction", CLI_CHOICE, &direction, .choices = "denoise|noise"},
                              {"--direct", CLI_SET, &p.direct, 1}, {"--identity", CLI_SET, &p.identity, 1}, {NULL}};
    int rc = cli_parse_flags(cmd, argc, argv, flags, help, NULL);
    if (rc) return rc < 0 ? 0 : rc;
    p.hook = hook_points[hook];
    p.direction = direction ? HW_PATCH_NOISE : HW_PATCH_DENOISE;
    cli_session s;
    if ((rc = pair_flags_check(cmd, &a, &p.metric)) || (rc = cli_load(cmd, &a.f, 1, &s))) return rc;
    hw_prompt_pairs *pp = pairs_load(cmd, &a, &s);
    hw_patch_result *r = NULL;
    rc = !pp;
    if (!rc && hw_patch_run(s.m, s.t, pp, &p, cli_progress_counted, (void *)cmd, &r))
        rc = cli_error(cmd, "%s", hw_last_error());
    cli_progress_done();
    if (!rc) {
        print_patch(r, a.top);
        rc = write_patch(cmd, &a, r);
    }
    hw_patch_result_free(r);
    hw_prompt_pairs_free(pp);
    cli_close(&s);
    return rc;
}

/* ---------------------------------------------------------------- patch path */

static const char help_path[] =
    "usage: headwise patch path -m MODEL [-z TOKENIZER] (--clean FILE --corrupt FILE | --task T)\n"
    "                           [--senders HEADS] [--receivers HEADS] [--input q,k,v] -o OUT.json\n"
    PAIRS_HELP
    "  --senders HEADS    sender heads L.H[,L.H...] (default: every head)\n"
    "  --receivers HEADS  receiver query heads L.H[,...]; through k and v, the KV head each\n"
    "                     reads (named L.KV.k); default: every head of every layer but the first\n"
    "  --input X[,X...]   the receivers' inputs the sender reaches: q, k, v (default q,k,v)\n"
    "  --mlps             more receivers: every MLP (its input residual gets the change)\n"
    "  --logits           one more receiver: the logits (the sender's direct path)\n"
    "  --preserve F       list the fewest (sender, receiver) paths covering F of the total\n"
    "                     |percent change| (default 0.9)\n"
    "  -o FILE            JSON (per-pair metrics kept; .tsv: a table); --tsv FILE too\n"
    "  --threads N\n"
    "Each sender's corrupted output reaches only the receiver's input, in the clean run; the\n"
    "percent change of the metric against the clean run per (sender, receiver), and 'all':\n"
    "every receiver at once (with every later head's q, k, v, --mlps and --logits:\n"
    "activation patching of the sender).\n";

#define MAX_PATH_HEADS 4096

/* Receivers: heads x inputs (in that nesting), then with extra & 2 every MLP, with extra & 1
 * the logits; n returned, -1 on error. */
static int path_receivers(const char *cmd, const hw_model *m, const char *heads, const char *inputs, int extra,
                          hw_path_receiver *out) {
    const hw_config *cfg = hw_model_config(m);
    static hw_head h[MAX_PATH_HEADS];
    int nh = 0, n = 0;
    if (heads && (nh = hw_heads_parse(m, heads, h, MAX_PATH_HEADS)) < 0)
        return cli_usage_error(cmd, "--receivers: %s", hw_last_error()), -1;
    for (const char *x = inputs; *x; x++) {
        hw_hook_point pt = *x == 'q' ? HW_HOOK_Q : *x == 'k' ? HW_HOOK_K : *x == 'v' ? HW_HOOK_V : HW_HOOK_COUNT;
        if (*x == ',') continue;
        if (pt == HW_HOOK_COUNT || (x[1] && x[1] != ','))
            return cli_usage_error(cmd, "--input: '%s' is not a list of q, k and v", inputs), -1;
        int per = pt == HW_HOOK_Q ? cfg->n_head : cfg->n_kv_head;
        for (int i = 0; i < (heads ? nh : (cfg->n_layer - 1) * per) && n < MAX_PATH_HEADS; i++) {
            /* A query head given for k or v reads its KV head: that one, once. */
            hw_path_receiver r = heads ? (hw_path_receiver){h[i].layer, pt == HW_HOOK_Q ? h[i].head : hw_kv_head(cfg, h[i].head), pt}
                                       : (hw_path_receiver){1 + i / per, i % per, pt};
            int seen = 0;
            for (int k = 0; k < n && !seen; k++) seen = out[k].layer == r.layer && out[k].head == r.head && out[k].input == pt;
            if (!seen) out[n++] = r;
        }
    }
    for (int l = 0; (extra & 2) && cfg->d_ff > 0 && l < cfg->n_layer && n < MAX_PATH_HEADS; l++)
        out[n++] = (hw_path_receiver){l, 0, HW_HOOK_MLP_OUT};
    if (extra & 1) out[n++] = (hw_path_receiver){0, 0, HW_HOOK_LOGITS};
    if (!n) return cli_usage_error(cmd, "no receivers"), -1;
    return n;
}

/* The paths covering --preserve of the total |percent change| (the 'all' column left out). */
static void print_path(const hw_path_patch_result *r, double fraction) {
    const hw_head *snd;
    const hw_path_receiver *rcv;
    int ns = hw_path_patch_senders(r, &snd), nr = hw_path_patch_receivers(r, &rcv), n = ns * nr;
    const double *pc = hw_path_patch_percent(r), *nm = hw_path_patch_normalized(r);
    double *v = malloc(sizeof(double) * (size_t)(n + 1));
    int *keep = malloc(sizeof(int) * (size_t)(n + 1)), k;
    for (int i = 0; v && keep && i < n; i++) v[i] = pc[(i / nr) * (nr + 1) + i % nr];
    k = v && keep ? hw_preserve_elements(v, n, fraction, keep) : -1;
    printf("# path patching: %d senders x %d receivers; %d paths cover %.0f%% of the total |percent change|\n",
           ns, nr, k, 100 * fraction);
    printf("sender\treceiver\tpercent\tnormalized\n");
    int *order = k > 0 ? malloc(sizeof(int) * (size_t)n) : NULL;
    for (int i = 0; order && i < n; i++) v[i] = fabs(v[i]) * keep[i]; /* the kept, largest first */
    if (order) hw_scores_rank(v, n, order);
    for (int j = 0; order && j < k; j++) {
        int i = order[j];
        char name[64];
        hw_path_receiver_name(name, sizeof name, &rcv[i % nr]);
        int at = (i / nr) * (nr + 1) + i % nr;
        printf("%d.%d\t%s\t%.3f\t%.6f\n", snd[i / nr].layer, snd[i / nr].head, name, pc[at], nm[at]);
    }
    free(order);
    for (int a = 0; a < ns; a++)
        printf("%d.%d\tall\t%.3f\t%.6f\n", snd[a].layer, snd[a].head, pc[a * (nr + 1) + nr], nm[a * (nr + 1) + nr]);
    free(v);
    free(keep);
}

static int path_setup(const char *cmd, const cli_session *s, const char *senders, const char *receivers,
                      const char *inputs, int extra, hw_path_patch_params *p) {
    static hw_head snd[MAX_PATH_HEADS];
    static hw_path_receiver rcv[MAX_PATH_HEADS + 1];   /* + the logits */
    const hw_config *cfg = hw_model_config(s->m);
    int ns = 0;
    if (senders && (ns = hw_heads_parse(s->m, senders, snd, MAX_PATH_HEADS)) < 0)
        return cli_usage_error(cmd, "--senders: %s", hw_last_error());
    for (int i = 0; !senders && i < cfg->n_layer * cfg->n_head && i < MAX_PATH_HEADS; i++)
        snd[ns++] = (hw_head){i / cfg->n_head, i % cfg->n_head};
    int nr = path_receivers(cmd, s->m, receivers, inputs, extra, rcv);
    if (nr < 0) return 2;
    p->senders = snd;
    p->n_senders = ns;
    p->receivers = rcv;
    p->n_receivers = nr;
    return 0;
}

int cmd_patch_path(int argc, char **argv) {
    const char *cmd = "patch path", *senders = NULL, *receivers = NULL, *inputs = "q,k,v";
    pair_flags a = {.samples = 20, .seed = 1};
    hw_path_patch_params p = hw_path_patch_params_default();
    int logits = 0, mlps = 0;
    double preserve = 0.9;
    const cli_flag flags[] = {PAIR_FLAGS(&a), {"--senders", CLI_STR, &senders}, {"--receivers", CLI_STR, &receivers},
                              {"--input", CLI_STR, &inputs}, {"--logits", CLI_SET, &logits, 1},
                              {"--mlps", CLI_SET, &mlps, 1},
                              {"--preserve", CLI_DOUBLE, &preserve, 0, 1}, {NULL}};
    int rc = cli_parse_flags(cmd, argc, argv, flags, help_path, NULL);
    if (rc) return rc < 0 ? 0 : rc;
    cli_session s;
    if ((rc = pair_flags_check(cmd, &a, &p.metric)) || (rc = cli_load(cmd, &a.f, 1, &s))) return rc;
    if ((rc = path_setup(cmd, &s, senders, receivers, inputs, logits | mlps << 1, &p))) return cli_close(&s), rc;
    hw_prompt_pairs *pp = pairs_load(cmd, &a, &s);
    hw_path_patch_result *r = NULL;
    rc = !pp;
    if (!rc && hw_path_patch_run(s.m, pp, &p, cli_progress_counted, (void *)cmd, &r))
        rc = cli_error(cmd, "%s", hw_last_error());
    cli_progress_done();
    if (!rc) print_path(r, preserve);
    if (!rc && (hw_path_patch_write(r, a.out) || (a.tsv && hw_path_patch_write(r, a.tsv))))
        rc = cli_error(cmd, "%s", hw_last_error());
    hw_path_patch_result_free(r);
    hw_prompt_pairs_free(pp);
    cli_close(&s);
    return rc;
}

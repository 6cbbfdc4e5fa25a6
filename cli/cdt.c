/* cdt.c: `headwise cdt` (circuits by contextual decomposition, hw_cdt_run; methods.md
 * section 8) over the same prompt pairs as `patch`. */
#include "cli.h"

#include <math.h>

static const char help[] =
    "usage: headwise cdt -m MODEL [-z TOKENIZER] (--clean FILE --corrupt FILE | --task T) -o OUT.json\n"
    "                    [--top N] [--keep X] [--known HEADS] [flags]\n"
    PAIRS_HELP
    "                  (CD-T reads logit-diff only: the relevant part of a logit is linear)\n"
    "  --top N         heads kept per level of the circuit (default 3)\n"
    "  --keep X        ... each at least X times the level's best (default 0.3)\n"
    "  --draws N       random head sets per size for faithfulness (default 20)\n"
    "  --max-size N    the faithfulness curve's largest set (default: every head)\n"
    "  --no-faithfulness  skip the curve (its mean-ablated runs)\n"
    "  --known HEADS   L.H,... a circuit known beforehand: the ROC AUC of relevance against it\n"
    "  -o FILE         JSON (.tsv: a table per head); --tsv FILE --html FILE (the circuit graph)\n"
    "  --top-list N    heads listed by relevant logit difference (default 10; 0: all)\n"
    "  --threads N\n"
    "Each head alone is relevant (beta) in one decomposition per clean prompt: its relevant\n"
    "logit difference, and its share of every later head's q (last position), k and v. The\n"
    "circuit grows back from the output heads through the inputs where senders are most\n"
    "relevant; faithfulness mean-ablates every head outside a set (the corrupted prompts'\n"
    "mean z): 0 = every head ablated, 1 = none.\n";

static const char *const input_name[3] = {"q", "k", "v"};

static void print_cdt(const hw_cdt_result *r, int top) {
    int L, H, n_pairs;
    hw_cdt_result_shape(r, &L, &H, &n_pairs);
    const double *logit = hw_cdt_result_logit(r), *rel = hw_cdt_result_relevance(r);
    int *order = malloc(sizeof(int) * (size_t)(L * H));
    if (order) hw_scores_rank(logit, L * H, order);
    printf("# cdt over %d prompts: heads by relevant logit difference\nrank\thead\tlogit\trelevance\n", n_pairs);
    for (int k = 0; order && k < L * H && (top <= 0 || k < top); k++)
        printf("%d\t%d.%d\t%.6f\t%.4f\n", k + 1, order[k] / H, order[k] % H, logit[order[k]], rel[order[k]]);
    free(order);
    const hw_head *c;
    const hw_cdt_edge *e;
    int nc = hw_cdt_result_circuit(r, &c), ne = hw_cdt_result_circuit_edges(r, &e);
    printf("# circuit: %d heads:", nc);
    for (int k = 0; k < nc; k++) printf(" %d.%d", c[k].layer, c[k].head);
    printf("\nsender\treceiver\tinput\tweight\n");
    for (int k = 0; k < ne; k++)
        printf("%d.%d\t%d.%d\t%s\t%.4f\n", e[k].sender.layer, e[k].sender.head, e[k].receiver.layer, e[k].receiver.head,
               input_name[e[k].input], e[k].weight);
    const double *fc, *fr;
    int n = hw_cdt_result_faithfulness(r, NULL, &fc, &fr);
    if (n >= nc && nc > 0) printf("# faithfulness of the circuit (%d heads) %.4f; random sets of %d: %.4f\n", nc,
                                  fc[nc - 1], nc, fr[nc - 1]);
}

enum { MAX_KNOWN = 1024 };

int cmd_cdt(int argc, char **argv) {
    const char *cmd = "cdt", *known = NULL;
    pair_flags a = {.samples = 20, .seed = 1};
    hw_cdt_params p = hw_cdt_params_default();
    int top_list = 10, no_faith = 0;
    const cli_flag flags[] = {PAIR_FLAGS(&a), {"--html", CLI_STR, &a.html}, {"--keep", CLI_DOUBLE, &p.keep, 0, 1},
                              {"--draws", CLI_INT, &p.random_draws, 0, 100000},
                              {"--max-size", CLI_INT, &p.max_size, 1, 1 << 20},
                              {"--no-faithfulness", CLI_SET, &no_faith, 1}, {"--known", CLI_STR, &known},
                              {"--top-list", CLI_INT, &top_list, 0, 1 << 30}, {NULL}};
    a.top = p.top;
    int rc = cli_parse_flags(cmd, argc, argv, flags, help, NULL);
    if (rc) return rc < 0 ? 0 : rc;
    p.top = a.top, p.faithfulness = !no_faith;
    hw_metric metric = HW_METRIC_LOGIT_DIFF;
    if ((rc = pair_flags_check(cmd, &a, &metric))) return rc;
    if (metric != HW_METRIC_LOGIT_DIFF) return cli_usage_error(cmd, "--metric: CD-T reads logit-diff only");
    if (p.top < 1) return cli_usage_error(cmd, "--top: at least 1");
    cli_session s;
    if ((rc = cli_load(cmd, &a.f, 1, &s))) return rc;
    static hw_head kh[MAX_KNOWN];
    int nk = known ? hw_heads_parse(s.m, known, kh, MAX_KNOWN) : 0;
    if (nk < 0) {
        rc = cli_error(cmd, "--known: %s", hw_last_error());
        cli_close(&s);
        return rc;
    }
    hw_prompt_pairs *pp = pairs_load(cmd, &a, &s);
    hw_cdt_result *r = NULL;
    rc = !pp;
    if (!rc && hw_cdt_run(s.m, pp, &p, cli_progress_counted, (void *)cmd, &r)) rc = cli_error(cmd, "%s", hw_last_error());
    cli_progress_done();
    if (!rc) {
        print_cdt(r, top_list);
        if (nk) printf("# ROC AUC of relevance against the %d known heads: %.4f\n", nk, hw_cdt_roc_auc(r, kh, nk));
    }
    if (!rc && (hw_cdt_result_write(r, a.out) || (a.tsv && hw_cdt_result_write(r, a.tsv)) ||
                (a.html && hw_cdt_result_write_html(r, a.html))))
        rc = cli_error(cmd, "%s", hw_last_error());
    hw_cdt_result_free(r);
    hw_prompt_pairs_free(pp);
    cli_close(&s);
    return rc;
}

/* score_echo.c: `headwise score echo-induction`: RazorAttention's probe (methods.md
 * section 3.1, hw_echo_induction_run): BOS + a random block repeated 4 times, one
 * prefill, echo and induction scores of every head, the per-KV-head max, and the
 * selection of heads that keep a full cache (top 14% by induction + top 1% by echo),
 * with a previous-token score beside them. */
#include "score_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: headwise score echo-induction -m MODEL [flags]\n"
    "  --block N        random block length (default: min(2500, (context - 1) / repeats))\n"
    "  --repeats N      copies of the block (default 4)\n"
    "  --lo A --hi B    block ids drawn uniformly from [A, B) (default [10000, 12500), or\n"
    "                   [V/2, V) for a vocabulary under 12500)\n"
    "  --seed S         random block seed (default 1)\n"
    "  --text TEXT      use TEXT's tokens as the block instead of random ids (for small\n"
    "                   models to which random ids are out of distribution)\n"
    "  --echo-ratio R   share of KV heads kept by echo score (default 0.01)\n"
    "  --induction-ratio R  share kept by induction score (default 0.14)\n"
    "  --agg max|mean   per-KV-head aggregation over its query heads (default max)\n"
    "  --chunk N        query rows per prefill call (default 128; the patterns of one call,\n"
    "                   H x N x keys floats per layer, are what memory it takes)\n"
    "  -o FILE          per query head: echo, induction (the paper's means over T x T),\n"
    "                   echo_mass, induction_mass (mean attention of a query in a repeat on\n"
    "                   the earlier copies / the tokens after them, 0..1), prev_token (mean\n"
    "                   attention on the previous token); .json {\"L-H\": [...]} or .tsv; atomic\n"
    "  --heads-out FILE selected KV heads as a TSV of L rows x Hk columns of 0/1 (the\n"
    "                   layout of DuoAttention's full_attention_heads.tsv)\n"
    "  --top N          rows of the ranked table on stdout (default 20; 0: all)\n"
    "  --threads N\n";

typedef struct {
    const char *model, *tok, *out, *heads_out, *agg;
    long top, threads;
    hw_echo_induction_params p;
} opts;

/* One flag at argv[*i]: 0 if parsed, 1 for --help (printed), 2 on error (reported). */
static int parse_flag(opts *o, int argc, char **argv, int *i) {
    const char *cmd = "score echo-induction", *a = argv[*i];
    hw_echo_induction_params *p = &o->p;
    long v = -2;
    int bad = 0;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) return fputs(help, stdout), 1;
    else if (!strcmp(a, "-m")) bad = cli_value(cmd, argc, argv, i, &o->model);
    else if (!strcmp(a, "-o")) bad = cli_value(cmd, argc, argv, i, &o->out);
    else if (!strcmp(a, "-z")) bad = cli_value(cmd, argc, argv, i, &o->tok);
    else if (!strcmp(a, "--text")) bad = cli_value(cmd, argc, argv, i, &p->text);
    else if (!strcmp(a, "--heads-out")) bad = cli_value(cmd, argc, argv, i, &o->heads_out);
    else if (!strcmp(a, "--agg")) bad = cli_value(cmd, argc, argv, i, &o->agg);
    else if (!strcmp(a, "--block")) bad = cli_int(cmd, argc, argv, i, 1, 1 << 24, &v), p->block = (int)v;
    else if (!strcmp(a, "--repeats")) bad = cli_int(cmd, argc, argv, i, 2, 1000, &v), p->repeats = (int)v;
    else if (!strcmp(a, "--lo")) bad = cli_int(cmd, argc, argv, i, 0, 1L << 30, &v), p->lo = (int)v;
    else if (!strcmp(a, "--hi")) bad = cli_int(cmd, argc, argv, i, 1, 1L << 30, &v), p->hi = (int)v;
    else if (!strcmp(a, "--seed")) bad = cli_int(cmd, argc, argv, i, 0, 1L << 62, &v), p->seed = (uint64_t)v;
    else if (!strcmp(a, "--chunk")) bad = cli_int(cmd, argc, argv, i, 1, 1 << 20, &v), p->chunk = (int)v;
    else if (!strcmp(a, "--top")) bad = cli_int(cmd, argc, argv, i, 0, 1 << 30, &o->top);
    else if (!strcmp(a, "--threads")) bad = cli_int(cmd, argc, argv, i, 0, 1024, &o->threads);
    else if (!strcmp(a, "--echo-ratio")) bad = cli_float(cmd, argc, argv, i, 0, 1, &p->echo_ratio);
    else if (!strcmp(a, "--induction-ratio")) bad = cli_float(cmd, argc, argv, i, 0, 1, &p->induction_ratio);
    else return cli_usage_error(cmd, "unknown flag '%s' (see headwise score echo-induction --help)", a);
    return bad ? 2 : 0;
}

static void print_result(const opts *o, const hw_echo_induction_result *r) {
    hw_echo_induction_info in;
    hw_echo_induction_get_info(r, &in);
    if (in.from_text)
        printf("# echo-induction probe: %d tokens (BOS %s + %d x the %d tokens of --text)\n",
               in.n_tokens, in.first ? "yes" : "no", in.repeats, in.block);
    else
        printf("# echo-induction probe: %d tokens (BOS %s + %d x block of %d, ids in [%d, %d)), "
               "seed %llu\n", in.n_tokens, in.first ? "yes" : "no", in.repeats, in.block, in.lo,
               in.hi, (unsigned long long)in.seed);
    const hw_head_table *tab = hw_echo_induction_table(r);
    score_head_table_print(tab, 0, (int)o->top);
    printf("# selected KV heads (%s over query heads; top %.0f%% induction + %.0f%% echo): %d of %d:",
           o->agg, o->p.induction_ratio * 100, o->p.echo_ratio * 100, in.n_selected,
           tab->n_layer * in.n_kv_head);
    const int *keep = hw_echo_induction_selected(r);
    for (int i = 0; i < tab->n_layer * in.n_kv_head; i++)
        if (keep[i]) printf(" %d.%d", i / in.n_kv_head, i % in.n_kv_head);
    putchar('\n');
}

int cmd_score_echo_induction(int argc, char **argv) {
    const char *cmd = "score echo-induction";
    opts o = {.agg = "max", .top = 20, .p = hw_echo_induction_params_default()};
    for (int i = 0; i < argc; i++) {
        int rc = parse_flag(&o, argc, argv, &i);
        if (rc) return rc == 1 ? 0 : rc;
    }
    if (strcmp(o.agg, "max") && strcmp(o.agg, "mean"))
        return cli_usage_error(cmd, "--agg must be max or mean, not '%s'", o.agg);
    o.p.kv_max = !strcmp(o.agg, "max");
    const char *outs[] = {o.out, o.heads_out};
    if (score_outputs_ok(cmd, outs, 2)) return 1;
    hw_model *m;
    hw_tokenizer *t = NULL;
    if (score_load(cmd, o.model, o.tok, o.p.text != NULL, &m, &t)) return 1;
    if (o.threads) hw_set_threads((int)o.threads);
    hw_echo_induction_result *r = NULL;
    hw_status s = hw_echo_induction_run(m, t, &o.p, score_progress_counted, (void *)cmd, &r);
    score_progress_done();
    int rc = 1;
    if (s) {
        cli_error(cmd, "%s", hw_last_error());
    } else {
        print_result(&o, r);
        if ((o.out && hw_echo_induction_write(r, o.out)) ||
            (o.heads_out && hw_echo_induction_write_selection(r, o.heads_out)))
            cli_error(cmd, "%s", hw_last_error());
        else
            rc = 0;
    }
    hw_echo_induction_free(r);
    hw_tokenizer_free(t);
    hw_model_free(m);
    return rc;
}

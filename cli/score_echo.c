/* score_echo.c: `headwise score echo-induction`: RazorAttention's echo and induction
 * probe (methods.md section 3.1), hw_echo_induction_run. */
#include "cli.h"

static const char help[] =
    "usage: headwise score echo-induction -m MODEL [-z TOKENIZER] [flags]\n"
    "  --block N        random block length (default: min(2500, (context - 1) / repeats))\n"
    "  --repeats N      copies of the block (default 4)\n"
    "  --lo A --hi B    block ids drawn uniformly from [A, B) (default [10000, 12500), or\n"
    "                   [V/2, V) for a vocabulary under 12500); --seed S  their seed (default 1)\n"
    "  --text TEXT      TEXT's tokens as the block instead of random ids (for small models,\n"
    "                   to which random ids are out of distribution); -z TOKENIZER for it\n"
    "  --echo-ratio R   share of KV heads kept by echo score (default 0.01)\n"
    "  --induction-ratio R  share kept by induction score (default 0.14)\n"
    "  --agg max|mean   per-KV-head aggregation over its query heads (default max)\n"
    "  --chunk N        query rows per prefill call (default 128; H x N x keys floats per layer)\n"
    "  -o FILE          per query head: echo, induction (the paper's means over T x T),\n"
    "                   echo_mass, induction_mass (mean attention of a query in a repeat on\n"
    "                   the earlier copies / the tokens after them, 0..1), prev_token (mean\n"
    "                   attention on the previous token); .json {\"L-H\": [...]} or .tsv; atomic\n"
    "  --heads-out FILE selected KV heads as a TSV of L rows x Hk columns of 0/1 (the\n"
    "                   layout of DuoAttention's full_attention_heads.tsv)\n"
    "  --top N          rows of the ranked table on stdout (default 20; 0: all)\n"
    "  --threads N      threads (default: all cores)\n";

static void print_result(const hw_echo_induction_params *p, int top, const hw_echo_induction_result *r) {
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
    score_table_print(tab, 0, top);
    printf("# selected KV heads (%s over query heads; top %.0f%% induction + %.0f%% echo): %d of %d:",
           p->kv_max ? "max" : "mean", p->induction_ratio * 100, p->echo_ratio * 100, in.n_selected,
           tab->n_layer * in.n_kv_head);
    const int *keep = hw_echo_induction_selected(r);
    for (int i = 0; i < tab->n_layer * in.n_kv_head; i++)
        if (keep[i]) printf(" %d.%d", i / in.n_kv_head, i % in.n_kv_head);
    putchar('\n');
}

int cmd_score_echo_induction(int argc, char **argv) {
    const char *cmd = "score echo-induction";
    const char *out = NULL, *heads_out = NULL;
    int top = 20;
    cli_model_flags f = {0};
    hw_echo_induction_params ps = hw_echo_induction_params_default(), *p = &ps;
    const cli_flag flags[] = {
        CLI_LOAD_FLAGS(&f), {"-o", CLI_STR, &out}, {"--text", CLI_STR, &p->text},
        {"--heads-out", CLI_STR, &heads_out}, {"--agg", CLI_CHOICE, &p->kv_max, .choices = "mean|max"},
        {"--block", CLI_INT, &p->block, 1, 1 << 24}, {"--repeats", CLI_INT, &p->repeats, 2, 1000},
        {"--lo", CLI_INT, &p->lo, 0, 1 << 30}, {"--hi", CLI_INT, &p->hi, 1, 1 << 30},
        {"--seed", CLI_U64, &p->seed, 0, 0x1p62}, {"--chunk", CLI_INT, &p->chunk, 1, 1 << 20},
        {"--top", CLI_INT, &top, 0, 1 << 30}, {"--threads", CLI_INT, &f.threads, 0, 1024},
        {"--echo-ratio", CLI_DOUBLE, &p->echo_ratio, 0, 1},
        {"--induction-ratio", CLI_DOUBLE, &p->induction_ratio, 0, 1}, {NULL}};
    int rc = cli_parse_flags(cmd, argc, argv, flags, help, NULL);
    if (rc) return rc < 0 ? 0 : rc;
    const char *outs[] = {out, heads_out};
    cli_session s;
    if (score_outputs_ok(cmd, outs, 2) || cli_load(cmd, &f, p->text != NULL, &s)) return 1;
    hw_echo_induction_result *r = NULL;
    rc = hw_echo_induction_run(s.m, s.t, p, cli_progress_counted, (void *)cmd, &r) ? 1 : 0;
    cli_progress_done();
    if (!rc) print_result(p, top, r);
    if (rc || (out && hw_echo_induction_write(r, out)) ||
        (heads_out && hw_echo_induction_write_selection(r, heads_out)))
        rc = cli_error(cmd, "%s", hw_last_error());
    hw_echo_induction_free(r);
    cli_close(&s);
    return rc;
}

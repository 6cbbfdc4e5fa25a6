/* heads.c: `headwise heads import FILE.json`: read a head-score file in the Retrieval
 * Head layout ({"L-H": [per-trial scores]}, ours or a published head_score JSON file)
 * and rank its heads by mean score (methods.md section 1.1; 1.4: threshold 0.1). */
#include "cli.h"

static const char help[] =
    "usage: headwise heads import FILE.json [flags]\n"
    "  --column K      rank by the K-th value of each list instead of the mean (0-based)\n"
    "  --threshold X   count heads whose score exceeds X (default 0.1, the paper's cut)\n"
    "  -o FILE         ranked scores, atomically: .tsv (layer, head, score, trials), else a\n"
    "                  head-score JSON {\"L-H\": [score]} with each head's score as its one\n"
    "                  value, so that reading it back gives the same scores\n"
    "  --top N         rows on stdout (default 20; 0: all)\n";

/* -o: the table as TSV, or a head-score file holding each head's score as its one value
 * (writing [score, trials] made a re-import read two trials per head). */
static int write_scores(const char *cmd, const char *path, const hw_head_table *t) {
    size_t len = strlen(path);
    if (len >= 4 && !strcmp(path + len - 4, ".tsv"))
        return hw_head_table_write(t, path) ? cli_error(cmd, "%s", hw_last_error()) : 0;
    hw_head_scores *out = hw_head_scores_new(t->n_layer, t->n_head);
    hw_status s = out ? HW_OK : HW_ERR_NOMEM;
    for (int i = 0; !s && i < t->n_layer * t->n_head; i++)
        s = hw_head_scores_append(out, i / t->n_head, i % t->n_head, t->values[i]);
    if (!s) s = hw_head_scores_write(out, path);
    hw_head_scores_free(out);
    return s ? cli_error(cmd, "%s", hw_last_error()) : 0;
}

int cmd_heads(int argc, char **argv) {
    const char *cmd = "heads import", *path = NULL, *out = NULL;
    int top = 20, column = -1;
    double threshold = 0.1;
    if (argc < 1) return fputs(help, stderr), 2;
    const int sub = !strcmp(argv[0], "import");
    if (!sub && strcmp(argv[0], "-h") && strcmp(argv[0], "--help"))
        return cli_usage_error("heads", "unknown subcommand '%s' (try: headwise heads import FILE.json)", argv[0]);
    const cli_flag flags[] = {
        {"-o", CLI_STR, &out}, {"--top", CLI_INT, &top, 0, 1 << 30}, {"--column", CLI_INT, &column, 0, 1 << 20},
        {"--threshold", CLI_DOUBLE, &threshold, -1e300, 1e300}, {NULL}};
    int rc = cli_parse_flags(cmd, argc - sub, argv + sub, flags, help, &path);
    if (rc) return rc < 0 ? 0 : rc;
    if (!path) return cli_usage_error(cmd, "give FILE.json");
    if (score_outputs_ok(cmd, &out, 1)) return 1;
    hw_head_scores *s = hw_head_scores_read(path);
    hw_head_table t;
    if (!s) return cli_error(cmd, "%s", hw_last_error());
    if (!(rc = score_trials_table(cmd, s, column, &t))) {
        const int n = t.n_layer * t.n_head;
        int above = 0, max_n = 0;
        for (int i = 0; i < n; i++) {
            above += t.values[i] > threshold;
            if (t.values[n + i] > max_n) max_n = (int)t.values[n + i];
        }
        printf("# %s: %d layers x %d heads, up to %d values per head; %d heads (%.1f%%) score > %g\n", path,
               t.n_layer, t.n_head, max_n, above, 100.0 * above / n, threshold);
        score_table_print(&t, 0, top);
        rc = out ? write_scores(cmd, out, &t) : 0;
        free((double *)t.values);
    }
    hw_head_scores_free(s);
    return rc;
}

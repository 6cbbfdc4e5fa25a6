/* heads.c: `headwise heads import FILE.json`: read a head-score file in the Retrieval
 * Head layout ({"L-H": [per-trial scores]}, ours or a published head_score JSON file)
 * and rank its heads by mean score (methods.md section 1.1; 1.4: threshold 0.1). */
#include "score_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char help[] =
    "usage: headwise heads import FILE.json [flags]\n"
    "  --column K      rank by the K-th value of each list instead of the mean (0-based)\n"
    "  --threshold X   count heads whose score exceeds X (default 0.1, the paper's cut)\n"
    "  -o FILE         ranked scores, atomically: .tsv (layer, head, score, trials), else a\n"
    "                  head-score JSON {\"L-H\": [score]} with each head's score as its one\n"
    "                  value, so that reading it back gives the same scores\n"
    "  --top N         rows on stdout (default 20; 0: all)\n";

static int ends_with(const char *s, const char *suf) {
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && !strcmp(s + a - b, suf);
}

/* Each head's score (the mean, or the column-th value, 0 if it has none) and its number
 * of values into v (L * H, 2); returns how many exceed threshold (-1: out of memory);
 * *max_n the most values. */
static int head_scores(const hw_head_scores *s, int column, double threshold, double *v, int *max_n) {
    const int H = hw_head_scores_heads(s), n = hw_head_scores_layers(s) * H;
    double *mean = malloc(sizeof(double) * (size_t)n);
    int above = 0;
    if (!mean) return -1;
    *max_n = 0;
    hw_head_scores_mean(s, mean);
    for (int i = 0; i < n; i++) {
        int cnt;
        const double *vals = hw_head_scores_values(s, i / H, i % H, &cnt);
        double x = column < 0 ? mean[i] : column < cnt ? vals[column] : 0;
        v[i * 2] = x;
        v[i * 2 + 1] = cnt;
        above += x > threshold;
        if (cnt > *max_n) *max_n = cnt;
    }
    free(mean);
    return above;
}

/* -o: the table as TSV, or a head-score file holding each head's score as its one value
 * (writing [score, trials] made a re-import read two trials per head). */
static hw_status write_scores(const char *path, const score_table *tab) {
    if (ends_with(path, ".tsv")) return score_table_write("heads import", tab, 0, 0, path) ? HW_ERR_IO : HW_OK;
    hw_head_scores *out = hw_head_scores_new(tab->L, tab->H);
    hw_status s = out ? HW_OK : HW_ERR_NOMEM;
    for (int i = 0; !s && i < tab->L * tab->H; i++) s = hw_head_scores_append(out, i / tab->H, i % tab->H, tab->v[i * 2]);
    if (!s) s = hw_head_scores_write(out, path);
    hw_head_scores_free(out);
    if (s) cli_error("heads import", "%s", hw_last_error());
    return s;
}

int cmd_heads(int argc, char **argv) {
    const char *cmd = "heads import", *path = NULL, *out = NULL;
    int top = 20, column = -1;
    double threshold = 0.1;
    if (argc < 1) return fputs(help, stderr), 2;
    const int sub = !strcmp(argv[0], "import");
    if (!sub && strcmp(argv[0], "-h") && strcmp(argv[0], "--help"))
        return cli_usage_error("heads", "unknown subcommand '%s' (try: headwise heads import FILE.json)", argv[0]);
    const cli_flag flags[] = {{"-o", CLI_STR, &out}, {"--top", CLI_INT, &top, 0, 1 << 30},
                              {"--column", CLI_INT, &column, 0, 1 << 20},
                              {"--threshold", CLI_DOUBLE, &threshold, -1e300, 1e300}, {NULL}};
    int rc = cli_parse_flags(cmd, argc - sub, argv + sub, flags, help, &path);
    if (rc) return rc < 0 ? 0 : rc;
    if (!path) return cli_usage_error(cmd, "give FILE.json");
    if (score_outputs_ok(cmd, &out, 1)) return 1;
    hw_head_scores *s = hw_head_scores_read(path);
    if (!s) return cli_error(cmd, "%s", hw_last_error());
    const int L = hw_head_scores_layers(s), H = hw_head_scores_heads(s);
    int max_trials, above = -1;
    rc = 1;
    double *v = malloc(sizeof(double) * (size_t)L * H * 2);
    if (v) above = head_scores(s, column, threshold, v, &max_trials);
    if (above >= 0) {
        static const char *const cols[] = {"score", "trials"};
        score_table tab = {L, H, 2, cols, v};
        printf("# %s: %d layers x %d heads, up to %d values per head; %d heads (%.1f%%) score > %g\n",
               path, L, H, max_trials, above, 100.0 * above / (L * H), threshold);
        score_table_print(&tab, 0, 0, top);
        rc = out && write_scores(out, &tab) ? 1 : 0;
    } else {
        cli_error(cmd, "out of memory");
    }
    free(v);
    hw_head_scores_free(s);
    return rc;
}

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
    "  -o FILE         ranked scores (.tsv: layer, head, score, trials; .json: {\"L-H\":\n"
    "                  [score]}), atomically\n"
    "  --top N         rows on stdout (default 20; 0: all)\n";

int cmd_heads(int argc, char **argv) {
    const char *cmd = "heads import", *path = NULL, *out = NULL;
    long top = 20, column = -1;
    double threshold = 0.1;
    if (argc < 1 || (!strcmp(argv[0], "-h") || !strcmp(argv[0], "--help")))
        return fputs(help, argc < 1 ? stderr : stdout), argc < 1 ? 2 : 0;
    if (strcmp(argv[0], "import"))
        return cli_usage_error("heads", "unknown subcommand '%s' (try: headwise heads import FILE.json)", argv[0]);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int bad = 0;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return fputs(help, stdout), 0;
        else if (!strcmp(a, "-o")) bad = cli_value(cmd, argc, argv, &i, &out);
        else if (!strcmp(a, "--top")) bad = cli_int(cmd, argc, argv, &i, 0, 1 << 30, &top);
        else if (!strcmp(a, "--column")) bad = cli_int(cmd, argc, argv, &i, 0, 1 << 20, &column);
        else if (!strcmp(a, "--threshold")) bad = cli_float(cmd, argc, argv, &i, -1e300, 1e300, &threshold);
        else if (a[0] == '-' && a[1]) return cli_usage_error(cmd, "unknown flag '%s'", a);
        else if (!path) path = a;
        else return cli_usage_error(cmd, "one file at a time ('%s')", a);
        if (bad) return 2;
    }
    if (!path) return cli_usage_error(cmd, "give FILE.json");
    hw_head_scores *s = hw_head_scores_read(path);
    if (!s) return cli_error(cmd, "%s", hw_last_error());
    const int L = hw_head_scores_layers(s), H = hw_head_scores_heads(s);
    int n = L * H, above = 0, max_trials = 0, rc = 1;
    double *v = malloc(sizeof(double) * (size_t)n * 3), *mean = v ? v + (size_t)n * 2 : NULL;
    if (!v) {
        hw_head_scores_free(s);
        return cli_error(cmd, "out of memory");
    }
    hw_head_scores_mean(s, mean);
    for (int i = 0; i < n; i++) {
        int cnt;
        const double *vals = hw_head_scores_values(s, i / H, i % H, &cnt);
        double x = mean[i];
        if (column >= 0) x = column < cnt ? vals[column] : 0;
        v[i * 2] = x;
        v[i * 2 + 1] = cnt;
        above += x > threshold;
        if (cnt > max_trials) max_trials = cnt;
    }
    static const char *const cols[] = {"score", "trials"};
    score_table tab = {L, H, 2, cols, v};
    printf("# %s: %d layers x %d heads, up to %d values per head; %d heads (%.1f%%) score > %g\n",
           path, L, H, max_trials, above, 100.0 * above / n, threshold);
    score_table_print(&tab, 0, 0, (int)top);
    rc = out ? score_table_write(cmd, &tab, 0, 0, out) : 0;
    free(v);
    hw_head_scores_free(s);
    return rc;
}

/* score_common.c: per-head tables, output checks and task flags for the scoring commands. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>

int score_trials_table(const char *cmd, const hw_head_scores *s, int column, hw_head_table *t) {
    static const char *const cols[] = {"score", "trials"};
    const int H = hw_head_scores_heads(s), n = hw_head_scores_layers(s) * H;
    double *v = malloc(sizeof(double) * 2 * (size_t)n);     /* (2, L, H) */
    if (!v) return cli_error(cmd, "out of memory");
    hw_head_scores_mean(s, v);
    for (int i = 0, cnt; i < n; i++) {
        const double *vals = hw_head_scores_values(s, i / H, i % H, &cnt);
        if (column >= 0) v[i] = column < cnt ? vals[column] : 0;
        v[n + i] = cnt;
    }
    *t = (hw_head_table){hw_head_scores_layers(s), H, 2, cols, v, 0, 0};
    return 0;
}

void score_table_print(const hw_head_table *t, int ascending, int top) {
    const int n = t->n_layer * t->n_head;
    int *order = malloc(sizeof(int) * (size_t)n);
    double *key = malloc(sizeof(double) * (size_t)n);
    for (int i = 0; order && key && i < n; i++) key[i] = (ascending ? -1 : 1) * t->values[t->rank_col * n + i];
    if (order && key) {
        hw_scores_rank(key, n, order);
        printf("rank\thead");
        for (int c = 0; c < t->n_col; c++) printf("\t%s", t->cols[c]);
        putchar('\n');
    }
    for (int r = 0; order && key && r < n && (top <= 0 || r < top); r++) {
        printf("%d\t%d.%d", r + 1, order[r] / t->n_head, order[r] % t->n_head);
        for (int c = 0; c < t->n_col; c++) printf("\t%.4g", t->values[c * n + order[r]]);
        putchar('\n');
    }
    free(order);
    free(key);
}

int score_outputs_ok(const char *cmd, const char *const *paths, int n) {
    for (int k = 0; k < n; k++)
        if (paths[k] && hw_output_prepare(paths[k])) return cli_error(cmd, "%s", hw_last_error());
    return 0;
}

int score_lengths_flag(const char *cmd, const char *flag, const char *value, void *niah_params) {
    (void)flag;
    return hw_niah_parse_lengths(value, niah_params) ? cli_usage_error(cmd, "--%s", hw_last_error()) : 0;
}

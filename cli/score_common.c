/* score_common.c: per-head tables, output checks and task flags for the scoring commands. */
#include "score_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int score_table_write(const char *cmd, const score_table *tab, int rank_col, int ascending,
                      const char *path) {
    /* The library's writer takes columns as (L, H) arrays: transpose. */
    const size_t n = (size_t)tab->L * tab->H;
    double *cols = malloc(sizeof(double) * n * (size_t)tab->n_col);
    if (!cols) return cli_error(cmd, "out of memory");
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < tab->n_col; c++) cols[(size_t)c * n + i] = tab->v[i * (size_t)tab->n_col + c];
    hw_head_table t = {tab->L, tab->H, tab->n_col, tab->cols, cols, rank_col, ascending};
    hw_status s = hw_head_table_write(&t, path);
    free(cols);
    return s ? cli_error(cmd, "%s", hw_last_error()) : 0;
}

/* The ranked rows of a table whose value (head i, column c) is v[i * si + c * sc]. */
static void print_ranked(int L, int H, int n_col, const char *const *cols, const double *v,
                         size_t si, size_t sc, int rank_col, int ascending, int top) {
    int n = L * H;
    int *order = malloc(sizeof(int) * (size_t)n);
    double *key = calloc((size_t)n, sizeof(double));
    if (!order || !key) {
        free(order);
        free(key);
        return;
    }
    for (int i = 0; i < n; i++) key[i] = (ascending ? -1 : 1) * v[i * si + rank_col * sc];
    hw_scores_rank(key, n, order);
    printf("rank\thead");
    for (int c = 0; c < n_col; c++) printf("\t%s", cols[c]);
    putchar('\n');
    for (int r = 0; r < n && (top <= 0 || r < top); r++) {
        int i = order[r];
        printf("%d\t%d.%d", r + 1, i / H, i % H);
        for (int c = 0; c < n_col; c++) printf("\t%.4g", v[i * si + c * sc]);
        putchar('\n');
    }
    free(order);
    free(key);
}

void score_table_print(const score_table *tab, int rank_col, int ascending, int top) {
    print_ranked(tab->L, tab->H, tab->n_col, tab->cols, tab->v, (size_t)tab->n_col, 1, rank_col,
                 ascending, top);
}

void score_head_table_print(const hw_head_table *t, int ascending, int top) {
    print_ranked(t->n_layer, t->n_head, t->n_col, t->cols, t->values, 1,
                 (size_t)t->n_layer * t->n_head, t->rank_col, ascending, top);
}

void score_niah_init(score_niah *n) {
    memset(n, 0, sizeof *n);
    n->p = hw_niah_params_default();
    n->p.haystack_paths = n->hay;
}

int score_lengths_flag(const char *cmd, const char *flag, const char *value, void *dst) {
    (void)flag;
    return hw_niah_parse_lengths(value, dst) ? cli_usage_error(cmd, "--%s", hw_last_error()) : 0;
}

int score_outputs_ok(const char *cmd, const char *const *paths, int n) {
    for (int k = 0; k < n; k++)
        if (paths[k] && hw_output_prepare(paths[k])) return cli_error(cmd, "%s", hw_last_error());
    return 0;
}

/* score_common.c: loading, per-head tables and progress for the scoring commands. */
#include "score_common.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int score_load(const char *cmd, const char *model_path, const char *tok_path, int want_tok,
               hw_model **m, hw_tokenizer **t) {
    *m = NULL;
    if (t) *t = NULL;
    if (t && (want_tok || tok_path)) return cli_load(cmd, model_path, tok_path, m, t);
    if (!model_path) return cli_usage_error(cmd, "no model: give -m MODEL");
    if (!(*m = hw_model_load(model_path))) return cli_error(cmd, "%s", hw_last_error());
    return 0;
}

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

/* Progress with counts, for runs whose stages are names ("prefill", "task days"). */
int score_progress_counted(const char *stage, int64_t done, int64_t total, void *user) {
    if (total > 0) score_progress((const char *)user, "%s %lld/%lld", stage, (long long)done, (long long)total);
    else score_progress((const char *)user, "%s", stage);
    return 0;
}


static int progress_open;
void score_progress(const char *cmd, const char *fmt, ...) {
    int tty = isatty(2);
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "%sheadwise %s: ", tty ? "\r\033[K" : "", cmd);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (!tty) fputc('\n', stderr);
    progress_open = tty;
}
void score_progress_done(void) {
    if (progress_open) fputc('\n', stderr);
    progress_open = 0;
}






int score_task_flag(hw_task_eval_params *p, const char *cmd, int argc, char **argv, int *i) {
    const char *a = argv[*i];
    long v;
    double d;
    if (!strcmp(a, "--task")) return cli_value(cmd, argc, argv, i, &p->name) ? -1 : 1;
    if (!strcmp(a, "--task-seed")) {
        if (cli_int(cmd, argc, argv, i, 0, 1L << 62, &v)) return -1;
        p->seed = (uint64_t)v;
    } else if (!strcmp(a, "--samples")) {
        if (cli_int(cmd, argc, argv, i, 1, 1000000, &v)) return -1;
        p->samples = (int)v;
    } else if (!strcmp(a, "--task-depth")) {
        if (cli_float(cmd, argc, argv, i, -1, 1, &d)) return -1;
        p->depth = (float)d;
    } else if (!strcmp(a, "--task-symbols")) {
        if (cli_int(cmd, argc, argv, i, 1, 1 << 20, &v)) return -1;
        p->n_symbols = (int)v;
    } else {
        return 0;
    }
    return 1;
}

void score_niah_init(score_niah *n) {
    memset(n, 0, sizeof *n);
    n->p = hw_niah_params_default();
    n->p.haystack_paths = n->hay;
}

/* An int flag of the needle-in-a-haystack set into *out. */
static int niah_int(const char *cmd, int argc, char **argv, int *i, long lo, long hi, int *out) {
    long v;
    if (cli_int(cmd, argc, argv, i, lo, hi, &v)) return -1;
    *out = (int)v;
    return 1;
}

int score_niah_flag(score_niah *n, const char *cmd, int argc, char **argv, int *i) {
    const char *a = argv[*i], *v;
    int r = 0;
    if (!strcmp(a, "--needles")) r = cli_value(cmd, argc, argv, i, &n->p.needles_path) ? -1 : 1;
    else if (!strcmp(a, "--template")) r = cli_value(cmd, argc, argv, i, &n->p.template_text) ? -1 : 1;
    else if (!strcmp(a, "--depths")) r = niah_int(cmd, argc, argv, i, 1, 1000, &n->p.n_depths);
    else if (!strcmp(a, "--buffer")) r = niah_int(cmd, argc, argv, i, 0, 1 << 24, &n->p.buffer);
    else if (!strcmp(a, "--max-new")) r = niah_int(cmd, argc, argv, i, 1, 100000, &n->p.max_new);
    else if (!strcmp(a, "--lengths")) {
        if (cli_value(cmd, argc, argv, i, &v)) return -1;
        if (hw_niah_parse_lengths(v, &n->p)) return cli_usage_error(cmd, "--%s", hw_last_error()), -1;
        r = 1;
    } else if (!strcmp(a, "--haystack")) {
        if (n->p.n_haystacks == SCORE_MAX_HAYSTACKS)
            return cli_usage_error(cmd, "at most %d --haystack files", SCORE_MAX_HAYSTACKS), -1;
        if (cli_value(cmd, argc, argv, i, &n->hay[n->p.n_haystacks])) return -1;
        n->p.n_haystacks++;
        r = 1;
    }
    n->given |= r == 1;
    return r;
}

int score_progress_fn(const char *stage, int64_t done, int64_t total, void *user) {
    score_progress(user, "%s", stage);
    return 0;
}

int score_outputs_ok(const char *cmd, const char *const *paths, int n) {
    for (int k = 0; k < n; k++)
        if (paths[k] && hw_output_prepare(paths[k])) return cli_error(cmd, "%s", hw_last_error());
    return 0;
}

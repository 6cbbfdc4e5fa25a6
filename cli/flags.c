/* flags.c: the flag table parser, the error and progress lines of every command, and the
 * per-head tables and output checks of the scoring commands. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <time.h>
#include <unistd.h>

/* "<lead>headwise <cmd>: <what><message><end>" on stderr, from a function's (fmt, ...). */
#define LINE(lead, what, end)                                                                      \
    do {                                                                                           \
        va_list ap;                                                                                \
        va_start(ap, fmt);                                                                         \
        fprintf(stderr, "%sheadwise %s: %s", lead, cmd, what);                                     \
        vfprintf(stderr, fmt, ap);                                                                 \
        fputs(end, stderr);                                                                        \
        va_end(ap);                                                                                \
    } while (0)

int cli_error(const char *cmd, const char *fmt, ...) {
    LINE("", "", "\n");
    return 1;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    LINE("", "", "\n");
    return 2;
}

void cli_warn(const char *cmd, const char *fmt, ...) { LINE("", "warning: ", "\n"); }

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int progress_open;   /* a terminal line is drawn and not yet ended */

void cli_progress(const char *cmd, const char *fmt, ...) {
    progress_open = isatty(2);
    LINE(progress_open ? "\r\033[K" : "", "", progress_open ? "" : "\n");
    fflush(stderr);
}

void cli_progress_done(void) {
    if (progress_open) fputc('\n', stderr);
    progress_open = 0;
}

int cli_progress_stage(const char *stage, int64_t done, int64_t total, void *user) {
    cli_progress(user, "%s", stage);
    return 0;
}

int cli_progress_counted(const char *stage, int64_t done, int64_t total, void *user) {
    cli_progress(user, total > 0 ? "%s %lld/%lld" : "%s", stage, (long long)done, (long long)total);
    return 0;
}

int cli_number(const char *s, double *out) {
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    /* strtod takes "nan" and "inf", and turns 1e400 into HUGE_VAL with ERANGE. */
    if (errno || end == s || *end || !isfinite(x)) return 1;
    *out = x;
    return 0;
}

/* The value v of flag f into its destination; 0, or 2 after reporting. */
static int set(const char *cmd, const cli_flag *f, const char *v) {
    double x = 0;
    if (f->kind == CLI_INT || f->kind == CLI_U64) {
        char *end;
        errno = 0;
        long l = strtol(v, &end, 10);
        if (errno || end == v || *end || l < (long)f->lo || l > (long)f->hi)
            return cli_usage_error(cmd, "flag %s: '%s' is not an integer in [%ld, %ld]", f->name, v,
                                   (long)f->lo, (long)f->hi);
        if (f->kind == CLI_INT) *(int *)f->dst = (int)l;
        else *(uint64_t *)f->dst = (uint64_t)l;
    } else if (f->kind == CLI_FLOAT || f->kind == CLI_DOUBLE) {
        if (cli_number(v, &x) || !(x >= f->lo && x <= f->hi))
            return cli_usage_error(cmd, "flag %s: '%s' is not a number in [%g, %g]", f->name, v, f->lo, f->hi);
        if (f->kind == CLI_FLOAT) *(float *)f->dst = (float)x;
        else *(double *)f->dst = x;
    } else if (f->kind == CLI_CHOICE) {
        int k = 0;
        for (const char *c = f->choices;; c += strcspn(c, "|") + 1, k++) {
            size_t len = strcspn(c, "|");
            if (strlen(v) == len && !strncmp(c, v, len)) return *(int *)f->dst = k, 0;
            if (!c[len]) break;
        }
        return cli_usage_error(cmd, "flag %s: '%s' is not one of %s", f->name, v, f->choices);
    } else if (f->kind == CLI_LIST) {
        if (*f->n == (int)f->hi) return cli_usage_error(cmd, "at most %d %s flags", (int)f->hi, f->name);
        ((const char **)f->dst)[*f->n] = v;
    } else if (f->kind == CLI_FN) {
        return f->fn(cmd, f->name, v, f->dst);
    } else {
        *(const char **)f->dst = v;
    }
    return 0;
}

int cli_parse_flags(const char *cmd, int argc, char **argv, const cli_flag *flags,
                    const char *help, const char **pos) {
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const cli_flag *f = flags;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) return fputs(help, stdout), -1;
        while (f->name && strcmp(f->name, a)) f++;
        if (!f->name && (a[0] != '-' || !a[1]) && pos && !*pos) {
            *pos = a;
            continue;
        }
        if (!f->name) return cli_usage_error(cmd, "unknown %s '%s' (see headwise %s --help)",
                                             a[0] == '-' && a[1] ? "flag" : "argument", a, cmd);
        if (f->kind == CLI_SET) *(int *)f->dst = (int)f->lo;
        else if (i + 1 >= argc) return cli_usage_error(cmd, "flag %s needs a value", a);
        else if (set(cmd, f, argv[++i])) return 2;
        if (f->n) ++*f->n;
    }
    return 0;
}

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
    return hw_niah_parse_lengths(value, niah_params) ? cli_usage_error(cmd, "--%s", hw_last_error()) : 0;
}

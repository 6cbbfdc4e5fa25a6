/* flags.c: the flag table parser, and the error and progress lines of every command. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* choices "a|b|c" as "a, b or c". */
static void print_choices(const char *c) {
    for (const char *bar; (bar = strchr(c, '|')); c = bar + 1)
        fprintf(stderr, "%.*s%s", (int)(bar - c), c, strchr(bar + 1, '|') ? ", " : " or ");
    fprintf(stderr, "%s\n", c);
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
        fprintf(stderr, "headwise %s: flag %s: '%s' is not ", cmd, f->name, v);
        print_choices(f->choices);
        return 2;
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

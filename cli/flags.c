/* flags.c: flag values and error lines shared by every command. */
#include "cli.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int report(int status, const char *cmd, const char *fmt, va_list ap) {
    fprintf(stderr, "headwise %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    return status;
}

int cli_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int s = report(1, cmd, fmt, ap);
    va_end(ap);
    return s;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int s = report(2, cmd, fmt, ap);
    va_end(ap);
    return s;
}

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void cli_warn(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "headwise %s: warning: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_value(const char *cmd, int argc, char **argv, int *i, const char **out) {
    if (*i + 1 >= argc) return cli_usage_error(cmd, "flag %s needs a value", argv[*i]);
    *out = argv[++*i];
    return 0;
}

int cli_int(const char *cmd, int argc, char **argv, int *i, long lo, long hi, long *out) {
    const char *v;
    if (cli_value(cmd, argc, argv, i, &v)) return 2;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi)
        return cli_usage_error(cmd, "flag %s: '%s' is not an integer in [%ld, %ld]", argv[*i - 1],
                               v, lo, hi);
    *out = x;
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

int cli_float(const char *cmd, int argc, char **argv, int *i, double lo, double hi, double *out) {
    const char *v;
    double x;
    if (cli_value(cmd, argc, argv, i, &v)) return 2;
    if (cli_number(v, &x) || !(x >= lo && x <= hi))
        return cli_usage_error(cmd, "flag %s: '%s' is not a number in [%g, %g]", argv[*i - 1], v,
                               lo, hi);
    *out = x;
    return 0;
}

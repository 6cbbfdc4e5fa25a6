/*
 * check.h: the test harness. Each test program runs named cases; a case passes
 * when none of its CHECKs failed. Every case prints "PASS name" or "FAIL name";
 * tests/run.sh counts those lines, and a program that exits non-zero without
 * reporting a failure (a crash) counts as one more failure.
 */
#ifndef HW_CHECK_H
#define HW_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check_case_failed, check_total_failed;

#define CHECK(cond, ...)                                                       \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "  %s:%d: CHECK(%s) failed: ", __FILE__, __LINE__, \
                    #cond);                                                    \
            fprintf(stderr, __VA_ARGS__);                                      \
            fprintf(stderr, "\n");                                             \
            check_case_failed = 1;                                             \
        }                                                                      \
    } while (0)

/* Run fn as a case named name. */
#define RUN(fn)                                                                \
    do {                                                                       \
        check_case_failed = 0;                                                 \
        fn();                                                                  \
        printf("%s %s\n", check_case_failed ? "FAIL" : "PASS", #fn);           \
        fflush(stdout);                                                        \
        check_total_failed += check_case_failed;                               \
    } while (0)

#define CHECK_DONE() return check_total_failed ? 1 : 0

/* Path of a file under the shared folder ($HW_SHARED, default ../shared). */
static inline const char *shared_path(const char *rel) {
    static char buf[8][1024];
    static int next;
    const char *root = getenv("HW_SHARED");
    char *out = buf[next++ % 8];
    snprintf(out, sizeof buf[0], "%s/%s", root ? root : "../shared", rel);
    return out;
}

/* Largest |a - b| over n floats. */
static inline float max_abs_diff(const float *a, const float *b, size_t n) {
    float m = 0;
    for (size_t i = 0; i < n; i++) {
        float d = fabsf(a[i] - b[i]);
        if (d > m || d != d) m = d != d ? INFINITY : d;
    }
    return m;
}

#endif

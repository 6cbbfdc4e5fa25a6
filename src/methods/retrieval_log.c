/* retrieval_log.c: the Retrieval Head score's trial log (OUT.trials), which lets an
 * interrupted `score retrieval` resume (format in protocols.h). The log is headed by
 * every setting the trials depend on: resuming from a log written with other settings
 * once gave "0 of -20 new" and a silently wrong score, so a difference is now refused,
 * naming the setting. */
#include "retrieval_log.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SETTING "# setting "

/* The value of setting `name` (its length in *len) in a block of "# setting" lines, or
 * NULL. */
static const char *find_setting(const char *block, const char *name, size_t name_len, size_t *len) {
    for (const char *l = block; l && *l;) {
        const char *nl = strchr(l, '\n'), *end = nl ? nl : l + strlen(l);
        if (!strncmp(l, SETTING, strlen(SETTING))) {
            const char *n = l + strlen(SETTING), *sp = memchr(n, ' ', (size_t)(end - n));
            size_t nlen = sp ? (size_t)(sp - n) : (size_t)(end - n);
            if (nlen == name_len && !strncmp(n, name, name_len)) {
                const char *v = sp ? sp + 1 : end;
                *len = (size_t)(end - v);
                return v;
            }
        }
        l = nl ? nl + 1 : NULL;
    }
    return NULL;
}

/* A setting's value for an error line: quoted, cut to 60 bytes, or "absent". */
static void show_value(char *out, size_t cap, const char *v, size_t len) {
    if (!v) snprintf(out, cap, "absent");
    else snprintf(out, cap, "'%.*s%s'", (int)(len < 60 ? len : 60), v, len > 60 ? "..." : "");
}

/* Compare the logged settings with the run's, both ways; the first difference is the
 * error. */
static hw_status compare_settings(const char *path, const char *logged, const char *now) {
    if (!*logged)
        return hw_fail(HW_ERR_FORMAT, "%s has no settings (written by an older headwise): delete it to "
                       "start over", path);
    const char *blocks[2] = {now, logged};
    for (int side = 0; side < 2; side++)
        for (const char *l = blocks[side]; *l;) {
            const char *nl = strchr(l, '\n'), *end = nl ? nl : l + strlen(l);
            const char *n = l + strlen(SETTING), *sp = memchr(n, ' ', (size_t)(end - n));
            size_t nlen = sp ? (size_t)(sp - n) : (size_t)(end - n), a_len = 0, b_len = 0;
            const char *a = find_setting(logged, n, nlen, &a_len), *b = find_setting(now, n, nlen, &b_len);
            if (!a || !b || a_len != b_len || memcmp(a, b, a_len)) {
                char there[80], here[80];
                show_value(there, sizeof there, a, a_len);
                show_value(here, sizeof here, b, b_len);
                return hw_fail(HW_ERR_ARG, "%s was written with other settings: %.*s is %s there, %s now; "
                               "delete it to start over, or write elsewhere", path, (int)nlen, n, there, here);
            }
            l = nl ? nl + 1 : end;
        }
    return HW_OK;
}

static int key_cmp(const void *a, const void *b) {
    const hw_trial_key *x = a, *y = b;
    if (x->needle != y->needle) return x->needle < y->needle ? -1 : 1;
    if (x->length != y->length) return x->length < y->length ? -1 : 1;
    return x->depth < y->depth ? -1 : x->depth > y->depth;
}

/* keys sorted with their grid index after them: bsearch finds a logged trial. */
typedef struct {
    hw_trial_key k;
    int index;
} indexed_key;

/* One trial line: its key's grid index into *index, and the counted trial's scores
 * appended to s. */
static hw_status read_trial(const char *path, int line_no, char *line, int L, int H,
                            const indexed_key *sorted, int n_keys, unsigned char *done, int *index,
                            hw_head_scores *s) {
    int ok, used = 0;
    indexed_key k;
    double rouge;
    if (sscanf(line, "%d\t%d\t%d\t%lf\t%d\t%n", &k.k.needle, &k.k.length, &k.k.depth, &rouge, &ok, &used) != 5 ||
        !used || (ok != 0 && ok != 1))
        return hw_fail(HW_ERR_FORMAT, "%s:%d: malformed trial line", path, line_no);
    const indexed_key *f = bsearch(&k, sorted, (size_t)n_keys, sizeof k, key_cmp);
    if (!f)
        return hw_fail(HW_ERR_FORMAT, "%s:%d: trial (needle %d, length %d, depth %d) is not one of this "
                       "run's", path, line_no, k.k.needle, k.k.length, k.k.depth);
    if (done[f->index]) return hw_fail(HW_ERR_FORMAT, "%s:%d: a trial logged twice", path, line_no);
    *index = f->index;
    if (!ok) return HW_OK;
    char *p = line + used;
    for (int i = 0; i < L * H; i++) {
        char *end;
        double v = strtod(p, &end);
        if (end == p || *p == '\t' || *p == ' ' || !isfinite(v) || (*end != ',' && *end != '\t' && *end != '\n') ||
            (i < L * H - 1 && *end != ','))
            return hw_fail(HW_ERR_FORMAT, "%s:%d: expected %d head scores", path, line_no, L * H);
        if (hw_head_scores_append(s, i / H, i % H, v)) return HW_ERR_NOMEM;
        p = end + (*end == ',');
    }
    return HW_OK;
}

hw_status hw_retrieval_log_read(const char *path, int L, int H, const char *settings,
                                const hw_trial_key *keys, int n_keys, unsigned char *done,
                                int *n_done, hw_head_scores *s, long *good_end) {
    *n_done = 0;
    *good_end = 0;
    FILE *f = fopen(path, "r");
    if (!f) return errno == ENOENT ? HW_OK : hw_fail(HW_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    indexed_key *sorted = malloc(sizeof *sorted * (size_t)(n_keys ? n_keys : 1));
    char *line = NULL, *logged = calloc(1, 1);
    size_t cap = 0, logged_len = 0;
    long at = 0;
    int line_no = 0, in_header = 1;
    hw_status st = sorted && logged ? HW_OK : hw_fail(HW_ERR_NOMEM, "out of memory");
    for (int i = 0; i < n_keys && !st; i++) sorted[i] = (indexed_key){keys[i], i};
    if (!st) qsort(sorted, (size_t)n_keys, sizeof *sorted, key_cmp);
    ssize_t len;
    while (!st && (len = getline(&line, &cap, f)) > 0) {
        line_no++;
        if (line[len - 1] != '\n') break; /* a torn last line from an interrupted run */
        if (line_no == 1) {
            int l, h;
            if (sscanf(line, "# headwise retrieval trials L %d H %d", &l, &h) != 2 || l != L || h != H)
                st = hw_fail(HW_ERR_FORMAT, "%s: not a trial log of this model (%d x %d heads)", path, L, H);
        } else if (in_header && !strncmp(line, SETTING, strlen(SETTING))) {
            char *nl = realloc(logged, logged_len + (size_t)len + 1);
            if (!nl) st = hw_fail(HW_ERR_NOMEM, "out of memory");
            else memcpy((logged = nl) + logged_len, line, (size_t)len + 1), logged_len += (size_t)len;
        } else if (line[0] != '#') {
            if (in_header && (st = compare_settings(path, logged, settings))) break;
            in_header = 0;
            int index = 0;
            if (!(st = read_trial(path, line_no, line, L, H, sorted, n_keys, done, &index, s))) {
                done[index] = 1;
                ++*n_done;
            }
        }
        at += (long)len;
    }
    /* A log that ends after its settings still has to match them. */
    if (!st && in_header && at > 0) st = compare_settings(path, logged, settings);
    if (!st) *good_end = at;
    free(line);
    free(logged);
    free(sorted);
    fclose(f);
    return st;
}

FILE *hw_retrieval_log_open(const char *path, int L, int H, const char *settings, long good_end) {
    if (good_end > 0 && truncate(path, good_end) != 0)
        return hw_fail(HW_ERR_IO, "cannot write %s: %s", path, strerror(errno)), NULL;
    FILE *f = fopen(path, good_end > 0 ? "a" : "w");
    if (!f) return hw_fail(HW_ERR_IO, "cannot write %s: %s", path, strerror(errno)), NULL;
    if (good_end <= 0) fprintf(f, "# headwise retrieval trials L %d H %d\n%s", L, H, settings);
    if (fflush(f) != 0) {
        hw_fail(HW_ERR_IO, "cannot write %s: %s", path, strerror(errno));
        fclose(f);
        return NULL;
    }
    return f;
}

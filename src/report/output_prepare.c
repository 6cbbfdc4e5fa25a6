/* output_prepare.c: make an output file's folder and check it can be written, before a
 * protocol's long work: `score retrieval` and `mask-test` used to compute for minutes
 * and then fail on an unwritable -o. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* mkdir -p of the folder part of path (nothing when it has none). */
static hw_status make_parents(const char *path) {
    char *dir = strdup(path);
    if (!dir) return hw_fail(HW_ERR_NOMEM, "out of memory");
    char *slash = strrchr(dir, '/');
    hw_status s = HW_OK;
    if (slash && slash != dir) {
        *slash = 0;
        /* Each prefix ending before a '/', then the whole folder. */
        for (char *p = dir + 1;; p++) {
            int end = *p == 0;
            if (*p != '/' && !end) continue;
            *p = 0;
            struct stat st;
            if (stat(dir, &st) != 0) {
                if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
                    s = hw_fail(HW_ERR_IO, "cannot create folder %s: %s", dir, strerror(errno));
                    break;
                }
            } else if (!S_ISDIR(st.st_mode)) {
                s = hw_fail(HW_ERR_IO, "cannot write %s: %s is not a folder", path, dir);
                break;
            }
            if (end) break;
            *p = '/';
        }
    }
    free(dir);
    return s;
}

hw_status hw_output_prepare(const char *path) {
    if (!path || !*path) return hw_fail(HW_ERR_ARG, "no output path");
    hw_status s = make_parents(path);
    if (s) return s;
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return hw_fail(HW_ERR_IO, "cannot write %s: it is a folder", path);
    /* The same temporary name hw_atomic_open uses, so the check needs what the write
     * will need: a file created in that folder. */
    hw_atomic_file *a = hw_atomic_open(path);
    if (!a) return HW_ERR_IO;
    hw_atomic_abort(a);
    return HW_OK;
}

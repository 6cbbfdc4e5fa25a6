/*
 * atomic_file.c: write a result file so that it is either whole or absent.
 *
 * The data goes to "PATH.tmp.PID" in the same directory, is flushed and
 * fsync'd, and is renamed over PATH only when every write succeeded; a crash
 * or kill in between leaves PATH as it was (and at worst a stray .tmp file).
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct hw_atomic_file {
    FILE *f;
    char *path, *tmp;
};

hw_atomic_file *hw_atomic_open(const char *path) {
    hw_atomic_file *a = calloc(1, sizeof *a);
    size_t n = strlen(path) + 32;
    if (!a || !(a->path = strdup(path)) || !(a->tmp = malloc(n))) {
        hw_atomic_abort(a);
        hw_fail(HW_ERR_NOMEM, "out of memory opening %s", path);
        return NULL;
    }
    snprintf(a->tmp, n, "%s.tmp.%ld", path, (long)getpid());
    if (!(a->f = fopen(a->tmp, "wb"))) {
        hw_fail(HW_ERR_IO, "cannot write %s: %s", a->tmp, strerror(errno));
        hw_atomic_abort(a);
        return NULL;
    }
    return a;
}

FILE *hw_atomic_stream(hw_atomic_file *a) { return a->f; }

hw_status hw_atomic_commit(hw_atomic_file *a) {
    if (!a) return hw_fail(HW_ERR_ARG, "hw_atomic_commit: no file");
    int bad = ferror(a->f) || fflush(a->f) != 0 || fsync(fileno(a->f)) != 0;
    int err = errno;
    bad |= fclose(a->f) != 0;
    a->f = NULL;
    if (bad || rename(a->tmp, a->path) != 0) {
        hw_status s = hw_fail(HW_ERR_IO, "cannot write %s: %s", a->path,
                              strerror(bad ? err : errno));
        hw_atomic_abort(a);
        return s;
    }
    free(a->tmp);
    free(a->path);
    free(a);
    return HW_OK;
}

void hw_atomic_abort(hw_atomic_file *a) {
    if (!a) return;
    if (a->f) fclose(a->f);
    if (a->tmp) remove(a->tmp);
    free(a->tmp);
    free(a->path);
    free(a);
}

hw_status hw_write_file_atomic(const char *path, const void *data, size_t n) {
    hw_atomic_file *a = hw_atomic_open(path);
    if (!a) return HW_ERR_IO;
    if (n && fwrite(data, 1, n, a->f) != n) {
        hw_atomic_abort(a);
        return hw_fail(HW_ERR_IO, "cannot write %s: short write", path);
    }
    return hw_atomic_commit(a);
}

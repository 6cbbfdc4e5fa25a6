/* output_paths.c: output folders and files made ready before the work that fills them,
 * so a run that would end on an unwritable path fails in its first second instead of
 * after minutes of compute (`score retrieval`, `mask-test`, `run -o` used to). */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

hw_status hw_dir_create(const char *dir) {
    char path[4096];
    if (!dir || !*dir) return hw_fail(HW_ERR_ARG, "hw_dir_create: no folder given");
    if (strlen(dir) >= sizeof path) return hw_fail(HW_ERR_ARG, "%s: path too long", dir);
    strcpy(path, dir);
    /* Each parent in turn, as mkdir -p; one that exists (as anything) is left to the
     * next mkdir to complain about. */
    for (char *p = path + 1; *p; p++) {
        if (*p != '/' || p[-1] == '/') continue;
        *p = 0;
        if (mkdir(path, 0777) != 0 && errno != EEXIST)
            return hw_fail(HW_ERR_IO, "%s: cannot create the folder %s: %s", dir, path,
                           strerror(errno));
        *p = '/';
    }
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
        return hw_fail(HW_ERR_IO, "%s: cannot create the folder: %s", dir, strerror(errno));
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return hw_fail(HW_ERR_IO, "%s: exists and is not a folder", dir);
    if (access(dir, W_OK | X_OK) != 0)
        return hw_fail(HW_ERR_IO, "%s: cannot write in the folder: %s", dir, strerror(errno));
    return HW_OK;
}

hw_status hw_output_prepare(const char *path) {
    if (!path || !*path) return hw_fail(HW_ERR_ARG, "no output path");
    const char *slash = strrchr(path, '/');
    if (slash && slash != path) {
        char *dir = strndup(path, (size_t)(slash - path));
        if (!dir) return hw_fail(HW_ERR_NOMEM, "out of memory");
        hw_status s = hw_dir_create(dir);
        free(dir);
        if (s) {
            char why[512];
            snprintf(why, sizeof why, "%s", hw_last_error());
            return hw_fail(s, "cannot write %s: %s", path, why);
        }
    }
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

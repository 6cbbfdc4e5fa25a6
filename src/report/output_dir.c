/*
 * output_dir.c: an output folder made before the work that fills it, so a run that would
 * end on an unwritable path fails in its first second instead of after the compute.
 */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
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

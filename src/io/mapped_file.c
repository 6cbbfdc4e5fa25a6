/* mapped_file.c: read-only mmap of a whole file, the home of every weight. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* What an empty file maps to: a valid pointer, so that readers may form
 * data + size (pointer arithmetic on NULL is undefined even for + 0). */
static const uint8_t empty_file[1];

hw_status hw_file_map(hw_mapped_file *f, const char *path) {
    f->data = NULL;
    f->size = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return hw_fail(HW_ERR_IO, "%s: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return hw_fail(HW_ERR_IO, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return hw_fail(HW_ERR_IO, "%s: not a regular file", path);
    }
    if (st.st_size == 0) { /* mmap of 0 bytes fails; an empty map is valid */
        close(fd);
        f->data = empty_file;
        return HW_OK;
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED) return hw_fail(HW_ERR_IO, "%s: mmap: %s", path, strerror(e));
    f->data = p;
    f->size = (size_t)st.st_size;
    return HW_OK;
}

void hw_file_unmap(hw_mapped_file *f) {
    if (f && f->data && f->size) munmap((void *)f->data, f->size);
    if (f) {
        f->data = NULL;
        f->size = 0;
    }
}

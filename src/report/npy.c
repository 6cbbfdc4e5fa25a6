/*
 * npy.c: NumPy .npy files (format version 1.0), readable by numpy.load.
 *
 * Layout: magic "\x93NUMPY", version 1.0, a little-endian u16 header length,
 * then a Python dict literal padded with spaces and ending in '\n' so that the
 * data starts on a 64-byte boundary, then the float32 values in C order.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

hw_status hw_npy_write(const char *path, const float *data, int ndim, const int64_t *shape) {
    if (ndim < 0 || ndim > 8) return hw_fail(HW_ERR_ARG, "npy: %d dimensions", ndim);
    char dict[512];
    int n = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return hw_fail(HW_ERR_ARG, "npy: negative dimension");
        count *= (size_t)shape[i];
        n += snprintf(dict + n, sizeof dict - n, "%lld%s", (long long)shape[i],
                      ndim == 1 ? "," : i + 1 < ndim ? ", " : "");
    }
    n += snprintf(dict + n, sizeof dict - n, "), }");
    /* 10 bytes of preamble + dict + padding + '\n' is a multiple of 64. */
    size_t total = 10 + (size_t)n + 1;
    size_t pad = (64 - total % 64) % 64;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0, 0};
    size_t hlen = (size_t)n + pad + 1;
    pre[8] = (unsigned char)(hlen & 0xff);
    pre[9] = (unsigned char)(hlen >> 8);

    hw_atomic_file *a = hw_atomic_open(path);
    if (!a) return HW_ERR_IO;
    FILE *f = hw_atomic_stream(a);
    fwrite(pre, 1, sizeof pre, f);
    fwrite(dict, 1, (size_t)n, f);
    for (size_t i = 0; i < pad; i++) fputc(' ', f);
    fputc('\n', f);
    /* x86-64 is little-endian, as '<f4' says. */
    if (count && fwrite(data, sizeof(float), count, f) != count) {
        hw_atomic_abort(a);
        return hw_fail(HW_ERR_IO, "cannot write %s: short write", path);
    }
    return hw_atomic_commit(a);
}

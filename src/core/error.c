/* error.c: status names and the per-thread message behind hw_last_error(). */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_error[512];

const char *hw_status_str(hw_status s) {
    switch (s) {
    case HW_OK: return "ok";
    case HW_ERR_IO: return "i/o error";
    case HW_ERR_FORMAT: return "malformed input";
    case HW_ERR_UNSUPPORTED: return "unsupported";
    case HW_ERR_ARG: return "bad argument";
    case HW_ERR_RANGE: return "out of range";
    case HW_ERR_NOMEM: return "out of memory";
    }
    return "unknown status";
}

const char *hw_last_error(void) { return last_error; }

hw_status hw_fail(hw_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    /* One line, always: a name quoted from a file may hold control bytes. */
    for (char *p = last_error; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = '?';
    return s;
}

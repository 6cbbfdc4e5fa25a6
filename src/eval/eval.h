/* eval.h: what the evaluation files (src/eval/) give the protocols in src/methods/
 * beyond the public API; not part of it. */
#ifndef HW_EVAL_H
#define HW_EVAL_H

#include "internal.h"

/* The trials' settings as "# setting NAME VALUE" lines of the Retrieval Head trial log
 * (src/methods/retrieval_score.c): template, lengths, depths, needles (count and a hash
 * of their texts), haystack (a hash of its text), buffer, max_new. A log written with
 * other settings is refused rather than resumed. */
void hw_niah_write_settings(const hw_niah *n, FILE *f);

/* A whole text file, NUL-terminated (malloc'd), or NULL with the error set (niah.c). */
char *hw_read_text(const char *path);

#endif

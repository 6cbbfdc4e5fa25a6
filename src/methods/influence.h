/* influence.h: what the AttentionInfluence files (src/methods/influence*.c) share beyond
 * the public API; not part of it. The corpus fuzz target (tests/fuzz/fuzz_influence.c)
 * reads it too. */
#ifndef HW_INFLUENCE_H
#define HW_INFLUENCE_H

#include "internal.h"

#include <stdint.h>
#include <stdio.h>

/* A JSONL corpus read line by line (plain or gzip), never whole: a line of any length in a
 * buffer that grows to the longest one. */
typedef struct hw_corpus hw_corpus;
/* NULL (error set) for a missing or unreadable file, or a .zst one. */
hw_corpus *hw_corpus_open(const char *path);
void hw_corpus_close(hw_corpus *c);
/* The byte size of the (uncompressed) corpus when known without reading it, else -1. */
int64_t hw_corpus_size(const hw_corpus *c);
/* Move to the first line starting at or after byte `at` (0: the start), counting the
 * lines before it so that line numbers stay the file's. HW_OK, or an error. */
hw_status hw_corpus_seek_line(hw_corpus *c, int64_t at);
/* The next line (without its '\n', NUL-terminated; valid until the next call) with its
 * length, first byte's offset and 1-based number. 1 for a line, 0 at the end, -1 on a
 * read error (set). */
int hw_corpus_next(hw_corpus *c, char **line, size_t *len, int64_t *start, int64_t *line_no);
/* The offset of the byte after the last line returned (its '\n' included). */
int64_t hw_corpus_offset(const hw_corpus *c);

/* One corpus line as a document: its text (UTF-8, malloc'd), domain and id (the id as a
 * JSON value's text, a string quoted; the line number when absent). */
typedef struct {
    char *text;
    char *domain;   /* malloc'd */
    char *id_json;  /* malloc'd */
} hw_influence_doc;
/* 0 and doc filled, or -1 with reason (why the line is bad: malformed JSON, not an object,
 * no "text" string, text not UTF-8, ...) in reason[cap]. */
int hw_influence_parse_line(const char *line, size_t len, int64_t line_no, hw_influence_doc *doc,
                            char *reason, size_t cap);
void hw_influence_doc_free(hw_influence_doc *doc);

#endif

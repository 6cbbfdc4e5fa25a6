/* pattern_view.h: the attention-pattern viewer the HTML pages share (src/report/
 * pattern_view.c): patterns binned and stored as bytes, and the page code (CSS and JS)
 * that draws one on a canvas with the tokens on both axes, a colour scale with its legend
 * and the value under the pointer. `headwise patterns` (patterns_html.c) and the head
 * atlas (atlas_html.c) use it. Not part of the public API. */
#ifndef HW_PATTERN_VIEW_H
#define HW_PATTERN_VIEW_H

#include "internal.h"

#include <stdio.h>

/* A page's patterns take about this many bytes (before base64), whatever L x H x T x T:
 * 3.2 MB keeps a page of 32 x 32 heads at 1K tokens (4.3 MB of base64) under 5 MB with its JSON. */
#define HW_VIEW_BUDGET 3200000

/* Rows (= columns) R <= T a T-token pattern is binned to so that n_heads packed
 * patterns (R (R + 1) / 2 bytes each) fit in budget bytes; at least min(T, 16). */
int hw_view_bins(int T, int n_heads, size_t budget);
/* Bin b covers tokens [b T / R, (b + 1) T / R) (integer division). */
static inline int hw_view_bin_start(int b, int T, int R) { return (int)((long long)b * T / R); }
/* Add query rows q0 .. q0 + n - 1 of one head's pattern (n, P), row r at
 * rows + r * P with P >= q0 + n keys, into acc (R, R): acc[bq][bk] += sum of the row's
 * weights on the keys of bin bk. */
void hw_view_bin_rows(double *acc, const float *rows, int n, int q0, int P, int T, int R);
/* acc (R, R) of a whole T-token pattern into out (R (R + 1) / 2 bytes, lower triangle
 * row by row): each bin's mean over its query rows, stored as round(255 sqrt(w)) so that
 * weak attention keeps its resolution. */
void hw_view_pack(const double *acc, int T, int R, unsigned char *out);
static inline size_t hw_view_packed_size(int R) { return (size_t)R * (R + 1) / 2; }
/* out as base64 (no newlines). */
void hw_view_base64(FILE *f, const unsigned char *p, size_t n);
/* s as a JSON string literal, safe inside a <script> element. */
void hw_view_json_string(FILE *f, const char *s);
/* Text as HTML (&, < and > escaped). */
void hw_view_html_text(FILE *f, const char *s);
/* A page's start: doctype, the title (HTML-escaped), css (the page's own, a <style>
 * element's content) and the viewer's CSS, up to and including <body>. */
void hw_view_page_start(FILE *f, const char *title, const char *css);
/* The viewer's JS (a <script> element defining HWView). */
void hw_view_write_script(FILE *f);
/* n packed patterns of R bins (hw_view_packed_size(R) bytes each, back to back) as a JS
 * array of base64 strings, one per line. */
void hw_view_write_patterns(FILE *f, const unsigned char *packed, int n, int R);

#endif

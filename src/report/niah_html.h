/* niah_html.h: the needle-in-a-haystack heatmap page (src/report/niah_html.c), written
 * from plain arrays so that the eval layer's grid (src/eval/niah_grid.c) can call it
 * without the report layer knowing its result type. Not part of the public API. */
#ifndef HW_NIAH_HTML_H
#define HW_NIAH_HTML_H

#include "internal.h"

#define HW_NIAH_HTML_METRICS 3

typedef struct {
    const char *title;          /* the heading and the page's <title> (UTF-8) */
    const char *subtitle;       /* a line under it; NULL: none */
    int n_x, n_y;               /* columns (context lengths) and rows (depths) */
    const int *x;               /* (n_x) context lengths in tokens, left to right */
    const int *y;               /* (n_y) depths in percent, top to bottom */
    /* The measures a selector switches between, each (n_y, n_x) in [0, 1] at
     * values + m * n_y * n_x; a cell with counts 0 is drawn empty. */
    int n_metrics;              /* 1 .. HW_NIAH_HTML_METRICS */
    const char *const *metric_names;
    const double *values;
    const int *counts;          /* (n_y, n_x) trials per cell */
    int shown;                  /* the measure drawn when the page opens */
} hw_niah_html;

/* The heatmap as one self-contained HTML page (no external references), atomically:
 * x the context length, y the depth, red (0) through yellow to green (1) as the
 * Retrieval Head and DuoAttention figures colour them, a legend, each cell's value
 * printed in percent and every measure on hover. */
hw_status hw_niah_html_write(const hw_niah_html *page, const char *path);

/* s as HTML content or an attribute value (< > & " ' escaped); shared by the report
 * pages. */
void hw_html_put(FILE *f, const char *s);
/* A page's start: doctype, <title> and <h1> title, style (a <style> element), and the
 * subtitle (NULL: none) as <p class="sub">. */
void hw_html_page_start(FILE *f, const char *title, const char *subtitle, const char *style);

#endif

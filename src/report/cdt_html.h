/* cdt_html.h: the CD-T circuit page (src/report/cdt_html.c), written from plain arrays so
 * that the methods layer can call it without the report layer knowing its result type.
 * Not part of the public API. */
#ifndef HW_CDT_HTML_H
#define HW_CDT_HTML_H

#include "internal.h"

typedef struct {
    int sender, receiver;   /* head indices layer * H + head */
    int input;              /* 0 q, 1 k, 2 v */
    double weight;
} hw_cdt_html_edge;

typedef struct {
    const char *title, *subtitle;
    int layers, heads;
    const double *relevance;        /* (layers, heads) in [0, 1] */
    const double *logit;            /* (layers, heads) relevant logit difference */
    const int *in_circuit;          /* (layers, heads) 0 or the order joined */
    int n_edges;
    const hw_cdt_html_edge *edges;
    int n_sizes;                    /* faithfulness curve, sizes 1..n_sizes (0: none) */
    const double *faith, *faith_random;
} hw_cdt_html;

/* One self-contained page, atomically: an SVG graph with the layers as columns and the
 * heads as nodes (shaded by relevance, circuit heads outlined), the circuit's edges as
 * arrows labelled q, k or v with their weight; below it the faithfulness curve against
 * random sets of the same size. */
hw_status hw_cdt_html_write(const hw_cdt_html *page, const char *path);

#endif

/* patch_html.h: the activation-patching heatmap page (src/report/patch_html.c), written
 * from plain arrays so that the methods layer can call it without the report layer
 * knowing its result type. Not part of the public API. */
#ifndef HW_PATCH_HTML_H
#define HW_PATCH_HTML_H

#include "internal.h"

typedef struct {
    const char *title;              /* heading and <title> (UTF-8) */
    const char *subtitle;           /* a line under it; NULL: none */
    int rows, cols;                 /* layers down, heads or positions across */
    const char *row_axis, *col_axis; /* axis titles, e.g. "layer", "head" */
    const char *const *col_labels;  /* (cols) e.g. head numbers or the tokens */
    int n_maps;                     /* 1 or 2 heatmaps, one above the other */
    const char *const *map_names;   /* (n_maps) */
    const double *const *maps;      /* (n_maps) arrays of (rows, cols) */
} hw_patch_html;

/* One self-contained page (no external references), atomically: each map a table, blue
 * below 0 through white to red above, the scale symmetric about 0 and at least [-1, 1],
 * a colour legend with its ends, values printed in the cells and on hover with the row,
 * column and label. */
hw_status hw_patch_html_write(const hw_patch_html *page, const char *path);

#endif

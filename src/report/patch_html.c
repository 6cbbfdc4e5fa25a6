/*
 * patch_html.c: activation patching's heatmaps as one self-contained HTML page (headwise
 * patch --html): layer down, head or position across (positions labelled with their
 * tokens), a diverging colour scale, as the patching figures of the circuits papers draw
 * them. Written in full by C, no script needed to read it.
 */
#include "report/patch_html.h"
#include "report/niah_html.h"

#include <math.h>
#include <stdio.h>

/* Blue (#2166AC) at -1, white at 0, red (#B2182B) at +1 (ColorBrewer's RdBu ends). */
static void colour(double v, char out[8]) {
    static const int neg[3] = {0x21, 0x66, 0xAC}, pos[3] = {0xB2, 0x18, 0x2B};
    if (!(v == v)) v = 0;
    if (v > 1) v = 1;
    if (v < -1) v = -1;
    const int *end = v < 0 ? neg : pos;
    double u = fabs(v);
    int c[3];
    for (int i = 0; i < 3; i++) c[i] = (int)lround(255 + (end[i] - 255) * u);
    snprintf(out, 8, "#%02X%02X%02X", c[0] & 255, c[1] & 255, c[2] & 255);
}

static const char style[] =
    "<style>body{font:14px system-ui,sans-serif;margin:20px;color:#222}"
    "h1{font-size:18px;margin:0 0 4px}h2{font-size:15px;margin:18px 0 6px}"
    "p.sub{color:#555;margin:0 0 12px;max-width:70em}"
    "table.hm{border-collapse:collapse}table.hm td{min-width:40px;height:26px;text-align:center;"
    "font-size:11px;border:1px solid #fff}table.hm th{font-weight:normal;color:#555;padding:2px 6px;"
    "font-size:12px;white-space:pre}th.ax{color:#222}"
    ".legend{display:flex;align-items:center;gap:8px;margin-top:10px}"
    ".bar{width:240px;height:14px;border:1px solid #ccc;"
    "background:linear-gradient(to right,#2166AC,#FFFFFF,#B2182B)}</style>\n";

static void put_map(FILE *f, const hw_patch_html *p, const double *v, double range) {
    fprintf(f, "<table class=\"hm\">\n<tr><th class=\"ax\" rowspan=\"%d\">", p->rows + 1);
    hw_html_put(f, p->row_axis);
    fputs("</th>", f);
    for (int l = 0; l < p->rows; l++) {
        fprintf(f, "%s<th>%d</th>", l ? "<tr>" : "", l);
        for (int c = 0; c < p->cols; c++) {
            double x = v[(size_t)l * p->cols + c];
            char col[8];
            colour(x / range, col);
            fprintf(f, "<td style=\"background:%s;color:%s\" title=\"", col, fabs(x / range) > 0.6 ? "#fff" : "#222");
            hw_html_put(f, p->row_axis);
            fprintf(f, " %d, ", l);
            hw_html_put(f, p->col_axis);
            fprintf(f, " %d (", c);
            hw_html_put(f, p->col_labels[c]);
            fprintf(f, "): %.4f\">%.2f</td>", x, x);
        }
        fputs("</tr>\n", f);
    }
    fputs("<tr><th></th>", f);
    for (int c = 0; c < p->cols; c++) {
        fputs("<th>", f);
        hw_html_put(f, p->col_labels[c]);
        fputs("</th>", f);
    }
    fprintf(f, "</tr>\n<tr><th></th><th></th><th class=\"ax\" colspan=\"%d\">", p->cols);
    hw_html_put(f, p->col_axis);
    fputs("</th></tr>\n</table>\n", f);
}

hw_status hw_patch_html_write(const hw_patch_html *p, const char *path) {
    if (!p || !path || !p->title || p->rows < 1 || p->cols < 1 || !p->col_labels || p->n_maps < 1 ||
        p->n_maps > 2 || !p->maps || !p->map_names || !p->row_axis || !p->col_axis)
        return hw_fail(HW_ERR_ARG, "hw_patch_html_write: bad page description");
    double range = 1;
    for (int k = 0; k < p->n_maps; k++)
        for (size_t i = 0; i < (size_t)p->rows * p->cols; i++)
            if (fabs(p->maps[k][i]) > range) range = fabs(p->maps[k][i]);
    hw_atomic_file *a = hw_atomic_open(path);
    if (!a) return HW_ERR_IO;
    FILE *f = hw_atomic_stream(a);
    hw_html_page_start(f, p->title, p->subtitle, style);
    fprintf(f, "<div class=\"legend\"><span>%.2f</span><div class=\"bar\"></div><span>%.2f</span>"
            "<span>(white 0, colour scale symmetric about 0)</span></div>\n", -range, range);
    for (int k = 0; k < p->n_maps; k++) {
        fputs("<h2>", f);
        hw_html_put(f, p->map_names[k]);
        fputs("</h2>\n", f);
        put_map(f, p, p->maps[k], range);
    }
    fputs("</body></html>\n", f);
    return hw_atomic_commit(a);
}

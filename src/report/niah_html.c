/*
 * niah_html.c: the needle-in-a-haystack heatmap as one self-contained HTML page
 * (headwise niah --html), the figure the Retrieval Head and DuoAttention papers draw:
 * context length across, needle depth down, each cell coloured by its score.
 *
 * The table is written in full by C, coloured for the measure shown first, so the page
 * reads without scripts; a small script only recolours it when another measure is
 * chosen. Every cell carries all measures in a data attribute and in its tooltip.
 */
#include "report/niah_html.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* The colour map of the NIAH figures (gkamradt's LLMTest_NeedleInAHaystack, reused by
 * the Retrieval Head and DuoAttention plots): #F0496E at 0, #EBB839 at 0.5, #0CD79F at
 * 1, linear in between. */
static const unsigned char stops[3][3] = {{0xF0, 0x49, 0x6E}, {0xEB, 0xB8, 0x39}, {0x0C, 0xD7, 0x9F}};

static void colour(double v, char out[8]) {
    if (!(v >= 0)) v = 0; /* NaN too */
    if (v > 1) v = 1;
    int k = v < 0.5 ? 0 : 1;
    double u = (v - 0.5 * k) * 2;
    unsigned c[3];
    for (int i = 0; i < 3; i++) c[i] = (unsigned)lround(stops[k][i] + (stops[k + 1][i] - stops[k][i]) * u);
    snprintf(out, 8, "#%02X%02X%02X", c[0] & 255, c[1] & 255, c[2] & 255);
}

void hw_html_page_start(FILE *f, const char *title, const char *subtitle, const char *style) {
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>", f);
    hw_html_put(f, title);
    fprintf(f, "</title>\n%s</head><body>\n<h1>", style);
    hw_html_put(f, title);
    fputs("</h1>\n", f);
    if (subtitle) {
        fputs("<p class=\"sub\">", f);
        hw_html_put(f, subtitle);
        fputs("</p>\n", f);
    }
}

void hw_html_put(FILE *f, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

static const char page_style[] =
    "<style>body{font:14px system-ui,sans-serif;margin:20px;color:#222}"
    "h1{font-size:18px;margin:0 0 4px}p.sub{color:#555;margin:0 0 12px;max-width:70em}"
    "table.hm{border-collapse:collapse}table.hm td{width:44px;height:26px;text-align:center;"
    "font-size:11px;color:#222;border:1px solid #fff}table.hm td.empty{background:#eee;color:#999}"
    "table.hm th{font-weight:normal;color:#555;padding:2px 6px;font-size:12px}"
    "th.ax{color:#222}.legend{display:flex;align-items:center;gap:8px;margin-top:12px}"
    ".bar{width:240px;height:14px;border:1px solid #ccc;"
    "background:linear-gradient(to right,#F0496E,#EBB839,#0CD79F)}"
    "</style>\n";

/* Recolour the cells for the chosen measure (the same map as colour() above). */
static const char page_script[] =
    "<script>\n"
    "const S=[[240,73,110],[235,184,57],[12,215,159]];\n"
    "function col(v){v=Math.max(0,Math.min(1,v));const k=v<0.5?0:1,u=(v-0.5*k)*2;\n"
    " return 'rgb('+[0,1,2].map(i=>Math.round(S[k][i]+(S[k+1][i]-S[k][i])*u)).join(',')+')';}\n"
    "const sel=document.getElementById('metric');\n"
    "function show(){const m=+sel.value;document.querySelectorAll('td[data-v]').forEach(td=>{\n"
    " const v=+td.dataset.v.split(' ')[m];td.style.background=col(v);td.textContent=Math.round(100*v);});}\n"
    "sel.addEventListener('change',show);\n"
    "</script>\n";

static void put_cell(FILE *f, const hw_niah_html *p, int yi, int xi) {
    const size_t plane = (size_t)p->n_y * p->n_x, at = (size_t)yi * p->n_x + xi;
    const int n = p->counts[at];
    if (n == 0) {
        fprintf(f, "<td class=\"empty\" title=\"length %d, depth %d%%: no trials\">&ndash;</td>", p->x[xi], p->y[yi]);
        return;
    }
    char c[8];
    colour(p->values[p->shown * plane + at], c);
    fprintf(f, "<td style=\"background:%s\" data-v=\"", c);
    for (int m = 0; m < p->n_metrics; m++) fprintf(f, "%s%.4f", m ? " " : "", p->values[m * plane + at]);
    fprintf(f, "\" title=\"length %d, depth %d%%: ", p->x[xi], p->y[yi]);
    for (int m = 0; m < p->n_metrics; m++) {
        fputs(m ? ", " : "", f);
        hw_html_put(f, p->metric_names[m]);
        fprintf(f, " %.3f", p->values[m * plane + at]);
    }
    fprintf(f, " (%d trial%s)\">%ld</td>", n, n == 1 ? "" : "s", lround(100 * p->values[p->shown * plane + at]));
}

static void put_table(FILE *f, const hw_niah_html *p) {
    fprintf(f, "<table class=\"hm\">\n<tr><th class=\"ax\" rowspan=\"%d\">depth (%%)</th>", p->n_y + 1);
    for (int yi = 0; yi < p->n_y; yi++) {
        fprintf(f, "%s<th>%d</th>", yi ? "<tr>" : "", p->y[yi]);
        for (int xi = 0; xi < p->n_x; xi++) put_cell(f, p, yi, xi);
        fputs("</tr>\n", f);
    }
    fputs("<tr><th></th>", f);
    for (int xi = 0; xi < p->n_x; xi++) fprintf(f, "<th>%d</th>", p->x[xi]);
    fprintf(f, "</tr>\n<tr><th></th><th></th><th class=\"ax\" colspan=\"%d\">context length (tokens)</th></tr>\n"
            "</table>\n", p->n_x);
}

hw_status hw_niah_html_write(const hw_niah_html *p, const char *path) {
    if (!p || !path || !p->title || p->n_x < 1 || p->n_y < 1 || !p->x || !p->y || !p->values || !p->counts ||
        p->n_metrics < 1 || p->n_metrics > HW_NIAH_HTML_METRICS || !p->metric_names || p->shown < 0 ||
        p->shown >= p->n_metrics)
        return hw_fail(HW_ERR_ARG, "hw_niah_html_write: bad page description");
    hw_status s = hw_output_prepare(path);
    if (s) return s;
    hw_atomic_file *a = hw_atomic_open(path);
    if (!a) return HW_ERR_IO;
    FILE *f = hw_atomic_stream(a);
    hw_html_page_start(f, p->title, p->subtitle, page_style);
    fputs("<p><label>measure <select id=\"metric\">", f);
    for (int m = 0; m < p->n_metrics; m++) {
        fprintf(f, "<option value=\"%d\"%s>", m, m == p->shown ? " selected" : "");
        hw_html_put(f, p->metric_names[m]);
        fputs("</option>", f);
    }
    fputs("</select></label> (cells in percent; hover for every measure)</p>\n", f);
    put_table(f, p);
    fputs("<div class=\"legend\"><span>0</span><div class=\"bar\"></div><span>1</span></div>\n", f);
    fputs(page_script, f);
    fputs("</body></html>\n", f);
    return hw_atomic_commit(a);
}

/*
 * cdt_html.c: a CD-T circuit as one self-contained HTML page (headwise cdt --html): the
 * layers as columns, every head a node, the circuit's edges drawn from sender to
 * receiver with the input they reach (q, k or v) and their weight, as the CD-T paper's
 * circuit figures draw them; then the faithfulness curve. Plain SVG, no script.
 */
#include "report/cdt_html.h"
#include "report/niah_html.h"

#include <math.h>
#include <stdio.h>

static const char style[] =
    "<style>body{font:14px system-ui,sans-serif;margin:20px;color:#222}"
    "h1{font-size:18px;margin:0 0 4px}h2{font-size:15px;margin:18px 0 6px}"
    "p.sub{color:#555;margin:0 0 12px;max-width:70em}svg text{font:11px system-ui,sans-serif}"
    ".node title,.edge title{white-space:pre}</style>\n";

enum { COL_W = 140, ROW_H = 34, PAD = 40 };
static const char *const input_name[3] = {"q", "k", "v"};
static const char *const input_colour[3] = {"#1b9e77", "#d95f02", "#7570b3"};

static double node_x(int layer) { return PAD + layer * COL_W + 20; }
static double node_y(int head) { return PAD + head * ROW_H + 20; }

static void put_graph(FILE *f, const hw_cdt_html *p) {
    const int w = 2 * PAD + p->layers * COL_W, h = 2 * PAD + p->heads * ROW_H + 20;
    fprintf(f, "<svg id=\"graph\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n", w, h, w, h);
    fputs("<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"6\" "
          "markerHeight=\"6\" orient=\"auto\"><path d=\"M0,0L10,5L0,10z\" fill=\"#444\"/></marker></defs>\n", f);
    for (int l = 0; l < p->layers; l++)
        fprintf(f, "<text x=\"%.0f\" y=\"%d\" text-anchor=\"middle\">layer %d</text>\n", node_x(l), PAD - 14, l);
    for (int i = 0; i < p->n_edges; i++) {
        const hw_cdt_html_edge *e = &p->edges[i];
        double x0 = node_x(e->sender / p->heads) + 12, y0 = node_y(e->sender % p->heads);
        double x1 = node_x(e->receiver / p->heads) - 12, y1 = node_y(e->receiver % p->heads);
        double width = 1 + 4 * fmin(1, fmax(0, e->weight));
        fprintf(f, "<g class=\"edge\" data-sender=\"%d.%d\" data-receiver=\"%d.%d\" data-input=\"%s\"><title>%d.%d -> "
                "%d.%d (%s) %.4f</title><line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                "stroke-width=\"%.2f\" marker-end=\"url(#arrow)\"/><text x=\"%.1f\" y=\"%.1f\" fill=\"%s\">%s %.2f"
                "</text></g>\n", e->sender / p->heads, e->sender % p->heads, e->receiver / p->heads,
                e->receiver % p->heads, input_name[e->input], e->sender / p->heads, e->sender % p->heads,
                e->receiver / p->heads, e->receiver % p->heads, input_name[e->input], e->weight, x0, y0, x1, y1,
                input_colour[e->input], width, (x0 + x1) / 2, (y0 + y1) / 2 - 4, input_colour[e->input],
                input_name[e->input], e->weight);
    }
    for (int l = 0; l < p->layers; l++)
        for (int hd = 0; hd < p->heads; hd++) {
            int k = l * p->heads + hd, in = p->in_circuit[k] > 0;
            double r = fmin(1, fmax(0, p->relevance[k]));
            int shade = (int)lround(255 - 200 * r);
            fprintf(f, "<g class=\"node\" data-head=\"%d.%d\" data-circuit=\"%d\"><title>head %d.%d\nrelevance %.4f\n"
                    "relevant logit difference %.4f%s</title><circle cx=\"%.0f\" cy=\"%.0f\" r=\"12\" fill=\"rgb(255,%d,%d)\" "
                    "stroke=\"%s\" stroke-width=\"%d\"/><text x=\"%.0f\" y=\"%.0f\" text-anchor=\"middle\">%d.%d</text></g>\n",
                    l, hd, in, l, hd, p->relevance[k], p->logit[k], in ? "\nin the circuit" : "", node_x(l), node_y(hd),
                    shade, shade, in ? "#000" : "#bbb", in ? 2 : 1, node_x(l), node_y(hd) + 4, l, hd);
        }
    fputs("</svg>\n", f);
}

/* The curve: the circuit's prefix sets (solid) and random sets (dashed), size across. */
static void put_curve(FILE *f, const hw_cdt_html *p) {
    const int w = 480, h = 220, x0 = 50, y0 = 190;
    const double sx = (w - x0 - 20) / (double)(p->n_sizes > 1 ? p->n_sizes - 1 : 1), sy = 160;
    fprintf(f, "<h2>Faithfulness by set size</h2>\n<svg id=\"faithfulness\" width=\"%d\" height=\"%d\">\n", w, h);
    fprintf(f, "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#888\"/><line x1=\"%d\" y1=\"%d\" x2=\"%d\" "
            "y2=\"%d\" stroke=\"#888\"/>\n", x0, y0, w - 10, y0, x0, y0, x0, y0 - (int)sy - 10);
    fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">1</text><text x=\"%d\" y=\"%d\" text-anchor=\"end\">0</text>"
            "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">heads kept (the rest mean-ablated)</text>\n",
            x0 - 4, y0 - (int)sy + 4, x0 - 4, y0 + 4, (x0 + w) / 2, y0 + 24);
    const double *series[2] = {p->faith, p->faith_random};
    const char *dash[2] = {"", " stroke-dasharray=\"5,4\""}, *name[2] = {"circuit first", "random sets"};
    for (int s = 0; s < 2; s++) {
        fprintf(f, "<polyline class=\"%s\" fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s points=\"", s ? "random" : "circuit",
                s ? "#999" : "#c0392b", dash[s]);
        for (int k = 0; k < p->n_sizes; k++)
            if (!isnan(series[s][k]))
                fprintf(f, "%.1f,%.1f ", x0 + k * sx, y0 - sy * fmin(1.2, fmax(-0.2, series[s][k])));
        fprintf(f, "\"><title>%s</title></polyline>\n", name[s]);
    }
    fprintf(f, "<text x=\"%d\" y=\"16\" fill=\"#c0392b\">circuit first</text><text x=\"%d\" y=\"30\" fill=\"#999\">"
            "random sets</text></svg>\n", w - 130, w - 130);
}

hw_status hw_cdt_html_write(const hw_cdt_html *p, const char *path) {
    if (!p || !path) return hw_fail(HW_ERR_ARG, "cdt: no page or path to write");
    hw_atomic_file *a = hw_atomic_open(path);
    if (!a) return HW_ERR_IO;
    FILE *f = hw_atomic_stream(a);
    hw_html_page_start(f, p->title, p->subtitle, style);
    fputs("<p>Nodes: heads, darker = more relevant; outlined: in the circuit. Edges: the sender's relevance at the "
          "receiver's <b style=\"color:#1b9e77\">q</b>, <b style=\"color:#d95f02\">k</b> or "
          "<b style=\"color:#7570b3\">v</b>.</p>\n", f);
    put_graph(f, p);
    if (p->n_sizes > 0) put_curve(f, p);
    fputs("</body></html>\n", f);
    return hw_atomic_commit(a);
}

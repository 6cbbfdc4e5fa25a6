/*
 * patterns_html.c: attention patterns as one self-contained HTML page.
 *
 * A grid of small heatmaps, layers as rows and heads as columns, each scaled to its own
 * largest weight so that a diffuse head is still visible; clicking one shows it in the
 * shared viewer (pattern_view.c): tokens on both axes, a colour scale with its legend,
 * the weight under the pointer, sized to the window. Patterns travel as bytes, binned
 * when the page would otherwise pass the viewer's budget (HW_VIEW_BUDGET).
 */
#include "pattern_view.h"

#include <stdlib.h>

static const char page_style[] =
    "body{font:13px system-ui,sans-serif;margin:16px;color:#222}"
    "#wrap{display:flex;gap:24px;align-items:flex-start;flex-wrap:wrap}"
    "#gridbox{max-height:90vh;overflow:auto}table{border-collapse:collapse}td{padding:1px}"
    "th{font-weight:normal;color:#666;padding:1px 4px;font-size:11px}"
    "canvas.s{width:56px;height:56px;image-rendering:pixelated;cursor:pointer;border:1px solid #ddd}"
    "canvas.s.on{outline:2px solid #d33}#view{flex:1;min-width:420px}\n";

static const char page_script[] =
    "const P=DATA.p.map(HWView.dec),T=DATA.T,R=DATA.R,L=DATA.L,H=DATA.H;\n"
    "const view=HWView.viewer(document.getElementById('view'),DATA.tokens,T,R);\n"
    "const grid=document.getElementById('grid');let cur=null;\n"
    "let hr=document.createElement('tr');hr.appendChild(document.createElement('th'));\n"
    "for(let h=0;h<H;h++){const th=document.createElement('th');th.textContent='head '+h;hr.appendChild(th);}\n"
    "grid.appendChild(hr);\n"
    "function pick(l,h,cv){if(cur)cur.classList.remove('on');cur=cv;cv.classList.add('on');\n"
    " const v=document.getElementById('view');v.dataset.layer=l;v.dataset.head=h;\n"
    " view.show(P[l*H+h],'Head '+l+'.'+h+' (layer '+l+', head '+h+'): rows are queries, columns keys');}\n"
    "for(let l=0;l<L;l++){const tr=document.createElement('tr'),th=document.createElement('th');\n"
    " th.textContent='layer '+l;tr.appendChild(th);\n"
    " for(let h=0;h<H;h++){const td=document.createElement('td'),cv=document.createElement('canvas');\n"
    "  cv.className='s';cv.title=l+'.'+h;cv.dataset.layer=l;cv.dataset.head=h;const a=P[l*H+h];\n"
    "  HWView.draw(cv,a,R,Math.max(HWView.peak(a),1e-6));cv.onclick=()=>pick(l,h,cv);\n"
    "  td.appendChild(cv);tr.appendChild(td);}\n"
    " grid.appendChild(tr);}\n"
    "pick(0,0,grid.querySelector('canvas'));\n";

hw_status hw_patterns_html(const char *path, const char *title, const char *const *tokens, int T,
                           int L, int H, const float *pattern) {
    if (T <= 0 || L <= 0 || H <= 0 || !pattern || !tokens)
        return hw_fail(HW_ERR_ARG, "patterns page: nothing to draw");
    const int R = hw_view_bins(T, L * H, HW_VIEW_BUDGET);
    const size_t per = hw_view_packed_size(R);
    double *acc = malloc((size_t)R * R * sizeof *acc);
    unsigned char *q = malloc(per * L * H);
    if (!acc || !q) {
        free(acc);
        free(q);
        return hw_fail(HW_ERR_NOMEM, "patterns page: out of memory (%d heads of %d bins)", L * H, R);
    }
    for (int i = 0; i < L * H; i++) {
        for (size_t j = 0; j < (size_t)R * R; j++) acc[j] = 0;
        hw_view_bin_rows(acc, pattern + (size_t)i * T * T, T, 0, T, T, R);
        hw_view_pack(acc, T, R, q + per * i);
    }
    free(acc);
    hw_atomic_file *a = hw_atomic_open(path);
    if (!a) {
        free(q);
        return HW_ERR_IO;
    }
    FILE *f = hw_atomic_stream(a);
    hw_view_page_start(f, title, page_style);
    fputs("<h2>Attention patterns</h2>\n<p id=\"title\"></p>\n", f);
    fputs("<div id=\"wrap\"><div id=\"gridbox\"><table id=\"grid\"></table></div><div id=\"view\"></div></div>\n", f);
    hw_view_write_script(f);
    fprintf(f, "<script>\nconst DATA={\"T\":%d,\"R\":%d,\"L\":%d,\"H\":%d,\"title\":", T, R, L, H);
    hw_view_json_string(f, title);
    fputs(",\"tokens\":[", f);
    for (int t = 0; t < T; t++) {
        if (t) fputc(',', f);
        hw_view_json_string(f, tokens[t] ? tokens[t] : "");
    }
    fputs("],\"p\":", f);
    hw_view_write_patterns(f, q, L * H, R);
    fputs("};\ndocument.getElementById('title').textContent=DATA.title;\n", f);
    fputs(page_script, f);
    fputs("</script></body></html>\n", f);
    free(q);
    return hw_atomic_commit(a);
}

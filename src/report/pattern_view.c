/*
 * pattern_view.c: the attention-pattern viewer of the HTML pages (pattern_view.h).
 *
 * A page must stay small and quick at a thousand tokens and a thousand heads (a 17 MB
 * page of 16-bit weights drew near-blank thumbnails at 404 tokens), so a pattern
 * travels as one byte per cell, round(255 sqrt(w)), lower triangle only (causal), and is
 * binned when the page's heads would not fit the budget otherwise: a cell is then the
 * mean over its query rows of the weight on its keys, so each row of bins still sums to
 * 1. The JS (HWView) decodes a head when it is shown and draws it on a canvas, one
 * pixel per cell, with the tokens on both axes, a colour legend and the value under the
 * pointer; the canvas is sized to the window.
 */
#include "pattern_view.h"

#include <math.h>
#include <string.h>

int hw_view_bins(int T, int n_heads, size_t budget) {
    if (T <= 0) return 0;
    int R = T;
    while (R > 16 && (size_t)n_heads * hw_view_packed_size(R) > budget) R--;
    return R;
}

void hw_view_bin_rows(double *acc, const float *rows, int n, int q0, int P, int T, int R) {
    for (int r = 0; r < n; r++) {
        const int q = q0 + r;
        if (q >= T) break;
        int bq = (int)((long long)q * R / T);   /* the bin whose span holds q */
        while (bq + 1 < R && hw_view_bin_start(bq + 1, T, R) <= q) bq++;
        while (bq > 0 && hw_view_bin_start(bq, T, R) > q) bq--;
        const float *w = rows + (size_t)r * P;
        double *row = acc + (size_t)bq * R;
        const int keys = P < T ? P : T;
        for (int b = 0, k = 0; b < R && k < keys; b++) {
            const int end = hw_view_bin_start(b + 1, T, R);
            double s = 0;
            for (; k < end && k < keys; k++) s += w[k];
            row[b] += s;
        }
    }
}

void hw_view_pack(const double *acc, int T, int R, unsigned char *out) {
    size_t o = 0;
    for (int q = 0; q < R; q++) {
        const int rows = hw_view_bin_start(q + 1, T, R) - hw_view_bin_start(q, T, R);
        for (int k = 0; k <= q; k++) {
            double w = rows > 0 ? acc[(size_t)q * R + k] / rows : 0;
            w = !(w > 0) ? 0 : w > 1 ? 1 : w;
            out[o++] = (unsigned char)lrint(255.0 * sqrt(w));
        }
    }
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void hw_view_base64(FILE *f, const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        fputc(b64[v >> 18 & 63], f);
        fputc(b64[v >> 12 & 63], f);
        fputc(i + 1 < n ? b64[v >> 6 & 63] : '=', f);
        fputc(i + 2 < n ? b64[v & 63] : '=', f);
    }
}

void hw_view_json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)(s ? s : ""); *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p == '<' || *p == '>' || *p == '&') fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

void hw_view_html_text(FILE *f, const char *s) {
    for (const char *p = s ? s : ""; *p; p++) {
        if (*p == '<') fputs("&lt;", f);
        else if (*p == '>') fputs("&gt;", f);
        else if (*p == '&') fputs("&amp;", f);
        else fputc(*p, f);
    }
}

static const char view_css[] =
    ".hv{margin:4px 0}.hv-top{display:flex;gap:16px;align-items:baseline;flex-wrap:wrap}.hv-title{font-weight:600}\n"
    ".hv-opt{color:#555;font-size:12px}.hv-legend{margin:6px 0 4px;font-size:11px;color:#555;display:flex;align-items:center}\n"
    ".hv-bar{position:relative;display:inline-block;width:200px;height:24px;margin:0 8px}.hv-scale{width:200px;height:12px;display:block;border:1px solid #bbb}\n"
    ".hv-tick{position:absolute;top:13px;transform:translateX(-50%);font-size:10px}.hv-note{font-size:11px;color:#777}\n"
    ".hv-plot{display:grid;grid-template-columns:130px auto;grid-template-rows:96px auto;margin-top:4px}\n"
    ".hv-xl{grid-column:2;grid-row:1;position:relative;height:96px;overflow:hidden}.hv-yl{grid-column:1;grid-row:2;position:relative;overflow:hidden}\n"
    ".hv-x{position:absolute;bottom:0;height:94px;writing-mode:vertical-rl;transform:rotate(180deg);white-space:nowrap;overflow:hidden;font-family:monospace;color:#333;text-align:left}\n"
    ".hv-y{position:absolute;right:4px;width:124px;text-align:right;white-space:nowrap;overflow:hidden;font-family:monospace;color:#333}\n"
    ".hv-canvas{grid-column:2;grid-row:2;image-rendering:pixelated;border:1px solid #999;cursor:crosshair}\n"
    ".hv-info{font-family:monospace;font-size:12px;min-height:1.4em;margin-top:4px;max-width:900px;overflow-wrap:anywhere}\n";

/* HWView.viewer(root, tokens, T, R) builds the viewer in root and returns {canvas,
 * show(a, title), value(q, k)}; HWView.dec(base64) decodes a packed pattern, .draw
 * draws one on a canvas (thumbnails), .at(a, q, k) reads a cell. Strings use single
 * quotes only, so that this file needs no escaping beyond backslashes. */
static const char view_js[] =
    "const HWView=(()=>{\n"
    "function dec(b){const s=atob(b),n=s.length,a=new Float32Array(n);for(let i=0;i<n;i++){const v=s.charCodeAt(i)/255;a[i]=v*v;}return a;}\n"
    "function at(a,q,k){return k>q?0:a[q*(q+1)/2+k];}\n"
    "function peak(a){let m=0;for(let i=0;i<a.length;i++)if(a[i]>m)m=a[i];return m;}\n"
    "function shade(s){s=Math.max(0,Math.min(1,s));return [Math.round(255-225*s),Math.round(255-190*s),Math.round(255-80*s)];}\n"
    "function draw(cv,a,R,mx){cv.width=R;cv.height=R;const c=cv.getContext('2d'),im=c.createImageData(R,R),sc=mx>0?1/Math.sqrt(mx):1;\n"
    " for(let q=0;q<R;q++)for(let k=0;k<R;k++){const o=4*(q*R+k),col=shade(Math.sqrt(at(a,q,k))*sc);\n"
    "  im.data[o]=col[0];im.data[o+1]=col[1];im.data[o+2]=col[2];im.data[o+3]=255;}\n"
    " c.putImageData(im,0,0);}\n"
    "function span(T,R,b){return [Math.floor(b*T/R),Math.floor((b+1)*T/R)];}\n"
    "function label(tok,T,R,b){const s=span(T,R,b);return s[1]-s[0]<=1?tok[s[0]]:tok[s[0]]+'\\u2026';}\n"
    "function show(t){return JSON.stringify(t).slice(1,-1);}\n"
    "function el(tag,cls,txt){const e=document.createElement(tag);if(cls)e.className=cls;if(txt!==undefined)e.textContent=txt;return e;}\n"
    "function legend(box,mx){box.innerHTML='';const cv=el('canvas','hv-scale');cv.width=200;cv.height=1;\n"
    " const c=cv.getContext('2d'),im=c.createImageData(200,1);\n"
    " for(let x=0;x<200;x++){const col=shade(x/199);im.data[4*x]=col[0];im.data[4*x+1]=col[1];im.data[4*x+2]=col[2];im.data[4*x+3]=255;}\n"
    " c.putImageData(im,0,0);box.appendChild(el('span','hv-lt','attention weight '));const w=el('span','hv-bar');w.appendChild(cv);\n"
    " [0,0.01,0.05,0.25,0.5,1].forEach(v=>{const t=el('span','hv-tick',(v*mx).toPrecision(2).replace(/\\.?0+$/,''));t.style.left=(Math.sqrt(v)*200)+'px';w.appendChild(t);});\n"
    " box.appendChild(w);box.appendChild(el('span','hv-lt',' (shade \\u221d \\u221aweight'+(mx<1?', scaled to this head\\'s largest':'')+')'));}\n"
    "function viewer(root,tok,T,R){\n"
    " root.innerHTML='';root.classList.add('hv');\n"
    " const top=el('div','hv-top'),title=el('span','hv-title'),lab=el('label','hv-opt'),norm=el('input');norm.type='checkbox';\n"
    " lab.appendChild(norm);lab.appendChild(document.createTextNode(' scale colours to this head\\'s largest weight'));\n"
    " top.appendChild(title);top.appendChild(lab);root.appendChild(top);\n"
    " const leg=el('div','hv-legend');root.appendChild(leg);\n"
    " if(R<T)root.appendChild(el('div','hv-note',T+' tokens shown in '+R+' bins: a cell is the mean over its query rows of the weight on its keys'));\n"
    " const plot=el('div','hv-plot'),xl=el('div','hv-xl'),yl=el('div','hv-yl'),cv=el('canvas','hv-canvas');\n"
    " plot.appendChild(xl);plot.appendChild(yl);plot.appendChild(cv);root.appendChild(plot);\n"
    " const info=el('div','hv-info','\\u00a0');root.appendChild(info);\n"
    " let cur=null,mx=1;\n"
    " function layout(){const avail=Math.max(160,Math.min(720,root.clientWidth-150,window.innerHeight-230));\n"
    "  const px=Math.max(1,Math.min(24,Math.floor(avail/R))),step=Math.ceil(11/px),fs=Math.min(11,Math.max(7,px));\n"
    "  cv.style.width=cv.style.height=(px*R)+'px';xl.innerHTML='';yl.innerHTML='';xl.style.width=(px*R)+'px';yl.style.height=(px*R)+'px';\n"
    "  for(let b=0;b<R;b+=step){const s=label(tok,T,R,b),x=el('div','hv-x',show(s)),y=el('div','hv-y',show(s));\n"
    "   x.dataset.bin=y.dataset.bin=b;x.title=y.title=s;x.style.left=(b*px)+'px';x.style.width=(px*step)+'px';x.style.fontSize=fs+'px';\n"
    "   y.style.top=(b*px)+'px';y.style.height=(px*step)+'px';y.style.lineHeight=(px*step)+'px';y.style.fontSize=fs+'px';\n"
    "   xl.appendChild(x);yl.appendChild(y);}}\n"
    " function redraw(){if(!cur)return;mx=norm.checked?Math.max(peak(cur),1e-6):1;draw(cv,cur,R,mx);legend(leg,mx);}\n"
    " norm.onchange=redraw;\n"
    " cv.onmousemove=e=>{if(!cur)return;const r=cv.getBoundingClientRect(),k=Math.floor((e.clientX-r.left)/r.width*R),q=Math.floor((e.clientY-r.top)/r.height*R);\n"
    "  if(q<0||k<0||q>=R||k>=R)return;const sq=span(T,R,q),sk=span(T,R,k),v=at(cur,q,k);\n"
    "  const nm=(s)=>s[1]-s[0]<=1?s[0]+' \"'+show(tok[s[0]])+'\"':s[0]+'-'+(s[1]-1)+' \"'+show(tok[s[0]])+'\"\\u2026';\n"
    "  info.textContent='query '+nm(sq)+' \\u2192 key '+nm(sk)+': '+v.toFixed(3)+(R<T?' (share of the rows\\' attention)':'');};\n"
    " cv.onmouseleave=()=>{info.textContent='\\u00a0';};\n"
    " window.addEventListener('resize',layout);layout();\n"
    " return {canvas:cv,show(a,t){cur=a;title.textContent=t;redraw();},value(q,k){return cur?at(cur,q,k):0;}};}\n"
    "return {dec,at,peak,draw,viewer,label};})();\n";

void hw_view_page_start(FILE *f, const char *title, const char *css) {
    fputs("<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>", f);
    hw_view_html_text(f, title);
    fputs("</title>\n<style>\n", f);
    fputs(css, f);
    fputs(view_css, f);
    fputs("</style>\n</head><body>\n", f);
}

void hw_view_write_patterns(FILE *f, const unsigned char *packed, int n, int R) {
    const size_t per = hw_view_packed_size(R);
    fputc('[', f);
    for (int i = 0; i < n; i++) {
        fputs(i ? ",\n\"" : "\"", f);
        hw_view_base64(f, packed + per * i, per);
        fputc('"', f);
    }
    fputc(']', f);
}

void hw_view_write_script(FILE *f) {
    fputs("<script>\n", f);
    fputs(view_js, f);
    fputs("</script>\n", f);
}

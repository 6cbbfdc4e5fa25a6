/*
 * patterns_html.c: attention patterns as one self-contained HTML page.
 *
 * The page holds a grid of small heatmaps, layers as rows and heads as columns;
 * clicking one draws it large with the tokens on both axes and the weight under
 * the pointer. The patterns travel inside the page as base64 of 16-bit
 * fixed-point weights (w * 65535, rounded), so the page needs nothing but a
 * browser and stays 2 bytes per weight.
 */
#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static void put_base64(FILE *f, const unsigned char *p, size_t n) {
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) |
                     (i + 2 < n ? p[i + 2] : 0);
        fputc(b64[v >> 18 & 63], f);
        fputc(b64[v >> 12 & 63], f);
        fputc(i + 1 < n ? b64[v >> 6 & 63] : '=', f);
        fputc(i + 2 < n ? b64[v & 63] : '=', f);
    }
}

/* A JSON string literal, safe inside a <script> element. */
static void put_json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\') fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p == '<' || *p == '>' || *p == '&') fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

static const char page_style[] =
    "<style>body{font:13px system-ui,sans-serif;margin:16px;color:#222}"
    "table{border-collapse:collapse}td{padding:2px;text-align:center}"
    "th{font-weight:normal;color:#666;padding:2px 6px}"
    "canvas.s{width:72px;height:72px;image-rendering:pixelated;cursor:pointer;border:1px solid #ddd}"
    "canvas.s.on{outline:2px solid #d33}#big{image-rendering:pixelated;border:1px solid #aaa}"
    "#wrap{display:flex;gap:24px;align-items:flex-start}#info{min-height:1.5em;font-family:monospace}"
    "</style>\n";

/* Drawing: weight w is shaded by sqrt(w) so weak attention stays visible. */
static const char page_script[] =
    "const raw=atob(DATA.b64),n=raw.length/2,W=new Float32Array(n);\n"
    "for(let i=0;i<n;i++)W[i]=(raw.charCodeAt(2*i)|raw.charCodeAt(2*i+1)<<8)/65535;\n"
    "const T=DATA.T,L=DATA.L,H=DATA.H,tok=DATA.tokens;\n"
    "function at(l,h,q,k){return W[((l*H+h)*T+q)*T+k];}\n"
    "function draw(cv,l,h){cv.width=T;cv.height=T;const c=cv.getContext('2d'),im=c.createImageData(T,T);\n"
    " for(let q=0;q<T;q++)for(let k=0;k<T;k++){const v=Math.sqrt(at(l,h,q,k)),o=4*(q*T+k);\n"
    "  im.data[o]=255-200*v;im.data[o+1]=255-170*v;im.data[o+2]=255-60*v;im.data[o+3]=255;}\n"
    " c.putImageData(im,0,0);}\n"
    "const grid=document.getElementById('grid');let hr=document.createElement('tr');\n"
    "hr.appendChild(document.createElement('th'));\n"
    "for(let h=0;h<H;h++){const th=document.createElement('th');th.textContent='head '+h;hr.appendChild(th);}\n"
    "grid.appendChild(hr);let cur=null;\n"
    "for(let l=0;l<L;l++){const tr=document.createElement('tr'),th=document.createElement('th');\n"
    " th.textContent='layer '+l;tr.appendChild(th);\n"
    " for(let h=0;h<H;h++){const td=document.createElement('td'),cv=document.createElement('canvas');\n"
    "  cv.className='s';cv.title=l+'.'+h;draw(cv,l,h);cv.onclick=()=>show(l,h,cv);\n"
    "  td.appendChild(cv);tr.appendChild(td);}\n"
    " grid.appendChild(tr);}\n"
    "const big=document.getElementById('big'),info=document.getElementById('info');\n"
    "function show(l,h,cv){if(cur)cur.classList.remove('on');cur=cv;cv.classList.add('on');\n"
    " document.getElementById('sel').textContent='Head '+l+'.'+h+' (layer '+l+', head '+h+'): rows are queries, columns are keys';\n"
    " draw(big,l,h);const px=Math.max(4,Math.min(24,Math.floor(640/T)));\n"
    " big.style.width=big.style.height=(px*T)+'px';big.dataset.l=l;big.dataset.h=h;\n"
    " const ax=document.getElementById('axis');ax.innerHTML='';\n"
    " tok.forEach((t,i)=>{const s=document.createElement('div');s.textContent=i+': '+JSON.stringify(t);ax.appendChild(s);});}\n"
    "big.onmousemove=e=>{if(big.dataset.l===undefined)return;const r=big.getBoundingClientRect();\n"
    " const k=Math.floor((e.clientX-r.left)/r.width*T),q=Math.floor((e.clientY-r.top)/r.height*T);\n"
    " if(q<0||k<0||q>=T||k>=T)return;const l=+big.dataset.l,h=+big.dataset.h;\n"
    " info.textContent='query '+q+' '+JSON.stringify(tok[q])+' -> key '+k+' '+JSON.stringify(tok[k])+': '+at(l,h,q,k).toFixed(4);};\n"
    "show(0,0,grid.querySelector('canvas'));\n";

hw_status hw_patterns_html(const char *path, const char *title, const char *const *tokens, int T,
                           int L, int H, const float *pattern) {
    if (T <= 0 || L <= 0 || H <= 0 || !pattern || !tokens)
        return hw_fail(HW_ERR_ARG, "patterns page: nothing to draw");
    const size_t n = (size_t)L * H * T * T;
    unsigned char *q = malloc(2 * n);
    if (!q) return hw_fail(HW_ERR_NOMEM, "patterns page: out of memory (%zu weights)", n);
    for (size_t i = 0; i < n; i++) {
        float w = pattern[i];
        unsigned v = !(w > 0) ? 0 : w >= 1 ? 65535 : (unsigned)lrintf(w * 65535.0f);
        q[2 * i] = (unsigned char)(v & 0xff);
        q[2 * i + 1] = (unsigned char)(v >> 8);
    }
    hw_atomic_file *a = hw_atomic_open(path);
    if (!a) {
        free(q);
        return HW_ERR_IO;
    }
    FILE *f = hw_atomic_stream(a);
    fputs("<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>", f);
    for (const char *p = title; *p; p++) {
        if (*p == '<') fputs("&lt;", f);
        else if (*p == '&') fputs("&amp;", f);
        else fputc(*p, f);
    }
    fputs("</title>\n", f);
    fputs(page_style, f);
    fputs("</head><body>\n<h2>Attention patterns</h2>\n<p id=\"title\"></p>\n", f);
    fputs("<div id=\"wrap\"><table id=\"grid\"></table><div><p id=\"sel\"></p>"
          "<canvas id=\"big\"></canvas><p id=\"info\"></p></div>"
          "<div id=\"axis\" style=\"font-family:monospace;max-height:700px;overflow:auto\"></div>"
          "</div>\n<script>\nconst DATA={", f);
    fprintf(f, "\"T\":%d,\"L\":%d,\"H\":%d,\"title\":", T, L, H);
    put_json_string(f, title);
    fputs(",\"tokens\":[", f);
    for (int t = 0; t < T; t++) {
        if (t) fputc(',', f);
        put_json_string(f, tokens[t] ? tokens[t] : "");
    }
    fputs("],\"b64\":\"", f);
    put_base64(f, q, 2 * n);
    fputs("\"};\ndocument.getElementById('title').textContent=DATA.title;\n", f);
    fputs(page_script, f);
    fputs("</script></body></html>\n", f);
    free(q);
    return hw_atomic_commit(a);
}

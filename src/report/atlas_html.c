/*
 * atlas_html.c: the head atlas as one self-contained page (hw_atlas_write_html): the
 * layer x head grid coloured by label with its legend, per-label ranked lists, a head's
 * card on click (scores, masking effect, its pattern on the probe prompt in the shared
 * viewer, pattern_view.c; the page opens on the strongest head of the first label
 * found) and the derived KV policy with the memory it saves. The page
 * reads atlas.json's own text (embedded as application/json) and the patterns as
 * base64 strings, one per head, decoded only when the head is opened: a 32 x 32 model
 * at 1K tokens stays under 5 MB and opens at once.
 */
#include "atlas_html.h"
#include "pattern_view.h"

#include <string.h>

static const char page_css[] =
    "body{font:13px system-ui,sans-serif;margin:16px;color:#222}h2{margin:0 0 4px}h3{margin:18px 0 6px;font-size:14px}\n"
    "#sub{color:#555;margin:0 0 8px}#legend{display:flex;flex-wrap:wrap;gap:10px;margin:6px 0}.lg{display:inline-flex;align-items:center;gap:4px}\n"
    ".sw{display:inline-block;width:12px;height:12px;border:1px solid #999}#wrap{display:flex;gap:24px;align-items:flex-start;flex-wrap:wrap}\n"
    "#gridbox{max-width:100%;overflow:auto;max-height:80vh}table#atlas-grid{border-collapse:collapse}\n"
    "#atlas-grid td.cell{width:16px;height:16px;border:1px solid #fff;cursor:pointer;padding:0}#atlas-grid td.cell.on{outline:2px solid #000}\n"
    "#atlas-grid th{font-weight:normal;color:#777;font-size:10px;padding:0 3px}#lists{display:flex;flex-wrap:wrap;gap:16px}\n"
    ".list{min-width:150px}.list ol{margin:2px 0;padding-left:22px;font-family:monospace;font-size:12px}.list li{cursor:pointer}.list li.more{cursor:default;color:#777}\n"
    ".lt{font-weight:600;display:flex;gap:4px;align-items:center}#head-card{display:none;border:1px solid #ccc;padding:10px 14px;border-radius:4px;min-width:420px;flex:1}\n"
    "#card-title{font-weight:600;font-size:14px}.tag{display:inline-block;padding:1px 6px;margin:4px 4px 4px 0;border-radius:3px;font-size:12px}\n"
    "#card-scores td{padding:0 10px 0 0;font-family:monospace}#kv code{background:#f3f3f3;padding:2px 4px}\n";

static const char page_body[] =
    "<h2 id=\"title\"></h2><p id=\"sub\"></p>\n"
    "<div id=\"legend\"></div>\n"
    "<div id=\"wrap\"><div id=\"gridbox\"><table id=\"atlas-grid\"></table></div>\n"
    "<div id=\"head-card\"><div id=\"card-title\"></div><div id=\"card-labels\"></div>"
    "<table id=\"card-scores\"></table><p id=\"card-mask\"></p><p id=\"card-kv\"></p>"
    "<div id=\"card-view\"></div></div></div>\n"
    "<h3>Heads by label</h3><div id=\"lists\"></div>\n"
    "<h3>KV-cache policy</h3><div id=\"kv\"></div>\n"
    "<h3>Probes</h3><ul id=\"probes\"></ul>\n";

/* Single quotes only (see pattern_view.c). */
static const char page_js[] =
    "const A=JSON.parse(document.getElementById('atlas-data').textContent),PK=DATA.p,T=DATA.T,R=DATA.R,L=A.layers,H=A.heads;\n"
    "const COL={'retrieval':'#d62728','induction':'#1f77b4','previous-token':'#17becf','echo':'#9467bd','successor':'#2ca02c','memory':'#8c564b','in-context':'#ff7f0e','streaming':'#bdbdbd','other':'#f2f2f2'};\n"
    "const SCORE={'retrieval':'retrieval','induction':'induction','previous-token':'prev_token','echo':'echo','successor':'successor','memory':'attribution','in-context':'attribution','streaming':'streaming'};\n"
    "function $(id){return document.getElementById(id);}\n"
    "function mk(tag,cls,txt){const e=document.createElement(tag);if(cls)e.className=cls;if(txt!==undefined)e.textContent=txt;return e;}\n"
    "function fmt(v){return v===null||v===undefined?'-':Math.abs(v)>=1000?v.toExponential(2):(+v).toFixed(3);}\n"
    "function bytes(b){const u=['B','KB','MB','GB','TB'];let i=0;while(b>=1024&&i<4){b/=1024;i++;}return b.toFixed(i?1:0)+' '+u[i];}\n"
    "function paint(e,labs){const c=labs.map(l=>COL[l]||'#fff');e.style.background=c.length>1?'linear-gradient(135deg,'+c[0]+' 50%,'+c[1]+' 50%)':c[0];}\n"
    "const info=A.heads_info,counts={};info.forEach(h=>h.labels.forEach(l=>counts[l]=(counts[l]||0)+1));\n"
    "$('sub').textContent=L+' layers \\u00d7 '+H+' heads ('+A.kv_heads+' KV heads), context '+A.context+(A.task?', organism task '+A.task:', probed with text')+'; probe prompt of '+T+' tokens';\n"
    "const leg=$('legend');Object.keys(COL).forEach(l=>{const s=mk('span','lg');s.dataset.label=l;const b=mk('span','sw');b.style.background=COL[l];s.appendChild(b);s.appendChild(document.createTextNode(l+' ('+(counts[l]||0)+')'));leg.appendChild(s);});\n"
    "const g=$('atlas-grid');let hr=mk('tr');hr.appendChild(mk('th','',''));for(let h=0;h<H;h++)hr.appendChild(mk('th','hh',h));g.appendChild(hr);\n"
    "const cells=[];\n"
    "for(let l=0;l<L;l++){const tr=mk('tr');tr.appendChild(mk('th','lh','layer '+l));\n"
    " for(let h=0;h<H;h++){const d=info[l*H+h],td=mk('td','cell');td.dataset.layer=l;td.dataset.head=h;td.dataset.labels=d.labels.join(' ');\n"
    "  td.title=l+'.'+h+': '+d.labels.join(', ');paint(td,d.labels);td.onclick=()=>open(l,h);tr.appendChild(td);cells.push(td);}\n"
    " g.appendChild(tr);}\n"
    "const lists=$('lists');let first=null;Object.keys(SCORE).forEach(l=>{const hs=info.filter(d=>d.labels.includes(l));if(!hs.length)return;\n"
    " const key=d=>{const v=d.scores[SCORE[l]];return l==='in-context'?-v:v;};hs.sort((a,b)=>key(b)-key(a));if(!first)first=hs[0];\n"
    " const box=mk('div','list'),t=mk('div','lt');const sw=mk('span','sw');sw.style.background=COL[l];t.appendChild(sw);t.appendChild(document.createTextNode(l+' ('+hs.length+')'));box.appendChild(t);\n"
    " const ol=mk('ol');hs.slice(0,12).forEach(d=>{const li=mk('li','',d.layer+'.'+d.head+'  '+SCORE[l]+' '+fmt(d.scores[SCORE[l]]));li.onclick=()=>open(d.layer,d.head);ol.appendChild(li);});\n"
    " if(hs.length>12)ol.appendChild(mk('li','more','\\u2026 '+(hs.length-12)+' more'));box.appendChild(ol);lists.appendChild(box);});\n"
    "if(!lists.children.length)lists.appendChild(mk('p','','No head reached a label\\'s threshold.'));\n"
    "const card=$('head-card'),view=HWView.viewer($('card-view'),A.probe.text,T,R);let sel=null;\n"
    "function open(l,h){const d=info[l*H+h];if(sel)sel.classList.remove('on');sel=cells[l*H+h];sel.classList.add('on');\n"
    " card.style.display='block';card.dataset.layer=l;card.dataset.head=h;$('card-title').textContent='Head '+l+'.'+h+' (layer '+l+', head '+h+', KV head '+d.kv_head+')';\n"
    " const lb=$('card-labels');lb.innerHTML='';d.labels.forEach(x=>{const s=mk('span','tag',x);s.style.background=COL[x];lb.appendChild(s);});\n"
    " const tb=$('card-scores');tb.innerHTML='';Object.keys(d.scores).forEach(k=>{const tr=mk('tr');tr.appendChild(mk('td','k',k));tr.appendChild(mk('td','v',fmt(d.scores[k])));tb.appendChild(tr);});\n"
    " const m=d.mask_effect;$('card-mask').textContent=m?'Masked alone (uniform attention) on '+m.task+': '+m.metric+' '+fmt(m.baseline)+' \\u2192 '+fmt(m.masked)+' ('+(m.delta>=0?'+':'')+fmt(m.delta)+')':'Not masked (no task for its labels, or beyond the heads masked per label).';\n"
    " const full=A.kv_policy.full_heads.some(x=>x[0]===l&&x[1]===d.kv_head);$('card-kv').textContent='KV cache under the derived policy: '+(full?'full':'sink + recent window');\n"
    " view.show(HWView.dec(PK[l*H+h]),'Attention on the probe prompt: rows are queries, columns keys');}\n"
    "const kv=A.kv_policy,kb=kv.kv_bytes,k=$('kv');\n"
    "k.appendChild(mk('p','','Full cache for '+kv.full_kv_heads+' of '+kv.kv_heads_total+' KV heads (those with a retrieval, induction, echo or in-context head); the others keep '+kv.sink+' sink + '+kv.recent+' recent positions.'));\n"
    "k.appendChild(mk('p','','KV cache at '+kb.context+' tokens: '+bytes(kb.policy)+' instead of '+bytes(kb.full)+' (saves '+bytes(kb.saved)+', '+(100*(1-kb.ratio)).toFixed(1)+'%).'));\n"
    "if(kv.accuracy)k.appendChild(mk('p','','Exact answers on '+kv.accuracy.task+' needles: '+fmt(kv.accuracy.full)+' with every head full, '+fmt(kv.accuracy.policy)+' with the policy.'));\n"
    "const c=mk('code','',kv.flag);c.id='kv-flag';const p=mk('p','','Use it: ');p.appendChild(c);k.appendChild(p);\n"
    "const pr=$('probes');Object.keys(A.probes).forEach(n=>pr.appendChild(mk('li','',n+': '+A.probes[n])));\n"
    "open(first?first.layer:0,first?first.head:0);\n";

/* The JSON inside a <script> element: "</" would end it, so it is written "<\/" (the
 * same string to a JSON parser). */
static void put_json_in_script(FILE *f, const char *json) {
    for (const char *p = json; *p; p++) {
        if (p[0] == '<' && p[1] == '/') fputs("<\\", f);
        else fputc(*p, f);
    }
}

hw_status hw_atlas_html_write(const char *path, const char *title, const char *json, int T, int R, int n_heads,
                              const unsigned char *packed) {
    if (!path || !json || T <= 0 || R <= 0 || n_heads <= 0 || !packed)
        return hw_fail(HW_ERR_ARG, "atlas page: nothing to draw");
    hw_atomic_file *a = hw_atomic_open(path);
    if (!a) return HW_ERR_IO;
    FILE *f = hw_atomic_stream(a);
    hw_view_page_start(f, title, page_css);
    fputs(page_body, f);
    fputs("<script type=\"application/json\" id=\"atlas-data\">", f);
    put_json_in_script(f, json);
    fputs("</script>\n", f);
    hw_view_write_script(f);
    fprintf(f, "<script>\nconst DATA={\"T\":%d,\"R\":%d,\"p\":", T, R);
    hw_view_write_patterns(f, packed, n_heads, R);
    fputs("};\ndocument.getElementById('title').textContent=", f);
    hw_view_json_string(f, title);
    fputs(";\n", f);
    fputs(page_js, f);
    fputs("</script></body></html>\n", f);
    return hw_atomic_commit(a);
}

#!/usr/bin/env python3
"""atlas_browser.py: render a headwise page in headless Chromium and check it from inside.

usage: atlas_browser.py CHROMIUM KIND PAGE.html OUT.json [LAYER HEAD]
KIND is "atlas" (atlas.html) or "patterns" (patterns.html). A copy of the page gets an
error trap first in <head> (window.onerror, unhandled rejections, console.error) and a
check script last in <body>; `chromium --headless --dump-dom` runs it and the DOM it
prints carries the results (JSON in <pre id="test-result">), which are written to
OUT.json. A screenshot of the page goes to OUT.png. Standard library only."""
import json
import os
import re
import subprocess
import sys
import time

TRAP = """<script>window.__errs=[];window.addEventListener('error',e=>window.__errs.push('error: '+e.message));
window.addEventListener('unhandledrejection',e=>window.__errs.push('rejection: '+e.reason));
(()=>{const f=console.error;console.error=(...a)=>{window.__errs.push('console: '+a.join(' '));f.apply(console,a);};})();</script>"""

CHECK = """<script>(function(){
const out={errors:window.__errs,ms:performance.now()};
try{
 const atlas=KIND==='atlas';
 const cells=[...document.querySelectorAll(atlas?'#atlas-grid td.cell':'#grid canvas.s')];
 out.cells=cells.length;
 out.labels=cells.map(c=>c.dataset.layer+'-'+c.dataset.head+':'+(c.dataset.labels||''));
 const c=cells.find(e=>+e.dataset.layer===TL&&+e.dataset.head===TH);c.click();
 const card=atlas?document.getElementById('head-card'):document.getElementById('view');
 out.card_visible=getComputedStyle(card).display!=='none';
 out.card_layer=card.dataset.layer;out.card_head=card.dataset.head;
 const H=atlas?A.heads:DATA.H,a=HWView.dec(DATA.p[TL*H+TH]),R=DATA.R;
 let bq=0,bk=0,bv=-1;for(let q=1;q<R;q++)for(let k=0;k<=q;k++){const v=HWView.at(a,q,k);if(v>bv){bv=v;bq=q;bk=k;}}
 let zq=-1,zk=-1;for(let q=0;q<R&&zq<0;q++)for(let k=0;k<R;k++)if(HWView.at(a,q,k)===0){zq=q;zk=k;break;}
 const cv=card.querySelector('canvas.hv-canvas'),g=cv.getContext('2d');
 const px=(x,y)=>{const d=g.getImageData(x,y,1,1).data;return d[0]+d[1]+d[2];};
 out.canvas={w:cv.width,h:cv.height,R:R,T:DATA.T,strong:[bq,bk,bv],zero:[zq,zk],strong_px:px(bk,bq),zero_px:px(zk,zq)};
 out.legend=card.querySelectorAll('.hv-legend .hv-tick').length;
 out.x=[...card.querySelectorAll('.hv-x')].map(e=>[+e.dataset.bin,e.textContent]);
 out.y=[...card.querySelectorAll('.hv-y')].map(e=>[+e.dataset.bin,e.textContent]);
 const r=cv.getBoundingClientRect();cv.dispatchEvent(new MouseEvent('mousemove',{clientX:r.left+(bk+0.5)*r.width/R,clientY:r.top+(bq+0.5)*r.height/R}));
 out.hover=card.querySelector('.hv-info').textContent;
}catch(e){out.errors.push('check: '+e+' '+e.stack);}
out.ms_checked=performance.now();
const pre=document.createElement('pre');pre.id='test-result';pre.textContent=JSON.stringify(out);document.body.appendChild(pre);
})();</script>"""


def main():
    chromium, kind, page, out = sys.argv[1:5]
    layer, head = (int(sys.argv[5]), int(sys.argv[6])) if len(sys.argv) > 6 else (0, 0)
    html = open(page, encoding="utf-8").read()
    html = html.replace("<head>", "<head>" + TRAP, 1)
    check = CHECK.replace("KIND", json.dumps(kind)).replace("TL", str(layer)).replace("TH", str(head))
    html = html.replace("</body>", check + "</body>", 1)
    test_page = os.path.abspath(out + ".html")
    open(test_page, "w", encoding="utf-8").write(html)
    flags = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--window-size=1400,1000",
             "--user-data-dir=" + os.path.abspath(out + ".profile")]
    t0 = time.time()
    dom = subprocess.run(flags + ["--virtual-time-budget=5000", "--dump-dom", "file://" + test_page],
                         capture_output=True, text=True, timeout=120).stdout
    seconds = time.time() - t0
    m = re.search(r'<pre id="test-result">(.*?)</pre>', dom, re.S)
    if not m:
        sys.exit("no test result in the DOM (%d bytes dumped)" % len(dom))
    text = m.group(1).replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&amp;", "&")
    res = json.loads(text)
    res["chromium_seconds"] = seconds
    res["page_bytes"] = os.path.getsize(page)
    subprocess.run(flags + ["--screenshot=" + os.path.abspath(out + ".png"), "file://" + os.path.abspath(page)],
                   capture_output=True, timeout=120)
    res["screenshot_bytes"] = os.path.getsize(out + ".png") if os.path.exists(out + ".png") else 0
    json.dump(res, open(out, "w"))


if __name__ == "__main__":
    main()

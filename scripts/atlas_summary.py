#!/usr/bin/env python3
"""atlas_summary.py ATLAS.json: what `make demo` prints of a head atlas: the heads per
label, the top retrieval head and what masking it does, the KV policy and its saving,
and where the page is. A few lines, standard library only."""
import json
import os
import sys

a = json.load(open(sys.argv[1]))
heads = a["heads_info"]
print("\n%s: %d layers x %d heads%s" % (a["model"], a["layers"], a["heads"],
                                         ", organism task " + a["task"] if a["task"] else ""))
labels = {}
for h in heads:
    for lab in h["labels"]:
        labels.setdefault(lab, []).append("%d.%d" % (h["layer"], h["head"]))
print("heads by label: " + "; ".join("%s %s" % (k, " ".join(v[:6]) + (" ..." if len(v) > 6 else ""))
                                     for k, v in labels.items() if k != "other"))
ret = [h for h in heads if "retrieval" in h["scores"]]
if ret:
    top = max(ret, key=lambda h: h["scores"]["retrieval"])
    m = top["mask_effect"]
    print("top retrieval head %d.%d (retrieval score %.2f)%s" % (
        top["layer"], top["head"], top["scores"]["retrieval"],
        ": masked, %s answers (%s) go %.2f -> %.2f" % (m["task"], m["metric"], m["baseline"], m["masked"]) if m else ""))
k = a["kv_policy"]
b = k["kv_bytes"]
acc = k["accuracy"]
print("KV-cache policy: %d of %d KV heads full, the others %d sink + %d recent: %.0f%% of the cache saved at %d tokens%s" % (
    k["full_kv_heads"], k["kv_heads_total"], k["sink"], k["recent"], 100 * (1 - b["ratio"]), b["context"],
    "; exact answers %.2f (full cache %.2f)" % (acc["policy"], acc["full"]) if acc else ""))
print("  use it: " + k["flag"])
print("open %s in a browser (click a head for its scores and attention pattern)" %
      os.path.join(os.path.dirname(sys.argv[1]), "atlas.html"))

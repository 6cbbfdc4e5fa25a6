#!/usr/bin/env bash
# influence_w2s.sh: AttentionInfluence's weak-to-strong effect in miniature (issue 21): the
# retrieval organism, its top 10% retrieval heads masked, scores a four-domain corpus
# (scripts/influence_corpus.py, DOCS documents); its top FRACTION (overall ranking, and
# with PER_DOMAIN=1 the paper's per-domain one) and a random subset of the same size
# (seeded) train a larger model each (bench/bench_influence_w2s.c: same shape, steps,
# seed), scored on the retrieval task's held-out accuracy (200 samples). About 4 minutes
# per model pair on 2 shared cores. Measured (DOCS=20000, d_model 128, 1400 steps):
#   overall top 30%:     83% retrieval documents; accuracy 0.895 vs random 0.000 (+89.5)
#   per-domain top 30%:  the same domain mix as random; 0.305 vs 0.000 (+30.5)
# The random subset (1,533 retrieval documents among 6,000) never learns the task in
# these steps; within the retrieval domain, the documents the masked heads matter most
# for teach it faster than the others.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${HW_BUILD:-build/rel}
hw=$build/headwise
docs=${DOCS:-20000}
fraction=${FRACTION:-0.3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
org=$(scripts/organism.sh retrieval)
"$hw" score retrieval -m "$org" --task retrieval --samples 50 -o "$tmp/heads.json" >/dev/null 2>&1
/usr/bin/python3 scripts/influence_corpus.py --headwise "$hw" -n "$docs" -o "$tmp/c.jsonl" --seed 7
OMP_WAIT_POLICY=PASSIVE "$hw" influence -m "$org" --heads "$tmp/heads.json" --top 0.1 --corpus "$tmp/c.jsonl" \
    -o "$tmp/scores.jsonl" 2>/dev/null
"$hw" influence select --scores "$tmp/scores.jsonl" --fraction "$fraction" ${PER_DOMAIN:+--per-domain} \
    -o "$tmp/sel.jsonl"
/usr/bin/python3 - "$tmp" <<'PY'
import json, random, sys, collections
tmp = sys.argv[1]
docs = {}
for l in open(tmp + "/c.jsonl"):
    d = json.loads(l)
    docs[d["id"]] = d
sel = [json.loads(l)["id"] for l in open(tmp + "/sel.jsonl")]
rnd = random.Random(1).sample(sorted(docs, key=lambda k: int(k[1:])), len(sel))
for name, ids in (("selected", sel), ("random", rnd)):
    with open("%s/%s.txt" % (tmp, name), "w") as f:
        for i in ids:
            f.write(docs[i]["text"] + "\n")
    print("%-8s %d documents: %s" % (name, len(ids), dict(collections.Counter(docs[i]["domain"] for i in ids))))
PY
OMP_WAIT_POLICY=PASSIVE "$build/bench/bench_influence_w2s" "$org" "$tmp/selected.txt" "$tmp/random.txt" ${STEPS:-} ${D_MODEL:-}

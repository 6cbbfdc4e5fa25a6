#!/usr/bin/env bash
# organism_heads_test.sh: the head scorers' causal claims on trained model organisms
# (headwise organism TASK), trained once per machine and sources into the cache outside
# the clone (tests/organisms.sh) and reused by later runs and the sanitizer build. Asserted:
#   retrieval  masking the top-1 retrieval head drops the exact-answer rate by >= 50
#              points; masking one head outside the top 5 drops it by <= 15 points on
#              average over all such heads; masking the top 5 drops it >= 40 points more
#              than masking 5 random heads outside the top 5 (mean of 10 draws)
#   induction  an induction head (induction mass >= 0.5) ranks first by induction score,
#              and a previous-token head (>= 0.5) sits in the layer below it; masking
#              that previous-token head drops the task accuracy more than masking any
#              single induction head (induction mass >= 0.5) does
#   successor  the top successor score is >= 0.6 and at least 3x the median head's
#   recall     scaling the top in-context head by 2 raises the in-context answer rate
#              and scaling it by 0 or 0.5 lowers it: rate at 2 > rate at 1 > both
set -u
cd "$(dirname "$0")/.."
build=${HW_BUILD:-build/rel}
hw=$build/headwise
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

. tests/organisms.sh
judge() { # name python-assertion-program
    if "$py" -c "$2" >"$tmp/judge" 2>&1; then echo "PASS $1: $(head -n1 "$tmp/judge")"; else echo "FAIL $1: $(head -n1 "$tmp/judge")"; fi
}

# ---- retrieval
if d=$(organism retrieval); then
    if "$hw" score retrieval -m "$d" --task retrieval --samples 100 -o "$tmp/r.json" >"$tmp/r.out" 2>"$tmp/err" &&
        "$hw" mask-test -m "$d" --task retrieval --samples 100 --scores "$tmp/r.json" --top 1 --draws 0 --singles \
            -o "$tmp/m1.json" >/dev/null 2>"$tmp/err" &&
        "$hw" mask-test -m "$d" --task retrieval --samples 100 --scores "$tmp/r.json" --top 5 --draws 10 \
            -o "$tmp/m5.json" >/dev/null 2>"$tmp/err"; then
        judge "retrieval organism: masking the top-1 retrieval head" "
import json; d = json.load(open('$tmp/m1.json')); b = d['baseline']['exact']; t = d['top']['exact']
print('exact answers %.2f -> %.2f with %s masked' % (b, t, d['top']['heads'][0])); assert b - t >= 0.5"
        judge "retrieval organism: one head outside the top 5" "
import json; d = json.load(open('$tmp/m1.json')); b = d['baseline']['exact']
drops = [b - v['exact'] for v in d['singles'].values() if v['rank'] > 5]
m = sum(drops) / len(drops); print('mean drop %.3f over %d heads (max %.2f)' % (m, len(drops), max(drops))); assert len(drops) >= 27 and m <= 0.15"
        judge "retrieval organism: top 5 vs 5 random outside the top 5" "
import json; d = json.load(open('$tmp/m5.json')); b = d['baseline']['exact']; t = d['top']['exact']; r = d['random_mean']['exact']
print('%.2f -> top-5 %.2f, random-5 %.2f (mean of %d)' % (b, t, r, len(d['random']))); assert len(d['random']) >= 10 and (b - t) - (b - r) >= 0.4"
    else
        echo "FAIL retrieval organism scorers: $(tail -n1 "$tmp/err")"
    fi
else
    echo "FAIL retrieval organism training: $(tail -n1 "$tmp/retrieval.err")"
fi

# ---- induction
if d=$(organism induction); then
    if "$hw" score echo-induction -m "$d" -o "$tmp/ei.json" >"$tmp/ei.out" 2>"$tmp/err" &&
        "$hw" mask-test -m "$d" --task induction --samples 100 --scores "$tmp/ei.json" --column 3 --top 1 --draws 0 \
            --singles -o "$tmp/mi.json" >/dev/null 2>"$tmp/err"; then
        judge "induction organism: an induction head ranks first, a previous-token head below it" "
import json; s = json.load(open('$tmp/ei.json'))
ind = {k: v[3] for k, v in s.items()}; prev = {k: v[4] for k, v in s.items()}
top = max(ind, key=ind.get); lt = int(top.split('-')[0])
below = {k: v for k, v in prev.items() if int(k.split('-')[0]) < lt}
ph = max(below, key=below.get) if below else None
print('induction head %s (mass %.2f), previous-token head %s (%.2f)' % (top, ind[top], ph, prev.get(ph, 0)))
assert ind[top] >= 0.5 and ph is not None and prev[ph] >= 0.5"
        judge "induction organism: masking the previous-token head hurts more than masking any induction head" "
import json; s = json.load(open('$tmp/ei.json')); m = json.load(open('$tmp/mi.json'))
ind = {k: v[3] for k, v in s.items()}; prev = {k: v[4] for k, v in s.items()}
lt = int(max(ind, key=ind.get).split('-')[0])
ph = max((k for k in prev if int(k.split('-')[0]) < lt), key=prev.get)
heads = sorted(k for k, v in ind.items() if v >= 0.5); b = m['baseline']['exact']
acc = {k: v['exact'] for k, v in m['singles'].items()}
print('task %.3f; %s masked %.3f; each induction head masked: %s' % (b, ph, acc[ph],
      ', '.join('%s %.3f' % (h, acc[h]) for h in heads)))
assert heads and all(b - acc[ph] > b - acc[h] for h in heads)"
    else
        echo "FAIL induction organism scorers: $(tail -n1 "$tmp/err")"
    fi
else
    echo "FAIL induction organism training: $(tail -n1 "$tmp/induction.err")"
fi

# ---- successor
if d=$(organism successor); then
    if "$hw" score successor -m "$d" --tasks data/tasks/successor_organism.txt -o "$tmp/s.json" >/dev/null 2>"$tmp/err"; then
        judge "successor organism: top successor score >= 0.6 and >= 3x the median head's" "
import json; s = json.load(open('$tmp/s.json')); v = sorted(x[0] for x in s.values()); n = len(v)
med = (v[(n - 1) // 2] + v[n // 2]) / 2; top = max(s, key=lambda k: s[k][0])
print('top %s %.3f, median of %d heads %.3f (%.1fx)' % (top, v[-1], n, med, v[-1] / max(med, 1e-9))); assert v[-1] >= 0.6 and v[-1] >= 3 * med"
    else
        echo "FAIL successor organism scorer: $(tail -n1 "$tmp/err")"
    fi
else
    echo "FAIL successor organism training: $(tail -n1 "$tmp/successor.err")"
fi

# ---- recall
if d=$(organism recall); then
    if "$hw" score attribution -m "$d" --task recall --samples 200 -o "$tmp/a.tsv" >/dev/null 2>"$tmp/err"; then
        head=$(sed -n 2p "$tmp/a.tsv" | awk -F'\t' '{print $1"."$2}')  # most negative scaled first
        if "$hw" sweep scale -m "$d" --task recall --samples 400 --head "$head" --scales 0,0.5,1,2 -o "$tmp/sw.json" \
            >/dev/null 2>"$tmp/err"; then
            judge "recall organism: scaling the top in-context head $head by 2 raises the in-context rate, by 0 or 0.5 lowers it" "
import json; r = {s['scale']: s['in_context'] for s in json.load(open('$tmp/sw.json'))['sweep']}
print('in-context rate %.3f at 0, %.3f at 0.5, %.3f at 1, %.3f at 2' % (r[0], r[0.5], r[1], r[2])); assert r[2] > r[1] > max(r[0], r[0.5])"
        else
            echo "FAIL recall organism sweep: $(tail -n1 "$tmp/err")"
        fi
    else
        echo "FAIL recall organism attribution: $(tail -n1 "$tmp/err")"
    fi
else
    echo "FAIL recall organism training: $(tail -n1 "$tmp/recall.err")"
fi

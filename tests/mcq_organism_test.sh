#!/usr/bin/env bash
# mcq_organism_test.sh: the multiple-choice organism (headwise organism mcq; trained once
# per machine and sources into the cache outside the clone, tests/organisms.sh) and its
# "correct letter" heads (methods.md section 9). Asserted, on held-out samples written by
# `headwise samples mcq` (the seed the protocols use):
#   accuracy   the organism's held-out accuracy (training.json) is >= 0.60 (measured 0.685;
#              chance 0.25)
#   dla        over 100 samples, the head with the largest mean direct logit attribution
#              (`score dla`, target the correct label minus the mean of the other three)
#              writes the answer: its mean is > 1 and the largest of every component
#   attention  that head, from the last token (Answer:), puts more attention on the
#              correct label than 1.5x the mean it puts on each other label (`patterns`),
#              averaged over the same samples (measured 0.34 against 0.18 over 100)
#   patching   the counterfactual file pairs each sample with one as long whose answer
#              is another letter, and patching's metric, logit(clean answer) -
#              logit(counterfactual answer), is > 0 on the clean run and < 0 on the
#              corrupted one for >= 0.6 of the pairs
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

if ! d=$(organism mcq); then
    echo "FAIL mcq organism training: $(tail -n1 "$tmp/mcq.err")"
    exit 0
fi
judge "mcq organism: held-out accuracy >= 0.60" "
import json; a = json.load(open('$d/training.json'))['accuracy']; print('accuracy %.3f' % a); assert a >= 0.60"

n=100
if ! "$hw" samples mcq --samples $n -o "$tmp/clean.tsv" --counterfactual "$tmp/corrupt.tsv" 2>"$tmp/err"; then
    echo "FAIL mcq samples: $(tail -n1 "$tmp/err")"
    exit 0
fi
ok=1
for k in $(seq 1 $n); do
    IFS=$'\t' read -r prompt answer w1 w2 w3 < <(grep -v '^#' "$tmp/clean.tsv" | sed -n "${k}p")
    IFS=$'\t' read -r cprompt canswer _ < <(grep -v '^#' "$tmp/corrupt.tsv" | sed -n "${k}p")
    # the clean answer minus the other labels; then clean minus corrupted answer, both runs
    "$hw" score dla -m "$d" -p "$prompt" --target "$answer" --minus "$w1" --minus "$w2" --minus "$w3" \
        -o "$tmp/clean.dla.$k.json" >/dev/null 2>"$tmp/err" &&
        "$hw" score dla -m "$d" -p "$prompt" --target "$answer" --minus "$canswer" -o "$tmp/pc.$k.json" \
            >/dev/null 2>"$tmp/err" &&
        "$hw" score dla -m "$d" -p "$cprompt" --target "$answer" --minus "$canswer" -o "$tmp/px.$k.json" \
            >/dev/null 2>"$tmp/err" &&
        "$hw" patterns -m "$d" -p "$prompt" -o "$tmp/pat.$k" >/dev/null 2>"$tmp/err" || { ok=0; break; }
done
if [ $ok = 0 ]; then
    echo "FAIL mcq organism dla/patterns: $(tail -n1 "$tmp/err")"
    exit 0
fi
# The mean DLA of each component, the top head and its attention from the last token.
cat >"$tmp/top.py" <<EOF
import json, numpy as np
n, tmp = $n, '$tmp'
lines = [l.rstrip('\n').split('\t') for l in open(tmp + '/clean.tsv') if not l.startswith('#')]
comp = {}
for k in range(1, n + 1):
    for c, v in json.load(open('%s/clean.dla.%d.json' % (tmp, k)))['components'].items():
        comp[c] = comp.get(c, 0) + v / n
heads = {c: v for c, v in comp.items() if c[0].isdigit() and c.split('.')[1].isdigit()}
top = max(heads, key=heads.get)
l, h = map(int, top.split('.'))
right = other = 0
for k in range(1, n + 1):
    p, ans = lines[k - 1][0], lines[k - 1][1]
    toks = ['<bos>'] + p.split()
    row = np.load('%s/pat.%d/patterns.npy' % (tmp, k))[l, h, -1]
    right += row[toks.index(ans)] / n
    other += np.mean([row[toks.index(x)] for x in 'ABCD' if x != ans]) / n
EOF
judge "mcq organism: the top DLA head writes the correct label" "
exec(open('$tmp/top.py').read())
best = max(comp, key=comp.get)
print('top head %s: mean DLA %.3f (largest component %s %.3f)' % (top, heads[top], best, comp[best]))
assert heads[top] > 1 and best == top"
judge "mcq organism: the top DLA head attends from Answer: to the correct label" "
exec(open('$tmp/top.py').read())
print('head %s: attention %.3f on the correct label, %.3f on each other label' % (top, right, other))
assert right > 1.5 * other"
judge "mcq organism: counterfactuals move its answer (patching's corrupted run)" "
import json
n, flip = $n, 0
for k in range(1, n + 1):
    c = json.load(open('$tmp/pc.%d.json' % k)); x = json.load(open('$tmp/px.%d.json' % k))
    assert c['minus'] == x['minus'] and c['target'] not in c['minus']
    flip += c['logit_diff'] > 0 > x['logit_diff']
print('%d of %d pairs: logit(clean answer) - logit(counterfactual answer) > 0 clean, < 0 corrupted' % (flip, n))
assert flip >= 0.6 * n"
# patch --task mcq draws the same pairs as samples --counterfactual writes (same seed, the
# answer moved 1, 2, 3 letters on in turn), so both routes give the same table.
"$hw" patch -m "$d" --clean "$tmp/clean.tsv" --corrupt "$tmp/corrupt.tsv" --hook z --direct -o "$tmp/pf.json" \
    >"$tmp/pf.out" 2>"$tmp/err" &&
    "$hw" patch -m "$d" --task mcq --samples $n --seed 12345 --hook z --direct -o "$tmp/pt.json" >"$tmp/pt.out" 2>>"$tmp/err"
if [ $? -eq 0 ] && [ -s "$tmp/pt.out" ] && cmp -s "$tmp/pf.out" "$tmp/pt.out"; then
    echo "PASS mcq organism: patch --task mcq equals patching the samples files ($(sed -n 3p "$tmp/pt.out" | tr '\t' ' '))"
else
    echo "FAIL mcq organism: patch --task mcq equals patching the samples files"
    diff "$tmp/pf.out" "$tmp/pt.out" | head -5; tail -2 "$tmp/err"
fi

# Patching against DLA (methods.md 9: the Chinchilla study compares them). Both rank the
# heads over the same 100 pairs, patching by its pooled value (denoising hook_z). The
# direct effect is the like-for-like quantity (a head's change read straight through the
# unembedding, as DLA reads its output): its top 3 must be DLA's top 3. The total effect
# also counts what a head does through later heads; a head in its top 3 and not in DLA's
# must be such an upstream head: its pooled direct effect under 0.05.
judge "mcq organism: patching's direct effects rank DLA's top 3 heads first; the total effect differs only by upstream heads" "
import json
exec(open('$tmp/top.py').read())
d = json.load(open('$tmp/pt.json')); H = d['cols']
top3 = lambda g: sorted(((l, h) for l in range(d['rows']) for h in range(H)), key=lambda k: -g[k[0]][k[1]])[:3]
dla3 = set(tuple(map(int, k.split('.'))) for k in sorted(heads, key=lambda k: -heads[k])[:3])
direct3, total3 = set(top3(d['pooled_direct'])), set(top3(d['pooled']))
extra = total3 - dla3
print('DLA top 3 %s; patching direct %s, total %s (%d shared; %s direct %s)' % (sorted(dla3), sorted(direct3),
      sorted(total3), len(total3 & dla3), sorted(extra), [round(d['pooled_direct'][l][h], 3) for l, h in sorted(extra)]))
assert direct3 == dla3
assert all(d['pooled_direct'][l][h] < 0.05 for l, h in extra)"

# The correct-letter head's QK circuit in a low-rank subspace (the Chinchilla study's
# compression): its query and its key projected onto their top-r principal directions
# (centred, fitted on 100 held-out samples, scored on 400 others). Rank 4 keeps the
# accuracy within 2 points; rank 2 does not (so the subspace, not the head, is tested).
top=$("$py" -c "exec(open('$tmp/top.py').read()); print(top)" 2>/dev/null)
if [ -n "$top" ] && "$hw" subspace lowrank -m "$d" --head "$top" --input q,k --task mcq --samples 400 --center \
    --ranks 1,2,3,4,6 -o "$tmp/lowrank.json" >/dev/null 2>"$tmp/err"; then
    judge "mcq organism: the correct-letter head's QK compresses to rank 4 within 2 points (rank 2 does not)" "
import json; j = json.load(open('$tmp/lowrank.json'))
acc = {r['rank']: r['accuracy'] for r in j['ranks']}
base = j['baseline'][0]
print('head $top q,k: baseline %.4f; ' % base + ', '.join('r=%d %.4f' % kv for kv in sorted(acc.items())))
assert base - acc[4] <= 0.02 and base - acc[2] > 0.02"
else
    echo "FAIL mcq organism: subspace lowrank on the correct-letter head: $(tail -n1 "$tmp/err")"
fi

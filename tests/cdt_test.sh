#!/usr/bin/env bash
# cdt_test.sh: `headwise cdt` (CD-T circuits, methods.md section 8) on the organisms whose
# circuits are known (tests/organisms.sh, trained once per machine), against the probes
# and patching:
#   induction  20 task pairs. The two heads of largest relevant logit difference are the
#              echo-induction probe's two induction heads; into each, the heaviest edge
#              comes from the probe's previous-token head through k (path patching's
#              finding, patching_test.sh); ROC AUC of relevance against {previous-token,
#              induction heads} >= 0.9; those three heads (the first three of the
#              faithfulness curve) are more than twice as faithful as random sets of
#              three. The issue's >= 0.8 against <= 0.3 does not hold: 0.59 against 0.21
#              (the fourth head, 0.1, carries a third of the behaviour, through v by
#              CD-T and through k by path patching), and with four heads the discovered
#              circuit (all four at --keep 0.3) leaves no room for a random baseline.
#   recall     plain recall pairs ("s is" vs another subject's, target the clean
#   and mcq    attribute minus the other's) and mcq task pairs: CD-T's heads ranked by
#              relevant logit difference against activation patching's (hook_z,
#              denoising, pooled; total and direct effects): the top-3 overlap and the
#              Spearman rank correlations are printed; asserted: 2 of the top 3 shared
#              with the total effect. CD-T's relevance reaches the output only through
#              values (a head's beta reaches a later head's pattern only if that head's
#              query and key are both relevant), so a head that acts through a later
#              head's query (mcq's 0.1, which moves the question into Answer:) ranks low.
# bench_cdt (bench/cdt.sh) runs once on two pairs. Bad input gives one error line and a
# non-zero status before any pass.
set -u
cd "$(dirname "$0")/.."
build=${HW_BUILD:-build/rel}
hw=$build/headwise
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
judge() { # name python-program (its first output line goes on the PASS/FAIL line)
    if "$py" -c "$2" >"$tmp/judge" 2>&1; then echo "PASS $1: $(head -n1 "$tmp/judge")"; else echo "FAIL $1: $(tail -n1 "$tmp/judge")"; fi
}
expect() { # name status substring cmd...: one error line holding substring, that status
    local name=$1 want=$2 sub=$3
    shift 3
    "$@" >"$tmp/out" 2>"$tmp/err"
    local st=$?
    if [ $st -eq "$want" ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -qF -- "$sub" "$tmp/err"; then echo "PASS $name"
    else echo "FAIL $name: status $st, stderr: $(head -c 300 "$tmp/err")"; fi
}
. tests/organisms.sh

# Spearman correlation and top-3 overlap of two (L, H) grids, for the judges below.
cat >"$tmp/rank.py" <<'EOF'
import json, numpy as np
def ranks(a):
    r = np.empty(len(a)); r[np.argsort(-np.asarray(a))] = np.arange(len(a)); return r
def compare(cdt_json, patch_json, key='pooled'):
    c = np.array(json.load(open(cdt_json))['logit']).ravel()
    p = np.array(json.load(open(patch_json))[key]).ravel()
    rho = np.corrcoef(ranks(c), ranks(p))[0, 1]
    tc, tp = set(np.argsort(-c)[:3]), set(np.argsort(-p)[:3])
    H = len(json.load(open(cdt_json))['logit'][0])
    name = lambda s: sorted('%d.%d' % (k // H, k % H) for k in s)
    return rho, len(tc & tp), name(tc), name(tp), np.argmax(c) == np.argmax(p)
EOF

# ---- the induction organism
if O=$(organism induction); then
    if "$hw" score echo-induction -m "$O" -o "$tmp/ei.tsv" >/dev/null 2>"$tmp/err" &&
        "$hw" cdt -m "$O" --task induction --samples 20 -o "$tmp/ind.json" --html "$tmp/ind.html" \
            --known 0.0,1.0,1.1 >"$tmp/ind.out" 2>"$tmp/err"; then
        judge "cdt induction organism: output heads, previous-token head -> induction heads through k, ROC AUC" "
import json
rows = [l.split('\t') for l in open('$tmp/ei.tsv').read().split('\n')[1:] if l]
hdr = open('$tmp/ei.tsv').readline().rstrip('\n').split('\t')
col = lambda name: {'%s.%s' % (r[0], r[1]): float(r[hdr.index(name)]) for r in rows}
prev = max(col('prev_token').items(), key=lambda kv: kv[1])[0]
ind = set(k for k, _ in sorted(col('induction').items(), key=lambda kv: -kv[1])[:2])
d = json.load(open('$tmp/ind.json')); H = d['heads']
logit = {'%d.%d' % (l, h): d['logit'][l][h] for l in range(d['layers']) for h in range(H)}
out = set(sorted(logit, key=lambda k: -logit[k])[:2])
assert out == ind, (out, ind)
for r in ind:
    into = [e for e in d['edges'] if e['receiver'] == r]
    top = max(into, key=lambda e: e['weight'])
    assert top['sender'] == prev and top['input'] == 'k', (r, top)
auc = float([l for l in open('$tmp/ind.out') if l.startswith('# ROC AUC')][0].split(':')[1])
assert auc >= 0.9, auc
f = d['faithfulness']
assert f[2]['circuit'] > 2 * f[2]['random'], f
print('outputs %s; %s -> them through k (%s); AUC %.3f; faithfulness of %s %.3f (random %.3f)' % (sorted(out), prev,
      ', '.join('%.3f' % e['weight'] for e in d['edges'] if e['sender'] == prev), auc,
      '+'.join(x['added'] for x in f[:3]), f[2]['circuit'], f[2]['random']))"
        judge "cdt induction organism: the JSON and the circuit page" "
import json; d = json.load(open('$tmp/ind.json')); html = open('$tmp/ind.html').read()
assert d['pairs'] == 20 and len(d['relevance']) == 2 and len(d['faithfulness']) == 4 and d['faithfulness'][-1]['circuit'] == 1
assert html.count('class=\"node\"') == 4 and html.count('class=\"edge\"') == len(d['edges']) and 'id=\"faithfulness\"' in html
print('%d edges drawn' % len(d['edges']))"
    else echo "FAIL cdt induction organism runs: $(tail -n1 "$tmp/err")"; fi
    # the benchmark (bench/cdt.sh) runs: one round on two pairs, both times positive
    if "$build/bench/bench_cdt" "$O" induction 2 1 >"$tmp/bench.out" 2>"$tmp/err" &&
        awk '/^  cdt /{c=$2} /^  path /{p=$2} /ratio path\/cdt/{r=1} END{exit !(c>0 && p>0 && r)}' "$tmp/bench.out"; then
        echo "PASS bench_cdt smoke: $(grep ratio "$tmp/bench.out" | sed 's/^ *//')"
    else echo "FAIL bench_cdt smoke: $(cat "$tmp/bench.out" "$tmp/err" | tail -n2)"; fi
    expect "bad input: --metric prob" 2 "logit-diff only" "$hw" cdt -m "$O" --task induction --metric prob -o "$tmp/x.json"
    expect "bad input: --keep 2" 2 "--keep" "$hw" cdt -m "$O" --task induction --keep 2 -o "$tmp/x.json"
    expect "bad input: --top 0" 2 "--top" "$hw" cdt -m "$O" --task induction --top 0 -o "$tmp/x.json"
    expect "bad input: no -o" 2 "-o" "$hw" cdt -m "$O" --task induction
    expect "bad input: --known outside the model" 1 "--known" "$hw" cdt -m "$O" --task induction --known 5.0 \
        --no-faithfulness -o "$tmp/x.json"
else
    echo "FAIL induction organism: $(tail -n1 "${tmp}/induction.err" 2>/dev/null)"
fi

# ---- recall and mcq: CD-T against activation patching
compare() { # name model pair-flags...
    local name=$1 m=$2
    shift 2
    if "$hw" cdt -m "$m" "$@" --no-faithfulness -o "$tmp/$name.cdt.json" >/dev/null 2>"$tmp/err" &&
        "$hw" patch -m "$m" "$@" --hook z --direct -o "$tmp/$name.patch.json" >/dev/null 2>"$tmp/err"; then
        judge "cdt $name organism: CD-T's top 3 heads share 2 with activation patching's" "
exec(open('$tmp/rank.py').read())
rho, shared, tc, tp, same_top = compare('$tmp/$name.cdt.json', '$tmp/$name.patch.json')
rd, sd, _, tpd, _ = compare('$tmp/$name.cdt.json', '$tmp/$name.patch.json', 'pooled_direct')
print('top 3 CD-T %s; patching %s (%d shared, Spearman %.3f), direct effects %s (%d shared, Spearman %.3f)' % (
      tc, tp, shared, rho, tpd, sd, rd))
assert shared >= 2"
    else echo "FAIL cdt $name organism runs: $(tail -n1 "$tmp/err")"; fi
}
if R=$(organism recall); then
    "$hw" samples recall --samples 200 -o "$tmp/recall.tsv" 2>/dev/null
    # plain samples only ("s is"), each against the next one with another attribute
    "$py" - "$tmp" <<'EOF'
import sys
tmp = sys.argv[1]
rows = [l.rstrip('\n').split('\t') for l in open(tmp + '/recall.tsv') if not l.startswith('#')]
plain = [r for r in rows if len(r[0].split()) == 2]
clean, corrupt = open(tmp + '/rc.tsv', 'w'), open(tmp + '/rx.tsv', 'w')
n = 0
for a, b in zip(plain, plain[1:]):
    if a[1] != b[1] and n < 40:
        clean.write('%s\t%s\t%s\n' % (a[0], a[1], b[1])); corrupt.write(b[0] + '\n'); n += 1
EOF
    compare recall "$R" --clean "$tmp/rc.tsv" --corrupt "$tmp/rx.tsv"
else
    echo "FAIL recall organism: $(tail -n1 "${tmp}/recall.err" 2>/dev/null)"
fi
if Q=$(organism mcq); then compare mcq "$Q" --task mcq --samples 100 --seed 12345
else echo "FAIL mcq organism: $(tail -n1 "${tmp}/mcq.err" 2>/dev/null)"; fi

#!/usr/bin/env bash
# patching_test.sh: `headwise patch` and `headwise patch path` end to end (methods.md
# sections 7 and 9): tests/test_patching.c's organism cases on the induction organism
# (identity, the circuit ranked first, path = activation patching, K not Q or V); the CLI
# on the organism (the same numbers as the library, the path table) and on stories260K
# with text pairs (JSON with every pair's grid, TSV, HTML heatmap with legend and token
# labels); and bad input: one error line and a non-zero status, before any run.
set -u
cd "$(dirname "$0")/.."
build=${HW_BUILD:-build/rel}
hw=$build/headwise
models=${HW_SHARED:-../shared}/models/stories260K
M=(-m "$models/stories260K.bin" -z "$models/tok512.bin")
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1"; sed 's/^/  /' "$tmp/err" 2>/dev/null | head -5; }
check() { if "$py" -c "$2" 2>"$tmp/pyerr"; then pass "$1"; else echo "FAIL $1"; sed 's/^/  /' "$tmp/pyerr" | tail -3; fi; }
# expect NAME STATUS PATTERN CMD...: CMD exits with STATUS and one stderr line matching PATTERN.
expect() {
    local name=$1 want=$2 pat=$3
    shift 3
    "$@" >/dev/null 2>"$tmp/err"
    local rc=$?
    if [ "$rc" = "$want" ] && [ "$(wc -l <"$tmp/err")" = 1 ] && grep -q -- "$pat" "$tmp/err"; then pass "$name"; else
        echo "FAIL $name (status $rc)"; sed 's/^/  /' "$tmp/err" | head -3; fi
}

. tests/organisms.sh
O=$(organism induction) || { echo "FAIL induction organism: $(tail -n1 "${tmp}/induction.err")"; O=; }

if [ -n "$O" ]; then
    HW_ORGANISM_INDUCTION=$O "$build/tests/test_patching" organism
    # The CLI: noising hook_z ranks the echo-induction probe's prev-token and induction heads first.
    if "$hw" score echo-induction -m "$O" -o "$tmp/ei.tsv" >/dev/null 2>"$tmp/err" &&
        "$hw" patch -m "$O" --task induction --samples 20 --hook z --direction noise --direct -o "$tmp/z.json" \
            --tsv "$tmp/z.tsv" --html "$tmp/z.html" >"$tmp/z.out" 2>"$tmp/err"; then
        check "cli: patch hook_z (noise) on the induction organism ranks prev-token + induction heads first" "
rows = [l.split('\t') for l in open('$tmp/ei.tsv').read().split('\n')[1:] if l]
hdr = open('$tmp/ei.tsv').readline().rstrip('\n').split('\t')
col = lambda name: {(int(r[0]), int(r[1])): float(r[hdr.index(name)]) for r in rows}
prev = max(col('prev_token').items(), key=lambda kv: kv[1])[0]
ind = sorted(col('induction').items(), key=lambda kv: -kv[1])[:2]
want = {prev} | {k for k, _ in ind}
top = [tuple(map(int, l.split('\t')[1:3])) for l in open('$tmp/z.out') if l[0].isdigit()][:3]
assert set(top) == want, (top, want)
"
        check "cli: patch JSON keeps 20 pairs' grids; mean = their average, pooled = the ratio of mean metrics; TSV and HTML written" "
import json; d = json.load(open('$tmp/z.json'))
assert d['hook'] == 'z' and d['direction'] == 'noise' and d['rows'] == 2 and d['cols'] == 2 and len(d['pairs']) == 20
for l in range(2):
    for h in range(2):
        m = sum(p['normalized'][l][h] for p in d['pairs']) / 20
        assert abs(m - d['mean'][l][h]) < 1e-6
        assert all(abs((p['metric'][l][h] - p['corrupt']) / (p['clean'] - p['corrupt']) - p['normalized'][l][h]) < 1e-5 for p in d['pairs'])
        for k in ('', '_direct'):   # pooled: one ratio of the means over pairs
            c, x = (sum(p[b] for p in d['pairs']) / 20 for b in ('clean', 'corrupt'))
            m = sum(p['metric' + k][l][h] for p in d['pairs']) / 20
            assert abs((m - x) / (c - x) - d['pooled' + k][l][h]) < 1e-6, (k, l, h)
tsv = open('$tmp/z.tsv').read().split('\n'); assert tsv[0] == 'layer\thead\tlabel\tmean\tpooled\tmean_direct\tpooled_direct' and len(tsv) == 6
html = open('$tmp/z.html').read(); assert 'class=\"legend\"' in html and 'direct effect' in html and '>head<' in html
"
    else fail "cli: patch on the induction organism"; fi
    if "$hw" patch path -m "$O" --task induction --samples 10 --senders 0.0 --logits -o "$tmp/path.json" \
        --tsv "$tmp/path.tsv" >"$tmp/path.out" 2>"$tmp/err"; then
        check "cli: patch path 0.0 -> layer 1 goes through k (< -30%), not q or v (|x| < 3%)" "
import json; d = json.load(open('$tmp/path.json'))
pc = dict(zip(d['receivers'], d['percent'][0]))
assert all(pc['1.%d.k' % h] < -30 for h in range(2)), pc
assert all(abs(pc['1.%d.%s' % (h, x)]) < 3 for h in range(2) for x in 'qv'), pc
assert len(open('$tmp/path.tsv').read().split('\n')) == 2 + 8
"
    else fail "cli: patch path on the induction organism"; fi
    printf 't1 t2 t3 t4\tt5\nt1 t2 t3\tt5\n' >"$tmp/oc.txt"
    printf 't1 t2 t9 t4\nt1 t2 t9 t8\n' >"$tmp/ox.txt"
    expect "bad input: unequal lengths name the pair" 1 "pair 2: the clean prompt has 4 tokens and the corrupted one 5" \
        "$hw" patch -m "$O" --clean "$tmp/oc.txt" --corrupt "$tmp/ox.txt" -o "$tmp/x.json"
    expect "bad input: an unknown target token" 1 "target 'nosuchword'" \
        "$hw" patch -m "$O" --clean "$tmp/oc.txt" --corrupt "$tmp/ox.txt" --target nosuchword -o "$tmp/x.json"
    expect "bad input: hook_mlp_out of an attention-only model" 1 "attention-only" \
        "$hw" patch -m "$O" --task induction --hook mlp_out -o "$tmp/x.json"
    expect "bad input: a receiver outside the model" 2 "receivers" \
        "$hw" patch path -m "$O" --task induction --senders 0.0 --receivers 1.5 -o "$tmp/x.json"
fi

# stories260K with text pairs: every command runs; outputs parse.
printf 'Lily saw a big red ball. Lily saw a big red\tball\tcat\nTom had a small blue car. Tom had a small blue\tcar\tdog\n' >"$tmp/c.txt"
printf 'Lily saw a big red cat. Lily saw a big red\nTom had a small blue dog. Tom had a small blue\n' >"$tmp/x.txt"
head -n1 "$tmp/c.txt" >"$tmp/c1.txt"
head -n1 "$tmp/x.txt" >"$tmp/x1.txt"
if "$hw" patch "${M[@]}" --clean "$tmp/c.txt" --corrupt "$tmp/x.txt" --direct -o "$tmp/s.json" --html "$tmp/s.html" \
    >"$tmp/s.out" 2>"$tmp/err" &&
    "$hw" patch "${M[@]}" --clean "$tmp/c1.txt" --corrupt "$tmp/x1.txt" --hook resid_pre --metric logprob \
        -o "$tmp/r.json" --html "$tmp/r.html" >/dev/null 2>"$tmp/err" &&
    "$hw" patch path "${M[@]}" --clean "$tmp/c.txt" --corrupt "$tmp/x.txt" --senders 3.0,3.1 --receivers 4.3,4.1 \
        --input q,k,v -o "$tmp/sp.json" >"$tmp/sp.out" 2>"$tmp/err"; then
    check "stories260K: hook_z 5 x 8 over 2 pairs; resid_pre 5 x 16 with token labels; path 2 x 7" "
import json; d = json.load(open('$tmp/s.json')); assert (d['rows'], d['cols'], len(d['pairs'])) == (5, 8, 2)
r = json.load(open('$tmp/r.json')); assert (r['rows'], r['cols']) == (5, 16) and r['metric'] == 'logprob'
assert r['labels'][6:9] == ['ed', ' b', 'all'], r['labels']  # ' ball' is two tokens here
nz = [c for c in range(r['cols']) if abs(r['mean'][0][c]) > 1e-9]  # layer 0: only where the tokens differ
assert nz and set(nz) <= {7, 8}, (nz, r['labels'])
p = json.load(open('$tmp/sp.json')); assert len(p['receivers']) == 7 and len(p['percent']) == 2
h = open('$tmp/r.html').read(); assert 'position (token)' in h and '>all<' in h and 'class=\"legend\"' in h
"
    head -n 4 "$tmp/s.out" | sed 's/^/  /'
else fail "stories260K: patch and patch path with text pairs"; fi

expect "bad input: --direction sideways" 2 "direction" "$hw" patch "${M[@]}" --task induction --direction sideways -o "$tmp/x.json"
expect "bad input: --hook result" 2 "hook" "$hw" patch "${M[@]}" --task induction --hook result -o "$tmp/x.json"
expect "bad input: --clean without --corrupt" 2 "go together" "$hw" patch "${M[@]}" --clean "$tmp/c.txt" -o "$tmp/x.json"
expect "bad input: no -o" 2 "give -o" "$hw" patch "${M[@]}" --task induction
expect "bad input: --metric" 2 "unknown metric" "$hw" patch "${M[@]}" --task induction --metric kl -o "$tmp/x.json"
expect "bad input: --input x" 2 "--input" "$hw" patch path "${M[@]}" --task induction --input q,x -o "$tmp/x.json"
expect "bad input: position sweep over pairs of different lengths" 1 "same length" \
    "$hw" patch "${M[@]}" --clean "$tmp/c.txt" --corrupt "$tmp/x.txt" --hook attn_out -o "$tmp/x.json"

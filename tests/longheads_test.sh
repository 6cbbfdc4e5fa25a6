#!/usr/bin/env bash
# longheads_test.sh: LongHeads (methods.md section 4, issue 15) on the long-context
# retrieval organism (`retrieval-long`: a rotary model trained at context L = 512 with 4
# needles, every key asked in the tail), through `headwise niah --task retrieval` at 2L,
# 4L and 8L (1024, 2048, 4096 tokens) x 5 depths x 4 samples, seeded, with 4 needles
# at every length (--task-needles 4: the task's default of one needle per 128 tokens
# gives 16 at 2048, which the organism fails with any cache: 0% even with the chunks
# chosen by score=max; the question here is positions, not more needles than trained).
# Every head of both layers reads A = 512 tokens in chunks of W = 32 (the defaults: the
# model's context and A / 16).
#
# Asserted, with margins under what was measured (numbers in the PASS lines; measured
# with 8 samples per cell, exact answers at 2L / 4L / 8L: full 65% / 32.5% / 15%, the
# paper's pooled chunk keys 82.5% / 70% / 62.5%, score=max 100% / 100% / 100%):
#   - at 512 tokens (= A, in a context of 1024) longheads answers exactly as full
#     attention, trial by trial;
#   - full attention fails past L: at most 50% at 4L;
#   - LongHeads with the paper's pooled chunk keys is at least 20 points above full at
#     4L and 8L (the issue asks 90% at 4L: not reached on this organism, see README);
#   - LongHeads choosing chunks by their largest q.k (score=max, not the paper's) is at
#     least 90% at 4L and at least 30 points above full attention there.
set -u
cd "$(dirname "$0")/.."
build=${HW_BUILD:-build/rel}
hw=$build/headwise
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. tests/organisms.sh

if ! d=$(organism retrieval-long); then
    echo "FAIL longheads: no retrieval-long organism: $(tail -n1 "$tmp/retrieval-long.err")"
    exit 0
fi
samples=4
case "$build" in *san*) samples=1 ;; esac
grid="--task retrieval --task-needles 4 --depths 5 --samples $samples --seed 12345 --threads 2"

# run POLICY NAME LENGTHS: the grid under POLICY into $tmp/NAME.json.
run() {
    "$hw" niah -m "$d" $grid --lengths "$3" --kv "$1" -o "$tmp/$2.json" >"$tmp/$2.out" 2>"$tmp/$2.err" ||
        echo "FAIL longheads: niah --kv $1: $(tail -n1 "$tmp/$2.err")"
}
judge() { # name python-program (prints one line; exits non-zero to fail)
    if "$py" -c "$2" >"$tmp/judge" 2>&1; then echo "PASS $1: $(head -n1 "$tmp/judge")"
    else echo "FAIL $1: $(tail -n1 "$tmp/judge")"; fi
}

for p in full:full longheads:pooled longheads:score=max:max; do
    run "${p%:*}" "${p##*:}" 512:1024:2
    run "${p%:*}" "${p##*:}4" 2048:2048:1
    run "${p%:*}" "${p##*:}8" 4096:4096:1
done
# At 512 tokens in a context of 1024 (so LongHeads is on) no query is past A.
judge "longheads at A = 512 tokens answers as full attention" "
import json; f = json.load(open('$tmp/full.json')); l = json.load(open('$tmp/pooled.json'))
a = [t['answer'] for t in f['trial_results'] if t['length'] == 512]
b = [t['answer'] for t in l['trial_results'] if t['length'] == 512]
print(f'{len(a)} trials, exact %.3f' % (sum(t['exact'] for t in f['trial_results'] if t['length'] == 512) / len(a)))
assert len(a) > 0 and a == b
"
# Rates per length (the mean over depths) as "2L 4L 8L" lines.
for n in full pooled max; do
    "$py" -c "
import json
r = []
for f in ['$tmp/$n.json', '$tmp/${n}4.json', '$tmp/${n}8.json']:
    d = json.load(open(f)); e = d['exact']
    r += [sum(row[i] for row in e) / len(e) for i in range(len(d['lengths'])) if d['lengths'][i] > 512]
print(' '.join('%.3f' % x for x in r))" >"$tmp/$n.rates" 2>"$tmp/$n.rerr" || echo "x" >"$tmp/$n.rates"
done
rates="f = [float(x) for x in open('$tmp/full.rates').read().split()]
p = [float(x) for x in open('$tmp/pooled.rates').read().split()]
m = [float(x) for x in open('$tmp/max.rates').read().split()]
show = lambda v: ' / '.join('%.0f%%' % (100 * x) for x in v)
print(f'exact at 2L / 4L / 8L: full {show(f)}, longheads {show(p)}, longheads:score=max {show(m)}')"
judge "longheads: full attention fails past the trained context (4L <= 50%)" "$rates
assert f[1] <= 0.5"
judge "longheads (pooled chunk keys, the paper's) >= full + 20 points at 4L and 8L" "$rates
assert p[1] >= f[1] + 0.2 and p[2] >= f[2] + 0.2"
judge "longheads:score=max >= 90% at 4L and >= full + 30 points" "$rates
assert m[1] >= 0.9 and m[1] >= f[1] + 0.3"

#!/usr/bin/env bash
# loss_cli_test.sh: `headwise loss` on stories260K (trained at 512 positions): its span
# table adds up to the -o file's losses, the text is repeated up to --tokens, LongHeads
# reads past the context where full attention's loss rises, and every bad input is one
# error line and a non-zero status before any run. Also `generate --kv longheads` runs
# past the model's context, which without LongHeads is capped and said.
set -u
cd "$(dirname "$0")/.."
hw=${HW_BUILD:-build/rel}/headwise
S=${HW_SHARED:-../shared}/models/stories260K
M="-m $S/stories260K.bin -z $S/tok512.bin"
T=data/haystack/stories.txt
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass() { echo "PASS $1"; }
failn() { echo "FAIL $1"; sed 's/^/  /' "$tmp/err" "$tmp/out" 2>/dev/null | head -5; }

# LOSS NAME: the table of `loss ... -o $tmp/NAME.npy` against the file.
table_ok() {
    "$py" - "$tmp/$1.out" "$tmp/$1.npy" "$2" <<'PY'
import re, sys
import numpy as np
out, loss, n = open(sys.argv[1]).read(), np.load(sys.argv[2]), int(sys.argv[3])
assert loss.shape == (n - 1,) and np.isfinite(loss).all(), loss.shape
rows = re.findall(r"^(\d+)-(\d+)\t([\d.]+)$", out, re.M)
assert [int(r[0]) for r in rows] == list(range(0, n - 1, 512)), rows
for a, b, v in rows:
    assert abs(loss[int(a):int(b) + 1].mean() - float(v)) < 1e-4, (a, b, v)
m = re.search(r"^all (\d+)\t([\d.]+)\t\((\w+)\)$", out, re.M)
assert m and int(m.group(1)) == n - 1 and abs(loss.mean() - float(m.group(2))) < 1e-4, out
print(m.group(2))
PY
}
for kv in full longheads; do
    "$hw" loss $M --text $T --tokens 2048 --kv $kv -o "$tmp/$kv.npy" >"$tmp/$kv.out" 2>"$tmp/err"
done
if table_ok full 2048 >"$tmp/full.mean" && table_ok longheads 2048 >"$tmp/lh.mean"; then
    pass "loss: span table and -o agree (full $(cat "$tmp/full.mean"), longheads $(cat "$tmp/lh.mean"))"
else failn "loss: span table and -o agree"; fi
# Below A = 512 the two are the same run; past it LongHeads stays near its in-context loss.
if "$py" -c "
import numpy as np
f, l = np.load('$tmp/full.npy'), np.load('$tmp/longheads.npy')
assert np.array_equal(f[:512], l[:512])
assert l[512:].mean() < f[512:].mean() - 0.15, (l[512:].mean(), f[512:].mean())" 2>"$tmp/err"; then
    pass "loss: longheads equals full below 512 and is lower past it"
else failn "loss: longheads equals full below 512 and is lower past it"; fi
# The text alone, then repeated: its first tokens' losses do not change.
"$hw" loss $M --text $T -o "$tmp/own.npy" >"$tmp/own.out" 2>"$tmp/err"
if "$py" -c "
import numpy as np
a, b = np.load('$tmp/own.npy'), np.load('$tmp/full.npy')
assert 1500 < len(a) < 2047 and np.allclose(a[:511], b[:511], atol=1e-5)" 2>>"$tmp/err"; then
    pass "loss: the text alone is its own length"
else failn "loss: the text alone is its own length"; fi

# generate: past the context only under LongHeads.
"$hw" generate $M -p "Once upon a time" -n 700 -t 0 >"$tmp/out" 2>"$tmp/err"
if grep -q "more than the context: running 512" "$tmp/err"; then pass "generate: -n 700 capped at 512"
else failn "generate: -n 700 capped at 512"; fi
long=$(head -c 1200 $T)
"$hw" generate $M -p "$long" -n 900 -t 0 >"$tmp/out" 2>"$tmp/err"
if [ $? -ne 0 ] && grep -q "does not fit\|context holds 512" "$tmp/err"; then pass "generate: a 570-token prompt refused"
else failn "generate: a 570-token prompt refused"; fi
"$hw" generate $M -p "$long" -n 900 -t 0 --kv longheads >"$tmp/out" 2>"$tmp/err"
if [ $? -eq 0 ] && [ "$(wc -c <"$tmp/out")" -gt 1300 ] && grep -Eq "^[0-9]+ pieces" "$tmp/err"; then
    pass "generate --kv longheads: a 570-token prompt continued past 512 positions"
else failn "generate --kv longheads: a 570-token prompt continued past 512 positions"; fi

# Bad input: one line, a non-zero status, nothing on stdout.
bad() { # NAME STATUS ARGS...
    local name=$1 want=$2
    shift 2
    "$hw" loss "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    if [ $rc -eq "$want" ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && [ ! -s "$tmp/out" ] &&
        grep -q "^headwise loss: " "$tmp/err"; then pass "loss refuses $name"
    else failn "loss refuses $name (status $rc)"; fi
}
bad "no text" 2 $M
bad "both --text and -p" 2 $M --text $T -p "Once"
bad "a missing text" 1 $M --text "$tmp/none.txt"
bad "--tokens 1" 2 $M --text $T --tokens 1
bad "an unwritable -o" 1 $M --text $T -o /proc/none/loss.npy
bad "a bad --kv" 2 $M --text $T --kv longheads:chunk=0

#!/usr/bin/env bash
# kv_cli_test.sh: `headwise info -m MODEL --kv POLICY --context N` on stories260K (5 layers,
# 4 KV heads of 8 dims: 64 bytes of keys and values per head and token): per-layer and
# total bytes follow from which heads are full, the full policy equals the full cache, and
# every bad --kv (policy, key, number, missing file, a file of another shape) is one error
# line naming the part or the file, a non-zero status and nothing on stdout.
set -u
cd "$(dirname "$0")/.."
hw=${HW_BUILD:-build/rel}/headwise
M=${HW_SHARED:-../shared}/models/stories260K/stories260K.bin
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass() { echo "PASS $1"; }
failn() { echo "FAIL $1"; sed 's/^/  /' "$tmp/err" "$tmp/out" 2>/dev/null | head -5; }

# The bytes a policy holds at 512 tokens: full heads 512 x 64, streaming heads
# min(512, sink + recent (+ 1)) x 64, per layer and in all, against 5 x 4 x 512 x 64.
bytes_ok() { # NAME SPEC STREAM_ENTRIES FULL_PER_LAYER(space-separated)
    if "$hw" info -m "$M" --kv "$2" --context 512 >"$tmp/out" 2>"$tmp/err" && "$py" - "$tmp/out" "$3" "$4" <<'PY'
import re, sys
out, stream, full = open(sys.argv[1]).read(), int(sys.argv[2]), [int(x) for x in sys.argv[3].split()]
layers = re.findall(r"^layer (\d+): (\d+)/4 KV heads full, [\d.]+ MiB \((\d+) bytes\)$", out, re.M)
assert [int(l[0]) for l in layers] == list(range(5)), layers
total = 0
for (l, nf, b), want_full in zip(layers, full):
    want = int(nf) * 512 * 64 + (4 - int(nf)) * stream * 64
    assert int(nf) == want_full and int(b) == want, (l, nf, b, want_full, want)
    total += want
m = re.search(r"^total: (\d+)/20 KV heads full, [\d.]+ MiB \((\d+) bytes\)$", out, re.M)
assert m and int(m.group(1)) == sum(full) and int(m.group(2)) == total, (m and m.groups(), total)
m = re.search(r"^full cache: [\d.]+ MiB \((\d+) bytes\); this policy holds ([\d.]+) of it \(([\d.]+)x smaller\)$", out, re.M)
assert m and int(m.group(1)) == 5 * 4 * 512 * 64, out
assert abs(float(m.group(3)) - 5 * 4 * 512 * 64 / total) < 0.01, m.groups()
assert out.startswith("model ") and "kv policy" in out
PY
    then pass "$1"; else failn "$1"; fi
}
printf '1\t0\t0\t0\n0\t0\t0\t0\n0\t0\t1\t1\n0\t0\t0\t0\n0\t0\t0\t1\n' >"$tmp/mask.tsv"
bytes_ok "info --kv full: the full cache" full 512 "4 4 4 4 4"
bytes_ok "info --kv window: every head sink + recent" "window:sink=4,recent=60" 64 "0 0 0 0 0"
bytes_ok "info --kv duo with a mask: its heads full" "duo:heads=$tmp/mask.tsv,sink=8,recent=100" 108 "1 0 2 0 1"
bytes_ok "info --kv razor from a mask: + 1 compensation entry" "razor:heads=$tmp/mask.tsv,sink=4,recent=64" 69 "1 0 2 0 1"
if "$hw" info -m "$M" --kv "duo:heads=$tmp/mask.tsv" >"$tmp/out" 2>"$tmp/err" && grep -q "^kv policy     duo:heads=$tmp/mask.tsv$" "$tmp/out" &&
    grep -q "^kv context    512 tokens$" "$tmp/out" && grep -q "^kv streaming  sink 64 + recent 256 per streaming head$" "$tmp/out"; then
    pass "info --kv: the spec as the name, the model's context and duo's deployed sizes by default"
else failn "info --kv: the spec as the name, the model's context and duo's deployed sizes by default"; fi
if "$hw" info -m "$M" >"$tmp/out" 2>"$tmp/err" && ! grep -q "^kv policy\|^layer \|^total" "$tmp/out" && [ "$(wc -l <"$tmp/out")" -eq 15 ]; then
    pass "info without --kv: the model only"
else failn "info without --kv: the model only"; fi

# Bad input: one line on stderr naming what is wrong, status 1 (2 for a bad flag), no stdout.
printf '0.1\t0.2\t0.3\t0.4\n0.1\t0.2\t0.3\t0.4\n' >"$tmp/short.tsv"
printf '0.1\t0.2\n0.1\t0.2\n0.1\t0.2\n0.1\t0.2\n0.1\t0.2\n' >"$tmp/narrow.tsv"
printf '0.1\tnan\t0.3\t0.4\n' >"$tmp/nan.tsv"
for l in 1 2 3 4 5; do printf '0.1\t0.2\t0.3\t0.4\n'; done >"$tmp/gates.tsv"
err_case() { # NAME STATUS EXPECTED-TEXT ARGS...
    local name=$1 want=$2 text=$3
    shift 3
    "$hw" info -m "$M" "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$?
    if [ $rc -eq "$want" ] && [ ! -s "$tmp/out" ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] && grep -qF -- "$text" "$tmp/err"; then
        pass "$name"
    else
        echo "FAIL $name (status $rc, want $want; want '$text')"
        sed 's/^/  /' "$tmp/err" | head -3
    fi
}
err_case "--kv unknown policy" 1 "unknown policy 'lru'" --kv lru
err_case "--kv unknown key" 1 "unknown key in 'size=4'" --kv window:size=4
err_case "--kv bad number" 1 "'recent=ten': not a whole number" --kv window:recent=ten
err_case "--kv non-finite number" 1 "'top=inf'" --kv "duo:heads=$tmp/mask.tsv,top=inf"
err_case "--kv top and sparsity" 1 "not both" --kv "duo:heads=$tmp/mask.tsv,top=0.1,sparsity=0.5"
err_case "--kv duo without heads" 1 "duo needs heads=FILE" --kv duo
err_case "--kv missing file" 1 "$tmp/none.tsv: No such file" --kv "duo:heads=$tmp/none.tsv"
err_case "--kv file with too few layers" 1 "short.tsv: 2 layers x 4 heads, but the model has 5 layers" --kv "duo:heads=$tmp/short.tsv"
err_case "--kv file with too few heads" 1 "narrow.tsv: 5 layers x 2 heads" --kv "duo:heads=$tmp/narrow.tsv"
err_case "--kv file with nan" 1 "nan.tsv:1: 'nan' is not a finite number" --kv "duo:heads=$tmp/nan.tsv"
err_case "--kv razor with gates" 1 "razor takes an echo-induction table" --kv "razor:heads=$tmp/gates.tsv"
err_case "--context 0" 2 "--context" --kv full --context 0
err_case "--kv needs a value" 2 "--kv needs a value" --kv

# razor's three sources of heads agree: the probe run by --kv razor, the table `score
# echo-induction -o` writes, and its --heads-out mask (3 of 20 KV heads on stories260K).
if "$hw" score echo-induction -m "$M" -o "$tmp/ei.tsv" --heads-out "$tmp/ei_mask.tsv" >/dev/null 2>"$tmp/err" &&
    "$hw" info -m "$M" --kv razor --context 512 >"$tmp/probe.out" 2>>"$tmp/err" &&
    "$hw" info -m "$M" --kv "razor:heads=$tmp/ei.tsv" --context 512 >"$tmp/table.out" 2>>"$tmp/err" &&
    "$hw" info -m "$M" --kv "razor:heads=$tmp/ei_mask.tsv" --context 512 >"$tmp/mask.out" 2>>"$tmp/err" &&
    a=$(grep "^layer \|^total" "$tmp/probe.out") && [ "$a" = "$(grep "^layer \|^total" "$tmp/table.out")" ] &&
    [ "$a" = "$(grep "^layer \|^total" "$tmp/mask.out")" ] && grep -q "^total: 3/20 KV heads full" "$tmp/probe.out"; then
    pass "info --kv razor: probe, echo-induction table and mask select the same heads"
else failn "info --kv razor: probe, echo-induction table and mask select the same heads"; fi

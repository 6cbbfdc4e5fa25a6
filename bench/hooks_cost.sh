#!/usr/bin/env bash
# hooks_cost.sh: what hook points cost a run that uses none. The same benchmark
# (bench_forward on a random GPT-2 small folder) is built from the commit before
# hooks existed (BASE, default 895532b) and from this tree, and the two run in
# turns in the same session; also this tree with a hook that asks for nothing.
# Prints the ratios against the baseline (aim: >= 0.98 without hooks).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${HW_BUILD:-build/rel}
base=${BASE:-895532b}
threads=${THREADS:-2} prefill=${PREFILL:-256} decode=${DECODE:-64} rounds=${ROUNDS:-3}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
if ! git cat-file -e "$base^{commit}" 2>/dev/null; then
    echo "hooks_cost: commit $base is not in this clone's history; skipped"
    exit 0
fi
mkdir -p "$dir/base"
git archive "$base" | tar -x -C "$dir/base"
make -s -C "$dir/base" -j2 build/rel/bench/bench_forward >/dev/null
/usr/bin/python3 bench/gpt2_torch.py write "$dir/model"
run() { OMP_WAIT_POLICY=PASSIVE OPENBLAS_THREAD_TIMEOUT=4 "$@" "$dir/model" "$threads" "$prefill" "$decode"; }
val() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }
best() { awk -v a="$1" -v b="$2" 'BEGIN { print (a > b ? a : b) }'; }
bp=0 bd=0 np=0 nd=0 ip=0 id=0
for r in $(seq "$rounds"); do
    o=$(run "$dir/base/build/rel/bench/bench_forward"); bp=$(best "$bp" "$(val prefill_tok_s "$o")"); bd=$(best "$bd" "$(val decode_tok_s "$o")")
    o=$(run "$build/bench/bench_forward"); np=$(best "$np" "$(val prefill_tok_s "$o")"); nd=$(best "$nd" "$(val decode_tok_s "$o")")
    o=$(HW_BENCH_IDLE_HOOK=1 run "$build/bench/bench_forward"); ip=$(best "$ip" "$(val prefill_tok_s "$o")"); id=$(best "$id" "$(val decode_tok_s "$o")")
done
awk -v bp="$bp" -v bd="$bd" -v np="$np" -v nd="$nd" -v ip="$ip" -v id="$id" -v base="$base" \
    -v t="$threads" -v p="$prefill" -v d="$decode" 'BEGIN {
    printf "Hook cost, GPT-2 small (124M random weights), %d threads, prefill %d, decode %d, best of rounds\n", t, p, d
    printf "  %-28s %14s %14s\n", "", "prefill tok/s", "decode tok/s"
    printf "  %-28s %14.1f %14.1f\n", "before hooks (" base ")", bp, bd
    printf "  %-28s %14.1f %14.1f   ratio %.3f / %.3f (aim >= 0.98)\n", "now, no hooks", np, nd, np / bp, nd / bd
    printf "  %-28s %14.1f %14.1f   ratio %.3f / %.3f\n", "now, a hook asking nothing", ip, id, ip / bp, id / bd
}'

#!/usr/bin/env bash
# gpt2_vs_torch.sh: headwise against PyTorch on the same random-weight GPT-2 small
# (124M) Hugging Face folder, same thread count, measured in the same run.
# Prints both rates and headwise/PyTorch ratios (aim: >= 1.0 for both).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${HW_BUILD:-build/rel}
threads=${THREADS:-2} prefill=${PREFILL:-512} decode=${DECODE:-64}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
/usr/bin/python3 bench/gpt2_torch.py write "$dir"
hw=$(OMP_WAIT_POLICY=PASSIVE OPENBLAS_THREAD_TIMEOUT=4 "$build/bench/bench_forward" "$dir" "$threads" "$prefill" "$decode")
pt=$(/usr/bin/python3 bench/gpt2_torch.py time "$dir" "$threads" "$prefill" "$decode")
val() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"; }
awk -v hp="$(val prefill_tok_s "$hw")" -v hd="$(val decode_tok_s "$hw")" \
    -v tp="$(val prefill_tok_s "$pt")" -v td="$(val decode_tok_s "$pt")" \
    -v t="$threads" -v p="$prefill" -v d="$decode" 'BEGIN {
    printf "GPT-2 small (124M, random F32 weights, Hugging Face folder), %d threads\n", t
    printf "  %-8s %16s %16s\n", "", "prefill tok/s", "decode tok/s"
    printf "  %-8s %16.1f %16.1f   (prefill %d tokens, decode %d)\n", "headwise", hp, hd, p, d
    printf "  %-8s %16.1f %16.1f\n", "pytorch", tp, td
    printf "  ratio headwise/pytorch: prefill %.2fx, decode %.2fx (aim >= 1.0)\n", hp / tp, hd / td
}'

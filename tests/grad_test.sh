#!/usr/bin/env bash
# grad_test.sh: gradients of every family against PyTorch autograd. test_grad writes
# random models with a batch and per-head gates, tests/grad_ref.py computes the loss
# and every gradient (weights, activations at hook points, gates) with torch in float64,
# and test_grad compares (relative error <= 1e-4).
set -u
cd "$(dirname "$0")/.."
bin=${HW_BUILD:-build/rel}/tests/test_grad
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! "$bin" --write "$tmp" >"$tmp/cases"; then
    echo "FAIL grad/write: test_grad --write failed"
    exit 1
fi
mapfile -t cases <"$tmp/cases"
if ! /usr/bin/python3 tests/grad_ref.py "${cases[@]}"; then
    echo "FAIL grad/reference: tests/grad_ref.py failed"
    exit 1
fi
"$bin" --compare "${cases[@]}"

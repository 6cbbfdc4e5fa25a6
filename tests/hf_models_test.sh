#!/usr/bin/env bash
# hf_models_test.sh: random checkpoints in every family's Hugging Face layout
# (tests/hf_fixtures.py, which also computes PyTorch reference logits), loaded
# by headwise and compared for prefill, decode and both mixed.
set -u
cd "$(dirname "$0")/.."
bin=${HW_BUILD:-build/rel}/tests/test_hf_models
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! /usr/bin/python3 tests/hf_fixtures.py "$tmp/fx" >"$tmp/cases"; then
    echo "FAIL hf/fixtures: tests/hf_fixtures.py failed"
    exit 1
fi
mapfile -t cases <"$tmp/cases"
# Fewer folders than the script's cases would let a family go untested quietly.
if [ "${#cases[@]}" -lt 12 ]; then
    echo "FAIL hf/fixtures: ${#cases[@]} cases written, expected 12"
    exit 1
fi
"$bin" --compare "${cases[@]}"
# CD-T's beta + gamma against the same checkpoints' forward at every node (tests/test_cdt.c).
"${HW_BUILD:-build/rel}/tests/test_cdt" "${cases[@]}"

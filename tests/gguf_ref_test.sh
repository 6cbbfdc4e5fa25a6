#!/usr/bin/env bash
# gguf_ref_test.sh: GGUF models written by llama.cpp's tools against an independent
# reference (tests/gguf_ref.py: the file read with numpy, converted to a Hugging Face
# folder, run by the PyTorch forward the other families are checked with): the random
# llama-2-tiny-random.gguf (F16 weights, upcast in both) and the trained
# stories260K.gguf, whose peaked attention makes any rotary-layout slip an O(1) error;
# and tests/gguf_arch_ref.py's files in llama.cpp's layout for llama (GQA, head_dim !=
# D/H, linear rope scaling, tied, F16), qwen2 (biases, halves rotary, tied) and gpt2
# (fused qkv, learned positions, biases), against the PyTorch reference of the Hugging
# Face model each was converted from.
set -u
cd "$(dirname "$0")/.."
bin=${HW_BUILD:-build/rel}/tests/test_gguf
models=${HW_SHARED:-../shared}/models/gguf
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for name in llama-2-tiny-random stories260K; do
    if ! /usr/bin/python3 tests/gguf_ref.py "$models/$name.gguf" "$tmp/$name" >/dev/null; then
        echo "FAIL gguf_ref/$name: tests/gguf_ref.py failed"
        continue
    fi
    "$bin" --compare "$models/$name.gguf" "$tmp/$name"
done
if /usr/bin/python3 tests/gguf_arch_ref.py "$tmp/arch" >"$tmp/cases"; then
    n=0
    while read -r d; do
        "$bin" --compare "$d/model.gguf" "$d"
        n=$((n + 1))
    done <"$tmp/cases"
    [ "$n" -eq 6 ] || echo "FAIL gguf_ref/arch: $n cases written, expected 6"
else
    echo "FAIL gguf_ref/arch: tests/gguf_arch_ref.py failed"
fi
exit 0

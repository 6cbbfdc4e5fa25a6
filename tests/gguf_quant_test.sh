#!/usr/bin/env bash
# gguf_quant_test.sh: GGUF's block types. Random blocks of Q4_0, Q4_1, Q5_0, Q5_1, Q8_0,
# Q4_K, Q5_K and Q6_K dequantize bit for bit as a numpy implementation of ggml's
# specification does (tests/gguf_quant_ref.py blocks); and stories260K.gguf with its
# matrices quantized to Q8_0 by numpy still prints greedy-200's first 100 characters,
# its logits' change from F32 reported.
set -u
cd "$(dirname "$0")/.."
bin=${HW_BUILD:-build/rel}/tests/test_gguf
models=${HW_SHARED:-../shared}/models
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if /usr/bin/python3 tests/gguf_quant_ref.py blocks "$tmp/blocks.gguf"; then
    "$bin" --dequant "$tmp/blocks.gguf"
else
    echo "FAIL gguf_dequant: tests/gguf_quant_ref.py blocks failed"
fi
if /usr/bin/python3 tests/gguf_quant_ref.py stories "$models/gguf/stories260K.gguf" "$tmp/q8_0.gguf"; then
    "$bin" --q8 "$tmp/q8_0.gguf"
else
    echo "FAIL gguf_q8_0: tests/gguf_quant_ref.py stories failed"
fi
exit 0

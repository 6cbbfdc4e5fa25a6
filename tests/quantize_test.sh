#!/usr/bin/env bash
# quantize_test.sh: `headwise quantize`. stories260K.gguf to each type: the written
# blocks decode (numpy, tests/quantize_ref.py) within their type's rounding of the F32
# weights, metadata and tokenizer copied; reloaded, q8_0 (and q6_k, which falls back to
# Q8_0 on 64-wide rows) still print greedy-200's first 100 characters, every type's
# logit change reported (stories260K's rows of 64 and 172 are not whole Q4_K / Q6_K
# blocks: those fall back as llama.cpp does, to Q5_0 / Q8_0 / F16). A small model with
# rows of 256 exercises Q4_K and Q6_K themselves. Bad flags and inputs: one line each.
set -u
cd "$(dirname "$0")/.."
hw=${HW_BUILD:-build/rel}/headwise
tq=${HW_BUILD:-build/rel}/tests/test_quant
models=${HW_SHARED:-../shared}/models
src=$models/gguf/stories260K.gguf
greedy=$models/stories260K/greedy-200.txt
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
py=/usr/bin/python3

# type, logit bound on stories260K (measured: 0.22, 3.4, 1.6, 0.22), greedy checked?
for spec in "q8_0 0.5 1" "q4_0 5 0" "q4_k 3 0" "q6_k 0.5 1"; do
    set -- $spec
    out=$tmp/s_$1.gguf
    if ! "$hw" quantize -m "$src" -o "$out" --type "$1" >"$tmp/log" 2>&1; then
        echo "FAIL quantize/$1/write: $(tail -1 "$tmp/log")"
        continue
    fi
    $py tests/quantize_ref.py check "$src" "$out" "$1"
    if [ "$3" = 1 ]; then "$tq" --model "$out" "$src" "$1" "$2" "$greedy"; else "$tq" --model "$out" "$src" "$1" "$2"; fi
done

# Rows of 256: Q4_K and Q6_K proper (measured logit changes: 0.010 q8_0, 0.038 q6_k,
# 0.125 q4_k, 0.146 q4_0, logits up to 1.04).
if $py tests/quantize_ref.py tiny "$tmp/tiny.gguf"; then
    for spec in "q8_0 0.03" "q6_k 0.1" "q4_k 0.3" "q4_0 0.4"; do
        set -- $spec
        out=$tmp/tiny_$1.gguf
        if "$hw" quantize -m "$tmp/tiny.gguf" -o "$out" --type "$1" >"$tmp/log" 2>&1; then
            $py tests/quantize_ref.py check "$tmp/tiny.gguf" "$out" "tiny_$1"
            "$tq" --model "$out" "$tmp/tiny.gguf" "tiny_$1" "$2"
        else
            echo "FAIL quantize/tiny_$1/write: $(tail -1 "$tmp/log")"
        fi
    done
else
    echo "FAIL quantize/tiny: tests/quantize_ref.py tiny failed"
fi

# Bad flags and inputs: a non-zero exit, one line on stderr naming the problem, no output.
$py - "$tmp/tiny.gguf" "$tmp/nan.gguf" <<'PY'
import struct, sys
raw = bytearray(open(sys.argv[1], "rb").read())
struct.pack_into("<f", raw, len(raw) - 4, float("nan"))  # the last value: ffn_down's
open(sys.argv[2], "wb").write(raw)
PY
bad() { # name, expected text, args...
    local name=$1 want=$2
    shift 2
    "$hw" quantize "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$? lines
    lines=$(grep -cv 'headwise quantize: quantize [0-9]*/' "$tmp/err")
    if [ $rc -ne 0 ] && [ "$lines" = 1 ] && grep -q -- "$want" "$tmp/err" && [ ! -e "$tmp/bad.gguf" ]; then
        echo "PASS quantize/bad/$name"
    else
        echo "FAIL quantize/bad/$name: rc $rc, $lines lines: $(cat "$tmp/err")"
    fi
}
bad type "'q3' is not one of" -m "$src" -o "$tmp/bad.gguf" --type q3
bad no_model "no model" -o "$tmp/bad.gguf"
bad no_output "no output" -m "$src"
bad same_file "same file" -m "$src" -o "$src"
bad missing "nope.gguf" -m "$tmp/nope.gguf" -o "$tmp/bad.gguf"
bad not_gguf "GGUF" -m "$models/stories260K/stories260K.bin" -o "$tmp/bad.gguf"
bad vocab_only "without tensors" -m "$(ls "$models"/gguf/vocab/*.gguf | head -1)" -o "$tmp/bad.gguf"
bad non_finite "non-finite value" -m "$tmp/nan.gguf" -o "$tmp/bad.gguf"
bad no_dir "$tmp/no/dir" -m "$src" -o "$tmp/no/dir/bad.gguf"
exit 0

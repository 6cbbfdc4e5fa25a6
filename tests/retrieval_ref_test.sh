#!/usr/bin/env bash
# retrieval_ref_test.sh: `headwise score retrieval` on stories260K (GQA: 8 query heads,
# 4 KV heads) against an independent PyTorch reimplementation of the Retrieval Head
# protocol (tests/retrieval_ref.py): the same greedy answers and, for every trial,
# the same per-head copy-paste scores.
set -u
cd "$(dirname "$0")/.."
hw=${HW_BUILD:-build/rel}/headwise
models=${HW_SHARED:-../shared}/models/stories260K
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Every trial counts (--min-rouge -1), so every trial's scores are logged.
if "$hw" score retrieval -m "$models/stories260K.bin" -z "$models/tok512.bin" \
    --needles data/needles/stories.jsonl --haystack data/haystack/stories.txt \
    --template "{context}{question}" --lengths 128:224:2 --depths 3 --buffer 64 --min-rouge -1 \
    -o "$tmp/r.json" --save-contexts "$tmp/ctx.jsonl" >/dev/null 2>"$tmp/err"; then
    /usr/bin/python3 tests/retrieval_ref.py "$models/stories260K.bin" "$tmp/ctx.jsonl" "$tmp/r.json.trials" |
        grep -v ': ok ('
else
    echo "FAIL retrieval_scores_match_pytorch_reference: $(tail -n1 "$tmp/err")"
fi

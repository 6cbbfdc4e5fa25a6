#!/usr/bin/env bash
# cli_errors_test.sh: bad input gets one clear error line naming the file or
# flag, a non-zero exit, and no crash (a sanitizer report would add lines).
# Broken files come from tests/fixtures/llama2c_variants.py.
set -u
cd "$(dirname "$0")/.."
hw=${HW_BUILD:-build/rel}/headwise
models=${HW_SHARED:-../shared}/models/stories260K
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# expect_error NAME NEEDLE CMD...: CMD exits 1 or 2 with exactly one stderr line containing NEEDLE.
expect_error() {
    local name=$1 needle=$2
    shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$? lines
    lines=$(wc -l <"$tmp/err")
    if [ $rc -ne 1 ] && [ $rc -ne 2 ]; then
        echo "FAIL $name: exit status $rc (want 1 or 2)"; sed 's/^/    /' "$tmp/err" | head -5
    elif [ "$lines" -ne 1 ]; then
        echo "FAIL $name: $lines stderr lines (want 1)"; sed 's/^/    /' "$tmp/err" | head -5
    elif ! grep -qF -- "$needle" "$tmp/err"; then
        echo "FAIL $name: error does not name '$needle': $(cat "$tmp/err")"
    else
        echo "PASS $name: $(cat "$tmp/err")"
    fi
}

if ! /usr/bin/python3 tests/fixtures/llama2c_variants.py "$models/stories260K.bin" \
        "$models/tok512.bin" "$tmp/fx" >/dev/null; then
    echo "FAIL fixtures: tests/fixtures/llama2c_variants.py failed"
    exit 1
fi

# Every broken checkpoint, through both commands that load a model.
while IFS=$'\t' read -r file what; do
    case $file in
    tok_*) expect_error "tokenizer: $what" "$tmp/fx/$file" \
        "$hw" generate -m "$models/stories260K.bin" -z "$tmp/fx/$file" -n 4 ;;
    *) expect_error "info: $what" "$tmp/fx/$file" "$hw" info -m "$tmp/fx/$file"
       expect_error "generate: $what" "$tmp/fx/$file" \
           "$hw" generate -m "$tmp/fx/$file" -z "$models/tok512.bin" -n 4 ;;
    esac
done <"$tmp/fx/bad.txt"

expect_error "missing model file" "$tmp/nope.bin" "$hw" info -m "$tmp/nope.bin"
expect_error "model is a folder without config" "$tmp/fx" "$hw" info -m "$tmp/fx"
expect_error "unknown flag" "--bogus" "$hw" generate -m "$models/stories260K.bin" --bogus
expect_error "unknown flag of info" "-x" "$hw" info -x
expect_error "flag without value" "-n" "$hw" generate -m "$models/stories260K.bin" -n
expect_error "bad number" "-t" "$hw" generate -m "$models/stories260K.bin" -t warm
expect_error "top-p out of range" "--top-p" "$hw" generate -m "$models/stories260K.bin" --top-p 1.5
expect_error "unknown command" "frobnicate" "$hw" frobnicate
# A head list too long for the copy the interventions make (it crashed on a NULL '=').
expect_error "--scale head list over 4 KB" "--scale" "$hw" run -m "$models/stories260K.bin" \
    -z "$models/tok512.bin" -p Once --scale "$(printf '0.0,%.0s' $(seq 1100))0.1=2"

# headwise samples: a task's held-out prompts; counterfactuals only where the task has them,
# and then both files or neither.
expect_error "samples without a task" "no task" "$hw" samples -o "$tmp/s.tsv"
expect_error "samples of an unknown task" "sorting" "$hw" samples sorting -o "$tmp/s.tsv"
expect_error "samples: one file for both" "same file" "$hw" samples mcq -o "$tmp/s.tsv" --counterfactual "$tmp/s.tsv"
expect_error "samples: --samples 0" "--samples" "$hw" samples mcq -o "$tmp/s.tsv" --samples 0
expect_error "samples: counterfactuals of induction" "no counterfactual" \
    "$hw" samples induction -o "$tmp/s.tsv" --counterfactual "$tmp/c.tsv"
[ -e "$tmp/s.tsv" ] || [ -e "$tmp/c.tsv" ] && echo "FAIL samples: a refused run left a file"
expect_error "samples: unwritable output" "$tmp/nodir/x/s.tsv" "$hw" samples mcq -o "$tmp/nodir/x/s.tsv"

# A prompt longer than the 512-token context: nothing generated, one error line.
long=$(printf 'Once upon a time there was a cat. %.0s' $(seq 80))
expect_error "prompt longer than the context" "context" \
    "$hw" generate -m "$models/stories260K.bin" -z "$models/tok512.bin" -p "$long" -n 10
if [ -s "$tmp/out" ] && [ "$(tr -d '\n' <"$tmp/out")" != "" ]; then
    echo "FAIL prompt longer than the context: printed text: $(head -c 80 "$tmp/out")"
fi
exit 0

#!/usr/bin/env bash
# cli_bugs_test.sh: the bugs issue 13 found in the commands that run a model, each
# reproduced on 744efe7 (every case here fails there): non-finite --scale accepted (NaN
# logits); run and patterns computing before finding -o unwritable, and not making
# missing parent folders; -n capped or without a decode step in silence; generate
# without the intervention flags; and the tokenizer found beside a checkpoint.
set -u
cd "$(dirname "$0")/.."
hw=${HW_BUILD:-build/rel}/headwise
S=${HW_SHARED:-../shared}/models/stories260K
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
M=(-m "$S/stories260K.bin" -z "$S/tok512.bin")

# expect_error NAME NEEDLE CMD...: exit 1 or 2, one stderr line containing NEEDLE, and
# nothing on stdout (the error came before any work).
expect_error() {
    local name=$1 needle=$2
    shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$? lines
    lines=$(wc -l <"$tmp/err")
    if [ $rc -ne 1 ] && [ $rc -ne 2 ]; then echo "FAIL $name: exit $rc"; head -3 "$tmp/err"
    elif [ "$lines" -ne 1 ]; then echo "FAIL $name: $lines stderr lines"; head -3 "$tmp/err"
    elif ! grep -qF -- "$needle" "$tmp/err"; then echo "FAIL $name: $(cat "$tmp/err")"
    elif [ -s "$tmp/out" ]; then echo "FAIL $name: printed before failing: $(head -c 80 "$tmp/out")"
    else echo "PASS $name: $(cat "$tmp/err")"; fi
}

# expect_warning NAME NEEDLE CMD...: exit 0 with exactly one stderr line "warning" + NEEDLE.
expect_warning() {
    local name=$1 needle=$2
    shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$? n
    n=$(grep -c "warning: .*$needle" "$tmp/err")
    if [ $rc -ne 0 ]; then echo "FAIL $name: exit $rc: $(head -2 "$tmp/err")"
    elif [ "$n" -ne 1 ]; then echo "FAIL $name: $n warnings: $(head -3 "$tmp/err")"
    else echo "PASS $name: $(grep warning "$tmp/err")"; fi
}

# Non-finite numbers: --scale H=nan ran and printed NaN logits.
for s in nan inf -inf 1e400 1e39; do
    expect_error "run --scale 1.2=$s refused" "--scale" "$hw" run "${M[@]}" -p Once --scale "1.2=$s"
done
expect_error "generate --scale 1.2=nan refused" "--scale" "$hw" generate "${M[@]}" -p Once --scale 1.2=nan
expect_error "generate -t nan refused" "-t" "$hw" generate "${M[@]}" -t nan

# Outputs checked first: an -o under a plain file fails before the model is even read
# (a missing model would be the error otherwise) and before anything is printed.
: >"$tmp/file"
expect_error "run: unwritable -o found first" "$tmp/file/out" \
    "$hw" run -m "$tmp/no-such-model.bin" -p Once -o "$tmp/file/out"
expect_error "run: unwritable -o, nothing computed" "$tmp/file/out" \
    "$hw" run "${M[@]}" -p Once -n 3 -o "$tmp/file/out"
expect_error "patterns: unwritable -o found first" "$tmp/file/out" \
    "$hw" patterns -m "$tmp/no-such-model.bin" -p Once -o "$tmp/file/out"

# Missing parents are made, as `organism -o` makes them.
if "$hw" run "${M[@]}" -p Once --capture hook_logits -o "$tmp/r/a/b/c" >/dev/null 2>"$tmp/err" &&
    [ -s "$tmp/r/a/b/c/hook_logits.npy" ] && [ -s "$tmp/r/a/b/c/index.json" ]; then
    echo "PASS run -o a/b/c makes the parents"
else echo "FAIL run -o a/b/c: $(cat "$tmp/err")"; fi
if "$hw" patterns "${M[@]}" -p Once -o "$tmp/p/a/b/c" >/dev/null 2>"$tmp/err" &&
    [ -s "$tmp/p/a/b/c/patterns.html" ]; then
    echo "PASS patterns -o a/b/c makes the parents"
else echo "FAIL patterns -o a/b/c: $(cat "$tmp/err")"; fi

# logits.npy is listed in index.json (it was written but not listed).
if /usr/bin/python3 - "$tmp/r/a/b/c" <<'PY'
import json, sys, numpy as np
d = sys.argv[1]
idx = json.load(open(d + "/index.json"))
e = [x for x in idx if x["file"] == "logits.npy"]
assert len(e) == 1 and e[0]["hook"] == "logits" and idx[-1] is e[0], idx
assert list(np.load(d + "/logits.npy").shape) == e[0]["shape"] == [512]
PY
then echo "PASS run -o lists logits.npy in index.json"; else echo "FAIL run -o: logits.npy not listed"; fi

# -n: capped values and a decode phase with no decode step are said once on stderr.
expect_warning "generate -n past the context is capped, said once" "more than the context" \
    "$hw" generate "${M[@]}" -p Once -n 100000 -t 0
expect_warning "generate -n below the prompt's length, said once" "less than the prompt" \
    "$hw" generate "${M[@]}" -p "Once upon a time there was" -n 2 -t 0
expect_warning "run --phase decode -n 0 warns" "no decode step" \
    "$hw" run "${M[@]}" -p Once --zero-output 0.1 --phase decode
expect_warning "run --phase decode -n 1 warns" "no decode step" \
    "$hw" run "${M[@]}" -p Once --zero-output 0.1 --phase decode -n 1
"$hw" run "${M[@]}" -p Once --zero-output 0.1 --phase decode -n 2 >/dev/null 2>"$tmp/err"
if [ ! -s "$tmp/err" ]; then echo "PASS run --phase decode -n 2: no warning"
else echo "FAIL run --phase decode -n 2 warned: $(cat "$tmp/err")"; fi

# generate with heads edited: masking head 3.0 changes the greedy text, scale 1 does not.
G=("$hw" generate "${M[@]}" -p Once -n 60 -t 0)
"${G[@]}" >"$tmp/plain" 2>/dev/null
"${G[@]}" --mask-uniform 3.0 >"$tmp/masked" 2>"$tmp/err.m"
"${G[@]}" --scale 3.0,1.2=1 >"$tmp/scaled1" 2>"$tmp/err.s"
if [ -s "$tmp/plain" ] && ! cmp -s "$tmp/plain" "$tmp/masked" && cmp -s "$tmp/plain" "$tmp/scaled1"; then
    echo "PASS generate --mask-uniform 3.0 changes the text, --scale 1 does not"
else
    echo "FAIL generate interventions: $(head -c 200 "$tmp/masked") $(cat "$tmp/err.m" "$tmp/err.s")"
fi

# The tokenizer beside a checkpoint: tokenizer.bin found without -z; none there: one
# error line naming the file looked for.
mkdir -p "$tmp/ck"
cp "$S/stories260K.bin" "$tmp/ck/"
expect_error "no tokenizer beside the checkpoint" "tokenizer.bin" \
    "$hw" generate -m "$tmp/ck/stories260K.bin" -n 10 -t 0
cp "$S/tok512.bin" "$tmp/ck/tokenizer.bin"
if "$hw" generate -m "$tmp/ck/stories260K.bin" -p Once -n 60 -t 0 2>/dev/null | cmp -s - "$tmp/plain"; then
    echo "PASS tokenizer.bin beside the checkpoint is found without -z"
else echo "FAIL tokenizer.bin beside the checkpoint"; fi
exit 0

#!/usr/bin/env bash
# malicious_files_test.sh: hand-made hostile files (tests/fixtures/malicious.py:
# negative and huge dimensions, offsets past the end, overlapping tensors,
# invalid UTF-8, JSON nested 100000 deep, a 4 GB header length, ...; and
# tests/fixtures/malicious_gguf.py's hostile GGUF files) through
# the CLI. Each must give exactly one stderr line naming the file, exit status
# 1, and no crash or sanitizer report (which would add lines). The runner sets
# HW_BUILD, so this runs against the plain and the sanitizer build.
set -u
cd "$(dirname "$0")/.."
hw=${HW_BUILD:-build/rel}/headwise
models=${HW_SHARED:-../shared}/models/stories260K
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ! /usr/bin/python3 tests/fixtures/malicious.py "$tmp/fx" >"$tmp/cases"; then
    echo "FAIL malicious files: tests/fixtures/malicious.py failed"
    exit 1
fi
# GGUF: the size-overflow and out-of-bounds classes of llama.cpp's and Ollama's CVEs,
# huge counts, nesting, alignment, overlaps, unknown types, cuts at every boundary.
if ! /usr/bin/python3 tests/fixtures/malicious_gguf.py "$tmp/fx" >>"$tmp/cases"; then
    echo "FAIL malicious files: tests/fixtures/malicious_gguf.py failed"
    exit 1
fi

# check NAME PATH CMD...: exit 1, one stderr line that names PATH.
check() {
    local name=$1 path=$2
    shift 2
    "$@" >/dev/null 2>"$tmp/err"
    local rc=$? lines
    lines=$(wc -l <"$tmp/err")
    if [ $rc -ne 1 ]; then
        echo "FAIL $name: exit status $rc (want 1)"; head -5 "$tmp/err" | sed 's/^/    /'
    elif [ "$lines" -ne 1 ]; then
        echo "FAIL $name: $lines stderr lines (want 1)"; head -5 "$tmp/err" | sed 's/^/    /'
    elif ! grep -qF -- "$(basename "$path")" "$tmp/err"; then
        echo "FAIL $name: error does not name the file: $(cat "$tmp/err")"
    else
        echo "PASS $name: $(cut -c1-160 "$tmp/err")"
    fi
}

while IFS=$'\t' read -r kind path what; do
    if [ "$kind" = model ]; then
        check "info: $what" "$path" "$hw" info -m "$path"
        check "generate: $what" "$path" "$hw" generate -m "$path" -z "$models/tok512.bin" -n 4
    else
        check "tokenizer: $what" "$path" "$hw" generate -m "$models/stories260K.bin" -z "$path" -n 4
    fi
done <"$tmp/cases"
exit 0

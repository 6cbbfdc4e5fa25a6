#!/usr/bin/env bash
# fuzz_replay_test.sh: every fuzz target (tests/fuzz/fuzz_*.c), built into this
# build without libFuzzer, replays its seed corpus (tests/fuzz/corpus/TARGET)
# and every input a fuzzer once crashed on (tests/fuzz/regressions/TARGET), so
# a fixed crash stays fixed, plain and under the sanitizers. A crash or a
# sanitizer report makes the replayer exit non-zero (one FAIL line).
set -u
cd "$(dirname "$0")/.."
build=${HW_BUILD:-build/rel}
export HW_SHARED=${HW_SHARED:-../shared}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# fuzz_tokenize's tokenizers: tokenizer.json in each layout, made from real vocabularies.
/usr/bin/python3 tests/fuzz/make_data.py "$tmp/data" "$HW_SHARED/models" 2>/dev/null
export HW_FUZZ_DATA=$tmp/data
n=0
for bin in "$build"/fuzz/fuzz_*; do
    [ -x "$bin" ] || continue
    t=${bin##*/fuzz_}
    dirs=()
    for d in tests/fuzz/corpus/$t tests/fuzz/regressions/$t; do [ -d "$d" ] && dirs+=("$d"); done
    if [ ${#dirs[@]} -eq 0 ]; then
        echo "FAIL fuzz_$t: no corpus in tests/fuzz/corpus/$t"
        continue
    fi
    "$bin" "${dirs[@]}" >"$tmp/out" 2>&1
    rc=$?
    if [ $rc -ne 0 ]; then
        echo "FAIL fuzz_$t: replay exited with status $rc"
        grep -m5 -E 'ERROR|runtime error|SUMMARY|abort' "$tmp/out" | sed 's/^/    /'
    else
        cat "$tmp/out"
    fi
    n=$((n + 1))
done
[ $n -gt 0 ] || echo "FAIL fuzz replay: no replayers in $build/fuzz"
exit 0

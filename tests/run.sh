#!/usr/bin/env bash
# run.sh: run every test program (build/*/tests/test_*) and test script
# (tests/*_test.sh), count "PASS"/"FAIL" case lines, print "N passed, N failed"
# last and exit non-zero on any failure. A program that exits non-zero without
# printing a FAIL line (a crash, a sanitizer report) counts as one failure.
set -u
cd "$(dirname "$0")/.."
build=${HW_BUILD:-build/rel}
export HW_BUILD=$build HW_SHARED=${HW_SHARED:-$(cd .. && pwd)/shared}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE} OPENBLAS_THREAD_TIMEOUT=${OPENBLAS_THREAD_TIMEOUT:-4}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
passed=0 failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for t in "$build"/tests/test_* tests/*_test.sh; do
    [ -x "$t" ] || continue
    echo "== $t"
    "$t" >"$log" 2>&1
    rc=$?
    cat "$log"
    p=$(grep -c '^PASS ' "$log")
    f=$(grep -c '^FAIL ' "$log")
    if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL $t exited with status $rc"
        f=1
    fi
    passed=$((passed + p)) failed=$((failed + f))
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]

#!/usr/bin/env bash
# pool_tsan_test.sh: tests/test_pool.c and tests/test_kernels.c built with
# ThreadSanitizer against only the sources they use (the pool, the kernels, the
# thread count; no model, and no sgemm runs: OpenBLAS's threads are not instrumented,
# so test_kernels.c skips its sgemm cases under TSan), so a chunk run twice, a
# result read before the pool hands it back, or any other data race in the pool's
# job hand-off is reported. Each case line is prefixed "tsan/"; a TSan report fails.
set -u
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cc=${CC:-cc}
flags=(-std=c11 -D_GNU_SOURCE -Iinclude -Isrc -I/usr/include/x86_64-linux-gnu/openblas-pthread
       -O1 -g -march=native -fsanitize=thread -fopenmp)
status=0
for t in pool kernels; do
    srcs=(tests/test_$t.c src/core/pool.c src/core/threads.c)
    [ $t = kernels ] && srcs+=(src/core/simd.c src/core/ops.c src/core/quant_kernels.c)
    if ! "$cc" "${flags[@]}" "${srcs[@]}" -o "$tmp/$t" -lopenblas -lm 2>"$tmp/cc.log"; then
        cat "$tmp/cc.log"
        echo "FAIL tsan/$t: does not build with -fsanitize=thread"
        status=1
        continue
    fi
    TSAN_OPTIONS="halt_on_error=1 exitcode=66 ${TSAN_OPTIONS:-}" "$tmp/$t" >"$tmp/out" 2>"$tmp/err"
    rc=$?
    sed 's/^\(PASS\|FAIL\) /\1 tsan\//' "$tmp/out"
    if [ $rc -ne 0 ]; then
        cat "$tmp/err"
        status=1
        # 1: failed cases, reported above; 66: a ThreadSanitizer report; else a crash.
        [ $rc -ne 1 ] && echo "FAIL tsan/$t: exit status $rc (66: a ThreadSanitizer report)"
    fi
done
exit $status

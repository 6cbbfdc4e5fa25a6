#!/usr/bin/env bash
# tokenizer_ref_test.sh: compare libheadwise's tokenizer with the independent
# Python reference in tokenizer_ref.py (Debian's /usr/bin/python3, through
# ctypes). Under SANITIZE=1 the library needs the sanitizer runtimes loaded first.
set -u
cd "$(dirname "$0")/.."
build=${HW_BUILD:-build/rel}
shared=${HW_SHARED:-$(cd .. && pwd)/shared}
preload=
if [[ $build == */san ]]; then
    preload="$(cc -print-file-name=libasan.so) $(cc -print-file-name=libubsan.so)"
    export ASAN_OPTIONS=detect_leaks=0  # python itself leaks by design
fi
LD_PRELOAD=$preload exec /usr/bin/python3 tests/tokenizer_ref.py "$build/libheadwise.so" "$shared"

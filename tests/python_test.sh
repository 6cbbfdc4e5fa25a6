#!/usr/bin/env bash
# python_test.sh: the Python binding's test suite (bindings/python/tests, pytest with
# Debian's python3-pytest and python3-numpy), one PASS/FAIL line per pytest test for
# tests/run.sh, from pytest's JUnit XML. The binding is tested against the library
# and CLI of the same build ($HW_BUILD, default build/rel), so arrays can be compared
# bit for bit.
#
# In the sanitizer build (HW_BUILD=build/san) libheadwise.so is ASan-instrumented,
# and an uninstrumented python can load it only with the ASan runtime preloaded.
# We preload it rather than fall back to build/rel: then every call the binding
# makes, the refused arguments and the bad files included, runs under ASan and
# UBSan, which is the point of that build (its CLI and library come from the same
# objects, so the bit-for-bit comparisons still hold). Leak checking is off for the
# python process (the interpreter keeps memory to its exit by design, and every
# report would be its own); the CLI runs it spawns keep the build's ASAN_OPTIONS.
# If the runtime cannot be found, the suite is skipped with a note.
set -u
cd "$(dirname "$0")/.."
build=${HW_BUILD:-build/rel}
py=/usr/bin/python3
export HW_SHARED=${HW_SHARED:-$(cd .. && pwd)/shared}
export HEADWISE_LIB=$PWD/$build/libheadwise.so PYTHONDONTWRITEBYTECODE=1

if ! $py -c 'import numpy, pytest' 2>/dev/null; then
    echo "SKIP python: needs python3-numpy and python3-pytest"
    exit 0
fi
if [ ! -f "$HEADWISE_LIB" ]; then
    echo "FAIL python: no $HEADWISE_LIB (make -j2 all)"
    exit 1
fi
if grep -q libasan.so "$HEADWISE_LIB"; then
    asan=$(${CC:-cc} -print-file-name=libasan.so 2>/dev/null)
    if [ -z "$asan" ] || [ ! -f "$asan" ]; then
        echo "SKIP python: $HEADWISE_LIB needs the ASan runtime, which was not found"
        exit 0
    fi
    export HW_CLI_ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
    export LD_PRELOAD=$asan ASAN_OPTIONS=detect_leaks=0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
$py -m pytest -p no:cacheprovider -q -rfEs --junitxml="$tmp/junit.xml" bindings/python/tests \
    >"$tmp/log" 2>&1
rc=$?
if [ ! -s "$tmp/junit.xml" ]; then
    cat "$tmp/log"
    echo "FAIL python: pytest exited with status $rc and wrote no report"
    exit 1
fi
$py - "$tmp/junit.xml" <<'PY'
import sys
import xml.etree.ElementTree as ET

for case in ET.parse(sys.argv[1]).getroot().iter("testcase"):
    module = case.get("classname", "").rsplit(".", 1)[-1]
    name = "python/%s::%s" % (module, case.get("name"))
    bad = case.find("failure")
    if bad is None:
        bad = case.find("error")
    skipped = case.find("skipped")
    if bad is not None:
        msg = (bad.get("message") or "").strip().splitlines()
        print("FAIL %s: %s" % (name, msg[0][:200] if msg else "failed"))
        for line in (bad.text or "").splitlines()[-15:]:
            print("    " + line)
    elif skipped is not None:
        print("SKIP %s: %s" % (name, skipped.get("message", "")))
    else:
        print("PASS %s" % name)
PY
tail -1 "$tmp/log"
exit $rc

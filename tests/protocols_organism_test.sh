#!/usr/bin/env bash
# protocols_organism_test.sh: tests/test_protocols.c's organism cases on the retrieval
# model organism (its folder from tests/organisms.sh, trained once per machine):
# hw_retrieval_run on the retrieval task and hw_mask_test_run on it equal the CLI's
# files byte for byte, and the hooked task evaluation unmasked is the baseline.
set -u
cd "$(dirname "$0")/.."
build=${HW_BUILD:-build/rel}
hw=$build/headwise
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. tests/organisms.sh
if d=$(organism retrieval); then
    HW_ORGANISM_RETRIEVAL=$d "$build/tests/test_protocols" organism
else
    echo "FAIL protocols on the retrieval organism: training it: $(tail -n1 "$tmp/retrieval.err")"
fi

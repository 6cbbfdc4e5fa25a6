#!/usr/bin/env bash
# cdt.sh: circuit discovery by CD-T against path patching (bench/bench_cdt.c) on the
# induction and mcq organisms (trained first if this machine has none: minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${HW_BUILD:-build/rel}
for task in induction mcq; do
    m=$(scripts/organism.sh "$task")
    OMP_WAIT_POLICY=PASSIVE "$build/bench/bench_cdt" "$m" "$task" "${PAIRS:-20}" "${ROUNDS:-5}"
done

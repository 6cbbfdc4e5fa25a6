#!/usr/bin/env bash
# hooks_ref_test.sh: head interventions on random checkpoints of every family
# against PyTorch (tests/hooks_ref.py masks one head's attention to uniform with
# torch ops), plus the hook invariants on each family.
set -u
cd "$(dirname "$0")/.."
bin=${HW_BUILD:-build/rel}/tests/test_hooks
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! /usr/bin/python3 tests/hooks_ref.py "$tmp/fx" >"$tmp/cases"; then
    echo "FAIL hooks/fixtures: tests/hooks_ref.py failed"
    exit 1
fi
n=0 rc=0
while read -r dir layer head; do
    "$bin" --ref "$dir" "$layer" "$head" || rc=1
    n=$((n + 1))
done <"$tmp/cases"
if [ "$n" -lt 6 ]; then
    echo "FAIL hooks/fixtures: $n cases, expected 6"
    exit 1
fi
exit $rc

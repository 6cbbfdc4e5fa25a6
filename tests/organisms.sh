# organisms.sh: sourced by test scripts (and the golden test): `organism TASK` prints the
# folder of the default model organism for TASK from the cache outside the clone,
# training it first if needed. scripts/organism.sh is the implementation (cache, key,
# trainer; shared with `make demo`); this keeps the training log in ${tmp:-/tmp}/TASK.err
# for a test's FAIL line.
organism() {
    scripts/organism.sh "$1" 2>"${tmp:-/tmp}/$1.err"
}

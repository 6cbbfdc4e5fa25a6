#!/usr/bin/env bash
# organism.sh TASK: print the folder of the default model organism for TASK
# (`headwise organism TASK`), training it first if the cache holds none trained from the
# same sources and settings. The one implementation of the organism cache: `make demo`
# calls it, and the tests through tests/organisms.sh.
#
# The cache lives outside the clone (HW_ORGANISM_CACHE, default
# ${XDG_CACHE_HOME:-~/.cache}/headwise/organisms), one folder per key: the task, a hash
# of every source file that decides the weights or the accuracy recorded with them (the
# task generators, the trainer and the forward it differentiates, the evaluation's
# forward, the organism defaults), the CPU model and OpenBLAS's core type (the same seed
# trains other bits with other float kernels). A machine that has trained an organism
# never trains it again; clones, `make demo`, the tests and the sanitizer run all reuse
# it. The folder holds config.json, model.safetensors, tokenizer.json and training.json
# (settings, loss, speed and the task's held-out accuracy, written by the CLI).
#
# Training uses the release binary (HW_TRAINER, default build/rel/headwise; ASan would
# take ten times as long), or $HW_BUILD/headwise when there is no release build. Its
# progress goes to stderr. Runs for the same key wait for each other (flock) rather
# than train twice.
set -u
task=${1:?usage: scripts/organism.sh TASK}
cache=${HW_ORGANISM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/headwise/organisms}
case $cache in /*) ;; *) cache=$PWD/$cache ;; esac
cd "$(dirname "$0")/.." || exit 1
cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null)
key=$({
    cat src/tasks/*.c src/tasks/task.h src/train/*.c src/model/*.c src/core/*.c src/internal.h \
        cli/organism.c cli/train.c cli/train_run.c 2>/dev/null
    echo "$task $cpu ${OPENBLAS_CORETYPE:-}"
} | cksum | tr ' ' '-')
d=$cache/$task-$key

done_() { [ -s "$d/model.safetensors" ] && [ -s "$d/training.json" ]; }
if ! done_; then
    mkdir -p "$cache" || exit 1
    exec 9>"$cache/.$task-$key.lock"
    flock 9 # another run may be training this key: wait for it, then look again
    if ! done_; then
        trainer=${HW_TRAINER:-build/rel/headwise}
        [ -x "$trainer" ] || trainer=${HW_BUILD:-build/rel}/headwise
        [ -x "$trainer" ] || { echo "organism.sh: no headwise binary to train with (make all first)" >&2; exit 1; }
        rm -rf "$d.tmp.$$"
        if ! "$trainer" organism "$task" -o "$d.tmp.$$" --threads 2 >/dev/null; then
            rm -rf "$d.tmp.$$"
            exit 1
        fi
        rm -rf "$d" && mv "$d.tmp.$$" "$d" || exit 1
    fi
fi
echo "$d"

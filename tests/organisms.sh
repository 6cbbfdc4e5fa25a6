# organisms.sh: sourced by test scripts (and the golden test): `organism TASK` prints the
# folder of the default model organism for TASK, training it first if no cached one was
# trained from the same sources and settings.
#
# The cache lives outside the clone (HW_ORGANISM_CACHE, default
# ${XDG_CACHE_HOME:-~/.cache}/headwise/organisms), one folder per key: the task, a hash
# of every source file that decides the weights (the task generators, the trainer and the
# forward it differentiates, the organism defaults), the CPU model and OpenBLAS's core
# type (the same seed trains other bits with other float kernels). A machine that has
# trained an organism never trains it again; a clone, `make demo` and the sanitizer run
# all reuse it. Training uses the release binary (ASan would take ten times as long).
# Needs: $hw or build/rel/headwise; $tmp for logs.

hw_organism_cache=${HW_ORGANISM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/headwise/organisms}

# The key's hash for TASK.
organism_key() {
    local cpu
    cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null)
    {
        cat src/tasks/*.c src/tasks/task.h src/train/*.c src/model/*.c src/core/*.c src/internal.h cli/organism.c cli/train.c cli/train_run.c 2>/dev/null
        echo "$1 $cpu ${OPENBLAS_CORETYPE:-}"
    } | cksum | tr ' ' '-'
}

organism() {
    local key d trainer=build/rel/headwise
    [ -x "$trainer" ] || trainer=${hw:-build/rel/headwise}
    key=$(organism_key "$1")
    d="$hw_organism_cache/$1-$key"
    if [ ! -s "$d/model.safetensors" ] || [ ! -s "$d/training.json" ]; then
        mkdir -p "$hw_organism_cache" || return 1
        rm -rf "$d.tmp.$$"
        "$trainer" organism "$1" -o "$d.tmp.$$" --threads 2 >"${tmp:-/tmp}/$1.train" 2>"${tmp:-/tmp}/$1.err" || return 1
        cp "${tmp:-/tmp}/$1.train" "$d.tmp.$$/training.json" 2>/dev/null
        # Another run may have finished the same key meanwhile: keep the first.
        if [ -s "$d/model.safetensors" ]; then rm -rf "$d.tmp.$$"; else rm -rf "$d" && mv "$d.tmp.$$" "$d"; fi
    fi
    echo "$d"
}

#!/usr/bin/env bash
# run.sh SECONDS [TARGET...]: run each libFuzzer target in build/fuzz (all of
# them by default) for SECONDS (or FUZZ_RUNS executions, if set and reached
# first; FUZZ_CHUNK splits them between processes, see below), one after another, and fail on any crash,
# leak, timeout or sanitizer report. Seeds: tests/fuzz/corpus/TARGET (kept in
# git), inputs made from ../shared/models at run time, and what earlier runs
# found (build/fuzz/corpus/TARGET, where new inputs go). A failing input is
# saved as build/fuzz/artifacts/TARGET-crash-...; keep it as a regression in
# tests/fuzz/regressions/TARGET/ once fixed. Prints one line per target.
set -u
cd "$(dirname "$0")/../.."
secs=${1:-10}
shift || true
shared=${HW_SHARED:-$(cd .. && pwd)/shared}
models=$shared/models
out=build/fuzz
export HW_SHARED=$shared HW_FUZZ_DATA=$out/data
# allocator_release_to_os_interval_ms=-1: ASan otherwise hands freed pages back to the
# kernel as it recycles its quarantine, a madvise and TLB flush each time (a fifth of a
# long score_files run); it finds the same bugs either way.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1:allocator_release_to_os_interval_ms=-1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export OMP_WAIT_POLICY=PASSIVE OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
mkdir -p "$out/artifacts" "$out/seeds" "$out/data"

# Tokenizer.json files in every supported layout, for fuzz_tokenize.
if [ ! -e "$out/data/.done" ]; then
    /usr/bin/python3 tests/fuzz/make_data.py "$out/data" "$models" >&2 && touch "$out/data/.done"
fi

# Real files as seeds (never copied into the project): libFuzzer reads at
# most -max_len bytes of each, so a real checkpoint seeds its header.
seeds() {
    local t=$1 d=$out/seeds/$1
    mkdir -p "$d"
    case $t in
    llama2c) [ -e "$models/stories260K/stories260K.bin" ] && ln -sf "$models/stories260K/stories260K.bin" "$d/" ;;
    tokenizer_bin)
        # The first byte is the vocab_size the caller passes (0: all pieces).
        [ -e "$models/stories260K/tok512.bin" ] && { printf '\0'; cat "$models/stories260K/tok512.bin"; } >"$d/tok512"
        [ -e "$models/llama2-tokenizer/tokenizer.bin" ] &&
            { printf '\377'; head -c 20000 "$models/llama2-tokenizer/tokenizer.bin"; } >"$d/llama2-head" ;;
    tokenize) cp -f "$out/data/"*.txt "$d/" 2>/dev/null ;;
    gguf) # llama.cpp's own files: a model's header and tensor table, vocabularies' metadata.
        for f in "$models/gguf/stories260K.gguf" "$models/gguf/llama-2-tiny-random.gguf" \
            "$models/gguf/vocab/ggml-vocab-gpt-2.gguf" "$models/gguf/vocab/ggml-vocab-llama-spm.gguf"; do
            [ -e "$f" ] && ln -sf "$f" "$d/"
        done ;;
    esac
    echo "$d"
}

# Longest input per target. Each execution costs time in proportion to its
# input (a tokenizer's table is built, a text encoded), so a larger cap than
# the inputs need only slows a run: the text targets (tokenize, niah,
# score_files, kv_heads) stop at 4 KB, longer than any line or prompt they split
# (kv_heads: a --kv text, or a heads file of a few hundred heads); the
# tokenizer files (tokenizer_json, gpt2_files) at 8 KB, which holds their
# largest seed (5 KB) and every limit a file can reach (nesting of 1000, ids
# up to 1024 past the last piece; a piece's 64 KB limit is out of reach of
# any cap a run could afford).
max_len() {
    case $1 in
    tokenize | niah | score_files | kv_heads) echo 4096 ;;
    hfconfig) echo 4096 ;;
    tokenizer_json | gpt2_files) echo 8192 ;;
    *) echo 32768 ;;
    esac
}

# The readers in cli/ print one error line per bad input, as the commands do:
# millions of lines in a long run. libFuzzer closes the target's stderr for
# them and keeps its own output and every sanitizer report.
extra_flags() {
    case $1 in
    niah | score_files) echo -close_fd_mask=2 ;;
    esac
}

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for f in "$out"/fuzz_*; do [ -x "$f" ] && targets+=("$(basename "$f" | sed 's/^fuzz_//')"); done
fi
failed=0
for t in "${targets[@]}"; do
    bin=$out/fuzz_$t
    [ -x "$bin" ] || { echo "fuzz $t: no $bin (run make fuzz)"; failed=1; continue; }
    mkdir -p "$out/corpus/$t"
    dirs=("$out/corpus/$t" "$(seeds "$t")")
    [ -d "tests/fuzz/corpus/$t" ] && dirs+=("tests/fuzz/corpus/$t")
    [ -d "tests/fuzz/regressions/$t" ] && dirs+=("tests/fuzz/regressions/$t")
    log=$out/$t.log
    start=$(date +%s)
    # With FUZZ_CHUNK (and FUZZ_RUNS), one process per FUZZ_CHUNK executions, each
    # starting from the corpus the last one grew, until FUZZ_RUNS in all or SECONDS:
    # an ASan process slows as it ages (a score_files process fell from 3,000 to 1,300
    # executions a second within half an hour), a new one starts at full speed.
    runs=0 took=0 rc=0
    : >"$log"
    while :; do
        this=${FUZZ_RUNS:+$((FUZZ_RUNS - runs))}
        [ -n "${FUZZ_CHUNK:-}" ] && [ -n "$this" ] && [ "$this" -gt "$FUZZ_CHUNK" ] && this=$FUZZ_CHUNK
        "$bin" ${this:+-runs=$this} -max_total_time="$((secs - took))" -max_len="$(max_len "$t")" -timeout=25 \
            -rss_limit_mb=2048 -artifact_prefix="$out/artifacts/$t-" -print_final_stats=1 $(extra_flags "$t") \
            "${dirs[@]}" >"$log.part" 2>&1
        rc=$?
        cat "$log.part" >>"$log"
        runs=$((runs + $(sed -n 's/^stat::number_of_executed_units: *//p' "$log.part" | tail -1 | grep . || echo 0)))
        took=$(($(date +%s) - start))
        [ $rc -eq 0 ] && [ -n "${FUZZ_CHUNK:-}" ] && [ -n "$this" ] && [ "$runs" -lt "$FUZZ_RUNS" ] &&
            [ "$took" -lt "$secs" ] || break
    done
    rm -f "$log.part"
    if [ $rc -ne 0 ]; then
        echo "fuzz $t: FAILED (exit $rc) after ${runs:-?} runs; log $log"
        grep -m3 -E 'ERROR|runtime error|SUMMARY|Test unit written' "$log" | sed 's/^/    /'
        failed=1
    else
        echo "fuzz $t: ${runs:-?} runs in $took s, no crash"
    fi
done
exit $failed

#!/usr/bin/env bash
# protocols_cli_test.sh: the bugs of issue 13 in `score retrieval`, `mask-test` and
# `sweep scale`, each checked at the command line on stories260K (each check fails on
# 744efe7):
#   - a trial log written with other settings (needles, their contents, the haystack's
#     contents, depths, max-new, ...) is refused with one line naming the setting, not
#     resumed; so is a log without settings;
#   - an interrupted run leaves no FILE.json (only FILE.json.partial.json) and a rerun
#     completes it to the uninterrupted run's bytes; a torn last log line is dropped;
#   - the whole grid is checked before the first trial;
#   - outputs are checked (and missing folders made) before the long work;
#   - sweep --scales refuses nan, inf and 1e400;
#   - mask-test refuses a ranking whose top K all tie with the heads after them.
set -u
cd "$(dirname "$0")/.."
hw=${HW_BUILD:-build/rel}/headwise
models=${HW_SHARED:-../shared}/models/stories260K
M=(-m "$models/stories260K.bin" -z "$models/tok512.bin")
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1"; sed 's/^/  /' "$tmp/err" 2>/dev/null | head -5; }
# One error line matching $2, a non-zero status, and nothing on stdout.
refused() {
    local name=$1 pat=$2; shift 2
    if "$hw" "$@" >"$tmp/out" 2>"$tmp/err"; then fail "$name (exit 0)"; return; fi
    if [ "$(wc -l <"$tmp/err")" = 1 ] && grep -q -- "$pat" "$tmp/err" && [ ! -s "$tmp/out" ]; then
        pass "$name"
    else
        fail "$name"
    fi
}

cp data/needles/stories.jsonl "$tmp/needles.jsonl"
cp data/haystack/stories.txt "$tmp/hay.txt"
NIAH=(--needles "$tmp/needles.jsonl" --haystack "$tmp/hay.txt" --template "{context}{question}"
      --lengths 128:192:2 --depths 3 --buffer 64)
R=(score retrieval "${M[@]}" "${NIAH[@]}")

# ---- resume log keyed by every setting
if "$hw" "${R[@]}" -o "$tmp/r.json" >/dev/null 2>"$tmp/err"; then
    refused "retrieval: a log of other depths is refused, naming depths" "other settings: depths is '0,50,100' there, '0,100' now" \
        "${R[@]}" --depths 2 -o "$tmp/r.json"
    refused "retrieval: a log of another max-new is refused" "other settings: max_new is" "${R[@]}" --max-new 20 -o "$tmp/r.json"
    refused "retrieval: a log of another min-rouge is refused" "other settings: min_rouge is" "${R[@]}" --min-rouge 10 -o "$tmp/r.json"
    refused "retrieval: a log of other lengths is refused" "other settings: lengths is" \
        "${R[@]}" --lengths 128:160:2 -o "$tmp/r.json"
    refused "retrieval: a log of another template is refused" "other settings: template is" \
        "${R[@]}" --template "{context} Q: {question}" -o "$tmp/r.json"
    sed -i 's/magic word/secret word/' "$tmp/needles.jsonl"
    refused "retrieval: a log of other needle contents (same file name) is refused" "other settings: needles is" \
        "${R[@]}" -o "$tmp/r.json"
    cp data/needles/stories.jsonl "$tmp/needles.jsonl"
    echo "One more sentence." >>"$tmp/hay.txt"
    refused "retrieval: a log of another haystack content (same file name) is refused" "other settings: haystack is" \
        "${R[@]}" -o "$tmp/r.json"
    cp data/haystack/stories.txt "$tmp/hay.txt"
    cp "$tmp/r.json.trials" "$tmp/keep.trials"
    grep -v '^# setting' "$tmp/keep.trials" >"$tmp/r.json.trials"
    refused "retrieval: a log without settings (an older headwise) is refused" "has no settings" "${R[@]}" -o "$tmp/r.json"
    cp "$tmp/keep.trials" "$tmp/r.json.trials"
    if "$hw" "${R[@]}" -o "$tmp/r.json" >"$tmp/out" 2>"$tmp/err" && grep -q "resuming: 12 trials" "$tmp/err" \
        && grep -q "this run: 0 of 0 new" "$tmp/out"; then
        pass "retrieval: the same settings resume (0 of 0 new)"
    else
        fail "retrieval: the same settings resume"
    fi
else
    fail "score retrieval runs"
fi

# ---- an interrupted run: no FILE.json, a partial one; the rerun completes it
BIG=(score retrieval "${M[@]}" --needles data/needles/stories.jsonl --haystack data/haystack/stories.txt
     --template "{context}{question}" --lengths 128:448:10 --depths 10 --buffer 64)
if "$hw" "${BIG[@]}" -o "$tmp/full/r.json" >/dev/null 2>"$tmp/err"; then
    "$hw" "${BIG[@]}" -o "$tmp/cut/r.json" >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 500); do
        [ "$(grep -vc '^#' "$tmp/cut/r.json.trials" 2>/dev/null)" -ge 5 ] 2>/dev/null && break
        sleep 0.01
    done
    kill -KILL $pid 2>/dev/null
    wait $pid 2>/dev/null
    n=$(grep -vc '^#' "$tmp/cut/r.json.trials")
    if [ ! -e "$tmp/cut/r.json" ] && [ -s "$tmp/cut/r.json.partial.json" ] && [ "$n" -ge 5 ] && [ "$n" -lt 200 ] &&
        /usr/bin/python3 -c "import json; d = json.load(open('$tmp/cut/r.json.partial.json')); assert len(d) == 40"; then
        pass "retrieval: a killed run leaves no r.json, a partial r.json.partial.json and $n logged trials"
    else
        echo "FAIL retrieval: a killed run ($n trials logged): $(ls "$tmp/cut")"
    fi
    # A torn last line (a write cut by the kill) is dropped, not glued to the next trial.
    printf '1\t448\t10' >>"$tmp/cut/r.json.trials"
    if "$hw" "${BIG[@]}" -o "$tmp/cut/r.json" >/dev/null 2>"$tmp/err" && cmp -s "$tmp/cut/r.json" "$tmp/full/r.json" &&
        [ ! -e "$tmp/cut/r.json.partial.json" ] && [ "$(grep -vc '^#' "$tmp/cut/r.json.trials")" = 200 ] &&
        cmp -s <(grep -v '^#' "$tmp/cut/r.json.trials" | sort) <(grep -v '^#' "$tmp/full/r.json.trials" | sort); then
        pass "retrieval: the rerun completes the killed run to the uninterrupted bytes (torn line dropped)"
    else
        fail "retrieval: the rerun of a killed run"
    fi
else
    fail "score retrieval (200 trials) runs"
fi

# ---- the whole grid is checked first
refused "retrieval: a length too long for the model fails before trial 1, naming the first bad trial" \
    "trial 13 of 30 (needle 0, length 500)" score retrieval "${M[@]}" --needles data/needles/stories.jsonl \
    --haystack data/haystack/stories.txt --lengths 100:500:5 --depths 3 --buffer 64 -o "$tmp/grid.json"
if [ ! -e "$tmp/grid.json.trials" ] || [ "$(grep -vc '^#' "$tmp/grid.json.trials")" = 0 ]; then
    pass "retrieval: no trial ran before the grid error"
else
    echo "FAIL retrieval: trials ran before the grid error"
fi

# ---- outputs checked before the long work; missing folders made
touch "$tmp/file"
refused "retrieval: an unwritable --tsv fails before any trial" "cannot write $tmp/file/r.tsv" \
    "${R[@]}" --tsv "$tmp/file/r.tsv"
refused "retrieval: an unwritable -o fails before any trial" "cannot write $tmp/file/r.json" \
    "${R[@]}" -o "$tmp/file/r.json"
mkdir -p "$tmp/adir"
refused "retrieval: -o naming a folder fails before any trial" "cannot write $tmp/adir: it is a folder" \
    "${R[@]}" -o "$tmp/adir"
refused "mask-test: an unwritable -o fails before the baseline" "cannot write $tmp/file/m.json" \
    mask-test "${M[@]}" --prompts data/prompts/stories_copy.tsv --scores "$tmp/r.json" -o "$tmp/file/m.json"
refused "sweep: an unwritable -o fails before the first scale" "cannot write $tmp/file/s.json" \
    sweep scale "${M[@]}" --head 0.0 --prompts data/prompts/stories_recall.tsv -o "$tmp/file/s.json"
if "$hw" "${R[@]}" -o "$tmp/new/a/r.json" --tsv "$tmp/new/b/r.tsv" >/dev/null 2>"$tmp/err" &&
    "$hw" mask-test "${M[@]}" --prompts data/prompts/stories_copy.tsv --scores "$tmp/r.json" --draws 1 \
        -o "$tmp/new/c/m.json" >/dev/null 2>"$tmp/err" &&
    [ -s "$tmp/new/a/r.json" ] && [ -s "$tmp/new/b/r.tsv" ] && [ -s "$tmp/new/c/m.json" ]; then
    pass "retrieval and mask-test make the missing folders of their outputs"
else
    fail "retrieval and mask-test make the missing folders of their outputs"
fi

# ---- sweep: non-finite scales
for s in nan inf 1e400 "0,-inf"; do
    refused "sweep: --scales $s refused" "not a finite number" \
        sweep scale "${M[@]}" --head 0.0 --prompts data/prompts/stories_recall.tsv --scales "$s"
done

# ---- mask-test: a ranking that cannot choose the top K
/usr/bin/python3 -c "
import json
json.dump({'%d-%d' % (l, h): [0.0] for l in range(5) for h in range(8)}, open('$tmp/zero.json', 'w'))
json.dump({'%d-%d' % (l, h): [0.5, 0.5] for l in range(5) for h in range(8)}, open('$tmp/tied.json', 'w'))"
refused "mask-test: all-zero scores refused" "cannot choose the top 5 heads" \
    mask-test "${M[@]}" --prompts data/prompts/stories_copy.tsv --scores "$tmp/zero.json"
refused "mask-test: all-tied scores refused" "cannot choose the top 2 heads" \
    mask-test "${M[@]}" --prompts data/prompts/stories_copy.tsv --scores "$tmp/tied.json" --top 2

#!/usr/bin/env bash
# kv_cli_wiring_test.sh: --kv reaches the runs of the commands (issue 14), on
# stories260K: `--kv full` is today's output byte for byte (generate, run and its
# files), a window of 4 sinks + 32 recent changes what a ~200-token prompt continues
# with, `run -o`'s index.json records the policy and the KV bytes of the run's context
# (2 L Hk C Dh 4 for the full cache, the shape read from `headwise info`), and a bad
# --kv is one error line and a non-zero exit before any model runs, in every command
# that takes it.
set -u
cd "$(dirname "$0")/.."
hw=${HW_BUILD:-build/rel}/headwise
S=${HW_SHARED:-../shared}/models/stories260K
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
M=(-m "$S/stories260K.bin" -z "$S/tok512.bin")
W=window:sink=4,recent=32

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1${2:+: $2}"; }
same() { # NAME FILE FILE: PASS if byte-identical
    if cmp -s "$2" "$3"; then pass "$1"; else fail "$1" "$(diff "$2" "$3" | head -4 | tr '\n' ' ')"; fi
}

# The model's shape as `headwise info` prints it.
"$hw" info -m "$S/stories260K.bin" >"$tmp/info" 2>/dev/null
field() { awk -v k="$1" '$0 ~ "^"k" " {print $NF}' "$tmp/info"; }
L=$(field layers) Hk=$(field "kv heads") Dh=$(field head_dim) C=$(field context)
if [ -z "$L" ] || [ -z "$Hk" ] || [ -z "$Dh" ] || [ -z "$C" ]; then
    fail "kv/info" "cannot read layers, kv heads, head_dim, context from headwise info"; exit 1
fi

# generate: --kv full is the default cache, greedy and sampled.
for t in "-t 0" "-t 0.8 -s 7"; do
    "$hw" generate "${M[@]}" -p "Once upon a time" -n 120 $t >"$tmp/g0" 2>/dev/null
    "$hw" generate "${M[@]}" -p "Once upon a time" -n 120 $t --kv full >"$tmp/g1" 2>/dev/null
    [ -s "$tmp/g0" ] && same "kv/generate full = none ($t)" "$tmp/g0" "$tmp/g1" || fail "kv/generate ($t)" "no output"
done

# A ~200-token prompt: the model's own greedy story.
"$hw" generate "${M[@]}" -p "Once upon a time" -n 200 -t 0 >"$tmp/long" 2>/dev/null
LONG=$(sed -n '1,$p' "$tmp/long" | sed 's/^Once upon a time//' | tr '\n' ' ' | sed 's/ *$//')
LONG="Once upon a time$LONG"

# run -o: stdout and every file the same with --kv full (index.json included: the
# default cache is named "full" too).
"$hw" run "${M[@]}" -p "$LONG" -n 4 --capture 'blocks.*.attn.hook_pattern' --capture hook_logits \
    -o "$tmp/r0" >"$tmp/r0.out" 2>/dev/null
"$hw" run "${M[@]}" -p "$LONG" -n 4 --capture 'blocks.*.attn.hook_pattern' --capture hook_logits \
    -o "$tmp/r1" --kv full >"$tmp/r1.out" 2>/dev/null
sed -i "s#$tmp/r[01]#DIR#" "$tmp/r0.out" "$tmp/r1.out"
same "kv/run full = none: stdout" "$tmp/r0.out" "$tmp/r1.out"
if [ -s "$tmp/r0/index.json" ] && d=$(diff -r "$tmp/r0" "$tmp/r1"); then
    pass "kv/run full = none: $(ls "$tmp/r0" | wc -l) files byte-identical"
else fail "kv/run full = none: files" "$(printf '%s' "${d:-no index.json}" | head -3 | tr '\n' ' ')"; fi

# A window changes the continuation (decode steps see 4 + 32 positions) ...
"$hw" generate "${M[@]}" -p "$LONG" -n 300 -t 0 >"$tmp/gl0" 2>/dev/null
"$hw" generate "${M[@]}" -p "$LONG" -n 300 -t 0 --kv $W >"$tmp/gl1" 2>/dev/null
if [ -s "$tmp/gl1" ] && ! cmp -s "$tmp/gl0" "$tmp/gl1"; then pass "kv/generate window differs"
else fail "kv/generate window differs" "same text as the full cache"; fi
"$hw" run "${M[@]}" -p "$LONG" -n 8 --kv $W -o "$tmp/rw" >"$tmp/rw.out" 2>/dev/null
"$hw" run "${M[@]}" -p "$LONG" -n 8 -o "$tmp/rf" >"$tmp/rf.out" 2>/dev/null
if [ "$(grep '^greedy' "$tmp/rw.out")" != "$(grep '^greedy' "$tmp/rf.out")" ] && grep -q '^greedy' "$tmp/rw.out"
then pass "kv/run window: greedy tokens differ"
else fail "kv/run window: greedy tokens differ" "$(grep '^greedy' "$tmp/rw.out")"; fi
# ... and, prefilled in chunks of 32 rows, the prompt's own next-token logits.
"$hw" run "${M[@]}" -p "$LONG" --kv $W,chunk=32 -o "$tmp/rc" >/dev/null 2>&1
if [ -s "$tmp/rc/logits.npy" ] && ! cmp -s "$tmp/rc/logits.npy" "$tmp/rf/logits.npy"; then
    pass "kv/run window chunk=32: logits.npy differs"
else fail "kv/run window chunk=32: logits.npy differs" "same logits"; fi

# index.json's kv and kv_bytes. A run filling the context (T + n = C) holds the whole
# full cache, 2 L Hk C Dh 4 bytes; the window, 2 L Hk (4 + 32) Dh 4.
T=$(/usr/bin/python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))) - 4)' "$tmp/r0/tokens.json")
n=$((C - T))
"$hw" run "${M[@]}" -p "$LONG" -n $n -o "$tmp/rC" >/dev/null 2>&1
"$hw" run "${M[@]}" -p "$LONG" -n $n --kv $W -o "$tmp/rCw" >/dev/null 2>&1
if /usr/bin/python3 - "$tmp" "$L" "$Hk" "$Dh" "$C" "$W" >"$tmp/kvb" 2>&1 <<'PY'
import json, sys
tmp, L, Hk, Dh, C, W = sys.argv[1], *map(int, sys.argv[2:6]), sys.argv[6]
def last(d):
    idx = json.load(open("%s/%s/index.json" % (tmp, d)))
    toks = json.load(open("%s/%s/tokens.json" % (tmp, d)))
    assert idx[-1]["hook"] == "logits", idx[-1]
    return idx[-1], len(toks)
full, n_full = last("rC")
win, n_win = last("rCw")
assert n_full == C and n_win == C, (n_full, n_win, C)
assert full["kv"] == "full" and full["kv_bytes"] == 2 * L * Hk * C * Dh * 4, full
assert win["kv"] == W and win["kv_bytes"] == 2 * L * Hk * (4 + 32) * Dh * 4, win
assert win["kv_bytes"] < full["kv_bytes"]
# A shorter run's context holds its prompt and new tokens only.
small, n_small = last("r0")
assert small["kv_bytes"] == 2 * L * Hk * n_small * Dh * 4, (small, n_small)
print("full %d bytes (L %d, Hk %d, C %d, Dh %d), window %d" % (full["kv_bytes"], L, Hk, C, Dh, win["kv_bytes"]))
PY
then pass "kv/run index.json kv_bytes: $(cat "$tmp/kvb")"
else fail "kv/run index.json kv_bytes" "$(tail -1 "$tmp/kvb")"; fi

NIAH="--needles data/needles/stories.jsonl --haystack data/haystack/stories.txt --template {context}{question} --lengths 128:192:2 --depths 2 --buffer 64"

# The scorers that run prompts: --kv full prints the same; a window of one sink and the
# current token, prefilled a row at a time, changes what they measure.
/usr/bin/python3 -c 'import json; print(json.dumps({"%d-%d" % (l, h): [l * 8 + h] for l in range(5) for h in range(8)}))' \
    >"$tmp/rank.json"
scorers=(
"score dla|score dla ${M[*]} -p 'Lily and Ben went to the park. Lily gave the ball to' --target Ben --minus Lily --top 0"
"score attribution|score attribution ${M[*]} --prompts data/prompts/stories_recall.tsv --top 0"
"sweep scale|sweep scale ${M[*]} --head 0.0 --prompts data/prompts/stories_recall.tsv --from 0 --to 2 --steps 3"
"mask-test|mask-test ${M[*]} --prompts data/prompts/stories_copy.tsv --scores $tmp/rank.json --top 2 --draws 1"
"score retrieval|score retrieval ${M[*]} $NIAH --top 0"
)
for c in "${scorers[@]}"; do
    name=${c%%|*} args=${c#*|}
    eval "$hw $args" >"$tmp/s0" 2>/dev/null
    eval "$hw $args --kv full" >"$tmp/s1" 2>/dev/null
    eval "$hw $args --kv window:sink=1,recent=1,chunk=1" >"$tmp/s2" 2>/dev/null
    if [ ! -s "$tmp/s0" ]; then fail "kv/$name" "no output"
    elif ! cmp -s "$tmp/s0" "$tmp/s1"; then fail "kv/$name full = none" "$(diff "$tmp/s0" "$tmp/s1" | head -3 | tr '\n' ' ')"
    elif [ ! -s "$tmp/s2" ] || cmp -s "$tmp/s0" "$tmp/s2"; then fail "kv/$name window differs" "same output"
    else pass "kv/$name: --kv full prints the same, a window changes it"; fi
done

# score retrieval's trial log records the policy: --kv full resumes a log written
# without one (the same cache), a window is refused, naming the setting.
"$hw" score retrieval "${M[@]}" $NIAH -o "$tmp/ret/r.json" >/dev/null 2>&1
"$hw" score retrieval "${M[@]}" $NIAH -o "$tmp/ret/r.json" --kv full >"$tmp/ret.out" 2>"$tmp/ret.err"
rc_full=$?
"$hw" score retrieval "${M[@]}" $NIAH -o "$tmp/ret/r.json" --kv $W >/dev/null 2>"$tmp/retw.err"
rc_win=$?
if [ $rc_full -eq 0 ] && grep -q "this run: 0 of 0 new" "$tmp/ret.out" && [ $rc_win -ne 0 ] &&
    grep -q "other settings: kv is absent there" "$tmp/retw.err"; then
    pass "kv/score retrieval log: full resumes, a window is refused"
else fail "kv/score retrieval log" "full: $rc_full $(head -1 "$tmp/ret.out"); window: $rc_win $(cat "$tmp/retw.err")"; fi

# A bad --kv: one line, a non-zero exit, nothing run or written (run and patterns make
# the -o folder first, empty).
printf 'Once upon a time\tthere\n' >"$tmp/prompts.tsv"
printf 'Lily went\tpark\thome\n' >"$tmp/recall.tsv"
printf '{"0-0": [1]}\n' >"$tmp/scores.json"
bad() { # NAME SPEC NEEDLE CMD...
    local name=$1 spec=$2 needle=$3
    shift 3
    rm -rf "$tmp/bad" && mkdir -p "$tmp/bad"
    "$@" --kv "$spec" >"$tmp/bad.out" 2>"$tmp/bad.err"
    local rc=$? lines
    lines=$(wc -l <"$tmp/bad.err")
    if [ $rc -ne 1 ] && [ $rc -ne 2 ]; then fail "$name" "exit $rc"
    elif [ "$lines" -ne 1 ]; then fail "$name" "$lines stderr lines: $(head -2 "$tmp/bad.err" | tr '\n' ' ')"
    elif ! grep -qF -- "$needle" "$tmp/bad.err"; then fail "$name" "$(cat "$tmp/bad.err")"
    elif [ -s "$tmp/bad.out" ] || [ -n "$(find "$tmp/bad" -type f)" ]; then fail "$name" "wrote output"
    else pass "$name: $(cat "$tmp/bad.err")"; fi
}
bad "kv/bad generate" bogus "unknown policy 'bogus'" "$hw" generate "${M[@]}" -p Once
bad "kv/bad run" window:recent=0 "recent=0" "$hw" run "${M[@]}" -p Once -o "$tmp/bad/r"
bad "kv/bad patterns" window:sink=4,recent=x "recent=x" "$hw" patterns "${M[@]}" -p Once -o "$tmp/bad/p"
bad "kv/bad patterns chunk" window:sink=2,recent=4,chunk=4 "in one prefill" "$hw" patterns "${M[@]}" \
    -p "Once upon a time, there was a little girl" -o "$tmp/bad/p"
bad "kv/bad mask-test" window:sink=-1,recent=4 "sink=-1" "$hw" mask-test "${M[@]}" --scores "$tmp/scores.json" \
    --prompts "$tmp/prompts.tsv" --top 1 --draws 1 -o "$tmp/bad/m.json"
bad "kv/bad sweep" window:recent=4,size=2 "size=2" "$hw" sweep scale "${M[@]}" --head 0.0 --prompts "$tmp/recall.tsv" \
    -o "$tmp/bad/s.json"
bad "kv/bad score retrieval" nope "'nope'" "$hw" score retrieval "${M[@]}" --task retrieval -o "$tmp/bad/r.json"
bad "kv/bad score attribution" window:sink=4,sink=5 "sink given twice" "$hw" score attribution "${M[@]}" --prompts "$tmp/recall.tsv" \
    -o "$tmp/bad/a.json"
bad "kv/bad score dla" duo:heads=$tmp/none.json "none.json: No such file" "$hw" score dla "${M[@]}" -p "Lily saw" --target Ben \
    -o "$tmp/bad/d.json"

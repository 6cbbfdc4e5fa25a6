#!/usr/bin/env bash
# score_cli_test.sh: every head scorer end to end on the real stories260K model (small
# settings, a few seconds): outputs parse, shapes match the model, the Retrieval Head
# JSON resumes, direct logit attribution adds up to the logit difference, interventions
# at scale 1 change nothing, and bad input gives one error line and a non-zero status.
set -u
cd "$(dirname "$0")/.."
hw=${HW_BUILD:-build/rel}/headwise
models=${HW_SHARED:-../shared}/models/stories260K
M=(-m "$models/stories260K.bin" -z "$models/tok512.bin")
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1"; sed 's/^/  /' "$tmp/err" 2>/dev/null | head -5; }
check() { if "$py" -c "$2" 2>"$tmp/pyerr"; then pass "$1"; else echo "FAIL $1"; sed 's/^/  /' "$tmp/pyerr" | tail -3; fi; }

# echo-induction: 40 heads x 5 columns; the head list keeps the reported KV heads.
if "$hw" score echo-induction -m "$models/stories260K.bin" -o "$tmp/ei.json" --heads-out "$tmp/ei_heads.tsv" \
    >"$tmp/ei.out" 2>"$tmp/err" && "$hw" score echo-induction -m "$models/stories260K.bin" -o "$tmp/ei.tsv" >/dev/null 2>&1; then
    check "echo-induction json: 40 heads, 5 scores, mass = score x T^2 / rows" "
import json; d = json.load(open('$tmp/ei.json')); assert len(d) == 40 and all(len(v) == 5 for v in d.values())
T, rows = 509, 509 - 1 - 127
for v in d.values(): assert abs(v[3] - v[1] * T * T / rows) < 1e-6 * max(1, v[3]) and 0 <= v[3] <= 1 and 0 <= v[4] <= 1
"
    check "echo-induction head list: 5 layers x 4 KV heads, as many as reported" "
rows = [l.split() for l in open('$tmp/ei_heads.tsv')]; assert len(rows) == 5 and all(len(r) == 4 for r in rows)
line = [l for l in open('$tmp/ei.out') if l.startswith('# selected')][0]
kept = int(line.split(': ')[1].split(' of ')[0]); assert kept == sum(int(x) for r in rows for x in r) == 3, kept
"
    check "echo-induction tsv: ranked by induction" "
rows = [l.split('\t') for l in open('$tmp/ei.tsv')][1:]; ind = [float(r[3]) for r in rows]
assert len(rows) == 40 and ind == sorted(ind, reverse=True)
"
else
    fail "score echo-induction runs"
fi

# retrieval: a small grid; JSON lists hold one value per successful trial; a rerun resumes.
R=(score retrieval "${M[@]}" --needles data/needles/stories.jsonl --haystack data/haystack/stories.txt
   --template "{context}{question}" --lengths 128:192:2 --depths 3 --buffer 64 -o "$tmp/r.json" --tsv "$tmp/r.tsv")
if "$hw" "${R[@]}" >"$tmp/r.out" 2>"$tmp/err"; then
    check "retrieval json: 40 heads, one score per counted trial, as in the trial log" "
import json; d = json.load(open('$tmp/r.json'))
log = [l.split('\t') for l in open('$tmp/r.json.trials') if not l.startswith('#')]
ok = sum(int(f[4]) for f in log); assert len(log) == 12 and len(d) == 40, (len(log), len(d))
assert all(len(v) == ok for v in d.values()) and ok >= 1, ok
for f in log: assert (float(f[3]) > 50) == (f[4] == '1')
"
    cp "$tmp/r.json" "$tmp/r1.json"
    if "$hw" "${R[@]}" >"$tmp/r2.out" 2>"$tmp/err" && grep -q "resuming: 12 trials" "$tmp/err" \
        && cmp -s "$tmp/r.json" "$tmp/r1.json" && [ "$(grep -vc '^#' "$tmp/r.json.trials")" = 12 ]; then
        pass "retrieval rerun resumes from the trial log (no trial run twice, same scores)"
    else
        fail "retrieval rerun resumes"
    fi
    if "$hw" heads import "$tmp/r.json" -o "$tmp/imp.tsv" >"$tmp/imp.out" 2>"$tmp/err" \
        && [ "$(sed -n 3p "$tmp/imp.out" | cut -f2)" = "$(sed -n 3p "$tmp/r.out" | cut -f2)" ]; then
        pass "heads import ranks our file as score retrieval did"
    else
        fail "heads import of score retrieval's file"
    fi
else
    fail "score retrieval runs"
fi
printf '{"16-19": [0.9, 1.0], "0-0": [0.0], "3-31": [0.25, 0.75]}' >"$tmp/pub.json"
if "$hw" heads import "$tmp/pub.json" >"$tmp/out" 2>"$tmp/err" && grep -q "17 layers x 32 heads" "$tmp/out" \
    && [ "$(sed -n 3p "$tmp/out" | cut -f2,3)" = "$(printf '16.19\t0.95')" ] \
    && grep -q "2 heads (0.4%) score > 0.1" "$tmp/out"; then
    pass "heads import reads a published-layout file (size from its keys, means, threshold count)"
else
    fail "heads import of a published-layout file"; cat "$tmp/out" | head -4
fi

# successor: weights only.
if "$hw" score successor "${M[@]}" -o "$tmp/s.json" >"$tmp/s.out" 2>"$tmp/err"; then
    check "successor json: 40 heads, score in [0, 1]" "
import json; d = json.load(open('$tmp/s.json')); assert len(d) == 40 and all(0 <= v[0] <= 1 for v in d.values())
"
else
    fail "score successor runs"
fi

# dla: the parts add up to the logit difference (final norm scale held fixed).
if "$hw" score dla "${M[@]}" -p "Lily and Ben went to the park. Lily gave the ball to" --target Ben --minus Lily \
    -o "$tmp/dla.json" >"$tmp/dla.out" 2>"$tmp/err"; then
    check "dla: components (embed, 40 heads, 5 biases, 5 MLPs) sum to the logit difference" "
import json; d = json.load(open('$tmp/dla.json')); c = d['components']
assert len(c) == 1 + 40 + 5 + 5 + 1, len(c)
s = sum(v for k, v in c.items() if k != 'rest'); assert abs(s - d['logit_diff']) < 1e-3 * max(1, abs(s)), (s, d)
"
else
    fail "score dla runs"
fi

# attribution and sweep: scale 1 is the unmodified model.
P=data/prompts/stories_recall.tsv
if "$hw" score attribution "${M[@]}" --prompts $P -o "$tmp/a.json" >"$tmp/a.out" 2>"$tmp/err" \
    && "$hw" sweep scale "${M[@]}" --prompts $P --head 4.3 --scales 0,1,2 -o "$tmp/sw.json" >"$tmp/sw.out" 2>"$tmp/err"; then
    check "attribution: 40 heads x (raw, scaled); sweep at scale 1 = the unmodified rates" "
import json, re; d = json.load(open('$tmp/a.json')); assert len(d) == 40 and all(len(v) == 2 for v in d.values())
line = open('$tmp/a.out').readline(); ctx, mem = map(float, re.findall(r'in (\d\.\d+)', line))
sw = json.load(open('$tmp/sw.json'))['sweep']; one = [s for s in sw if s['scale'] == 1][0]
assert abs(one['in_context'] - ctx) < 1e-5 and abs(one['memorized'] - mem) < 1e-5, (one, ctx, mem)
"
else
    fail "score attribution / sweep scale run"
fi

# mask-test: baseline, top-K, random draws and singles; masking nothing-like heads is
# consistent: the top-3 run equals masking those three alone in a second call.
if [ -s "$tmp/r.json" ] && "$hw" mask-test "${M[@]}" --scores "$tmp/r.json" --prompts data/prompts/stories_copy.tsv \
    --top 2 --draws 3 --singles -o "$tmp/mt.json" >"$tmp/mt.out" 2>"$tmp/err"; then
    check "mask-test json: baseline, top-2, 3 draws outside the top 2, 40 singles" "
import json; d = json.load(open('$tmp/mt.json'))
assert len(d['top']['heads']) == 2 and len(d['random']) == 3 and len(d['singles']) == 40
top = set(d['top']['heads'])
for r in d['random']: assert len(set(r['heads'])) == 2 and not (set(r['heads']) & top)
for v in [d['baseline']] + list(d['singles'].values()): assert 0 <= v['exact'] <= v['recall'] + 1e-9 <= 1 + 1e-9
"
else
    fail "mask-test runs"
fi

# Bad input: one error line, non-zero status.
bad() {
    local name=$1; shift
    if "$hw" "$@" >/dev/null 2>"$tmp/err"; then echo "FAIL $name: exit 0"; return; fi
    if [ "$(wc -l <"$tmp/err")" = 1 ] && grep -q "$name_pat" "$tmp/err"; then pass "error: $name"; else fail "error: $name"; fi
}
name_pat="longer than the model's context"; bad "context longer than the model's" score retrieval "${M[@]}" --lengths 1000:2000:2
name_pat="unknown kind"; bad "unknown score kind" score nonsense
name_pat="give --prompts"; bad "attribution without prompts" score attribution "${M[@]}"
name_pat="out of range"; bad "sweep head out of range" sweep scale "${M[@]}" --prompts $P --head 9.0
name_pat="not LAYER-HEAD"; printf '{"a-b": [1]}' >"$tmp/badkey.json"; bad "score file with a bad key" heads import "$tmp/badkey.json"
name_pat="longer than the model's context"; bad "echo probe longer than the context" score echo-induction -m "$models/stories260K.bin" --block 200

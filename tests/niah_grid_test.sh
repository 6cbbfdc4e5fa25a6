#!/usr/bin/env bash
# niah_grid_test.sh: `headwise niah` (hw_niah_grid_run) on the retrieval model organism
# (context 64; its folder from tests/organisms.sh) and on stories260K's text needles:
# the full cache answers nearly every needle; a StreamingLLM window of sink 1 + recent 4
# with small prefill chunks answers almost none, and with the default chunk (the whole
# prompt in one chunk: full attention in prefill, DuoAttention's semantics) still gets
# the first answer token; a window covering the context equals full; the JSON holds the
# grid, the policy and its chunk and KV bytes; the HTML page is self-contained and well
# formed; bad input gives one error line, a non-zero status and no output. Seconds.
set -u
cd "$(dirname "$0")/.."
build=${HW_BUILD:-build/rel}
hw=$build/headwise
models=${HW_SHARED:-../shared}/models/stories260K
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1"; sed 's/^/  /' "$tmp/err" 2>/dev/null | head -5; }
check() { if "$py" -c "$2" 2>"$tmp/pyerr"; then pass "$1"; else echo "FAIL $1"; sed 's/^/  /' "$tmp/pyerr" | tail -3; fi; }
. tests/organisms.sh

# The grid: 3 lengths x 5 depths x 20 samples = 300 trials per policy (well under a second).
G=(--task retrieval --lengths 32:64:3 --depths 5 --samples 20 --seed 7)

if ! org=$(organism retrieval); then
    echo "FAIL niah on the retrieval organism: training it: $(tail -n1 "$tmp/retrieval.err")"
else
    ok=1
    "$hw" niah -m "$org" "${G[@]}" -o "$tmp/full.json" --html "$tmp/full.html" >"$tmp/full.out" 2>"$tmp/err" || ok=0
    [ $ok = 1 ] && "$hw" niah -m "$org" "${G[@]}" --kv window:sink=1,recent=4,chunk=4 -o "$tmp/win.json" \
        >"$tmp/win.out" 2>"$tmp/err" || ok=0
    [ $ok = 1 ] && "$hw" niah -m "$org" "${G[@]}" --kv window:sink=1,recent=4 -o "$tmp/win1.json" \
        >/dev/null 2>"$tmp/err" || ok=0
    [ $ok = 1 ] && "$hw" niah -m "$org" "${G[@]}" --kv window:sink=0,recent=64,chunk=4 -o "$tmp/cover.json" \
        >/dev/null 2>"$tmp/err" || ok=0
    if [ $ok = 0 ]; then
        fail "niah runs on the retrieval organism"
    else
        # Measured (seed 7): full 1.00 exact; window 1+4 chunk 4: 0.00 exact, recall 0.05;
        # window 1+4 in one chunk: 0.00 exact, recall 0.35 (the first answer token).
        check "full cache: exact >= 0.9 in every length, ROUGE-1 F >= 0.9" "
import json; d = json.load(open('$tmp/full.json'))
assert d['overall']['exact'] >= 0.9 and d['overall']['rouge1_f'] >= 0.9, d['overall']
for li in range(3): assert sum(row[li] for row in d['exact']) / 5 >= 0.85, d['exact']
"
        check "window sink 1 + recent 4, chunk 4: exact at most 0.2 and 0.6 below full" "
import json; f = json.load(open('$tmp/full.json'))['overall']; w = json.load(open('$tmp/win.json'))['overall']
assert w['exact'] <= 0.2 and w['exact'] <= f['exact'] - 0.6, (w, f)
"
        check "window in one prefill chunk: the prompt is full attention, so the first answer token is right" "
import json; w = json.load(open('$tmp/win.json'))['overall']; w1 = json.load(open('$tmp/win1.json'))
assert w1['policy']['chunk'] == 512 and w1['overall']['exact'] <= 0.2, w1['overall']
assert w1['overall']['rouge1_recall'] >= 0.3 and w1['overall']['rouge1_recall'] >= w['rouge1_recall'] + 0.15, (w1['overall'], w)
"
        check "window covering the context equals full, cell for cell and answer for answer" "
import json; f = json.load(open('$tmp/full.json')); c = json.load(open('$tmp/cover.json'))
for k in ('exact', 'rouge1_recall', 'rouge1_f', 'trials'): assert f[k] == c[k], k
assert [t['answer'] for t in f['trial_results']] == [t['answer'] for t in c['trial_results']]
assert c['kv_bytes'] == c['kv_bytes_full'] == f['kv_bytes']
"
        check "json: grid, policy with its chunk, KV bytes per length, trials" "
import json; d = json.load(open('$tmp/win.json'))
assert d['lengths'] == [32, 48, 64] and d['depths'] == [0, 25, 50, 75, 100], (d['lengths'], d['depths'])
p = d['policy']; assert p['name'] == 'window:sink=1,recent=4,chunk=4' and (p['sink'], p['recent'], p['chunk']) == (1, 4, 4), p
assert p['full_kv_heads'] == 0 and p['kv_heads'] > 0 and p['compensation'] == 'none'
assert d['source'] == {'kind': 'task', 'task': 'retrieval', 'samples': 20, 'seed': 7}, d['source']
assert 'chunks of 4 rows' in d['prefill']
assert d['trials'] == [[20] * 3] * 5 and d['overall']['trials'] == 300 == len(d['trial_results'])
# A ring of sink + recent rows per head against every position.
assert all(b < f for b, f in zip(d['kv_bytes'], d['kv_bytes_full'])) and len(set(d['kv_bytes'])) == 1
full = json.load(open('$tmp/full.json')); assert full['kv_bytes'] == d['kv_bytes_full']
assert d['kv_bytes_full'][2] == 2 * d['kv_bytes_full'][0]
for k in ('exact', 'rouge1_recall', 'rouge1_f'):
    assert len(d[k]) == 5 and all(len(r) == 3 and all(0 <= v <= 1 for v in r) for r in d[k])
t = d['trial_results'][0]; assert set(t) == {'length', 'depth', 'sample', 'exact', 'rouge1_recall', 'rouge1_f', 'answer'}, t
"
        check "stdout: the tables and the overall line, the policy's chunk named" "
out = open('$tmp/win.out').read()
assert '--kv window:sink=1,recent=4,chunk=4' in out and 'prefill chunk 4' in out
assert '# exact match' in out and '# ROUGE-1 F' in out and out.count('\n100%\t') == 2
assert [l for l in out.splitlines() if l.startswith('overall\t300 trials')]
"
        check "html: self-contained, well formed, one coloured cell per grid point" "
import html.parser, re
s = open('$tmp/full.html').read()
assert not re.search(r'(?i)https?://|<link|src=', s), 'external reference'
class P(html.parser.HTMLParser):
    void = {'meta', 'br', 'img', 'input', 'link'}
    def __init__(self): super().__init__(); self.stack = []; self.cells = []; self.title = ''; self.intitle = False
    def handle_starttag(self, tag, a):
        if tag not in self.void: self.stack.append(tag)
        a = dict(a)
        if tag == 'td' and 'data-v' in a: self.cells.append(a)
        self.intitle = tag == 'title'
    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, (tag, self.stack[-3:]); self.stack.pop(); self.intitle = False
    def handle_data(self, d):
        if self.intitle: self.title += d
p = P(); p.feed(s); p.close(); assert not p.stack, p.stack
assert len(p.cells) == 15, len(p.cells)
assert all(re.fullmatch(r'background:#[0-9A-F]{6}', c['style']) and 'length' in c['title'] for c in p.cells)
assert 'retrieval' in p.title and '--kv full (KV cache 128.0 KiB vs 128.0 KiB full at 64 tokens)' in p.title, p.title
assert 'KV cache at 64 tokens' in s and '<select' in s and 'linear-gradient' in s
"
    fi

    # Errors: one line on stderr, a non-zero status, no output file.
    err_case() { # name, expected status, a pattern of the message, args...
        local name=$1 want=$2 pat=$3; shift 3
        rm -f "$tmp/e.json" "$tmp/e.html"
        "$hw" niah "$@" >"$tmp/e.out" 2>"$tmp/err"
        local rc=$?
        if [ "$rc" = "$want" ] && [ "$(wc -l <"$tmp/err")" = 1 ] && [ ! -e "$tmp/e.json" ] && [ ! -e "$tmp/e.html" ] \
            && [ ! -s "$tmp/e.out" ] && grep -q "^headwise niah: .*$pat" "$tmp/err"; then
            pass "error: $name"
        else
            echo "FAIL error: $name (status $rc, want $want; $(wc -l <"$tmp/err") stderr lines)"
            sed 's/^/  /' "$tmp/err" | head -3
        fi
    }
    err_case "bad --lengths" 2 "MIN:MAX:COUNT" -m "$org" "${G[@]}" --lengths 64:32 -o "$tmp/e.json" --html "$tmp/e.html"
    # Task trials on a rotary model may go past its context (LongHeads is measured so);
    # text trials may not.
    err_case "a length over the context" 1 "longer than the model.s context (512)" -m "$models/stories260K.bin" -z "$models/tok512.bin" --lengths 128:600:2 -o "$tmp/e.json" --html "$tmp/e.html"
    err_case "a length the task cannot fill" 1 "length 8: .*too little filler" -m "$org" --task retrieval --lengths 8:64:2 -o "$tmp/e.json"
    err_case "unknown task" 1 "unknown task" -m "$org" --task nosuchtask --lengths 32:64:2 -o "$tmp/e.json" --html "$tmp/e.html"
    err_case "a teacher-forced task" 1 "teacher-forced" -m "$org" --task successor --lengths 32:64:2 -o "$tmp/e.json"
    err_case "unknown policy" 1 "unknown policy" -m "$org" "${G[@]}" --kv nosuch -o "$tmp/e.json" --html "$tmp/e.html"
    err_case "unwritable -o" 1 "/proc/niah/e.json" -m "$org" "${G[@]}" -o /proc/niah/e.json --html "$tmp/e.html"
    err_case "unwritable --html" 1 "/proc/niah/e.html" -m "$org" "${G[@]}" -o "$tmp/e.json" --html /proc/niah/e.html
    err_case "no -o" 2 "give -o" -m "$org" "${G[@]}"
    err_case "--task with text flags" 2 "replaces the text-trial flags" -m "$org" "${G[@]}" --needles x.jsonl -o "$tmp/e.json"
fi

# Text needles (the Retrieval Head construction) on stories260K: 2 needles x 2 lengths x 3 depths.
T=(-m "$models/stories260K.bin" -z "$models/tok512.bin" --needles data/needles/stories.jsonl
   --haystack data/haystack/stories.txt --template "{context}{question}" --lengths 128:192:2 --depths 3 --buffer 64)
if "$hw" niah "${T[@]}" -o "$tmp/t.json" >/dev/null 2>"$tmp/err" \
    && "$hw" niah "${T[@]}" --kv window:sink=0,recent=256,chunk=32 -o "$tmp/tc.json" >/dev/null 2>"$tmp/err"; then
    check "text trials: two needles per cell, answers and ROUGE-1 per trial; a covering window equals full" "
import json; d = json.load(open('$tmp/t.json')); c = json.load(open('$tmp/tc.json'))
assert d['source'] == {'kind': 'text', 'needles': 2} and d['lengths'] == [128, 192] and d['depths'] == [0, 50, 100]
assert d['trials'] == [[2, 2]] * 3 and len(d['trial_results']) == 12
assert all(t['exact'] == (t['rouge1_recall'] == 1) and 0 <= t['rouge1_f'] <= 1 for t in d['trial_results'])
assert {t['needle'] for t in d['trial_results']} == {0, 1}
assert [t['answer'] for t in d['trial_results']] == [t['answer'] for t in c['trial_results']]
assert d['rouge1_f'] == c['rouge1_f'] and c['policy']['chunk'] == 32
"
else
    fail "niah runs on text needles"
fi

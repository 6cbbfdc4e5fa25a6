#!/usr/bin/env bash
# atlas_browser_test.sh: atlas.html (the induction organism's atlas) and patterns.html
# (`headwise patterns` on stories260K) rendered in headless Chromium (tests/atlas_browser.py:
# checks run inside the page, results read back from the dumped DOM). Asserted for each:
# a screenshot was taken; the grid has L x H cells and, on the atlas, each cell's labels
# are atlas.json's; clicking a cell opens its card (#head-card on the atlas) for that head;
# on the canvas the pixel of the strongest entry (rows after the first, which holds 1 on
# itself) is darker than a zero entry's; the axis
# labels are the prompt's tokens at their positions; the colour legend has its ticks;
# hovering shows the value; no errors or console errors. SKIP only without chromium.
set -u
cd "$(dirname "$0")/.."
build=${HW_BUILD:-build/rel}
hw=$build/headwise
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
chromium=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$chromium" ]; then echo "SKIP atlas browser: no chromium (scripts/install-deps.sh installs it)"; exit 0; fi
. tests/organisms.sh
S=${HW_SHARED:-$(cd .. && pwd)/shared}/models/stories260K

# check NAME KIND RESULT.json EXPECTED-LABELS.json|- TOKENS.json LAYER HEAD
check() {
    if "$py" - "$@" >"$tmp/judge" 2>&1 <<'EOF'
import json, sys
name, kind, res, labels, tokens, L, H = sys.argv[1:8]
r = json.load(open(res)); toks = json.load(open(tokens)); L, H = int(L), int(H)
show = lambda t: json.dumps(t, ensure_ascii=False)[1:-1]
c = r['canvas']
assert not r['errors'], 'errors: %s' % r['errors']
assert r['screenshot_bytes'] > 5000, 'no screenshot'
if labels != '-':
    want = json.load(open(labels))
    assert r['cells'] == len(want), 'cells %d, want %d' % (r['cells'], len(want))
    assert r['labels'] == want, 'labels differ: %s vs %s' % (r['labels'][:4], want[:4])
assert r['card_visible'] and r['card_layer'] == str(L) and r['card_head'] == str(H), 'card not open on %d.%d' % (L, H)
assert c['strong'][2] > 0 and c['zero'][0] >= 0 and c['strong_px'] < c['zero_px'], 'canvas %s' % c
assert c['R'] == c['T'] == len(toks), 'bins %d, tokens %d, prompt %d' % (c['R'], c['T'], len(toks))
for axis in ('x', 'y'):
    assert len(r[axis]) >= 2, 'no %s labels' % axis
    for b, text in r[axis]:
        assert text == show(toks[b]), '%s label at %d is %r, token %r' % (axis, b, text, toks[b])
assert r['legend'] >= 5, 'legend ticks %d' % r['legend']
assert ': ' in r['hover'] and r['hover'].startswith('query '), 'hover %r' % r['hover']
print('%d cells, card %d.%d, canvas %dx%d (strongest %.3f at %s: %d vs zero %d), %d x labels, hover %r, page %d bytes, %.0f ms to run its scripts' % (
    r['cells'], L, H, c['w'], c['h'], c['strong'][2], c['strong'][:2], c['strong_px'], c['zero_px'], len(r['x']), r['hover'][:60], r['page_bytes'], r['ms']))
EOF
    then echo "PASS $1: $(head -n1 "$tmp/judge")"; else echo "FAIL $1: $(tail -n1 "$tmp/judge")"; fi
}

if d=$(organism induction) && "$hw" atlas -m "$d" -o "$tmp/atlas" >/dev/null 2>"$tmp/err"; then
    "$py" -c "
import json; a = json.load(open('$tmp/atlas/atlas.json'))
json.dump(['%d-%d:%s' % (h['layer'], h['head'], ' '.join(h['labels'])) for h in a['heads_info']], open('$tmp/labels.json', 'w'))
json.dump(a['probe']['text'], open('$tmp/tokens.json', 'w'))"
    if "$py" tests/atlas_browser.py "$chromium" atlas "$tmp/atlas/atlas.html" "$tmp/a.json" 1 1 2>"$tmp/err"; then
        check "atlas browser: atlas.html" atlas "$tmp/a.json" "$tmp/labels.json" "$tmp/tokens.json" 1 1
    else echo "FAIL atlas browser: atlas.html: $(tail -n1 "$tmp/err")"; fi
else
    echo "FAIL atlas browser: the induction organism's atlas: $(tail -n1 "$tmp/err")"
fi

prompt="Once upon a time, there was a little girl named Lily. Once upon a time, there was a little girl named Lily."
if "$hw" patterns -m "$S/stories260K.bin" -z "$S/tok512.bin" -p "$prompt" -o "$tmp/pat" >/dev/null 2>"$tmp/err"; then
    "$py" -c "
import re, json; h = open('$tmp/pat/patterns.html').read()
m = re.search(r'\"tokens\":(\[.*?\]),\"p\"', h); json.dump(json.loads(m.group(1)), open('$tmp/ptok.json', 'w'))"
    if "$py" tests/atlas_browser.py "$chromium" patterns "$tmp/pat/patterns.html" "$tmp/p.json" 1 3 2>"$tmp/err"; then
        check "atlas browser: patterns.html" patterns "$tmp/p.json" - "$tmp/ptok.json" 1 3
    else echo "FAIL atlas browser: patterns.html: $(tail -n1 "$tmp/err")"; fi
else
    echo "FAIL atlas browser: headwise patterns: $(tail -n1 "$tmp/err")"
fi

#!/usr/bin/env bash
# probes_cli_test.sh: bugs of the scoring commands fixed when the protocols moved into the
# library (issue 13), each of which fails on 744efe7:
#   - `heads import -o X.json` wrote [score, trials] lists, which a second import read as
#     two trials per head (a mean of (score + trials) / 2): a re-import must give the same
#     ranking and means;
#   - score echo-induction, successor, attribution and dla computed (and printed) first,
#     then failed on an unwritable -o / --heads-out: the outputs are checked first, and
#     missing parent folders are made;
#   - score dla did not say which token it attributed (a --target that is not one token
#     is its first token): the first line and the JSON name the tokens.
set -u
cd "$(dirname "$0")/.."
hw=${HW_BUILD:-build/rel}/headwise
shared=${HW_SHARED:-../shared}
models=$shared/models/stories260K
M=(-m "$models/stories260K.bin" -z "$models/tok512.bin")
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass() { echo "PASS $1"; }
fail() { echo "FAIL $1"; sed 's/^/  /' "$tmp/err" 2>/dev/null | head -5; }
check() { if "$py" -c "$2" 2>"$tmp/pyerr"; then pass "$1"; else echo "FAIL $1"; sed 's/^/  /' "$tmp/pyerr" | tail -3; fi; }

# ---- heads import -o X.json reads back to the same scores
pub=$shared/artifacts/retrieval-head/llama-2-7b-80k.json
if "$hw" heads import "$pub" -o "$tmp/imp.json" --top 0 >"$tmp/imp1.out" 2>"$tmp/err" &&
    "$hw" heads import "$tmp/imp.json" --top 0 >"$tmp/imp2.out" 2>>"$tmp/err"; then
    # rank, head and score columns of the two tables (trials differ: one value per head now)
    if cmp -s <(tail -n +2 "$tmp/imp1.out" | cut -f1-3) <(tail -n +2 "$tmp/imp2.out" | cut -f1-3) &&
        [ "$(wc -l <"$tmp/imp2.out")" -eq 1026 ]; then
        pass "heads import -o X.json: a re-import ranks the 1024 heads alike with the same scores"
    else
        echo "FAIL heads import -o X.json: a re-import ranks or scores differently"
        diff <(tail -n +2 "$tmp/imp1.out" | cut -f1-3) <(tail -n +2 "$tmp/imp2.out" | cut -f1-3) | head -4 | sed 's/^/  /'
    fi
    check "heads import -o X.json: one value per head, its mean in the published file" "
import json; a = json.load(open('$pub')); b = json.load(open('$tmp/imp.json'))
assert sorted(a) == sorted(b), 'heads differ'
for k, v in a.items():
    assert len(b[k]) == 1, (k, b[k])
    assert abs(b[k][0] - sum(v) / len(v)) <= 1e-12 * max(1, abs(b[k][0])), (k, b[k], sum(v) / len(v))
"
else
    fail "heads import -o X.json runs"
fi

# ---- unwritable outputs are refused before any work: no result printed, one error line
: >"$tmp/plain"
bad_out() {
    local name=$1; shift
    if "$hw" "$@" >"$tmp/out" 2>"$tmp/err"; then echo "FAIL $name: exit 0"; return; fi
    if [ ! -s "$tmp/out" ] && [ "$(wc -l <"$tmp/err")" = 1 ] && grep -q "$tmp/plain/" "$tmp/err"; then
        pass "$name"
    else
        echo "FAIL $name: $(wc -c <"$tmp/out") bytes on stdout, $(wc -l <"$tmp/err") lines on stderr"
        head -3 "$tmp/err" | sed 's/^/  /'
    fi
}
P='Lily and Ben went to the park. Lily gave the ball to'
bad_out "echo-induction -o under a file: refused before the probe" \
    score echo-induction -m "$models/stories260K.bin" -o "$tmp/plain/ei.json"
bad_out "echo-induction --heads-out under a file: refused before the probe" \
    score echo-induction -m "$models/stories260K.bin" -o "$tmp/ei_ok.json" --heads-out "$tmp/plain/h.tsv"
bad_out "successor -o under a file: refused before scoring" score successor "${M[@]}" -o "$tmp/plain/s.json"
bad_out "attribution -o under a file: refused before the prompts run" \
    score attribution "${M[@]}" --prompts data/prompts/stories_recall.tsv -o "$tmp/plain/a.tsv"
bad_out "dla -o under a file: refused before the forward pass" \
    score dla "${M[@]}" -p "$P" --target Ben -o "$tmp/plain/d.json"
bad_out "heads import -o under a file: refused" heads import "$pub" -o "$tmp/plain/h.json"
[ ! -e "$tmp/ei_ok.json" ] && pass "echo-induction: nothing written when another output is bad" ||
    echo "FAIL echo-induction wrote -o although --heads-out was unwritable"

# ---- missing parent folders are made
if "$hw" score echo-induction -m "$models/stories260K.bin" -o "$tmp/new/a/ei.tsv" --heads-out "$tmp/new/b/c/h.tsv" \
    >/dev/null 2>"$tmp/err" && [ -s "$tmp/new/a/ei.tsv" ] && [ "$(wc -l <"$tmp/new/b/c/h.tsv")" = 5 ]; then
    pass "echo-induction -o and --heads-out into missing folders"
else
    fail "echo-induction -o and --heads-out into missing folders"
fi
if "$hw" score dla "${M[@]}" -p "$P" --target Ben -o "$tmp/new/d/e/d.tsv" >/dev/null 2>"$tmp/err" &&
    [ "$(wc -l <"$tmp/new/d/e/d.tsv")" = 53 ]; then
    pass "dla -o into missing folders"
else
    fail "dla -o into missing folders"
fi

# ---- dla names the tokens it attributed
if "$hw" score dla "${M[@]}" -p "$P" --target Ben --minus Lily -o "$tmp/d.json" >"$tmp/d.out" 2>"$tmp/err"; then
    line=$(head -n1 "$tmp/d.out")
    # tok512 has no " Ben": the target attributed is its first token, " B".
    if [[ "$line" =~ ^"# dla (final norm scale held fixed): target ' B' = token "([0-9]+)", minus ' Lily' = token "([0-9]+)": logit difference " ]]; then
        pass "dla names the target and minus tokens on its first line"
        check "dla JSON records the tokens of the first line" "
import json; d = json.load(open('$tmp/d.json'))
assert d['target'] == ' B' and d['target_token'] == ${BASH_REMATCH[1]}, d['target']
assert d['minus'] == [' Lily'] and d['minus_tokens'] == [${BASH_REMATCH[2]}], d['minus']
assert abs(sum(d['components'].values()) - d['logit_diff']) < 1e-5
"
    else
        echo "FAIL dla names the target and minus tokens: $line"
    fi
else
    fail "score dla runs"
fi
if "$hw" score dla "${M[@]}" -p 'Tom had a red kite' --target and --raw >"$tmp/d2.out" 2>"$tmp/err" &&
    head -n1 "$tmp/d2.out" | grep -qE "^# dla \(raw unembedding\): target ' and' = token [0-9]+: logit difference "; then
    pass "dla without --minus names the target only"
else
    echo "FAIL dla without --minus: $(head -n1 "$tmp/d2.out" 2>/dev/null)"
fi

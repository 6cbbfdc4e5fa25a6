#!/usr/bin/env bash
# facts_test.sh: `headwise facts` (methods.md section 7, the factual-recall pipeline) end
# to end. On stories260K (data/prompts/stories_facts.tsv) the command runs and its JSON has
# the model's shapes and agrees with what it prints. On the recall organism (tests/
# organisms.sh, trained once per machine), against `score attribution --task recall`:
#   - topic = the in-context attribute (--topic context, counterfactual samples): the two
#     top mover heads are attribution's two in-context heads (and the top one is one of
#     them; whether it is attribution's first is printed, not asserted: at 100 samples it
#     is, at 200 the second overtakes it by 15%);
#   - topic = the subject (Lv et al.'s topic, default): the two top mover heads are
#     attribution's two memory heads (the subject reaches the last position through them);
#   - the regression of the last MLP has a finite R^2 in [0, 1] (printed) and the
#     intercept's 5 top logit-lens tokens are all attribute tokens (a0 .. a15).
# On the attention-only retrieval organism there is no regression and the final layer's
# components are its heads.
# Bad input gives one error line and a non-zero status before any forward pass.
set -u
cd "$(dirname "$0")/.."
build=${HW_BUILD:-build/rel}
hw=$build/headwise
models=${HW_SHARED:-../shared}/models/stories260K
M=(-m "$models/stories260K.bin" -z "$models/tok512.bin")
P=data/prompts/stories_facts.tsv
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
judge() { # name python-program (its first output line goes on the PASS/FAIL line)
    if "$py" -c "$2" >"$tmp/judge" 2>&1; then echo "PASS $1: $(head -n1 "$tmp/judge")"; else echo "FAIL $1: $(tail -n1 "$tmp/judge")"; fi
}

# ---- stories260K
if "$hw" facts "${M[@]}" --prompts $P --top 5 --mitigate 0.5 -o "$tmp/s.json" >"$tmp/s.out" 2>"$tmp/err" &&
    "$hw" facts "${M[@]}" --prompts $P -o "$tmp/s.tsv" >/dev/null 2>"$tmp/err"; then
    judge "stories260K facts: shapes and printed values" "
import json, re; d = json.load(open('$tmp/s.json')); out = open('$tmp/s.out').read()
mv = d['movers']; assert len(mv['score']) == 5 and all(len(r) == 8 for r in mv['score'])
for l in range(5):
    for h in range(8): assert abs(mv['score'][l][h] - mv['attention'][l][h] * mv['alignment'][l][h]) < 1e-6
top = mv['ranking'][0]; l, h = map(int, top.split('-'))
assert re.search(r'^1\t%d\.%d\t' % (l, h), out, re.M), top
rg = d['regression']; assert rg['mlp'] == 4 and len(rg['terms']) == 45 == len(rg['beta']) and len(rg['intercept']) == 64
assert 0 <= rg['r2'] <= 1 and 'R^2 %.6f' % rg['r2'] in out
assert rg['readings'][0]['term'] == 'intercept' and all(len(r['tokens']) == 5 for r in rg['readings'])
ao = d['anti_overconfidence']; assert ao['components'] == ['4.%d' % h for h in range(8)] + ['mlp.4'] and ao['scale'] == 0.5
assert set(ao['suppressors']) == {c for c, v in zip(ao['components'], ao['dla']) if v < 0}
pp = d['per_prompt']; assert d['prompts'] == 7 == len(pp['p_before']) and ao['answers'] == sum(a >= 0 for a in pp['answer'])
assert abs(ao['confidence_before'] - sum(pp['p_before']) / 7) < 1e-6
rows = [l.rstrip('\\n').split('\\t') for l in open('$tmp/s.tsv')]
assert rows[0] == ['layer', 'head', 'attention', 'alignment', 'score'] and len(rows) == 41
assert ['%s-%s' % (r[0], r[1]) for r in rows[1:]] == mv['ranking'] and float(rows[1][4]) == mv['score'][l][h]
print('top mover %s, R^2 %.3f, confidence %.3f -> %.3f' % (top, rg['r2'], ao['confidence_before'], ao['confidence_after']))"
else
    echo "FAIL stories260K facts runs: $(tail -n1 "$tmp/err")"
fi

# ---- the recall organism
. tests/organisms.sh
if d=$(organism recall); then
    if "$hw" score attribution -m "$d" --task recall --samples 100 -o "$tmp/a.json" >/dev/null 2>"$tmp/err" &&
        "$hw" facts -m "$d" --task recall --samples 100 -o "$tmp/f.json" >/dev/null 2>"$tmp/err" &&
        "$hw" facts -m "$d" --task recall --samples 100 --topic context -o "$tmp/fc.json" >/dev/null 2>"$tmp/err"; then
        ranked="
import json; a = json.load(open('$tmp/a.json'))
inctx = sorted(a, key=lambda k: a[k][1])[:2]; memory = sorted(a, key=lambda k: -a[k][1])[:2]"
        judge "recall organism: in-context heads are the top movers of the in-context attribute" "$ranked
f = json.load(open('$tmp/fc.json')); top = f['movers']['ranking'][:2]
print('movers %s, attribution in-context heads %s; top mover is attribution\'s first: %s' % (top, inctx, top[0] == inctx[0]))
assert set(top) == set(inctx) and top[0] in inctx"
        judge "recall organism: memory heads are the top movers of the subject" "$ranked
f = json.load(open('$tmp/f.json')); top = f['movers']['ranking'][:2]
print('movers %s, attribution memory heads %s' % (top, memory)); assert set(top) == set(memory)"
        judge "recall organism: MLP regression R^2 and the intercept's attribute tokens" "
import json, re; f = json.load(open('$tmp/f.json')); rg = f['regression']; toks = [t.strip() for t in rg['readings'][0]['tokens'][:5]]
print('mlp.%d R^2 %.4f, constant %s, intercept %s' % (rg['mlp'], rg['r2'], rg['constant'], ' '.join(toks)))
assert 0 <= rg['r2'] <= 1 and all(re.fullmatch(r'a([0-9]|1[0-5])', t) for t in toks)"
    else
        echo "FAIL recall organism facts: $(tail -n1 "$tmp/err")"
    fi
else
    echo "FAIL recall organism training: $(tail -n1 "$tmp/recall.err")"
fi

# ---- an attention-only model (the retrieval organism): no regression, heads only
if d=$(organism retrieval); then
    printf 'w3 w7 key k1 is v5 w2 w9 Q: k1 A:\tk1\tv5\nw1 key k2 is v8 w4 w4 Q: k2 A:\tk2\tv8\n' >"$tmp/ret.tsv"
    if "$hw" facts -m "$d" --prompts "$tmp/ret.tsv" -o "$tmp/r.json" >/dev/null 2>"$tmp/err"; then
        judge "attention-only model: no regression, the final layer's heads only" "
import json; d = json.load(open('$tmp/r.json')); ao = d['anti_overconfidence']
print('%d components, %d pushing down' % (len(ao['components']), len(ao['suppressors'])))
assert d['regression'] is None and ao['components'] == ['3.%d' % h for h in range(8)] and ao['answers'] == 2"
    else
        echo "FAIL attention-only facts: $(tail -n1 "$tmp/err")"
    fi
    bad_d=$d
fi

# ---- bad input: one line, non-zero, before any work
bad() { # name pattern args...
    local name=$1 pat=$2; shift 2
    if "$hw" "$@" >/dev/null 2>"$tmp/err"; then echo "FAIL error: $name: exit 0"; return; fi
    if [ "$(wc -l <"$tmp/err")" = 1 ] && grep -q -- "$pat" "$tmp/err"; then echo "PASS error: $name"
    else echo "FAIL error: $name"; sed 's/^/  /' "$tmp/err" | head -3; fi
}
printf 'The dog ran to the park. The dog\tzebra\nTom had a ball. Tom\tTom\n' >"$tmp/absent.tsv"
printf 'Tom had a ball. Tom\tTom\n' >"$tmp/one.tsv"
printf 'Tom had a ball. Tom\n' >"$tmp/notopic.tsv"
bad "no prompts" "give --prompts" facts "${M[@]}"
bad "prompts and task" "give --prompts" facts "${M[@]}" --prompts $P --task recall
bad "task not recall" "must be recall" facts "${M[@]}" --task induction
bad "topic absent from its prompt" "prompt 1: its topic 'zebra'" facts "${M[@]}" --prompts "$tmp/absent.tsv"
bad "a line without a topic" "answer" facts "${M[@]}" --prompts "$tmp/notopic.tsv"
bad "too few prompts for the regression" "needs at least 2" facts "${M[@]}" --prompts "$tmp/one.tsv"
bad "MLP layer out of range" "MLP layer 5 of a 5-layer model" facts "${M[@]}" --prompts $P --mlp 5
bad "shape without the task" "go with --task recall" facts "${M[@]}" --prompts $P --shape plain
bad "unknown shape" "shape" facts "${M[@]}" --task recall --shape odd
bad "top 0" "top" facts "${M[@]}" --prompts $P --top 0
bad "mitigation scale nan" "mitigate" facts "${M[@]}" --prompts $P --mitigate nan
bad "missing prompts file" "$tmp/none.tsv" facts "${M[@]}" --prompts "$tmp/none.tsv"
[ -n "${bad_d:-}" ] && bad "--mlp on an attention-only model" "no MLPs" facts -m "$bad_d" --prompts "$tmp/ret.tsv" --mlp 0

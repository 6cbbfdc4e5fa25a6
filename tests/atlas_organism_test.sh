#!/usr/bin/env bash
# atlas_organism_test.sh: `headwise atlas` on the model organisms (tests/organisms.sh, trained
# once per machine) labels the heads that the scorers the organism tests use
# (tests/organism_heads_test.sh) find, each taken here from the same scorer run on its own:
#   retrieval       the top head of `score retrieval --task retrieval` is labelled retrieval,
#                   and masking it (the atlas's mask effect) drops exact answers by >= 0.5
#   induction       the top head by induction mass (`score echo-induction`) is labelled
#                   induction, the strongest previous-token head in a layer below it is
#                   labelled previous-token, and masking it hurts the task more than
#                   masking any induction-labelled head
#   successor       the top head of `score successor` (the organism's tasks) is labelled
#                   successor
#   recall          the most negative and most positive heads of `score attribution --task
#                   recall` are labelled in-context and memory
#   retrieval-long  the derived KV policy keeps the exact-answer rate of full attention on
#                   the task's needle grid (within 0.02) and saves KV bytes (reported), and
#                   `headwise niah` with the atlas's own --kv flag gives the same rate; with
#                   --threshold retrieval=0.15 (the paper's 0.1 also takes head 1.0, score
#                   0.13) the policy is the DuoAttention issue's (tests/kv_organism_test.sh):
#                   2 of 8 KV heads full, 43.8% of the full cache, within 0.02 of full
set -u
cd "$(dirname "$0")/.."
build=${HW_BUILD:-build/rel}
hw=$build/headwise
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. tests/organisms.sh
judge() { # name python-assertion-program
    if "$py" -c "$2" >"$tmp/judge" 2>&1; then echo "PASS $1: $(head -n1 "$tmp/judge")"
    else echo "FAIL $1: $(head -n1 "$tmp/judge") $(tail -n1 "$tmp/judge")"; fi
}
# atlas TASK: the atlas of TASK's organism into $tmp/TASK (its folder in $tmp/TASK.dir).
atlas() {
    local d
    if ! d=$(organism "$1"); then echo "FAIL atlas $1: training: $(tail -n1 "$tmp/$1.err")"; return 1; fi
    echo "$d" >"$tmp/$1.dir"
    if ! "$hw" atlas -m "$d" -o "$tmp/$1" >"$tmp/$1.out" 2>"$tmp/$1.log"; then
        echo "FAIL atlas $1: $(tail -n1 "$tmp/$1.log")"; return 1
    fi
}
# Python helpers every judge starts with: A the atlas, labels(k) of head "L-H", mask(k).
pre="import json; A = json.load(open('$tmp/TASK/atlas.json'))
I = {'%d-%d' % (h['layer'], h['head']): h for h in A['heads_info']}
labels = lambda k: I[k]['labels']"

if atlas retrieval && "$hw" score retrieval -m "$(cat "$tmp/retrieval.dir")" --task retrieval --samples 100 \
    -o "$tmp/r.json" >/dev/null 2>"$tmp/err"; then
    judge "atlas retrieval organism: the top retrieval head is labelled retrieval; masking it drops exact answers" "
${pre//TASK/retrieval}
s = {k: sum(v) / len(v) for k, v in json.load(open('$tmp/r.json')).items()}; top = max(s, key=s.get)
m = I[top]['mask_effect']
print('%s (score retrieval %.3f, atlas %.3f): labels %s; masked %s %.2f -> %.2f' % (top, s[top], I[top]['scores']['retrieval'], labels(top), m and m['metric'], m and m['baseline'], m and m['masked']))
assert 'retrieval' in labels(top) and m and m['baseline'] - m['masked'] >= 0.5"
fi

if atlas induction && "$hw" score echo-induction -m "$(cat "$tmp/induction.dir")" -o "$tmp/ei.json" >/dev/null 2>"$tmp/err"; then
    judge "atlas induction organism: induction head and the previous-token head below it" "
${pre//TASK/induction}
s = json.load(open('$tmp/ei.json')); ind = {k: v[3] for k, v in s.items()}; prev = {k: v[4] for k, v in s.items()}
top = max(ind, key=ind.get); lt = int(top.split('-')[0])
ph = max((k for k in prev if int(k.split('-')[0]) < lt), key=prev.get)
print('induction head %s %s, previous-token head %s %s' % (top, labels(top), ph, labels(ph)))
assert 'induction' in labels(top) and 'previous-token' in labels(ph)"
    judge "atlas induction organism: masking the previous-token head hurts more than any induction head" "
${pre//TASK/induction}
ind = [k for k in I if 'induction' in labels(k)]; prev = [k for k in I if 'previous-token' in labels(k)]
d = lambda k: I[k]['mask_effect']['baseline'] - I[k]['mask_effect']['masked']
print('drops: ' + ', '.join('%s %s %.2f' % (k, labels(k)[0], d(k)) for k in prev + ind))
assert prev and ind and max(d(k) for k in prev) > max(d(k) for k in ind)"
fi

if atlas successor && "$hw" score successor -m "$(cat "$tmp/successor.dir")" --tasks data/tasks/successor_organism.txt \
    -o "$tmp/s.json" >/dev/null 2>"$tmp/err"; then
    judge "atlas successor organism: the top successor head is labelled successor" "
${pre//TASK/successor}
s = {k: v[0] for k, v in json.load(open('$tmp/s.json')).items()}; top = max(s, key=s.get)
n = sum('successor' in labels(k) for k in I)
print('%s (score %.3f): labels %s; %d heads labelled successor' % (top, s[top], labels(top), n))
assert 'successor' in labels(top)"
fi

if atlas recall && "$hw" score attribution -m "$(cat "$tmp/recall.dir")" --task recall --samples 200 \
    -o "$tmp/a.json" >/dev/null 2>"$tmp/err"; then
    judge "atlas recall organism: the in-context and memory heads of score attribution" "
${pre//TASK/recall}
s = {k: v[1] for k, v in json.load(open('$tmp/a.json')).items()}
ic, mem = min(s, key=s.get), max(s, key=s.get)
print('in-context %s (%.3f) %s, memory %s (%.3f) %s' % (ic, s[ic], labels(ic), mem, s[mem], labels(mem)))
assert 'in-context' in labels(ic) and 'memory' in labels(mem)"
fi

if atlas retrieval-long; then
    flag=$("$py" -c "import json; print(json.load(open('$tmp/retrieval-long/atlas.json'))['kv_policy']['flag'])")
    if "$hw" niah -m "$(cat "$tmp/retrieval-long.dir")" --task retrieval --lengths 256:512:3 --depths 5 --samples 10 \
        --seed 12345 $flag -o "$tmp/niah.json" >/dev/null 2>"$tmp/err"; then
        judge "atlas retrieval-long organism: the derived KV policy keeps full attention's exact answers" "
${pre//TASK/retrieval-long}
k = A['kv_policy']; a = k['accuracy']; n = json.load(open('$tmp/niah.json'))['overall']['exact']
print('%s: full %.3f, policy %.3f (niah with the flag %.3f), %d of %d KV heads full, KV %.1f%% of full at %d tokens' % (k['flag'], a['full'], a['policy'], n, k['full_kv_heads'], k['kv_heads_total'], 100 * k['kv_bytes']['ratio'], k['kv_bytes']['context']))
assert a['policy'] >= a['full'] - 0.02 and abs(n - a['policy']) < 1e-9 and k['kv_bytes']['ratio'] < 1"
    else
        echo "FAIL atlas retrieval-long: niah with the atlas's flag: $(tail -n1 "$tmp/err")"
    fi
fi
if d=$(organism retrieval-long) && "$hw" atlas -m "$d" -o "$tmp/rl15" --threshold retrieval=0.15 --skip mask \
    >/dev/null 2>"$tmp/err"; then
    judge "atlas retrieval-long organism: at retrieval threshold 0.15, the DuoAttention issue's policy" "
import json; k = json.load(open('$tmp/rl15/atlas.json'))['kv_policy']; a = k['accuracy']
print('%d of %d KV heads full, KV %.1f%% of full: exact %.3f vs full %.3f' % (k['full_kv_heads'], k['kv_heads_total'], 100 * k['kv_bytes']['ratio'], a['policy'], a['full']))
assert k['full_kv_heads'] == 2 and abs(k['kv_bytes']['ratio'] - 0.4375) < 1e-9 and a['policy'] >= a['full'] - 0.02"
else
    echo "FAIL atlas retrieval-long at threshold 0.15: $(tail -n1 "$tmp/err")"
fi

#!/usr/bin/env bash
# duo_train_test.sh: `headwise duo train` (DuoAttention's gates, methods.md 2.1-2.2) on the
# retrieval model organism (tests/organisms.sh), with the organism's own needles. Asserted:
#   - the learned gates' top quarter (8 of 32 KV heads, ties broken by DuoAttention's
#     U(0, 1e-6) noise) shares >= 4 heads with the top quarter of `score retrieval --task
#     retrieval` (chance: 2; measured 5 at 250 and at 2000 steps, seeds 1-3 and 42)
#   - full_attention_heads.tsv is L lines of Hk values in [0, 1] as numpy's loadtxt (and a
#     plain reader) reads it, equal to the gates printed; config.json has the keys
#     duo-attention's load_attn_pattern reads (sink_size, recent_size) and the run's
#   - the loss falls from lambda (gates at 1, distillation 0) as the gates open up
#   - deployed (niah --kv duo:heads=TSV,top=0.25, sink 4 + recent 8 of 64 tokens, streamed
#     prefill), the learned gates keep full attention's exact answers within 2 points,
#     while the window policy at the same sink + recent loses >= 30 (measured 1.00, 1.00,
#     0.055)
#   - 1 thread and 2 give the same file; text passkeys on stories260K run and write
#     L x Hk; bad input fails before any work with one line
set -u
cd "$(dirname "$0")/.."
build=${HW_BUILD:-build/rel}
hw=$build/headwise
py=/usr/bin/python3
tmp=$(mktemp -d)
n=0
trap 'rm -rf "$tmp"' EXIT
shared=${HW_SHARED:-../shared}

. tests/organisms.sh
judge() { # name python-assertion-program
    if "$py" -c "$2" >"$tmp/judge" 2>&1; then echo "PASS $1: $(head -n1 "$tmp/judge")"; else echo "FAIL $1: $(tail -n1 "$tmp/judge")"; fi
}

if d=$(organism retrieval); then
    if "$hw" duo train -m "$d" -o "$tmp/duo" --steps 250 --threads 2 >"$tmp/duo.out" 2>"$tmp/err" &&
        "$hw" score retrieval -m "$d" --task retrieval --samples 100 -o "$tmp/r.json" >/dev/null 2>"$tmp/err"; then
        judge "duo train: learned gates' top quarter vs the retrieval score's" "
import json, random
g = [[float(x) for x in l.split('\t')] for l in open('$tmp/duo/full_attention_heads.tsv') if l.strip()]
L, H = len(g), len(g[0]); q = L * H // 4
s = {}
for k, v in json.load(open('$tmp/r.json')).items():
    l, h = map(int, k.split('-')); s[l * H + h] = sum(v) / len(v)
rnd = random.Random(0)
gn = {l * H + h: g[l][h] + rnd.uniform(0, 1e-6) for l in range(L) for h in range(H)}
tg = set(sorted(gn, key=lambda i: -gn[i])[:q]); ts = set(sorted(range(L * H), key=lambda i: -s.get(i, 0))[:q])
name = lambda c: ' '.join(sorted('%d.%d' % (i // H, i % H) for i in c))
print('overlap %d/%d (chance %.1f); gates: %s; score: %s' % (len(tg & ts), q, q * q / (L * H), name(tg), name(ts)))
assert L * H == 32 and len(tg & ts) >= 4"
        judge "duo train: full_attention_heads.tsv and config.json in duo-attention's layout" "
import json
rows = [l.rstrip('\n').split('\t') for l in open('$tmp/duo/full_attention_heads.tsv')]
g = [[float(x) for x in r] for r in rows]
assert len(g) == 4 and all(len(r) == 8 for r in g), 'shape %d x %s' % (len(g), set(map(len, g)))
assert all(0 <= x <= 1 for r in g for x in r)
printed = [[float(x) for x in l.split(':')[1].split()] for l in open('$tmp/duo.out') if l.startswith('layer ')]
assert all(abs(a - b) <= 5e-4 for r, p in zip(g, printed) for a, b in zip(r, p)) and len(printed) == 4
try:
    import numpy as np  # duo-attention's load_attn_pattern, line for line
    a = np.clip(np.loadtxt('$tmp/duo/full_attention_heads.tsv', dtype=float, delimiter='\t'), 0, 1)
    assert a.shape == (4, 8) and np.allclose(a, g, atol=0, rtol=0)
    how = 'numpy loadtxt'
except ImportError:
    how = 'no numpy: plain reader'
c = json.load(open('$tmp/duo/config.json'))
assert (c['sink_size'], c['recent_size'], c['lr'], c['num_steps'], c['reg_weight'], c['initial_value']) == (4, 8, 0.02, 250, 0.05, 1), c
print('4 x 8 gates in [0, 1] (%s); sink_size %d, recent_size %d' % (how, c['sink_size'], c['recent_size']))"
        judge "duo train: the loss falls from lambda as the gates open" "
import re
l = open('$tmp/duo.out').readline()
m = re.search(r'loss ([0-9.e-]+) -> ([0-9.e-]+) \(distill ([0-9.e-]+) -> ([0-9.e-]+)\)', l)
a, b, c, d = map(float, m.groups()); print(l.strip()[2:])
assert abs(a - 0.05) < 1e-6 and c == 0 and b < 0.8 * a and d > 0"
        # The learned gates deployed: 25% of KV heads full, sink 4 + recent 8 (12 of 64
        # tokens), prefill in chunks of 8 so that it streams too.
        ok=1
        for kv in full "duo:heads=$tmp/duo/full_attention_heads.tsv,top=0.25,sink=4,recent=8,chunk=8" \
            "window:sink=4,recent=8,chunk=8"; do
            n=$((n + 1))
            "$hw" niah -m "$d" --task retrieval --kv "$kv" --lengths 64:64:1 --samples 10 -o "$tmp/n$n.json" \
                --threads 2 >/dev/null 2>"$tmp/err" || ok=0
        done
        if [ $ok = 1 ]; then
            judge "duo train: a duo cache from the learned gates keeps the full cache's accuracy" "
import json
full, duo, win = (json.load(open('$tmp/n%d.json' % k))['overall']['exact'] for k in (1, 2, 3))
print('exact: full %.2f, duo (learned, 25%% full) %.2f, window %.2f (same sink + recent)' % (full, duo, win))
assert full >= 0.9 and duo >= full - 0.02 and win <= full - 0.3"
        else
            echo "FAIL duo train: niah with the learned gates: $(tail -n1 "$tmp/err")"
        fi
    else
        echo "FAIL duo train on the retrieval organism: $(tail -n1 "$tmp/err")"
    fi
    if "$hw" duo train -m "$d" -o "$tmp/t1" --steps 20 --threads 1 >/dev/null 2>"$tmp/err" &&
        "$hw" duo train -m "$d" -o "$tmp/t2" --steps 20 --threads 2 >/dev/null 2>>"$tmp/err" &&
        cmp -s "$tmp/t1/full_attention_heads.tsv" "$tmp/t2/full_attention_heads.tsv"; then
        echo "PASS duo train: 1 thread = 2 threads"
    else
        echo "FAIL duo train: 1 thread != 2 threads $(tail -n1 "$tmp/err")"
    fi
else
    echo "FAIL retrieval organism training: $(tail -n1 "$tmp/retrieval.err")"
fi

# Text passkeys: DuoAttention's prompt with the model's tokenizer over the haystack.
m=$shared/models/stories260K
if "$hw" duo train -m "$m/stories260K.bin" -z "$m/tok512.bin" -o "$tmp/text" --steps 4 --seq-len 256 \
    --threads 2 >"$tmp/text.out" 2>"$tmp/err" &&
    [ "$(awk -F'\t' '{ n += NF == 4 } END { print NR, n }' "$tmp/text/full_attention_heads.tsv")" = "5 5" ]; then
    echo "PASS duo train: text passkeys on stories260K ($(head -c 120 "$tmp/text.out"))"
else
    echo "FAIL duo train: text passkeys on stories260K: $(tail -n1 "$tmp/err")"
fi

# Bad input: one line, non-zero, before any work.
check_err() { # name expected-status args...
    local name=$1 want=$2
    shift 2
    "$hw" duo "$@" >/dev/null 2>"$tmp/e"
    local rc=$?
    if [ "$rc" = "$want" ] && [ "$(wc -l <"$tmp/e")" = 1 ]; then
        echo "PASS duo train rejects $name: $(cat "$tmp/e")"
    else
        echo "FAIL duo train rejects $name: status $rc, $(head -n3 "$tmp/e")"
    fi
}
check_err "no -o" 2 train -m "$m/stories260K.bin"
check_err "--lr nan" 2 train -m "$m/stories260K.bin" -o "$tmp/x" --lr nan
check_err "an unknown subcommand" 2 fly
check_err "passkeys that leave no haystack" 1 train -m "$m/stories260K.bin" -z "$m/tok512.bin" -o "$tmp/x" \
    --seq-len 64 --passkeys 10 --passkey-words 32
check_err "an unknown task" 1 train -m "$m/stories260K.bin" -o "$tmp/x" --task nope
[ ! -e "$tmp/x" ] && echo "PASS duo train: no folder after a failure" || echo "FAIL duo train: a folder after a failure"

#!/usr/bin/env bash
# duo_patterns_test.sh: DuoAttention's published attention patterns (the 6 models of
# ../shared/artifacts/duo-attention, each a full_attention_heads.tsv of L lines x Hk gates
# and its config.json) load with hw_kv_head_scores_read, and DuoAttention's quantile rule
# (hw_duo_select_sparsity, methods.md section 2.3) gives the same number of retrieval
# (full) heads at sparsity 0.5 and 0.75 as an independent numpy computation: their own
# load_attn_pattern and sparsify_attention_heads (duo_attn/utils.py at fe93c31), copied
# below, with their noise from numpy's generator.
#
# Why counts, and why they cannot depend on the noise: after U(0, 1e-6) noise the n values
# are distinct (two equal only if two noise draws land on the same double, odds ~1e-9),
# and tau, numpy's linear interpolation at position s * (n - 1) of the sorted values, is
# then either one of them (a whole position: n - s(n-1) values are >= it) or strictly
# between two neighbours (n - ceil(s(n-1)) are above it). So the count is the same for
# every draw; only WHICH heads are full can differ, and only among heads whose clipped
# gates lie within 1e-6 of each other at the threshold (the published files hold many
# gates of exactly 1.0 and 0.0). The test therefore also checks that every head on which
# the two selections differ is such a tie: its clipped gate within 1e-6 of numpy's tau.
set -u
cd "$(dirname "$0")/.."
tool=${HW_BUILD:-build/rel}/tests/tool_duo_select
art=${HW_SHARED:-../shared}/artifacts/duo-attention
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

models=$(cd "$art" 2>/dev/null && ls -d */ | tr -d /)
n_models=$(echo "$models" | grep -c .)
if [ "$n_models" -ne 6 ]; then
    echo "FAIL duo patterns: want the 6 published models in $art, found $n_models"
    exit 1
fi
for model in $models; do
    for s in 0.5 0.75; do
        f=$art/$model/full_attention_heads.tsv
        if ! "$tool" "$f" "$s" >"$tmp/c.txt" 2>"$tmp/err"; then
            echo "FAIL duo pattern $model sparsity $s: $(head -1 "$tmp/err")"
            continue
        fi
        if out=$("$py" - "$art/$model" "$s" "$tmp/c.txt" 2>&1 <<'PY'
import json, math, os, sys
import numpy as np

d, sparsity, c_out = sys.argv[1], float(sys.argv[2]), sys.argv[3]

# duo_attn/utils.py, as published.
def load_attn_pattern(attn_load_dir):
    full_attention_heads = np.loadtxt(os.path.join(attn_load_dir, "full_attention_heads.tsv"),
                                      dtype=float, delimiter="\t")
    full_attention_heads = np.clip(full_attention_heads, 0, 1)
    config = json.load(open(os.path.join(attn_load_dir, "config.json")))
    return full_attention_heads, config["sink_size"], config["recent_size"]

def sparsify_attention_heads(full_attention_heads, threshold=None, sparsity=None):
    full_attention_heads += np.random.uniform(0, 1e-6, full_attention_heads.shape)
    if sparsity is not None:
        threshold = np.quantile(full_attention_heads, sparsity)
    if sparsity >= 1:
        threshold = 2
    if sparsity <= 0:
        threshold = -1
    full_attention_heads = (full_attention_heads >= threshold).astype(float)
    sparsity = 1 - np.mean(full_attention_heads)
    return full_attention_heads, sparsity, threshold  # (threshold returned for the test)

np.random.seed(42)
alpha, sink, recent = load_attn_pattern(d)
clipped = alpha.copy()
mask, _, tau = sparsify_attention_heads(alpha, None, sparsity)

lines = open(c_out).read().split("\n")
head = dict(l.split(" ", 1) for l in lines[:5])
c_mask = np.array([[int(x) for x in l.split("\t")] for l in lines[5:] if l])
L, Hk = clipped.shape
n = L * Hk
assert head["kind"] == "gates", head["kind"]
assert head["shape"] == f"{L} {Hk}", (head["shape"], clipped.shape)
assert head["config"] == f"{sink} {recent}", (head["config"], sink, recent)
c_full, np_full = int(head["full"]), int(mask.sum())
assert c_mask.shape == (L, Hk) and c_mask.sum() == c_full
assert c_full == np_full, f"C {c_full} full heads, numpy {np_full}"
assert c_full == n - math.ceil(sparsity * (n - 1)), c_full
differ = np.argwhere(c_mask != mask)
for l, k in differ:
    assert abs(clipped[l, k] - tau) <= 1e-6 + 1e-12, (l, k, clipped[l, k], tau)
c_tau = float(head["tau"])
assert abs(c_tau - tau) <= 1e-6, (c_tau, tau)
print(f"{L}x{Hk}: {c_full}/{n} full (numpy {np_full}); tau C {c_tau:.7f} numpy {tau:.7f}; "
      f"{len(differ)} heads differ (each a tie at tau); gates >= 0.5: {np.mean(clipped >= 0.5):.2f}")
PY
        ); then
            echo "PASS duo pattern $model sparsity $s: $out"
        else
            echo "FAIL duo pattern $model sparsity $s"
            echo "$out" | tail -3 | sed 's/^/  /'
        fi
    done
done

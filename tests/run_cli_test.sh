#!/usr/bin/env bash
# run_cli_test.sh: `headwise run` and `headwise patterns` on stories260K: the
# files they write load in NumPy with the documented shapes, interventions act
# (a masked head's pattern is uniform, scale 1 changes nothing), the HTML page
# carries the same patterns, and bad flags get one error line.
set -u
cd "$(dirname "$0")/.."
hw=${HW_BUILD:-build/rel}/headwise
S=${HW_SHARED:-../shared}/models/stories260K
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
M=(-m "$S/stories260K.bin" -z "$S/tok512.bin")
P="Once upon a time, there was a little girl named Lily"

check() { # NAME CMD...: PASS if CMD succeeds
    local name=$1
    shift
    if "$@" >"$tmp/out" 2>"$tmp/err"; then echo "PASS $name"; else
        echo "FAIL $name"; sed 's/^/    /' "$tmp/out" "$tmp/err" | head -20; fi
}

expect_error() { # NAME NEEDLE CMD...: exit 1 or 2, one stderr line containing NEEDLE
    local name=$1 needle=$2
    shift 2
    "$@" >"$tmp/out" 2>"$tmp/err"
    local rc=$? lines
    lines=$(wc -l <"$tmp/err")
    if [ $rc -ne 1 ] && [ $rc -ne 2 ]; then echo "FAIL $name: exit $rc"
    elif [ "$lines" -ne 1 ]; then echo "FAIL $name: $lines stderr lines"; head -3 "$tmp/err"
    elif ! grep -qF -- "$needle" "$tmp/err"; then echo "FAIL $name: $(cat "$tmp/err")"
    else echo "PASS $name: $(cat "$tmp/err")"; fi
}

check "run/capture" "$hw" run "${M[@]}" -p "$P" --capture 'blocks.*.attn.hook_pattern' \
    --capture blocks.2.attn.hook_z --capture hook_logits --capture blocks.1.attn.hook_k \
    --mask-uniform 1.2 -n 3 -o "$tmp/run"
check "run/npy-shapes" /usr/bin/python3 - "$tmp/run" <<'PY'
import json, sys, numpy as np
d = sys.argv[1]
idx = json.load(open(d + "/index.json"))
toks = json.load(open(d + "/tokens.json"))
T = len(toks) - 3  # the prompt with BOS, then 3 greedy tokens
assert T > 5 and toks[0]["id"] == 1, toks[:2]
# each point: the prefill + 2 decode steps; then logits.npy, listed last as hook "logits"
assert len(idx) == 5 * 3 + 3 * 3 + 1, len(idx)
assert idx[-1]["hook"] == "logits" and idx[-1]["file"] == "logits.npy", idx[-1]
assert idx[-1]["shape"] == [512] and idx[-1]["pos"] == T - 1, idx[-1]
for e in idx:
    a = np.load(d + "/" + e["file"])
    assert list(a.shape) == e["shape"], (e, a.shape)
z = np.load(d + "/blocks.2.attn.hook_z.npy"); assert z.shape == (T, 8, 8), (z.shape, T)
k = np.load(d + "/blocks.1.attn.hook_k.npy"); assert k.shape == (T, 4, 8), k.shape
p = np.load(d + "/blocks.1.attn.hook_pattern.npy"); assert p.shape == (8, T, T)
assert np.allclose(p.sum(-1), 1, atol=1e-5)
# the masked head 1.2 attends uniformly over its causal window, the others do not
for t in range(T):
    assert np.allclose(p[2, t, :t + 1], 1.0 / (t + 1), atol=1e-6)
assert not np.allclose(p[3, 5, :6], 1 / 6, atol=1e-3)
step = np.load(d + "/blocks.1.attn.hook_pattern.pos%d.npy" % (T + 1))
assert step.shape == (8, 1, T + 2) and np.allclose(step[2], 1.0 / (T + 2), atol=1e-6)
lg = np.load(d + "/hook_logits.npy"); last = np.load(d + "/logits.npy")
assert lg.shape == (T, 512) and np.abs(lg[-1] - last).max() < 1e-4
PY
"$hw" run "${M[@]}" -p "$P" --top 5 >"$tmp/plain" 2>/dev/null
"$hw" run "${M[@]}" -p "$P" --top 5 --scale 1.2,3.4=1.0 >"$tmp/scaled1" 2>/dev/null
"$hw" run "${M[@]}" -p "$P" --top 5 --zero-output 4.0,4.1,4.2,4.3,4.4,4.5,4.6,4.7 >"$tmp/zeroed" 2>/dev/null
if cmp -s "$tmp/plain" "$tmp/scaled1" && ! cmp -s "$tmp/plain" "$tmp/zeroed" && [ -s "$tmp/plain" ]; then
    echo "PASS run/scale-1-is-identity-and-zero-output-acts"
else
    echo "FAIL run/scale-1-is-identity-and-zero-output-acts"; cat "$tmp/plain" "$tmp/scaled1"
fi
printf 'Lily went to the park.\nThe cat sat on the mat.\n' >"$tmp/ref.txt"
check "run/mean-ablate" "$hw" run "${M[@]}" -p "$P" --mean-ablate 0.1,2.3 --mean-ref "$tmp/ref.txt" \
    --phase decode -n 2

check "patterns/write" "$hw" patterns "${M[@]}" -p "$P" -o "$tmp/pat"
check "patterns/npy-and-html" /usr/bin/python3 - "$tmp/pat" <<'PY'
import base64, json, re, sys, numpy as np
d = sys.argv[1]
a = np.load(d + "/patterns.npy")
T = a.shape[2]
assert a.shape == (5, 8, T, T) and T > 5, a.shape
assert np.allclose(a.sum(-1), 1, atol=1e-5) and np.triu(a, 1).max() == 0
assert np.array_equal(np.load(d + "/blocks.3.attn.hook_pattern.npy"), a[3])
html = open(d + "/patterns.html", encoding="utf-8").read()
m = re.search(r"const DATA=(\{.*?\});\n", html, re.S)
data = json.loads(m.group(1))
assert (data["T"], data["L"], data["H"]) == (T, 5, 8) and len(data["tokens"]) == T
# One byte per lower-triangle cell, round(255 sqrt(w)) (src/report/pattern_view.c), unbinned here.
assert data["R"] == T and len(data["p"]) == 5 * 8
tri = np.tril_indices(T)
for i, b in enumerate(data["p"]):
    q = np.frombuffer(base64.b64decode(b), dtype=np.uint8).astype(np.float64) / 255
    assert q.size == T * (T + 1) // 2
    assert np.abs(q - np.sqrt(a[i // 8, i % 8][tri])).max() <= 0.5 / 255 + 1e-6
assert "Lily" in "".join(data["tokens"])
PY

expect_error "run/unknown-hook" "hook_zz" "$hw" run "${M[@]}" -p hi --capture blocks.1.attn.hook_zz -o "$tmp/x"
expect_error "run/layer-range" "layer 9" "$hw" run "${M[@]}" -p hi --capture blocks.9.hook_resid_pre -o "$tmp/x"
expect_error "run/capture-needs-o" "-o DIR" "$hw" run "${M[@]}" -p hi --capture hook_logits
expect_error "run/head-range" "head 1.8" "$hw" run "${M[@]}" -p hi --mask-uniform 1.8
expect_error "run/bad-heads" "LAYER.HEAD" "$hw" run "${M[@]}" -p hi --zero-output one
expect_error "run/bad-scale" "--scale" "$hw" run "${M[@]}" -p hi --scale 1.2
expect_error "run/bad-phase" "--phase" "$hw" run "${M[@]}" -p hi --phase later
expect_error "run/mean-needs-ref" "--mean-ref" "$hw" run "${M[@]}" -p hi --mean-ablate 1.1
expect_error "run/too-long" "do not fit" "$hw" run "${M[@]}" -p hi -n 600
expect_error "run/no-prompt" "-p TEXT" "$hw" run "${M[@]}"
expect_error "patterns/no-out" "-o DIR" "$hw" patterns "${M[@]}" -p hi
expect_error "patterns/rotary-has-no-pos-embed" "learned positions" "$hw" run "${M[@]}" -p hi --capture hook_pos_embed -o "$tmp/x"

#!/usr/bin/env bash
# lens_subspace_test.sh: `headwise lens`, `headwise subspace` and `subspace lowrank`.
#   - on random sharp checkpoints written by tests/hf_fixtures.py (a Llama with GQA 3:1,
#     head_dim 24 != D/H; GPT-2 with LayerNorm, biases, learned positions), the singular
#     values of every head's W_Q W_K^T and W_V W_O (raw and with the input norm folded)
#     equal numpy's SVD of the products formed from the safetensors file;
#   - there, the lens with the norm held fixed: embedding + every attn_out + mlp_out is
#     the model's logits less W_U's image of the final LayerNorm's bias (numpy), and the
#     recomputed last row is the logits PyTorch computed;
#   - on the model organisms: the low-rank test at r = Dh is the baseline exactly and at
#     r = 0 falls where the head matters (induction: the previous-token head 0.0's q;
#     retrieval: head 0.2's v, which needs its full rank);
#   - bad input: one line and a non-zero exit, before any run.
set -u
cd "$(dirname "$0")/.."
build=${HW_BUILD:-build/rel}
hw=$PWD/$build/headwise
py=/usr/bin/python3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
S=${HW_SHARED:-$(cd .. && pwd)/shared}/models/stories260K
M=(-m "$S/stories260K.bin" -z "$S/tok512.bin")

pass() { echo "PASS $1"; }
fail() { echo "FAIL $1: $2"; }

# ---------------------------------------------------------------- sharp checkpoints vs numpy
if ! $py -c 'import torch, numpy' 2>/dev/null; then
    echo "SKIP lens_subspace/numpy: needs /usr/bin/python3 with torch and numpy"
else
    if out=$(HW=$hw TMP=$tmp $py - 2>&1 <<'EOF'
import json, os, struct, subprocess, sys
import numpy as np
sys.path.insert(0, "tests")
import hf_fixtures as fx

def read_st(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        h = json.loads(f.read(n))
        data = f.read()
    return {k: np.frombuffer(data[v["data_offsets"][0]:v["data_offsets"][1]], np.float32).reshape(v["shape"]).astype(np.float64)
            for k, v in h.items() if k != "__metadata__" and v["dtype"] == "F32"}

def hw(*args):
    p = subprocess.run([os.environ["HW"], *args], capture_output=True, text=True)
    if p.returncode:
        sys.exit("headwise %s: %s" % (" ".join(args), p.stderr))
    return p.stdout

tmp = os.environ["TMP"]
cases = {c[0]: c for c in fx.cases()}
worst = 0.0
for seed, name in ((1005, "llama_gqa_sharded_f32"), (1000, "gpt2_f32")):
    folder = fx.make_case(tmp, seed, *cases[name])
    W = {}
    for fn in sorted(os.listdir(folder)):
        if fn.endswith(".safetensors"):
            W.update(read_st(os.path.join(folder, fn)))
    cfg = json.load(open(os.path.join(folder, "config.json")))
    gpt2 = name.startswith("gpt2")
    L = cfg.get("n_layer") or cfg["num_hidden_layers"]
    H = cfg.get("n_head") or cfg["num_attention_heads"]
    D = cfg.get("n_embd") or cfg["hidden_size"]
    Hk = cfg.get("num_key_value_heads", H)
    Dh = cfg.get("head_dim") or D // H
    for l in range(L):
        if gpt2:   # Conv1D: (in, out), q|k|v along out
            ca = W["h.%d.attn.c_attn.weight" % l]
            Wq, Wk, Wv = ca[:, :D].T, ca[:, D:2 * D].T, ca[:, 2 * D:].T
            Wo = W["h.%d.attn.c_proj.weight" % l].T          # (D, H*Dh) as y = Wo z
            g = W["h.%d.ln_1.weight" % l]
        else:
            p = "model.layers.%d." % l
            Wq, Wk, Wv = (W[p + "self_attn.%s_proj.weight" % x] for x in "qkv")
            Wo = W[p + "self_attn.o_proj.weight"]
            g = W[p + "input_layernorm.weight"]
        for h in range(H):
            kv = h // (H // Hk)
            q, k, v = Wq[h * Dh:(h + 1) * Dh], Wk[kv * Dh:(kv + 1) * Dh], Wv[kv * Dh:(kv + 1) * Dh]
            o = Wo[:, h * Dh:(h + 1) * Dh]
            for fold in (0, 1):
                gg = g if fold else np.ones(D)
                mats = {"qk": (q * gg).T @ (k * gg), "ov": (v * gg).T @ o.T}
                for kind, A in mats.items():
                    want = np.linalg.svd(A, compute_uv=False)[:Dh]
                    args = ["subspace", "-m", folder, "--head", "%d.%d" % (l, h), "--kind", kind,
                            "--directions", "0", "-o", os.path.join(tmp, "s.json")]
                    hw(*(args + ([] if fold else ["--no-fold"])))
                    got = np.array(json.load(open(os.path.join(tmp, "s.json")))["singular"])
                    err = np.max(np.abs(got - want)) / want[0]
                    worst = max(worst, err)
                    if err > 1e-6:
                        sys.exit("%s %d.%d %s fold %d: %s vs numpy %s" % (name, l, h, kind, fold, got, want))
    # the lens on the fixture's tokens
    ids = np.fromfile(os.path.join(folder, "tokens.i32"), np.int32)
    ref = np.fromfile(os.path.join(folder, "logits.f32"), np.float32).reshape(len(ids), -1)
    idl = ",".join(map(str, ids))
    V = ref.shape[1]
    hw("lens", "-m", folder, "--ids", idl, "--top", str(V), "-o", os.path.join(tmp, "r.json"))
    rows = json.load(open(os.path.join(tmp, "r.json")))["rows"]
    def logits(row):
        z = np.zeros(V)
        z[row["top"]] = row["top_logit"]
        return z
    d = np.max(np.abs(logits(rows[-1]) - ref[-1]))
    if d > 2e-4:
        sys.exit("%s: recomputed last row differs from PyTorch's logits by %g" % (name, d))
    hw("lens", "-m", folder, "--ids", idl, "--top", str(V), "--norm", "fixed", "--components",
       "-o", os.path.join(tmp, "f.json"))
    rows = {r["name"]: logits(r) for r in json.load(open(os.path.join(tmp, "f.json")))["rows"]}
    total = rows["resid_pre.0"] + sum(v for n, v in rows.items() if n.startswith(("attn.", "mlp.")))
    if gpt2:
        bias = W["wte.weight"] @ W["ln_f.bias"]
    else:
        bias = np.zeros(V)
    d = np.max(np.abs(total + bias - ref[-1]))
    if d > 1e-3:
        sys.exit("%s: fixed-norm components + W_U b differ from the logits by %g" % (name, d))
    if gpt2 and np.max(np.abs(bias)) < 0.1:
        sys.exit("gpt2: the final norm's bias term is too small to test (%g)" % np.max(np.abs(bias)))
print("worst singular value error %.3g" % worst)
EOF
    ); then
        pass "lens_subspace/numpy ($out)"
    else
        fail lens_subspace/numpy "$out"
    fi
fi

# ---------------------------------------------------------------- organisms: the low-rank test
. tests/organisms.sh
lowrank() {   # ORGANISM_DIR HEAD INPUT TASK: "rank accuracy" lines and "base B"
    "$hw" subspace lowrank -m "$1" --head "$2" --input "$3" --task "$4" --samples 60 --fit-samples 20 \
        -o "$tmp/lr.json" 2>"$tmp/lr.err" >/dev/null || return 1
    $py -c 'import json,sys; d=json.load(open(sys.argv[1])); print("base", repr(d["baseline"][0]))
for r in d["ranks"]: print(r["rank"], repr(r["accuracy"]))' "$tmp/lr.json"
}
check_lowrank() {   # NAME TASK HEAD INPUT DH: r = Dh is the baseline, r = 0 below half of it
    local d
    if ! d=$(organism "$2"); then
        fail "$1" "training the $2 organism: $(tail -n1 "$tmp/$2.err")"
        return
    fi
    if ! out=$(lowrank "$d" "$3" "$4" "$2"); then
        fail "$1" "$(cat "$tmp/lr.err")"
        return
    fi
    local base=$(echo "$out" | awk '$1 == "base" {print $2}')
    local full=$(echo "$out" | awk -v r="$5" '$1 == r {print $2}')
    local zero=$(echo "$out" | awk '$1 == 0 {print $2}')
    if [ "$full" != "$base" ]; then
        fail "$1" "r = $5 gives $full, the baseline $base"
    elif ! awk -v z="$zero" -v b="$base" 'BEGIN {exit !(b > 0.9 && z < b / 2)}'; then
        fail "$1" "r = 0 gives $zero, baseline $base: no drop"
    else
        pass "$1 (baseline $base, r = 0: $zero)"
    fi
}
check_lowrank lowrank/induction_prev_token_q induction 0.0 q 32
check_lowrank lowrank/retrieval_head_v retrieval 0.2 v 8

# ---------------------------------------------------------------- bad input
bad() {   # NAME EXPECTED_STATUS PATTERN ARGS...
    local name=$1 want=$2 pat=$3
    shift 3
    "$hw" "$@" >"$tmp/o" 2>"$tmp/e"
    local rc=$?
    if [ $rc -ne "$want" ] || [ "$(wc -l <"$tmp/e")" -ne 1 ] || ! grep -q -- "$pat" "$tmp/e"; then
        fail "$name" "status $rc, stderr: $(cat "$tmp/e")"
    else
        pass "$name"
    fi
}
bad lens/no_prompt 2 "give -p" lens "${M[@]}"
bad lens/both 2 "one of them" lens "${M[@]}" -p "Once" --ids 1,2
bad lens/ids 2 "not a list" lens "${M[@]}" --ids 1,x
bad lens/norm 2 "not one of" lens "${M[@]}" -p "Once" --norm sometimes
bad lens/pos 1 "position 40" lens "${M[@]}" -p "Once upon a time" --pos 40
bad lens/id_range 1 "outside the vocabulary" lens "${M[@]}" --ids 1,9999
bad lens/target 2 "not both" lens "${M[@]}" -p "Once" --target a --target-id 3
bad subspace/head 2 "head" subspace "${M[@]}" --head 7.1
bad subspace/no_head 2 "give --head" subspace "${M[@]}"
bad subspace/kind 2 "not one of" subspace "${M[@]}" --head 1.1 --kind vo
bad lowrank/no_task 2 "one of them" subspace lowrank "${M[@]}" --head 1.1
bad lowrank/input 2 "not a list of q, k and v" subspace lowrank "${M[@]}" --head 1.1 --input z --prompts data/prompts/stories_copy.tsv
bad lowrank/input_twice 2 "given twice" subspace lowrank "${M[@]}" --head 1.1 --input q,k,q --prompts data/prompts/stories_copy.tsv
bad lowrank/ranks 2 "not a list" subspace lowrank "${M[@]}" --head 1.1 --ranks 1,-2 --prompts data/prompts/stories_copy.tsv
bad lowrank/task 1 "task" subspace lowrank "${M[@]}" --head 1.1 --task nonsense

# ---------------------------------------------------------------- outputs
if "$hw" lens "${M[@]}" -p "Once upon a time, there was a little girl named Lily. She loved to play in the" \
        --target park -o "$tmp/x/lens.html" >"$tmp/o" 2>"$tmp/e" && grep -q "<td>resid_post.4</td><td>0</td>" "$tmp/x/lens.html" &&
        grep -q "^resid_post.4	0	" "$tmp/o"; then
    pass lens/html_and_stdout
else
    fail lens/html_and_stdout "$(cat "$tmp/e")"
fi

"""hooks_ref.py OUT_DIR: PyTorch references for head interventions.

For a few of tests/hf_fixtures.py's random checkpoints (one per family), writes
the folder as that script does, plus masked.f32: the logits when query head
MASK_HEAD of layer MASK_LAYER attends uniformly over its causal window (its
pre-softmax scores replaced by 0, the Retrieval Head paper's masking). Prints
"folder layer head" per case. Run with /usr/bin/python3 (Debian's torch)."""
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_fixtures as fx  # noqa: E402

CASES = ["gpt2_f32", "neox_parallel_f32", "llama_gqa_sharded_f32", "mistral_window_f32",
         "qwen2_window_f32", "llama_attn_only_f32"]
MASK_LAYER = 1


def masked_attend(target_head):
    """fx.attend with one query head of layer MASK_LAYER made uniform; the
    family forwards call attend once per layer, in order."""
    calls = {"layer": 0}

    def attend(q, k, v, window=None):
        H, T, Dh = q.shape
        rep = H // k.shape[0]
        k = k.repeat_interleave(rep, dim=0)
        v = v.repeat_interleave(rep, dim=0)
        s = q @ k.transpose(-1, -2) / math.sqrt(Dh)
        if calls["layer"] == MASK_LAYER:
            s[target_head] = 0.0
        calls["layer"] += 1
        hidden = torch.ones(T, T, dtype=torch.bool).triu(1)
        if window:
            hidden |= torch.ones(T, T, dtype=torch.bool).tril(-window)
        s = s.masked_fill(hidden, float("-inf"))
        z = torch.softmax(s, dim=-1) @ v
        return z.transpose(0, 1).reshape(T, H * Dh)
    return attend


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for seed, case in enumerate(fx.cases()):
        name, family, cfg = case[0], case[1], case[2]
        if name not in CASES:
            continue
        folder = fx.make_case(out, 1000 + seed, *case)
        H = cfg.get("num_attention_heads", cfg.get("n_head"))
        head = H - 1  # the last head: in GQA models it shares its KV head with others
        ids = torch.from_numpy(__import__("numpy").fromfile(os.path.join(folder, "tokens.i32"),
                                                             dtype="int32")).long()
        W = read_weights(folder)
        fx.attend = masked_attend(head)
        with torch.no_grad():
            if family == "gpt2":
                logits = fx.gpt2_forward(W, cfg, ids, "")
            elif family == "gpt_neox":
                logits = fx.neox_forward(W, cfg, ids)
            else:
                logits = fx.llama_forward(W, cfg, ids, family)
        logits.to(torch.float32).numpy().tofile(os.path.join(folder, "masked.f32"))
        print(folder, MASK_LAYER, head)


def read_weights(folder):
    """The float64 weights of a folder's safetensors files (one or several shards)."""
    import json
    import struct
    import numpy as np
    W = {}
    for f in sorted(os.listdir(folder)):
        if not f.endswith(".safetensors"):
            continue
        with open(os.path.join(folder, f), "rb") as fh:
            n = struct.unpack("<Q", fh.read(8))[0]
            header = json.loads(fh.read(n))
            data = fh.read()
        for k, meta in header.items():
            if k == "__metadata__" or meta["dtype"] != "F32":
                continue
            a, b = meta["data_offsets"]
            W[k] = torch.from_numpy(np.frombuffer(data[a:b], dtype="<f4").reshape(meta["shape"]).copy()
                                    ).to(torch.float64)
    return W


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Write a random-weight GPT-2 small (124M) Hugging Face folder, or time PyTorch on one.

  gpt2_torch.py write FOLDER            config.json + model.safetensors (F32, HF names)
  gpt2_torch.py time FOLDER THREADS P D prefill P tokens, then decode D tokens with a KV
                                        cache; prints "torch prefill_tok_s=... decode_tok_s=..."

The forward is GPT-2's, written with torch's own operators (layer_norm, linear on the
transposed Conv1D weights, tanh GELU, causal softmax attention). Only torch and numpy
are needed (run with /usr/bin/python3).
"""
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

CFG = dict(vocab_size=50257, n_positions=1024, n_embd=768, n_layer=12, n_head=12)


def write(folder):
    os.makedirs(folder, exist_ok=True)
    D, L, V, P = CFG["n_embd"], CFG["n_layer"], CFG["vocab_size"], CFG["n_positions"]
    rng = np.random.default_rng(0)
    t = {"wte.weight": (V, D), "wpe.weight": (P, D), "ln_f.weight": (D,), "ln_f.bias": (D,)}
    for l in range(L):
        h = f"h.{l}."
        t.update({h + "ln_1.weight": (D,), h + "ln_1.bias": (D,), h + "ln_2.weight": (D,),
                  h + "ln_2.bias": (D,), h + "attn.c_attn.weight": (D, 3 * D),
                  h + "attn.c_attn.bias": (3 * D,), h + "attn.c_proj.weight": (D, D),
                  h + "attn.c_proj.bias": (D,), h + "mlp.c_fc.weight": (D, 4 * D),
                  h + "mlp.c_fc.bias": (4 * D,), h + "mlp.c_proj.weight": (4 * D, D),
                  h + "mlp.c_proj.bias": (D,)})
    header, off, blobs = {}, 0, []
    for name, shape in t.items():
        if name.endswith("ln_1.weight") or name.endswith("ln_2.weight") or name == "ln_f.weight":
            a = np.ones(shape, np.float32)
        else:
            a = (rng.standard_normal(shape, dtype=np.float32) * 0.02).astype(np.float32)
        b = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [off, off + len(b)]}
        off += len(b)
        blobs.append(b)
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(os.path.join(folder, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for b in blobs:
            f.write(b)
    config = dict(CFG, architectures=["GPT2LMHeadModel"], model_type="gpt2",
                  activation_function="gelu_new", layer_norm_epsilon=1e-5, n_inner=None,
                  bos_token_id=50256, eos_token_id=50256, tie_word_embeddings=True)
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config, f, indent=2)


def load(folder):
    raw = open(os.path.join(folder, "model.safetensors"), "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        b, e = meta["data_offsets"]
        a = np.frombuffer(raw, dtype=np.float32, count=(e - b) // 4, offset=8 + n + b)
        out[name] = torch.from_numpy(a.reshape(meta["shape"]).copy())
    return out


class GPT2:
    def __init__(self, w):
        self.w, self.H = w, CFG["n_head"]
        # Conv1D stores (in, out); linear wants (out, in).
        self.lin = {k: v.t().contiguous() for k, v in w.items()
                    if k.endswith("c_attn.weight") or k.endswith("c_proj.weight")
                    or k.endswith("c_fc.weight")}
        self.cache = [None] * CFG["n_layer"]

    def forward(self, ids, pos):
        w, D, H = self.w, CFG["n_embd"], self.H
        T = ids.shape[0]
        x = w["wte.weight"][ids] + w["wpe.weight"][pos:pos + T]
        for l in range(CFG["n_layer"]):
            p = f"h.{l}."
            a = F.layer_norm(x, (D,), w[p + "ln_1.weight"], w[p + "ln_1.bias"], 1e-5)
            qkv = F.linear(a, self.lin[p + "attn.c_attn.weight"], w[p + "attn.c_attn.bias"])
            q, k, v = (t.view(T, H, D // H).transpose(0, 1) for t in qkv.split(D, dim=1))
            if self.cache[l] is not None:
                k = torch.cat([self.cache[l][0], k], dim=1)
                v = torch.cat([self.cache[l][1], v], dim=1)
            self.cache[l] = (k, v)
            S = k.shape[1]
            s = q @ k.transpose(1, 2) / math.sqrt(D // H)
            mask = torch.ones(T, S, dtype=torch.bool).tril(diagonal=S - T)
            s = s.masked_fill(~mask, float("-inf"))
            z = (F.softmax(s, dim=-1) @ v).transpose(0, 1).reshape(T, D)
            x = x + F.linear(z, self.lin[p + "attn.c_proj.weight"], w[p + "attn.c_proj.bias"])
            m = F.layer_norm(x, (D,), w[p + "ln_2.weight"], w[p + "ln_2.bias"], 1e-5)
            m = F.gelu(F.linear(m, self.lin[p + "mlp.c_fc.weight"], w[p + "mlp.c_fc.bias"]),
                       approximate="tanh")
            x = x + F.linear(m, self.lin[p + "mlp.c_proj.weight"], w[p + "mlp.c_proj.bias"])
        x = F.layer_norm(x[-1:], (D,), w["ln_f.weight"], w["ln_f.bias"], 1e-5)
        return F.linear(x, w["wte.weight"])


def time_it(folder, threads, n_prefill, n_decode):
    torch.set_num_threads(threads)
    model = GPT2(load(folder))
    ids = torch.arange(n_prefill) * 7 % CFG["vocab_size"]
    best_p, best_d = 0.0, 0.0
    with torch.no_grad():
        for _ in range(3):  # best of three, after the first warms the caches
            model.cache = [None] * CFG["n_layer"]
            t0 = time.perf_counter()
            logits = model.forward(ids, 0)
            t1 = time.perf_counter()
            tok = torch.argmax(logits[-1:], dim=-1)
            for i in range(n_decode):
                logits = model.forward(tok, n_prefill + i)
                tok = torch.argmax(logits[-1:], dim=-1)
            t2 = time.perf_counter()
            best_p = max(best_p, n_prefill / (t1 - t0))
            best_d = max(best_d, n_decode / (t2 - t1))
    print(f"torch prefill_tok_s={best_p:.1f} decode_tok_s={best_d:.1f}")


if __name__ == "__main__":
    if sys.argv[1] == "write":
        write(sys.argv[2])
    else:
        time_it(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]))

#!/usr/bin/python3
"""gguf_ref.py MODEL.gguf OUT_DIR: an independent reference for a llama GGUF.

Reads the GGUF with numpy (tests/fixtures/gguf_file.py, written from the format's
specification), converts it to a Hugging Face Llama folder (config.json +
model.safetensors in F32: half-precision tensors upcast, as headwise does) and runs the
PyTorch reference forward the other families are checked against
(tests/hf_fixtures.py's llama_forward, float64) on fixed token ids, writing
tokens.i32 and logits.f32 (T x V) into OUT_DIR.

llama.cpp stores a llama model's query and key rows in Meta's order (rotary pairs
(2i, 2i+1)); Hugging Face's layout pairs (i, i + Dh/2). The conversion permutes them as
Hugging Face's own conversion does (scripts/llama2c_to_hf.py's to_halves), so the
reference computes in the halves layout what headwise computes in the interleaved one.
"""
import json
import os
import sys

import numpy as np
import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(here, "fixtures"), os.path.join(here, "..", "scripts"), here]
import gguf_file  # noqa: E402
from hf_fixtures import llama_forward  # noqa: E402
from hf_safetensors import write_safetensors  # noqa: E402
from llama2c_to_hf import to_halves  # noqa: E402


def convert(path):
    meta, t = gguf_file.read(path)
    assert meta["general.architecture"] == "llama", meta["general.architecture"]
    a = "llama."
    H = meta[a + "attention.head_count"]
    Hk = meta.get(a + "attention.head_count_kv", H)
    L = meta[a + "block_count"]
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama",
           "hidden_size": meta[a + "embedding_length"], "intermediate_size": meta[a + "feed_forward_length"],
           "num_hidden_layers": L, "num_attention_heads": H, "num_key_value_heads": Hk,
           "max_position_embeddings": meta[a + "context_length"],
           "rms_norm_eps": float(meta.get(a + "attention.layer_norm_rms_epsilon", 1e-5)),
           "rope_theta": float(meta.get(a + "rope.freq_base", 10000.0)),
           "vocab_size": t["token_embd.weight"].shape[0],
           "tie_word_embeddings": "output.weight" not in t}
    W = {"model.embed_tokens.weight": t["token_embd.weight"], "model.norm.weight": t["output_norm.weight"]}
    if "output.weight" in t:
        W["lm_head.weight"] = t["output.weight"]
    for i in range(L):
        for h, g in gguf_file.LLAMA_NAMES.items():
            w = t[f"blk.{i}.{g}.weight"]
            if g == "attn_q":
                w = to_halves(w, H)
            elif g == "attn_k":
                w = to_halves(w, Hk)
            W[f"model.layers.{i}.{h}.weight"] = w
    return cfg, W


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: gguf_ref.py MODEL.gguf OUT_DIR")
    cfg, W = convert(sys.argv[1])
    out = sys.argv[2]
    os.makedirs(out, exist_ok=True)
    write_safetensors(os.path.join(out, "model.safetensors"),
                      [(k, "F32", v.shape, np.ascontiguousarray(v, dtype="<f4").tobytes()) for k, v in sorted(W.items())])
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    g = torch.Generator().manual_seed(7)
    ids = torch.randint(0, cfg["vocab_size"], (13,), generator=g)
    ids[0] = 1  # BOS, as a prompt starts
    Wt = {k: torch.from_numpy(np.array(v, dtype=np.float64)) for k, v in W.items()}
    with torch.no_grad():
        logits = llama_forward(Wt, cfg, ids, "llama")
    ids.to(torch.int32).numpy().tofile(os.path.join(out, "tokens.i32"))
    logits.to(torch.float32).numpy().tofile(os.path.join(out, "logits.f32"))
    print(out)


if __name__ == "__main__":
    main()

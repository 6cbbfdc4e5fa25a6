#!/usr/bin/python3
"""gguf_arch_ref.py OUT: GGUF files in llama.cpp's layout for each architecture headwise
reads (llama, qwen2, gpt2), from random weights drawn as tests/hf_fixtures.py draws
them, with the PyTorch reference logits of the Hugging Face model they come from.

The conversion follows llama.cpp's convert_hf_to_gguf.py: names token_embd, output,
output_norm, blk.N.{attn_norm, attn_q, attn_k, attn_v, attn_output, ffn_norm, ffn_gate,
ffn_up, ffn_down}; Llama's query and key rows permuted from Hugging Face's halves layout
into Meta's interleaved one (LlamaModel.permute, the key with n_head_kv); Qwen2's left as
they are (llama.cpp rotates them in the "neox" layout); GPT-2's Conv1D weights
transposed into (out, in), its fused attn_qkv kept, position_embd added. Sharp fp32
weights (a rotary-layout or GQA slip moves logits by O(1)) and one std-0.02 F16 case.
Each case is a folder with model.gguf, tokens.i32 and logits.f32; prints one folder a line.
"""
import os
import sys

import numpy as np
import torch

here = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(here, "fixtures"), here]
import gguf_file as g  # noqa: E402
import hf_fixtures as hf  # noqa: E402


def permute(w, n_head):
    """llama.cpp's LlamaModel.permute: rows (halves layout) into Meta's interleaved order."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def as_type(a, tt):
    a = np.ascontiguousarray(a)
    return a.astype("<f2").tobytes() if tt == g.T_F16 else a.astype("<f4").tobytes()


def tensor(name, a, tt=g.T_F32):
    a = np.asarray(a)
    if a.ndim == 1:
        tt = g.T_F32  # llama.cpp keeps norms and biases F32
    return (name, list(reversed(a.shape)), tt, as_type(a, tt))


def llama_like(arch, cfg, W, tt):
    H, Hk, L = cfg["num_attention_heads"], cfg.get("num_key_value_heads"), cfg["num_hidden_layers"]
    Dh = cfg.get("head_dim") or cfg["hidden_size"] // H
    p = arch + "."
    kvs = [("general.architecture", g.STRING, arch), (p + "block_count", g.U32, L),
           (p + "context_length", g.U32, cfg["max_position_embeddings"]),
           (p + "embedding_length", g.U32, cfg["hidden_size"]),
           (p + "feed_forward_length", g.U32, cfg["intermediate_size"]),
           (p + "attention.head_count", g.U32, H), (p + "attention.head_count_kv", g.U32, Hk),
           (p + "attention.key_length", g.U32, Dh), (p + "attention.value_length", g.U32, Dh),
           (p + "rope.freq_base", g.F32, cfg["rope_theta"]),
           (p + "attention.layer_norm_rms_epsilon", g.F32, cfg["rms_norm_eps"])]
    rs = cfg.get("rope_scaling")
    if rs:
        kvs += [(p + "rope.scaling.type", g.STRING, rs["type"]), (p + "rope.scaling.factor", g.F32, rs["factor"])]
    n = {k: v.numpy() for k, v in W.items()}
    t = [tensor("token_embd.weight", n["model.embed_tokens.weight"], tt),
         tensor("output_norm.weight", n["model.norm.weight"])]
    if "lm_head.weight" in n and not cfg.get("tie_word_embeddings"):
        t.append(tensor("output.weight", n["lm_head.weight"], tt))
    for i in range(L):
        for h, gg in g.LLAMA_NAMES.items():
            for kind in ("weight", "bias"):
                key = f"model.layers.{i}.{h}.{kind}"
                if key not in n:
                    continue
                a = n[key]
                if arch == "llama" and h == "self_attn.q_proj":
                    a = permute(a, H)
                elif arch == "llama" and h == "self_attn.k_proj":
                    a = permute(a, Hk)
                t.append(tensor(f"blk.{i}.{gg}.{kind}", a, tt))
    return g.write(kvs, t)


def gpt2(cfg, W):
    D, L = cfg["n_embd"], cfg["n_layer"]
    n = {k: v.numpy() for k, v in W.items()}
    kvs = [("general.architecture", g.STRING, "gpt2"), ("gpt2.block_count", g.U32, L),
           ("gpt2.context_length", g.U32, cfg["n_positions"]), ("gpt2.embedding_length", g.U32, D),
           ("gpt2.feed_forward_length", g.U32, 4 * D), ("gpt2.attention.head_count", g.U32, cfg["n_head"]),
           ("gpt2.attention.layer_norm_epsilon", g.F32, cfg["layer_norm_epsilon"])]
    t = [tensor("token_embd.weight", n["wte.weight"]), tensor("position_embd.weight", n["wpe.weight"]),
         tensor("output_norm.weight", n["ln_f.weight"]), tensor("output_norm.bias", n["ln_f.bias"])]
    names = {"ln_1": "attn_norm", "attn.c_attn": "attn_qkv", "attn.c_proj": "attn_output", "ln_2": "ffn_norm",
             "mlp.c_fc": "ffn_up", "mlp.c_proj": "ffn_down"}
    for i in range(L):
        for h, gg in names.items():
            w = n[f"h.{i}.{h}.weight"]
            t.append(tensor(f"blk.{i}.{gg}.weight", w.T if w.ndim == 2 else w))  # Conv1D (in, out) -> (out, in)
            t.append(tensor(f"blk.{i}.{gg}.bias", n[f"h.{i}.{h}.bias"]))
    return g.write(kvs, t)


def cases():
    gpt2_cfg = {"activation_function": "gelu_new", "n_embd": 64, "n_head": 4, "n_layer": 2, "n_positions": 32,
                "n_inner": None, "layer_norm_epsilon": 1e-5, "vocab_size": 101}
    return [
        ("llama_gqa_f32", "llama", hf.llama_cfg("llama", hidden_size=128, num_attention_heads=6,
                                                num_key_value_heads=2, head_dim=24, intermediate_size=200,
                                                rope_theta=50000.0), True, g.T_F32),
        ("llama_linear_tied_f32", "llama", hf.llama_cfg("llama", tie_word_embeddings=True, num_key_value_heads=2,
                                                        rope_scaling={"type": "linear", "factor": 2.0}),
         True, g.T_F32),
        ("llama_gqa_f16", "llama", hf.llama_cfg("llama", num_attention_heads=6, num_key_value_heads=2, head_dim=24,
                                                hidden_size=128), False, g.T_F16),
        ("qwen2_f32", "qwen2", hf.llama_cfg("qwen2", num_key_value_heads=2, rope_theta=1000000.0, rms_norm_eps=1e-6,
                                            use_sliding_window=False), True, g.T_F32),
        ("qwen2_tied_f32", "qwen2", hf.llama_cfg("qwen2", num_key_value_heads=4, tie_word_embeddings=True,
                                                 use_sliding_window=False), True, g.T_F32),
        ("gpt2_f32", "gpt2", gpt2_cfg, True, g.T_F32),
    ]


def main():
    out = sys.argv[1]
    for seed, (name, arch, cfg, sharp, tt) in enumerate(cases()):
        folder = os.path.join(out, name)
        os.makedirs(folder, exist_ok=True)
        init = hf.Init(2000 + seed, sharp)
        if arch == "gpt2":
            W = hf.gpt2_weights(cfg, init, "", False)
        else:
            W = hf.llama_weights(cfg, init, arch)
        # The reference uses exactly the stored values (F16 rounding included).
        W = {k: (v.to(torch.float16) if tt == g.T_F16 and v.dim() == 2 else v.to(torch.float32)).to(torch.float64)
             for k, v in W.items()}
        ids = torch.randint(0, cfg["vocab_size"], (13,), generator=init.g)
        with torch.no_grad():
            logits = hf.gpt2_forward(W, cfg, ids, "") if arch == "gpt2" else hf.llama_forward(W, cfg, ids, arch)
        data = gpt2(cfg, W) if arch == "gpt2" else llama_like(arch, cfg, W, tt)
        with open(os.path.join(folder, "model.gguf"), "wb") as f:
            f.write(data)
        ids.to(torch.int32).numpy().tofile(os.path.join(folder, "tokens.i32"))
        logits.to(torch.float32).numpy().tofile(os.path.join(folder, "logits.f32"))
        print(folder)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""hf_fixtures.py OUT: random checkpoints in each family's exact Hugging Face
layout (config.json + safetensors, one case sharded), and reference logits
computed here with PyTorch operators.

Each case folder gets tokens.i32 (T int32) and logits.f32 (T x V float32, row
= position). The reference forward is written from the Hugging Face modeling
files' semantics (GPT-2, GPT-NeoX, Llama, Mistral, Qwen2) and runs in float64
on exactly the stored values, so its own rounding is far below the tolerance.

fp32 cases use a "sharp" init (std 0.8/sqrt(fan_in), 2.4/sqrt(fan_in) for the
query and key weights): attention is then peaked, so a wrong rotary layout,
theta, rotary fraction, GQA mapping, bias or tying moves logits by O(1).
Half-precision cases use std 0.02 (sharp logits would amplify storage rounding).
Prints one case folder per line.
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from hf_safetensors import write_safetensors, write_sharded  # noqa: E402

ST_DTYPE = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16",
            torch.int64: "I64", torch.bool: "BOOL"}


def raw_bytes(t):
    t = t.contiguous()
    if t.dtype in (torch.bfloat16, torch.float16):
        return t.view(torch.int16).numpy().tobytes()  # numpy has no bf16
    if t.dtype == torch.bool:
        return t.to(torch.uint8).numpy().tobytes()
    return t.numpy().tobytes()


class Init:
    """Draws tensors for one checkpoint: sharp (fp32) or std 0.02 (half)."""

    def __init__(self, seed, sharp):
        self.g = torch.Generator().manual_seed(seed)
        self.sharp = sharp

    def randn(self, *shape):
        return torch.randn(*shape, generator=self.g, dtype=torch.float64)

    def weight(self, out_f, in_f, qk=False):
        std = (2.4 if qk else 0.8) / math.sqrt(in_f) if self.sharp else 0.02
        return self.randn(out_f, in_f) * std

    def bias(self, n):
        return self.randn(n) * (0.2 if self.sharp else 0.02)

    def norm_w(self, n):
        return 1 + self.randn(n) * (0.1 if self.sharp else 0.02)

    def embed(self, v, d):
        return self.randn(v, d) * (1.0 if self.sharp else 0.02)


# ---------------------------------------------------------------- reference ops

def layer_norm(x, w, b, eps):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), w, b, eps)


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def gelu_new(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x.pow(3))))


def gelu_exact(x):
    return torch.nn.functional.gelu(x)


def act_fn(name):
    return {"gelu_new": gelu_new, "gelu_pytorch_tanh": gelu_new, "gelu": gelu_exact}[name]


def inv_freq(rot, theta, scaling):
    f = 1.0 / (theta ** (torch.arange(0, rot, 2, dtype=torch.float64) / rot))
    if not scaling:
        return f
    kind = scaling.get("rope_type", scaling.get("type"))
    if kind == "linear":  # positions / factor
        return f / scaling["factor"]
    if kind == "llama3":
        factor, lo, hi = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
        old = scaling["original_max_position_embeddings"]
        wavelen = 2 * math.pi / f
        out = torch.where(wavelen > old / lo, f / factor, f)
        smooth = (old / wavelen - lo) / (hi - lo)
        smoothed = (1 - smooth) * out / factor + smooth * out
        medium = (wavelen >= old / hi) & (wavelen <= old / lo)
        return torch.where(medium, smoothed, out)
    if kind == "dynamic":  # NTK: theta grows once the sequence passes max_position_embeddings
        raise ValueError("dynamic scaling depends on the length: use inv_freq_dynamic")
    raise ValueError(kind)


def inv_freq_dynamic(rot, theta, factor, max_pos, seq_len):
    """Hugging Face's dynamic NTK scaling for a forward over seq_len positions."""
    if seq_len > max_pos:
        theta = theta * ((factor * seq_len / max_pos) - (factor - 1)) ** (rot / (rot - 2))
    return inv_freq(rot, theta, None)


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def rope(x, rot, freqs):
    """x (n_heads, T, Dh): rotate the first rot dims of each head, pairing
    (i, i + rot/2) as Hugging Face's rotate_half does."""
    T = x.shape[1]
    ang = torch.arange(T, dtype=torch.float64)[:, None] * freqs[None, :]
    emb = torch.cat((ang, ang), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    xr, xp = x[..., :rot], x[..., rot:]
    return torch.cat((xr * cos + rotate_half(xr) * sin, xp), dim=-1)


def attend(q, k, v, window=None):
    """q (H, T, Dh), k/v (Hk, T, Dh): causal softmax attention with K/V heads
    repeated for their H/Hk query heads (repeat_kv). With a sliding window,
    query i sees keys j with i - window < j <= i, as Hugging Face's Mistral mask
    (key j is hidden when j <= i - window). Returns (T, H*Dh)."""
    H, T, Dh = q.shape
    rep = H // k.shape[0]
    k = k.repeat_interleave(rep, dim=0)
    v = v.repeat_interleave(rep, dim=0)
    s = q @ k.transpose(-1, -2) / math.sqrt(Dh)
    hidden = torch.ones(T, T, dtype=torch.bool).triu(1)
    if window:
        hidden |= torch.ones(T, T, dtype=torch.bool).tril(-window)
    s = s.masked_fill(hidden, float("-inf"))
    z = torch.softmax(s, dim=-1) @ v
    return z.transpose(0, 1).reshape(T, H * Dh)


def heads(x, n):
    T = x.shape[0]
    return x.view(T, n, -1).transpose(0, 1)


# ---------------------------------------------------------------- families

def gpt2_forward(W, cfg, ids, p):
    D, H = cfg["n_embd"], cfg["n_head"]
    eps, act = cfg["layer_norm_epsilon"], act_fn(cfg["activation_function"])
    T = len(ids)
    x = W[p + "wte.weight"][ids] + W[p + "wpe.weight"][:T]
    for i in range(cfg["n_layer"]):
        L = "%sh.%d." % (p, i)
        a = layer_norm(x, W[L + "ln_1.weight"], W[L + "ln_1.bias"], eps)
        qkv = a @ W[L + "attn.c_attn.weight"] + W[L + "attn.c_attn.bias"]  # Conv1D: x W + b
        q, k, v = qkv.split(D, dim=-1)
        z = attend(heads(q, H), heads(k, H), heads(v, H))
        x = x + z @ W[L + "attn.c_proj.weight"] + W[L + "attn.c_proj.bias"]
        m = layer_norm(x, W[L + "ln_2.weight"], W[L + "ln_2.bias"], eps)
        m = act(m @ W[L + "mlp.c_fc.weight"] + W[L + "mlp.c_fc.bias"])
        x = x + m @ W[L + "mlp.c_proj.weight"] + W[L + "mlp.c_proj.bias"]
    x = layer_norm(x, W[p + "ln_f.weight"], W[p + "ln_f.bias"], eps)
    return x @ W[p + "wte.weight"].T  # tied


def neox_forward(W, cfg, ids):
    D, H = cfg["hidden_size"], cfg["num_attention_heads"]
    Dh = D // H
    rot = int(Dh * cfg["rotary_pct"])
    freqs = inv_freq(rot, cfg["rotary_emb_base"], cfg.get("rope_scaling"))
    eps, act = cfg["layer_norm_eps"], act_fn(cfg["hidden_act"])
    T = len(ids)
    x = W["gpt_neox.embed_in.weight"][ids]
    for i in range(cfg["num_hidden_layers"]):
        L = "gpt_neox.layers.%d." % i
        a = layer_norm(x, W[L + "input_layernorm.weight"], W[L + "input_layernorm.bias"], eps)
        qkv = a @ W[L + "attention.query_key_value.weight"].T + W[L + "attention.query_key_value.bias"]
        qkv = qkv.view(T, H, 3 * Dh).transpose(0, 1)  # per head [q; k; v]
        q, k, v = qkv[..., :Dh], qkv[..., Dh:2 * Dh], qkv[..., 2 * Dh:]
        z = attend(rope(q, rot, freqs), rope(k, rot, freqs), v)
        attn = z @ W[L + "attention.dense.weight"].T + W[L + "attention.dense.bias"]

        def mlp(h):
            h = act(h @ W[L + "mlp.dense_h_to_4h.weight"].T + W[L + "mlp.dense_h_to_4h.bias"])
            return h @ W[L + "mlp.dense_4h_to_h.weight"].T + W[L + "mlp.dense_4h_to_h.bias"]

        ln2 = lambda h: layer_norm(h, W[L + "post_attention_layernorm.weight"],  # noqa: E731
                                   W[L + "post_attention_layernorm.bias"], eps)
        if cfg["use_parallel_residual"]:
            x = x + attn + mlp(ln2(x))
        else:
            x = x + attn
            x = x + mlp(ln2(x))
    x = layer_norm(x, W["gpt_neox.final_layer_norm.weight"], W["gpt_neox.final_layer_norm.bias"], eps)
    return x @ W["embed_out.weight"].T


def llama_forward(W, cfg, ids, arch):
    D, H = cfg["hidden_size"], cfg["num_attention_heads"]
    Hk = cfg.get("num_key_value_heads", H)
    Dh = cfg.get("head_dim") or D // H
    scaling = cfg.get("rope_scaling")
    if scaling and scaling.get("rope_type", scaling.get("type")) == "dynamic":
        freqs = inv_freq_dynamic(Dh, cfg.get("rope_theta", 10000.0), scaling["factor"],
                                 cfg["max_position_embeddings"], len(ids))
    else:
        freqs = inv_freq(Dh, cfg.get("rope_theta", 10000.0), scaling)
    eps = cfg["rms_norm_eps"]
    qkv_bias = arch == "qwen2" or cfg.get("attention_bias", False)
    o_bias = arch == "llama" and cfg.get("attention_bias", False)
    mlp_bias = arch == "llama" and cfg.get("mlp_bias", False)

    def lin(h, name, bias):
        y = h @ W[name + ".weight"].T
        return y + W[name + ".bias"] if bias else y

    x = W["model.embed_tokens.weight"][ids]
    for i in range(cfg["num_hidden_layers"]):
        L = "model.layers.%d." % i
        a = rms_norm(x, W[L + "input_layernorm.weight"], eps)
        q = heads(lin(a, L + "self_attn.q_proj", qkv_bias), H)
        k = heads(lin(a, L + "self_attn.k_proj", qkv_bias), Hk)
        v = heads(lin(a, L + "self_attn.v_proj", qkv_bias), Hk)
        window = None  # Mistral: every layer; Qwen2: layers from max_window_layers on
        if arch == "mistral":
            window = cfg.get("sliding_window", 4096)
        elif arch == "qwen2" and cfg.get("use_sliding_window") and i >= cfg.get("max_window_layers", 28):
            window = cfg.get("sliding_window", 4096)
        z = attend(rope(q, Dh, freqs), rope(k, Dh, freqs), v, window)
        x = x + lin(z, L + "self_attn.o_proj", o_bias)
        if cfg["intermediate_size"] == 0:  # headwise's attention-only Llama
            continue
        m = rms_norm(x, W[L + "post_attention_layernorm.weight"], eps)
        g = torch.nn.functional.silu(lin(m, L + "mlp.gate_proj", mlp_bias))
        x = x + lin(g * lin(m, L + "mlp.up_proj", mlp_bias), L + "mlp.down_proj", mlp_bias)
    x = rms_norm(x, W["model.norm.weight"], eps)
    head = W["model.embed_tokens.weight"] if cfg.get("tie_word_embeddings") else W["lm_head.weight"]
    return x @ head.T


# ---------------------------------------------------------------- checkpoints

def gpt2_weights(cfg, init, prefix, store_lm_head):
    D, V, F = cfg["n_embd"], cfg["vocab_size"], cfg.get("n_inner") or 4 * cfg["n_embd"]
    P = cfg["n_positions"]
    W = {prefix + "wte.weight": init.embed(V, D), prefix + "wpe.weight": init.embed(P, D) * 0.5}
    for i in range(cfg["n_layer"]):
        L = "%sh.%d." % (prefix, i)
        # Conv1D stores (in, out); c_attn's outputs are [q | k | v].
        qkv = torch.cat([init.weight(D, D, qk=True), init.weight(D, D, qk=True), init.weight(D, D)])
        W.update({
            L + "ln_1.weight": init.norm_w(D), L + "ln_1.bias": init.bias(D),
            L + "attn.c_attn.weight": qkv.T.contiguous(), L + "attn.c_attn.bias": init.bias(3 * D),
            L + "attn.c_proj.weight": init.weight(D, D).T.contiguous(), L + "attn.c_proj.bias": init.bias(D),
            L + "ln_2.weight": init.norm_w(D), L + "ln_2.bias": init.bias(D),
            L + "mlp.c_fc.weight": init.weight(F, D).T.contiguous(), L + "mlp.c_fc.bias": init.bias(F),
            L + "mlp.c_proj.weight": init.weight(D, F).T.contiguous(), L + "mlp.c_proj.bias": init.bias(D),
        })
    W[prefix + "ln_f.weight"] = init.norm_w(D)
    W[prefix + "ln_f.bias"] = init.bias(D)
    if store_lm_head:  # some tied checkpoints store the shared matrix twice
        W["lm_head.weight"] = W[prefix + "wte.weight"].clone()
    return W


def gpt2_buffers(cfg, prefix):
    """The causal-mask buffers GPT-2's published file carries; never weights."""
    P = cfg["n_positions"]
    out = {}
    for i in range(cfg["n_layer"]):
        out["%sh.%d.attn.bias" % (prefix, i)] = torch.ones(P, P).tril().view(1, 1, P, P)
        out["%sh.%d.attn.masked_bias" % (prefix, i)] = torch.tensor(-1e4)
    return out


def neox_weights(cfg, init):
    D, V, F, H = cfg["hidden_size"], cfg["vocab_size"], cfg["intermediate_size"], cfg["num_attention_heads"]
    Dh = D // H
    W = {"gpt_neox.embed_in.weight": init.embed(V, D)}
    for i in range(cfg["num_hidden_layers"]):
        L = "gpt_neox.layers.%d." % i
        q, k, v = init.weight(D, D, qk=True), init.weight(D, D, qk=True), init.weight(D, D)
        # query_key_value rows are (head, [q, k, v], Dh).
        fused = torch.stack([q.view(H, Dh, D), k.view(H, Dh, D), v.view(H, Dh, D)], dim=1).reshape(3 * D, D)
        W.update({
            L + "input_layernorm.weight": init.norm_w(D), L + "input_layernorm.bias": init.bias(D),
            L + "post_attention_layernorm.weight": init.norm_w(D),
            L + "post_attention_layernorm.bias": init.bias(D),
            L + "attention.query_key_value.weight": fused,
            L + "attention.query_key_value.bias": init.bias(3 * D),
            L + "attention.dense.weight": init.weight(D, D), L + "attention.dense.bias": init.bias(D),
            L + "mlp.dense_h_to_4h.weight": init.weight(F, D), L + "mlp.dense_h_to_4h.bias": init.bias(F),
            L + "mlp.dense_4h_to_h.weight": init.weight(D, F), L + "mlp.dense_4h_to_h.bias": init.bias(D),
        })
    W["gpt_neox.final_layer_norm.weight"] = init.norm_w(D)
    W["gpt_neox.final_layer_norm.bias"] = init.bias(D)
    W["embed_out.weight"] = init.weight(V, D)
    return W


def neox_buffers(cfg):
    """Buffers older Pythia files carry (mask, masked_bias, rotary inv_freq)."""
    P, out = cfg["max_position_embeddings"], {}
    for i in range(cfg["num_hidden_layers"]):
        L = "gpt_neox.layers.%d.attention." % i
        out[L + "bias"] = torch.ones(P, P, dtype=torch.bool).tril().view(1, 1, P, P)
        out[L + "masked_bias"] = torch.tensor(-1e9)
        out[L + "rotary_emb.inv_freq"] = torch.ones(4)
    return out


def llama_weights(cfg, init, arch):
    D, V, F, H = cfg["hidden_size"], cfg["vocab_size"], cfg["intermediate_size"], cfg["num_attention_heads"]
    Hk = cfg.get("num_key_value_heads", H)
    Dh = cfg.get("head_dim") or D // H
    qkv_bias = arch == "qwen2" or cfg.get("attention_bias", False)
    o_bias = arch == "llama" and cfg.get("attention_bias", False)
    mlp_bias = arch == "llama" and cfg.get("mlp_bias", False)
    W = {"model.embed_tokens.weight": init.embed(V, D)}
    for i in range(cfg["num_hidden_layers"]):
        L = "model.layers.%d." % i
        W[L + "input_layernorm.weight"] = init.norm_w(D)
        mats = [("self_attn.q_proj", H * Dh, D, True), ("self_attn.k_proj", Hk * Dh, D, True),
                ("self_attn.v_proj", Hk * Dh, D, False), ("self_attn.o_proj", D, H * Dh, False)]
        if F > 0:  # F == 0: headwise's attention-only Llama (no MLP, no second norm)
            W[L + "post_attention_layernorm.weight"] = init.norm_w(D)
            mats += [("mlp.gate_proj", F, D, False), ("mlp.up_proj", F, D, False),
                     ("mlp.down_proj", D, F, False)]
        for name, rows, cols, qk in mats:
            W[L + name + ".weight"] = init.weight(rows, cols, qk)
            has_bias = {"self_attn.q_proj": qkv_bias, "self_attn.k_proj": qkv_bias,
                        "self_attn.v_proj": qkv_bias, "self_attn.o_proj": o_bias}.get(name, mlp_bias)
            if has_bias:
                W[L + name + ".bias"] = init.bias(rows)
    W["model.norm.weight"] = init.norm_w(D)
    if not cfg.get("tie_word_embeddings"):
        W["lm_head.weight"] = init.weight(V, D)
    return W


# ---------------------------------------------------------------- cases

def llama_cfg(arch, **kw):
    cfg = {"architectures": [{"llama": "LlamaForCausalLM", "mistral": "MistralForCausalLM",
                              "qwen2": "Qwen2ForCausalLM"}[arch]],
           "model_type": arch, "hidden_act": "silu", "rms_norm_eps": 1e-5, "vocab_size": 97,
           "hidden_size": 64, "intermediate_size": 160, "num_hidden_layers": 2,
           "num_attention_heads": 4, "num_key_value_heads": 4, "max_position_embeddings": 64,
           "rope_theta": 10000.0, "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": 2,
           "torch_dtype": "float32"}
    cfg.update(kw)
    return cfg


def cases():
    gpt2 = {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "activation_function": "gelu_new",
            "n_embd": 64, "n_head": 4, "n_layer": 2, "n_positions": 32, "n_ctx": 32, "n_inner": None,
            "layer_norm_epsilon": 1e-5, "vocab_size": 101, "bos_token_id": 100, "eos_token_id": 100}
    neox = {"architectures": ["GPTNeoXForCausalLM"], "model_type": "gpt_neox", "hidden_act": "gelu",
            "hidden_size": 96, "num_attention_heads": 4, "num_hidden_layers": 2, "intermediate_size": 256,
            "vocab_size": 103, "max_position_embeddings": 32, "rotary_pct": 0.25, "rotary_emb_base": 10000,
            "layer_norm_eps": 1e-5, "use_parallel_residual": True, "tie_word_embeddings": False,
            "bos_token_id": 0, "eos_token_id": 0}
    # name, family, config, sharp init, storage dtype, extra
    return [
        ("gpt2_f32", "gpt2", gpt2, True, torch.float32, {"prefix": "", "buffers": True}),
        ("gpt2_prefixed_bf16", "gpt2", dict(gpt2, activation_function="gelu_pytorch_tanh"), False,
         torch.bfloat16, {"prefix": "transformer.", "lm_head": True}),
        ("neox_parallel_f32", "gpt_neox", neox, True, torch.float32, {"buffers": True}),
        ("neox_sequential_f32", "gpt_neox", dict(neox, use_parallel_residual=False, rotary_pct=0.5,
                                                 hidden_act="gelu_new", rotary_emb_base=500.0), True,
         torch.float32, {}),
        ("neox_f16", "gpt_neox", neox, False, torch.float16, {}),
        # GQA 3:1, head_dim 24 (H * Dh = 144 != D = 128), theta != 10000, three shards.
        ("llama_gqa_sharded_f32", "llama",
         llama_cfg("llama", hidden_size=128, num_attention_heads=6, num_key_value_heads=2, head_dim=24,
                   intermediate_size=200, rope_theta=50000.0), True, torch.float32, {"shards": 3}),
        ("llama3_scaling_bias_f32", "llama",
         llama_cfg("llama", num_attention_heads=4, num_key_value_heads=2, head_dim=24, hidden_size=96,
                   attention_bias=True, mlp_bias=True, rope_theta=10000.0,
                   rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                 "high_freq_factor": 4.0, "original_max_position_embeddings": 64}),
         True, torch.float32, {}),
        ("llama_linear_tied_f32", "llama",
         llama_cfg("llama", tie_word_embeddings=True, rope_scaling={"type": "linear", "factor": 2.0}),
         True, torch.float32, {}),
        # Dynamic NTK: 13 tokens past max_position_embeddings 8 raise theta. The
        # reference is one forward over all 13, so only prefill is comparable:
        # with a cache, keys keep the rotation of the step that made them (as in HF).
        ("llama_dynamic_f32", "llama",
         llama_cfg("llama", max_position_embeddings=8, rope_scaling={"type": "dynamic", "factor": 2.0}),
         True, torch.float32, {"prefill_only": True}),
        ("llama_gqa_f16", "llama",
         llama_cfg("llama", num_attention_heads=6, num_key_value_heads=2, head_dim=24, hidden_size=128,
                   torch_dtype="float16"), False, torch.float16, {}),
        ("mistral_f32", "mistral",
         llama_cfg("mistral", num_attention_heads=8, num_key_value_heads=2, rope_theta=1000000.0,
                   sliding_window=4096), True, torch.float32, {}),
        # Windows shorter than the 13 test tokens, so the mask matters.
        ("mistral_window_f32", "mistral",
         llama_cfg("mistral", num_key_value_heads=2, sliding_window=4), True, torch.float32, {}),
        ("qwen2_window_f32", "qwen2",
         llama_cfg("qwen2", num_key_value_heads=2, use_sliding_window=True, sliding_window=5,
                   max_window_layers=1), True, torch.float32, {}),
        ("qwen2_tied_f32", "qwen2",
         llama_cfg("qwen2", num_key_value_heads=2, tie_word_embeddings=True, rope_theta=1000000.0,
                   rms_norm_eps=1e-6, use_sliding_window=False), True, torch.float32, {}),
        ("llama_attn_only_f32", "llama", llama_cfg("llama", intermediate_size=0, num_key_value_heads=2),
         True, torch.float32, {}),
        ("qwen2_bf16", "qwen2", llama_cfg("qwen2", num_key_value_heads=2, torch_dtype="bfloat16"), False,
         torch.bfloat16, {}),
    ]


def make_case(out, seed, name, family, cfg, sharp, dtype, extra):
    folder = os.path.join(out, name)
    os.makedirs(folder, exist_ok=True)
    init = Init(seed, sharp)
    if family == "gpt2":
        W = gpt2_weights(cfg, init, extra.get("prefix", ""), extra.get("lm_head", False))
    elif family == "gpt_neox":
        W = neox_weights(cfg, init)
    else:
        W = llama_weights(cfg, init, family)
    # Round to the storage dtype first: the reference uses exactly what is stored.
    stored = {k: v.to(dtype) for k, v in W.items()}
    W = {k: v.to(torch.float64) for k, v in stored.items()}
    if extra.get("buffers"):
        stored.update(gpt2_buffers(cfg, extra.get("prefix", "")) if family == "gpt2" else neox_buffers(cfg))

    V = cfg["vocab_size"]
    T = 13
    ids = torch.randint(0, V, (T,), generator=init.g)
    with torch.no_grad():
        if family == "gpt2":
            logits = gpt2_forward(W, cfg, ids, extra.get("prefix", ""))
        elif family == "gpt_neox":
            logits = neox_forward(W, cfg, ids)
        else:
            logits = llama_forward(W, cfg, ids, family)

    tensors = [(k, ST_DTYPE[v.dtype], tuple(v.shape), raw_bytes(v)) for k, v in sorted(stored.items())]
    if extra.get("shards"):
        write_sharded(folder, tensors, extra["shards"])
    else:
        write_safetensors(os.path.join(folder, "model.safetensors"), tensors, {"format": "pt"})
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    if extra.get("prefill_only"):
        open(os.path.join(folder, "prefill_only"), "w").close()
    ids.to(torch.int32).numpy().tofile(os.path.join(folder, "tokens.i32"))
    logits.to(torch.float32).numpy().tofile(os.path.join(folder, "logits.f32"))
    return folder


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: hf_fixtures.py OUT_DIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for seed, case in enumerate(cases()):
        print(make_case(out, 1000 + seed, *case))


if __name__ == "__main__":
    main()

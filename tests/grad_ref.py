#!/usr/bin/python3
"""grad_ref.py CASE...: PyTorch autograd reference for tests/test_grad.c.

Each CASE folder (written by `test_grad --write`) holds config.txt, layout.txt (name,
offset, rows, cols of every parameter in headwise's arena), params.f32, tokens.i32 and
targets.i32 (B x T; target -1: no loss), gates.f32 (L x H, multiplying each head's z
before W_O). This script runs the forward of that family in float64 with torch ops
(norms, rotary and activations from tests/hf_fixtures.py, written from the Hugging Face
modeling files), takes the mean cross-entropy over the targets, and writes
  ref_loss.f32, ref_params.f32 (gradients in the arena layout), ref_gates.f32 and
  act_<hook>_<layer>.f32 (gradients at hook points, (B, T, ...) or (B, H, T, T)).
"""
import math
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_fixtures import gelu_exact, gelu_new, inv_freq, layer_norm, rms_norm  # noqa: E402

SCALING = {0: None, 1: "linear", 2: "dynamic", 3: "llama3"}
ACT = {0: "silu", 1: "gelu_tanh", 2: "gelu_exact"}


def read_config(folder):
    cfg = {}
    for line in open(os.path.join(folder, "config.txt")):
        k, v = line.split()
        try:
            cfg[k] = int(v)
        except ValueError:
            try:
                cfg[k] = float(v)
            except ValueError:
                cfg[k] = v
    return cfg


def read_params(folder):
    flat = torch.from_numpy(np.fromfile(os.path.join(folder, "params.f32"), dtype=np.float32))
    P, layout = {}, []
    for line in open(os.path.join(folder, "layout.txt")):
        name, off, rows, cols = line.split()
        off, rows, cols = int(off), int(rows), int(cols)
        n = rows * (cols or 1)
        t = flat[off:off + n].to(torch.float64).reshape((rows, cols) if cols else (rows,))
        P[name] = t.clone().requires_grad_(True)
        layout.append((name, off, n))
    return P, layout, flat.numel()


def frequencies(cfg, rot, T):
    kind = SCALING[cfg["rope_scaling"]]
    theta = cfg["rope_theta"]
    if kind == "dynamic":
        if T > cfg["rope_orig_ctx"]:
            f = cfg["rope_factor"]
            theta = theta * ((f * T / cfg["rope_orig_ctx"]) - (f - 1)) ** (rot / (rot - 2))
        return inv_freq(rot, theta, None)
    scaling = None
    if kind == "linear":
        scaling = {"type": "linear", "factor": cfg["rope_factor"]}
    elif kind == "llama3":
        scaling = {"rope_type": "llama3", "factor": cfg["rope_factor"],
                   "low_freq_factor": cfg["rope_low"], "high_freq_factor": cfg["rope_high"],
                   "original_max_position_embeddings": cfg["rope_orig_ctx"]}
    return inv_freq(rot, theta, scaling)


def rotary(x, rot, freqs, interleaved):
    """x (B, T, n, Dh): rotate the first rot dims; pairs (i, i + rot/2) as Hugging Face's
    rotate_half, or (2i, 2i+1) as llama2.c and Meta's checkpoints."""
    T = x.shape[1]
    ang = torch.arange(T, dtype=torch.float64)[:, None] * freqs[None, :]   # (T, rot/2)
    cos, sin = ang.cos()[None, :, None, :], ang.sin()[None, :, None, :]
    xr, xp = x[..., :rot], x[..., rot:]
    if interleaved:
        a, b = xr[..., 0::2], xr[..., 1::2]
        out = torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1).flatten(-2)
    else:
        a, b = xr[..., : rot // 2], xr[..., rot // 2:]
        out = torch.cat((a * cos - b * sin, a * sin + b * cos), dim=-1)
    return torch.cat((out, xp), dim=-1)


def run(folder):
    cfg = read_config(folder)
    P, layout, total = read_params(folder)
    B, T = cfg["B"], cfg["T"]
    L, D, H, Hk, Dh, F, V = (cfg[k] for k in ("n_layer", "d_model", "n_head", "n_kv_head",
                                               "head_dim", "d_ff", "vocab_size"))
    tokens = torch.from_numpy(np.fromfile(os.path.join(folder, "tokens.i32"), dtype=np.int32)).long().view(B, T)
    targets = torch.from_numpy(np.fromfile(os.path.join(folder, "targets.i32"), dtype=np.int32)).long().view(B, T)
    gates = torch.from_numpy(np.fromfile(os.path.join(folder, "gates.f32"), dtype=np.float32)).to(
        torch.float64).view(L, H).requires_grad_(True)
    eps = cfg["norm_eps"]
    rotary_model = cfg["pos"] == "rotary"
    rot = int(Dh * cfg["rotary_frac"]) // 2 * 2 if rotary_model else 0
    freqs = frequencies(cfg, rot, T) if rotary_model else None
    acts = {}

    def keep(name, layer, t):
        t.retain_grad()
        acts[(name, layer)] = t
        return t

    def norm(x, name):
        if cfg["norm"] == "rms":
            return rms_norm(x, P[name], eps)
        return layer_norm(x, P[name], P.get(name + "_b"), eps)

    def lin(x, name, bias):
        y = x @ P[name].T
        return y + P[bias] if bias in P else y

    def act(u):
        return {"gelu_tanh": gelu_new, "gelu_exact": gelu_exact}[ACT[cfg["act"]]](u)

    emb = P["tok_embed"][tokens]
    keep("hook_embed", -1, emb)
    x = emb
    if "pos_embed" in P:
        pos = P["pos_embed"][:T].unsqueeze(0).expand(B, T, D)
        keep("hook_pos_embed", -1, pos)
        x = x + pos
    for l in range(L):
        p = "layers.%d." % l
        x = keep("hook_resid_pre", l, x + 0)
        a = norm(x, p + "attn_norm")
        q = keep("hook_q", l, lin(a, p + "wq", p + "bq").view(B, T, H, Dh))
        k = keep("hook_k", l, lin(a, p + "wk", p + "bk").view(B, T, Hk, Dh))
        v = keep("hook_v", l, lin(a, p + "wv", p + "bv").view(B, T, Hk, Dh))
        if rotary_model:
            q = keep("hook_rot_q", l, rotary(q, rot, freqs, cfg["rope_layout"] == "interleaved"))
            k = keep("hook_rot_k", l, rotary(k, rot, freqs, cfg["rope_layout"] == "interleaved"))
        rep = H // Hk
        qh = q.transpose(1, 2)                                   # (B, H, T, Dh)
        kh = k.transpose(1, 2).repeat_interleave(rep, dim=1)
        vh = v.transpose(1, 2).repeat_interleave(rep, dim=1)
        scores = keep("hook_attn_scores", l, qh @ kh.transpose(-1, -2) / math.sqrt(Dh))
        hidden = torch.ones(T, T, dtype=torch.bool).triu(1)
        w = cfg["sliding_window"]
        if w > 0 and l >= cfg["sliding_window_from"]:
            hidden |= torch.ones(T, T, dtype=torch.bool).tril(-w)
        pattern = keep("hook_pattern", l, torch.softmax(scores.masked_fill(hidden, float("-inf")), dim=-1))
        z = keep("hook_z", l, (pattern @ vh).transpose(1, 2))    # (B, T, H, Dh)
        zg = z * gates[l][None, None, :, None]
        attn_out = keep("hook_attn_out", l, lin(zg.reshape(B, T, H * Dh), p + "wo", p + "bo"))

        def mlp(h):
            if ACT[cfg["act"]] == "silu":
                u = torch.nn.functional.silu(lin(h, p + "w_gate", p + "b_gate")) * lin(h, p + "w_up", p + "b_up")
            else:
                u = act(lin(h, p + "w_up", p + "b_up"))
            keep("hook_mlp_post", l, u)
            return keep("hook_mlp_out", l, lin(u, p + "w_down", p + "b_down"))

        if F > 0 and cfg["parallel_residual"]:
            x = x + attn_out + mlp(norm(x, p + "mlp_norm"))
        elif F > 0:
            x = keep("hook_resid_mid", l, x + attn_out)
            x = x + mlp(norm(x, p + "mlp_norm"))
        else:
            x = x + attn_out
        x = keep("hook_resid_post", l, x + 0)
    xf = keep("hook_ln_final", -1, norm(x, "final_norm"))
    cls = P["classifier"] if "classifier" in P else P["tok_embed"]
    logits = keep("hook_logits", -1, xf @ cls.T)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), ignore_index=-1)
    loss.backward()

    out = np.zeros(total, dtype=np.float32)
    for name, off, n in layout:
        out[off:off + n] = P[name].grad.reshape(-1).numpy()
    out.tofile(os.path.join(folder, "ref_params.f32"))
    np.array([loss.item()], dtype=np.float32).tofile(os.path.join(folder, "ref_loss.f32"))
    gates.grad.numpy().astype(np.float32).tofile(os.path.join(folder, "ref_gates.f32"))
    for (name, layer), t in acts.items():
        t.grad.numpy().astype(np.float32).tofile(os.path.join(folder, "act_%s_%d.f32" % (name, layer)))


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: grad_ref.py CASE_DIR...")
    torch.manual_seed(0)
    for folder in sys.argv[1:]:
        run(folder)


if __name__ == "__main__":
    main()

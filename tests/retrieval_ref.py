"""retrieval_ref.py MODEL.bin CONTEXTS.jsonl TRIALS: an independent PyTorch reference for
`headwise score retrieval` (methods.md section 1.1, the Retrieval Head paper's code).

Reads a llama2.c checkpoint with numpy, runs its forward in PyTorch (float64), and for
every trial saved by --save-contexts decodes greedily as the paper does (the prompt's
last token is the first decode input; stop after the newline byte token, EOS or BOS,
at most 50 steps), taking each head's top-1 attended position at every step (the first on
ties, as torch.topk(1) on distinct values) and adding 1/|span| when it lies in the
needle span and holds the generated token. Prints one line per trial, "ok" or the
first difference from the C trial log (generated tokens, then per-head scores), and a
summary line. Run with /usr/bin/python3 (Debian's torch)."""
import json
import struct
import sys

import numpy as np
import torch

BOS, EOS, NEWLINE, MAX_NEW = 1, 2, 13, 50  # tok512: byte tokens start at 3: '\n' is 3 + 10


def load(path):
    raw = open(path, "rb").read()
    dim, hidden, L, H, Hk, V, C = struct.unpack("7i", raw[:28])
    shared = V > 0
    V = abs(V)
    a = np.frombuffer(raw, dtype=np.float32, offset=28)
    Dh, kv = dim // H, dim // H * Hk
    o = 0

    def take(*shape):
        nonlocal o
        n = int(np.prod(shape))
        t = torch.from_numpy(a[o:o + n].astype(np.float64).reshape(shape))
        o += n
        return t

    W = dict(emb=take(V, dim), rms_att=take(L, dim), wq=take(L, dim, dim), wk=take(L, kv, dim),
             wv=take(L, kv, dim), wo=take(L, dim, dim), rms_ffn=take(L, dim),
             w1=take(L, hidden, dim), w2=take(L, dim, hidden), w3=take(L, hidden, dim),
             rms_final=take(dim))
    o += C * Dh  # freq_cis_real and freq_cis_imag (C * Dh / 2 each)
    W["cls"] = W["emb"] if shared else take(V, dim)
    return W, dict(D=dim, L=L, H=H, Hk=Hk, Dh=Dh, V=V)


def rms(x, w):
    return x / torch.sqrt((x * x).mean(-1, keepdim=True) + 1e-5) * w


def rope(x, Dh):
    """llama2.c rotates pairs (2i, 2i+1) of each head by pos / 10000^(2i/Dh)."""
    T = x.shape[0]
    i = torch.arange(0, Dh, 2, dtype=torch.float64)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * (1.0 / 10000 ** (i / Dh))[None, :]
    c, s = torch.cos(ang)[:, None, :], torch.sin(ang)[:, None, :]
    x0, x1 = x[..., 0::2], x[..., 1::2]
    out = torch.empty_like(x)
    out[..., 0::2] = x0 * c - x1 * s
    out[..., 1::2] = x0 * s + x1 * c
    return out


def forward(W, cfg, ids):
    """Logits (T, V) and the last query row of every head's pattern (L, H, T)."""
    D, L, H, Hk, Dh = cfg["D"], cfg["L"], cfg["H"], cfg["Hk"], cfg["Dh"]
    T = len(ids)
    x = W["emb"][ids]
    mask = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)
    rows = []
    for l in range(L):
        h = rms(x, W["rms_att"][l])
        q = rope((h @ W["wq"][l].T).view(T, H, Dh), Dh)
        k = rope((h @ W["wk"][l].T).view(T, Hk, Dh), Dh)
        v = (h @ W["wv"][l].T).view(T, Hk, Dh)
        k = k.repeat_interleave(H // Hk, dim=1)
        v = v.repeat_interleave(H // Hk, dim=1)
        att = torch.softmax(torch.einsum("thd,shd->hts", q, k) / Dh ** 0.5 + mask, dim=-1)
        rows.append(att[:, -1, :])
        x = x + torch.einsum("hts,shd->thd", att, v).reshape(T, D) @ W["wo"][l].T
        h = rms(x, W["rms_ffn"][l])
        x = x + (torch.nn.functional.silu(h @ W["w1"][l].T) * (h @ W["w3"][l].T)) @ W["w2"][l].T
    return rms(x, W["rms_final"]) @ W["cls"].T, torch.stack(rows)


def trial(W, cfg, prompt, start, end):
    seq, gen = list(prompt), []
    score = torch.zeros(cfg["L"], cfg["H"], dtype=torch.float64)
    for _ in range(MAX_NEW):
        logits, last = forward(W, cfg, seq)
        tok = int(torch.argmax(logits[-1]))
        gen.append(tok)
        top = torch.argmax(last, dim=-1)  # (L, H): first maximum
        for l in range(cfg["L"]):
            for h in range(cfg["H"]):
                j = int(top[l, h])
                if start <= j < end and j < len(prompt) and prompt[j] == tok:
                    score[l, h] += 1.0 / (end - start)
        if tok in (NEWLINE, EOS, BOS):
            break
        seq.append(tok)
    return gen, score.flatten().tolist()


def main():
    W, cfg = load(sys.argv[1])
    ctxs = [json.loads(l) for l in open(sys.argv[2])]
    log = [l.rstrip("\n").split("\t") for l in open(sys.argv[3]) if not l.startswith("#")]
    bad = 0
    for c, f in zip(ctxs, log):
        gen, score = trial(W, cfg, c["prompt"], *c["span"])
        ours = [float(v) for v in f[5].split(",")] if f[4] == "1" else None
        name = "needle %d length %d depth %d" % (c["needle"], c["length"], c["depth"])
        if gen != c["generated"]:
            k = next((i for i, (a, b) in enumerate(zip(c["generated"], gen)) if a != b), min(len(gen), len(c["generated"])))
            print("trial %s: generated tokens differ from step %d: %s vs reference %s" % (name, k, c["generated"][k:k + 4], gen[k:k + 4]))
            bad += 1
        elif ours is None or any(abs(a - b) > 1e-9 for a, b in zip(ours, score)) or len(ours) != len(score):
            print("trial %s: head scores differ" % name)
            bad += 1
        else:
            print("trial %s: ok (%d steps)" % (name, len(gen)))
    n = len(ctxs)
    print("%s retrieval_scores_match_pytorch_reference (%d trials, %d differ)"
          % ("PASS" if n >= 6 and n == len(log) and bad == 0 else "FAIL", n, bad))


main()

#!/usr/bin/python3
"""train_torch.py: the training bench_train.c times, in PyTorch (same model shape,
AdamW, warm-up + cosine schedule, clipping; random tokens, target = previous token).

    train_torch.py STEPS B T L D H V THREADS
Prints one line like bench_train's.
"""
import math
import sys
import time

import torch

steps, B, T, L, D, H, V, threads = (int(a) for a in sys.argv[1:9])
torch.set_num_threads(threads)
torch.manual_seed(1)
Dh = D // H


class RMSNorm(torch.nn.Module):
    def __init__(self, n):
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(n))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * self.w


class Model(torch.nn.Module):
    """An attention-only Llama: RMSNorm, rotary (Hugging Face halves), untied head."""

    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(V, D)
        self.n1 = torch.nn.ModuleList(RMSNorm(D) for _ in range(L))
        self.qkv = torch.nn.ModuleList(torch.nn.Linear(D, 3 * D, bias=False) for _ in range(L))
        self.o = torch.nn.ModuleList(torch.nn.Linear(D, D, bias=False) for _ in range(L))
        self.nf = RMSNorm(D)
        self.head = torch.nn.Linear(D, V, bias=False)
        for p in self.parameters():
            if p.dim() == 2:
                torch.nn.init.normal_(p, std=0.02)
        f = 1.0 / (10000 ** (torch.arange(0, Dh, 2).float() / Dh))
        ang = torch.arange(T).float()[:, None] * f[None, :]
        self.cos, self.sin = ang.cos(), ang.sin()
        self.mask = torch.ones(T, T, dtype=torch.bool).triu(1)

    def rope(self, x):
        a, b = x[..., : Dh // 2], x[..., Dh // 2:]
        return torch.cat((a * self.cos - b * self.sin, a * self.sin + b * self.cos), -1)

    def forward(self, idx):
        x = self.emb(idx)
        for l in range(L):
            q, k, v = self.qkv[l](self.n1[l](x)).view(B, T, 3, H, Dh).permute(2, 0, 3, 1, 4)
            s = self.rope(q) @ self.rope(k).transpose(-1, -2) / math.sqrt(Dh)
            z = torch.softmax(s.masked_fill(self.mask, float("-inf")), -1) @ v
            x = x + self.o[l](z.transpose(1, 2).reshape(B, T, D))
        return self.head(self.nf(x))


model = Model()
decay = [p for p in model.parameters() if p.dim() == 2]
other = [p for p in model.parameters() if p.dim() < 2]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": other, "weight_decay": 0.0}],
                        lr=1e-3, betas=(0.9, 0.95), eps=1e-8)
warm = steps // 10


def lr_at(k):
    if k < warm:
        return 1e-3 * (k + 1) / warm
    f = min(1.0, (k - warm) / max(1, steps - warm))
    return 1e-4 + 0.5 * (1e-3 - 1e-4) * (1 + math.cos(math.pi * f))


g = torch.Generator().manual_seed(2)
first = loss = None
t0 = None
for k in range(steps + 1):
    idx = torch.randint(0, V, (B, T), generator=g)
    tgt = torch.cat((torch.full((B, 1), -1), idx[:, :-1]), 1)
    for grp in opt.param_groups:
        grp["lr"] = lr_at(k)
    logits = model(idx)
    loss = torch.nn.functional.cross_entropy(logits.view(-1, V), tgt.view(-1), ignore_index=-1)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    if k == 0:
        first = loss.item()
        t0 = time.perf_counter()
sec = time.perf_counter() - t0
print("pytorch:  %d steps of %d x %d tokens in %.2f s: %.0f tokens/s, %.1f ms/step, loss %.3f -> %.3f"
      % (steps, B, T, sec, steps * B * T / sec, 1e3 * sec / steps, first, loss.item()))

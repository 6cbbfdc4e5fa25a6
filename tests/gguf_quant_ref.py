#!/usr/bin/python3
"""gguf_quant_ref.py blocks OUT.gguf | stories IN.gguf OUT.gguf

blocks: random blocks of every block type headwise dequantizes (Q4_0, Q4_1, Q5_0, Q5_1,
Q8_0, Q4_K, Q5_K, Q6_K) as tensors "q.TYPE", each beside "ref.TYPE": the F32 values a
numpy implementation of ggml's specification (ggml-quants.c's dequantize_row_*) gives
for them, in float32 with each product and sum rounded as the C code rounds it. Scales
are random finite halves (subnormals and zeros included), everything else random bytes.

stories: IN (a llama GGUF of F32 tensors) with every matrix whose rows are whole blocks
quantized to Q8_0 as ggml's quantize_row_q8_0_ref does (d = max|x| / 127 stored as f16,
q = round-half-away(x / d)); the others (rows of 172) stay F32, as llama.cpp keeps them.
"""
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures"))
import gguf_file as g  # noqa: E402

f32 = np.float32
TYPES = {"Q4_0": (2, 32, 18), "Q4_1": (3, 32, 20), "Q5_0": (6, 32, 22), "Q5_1": (7, 32, 24),
         "Q8_0": (8, 32, 34), "Q4_K": (12, 256, 144), "Q5_K": (13, 256, 176), "Q6_K": (14, 256, 210)}


def half(b, off):
    return b[:, off:off + 2].copy().view("<f2").astype(f32)[:, 0]


def q4_0(b):
    d = half(b, 0)[:, None]
    qs = b[:, 2:18].astype(np.int32)
    return np.concatenate([d * ((qs & 15) - 8).astype(f32), d * ((qs >> 4) - 8).astype(f32)], 1)


def q4_1(b):
    d, m = half(b, 0)[:, None], half(b, 2)[:, None]
    qs = b[:, 4:20].astype(np.int32)
    return np.concatenate([d * (qs & 15).astype(f32) + m, d * (qs >> 4).astype(f32) + m], 1)


def qh_bits(b, off):
    qh = b[:, off:off + 4].copy().view("<u4").astype(np.int64)  # (n, 1)
    j = np.arange(16)
    return ((qh >> j) << 4) & 0x10, (qh >> (j + 12)) & 0x10


def q5_0(b):
    d = half(b, 0)[:, None]
    h0, h1 = qh_bits(b, 2)
    qs = b[:, 6:22].astype(np.int64)
    return np.concatenate([d * (((qs & 15) | h0) - 16).astype(f32), d * (((qs >> 4) | h1) - 16).astype(f32)], 1)


def q5_1(b):
    d, m = half(b, 0)[:, None], half(b, 2)[:, None]
    h0, h1 = qh_bits(b, 4)
    qs = b[:, 8:24].astype(np.int64)
    return np.concatenate([d * ((qs & 15) | h0).astype(f32) + m, d * ((qs >> 4) | h1).astype(f32) + m], 1)


def q8_0(b):
    return half(b, 0)[:, None] * b[:, 2:34].view(np.int8).astype(f32)


def scale_min_k4(j, q):
    if j < 4:
        return q[:, j] & 63, q[:, j + 4] & 63
    return (q[:, j + 4] & 15) | ((q[:, j - 4] >> 6) << 4), (q[:, j + 4] >> 4) | ((q[:, j] >> 6) << 4)


def k4_k5(b, five):
    d, dmin = half(b, 0), half(b, 2)
    sc = b[:, 4:16].astype(np.int64)
    qh = b[:, 16:48].astype(np.int64)
    q = b[:, 48:176] if five else b[:, 16:144]
    q = q.astype(np.int64)
    out = []
    for c in range(4):
        s1, m1 = scale_min_k4(2 * c, sc)
        s2, m2 = scale_min_k4(2 * c + 1, sc)
        d1, n1 = (d * s1.astype(f32))[:, None], (dmin * m1.astype(f32))[:, None]
        d2, n2 = (d * s2.astype(f32))[:, None], (dmin * m2.astype(f32))[:, None]
        ql = q[:, 32 * c:32 * c + 32]
        lo, hi = ql & 15, ql >> 4
        if five:
            lo = lo + np.where(qh & (1 << (2 * c)), 16, 0)
            hi = hi + np.where(qh & (2 << (2 * c)), 16, 0)
        out += [d1 * lo.astype(f32) - n1, d2 * hi.astype(f32) - n2]
    return np.concatenate(out, 1)


def q6_k(b):
    d = half(b, 208)
    sc = b[:, 192:208].view(np.int8).astype(f32)
    y = np.zeros((b.shape[0], 256), f32)
    for n in range(2):
        ql = b[:, 64 * n:64 * n + 64].astype(np.int64)
        qh = b[:, 128 + 32 * n:128 + 32 * n + 32].astype(np.int64)
        s = sc[:, 8 * n:8 * n + 8]
        for l in range(32):
            i = l // 16
            q1 = ((ql[:, l] & 15) | (((qh[:, l] >> 0) & 3) << 4)) - 32
            q2 = ((ql[:, l + 32] & 15) | (((qh[:, l] >> 2) & 3) << 4)) - 32
            q3 = ((ql[:, l] >> 4) | (((qh[:, l] >> 4) & 3) << 4)) - 32
            q4 = ((ql[:, l + 32] >> 4) | (((qh[:, l] >> 6) & 3) << 4)) - 32
            y[:, 128 * n + l] = (d * s[:, i]) * q1.astype(f32)
            y[:, 128 * n + l + 32] = (d * s[:, i + 2]) * q2.astype(f32)
            y[:, 128 * n + l + 64] = (d * s[:, i + 4]) * q3.astype(f32)
            y[:, 128 * n + l + 96] = (d * s[:, i + 6]) * q4.astype(f32)
    return y


DEQ = {"Q4_0": q4_0, "Q4_1": q4_1, "Q5_0": q5_0, "Q5_1": q5_1, "Q8_0": q8_0,
       "Q4_K": lambda b: k4_k5(b, False), "Q5_K": lambda b: k4_k5(b, True), "Q6_K": q6_k}
# Where each type keeps its f16 scales (byte offsets in a block).
HALVES = {"Q4_0": [0], "Q4_1": [0, 2], "Q5_0": [0], "Q5_1": [0, 2], "Q8_0": [0], "Q4_K": [0, 2],
          "Q5_K": [0, 2], "Q6_K": [208]}


def random_half(rng, n):
    """Finite f16 bit patterns: mostly normal values of either sign, some subnormal, some 0."""
    v = (rng.standard_normal(n) * 0.05).astype(np.float16).view(np.uint16)
    v[::7] = rng.integers(0, 1024, len(v[::7])) | (rng.integers(0, 2, len(v[::7])) << 15)  # subnormal
    v[::13] = 0
    return v.astype("<u2")


def blocks(out):
    rng = np.random.default_rng(18)
    tensors = []
    for name, (tt, blck, size) in TYPES.items():
        n = 64  # blocks: 8 rows of 8 blocks
        b = rng.integers(0, 256, (n, size), dtype=np.uint8)
        for off in HALVES[name]:
            b[:, off:off + 2] = random_half(rng, n).view(np.uint8).reshape(n, 2)
        ref = DEQ[name](b).astype("<f4")
        assert ref.shape == (n, blck) and np.isfinite(ref).all()
        tensors.append((f"q.{name}", [blck * 8, 8], tt, b.tobytes()))
        tensors.append((f"ref.{name}", [blck * 8, 8], g.T_F32, ref.tobytes()))
    with open(out, "wb") as f:
        f.write(g.write([("general.architecture", g.STRING, "test")], tensors))


def quantize_q8_0(x):
    rows = x.reshape(-1, 32).astype(f32)
    amax = np.abs(rows).max(1)
    d = (amax / f32(127)).astype(f32)
    inv = np.where(d != 0, f32(1) / np.where(d != 0, d, f32(1)), f32(0)).astype(f32)
    v = rows * inv[:, None]
    q = (np.sign(v) * np.floor(np.abs(v) + f32(0.5))).astype(np.int8)
    blocks_ = np.zeros((rows.shape[0], 34), np.uint8)
    blocks_[:, 0:2] = d.astype("<f2").view(np.uint8).reshape(-1, 2)
    blocks_[:, 2:] = q.view(np.uint8)
    return blocks_.tobytes()


def stories(src, out):
    meta, t = g.read(src)
    kvs = []
    for k, v in meta.items():
        if isinstance(v, list):
            et = g.STRING if isinstance(v[0], str) else g.F32 if isinstance(v[0], float) else g.I32
            kvs.append((k, g.ARRAY, (et, v)))
        elif isinstance(v, str):
            kvs.append((k, g.STRING, v))
        elif isinstance(v, float):
            kvs.append((k, g.F32, v))
        else:
            kvs.append((k, g.U32, v))
    tensors = []
    for name, a in t.items():
        ne = list(reversed(a.shape))
        if a.ndim == 2 and ne[0] % 32 == 0:
            tensors.append((name, ne, 8, quantize_q8_0(a)))
        else:
            tensors.append((name, ne, g.T_F32, a.astype("<f4").tobytes()))
    with open(out, "wb") as f:
        f.write(g.write(kvs, tensors))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "blocks":
        blocks(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "stories":
        stories(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)

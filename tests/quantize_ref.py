#!/usr/bin/python3
"""quantize_ref.py check SRC.gguf OUT.gguf LABEL | tiny OUT.gguf

check: OUT (written by `headwise quantize` from SRC) read with numpy, independently of
headwise: the same metadata but general.file_type and general.quantization_version,
the same tensors in order with the same dims; each block tensor decoded by
gguf_quant_ref.py's implementation of ggml's specification, every value within its
type's rounding of SRC's f32 value: at most the distance to the nearest value the
block's stored scales can represent, plus a small slack where the encoder rounds with
the unrounded f32 scale (Q8_0, Q4_0, Q5_0: twice the scale's f16 rounding, 2^-11, times
the largest level, in steps) or float division (1e-3 of the step); F16 tensors
equal float16(x); other tensors byte for byte. Prints PASS/FAIL lines per type.

tiny: a small llama GGUF of F32 tensors whose rows are 256 wide (Q4_K and Q6_K apply).
"""
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "fixtures"))
sys.path.insert(0, HERE)
import gguf_file as g  # noqa: E402
import gguf_quant_ref as q  # noqa: E402

f32 = np.float32
NAMES = {v[0]: k for k, v in q.TYPES.items()}


def nearest_gap(tname, b, x):
    """(|x - y|, distance from x to the nearest value b's scales represent, step) per value."""
    n, blck = b.shape[0], q.TYPES[tname][1]
    y = q.DEQ[tname](b)
    if tname in ("Q8_0", "Q4_0", "Q5_0"):
        d = q.half(b, 0)[:, None]
        lo, hi = {"Q8_0": (-128, 127), "Q4_0": (-8, 7), "Q5_0": (-16, 15)}[tname]
        safe = np.where(d != 0, d, f32(1))
        k = np.clip(np.rint(x / safe), lo, hi)
        best = np.where(d != 0, d * k, 0)
        step = np.abs(d) * np.ones_like(x)
    elif tname == "Q4_K":
        d, dmin = q.half(b, 0), q.half(b, 2)
        dd, dm = np.zeros((n, 8), f32), np.zeros((n, 8), f32)
        for j in range(8):
            s, m = q.scale_min_k4(j, b[:, 4:16].astype(np.int64))
            dd[:, j], dm[:, j] = d * s.astype(f32), dmin * m.astype(f32)
        dd, dm = np.repeat(dd, 32, 1), np.repeat(dm, 32, 1)
        safe = np.where(dd != 0, dd, f32(1))
        k = np.clip(np.rint((x + dm) / safe), 0, 15)
        best = np.where(dd != 0, dd * k - dm, -dm)
        step = dd
    else:  # Q6_K
        d = q.half(b, 208)[:, None]
        dd = np.repeat(d * b[:, 192:208].view(np.int8).astype(f32), 16, 1)
        safe = np.where(dd != 0, dd, f32(1))
        k = np.clip(np.rint(x / safe), -32, 31)
        best = np.where(dd != 0, dd * k, 0)
        step = dd
    assert y.shape == x.shape == (n, blck)
    return np.abs(x - y), np.abs(x - best), np.abs(step)


def check(src, out, label):
    smeta, st = g.read(src)
    version, meta, infos, base, raw = g.read(out, table=True)
    ok = version == 3
    for k in ("general.file_type", "general.quantization_version"):
        smeta.pop(k, None)
    ftype, qv = meta.pop("general.file_type", None), meta.pop("general.quantization_version", None)
    ok &= meta == smeta and qv == 2 and ftype in (2, 7, 14, 18)
    print(f"{'PASS' if ok else 'FAIL'} quantize/{label}/metadata: {len(meta)} entries as in the source "
          f"(tokenizer included), file_type {ftype}, quantization_version {qv}")
    ok &= [i[0] for i in infos] == list(st)
    worst, fails = {}, 0
    for name, ne, tt, off in infos:
        x = st[name].reshape(-1).astype(f32)
        good = list(reversed(st[name].shape)) == ne or (len(ne) > st[name].ndim and ne[st[name].ndim:] == [1])
        if tt == g.T_F32:
            good &= np.array_equal(np.frombuffer(raw, f32, x.size, base + off), x)
            worst.setdefault("F32", 0.0)
        elif tt == g.T_F16:
            good &= np.array_equal(np.frombuffer(raw, np.float16, x.size, base + off), x.astype(np.float16))
            worst.setdefault("F16", 0.0)
        else:
            tname = NAMES[tt]
            _, blck, size = q.TYPES[tname]
            nb = x.size // blck
            b = np.frombuffer(raw, np.uint8, nb * size, base + off).reshape(nb, size)
            err, gap, step = nearest_gap(tname, b, x.reshape(nb, blck))
            # The 32-value types round x / d with d before its f16 rounding (relative error
            # <= 2^-11): that moves x / d by up to (largest level) 2^-11, twice over.
            slack = {"Q8_0": 128, "Q4_0": 8, "Q5_0": 16}.get(tname, 0) * 2.0 ** -10 + 1e-3
            excess = (err - gap) / np.where(step > 0, step, 1)
            good &= bool((excess <= slack + 1e-6).all())
            rel = float((err / np.where(step > 0, step, 1)).max())
            worst[tname] = max(worst.get(tname, 0.0), rel)
        if not good:
            print(f"  {name}: type {tt} ne {ne} is not within its type's rounding of the source")
            fails += 1
    ok &= fails == 0
    kinds = ", ".join(f"{k} {v:.3g}" for k, v in sorted(worst.items()) if k not in ("F32", "F16"))
    print(f"{'PASS' if ok else 'FAIL'} quantize/{label}/blocks: {len(infos)} tensors; every value within "
          f"its type's rounding (largest error in steps: {kinds}; F16 = float16(x), F32 unchanged)")
    return ok


def tiny(out):
    """gguf_file.llama_file's model at D = 256, its matrices scaled by 1 / sqrt(row length)
    (as trained models are, so that logits stay moderate) and stored F32."""
    with open(out, "wb") as f:
        f.write(g.llama_file(D=256, F=512, L=2, H=4, Hk=2, V=40, C=64, seed=7))
    meta, t = g.read(out)
    kinds = {str: g.STRING, float: g.F32, int: g.U32}
    kvs = [(k, g.ARRAY, ({str: g.STRING, float: g.F32}.get(type(v[0]), g.I32), v)) if isinstance(v, list)
           else (k, kinds[type(v)], v) for k, v in meta.items()]
    tensors = [(n, list(reversed(a.shape)), g.T_F32,
                (a / np.sqrt(a.shape[-1]) if a.ndim == 2 else a).astype("<f4").tobytes()) for n, a in t.items()]
    with open(out, "wb") as f:
        f.write(g.write(kvs, tensors))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "check":
        sys.exit(0 if check(sys.argv[2], sys.argv[3], sys.argv[4]) else 1)
    elif len(sys.argv) == 3 and sys.argv[1] == "tiny":
        tiny(sys.argv[2])
    else:
        sys.exit(__doc__)

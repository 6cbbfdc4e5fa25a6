"""The head atlas (`headwise atlas`, hw_atlas_run): every head probe that applies, each
head's labels, the labelled heads masked, and the KV-cache policy the labels give.

    a = headwise.atlas(headwise.Model(organism_folder), task="retrieval", out="atlas_dir")
    a["labels"][0][2]        # ['retrieval']
    a["scores"]["retrieval"] # (L, H) numpy array
    a["kv"]["flag"]          # the --kv flag of the derived policy
"""
import ctypes
import os
from ctypes import POINTER, Structure, c_char_p, c_double, c_int, c_uint, c_void_p

from . import _capi
from ._capi import Error, PROGRESS_FN, check, fsencode, lib
from ._protocol import Owned, copy_array, make_params, run_method
from .model import Model
from .protocols import NiahParams, TaskEvalParams, _read_prompts

__all__ = ["atlas", "LABELS", "SCORES"]

P = c_void_p
LABELS = ["retrieval", "induction", "previous-token", "echo", "successor", "memory", "in-context",
          "streaming", "other"]
SCORES = ["retrieval", "echo", "induction", "prev_token", "successor", "attribution", "streaming",
          "duo_gate"]
SKIP = {"retrieval": 1, "echo": 2, "successor": 4, "attribution": 8, "mask": 16, "kv-eval": 32}


class AtlasThresholds(Structure):
    _c_name_ = "hw_atlas_thresholds"
    _fields_ = [(n, c_double) for n in ("retrieval", "induction", "prev_token", "echo", "successor",
                                        "memory", "in_context", "streaming")]


class AtlasParams(Structure):
    _c_name_ = "hw_atlas_params"
    _fields_ = [("task", TaskEvalParams), ("prompts", c_void_p), ("text", c_char_p), ("niah", NiahParams),
                ("gates_path", c_char_p), ("successor_tasks", c_char_p), ("probe_tokens", c_int),
                ("echo_repeats", c_int), ("thresholds", AtlasThresholds), ("mask_max", c_int),
                ("skip", c_uint), ("sink", c_int), ("recent", c_int), ("kv_context", c_int),
                ("label", c_char_p)]


class AtlasMaskEffect(Structure):
    _c_name_ = "hw_atlas_mask_effect"
    _fields_ = [("measured", c_int), ("task", c_char_p), ("metric", c_char_p), ("baseline", c_double),
                ("masked", c_double)]


class AtlasKV(Structure):
    _c_name_ = "hw_atlas_kv"
    _fields_ = [("n_full", c_int), ("full", POINTER(c_int)), ("sink", c_int), ("recent", c_int),
                ("context", c_int), ("bytes_full", ctypes.c_size_t), ("bytes_policy", ctypes.c_size_t),
                ("evaluated", c_int), ("eval_task", c_char_p), ("accuracy_full", c_double),
                ("accuracy_policy", c_double)]


for _name, _res, _args in [
        ("hw_atlas_params_default", AtlasParams, []),
        ("hw_atlas_run", c_int, [P, P, POINTER(AtlasParams), PROGRESS_FN, c_void_p, POINTER(c_void_p)]),
        ("hw_atlas_free", None, [P]),
        ("hw_atlas_shape", None, [P, POINTER(c_int), POINTER(c_int), POINTER(c_int)]),
        ("hw_atlas_score", POINTER(c_double), [P, c_char_p]),
        ("hw_atlas_labels", c_int, [P, c_int, c_int, POINTER(c_int)]),
        ("hw_atlas_mask_effect_get", c_int, [P, c_int, c_int, POINTER(AtlasMaskEffect)]),
        ("hw_atlas_kv_get", None, [P, POINTER(AtlasKV)]),
        ("hw_atlas_kv_flag", c_int, [P, c_char_p, c_char_p, ctypes.c_size_t]),
        ("hw_atlas_write", c_int, [P, c_char_p]),
        ("hw_organism_task_name", c_int, [c_char_p, c_char_p, ctypes.c_size_t])]:
    _capi.declare(_name, _res, _args)


def atlas(model, out=None, *, task=None, samples=None, task_seed=None, text=None, prompts=None,
          gates=None, probe_tokens=None, mask_max=None, skip=(), sink=None, recent=None,
          kv_context=None, thresholds=None, progress=None):
    """`headwise atlas -m MODEL -o OUT`: hw_atlas_run with the command's flags as
    arguments (thresholds: {label name: value}; skip: probe names; task None: the one
    an organism's training.json names, else a text model). out: the folder for
    atlas.json, atlas.html and full_heads.tsv (None: nothing written).

    Returns a dict: "labels" (L lists of H label lists), "scores" {name: (L, H)
    array} for the scores run, "mask_effect" {(layer, head): dict} for the heads
    masked, "kv" (full (L, Hk) array, sink, recent, context, bytes_full,
    bytes_policy, accuracy, flag)."""
    m = model if isinstance(model, Model) else Model(model)
    if task is None:    # an organism's own task, as the CLI takes it from training.json
        buf = ctypes.create_string_buffer(64)
        k = lib().hw_organism_task_name(fsencode(m.path, "model"), buf, len(buf))
        check(0 if k >= 0 else 1)
        task = buf.value.decode() if k > 0 else None
    th = dict(thresholds or {})
    v = {"label": os.fspath(m.path), "task.name": task, "task.samples": samples, "task.seed": task_seed,
         "text": text,
         "gates_path": fsencode(gates, "gates") if gates else None, "probe_tokens": probe_tokens,
         "mask_max": mask_max, "sink": sink, "recent": recent, "kv_context": kv_context}
    bad = [s for s in skip if s not in SKIP]
    if bad:
        raise _capi.ArgumentError("skip: unknown probe %r (%s)" % (bad[0], ", ".join(SKIP)))
    v["skip"] = sum(SKIP[s] for s in set(skip)) or None
    for k, x in th.items():
        field = {"previous-token": "prev_token", "in-context": "in_context"}.get(k, k)
        if field not in dict(AtlasThresholds._fields_):
            raise _capi.ArgumentError("thresholds: unknown label %r" % k)
        v["thresholds." + field] = float(x)
    ps = _read_prompts(prompts, 3) if prompts is not None else None   # kept alive until the run ends
    p = make_params(lib().hw_atlas_params_default, {k: x for k, x in v.items() if x is not None},
                    model=m, fname="atlas")
    if ps is not None:
        p.prompts = ps.handle
    r = Owned(run_method(lib().hw_atlas_run, m._m, m._t, params=p, progress=progress,
                         free=lib().hw_atlas_free), lib().hw_atlas_free)
    return _read(r, out)


def _read(r, out):
    L_ = lib()
    L, H, Hk = c_int(), c_int(), c_int()
    L_.hw_atlas_shape(r.handle, ctypes.byref(L), ctypes.byref(H), ctypes.byref(Hk))
    L, H, Hk = L.value, H.value, Hk.value
    res = {"shape": (L, H, Hk), "labels": [], "scores": {}, "mask_effect": {}}
    for name in SCORES:
        ptr = L_.hw_atlas_score(r.handle, name.encode())
        if ptr:
            res["scores"][name] = copy_array(ptr, (L, H), name)
    two = (c_int * 2)()
    for layer in range(L):
        row = []
        for head in range(H):
            n = L_.hw_atlas_labels(r.handle, layer, head, two)
            row.append([LABELS[two[k]] for k in range(n)] or ["other"])
            e = AtlasMaskEffect()
            check(L_.hw_atlas_mask_effect_get(r.handle, layer, head, ctypes.byref(e)))
            if e.measured:
                res["mask_effect"][(layer, head)] = {"task": e.task.decode(), "metric": e.metric.decode(),
                                                     "baseline": e.baseline, "masked": e.masked}
        res["labels"].append(row)
    kv = AtlasKV()
    L_.hw_atlas_kv_get(r.handle, ctypes.byref(kv))
    mask = os.path.join(out, "full_heads.tsv") if out is not None else "full_heads.tsv"
    buf = ctypes.create_string_buffer(8192)
    L_.hw_atlas_kv_flag(r.handle, fsencode(mask, "out"), buf, len(buf))
    res["kv"] = {"full": copy_array(kv.full, (L, Hk), "full"), "sink": kv.sink, "recent": kv.recent,
                 "context": kv.context, "bytes_full": kv.bytes_full, "bytes_policy": kv.bytes_policy,
                 "accuracy": {"task": kv.eval_task.decode(), "full": kv.accuracy_full,
                              "policy": kv.accuracy_policy} if kv.evaluated else None,
                 "flag": "--kv " + buf.value.decode()}
    if out is not None:
        check(L_.hw_atlas_write(r.handle, fsencode(out, "out")))
    return res

"""The logit lens and a head's QK / OV subspaces (methods.md sections 7 and 9):

    logit_lens         headwise lens               -> LensResult (a dict of arrays)
    head_subspace      headwise subspace           -> SubspaceResult
    subspace_lowrank   headwise subspace lowrank   -> LowRankResult

Keyword arguments are the commands' flags in snake_case, as in headwise.protocols. The
arrays are copies of the library's results; out=... writes the CLI's -o file with the
library's writer (byte for byte the CLI's).
"""
import ctypes
from ctypes import POINTER, Structure, c_char_p, c_double, c_float, c_int, c_uint64, c_void_p

import numpy as np

from . import _args, _capi
from ._capi import ArgumentError, Head, lib
from ._protocol import copy_array, make_params
from .protocols import (TaskEvalParams, _Result, _bool, _choice, _kv, _outputs, _ranges, _read_prompts,
                        _run, _start, _TASK_RANGES, _text)

__all__ = ["logit_lens", "head_subspace", "subspace_lowrank", "LensResult", "SubspaceResult",
           "LowRankResult"]

P = c_void_p
PD = POINTER(c_double)
PF = POINTER(c_float)
PI = POINTER(c_int)


class LensParams(Structure):
    _c_name_ = "hw_lens_params"
    _fields_ = [("prompt", c_char_p), ("ids", PI), ("n_ids", c_int), ("target", c_char_p),
                ("target_id", c_int), ("pos", c_int), ("top", c_int), ("norm", c_int),
                ("components", c_int), ("kv", c_void_p)]


class LensInfo(Structure):
    _c_name_ = "hw_lens_info"
    _fields_ = [("n_tokens", c_int), ("pos", c_int), ("vocab", c_int), ("top", c_int), ("norm", c_int),
                ("target", c_int), ("target_text", c_char_p), ("tokens", PI)]


class SubspaceParams(Structure):
    _c_name_ = "hw_subspace_params"
    _fields_ = [("head", Head), ("kind", c_int), ("directions", c_int), ("top", c_int),
                ("fold_norm", c_int)]


class LowRankParams(Structure):
    _c_name_ = "hw_lowrank_params"
    _fields_ = [("head", Head), ("inputs", c_int * 3), ("n_inputs", c_int), ("ranks", PI), ("n_ranks", c_int), ("center", c_int),
                ("prompts", c_void_p), ("task", TaskEvalParams), ("fit_seed", c_uint64),
                ("fit_samples", c_int), ("kv", c_void_p)]


_capi.STRUCTS.extend([LensParams, LensInfo, SubspaceParams, LowRankParams])

_RUN = [_capi.PROGRESS_FN, c_void_p, POINTER(c_void_p)]
for _name, _restype, _argtypes in [
    ("hw_lens_params_default", LensParams, []),
    ("hw_lens_run", c_int, [P, P, POINTER(LensParams)] + _RUN),
    ("hw_lens_free", None, [P]),
    ("hw_lens_rows", c_int, [P]),
    ("hw_lens_row_name", c_char_p, [P, c_int]),
    ("hw_lens_logits", PF, [P]),
    ("hw_lens_top", PI, [P]),
    ("hw_lens_target_rank", PI, [P]),
    ("hw_lens_target_logit", PF, [P]),
    ("hw_lens_target_logprob", PF, [P]),
    ("hw_lens_get_info", None, [P, POINTER(LensInfo)]),
    ("hw_lens_write", c_int, [P, c_char_p]),
    ("hw_subspace_params_default", SubspaceParams, []),
    ("hw_subspace_run", c_int, [P, P, POINTER(SubspaceParams), POINTER(c_void_p)]),
    ("hw_subspace_free", None, [P]),
    ("hw_subspace_rank", c_int, [P]),
    ("hw_subspace_singular", PD, [P]),
    ("hw_subspace_vectors", PD, [P, c_int]),
    ("hw_subspace_tokens", PI, [P, c_int, c_int, POINTER(PD)]),
    ("hw_subspace_directions", c_int, [P]),
    ("hw_subspace_top", c_int, [P]),
    ("hw_subspace_write", c_int, [P, c_char_p]),
    ("hw_lowrank_params_default", LowRankParams, []),
    ("hw_lowrank_run", c_int, [P, P, POINTER(LowRankParams)] + _RUN),
    ("hw_lowrank_free", None, [P]),
    ("hw_lowrank_count", c_int, [P]),
    ("hw_lowrank_ranks", PI, [P]),
    ("hw_lowrank_accuracy", PD, [P, c_int, PD]),
    ("hw_lowrank_inputs", PI, [P, PI]),
    ("hw_lowrank_spectrum", PD, [P, c_int, PI]),
    ("hw_lowrank_write", c_int, [P, c_char_p]),
]:
    _capi.declare(_name, _restype, _argtypes)

_HOOK = {"q": 3, "k": 4, "v": 5}     # HW_HOOK_Q, HW_HOOK_K, HW_HOOK_V


class LensResult(_Result):
    """The logit lens: "rows" (names, in model order), "logits" (rows, V) float32, "top"
    (rows, K) token ids, best first, "top_logit" (rows, K), and with a target
    "target_rank" (rows,) int, "target_logit", "target_logprob" (rows,) float32; .info
    (n_tokens, pos, norm, target, target_text, tokens)."""

    def _writer(self, path):
        return "hw_lens_write"


class SubspaceResult(_Result):
    """A head's circuit SVD: "singular" (k,), "left" and "right" (k, D) singular vectors
    (rows), and per side ("in"/"out" for OV, "query"/"key" for QK) and sign ("top",
    "bottom") the token ids (directions, top) and their scores."""

    def _writer(self, path):
        return "hw_subspace_write"


class LowRankResult(_Result):
    """The low-rank test: "ranks" (n,), "accuracy", "accuracy2" (n,), "baseline" (2,),
    "inputs" (["q", "k"]), "spectrum" {input: (Dh,)} and .fit_rows."""

    def _writer(self, path):
        return "hw_lowrank_write"


def logit_lens(model, *, prompt=None, ids=None, target=None, target_id=None, pos=None, top=10,
               norm="recompute", components=False, out=None, kv=None, progress=None):
    """`headwise lens`: one position (default the last) of prompt (encoded with BOS) or of
    token ids, each layer's residual (and with components every head, attention and MLP
    output) through the final norm (recompute: on each vector; fixed: the full
    residual's scale, no bias) and W_U. Returns LensResult."""
    m, progress = _start(model, progress)
    if (prompt is None) == (ids is None):
        raise ArgumentError("give prompt or ids (one of them)")
    if target is not None and target_id is not None:
        raise ArgumentError("give target or target_id, not both")
    V = m.config.vocab_size
    v = {"prompt": None if prompt is None else _args.text(prompt, "prompt"),
         "target": None if target is None else _args.text(target, "target"),
         "ids": None if ids is None else [_args.integer(x, "ids[%d]" % i, 0, (1 << 31) - 1)
                                          for i, x in enumerate(ids)],
         "norm": _choice(norm, "norm", {"recompute": 0, "fixed": 1}),
         "components": _bool(components, "components")}
    _ranges(dict(target_id=target_id, pos=pos, top=top), {"target_id": (0, 1 << 30), "pos": (0, 1 << 30),
                                                          "top": (1, 1 << 30)})
    v.update(target_id=target_id, pos=pos, top=top)
    if v["ids"] is not None and not v["ids"]:
        raise ArgumentError("ids: an empty list")
    p = make_params(lib().hw_lens_params_default, v, fname="logit_lens", counts={"ids": "n_ids"})
    _kv(p, m, kv)
    _outputs(("out", out))
    L = lib()
    r = _run(L.hw_lens_run, m, p, progress, L.hw_lens_free)
    info = LensInfo()
    L.hw_lens_get_info(r.handle, ctypes.byref(info))
    n, K = L.hw_lens_rows(r.handle), info.top
    res = LensResult()
    res["rows"] = [L.hw_lens_row_name(r.handle, i).decode() for i in range(n)]
    res["logits"] = copy_array(L.hw_lens_logits(r.handle), (n, V), "logits")
    res["top"] = copy_array(L.hw_lens_top(r.handle), (n, K), "top")
    res["top_logit"] = np.take_along_axis(res["logits"], res["top"], axis=1)
    if info.target >= 0:
        res["target_rank"] = copy_array(L.hw_lens_target_rank(r.handle), (n,), "rank")
        res["target_logit"] = copy_array(L.hw_lens_target_logit(r.handle), (n,), "logit")
        res["target_logprob"] = copy_array(L.hw_lens_target_logprob(r.handle), (n,), "logprob")
    res.info = {"n_tokens": info.n_tokens, "pos": info.pos, "norm": ["recompute", "fixed"][info.norm],
                "target": info.target, "target_text": _text(info.target_text),
                "tokens": [info.tokens[i] for i in range(info.n_tokens)]}
    res._init(r, m)
    if out is not None:
        res.write(out)
    return res


def head_subspace(model, *, head, kind="qk", directions=4, top=10, fold=True, out=None):
    """`headwise subspace`: the SVD of head's W_QK = W_Q W_K^T or W_OV = W_V W_O (fold:
    the input norm's gain folded in; fold=False is --no-fold) and its first directions
    read as tokens. Returns SubspaceResult."""
    m, _ = _start(model, None)
    v = {"head": head, "kind": _choice(kind, "kind", {"qk": 0, "ov": 1}), "fold_norm": _bool(fold, "fold")}
    v.update(_ranges(dict(directions=directions, top=top), {"directions": (0, 1 << 20), "top": (1, 1 << 30)}))
    p = make_params(lib().hw_subspace_params_default, v, model=m, fname="head_subspace")
    _outputs(("out", out))
    L = lib()
    h = c_void_p()
    _capi.check(L.hw_subspace_run(m._m, m._t, ctypes.byref(p), ctypes.byref(h)))
    from ._protocol import Owned
    r = Owned(h.value, L.hw_subspace_free)
    k, D = L.hw_subspace_rank(r.handle), m.config.d_model
    nd, K = L.hw_subspace_directions(r.handle), L.hw_subspace_top(r.handle)
    res = SubspaceResult()
    res["singular"] = copy_array(L.hw_subspace_singular(r.handle), (k,), "singular")
    res["left"] = copy_array(L.hw_subspace_vectors(r.handle, 0), (k, D), "left")
    res["right"] = copy_array(L.hw_subspace_vectors(r.handle, 1), (k, D), "right")
    sides = ("in", "out") if kind == "ov" else ("query", "key")
    for side, name in enumerate(sides):
        res[name] = {}
        for sign, sname in ((1, "top"), (-1, "bottom")):
            sc = PD()
            ids = L.hw_subspace_tokens(r.handle, side, sign, ctypes.byref(sc))
            res[name][sname] = copy_array(ids, (nd, K), "tokens") if nd else np.zeros((0, K), np.int32)
            res[name][sname + "_score"] = copy_array(sc, (nd, K), "scores") if nd else np.zeros((0, K))
    res._init(r, m)
    if out is not None:
        res.write(out)
    return res


def subspace_lowrank(model, *, head, input="q", task=None, prompts=None, ranks=None, center=False,
                     samples=None, task_seed=None, task_depth=None, task_symbols=None, fit_seed=None,
                     fit_samples=None, out=None, kv=None, progress=None):
    """`headwise subspace lowrank`: the task's accuracy with head's q and/or its KV head's
    k, v (input: "q", "q,k" or a list such as ["q", "k"]) each projected onto its own
    top-r subspace, fitted on fit_samples samples of fit_seed (task) or on the prompts (a
    prompts file: prompt, answer). Returns LowRankResult."""
    m, progress = _start(model, progress)
    if (task is None) == (prompts is None):
        raise ArgumentError("give task or prompts (one of them)")
    vals = _ranges(dict(samples=samples, task_seed=task_seed, task_depth=task_depth,
                        task_symbols=task_symbols), _TASK_RANGES)
    _ranges(dict(fit_seed=fit_seed, fit_samples=fit_samples), {"fit_seed": (0, 1 << 62),
                                                               "fit_samples": (1, 1000000)})
    names = input.split(",") if isinstance(input, str) else list(input)
    pts = [_choice(x, "input", _HOOK) for x in names]
    if not pts or len(set(pts)) != len(pts):
        raise ArgumentError("input: q, k and v, each at most once, got %r" % (input,))
    v = {"head": head, "center": _bool(center, "center"),
         "ranks": None if ranks is None else [_args.integer(x, "ranks[%d]" % i, 0, (1 << 31) - 1)
                                              for i, x in enumerate(ranks)],
         "fit_seed": fit_seed, "fit_samples": fit_samples,
         "task": {"name": task, "seed": vals.get("task_seed"), "samples": vals.get("samples"),
                  "depth": vals.get("task_depth"), "n_symbols": vals.get("task_symbols")}}
    if v["ranks"] is not None and not v["ranks"]:
        raise ArgumentError("ranks: an empty list")
    ps = _read_prompts(prompts, 1) if prompts is not None else None
    v["prompts"] = ps
    p = make_params(lib().hw_lowrank_params_default, v, model=m, fname="subspace_lowrank",
                    counts={"ranks": "n_ranks"})
    p.n_inputs = len(pts)
    for i, x in enumerate(pts):
        p.inputs[i] = x
    _kv(p, m, kv)
    _outputs(("out", out))
    L = lib()
    r = _run(L.hw_lowrank_run, m, p, progress, L.hw_lowrank_free)
    n = L.hw_lowrank_count(r.handle)
    base = (c_double * 2)()
    res = LowRankResult()
    res["ranks"] = copy_array(L.hw_lowrank_ranks(r.handle), (n,), "ranks")
    res["accuracy"] = copy_array(L.hw_lowrank_accuracy(r.handle, 0, base), (n,), "accuracy")
    res["accuracy2"] = copy_array(L.hw_lowrank_accuracy(r.handle, 1, None), (n,), "accuracy2")
    res["baseline"] = np.array([base[0], base[1]])
    rows = c_int()
    res["inputs"] = names
    res["spectrum"] = {x: copy_array(L.hw_lowrank_spectrum(r.handle, i, ctypes.byref(rows)),
                                     (m.config.head_dim,), "spectrum") for i, x in enumerate(names)}
    res.fit_rows = rows.value
    res._init(r, m)
    if out is not None:
        res.write(out)
    return res

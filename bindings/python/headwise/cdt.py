"""Contextual decomposition (CD-T, methods.md section 8), the library's hw_cdt_decompose
and hw_cdt_run:

    cdt_decompose  one prompt split as beta (the sources') + gamma at every node
    cdt            headwise cdt -> CdtResult (a dict, as the CLI's JSON)

Pairs for cdt come as for patch (clean=/corrupt= prompts files, or task="induction" or
"mcq"). Arrays are NumPy, equal to the CLI's JSON.
"""
import ctypes
from ctypes import POINTER, Structure, c_char_p, c_double, c_int, c_uint64, c_void_p

import numpy as np

from . import _args, _capi
from ._capi import ArgumentError, Head, PROGRESS_FN, check, lib
from ._protocol import Owned, copy_array, run_method
from .patching import HOOKS, _LOGITS, _pairs
from .protocols import _Result, _bool, _outputs, _start, _threads

__all__ = ["cdt", "cdt_decompose", "CdtResult"]

P = c_void_p
PD = POINTER(c_double)


class CdtSource(Structure):
    _c_name_ = "hw_cdt_source"
    _fields_ = [("kind", c_int), ("layer", c_int), ("head", c_int), ("pos", c_int)]


class CdtParams(Structure):
    _c_name_ = "hw_cdt_params"
    _fields_ = [("top", c_int), ("keep", c_double), ("faithfulness", c_int), ("random_draws", c_int),
                ("seed", c_uint64), ("max_size", c_int)]


class CdtEdge(Structure):
    _c_name_ = "hw_cdt_edge"
    _fields_ = [("sender", Head), ("receiver", Head), ("input", c_int), ("weight", c_double)]


_capi.STRUCTS.extend([CdtSource, CdtParams, CdtEdge])
for _name, _restype, _argtypes in [
    ("hw_cdt_decompose", c_int, [P, POINTER(c_int), c_int, POINTER(CdtSource), c_int, c_int, POINTER(c_void_p)]),
    ("hw_cdt_free", None, [P]),
    ("hw_cdt_part", POINTER(ctypes.c_float), [P, c_int, c_int, c_int]),
    ("hw_cdt_params_default", CdtParams, []),
    ("hw_cdt_run", c_int, [P, P, POINTER(CdtParams), PROGRESS_FN, c_void_p, POINTER(c_void_p)]),
    ("hw_cdt_result_free", None, [P]),
    ("hw_cdt_result_shape", None, [P, POINTER(c_int), POINTER(c_int), POINTER(c_int)]),
    ("hw_cdt_result_logit", PD, [P]),
    ("hw_cdt_result_edges", PD, [P]),
    ("hw_cdt_result_relevance", PD, [P]),
    ("hw_cdt_result_circuit", c_int, [P, POINTER(POINTER(Head))]),
    ("hw_cdt_result_circuit_edges", c_int, [P, POINTER(POINTER(CdtEdge))]),
    ("hw_cdt_result_faithfulness", c_int, [P, POINTER(POINTER(Head)), POINTER(PD), POINTER(PD)]),
    ("hw_cdt_result_metrics", None, [P, PD, PD]),
    ("hw_cdt_roc_auc", c_double, [P, POINTER(Head), c_int]),
    ("hw_cdt_result_write", c_int, [P, c_char_p]),
    ("hw_cdt_result_write_html", c_int, [P, c_char_p]),
]:
    _capi.declare(_name, _restype, _argtypes)

_INPUTS = ("q", "k", "v")
# Nodes hw_cdt_part gives, as hook names (blocks.L.<name>); the logits are "logits".
NODES = {"hook_resid_pre": "resid_pre", "attn.hook_q": "q", "attn.hook_k": "k", "attn.hook_v": "v",
         "attn.hook_z": "z", "hook_attn_out": "attn_out", "hook_mlp_out": "mlp_out",
         "hook_resid_post": "resid_post"}


def _sources(model, sources):
    """[("token", pos) | ("head", "L.H" or (L, H), pos)] with pos None for every position."""
    c = model.config
    out = (CdtSource * max(1, len(sources)))()
    for i, s in enumerate(sources):
        if not isinstance(s, (tuple, list)) or not s or s[0] not in ("token", "head"):
            raise ArgumentError("sources[%d]: ('token', pos) or ('head', 'L.H', pos)" % i)
        if s[0] == "token":
            pos = s[1] if len(s) > 1 else None
            out[i] = CdtSource(0, 0, 0, -1 if pos is None else _args.integer(pos, "sources[%d] pos" % i, 0))
        else:
            l, h = _args.head(s[1], c.n_layer, c.n_head, "sources[%d]" % i)
            pos = s[2] if len(s) > 2 else None
            out[i] = CdtSource(1, l, h, -1 if pos is None else _args.integer(pos, "sources[%d] pos" % i, 0))
    return out


def cdt_decompose(model, tokens, sources=()):
    """hw_cdt_decompose: tokens (ids, or a str encoded with BOS) split at every node as
    beta (caused by sources) + gamma. sources: ("token", pos) and ("head", "L.H", pos),
    pos None for every position. Returns {"blocks.L.<hook>": (beta, gamma), "logits":
    (beta, gamma)} with arrays shaped as the hooks (T, D), (T, H, Dh), (T, Hk, Dh), (T, V)."""
    if isinstance(tokens, str):
        tokens = model.encode(tokens)
    c = model.config
    toks = _args.token_ids(tokens, c.vocab_size)
    T = len(toks)
    src = _sources(model, list(sources))
    ids = (c_int * T)(*toks)
    h = c_void_p()
    check(lib().hw_cdt_decompose(model._m, ids, T, src, len(sources), 1, ctypes.byref(h)), "cdt_decompose")
    try:
        shapes = {"resid_pre": (T, c.d_model), "q": (T, c.n_head, c.head_dim), "k": (T, c.n_kv_head, c.head_dim),
                  "v": (T, c.n_kv_head, c.head_dim), "z": (T, c.n_head, c.head_dim), "attn_out": (T, c.d_model),
                  "mlp_out": (T, c.d_model), "resid_post": (T, c.d_model)}
        out = {}
        for name, short in NODES.items():
            for l in range(c.n_layer):
                parts = [lib().hw_cdt_part(h, HOOKS[short], l, rel) for rel in (1, 0)]
                if parts[0]:
                    out["blocks.%d.%s" % (l, name)] = tuple(
                        np.ctypeslib.as_array(p, shape=shapes[short]).copy() for p in parts)
        parts = [lib().hw_cdt_part(h, _LOGITS, -1, rel) for rel in (1, 0)]
        out["logits"] = tuple(np.ctypeslib.as_array(p, shape=(T, c.vocab_size)).copy() for p in parts)
        return out
    finally:
        lib().hw_cdt_free(h)


class CdtResult(_Result):
    """CD-T as the JSON of `headwise cdt -o`: "layers", "heads", "pairs", "logit" (L, H),
    "relevance" (L, H), "circuit" ["L.H"], "edges" [{"sender", "receiver", "input",
    "weight", "q", "k", "v"}], "metric_full", "metric_none", "faithfulness" [{"size",
    "added", "circuit", "random"}]; also .ratio (L*H, L*H, 3) every sender's relevance at
    every receiver's q, k, v (NaN where none), .auc with known=; .write(path),
    .write_html(path)."""

    def _writer(self, path):
        return "hw_cdt_result_write"

    def write_html(self, path):
        check(lib().hw_cdt_result_write_html(self._r.handle, _capi.fsencode(path, "html")), "html")


def cdt(model, *, clean=None, corrupt=None, task=None, samples=20, seed=1, block=None, target=None,
        minus=None, top=3, keep=0.3, draws=20, max_size=None, faithfulness=True, known=None, out=None,
        tsv=None, html=None, threads=None, progress=None):
    """`headwise cdt`: circuits by CD-T (hw_cdt_run) over prompt pairs as patch takes them.
    known: heads ("L.H,..." or a list) for the ROC AUC of relevance. Returns CdtResult."""
    m, progress = _start(model, progress)
    c = m.config
    p = lib().hw_cdt_params_default()
    p.top = _args.integer(top, "top", 1, 1 << 20)
    p.keep = _args.finite(keep, "keep", 0, 1)
    p.random_draws = _args.integer(draws, "draws", 0, 100000)
    p.max_size = 0 if max_size is None else _args.integer(max_size, "max_size", 1, 1 << 20)
    p.faithfulness = _bool(faithfulness, "faithfulness")
    kh = _args.heads(known, c.n_layer, c.n_head, "known") if known is not None else []
    set_threads = _threads(threads)
    _outputs(("out", out), ("tsv", tsv), ("html", html))
    set_threads()
    pairs = _pairs(m, clean, corrupt, task, samples, seed, block, target, minus)
    L = lib()
    r = Owned(run_method(L.hw_cdt_run, m._m, pairs.handle, params=p, progress=progress, free=L.hw_cdt_result_free),
              L.hw_cdt_result_free)
    nl, nh, npairs = c_int(), c_int(), c_int()
    L.hw_cdt_result_shape(r.handle, ctypes.byref(nl), ctypes.byref(nh), ctypes.byref(npairs))
    Lh, H = nl.value, nh.value
    N = Lh * H
    res = CdtResult()
    res.update({"layers": Lh, "heads": H, "pairs": npairs.value,
                "logit": copy_array(L.hw_cdt_result_logit(r.handle), (Lh, H), "logit"),
                "relevance": copy_array(L.hw_cdt_result_relevance(r.handle), (Lh, H), "relevance")})
    res.ratio = copy_array(L.hw_cdt_result_edges(r.handle), (N, N, 3), "edges")
    hp = POINTER(Head)()
    n = L.hw_cdt_result_circuit(r.handle, ctypes.byref(hp))
    res["circuit"] = ["%d.%d" % (hp[i].layer, hp[i].head) for i in range(n)]
    ep = POINTER(CdtEdge)()
    n = L.hw_cdt_result_circuit_edges(r.handle, ctypes.byref(ep))
    edges = []
    for i in range(n):
        e = ep[i]
        s, t = e.sender.layer * H + e.sender.head, e.receiver.layer * H + e.receiver.head
        edges.append({"sender": "%d.%d" % (e.sender.layer, e.sender.head),
                      "receiver": "%d.%d" % (e.receiver.layer, e.receiver.head), "input": _INPUTS[e.input],
                      "weight": e.weight, "q": res.ratio[s, t, 0], "k": res.ratio[s, t, 1], "v": res.ratio[s, t, 2]})
    res["edges"] = edges
    full, none = c_double(), c_double()
    L.hw_cdt_result_metrics(r.handle, ctypes.byref(full), ctypes.byref(none))
    res["metric_full"], res["metric_none"] = full.value, none.value
    order, fc, fr = POINTER(Head)(), PD(), PD()
    n = L.hw_cdt_result_faithfulness(r.handle, ctypes.byref(order), ctypes.byref(fc), ctypes.byref(fr))
    res["faithfulness"] = [{"size": k + 1, "added": "%d.%d" % (order[k].layer, order[k].head), "circuit": fc[k],
                            "random": fr[k]} for k in range(n)]
    if kh:
        arr = (Head * len(kh))(*[Head(l, h) for l, h in kh])
        res.auc = L.hw_cdt_roc_auc(r.handle, arr, len(kh))
    res._init(r, m)
    for path in (out, tsv):
        if path is not None:
            res.write(path)
    if html is not None:
        res.write_html(html)
    return res

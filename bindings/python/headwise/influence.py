"""AttentionInfluence (include/headwise.h, "AttentionInfluence"; methods.md section 10):
each document of a JSONL corpus scored by the relative rise of its mean next-token loss
when a model's heads are masked, (L_mask - L_base) / L_base, and the paper's selection of
each domain's top fraction.

    m = headwise.Model("organism")
    s = headwise.influence(m, "corpus.jsonl", "scores.jsonl", heads="retrieval.json", top=0.1)
    s.influence, s.domain            # numpy arrays, corpus order
    print(headwise.influence_select("scores.jsonl", "selected.jsonl", fraction=0.2,
                                    per_domain=True))

These are `headwise influence` and `headwise influence select` (one process: the MPI
ranks are the CLI's), writing the same files: the run keeps its resume log OUT.log, so a
second call with the same settings resumes, and other settings are refused."""
import ctypes
import json
import os
import tempfile

from ctypes import CFUNCTYPE, POINTER, Structure, c_char_p, c_double, c_int, c_int64, c_void_p

import numpy as np

from . import _args, _capi
from ._capi import ArgumentError, Head, PROGRESS_FN, check, fsencode, last_error, lib  # noqa: F401
from ._protocol import Progress

__all__ = ["influence", "influence_select", "InfluenceScores"]

WARN_FN = CFUNCTYPE(None, c_int64, c_char_p, c_void_p)   # hw_influence_warn_fn


class InfluenceParams(Structure):
    _c_name_ = "hw_influence_params"
    _fields_ = [("heads", POINTER(Head)), ("n_heads", c_int), ("mode", c_int), ("context", c_int),
                ("strict", c_int), ("byte_begin", c_int64), ("byte_end", c_int64),
                ("model_id", c_char_p), ("warn", WARN_FN)]


class InfluenceSummary(Structure):
    _c_name_ = "hw_influence_summary"
    _fields_ = [("documents", c_int64), ("resumed", c_int64), ("bad_lines", c_int64),
                ("tokens", c_int64), ("bytes", c_int64)]


_capi.STRUCTS.extend([InfluenceParams, InfluenceSummary])
_capi.CALLBACKS["hw_influence_warn_fn"] = WARN_FN
P = c_void_p
_capi.declare("hw_influence_params_default", InfluenceParams, [])
_capi.declare("hw_influence_run", c_int, [P, P, c_char_p, c_char_p, POINTER(InfluenceParams),
                                          PROGRESS_FN, c_void_p, POINTER(InfluenceSummary)])
_capi.declare("hw_influence_merge", c_int, [POINTER(c_char_p), c_int, c_char_p,
                                            POINTER(InfluenceSummary)])
_capi.declare("hw_influence_heads_from_file", c_int, [P, c_char_p, c_double, POINTER(POINTER(Head))])
_capi.declare("hw_influence_select", c_int, [c_char_p, c_double, c_int, c_char_p, c_void_p])

_MODES = {"uniform": 0, "zero": 1}


class InfluenceScores:
    """The output file's lines as arrays, corpus order: .id (list: str or int), .domain
    (str array), .tokens (int64), .loss_base, .loss_masked, .influence (float64); and
    the run's .documents, .resumed, .bad_lines (with .warnings: [(line, reason)] of this
    call's skipped lines), .heads [(layer, head)] masked."""

    def __init__(self, path, summary, warnings, heads):
        rows = [json.loads(l) for l in open(path, encoding="utf-8")]
        self.id = [r["id"] for r in rows]
        self.domain = np.array([r["domain"] for r in rows], dtype=object)
        self.tokens = np.array([r["tokens"] for r in rows], dtype=np.int64)
        for k in ("loss_base", "loss_masked", "influence"):
            setattr(self, k, np.array([r[k] for r in rows], dtype=np.float64))
        self.documents, self.resumed = summary.documents, summary.resumed
        self.bad_lines, self.warnings, self.heads = summary.bad_lines, warnings, heads

    def __len__(self):
        return len(self.id)


def _heads(model, heads, top, heads_list):
    """The masked heads as a ctypes array: from a score file's top fraction, or a list
    of (layer, head) / "L.H" texts."""
    if top is not None and heads is not None:
        top = _args.finite(top, "top", 0, 1)
    if (heads is None) == (heads_list is None):
        raise ArgumentError("influence: give heads=FILE or heads_list=[(layer, head), ...]")
    L = lib()
    if heads is not None:
        out = POINTER(Head)()
        n = L.hw_influence_heads_from_file(model._m, fsencode(heads, "heads"), float(top), ctypes.byref(out))
        if n < 0:
            raise ArgumentError("influence: %s" % last_error())
        arr = (Head * n)(*[Head(out[i].layer, out[i].head) for i in range(n)])
        _libc().free(out)
        return arr
    c = model.config
    pairs = _args.heads(heads_list, c.n_layer, c.n_head, "heads_list")
    if not pairs:
        raise ArgumentError("influence: heads_list is empty")
    return (Head * len(pairs))(*[Head(l, h) for l, h in pairs])


def influence(model, corpus, out, *, heads=None, top=0.05, heads_list=None, mode="uniform",
              context=0, strict=False, progress=None, model_id=None):
    """`headwise influence -m MODEL --corpus corpus -o out` (its flags as keywords): the
    scores written to out (its resume log out + ".log"), returned as InfluenceScores.
    model_id names the model in the log's settings (default: the path it was loaded
    from, as the CLI's -m), so a resumed run is checked against the same model."""
    if mode not in _MODES:
        raise ArgumentError("influence: mode %r is not one of %s" % (mode, ", ".join(_MODES)))
    hs = _heads(model, heads, top, heads_list)
    p = lib().hw_influence_params_default()
    p.heads, p.n_heads, p.mode = hs, len(hs), _MODES[mode]
    p.context, p.strict = _args.integer(context, "context", 0, 1 << 24), int(bool(strict))
    mid = model_id if model_id is not None else getattr(model, "path", "python")
    p.model_id = os.fsencode(mid)
    warnings = []
    warn = WARN_FN(lambda line, reason, _u: warnings.append((int(line), reason.decode("utf-8", "replace"))))
    p.warn = warn
    cb = Progress(progress)
    log = os.fsencode(out) + b".log"
    s = InfluenceSummary()
    st = lib().hw_influence_run(model._m, model._t, fsencode(corpus, "corpus"), log, ctypes.byref(p),
                                cb.c, None, ctypes.byref(s))
    cb.reraise()
    check(st)
    logs = (c_char_p * 1)(log)
    check(lib().hw_influence_merge(logs, 1, fsencode(out, "out"), None))
    return InfluenceScores(out, s, warnings, [(h.layer, h.head) for h in hs])


def influence_select(scores, out, *, fraction=0.2, per_domain=False):
    """`headwise influence select --scores scores --fraction F [--per-domain] -o out`: the
    kept lines written to out; returns the per-domain table (TSV text) the CLI prints."""
    fraction = _args.finite(fraction, "fraction", 0, 1)
    if fraction == 0:
        raise ArgumentError("fraction: 0 selects nothing")
    libc = _libc()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "table.tsv")
        fp = libc.fopen(os.fsencode(path), b"w")
        if not fp:
            raise _capi.Error("cannot write a temporary table in %s" % d)
        st = lib().hw_influence_select(fsencode(scores, "scores"), fraction, int(bool(per_domain)),
                                       fsencode(out, "out"), fp)
        libc.fclose(fp)
        check(st)
        with open(path, encoding="utf-8") as f:
            return f.read()


def _libc():
    """The C library, for the FILE * hw_influence_select writes its table to and the
    heads array hw_influence_heads_from_file mallocs."""
    c = ctypes.CDLL(None)
    c.fopen.restype, c.fopen.argtypes = c_void_p, [c_char_p, c_char_p]
    c.fclose.argtypes = [c_void_p]
    c.free.argtypes = [c_void_p]
    return c

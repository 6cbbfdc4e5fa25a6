"""`headwise niah`: the needle-in-a-haystack grid (lengths x depths) under a KV-cache
policy (include/headwise.h, "needle-in-a-haystack grid"), one library call
(hw_niah_grid_run) and the result's accessors and writers:

    niah(model, passkey=True, lengths="512:2048:4", kv="longheads")  -> NiahGrid

Three sources of trials, as the CLI's: text needles (the default: needles, haystack,
template, buffer, max_new), a model organism's task (task="retrieval": samples, seed,
task_symbols, task_needles), or LongHeads' passkey retrieval (passkey=True: samples,
seed), each its own flags. Keyword arguments are the CLI's flags in snake_case, checked
against the ranges it accepts before anything is loaded or run.
"""
import ctypes
from ctypes import POINTER, Structure, c_char_p, c_double, c_int, c_uint64, c_void_p

import numpy as np

from . import _capi
from ._capi import ArgumentError, PROGRESS_FN, check, lib
from ._protocol import make_params
from .protocols import (NiahParams, _NIAH_COUNTS, _NIAH_FIELDS, _NIAH_RANGES, _Result, _given,
                        _haystack, _kv, _lengths, _outputs, _ranges, _run, _start, _threads,
                        _write)

__all__ = ["niah", "NiahGrid"]

P = c_void_p


class NiahGridParams(Structure):
    _c_name_ = "hw_niah_grid_params"
    _fields_ = [("kv", c_void_p), ("niah", NiahParams), ("task", c_char_p), ("samples", c_int),
                ("seed", c_uint64), ("n_symbols", c_int), ("n_needles", c_int),
                ("label", c_char_p), ("passkey", c_int)]


class NiahTrial(Structure):
    _c_name_ = "hw_niah_trial"
    _fields_ = [("length", c_int), ("depth", c_int), ("item", c_int), ("passkey", c_int),
                ("key_position", c_int), ("exact", c_int), ("rouge1_recall", c_double),
                ("rouge1_f", c_double), ("answer", c_char_p)]


_capi.STRUCTS.extend([NiahGridParams, NiahTrial])

PI, PD = POINTER(c_int), POINTER(c_double)
for _name, _restype, _argtypes in [
    ("hw_niah_grid_params_default", NiahGridParams, []),
    ("hw_niah_grid_run", c_int, [P, P, POINTER(NiahGridParams), PROGRESS_FN, c_void_p,
                                 POINTER(c_void_p)]),
    ("hw_niah_grid_result_free", None, [P]),
    ("hw_niah_grid_result_lengths", c_int, [P, POINTER(PI)]),
    ("hw_niah_grid_result_depths", c_int, [P, POINTER(PI)]),
    ("hw_niah_grid_result_cell", c_int, [P, c_int, c_int, PI, PD, PD, PD]),
    ("hw_niah_grid_result_overall", None, [P, PI, PD, PD, PD]),
    ("hw_niah_grid_result_kv_bytes", ctypes.c_size_t, [P, c_int, POINTER(ctypes.c_size_t)]),
    ("hw_niah_grid_result_policy", c_char_p, [P]),
    ("hw_niah_grid_result_chunk", c_int, [P]),
    ("hw_niah_grid_result_trial", c_int, [P, c_int, POINTER(NiahTrial)]),
    ("hw_niah_grid_result_write", c_int, [P, c_char_p]),
    ("hw_niah_grid_result_write_html", c_int, [P, c_char_p]),
]:
    _capi.declare(_name, _restype, _argtypes)


class NiahGrid(_Result):
    """The grid as arrays: "lengths" (n_len,) and "depths" (n_dep,) int arrays; "trials",
    "exact", "rouge1_recall", "rouge1_f" (n_dep, n_len) arrays, depth down and length
    across as the JSON's; "kv_bytes", "kv_bytes_full" (n_len,); "overall" {"trials",
    "exact", "rouge1_recall", "rouge1_f"}; "policy" (its name) and "chunk" (prefill rows
    per pass); "trial_results": every trial as a dict (length, depth, needle or sample,
    passkey and key_position for passkey trials, exact, rouge1_recall, rouge1_f, answer).
    write(path): the CLI's -o JSON; write_html(path): its --html page."""

    def _writer(self, path):
        return "hw_niah_grid_result_write"

    def write_html(self, path):
        _write(lib().hw_niah_grid_result_write_html, self._r, path, "write html")


def _ints(fn, h):
    ptr = PI()
    n = fn(h, ctypes.byref(ptr))
    return np.array([ptr[i] for i in range(n)], dtype=np.int64)


def _grid(r, item, passkey):
    L = lib()
    h = r.handle
    g = NiahGrid()
    g["lengths"], g["depths"] = _ints(L.hw_niah_grid_result_lengths, h), _ints(L.hw_niah_grid_result_depths, h)
    shape = (len(g["depths"]), len(g["lengths"]))
    planes = {k: np.zeros(shape) for k in ("trials", "exact", "rouge1_recall", "rouge1_f")}
    n, e, rc, f = c_int(), c_double(), c_double(), c_double()
    for di in range(shape[0]):
        for li in range(shape[1]):
            check(L.hw_niah_grid_result_cell(h, li, di, ctypes.byref(n), ctypes.byref(e),
                                             ctypes.byref(rc), ctypes.byref(f)))
            for k, v in zip(planes, (n, e, rc, f)):
                planes[k][di, li] = v.value
    planes["trials"] = planes["trials"].astype(np.int64)
    g.update(planes)
    full = ctypes.c_size_t()
    kv = [(L.hw_niah_grid_result_kv_bytes(h, li, ctypes.byref(full)), full.value) for li in range(shape[1])]
    g["kv_bytes"] = np.array([a for a, _ in kv], dtype=np.int64)
    g["kv_bytes_full"] = np.array([b for _, b in kv], dtype=np.int64)
    L.hw_niah_grid_result_overall(h, ctypes.byref(n), ctypes.byref(e), ctypes.byref(rc), ctypes.byref(f))
    g["overall"] = {"trials": n.value, "exact": e.value, "rouge1_recall": rc.value, "rouge1_f": f.value}
    g["policy"] = L.hw_niah_grid_result_policy(h).decode()
    g["chunk"] = L.hw_niah_grid_result_chunk(h)
    t = NiahTrial()
    trials = []
    for i in range(n.value):
        check(L.hw_niah_grid_result_trial(h, i, ctypes.byref(t)))
        d = {"length": t.length, "depth": t.depth, item: t.item}
        if passkey:
            d.update(passkey=t.passkey, key_position=t.key_position)
        d.update(exact=bool(t.exact), rouge1_recall=t.rouge1_recall, rouge1_f=t.rouge1_f,
                 answer=t.answer.decode("utf-8", "replace"))
        trials.append(d)
    g["trial_results"] = trials
    return g


def niah(model, *, passkey=False, task=None, samples=None, seed=None, task_symbols=None,
         task_needles=None, needles=None, haystack=None, template=None, lengths=None, depths=None,
         buffer=None, max_new=None, data_dir=None, label=None, kv=None, out=None, html=None,
         threads=None, progress=None):
    """`headwise niah`: every trial of a lengths x depths grid run greedily under the KV
    policy kv (None: every head full; a --kv text or a KVPolicy), hw_niah_grid_run.

    lengths "A:B:N" or (A, B, N) tokens, depths N. passkey=True: LongHeads' passkey
    retrieval (the key line "The pass key is N. Remember it. N is the pass key." in the
    grass-is-green garbage at each depth, each prompt exactly the length; N uniform in
    [1, 50000] from seed, samples per cell; exact = the greedy answer's tokens all
    right); lengths past a rotary model's context are allowed. task="retrieval": a model
    organism's samples (samples, seed, task_symbols, task_needles). Else text needles
    (needles, haystack, template, buffer, max_new, data_dir). label: the model's name in
    the outputs. out: the JSON, html: the heatmap page, written at the end.

    Returns NiahGrid."""
    m, progress = _start(model, progress)
    v = _ranges(dict(needles=needles, haystack=haystack, template=template, depths=depths,
                     buffer=buffer, max_new=max_new, data_dir=data_dir, task=task, samples=samples,
                     seed=seed, n_symbols=task_symbols, n_needles=task_needles, label=label),
                dict(_NIAH_RANGES, samples=(1, 1000000), seed=(0, 1 << 62), n_symbols=(1, 1 << 20),
                     n_needles=(1, 4096)))
    v["passkey"] = int(bool(passkey))
    text = _given(v, [k for k in _NIAH_FIELDS if k not in ("depths", "data_dir")])
    if passkey and task is not None:
        raise ArgumentError("passkey and task are two sources of trials; give one")
    if (passkey or task is not None) and text:
        raise ArgumentError("%s replaces the text-trial arguments (%s)"
                            % ("passkey" if passkey else "task", ", ".join(text)))
    _haystack(v)
    set_threads = _threads(threads)
    p = make_params(lib().hw_niah_grid_params_default, v, model=m, fname="niah", aliases=_NIAH_FIELDS,
                    counts=_NIAH_COUNTS)
    _lengths(p, lengths)
    _kv(p, m, kv)
    _outputs(("out", out), ("html", html))
    set_threads()
    r = _run(lib().hw_niah_grid_run, m, p, progress, lib().hw_niah_grid_result_free)
    g = _grid(r, "sample" if passkey or task is not None else "needle", bool(passkey))
    g._init(r, m)
    if out is not None:
        g.write(out)
    if html is not None:
        g.write_html(html)
    return g


"""Circuits: activation patching and path patching over clean / corrupted prompt pairs
(methods.md sections 7 and 9), the library's hw_patch_run and hw_path_patch_run:

    patch        headwise patch        -> PatchResult (a dict, as the CLI's JSON)
    path_patch   headwise patch path   -> PathPatchResult (a dict, as the CLI's JSON)

Pairs come from two prompts files (clean=, corrupt=; a clean line's answers give its
target and minus unless target=/minus= are given) or from a task (task="induction" or "mcq",
samples, seed, block). Arrays are NumPy float64, equal to the CLI's JSON.
"""
import ctypes
from ctypes import POINTER, Structure, c_char_p, c_double, c_int, c_uint64, c_void_p

import numpy as np

from . import _args, _capi
from ._capi import ArgumentError, Head, PROGRESS_FN, check_handle, fsencode, lib
from ._protocol import Owned, copy_array, run_method
from .protocols import _Result, _bool, _choice, _outputs, _start, _text, _threads

__all__ = ["patch", "path_patch", "preserve_elements", "PatchResult", "PathPatchResult"]

P = c_void_p


class PatchParams(Structure):
    _c_name_ = "hw_patch_params"
    _fields_ = [("hook", c_int), ("direction", c_int), ("metric", c_int), ("direct", c_int),
                ("identity", c_int)]


class PatchInfo(Structure):
    _c_name_ = "hw_patch_info"
    _fields_ = [("hook", c_int), ("direction", c_int), ("metric", c_int), ("direct", c_int),
                ("identity", c_int), ("rows", c_int), ("cols", c_int), ("per_position", c_int),
                ("n_pairs", c_int)]


class PathReceiver(Structure):
    _c_name_ = "hw_path_receiver"
    _fields_ = [("layer", c_int), ("head", c_int), ("input", c_int)]


class PathPatchParams(Structure):
    _c_name_ = "hw_path_patch_params"
    _fields_ = [("senders", POINTER(Head)), ("n_senders", c_int),
                ("receivers", POINTER(PathReceiver)), ("n_receivers", c_int), ("metric", c_int)]


_capi.STRUCTS.extend([PatchParams, PatchInfo, PathReceiver, PathPatchParams])

PD = POINTER(c_double)
_RUN = [PROGRESS_FN, c_void_p, POINTER(c_void_p)]
for _name, _restype, _argtypes in [
    ("hw_prompt_pairs_read", P, [P, c_char_p, c_char_p, c_char_p, c_char_p]),
    ("hw_prompt_pairs_task", P, [P, c_char_p, c_int, c_int, c_uint64]),
    ("hw_prompt_pairs_free", None, [P]),
    ("hw_prompt_pairs_count", c_int, [P]),
    ("hw_prompt_pairs_get", c_int, [P, c_int, c_void_p, c_void_p, POINTER(c_int), POINTER(c_int)]),
    ("hw_prompt_pairs_label", c_char_p, [P, c_int]),
    ("hw_patch_params_default", PatchParams, []),
    ("hw_patch_run", c_int, [P, P, P, POINTER(PatchParams)] + _RUN),
    ("hw_patch_result_free", None, [P]),
    ("hw_patch_get_info", None, [P, POINTER(PatchInfo)]),
    ("hw_patch_result_mean", PD, [P, c_int]),
    ("hw_patch_result_pooled", PD, [P, c_int]),
    ("hw_patch_result_pair", PD, [P, c_int, c_int]),
    ("hw_patch_result_pair_metric", PD, [P, c_int, c_int]),
    ("hw_patch_result_baseline", c_int, [P, c_int, PD, PD]),
    ("hw_patch_result_label", c_char_p, [P, c_int]),
    ("hw_patch_result_write", c_int, [P, c_char_p]),
    ("hw_patch_result_write_html", c_int, [P, c_char_p]),
    ("hw_path_patch_params_default", PathPatchParams, []),
    ("hw_path_patch_run", c_int, [P, P, POINTER(PathPatchParams)] + _RUN),
    ("hw_path_patch_result_free", None, [P]),
    ("hw_path_patch_percent", PD, [P]),
    ("hw_path_patch_normalized", PD, [P]),
    ("hw_path_patch_pair_metric", PD, [P, c_int]),
    ("hw_path_patch_baseline", c_int, [P, c_int, PD, PD]),
    ("hw_path_receiver_name", c_int, [c_char_p, ctypes.c_size_t, POINTER(PathReceiver)]),
    ("hw_path_patch_write", c_int, [P, c_char_p]),
    ("hw_preserve_elements", c_int, [PD, c_int, c_double, POINTER(c_int)]),
]:
    _capi.declare(_name, _restype, _argtypes)

# hw_hook_point values (include/headwise.h) of the hooks patching sweeps.
HOOKS = {"z": 10, "pattern": 9, "q": 3, "k": 4, "v": 5, "resid_pre": 2, "resid_post": 16,
         "attn_out": 12, "mlp_out": 15}
_LOGITS = 18
METRICS = {"logit-diff": 0, "prob": 1, "logprob": 2}


def _pairs(model, clean, corrupt, task, samples, seed, block, target, minus):
    """The prompt pairs as the CLI makes them (an owned hw_prompt_pairs)."""
    if (task is None) == (clean is None and corrupt is None):
        raise ArgumentError("give clean= and corrupt= (prompts files), or task='induction' or 'mcq'")
    if task is None and (clean is None or corrupt is None):
        raise ArgumentError("clean and corrupt go together")
    if task is not None:
        if target is not None or minus is not None:
            raise ArgumentError("target and minus are for prompts files (a task sets its own)")
        _choice(task, "task", ("induction", "mcq"))
        h = lib().hw_prompt_pairs_task(model._m, task.encode(), _args.integer(samples, "samples", 1, 100000),
                                       0 if block is None else _args.integer(block, "block", 3, 1 << 20),
                                       _args.integer(seed, "seed", 0, 1 << 62))
    else:
        enc = [None if x is None else _args.text(x, n).encode() for x, n in ((target, "target"), (minus, "minus"))]
        h = lib().hw_prompt_pairs_read(model._t, fsencode(clean, "clean"), fsencode(corrupt, "corrupt"), *enc)
    return Owned(check_handle(h, "prompt pairs"), lib().hw_prompt_pairs_free)


def _labels(pairs):
    n = lib().hw_prompt_pairs_count(pairs.handle)
    return [_text(lib().hw_prompt_pairs_label(pairs.handle, i)) for i in range(n)]


class PatchResult(_Result):
    """Activation patching as the JSON of `headwise patch -o`: "hook", "direction",
    "metric", "identity", "rows", "cols", "axes", "labels", "mean" (rows, cols), "pooled"
    (the ratio of mean metrics), "mean_direct" and "pooled_direct" (with direct), "pairs" [{"label", "clean", "corrupt", "target", "minus",
    "normalized", "metric"[, "normalized_direct", "metric_direct"]}] (arrays NumPy);
    .write(path) the JSON (or TSV), .write_html(path) the heatmap page."""

    def _writer(self, path):
        return "hw_patch_result_write"

    def write_html(self, path):
        _capi.check(lib().hw_patch_result_write_html(self._r.handle, fsencode(path, "html")), "html")


def patch(model, *, clean=None, corrupt=None, task=None, samples=20, seed=1, block=None,
          metric="logit-diff", target=None, minus=None, hook="z", direction="denoise",
          direct=False, identity=False, out=None, tsv=None, html=None, threads=None,
          progress=None):
    """`headwise patch`: activation patching (hw_patch_run). hook: z, pattern, q, k, v (per
    layer and head) or resid_pre, resid_post, attn_out, mlp_out (per layer and position);
    direction "denoise" (clean into corrupted) or "noise"; direct: also the direct effects;
    identity: each run patched with its own activations. Returns PatchResult."""
    m, progress = _start(model, progress)
    p = lib().hw_patch_params_default()
    p.hook = _choice(hook, "hook", HOOKS)
    p.direction = _choice(direction, "direction", {"denoise": 0, "noise": 1})
    p.metric = _choice(metric, "metric", METRICS)
    p.direct, p.identity = _bool(direct, "direct"), _bool(identity, "identity")
    set_threads = _threads(threads)
    _outputs(("out", out), ("tsv", tsv), ("html", html))
    set_threads()
    pairs = _pairs(m, clean, corrupt, task, samples, seed, block, target, minus)
    L = lib()
    r = Owned(run_method(L.hw_patch_run, m._m, m._t, pairs.handle, params=p, progress=progress,
                         free=L.hw_patch_result_free), L.hw_patch_result_free)
    info = PatchInfo()
    L.hw_patch_get_info(r.handle, ctypes.byref(info))
    shape = (info.rows, info.cols)
    res = PatchResult()
    res.update({"hook": hook, "direction": direction, "metric": metric, "identity": bool(identity),
                "rows": info.rows, "cols": info.cols,
                "axes": "layer," + ("pos" if info.per_position else "kv_head" if hook in ("k", "v") else "head"),
                "labels": [_text(L.hw_patch_result_label(r.handle, c)) for c in range(info.cols)],
                "mean": copy_array(L.hw_patch_result_mean(r.handle, 0), shape, "mean"),
                "pooled": copy_array(L.hw_patch_result_pooled(r.handle, 0), shape, "pooled")})
    if info.direct:
        res["mean_direct"] = copy_array(L.hw_patch_result_mean(r.handle, 1), shape, "mean_direct")
        res["pooled_direct"] = copy_array(L.hw_patch_result_pooled(r.handle, 1), shape, "pooled_direct")
    res["pairs"] = []
    for i, label in enumerate(_labels(pairs)):
        c, x = c_double(), c_double()
        L.hw_patch_result_baseline(r.handle, i, ctypes.byref(c), ctypes.byref(x))
        t, mi = c_int(), c_int()
        L.hw_prompt_pairs_get(pairs.handle, i, None, None, ctypes.byref(t), ctypes.byref(mi))
        d = {"label": label, "clean": c.value, "corrupt": x.value, "target": t.value, "minus": mi.value,
             "normalized": copy_array(L.hw_patch_result_pair(r.handle, i, 0), shape),
             "metric": copy_array(L.hw_patch_result_pair_metric(r.handle, i, 0), shape)}
        if info.direct:
            d["normalized_direct"] = copy_array(L.hw_patch_result_pair(r.handle, i, 1), shape)
            d["metric_direct"] = copy_array(L.hw_patch_result_pair_metric(r.handle, i, 1), shape)
        res["pairs"].append(d)
    res._init(r, m)
    for path in (out, tsv):
        if path is not None:
            res.write(path)
    if html is not None:
        res.write_html(html)
    return res


class PathPatchResult(_Result):
    """Path patching as the JSON of `headwise patch path -o`: "metric", "senders" ["L.H"],
    "receivers" ["L.H.k", ..., "logits", "all"], "percent" and "normalized" (senders,
    receivers + 1; NaN where no path), "pairs" [{"label", "clean", "corrupt", "metric"}]."""

    def _writer(self, path):
        return "hw_path_patch_write"


def _heads(text, what, L, H):
    out = []
    for part in text.split(","):
        try:
            l, h = (int(x) for x in part.split("."))
        except ValueError:
            raise ArgumentError("%s: '%s' is not L.H[,L.H...]" % (what, text)) from None
        out.append((l, h))
    return out


def path_patch(model, *, clean=None, corrupt=None, task=None, samples=20, seed=1, block=None,
               metric="logit-diff", target=None, minus=None, senders=None, receivers=None,
               input="q,k,v", mlps=False, logits=False, out=None, tsv=None, threads=None,
               progress=None):
    """`headwise patch path`: path patching (hw_path_patch_run). senders, receivers: "L.H,..."
    texts or lists of (layer, head) (default every head; receivers every head of every
    layer but the first); a receiver query head given for k or v is the KV head it reads
    (once); input: the receivers' inputs ("q,k,v"); mlps: every MLP a receiver too;
    logits: also the direct path. Returns PathPatchResult."""
    m, progress = _start(model, progress)
    cfg = m.config
    L_, H, Hk = cfg.n_layer, cfg.n_head, cfg.n_kv_head
    snd = (_heads(senders, "senders", L_, H) if isinstance(senders, str) else list(senders)) if senders is not None \
        else [(l, h) for l in range(L_) for h in range(H)]
    rh = None if receivers is None else _heads(receivers, "receivers", L_, H) if isinstance(receivers, str) \
        else list(receivers)
    rcv = []
    for x in input.split(","):
        pt = _choice(x, "input", {"q": HOOKS["q"], "k": HOOKS["k"], "v": HOOKS["v"]})
        per = H if x == "q" else Hk
        if rh is None:
            heads = [(l, h) for l in range(1, L_) for h in range(per)]
        else:   # a query head given for k or v reads its KV head: that one, once
            heads = [(l, h if x == "q" else h // (H // Hk)) for l, h in rh]
        for l, h in heads:
            if (l, h, pt) not in rcv:
                rcv.append((l, h, pt))
    if _bool(mlps, "mlps") and cfg.d_ff > 0:
        rcv += [(l, 0, HOOKS["mlp_out"]) for l in range(L_)]
    if _bool(logits, "logits"):
        rcv.append((0, 0, _LOGITS))
    p = lib().hw_path_patch_params_default()
    sarr = (Head * len(snd))(*[Head(l, h) for l, h in snd])
    rarr = (PathReceiver * len(rcv))(*[PathReceiver(*r) for r in rcv])
    p.senders, p.n_senders, p.receivers, p.n_receivers = sarr, len(snd), rarr, len(rcv)
    p.metric = _choice(metric, "metric", METRICS)
    set_threads = _threads(threads)
    _outputs(("out", out), ("tsv", tsv))
    set_threads()
    pairs = _pairs(m, clean, corrupt, task, samples, seed, block, target, minus)
    L = lib()
    r = Owned(run_method(L.hw_path_patch_run, m._m, pairs.handle, params=p, progress=progress,
                         free=L.hw_path_patch_result_free), L.hw_path_patch_result_free)
    shape = (len(snd), len(rcv) + 1)
    names = []
    for rc in rarr:
        buf = ctypes.create_string_buffer(64)
        L.hw_path_receiver_name(buf, 64, ctypes.byref(rc))
        names.append(buf.value.decode())
    res = PathPatchResult()
    res.update({"metric": metric, "senders": ["%d.%d" % s for s in snd], "receivers": names + ["all"],
                "percent": copy_array(L.hw_path_patch_percent(r.handle), shape, "percent"),
                "normalized": copy_array(L.hw_path_patch_normalized(r.handle), shape, "normalized"),
                "pairs": []})
    for i, label in enumerate(_labels(pairs)):
        c, x = c_double(), c_double()
        L.hw_path_patch_baseline(r.handle, i, ctypes.byref(c), ctypes.byref(x))
        res["pairs"].append({"label": label, "clean": c.value, "corrupt": x.value,
                             "metric": copy_array(L.hw_path_patch_pair_metric(r.handle, i), shape)})
    res._init(r, m)
    for path in (out, tsv):
        if path is not None:
            res.write(path)
    return res


def preserve_elements(effect, fraction):
    """The factual-recall code's preserve_elements (hw_preserve_elements): a boolean mask
    of effect's shape keeping the fewest entries whose |effect| sums to at least fraction
    of the total (largest first, ties to the lower index; NaN counts 0)."""
    a = np.ascontiguousarray(effect, dtype=np.float64)
    if a.size == 0:
        raise ArgumentError("effect: no entries")
    frac = _args.finite(fraction, "fraction", 0, 1)
    keep = np.zeros(a.size, dtype=np.intc)
    n = lib().hw_preserve_elements(a.ctypes.data_as(PD), a.size, frac,
                                   keep.ctypes.data_as(POINTER(c_int)))
    if n < 0:
        _capi.check(_capi.HW_ERR_ARG, "preserve_elements")
    return keep.reshape(a.shape).astype(bool)

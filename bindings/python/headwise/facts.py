"""The factual-recall pipeline of Lv et al. (methods.md section 7), `headwise facts`:
one library call, hw_fact_run, whose result reads as the CLI's JSON with NumPy arrays.

    r = headwise.facts(model, prompts="data/prompts/stories_facts.tsv")
    r["movers"]["score"]            # (L, H) mean attention to the topic x alignment
    r["regression"]["r2"], r["regression"]["readings"][0]["tokens"]   # the intercept's
    r["anti_overconfidence"]["confidence_gained"]
"""
import ctypes
from ctypes import POINTER, Structure, c_char_p, c_double, c_float, c_int, c_void_p

import numpy as np

from . import _capi
from ._capi import ArgumentError, PROGRESS_FN, check, fsencode, lib
from ._protocol import copy_array, make_params
from .protocols import (HeadTableC, TaskEvalParams, _Result, _TASK_FIELDS, _TASK_RANGES, _choice, _outputs, _ranges, _read_prompts,
                        _run, _start, _text)

__all__ = ["facts", "fact_regress", "FactsResult"]

P = c_void_p
PD = POINTER(c_double)


class FactParams(Structure):
    _c_name_ = "hw_fact_params"
    _fields_ = [("prompts", c_void_p), ("task", TaskEvalParams), ("shape", c_int), ("topic", c_int), ("mlp_layer", c_int), ("top_k", c_int), ("top_terms", c_int),
                ("mitigate_scale", c_float)]


class FactInfo(Structure):
    _c_name_ = "hw_fact_info"
    _fields_ = [("n_prompts", c_int), ("pearson_r", c_double), ("mlp_layer", c_int),
                ("n_terms", c_int), ("r2", c_double), ("n_constant", c_int), ("ridge", c_double),
                ("norm_scale", c_double), ("top_k", c_int), ("n_readings", c_int),
                ("n_final", c_int), ("n_suppressors", c_int), ("mitigate_scale", c_float),
                ("confidence_before", c_double), ("confidence_after", c_double),
                ("n_answers", c_int), ("accuracy_before", c_double), ("accuracy_after", c_double)]


class FactReading(Structure):
    _c_name_ = "hw_fact_reading"
    _fields_ = [("name", c_char_p), ("beta", c_double), ("ids", POINTER(c_int)),
                ("logits", PD), ("text", POINTER(c_char_p))]


_capi.STRUCTS.extend([FactParams, FactInfo, FactReading])

for _name, _restype, _argtypes in [
    ("hw_fact_regress", c_int, [P, P, c_int, c_int, c_int, PD, PD, PD, PD, POINTER(c_int)]),
    ("hw_fact_params_default", FactParams, []),
    ("hw_fact_run", c_int, [P, P, POINTER(FactParams), PROGRESS_FN, c_void_p, POINTER(c_void_p)]),
    ("hw_fact_free", None, [P]),
    ("hw_fact_get_info", None, [P, POINTER(FactInfo)]),
    ("hw_fact_movers", POINTER(HeadTableC), [P]),
    ("hw_fact_term_name", c_char_p, [P, c_int]),
    ("hw_fact_betas", PD, [P]),
    ("hw_fact_constant", POINTER(c_int), [P]),
    ("hw_fact_intercept", PD, [P]),
    ("hw_fact_get_reading", c_int, [P, c_int, POINTER(FactReading)]),
    ("hw_fact_final_name", c_char_p, [P, c_int]),
    ("hw_fact_final_dla", PD, [P]),
    ("hw_fact_final_suppressed", POINTER(c_int), [P]),
    ("hw_fact_prompt_info", POINTER(c_int), [P]),
    ("hw_fact_prompt_probs", PD, [P]),
    ("hw_fact_write", c_int, [P, c_char_p]),
]:
    _capi.declare(_name, _restype, _argtypes)


def fact_regress(o, y):
    """hw_fact_regress: y (P, D) ~ sum_i beta_i o[:, i] + b by least squares over all
    P x D values, o (P, n, D). Returns (beta (n), b (D), r2, ridge, constant (n) bool)."""
    o = np.ascontiguousarray(o, dtype=np.float32)
    y = np.ascontiguousarray(y, dtype=np.float32)
    if o.ndim != 3 or y.ndim != 2 or o.shape[0] != y.shape[0] or o.shape[2] != y.shape[1]:
        raise ArgumentError("fact_regress: o (P, n, D) and y (P, D), got %s and %s" % (o.shape, y.shape))
    Pn, n, D = o.shape
    beta, b = np.zeros(n), np.zeros(D)
    r2, ridge, const = c_double(), c_double(), np.zeros(n, dtype=np.int32)
    check(lib().hw_fact_regress(o.ctypes.data, y.ctypes.data, Pn, n, D, beta.ctypes.data_as(PD),
                                b.ctypes.data_as(PD), ctypes.byref(r2), ctypes.byref(ridge),
                                const.ctypes.data_as(POINTER(c_int))), "fact_regress")
    return beta, b, r2.value, ridge.value, const.astype(bool)


class FactsResult(_Result):
    """`headwise facts -o` as a dict: "prompts", "movers" {"attention", "alignment",
    "score" (L, H) float64, "pearson_r", "ranking" ["L-H" ...]}, "regression" (None for
    an attention-only model) {"mlp", "terms", "beta" (n), "constant" [names], "r2",
    "ridge", "norm_scale", "intercept" (D), "readings" [{"term", "beta", "tokens", "ids",
    "logits"}]}, "anti_overconfidence" {"components", "dla", "suppressors", "scale",
    "confidence_before", "confidence_after", "confidence_gained", "answers",
    "accuracy_before", "accuracy_after"}, "per_prompt" {"n_tokens", "topic_pos",
    "topic_token", "top_token", "answer" int arrays, "p_before", "p_after"}; NaN where
    the JSON has null. .info: hw_fact_info as a dict."""

    def _writer(self, path):
        return "hw_fact_write"


def _movers(h, L, H):
    tab = lib().hw_fact_movers(h).contents
    v = copy_array(tab.values, (3, L, H), "movers")
    order = (c_int * (L * H))()
    key = np.ascontiguousarray(v[2].ravel())
    lib().hw_scores_rank(key.ctypes.data_as(PD), L * H, order)
    return {"attention": v[0], "alignment": v[1], "score": v[2],
            "ranking": ["%d-%d" % (i // H, i % H) for i in order]}


def _regression(h, info, D):
    L = lib()
    n = info.n_terms
    names = [L.hw_fact_term_name(h, i).decode() for i in range(n)]
    const = copy_array(L.hw_fact_constant(h), (n,), "constant")
    readings = []
    rd = FactReading()
    for k in range(info.n_readings):
        check(L.hw_fact_get_reading(h, k, ctypes.byref(rd)))
        K = info.top_k
        readings.append({"term": rd.name.decode(), "beta": rd.beta,
                         "tokens": [_text(rd.text[j]) for j in range(K)],
                         "ids": copy_array(rd.ids, (K,), "ids"), "logits": copy_array(rd.logits, (K,), "logits")})
    return {"mlp": info.mlp_layer, "terms": names, "beta": copy_array(L.hw_fact_betas(h), (n,), "beta"),
            "constant": [t for t, c in zip(names, const) if c], "r2": info.r2, "ridge": info.ridge,
            "norm_scale": info.norm_scale, "intercept": copy_array(L.hw_fact_intercept(h), (D,), "intercept"),
            "readings": readings}


def _final(h, info):
    L = lib()
    n = info.n_final
    names = [L.hw_fact_final_name(h, k).decode() for k in range(n)]
    sup = copy_array(L.hw_fact_final_suppressed(h), (n,), "suppressed")
    return {"components": names, "dla": copy_array(L.hw_fact_final_dla(h), (n,), "dla"),
            "suppressors": [c for c, s in zip(names, sup) if s], "scale": float(info.mitigate_scale),
            "confidence_before": info.confidence_before, "confidence_after": info.confidence_after,
            "confidence_gained": info.confidence_after - info.confidence_before, "answers": info.n_answers,
            "accuracy_before": info.accuracy_before, "accuracy_after": info.accuracy_after}


def _per_prompt(h, n):
    pi = copy_array(lib().hw_fact_prompt_info(h), (n, 5), "prompts")
    pr = copy_array(lib().hw_fact_prompt_probs(h), (n, 2), "probs")
    out = {c: pi[:, k] for k, c in enumerate(["n_tokens", "topic_pos", "topic_token", "top_token", "answer"])}
    out["p_before"], out["p_after"] = pr[:, 0], pr[:, 1]
    return out


def facts(model, *, prompts=None, task=None, samples=None, task_seed=None, task_symbols=None,
          shape="all", topic="subject", mlp=None, top=None, terms=None, mitigate=None, out=None,
          progress=None):
    """`headwise facts`: Lv et al.'s factual-recall pipeline (methods.md 7), hw_fact_run.

    prompts: a file of prompt<TAB>topic[<TAB>answer] lines (the topic token: the topic's
    token at its last occurrence in the prompt); or task="recall" (samples, task_seed,
    task_symbols; shape "all", "plain" or "counterfactual"; topic "subject" or "context",
    the in-context attribute of counterfactual samples). mlp: the MLP regressed (default
    the last layer's); top: tokens per logit-lens reading (default 10); terms: terms read
    (default 10); mitigate: the scale of the final-layer components that push the top
    token down (default 0). out: the JSON, as `-o`.

    Returns FactsResult."""
    m, progress = _start(model, progress)
    if (prompts is None) == (task is None):
        raise ArgumentError("give prompts (a file: prompt, topic) or task='recall'")
    if task is not None and task != "recall":
        raise ArgumentError("task: %r is not 'recall'" % (task,))
    if prompts is not None and (shape != "all" or topic != "subject"):
        raise ArgumentError("shape and topic go with task='recall'")
    v = _ranges(dict(task=task, samples=samples, task_seed=task_seed, task_symbols=task_symbols,
                     mlp=mlp, top=top, terms=terms, mitigate=mitigate),
                dict(_TASK_RANGES, mlp=(0, 1 << 20), top=(1, 1 << 20), terms=(0, 1 << 20),
                     mitigate=(-1e6, 1e6, float)))
    v["shape"] = _choice(shape, "shape", {"all": 0, "plain": 1, "counterfactual": 2})
    v["topic"] = _choice(topic, "topic", {"subject": 0, "context": 1})
    if prompts is not None:
        fsencode(prompts, "prompts")
    p = make_params(lib().hw_fact_params_default, v, fname="facts",
                    aliases=dict(_TASK_FIELDS, mlp="mlp_layer", top="top_k", terms="top_terms",
                                 mitigate="mitigate_scale"))
    _outputs(("out", out))
    ps = _read_prompts(prompts, 1) if prompts is not None else None
    if ps is not None:
        p.prompts = ps.handle
    L = lib()
    r = _run(L.hw_fact_run, m, p, progress, L.hw_fact_free)
    h = r.handle
    info = FactInfo()
    L.hw_fact_get_info(h, ctypes.byref(info))
    cfg = m.config
    res = FactsResult()
    res["prompts"] = info.n_prompts
    res["movers"] = _movers(h, cfg.n_layer, cfg.n_head)
    res["movers"]["pearson_r"] = info.pearson_r
    res["regression"] = _regression(h, info, cfg.d_model) if info.mlp_layer >= 0 else None
    res["anti_overconfidence"] = _final(h, info)
    res["per_prompt"] = _per_prompt(h, info.n_prompts)
    res.info = {f: getattr(info, f) for f, _ in FactInfo._fields_}
    res._init(r, m)
    if out is not None:
        res.write(out)
    return res


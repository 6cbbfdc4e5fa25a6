"""KV-cache policies (include/headwise.h, "KV-cache policies"): which positions each
(layer, KV head) keeps in the cache of a run. A full head keeps every position; a
streaming head keeps its first `sink` positions and a ring of the last `recent` (the
current token counted), so its cache really is sink + recent entries. Prefill runs in
chunks with DuoAttention's semantics (a streaming head sees the whole current chunk).

Every function that runs the model takes kv=: None (every head full, the default), the
CLI's --kv text ("full", "window:sink=4,recent=32", ...), or a KVPolicy made once and
reused."""
import ctypes

import numpy as np

from . import _args
from ._capi import ArgumentError, Error, check, check_handle, last_error, lib
from ._protocol import Owned

__all__ = ["KVPolicy"]

_COMPENSATION = ("none", "mean", "weighted")


def _parse_window(L, m, spec):
    """TODO(issue 14): hw_kv_policy_parse (src/methods/kv_spec.c, branch duofiles) reads
    every spelling; until the library has it, "full" and
    "window:sink=S,recent=R[,chunk=N]" are read here, as cli/load.c's stand-in does."""
    v = {"sink": None, "recent": None, "chunk": 0}
    if spec == "full":
        v.update(sink=0, recent=0)
    elif spec.startswith("window:"):
        for item in spec[7:].split(","):
            k, eq, x = item.partition("=")
            if not eq or k not in v or not x.isdigit() or int(x) > 1 << 30:
                raise ArgumentError("kv: %r in %r is not sink=S, recent=R or chunk=N with N a "
                                    "whole number" % (item, spec))
            v[k] = int(x)
        if v["sink"] is None or not v["recent"]:
            raise ArgumentError("kv: %r: give sink=S (S >= 0) and recent=R (R >= 1)" % spec)
    else:
        raise ArgumentError("kv: %r is not full or window:sink=S,recent=R[,chunk=N]" % spec)
    p = check_handle(L.hw_kv_policy_new(m, v["sink"], v["recent"], v["chunk"], 0), "kv")
    if L.hw_kv_policy_set_name(p, spec.encode()) != 0:
        L.hw_kv_policy_free(p)
        raise Error(last_error())
    return p


class KVPolicy:
    """A KV-cache policy for one model's shape.

    KVPolicy(model, spec): spec is the CLI's --kv text, read by the library
    (hw_kv_policy_parse): "full", "window:sink=S,recent=R[,chunk=N]", and the duo and
    razor spellings. A bad spec raises headwise.ArgumentError.

    .name, .sink, .recent, .chunk, .compensation ("none", "mean", "weighted"),
    .full (L, Hk) bool: which KV heads keep every position, .full_count."""

    def __init__(self, model, spec):
        if not isinstance(spec, str):
            raise ArgumentError("kv: expected a policy text such as 'window:sink=4,recent=32', "
                                "got %r" % (spec,))
        _args.text(spec, "kv")
        L = lib()
        if hasattr(L._cdll, "hw_kv_policy_parse"):
            h = L.hw_kv_policy_parse(model._m, model._t, spec.encode("utf-8"))
            if not h:
                raise ArgumentError("kv: %s" % last_error())
        else:
            h = _parse_window(L, model._m, spec)
        self._p = Owned(h, L.hw_kv_policy_free)
        self.shape = (model.config.n_layer, model.config.n_kv_head)

    @classmethod
    def of(cls, model, kv):
        """kv as a KVPolicy for model: None stays None (every head full), a str is
        parsed, a KVPolicy must fit the model's layers and KV heads."""
        if kv is None:
            return None
        if isinstance(kv, KVPolicy):
            want = (model.config.n_layer, model.config.n_kv_head)
            if kv.shape != want:
                raise ArgumentError("kv: a policy for %d layers x %d KV heads, the model has "
                                    "%d x %d" % (kv.shape + want))
            return kv
        return cls(model, kv)

    @property
    def _as_parameter_(self):
        return self._p._as_parameter_

    @property
    def name(self):
        return lib().hw_kv_policy_name(self).decode("utf-8", "replace")

    @property
    def sink(self):
        return lib().hw_kv_policy_sink(self)

    @property
    def recent(self):
        return lib().hw_kv_policy_recent(self)

    @property
    def chunk(self):
        return lib().hw_kv_policy_chunk(self)

    @property
    def compensation(self):
        return _COMPENSATION[lib().hw_kv_policy_compensation(self)]

    @property
    def full(self):
        L = lib()
        nl, nk = self.shape
        return np.array([[bool(L.hw_kv_policy_is_full(self, l, k)) for k in range(nk)]
                         for l in range(nl)], dtype=bool).reshape(nl, nk)

    @property
    def full_count(self):
        return lib().hw_kv_policy_full_count(self)

    def close(self):
        self._p.close()

    def __repr__(self):
        return "KVPolicy(%r: %d of %d KV heads full, sink %d, recent %d)" % (
            self.name, self.full_count, self.shape[0] * self.shape[1], self.sink, self.recent)


def kv_bytes(model, kv=None, context=None):
    """(L, Hk) int64: the bytes of KV cache (keys and values, the compensation entry
    included) a context of `context` positions (None: the model's) holds per layer and
    KV head under kv (hw_context_kv_bytes). The context is made to measure it."""
    pol = KVPolicy.of(model, kv)
    n = model.config.n_ctx if context is None else _args.integer(context, "context", 1, 1 << 30)
    L = lib()
    ctx = Owned(check_handle(L.hw_context_new_kv(model._m, n, pol), "kv_bytes"), L.hw_context_free)
    try:
        nl, nk = model.config.n_layer, model.config.n_kv_head
        return np.array([[L.hw_context_kv_bytes(ctx, l, k) for k in range(nk)] for l in range(nl)],
                        dtype=np.int64).reshape(nl, nk)
    finally:
        ctx.close()

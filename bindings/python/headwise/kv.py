"""KV-cache policies (include/headwise.h, "KV-cache policies"): which positions each
(layer, KV head) keeps in the cache of a run. A full head keeps every position; a
streaming head keeps its first `sink` positions and a ring of the last `recent` (the
current token counted), so its cache really is sink + recent entries. Prefill runs in
chunks with DuoAttention's semantics (a streaming head sees the whole current chunk).

Every function that runs the model takes kv=: None (every head full, the default), the
CLI's --kv text ("full", "window:sink=4,recent=32", ...), or a KVPolicy made once and
reused."""
import numpy as np

from . import _args
from ._capi import ArgumentError, check_handle, last_error, lib
from ._protocol import Owned

__all__ = ["KVPolicy"]

_COMPENSATION = ("none", "mean", "weighted")


class KVPolicy:
    """A KV-cache policy for one model's shape.

    KVPolicy(model, spec): spec is the CLI's --kv text, read by the library
    (hw_kv_policy_parse): "full", "window[:sink=64,recent=256]",
    "duo:heads=FILE[,top=F|sparsity=S][,sink=64,recent=256]",
    "razor[:sink=4,recent=256,compensation=weighted|mean|none,heads=FILE]", each with an
    optional chunk=N. A bad spec (or heads file) raises headwise.ArgumentError.

    .name, .sink, .recent, .chunk, .compensation ("none", "mean", "weighted"),
    .full (L, Hk) bool: which KV heads keep every position, .full_count."""

    def __init__(self, model, spec):
        if not isinstance(spec, str):
            raise ArgumentError("kv: expected a policy text such as 'window:sink=4,recent=32', "
                                "got %r" % (spec,))
        _args.text(spec, "kv")
        L = lib()
        h = L.hw_kv_policy_parse(model._m, model._t, spec.encode("utf-8"))
        if not h:
            raise ArgumentError("kv: %s" % last_error())
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

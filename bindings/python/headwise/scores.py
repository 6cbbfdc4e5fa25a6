"""Head scores: the opaque hw_head_scores of the library, a file in the Retrieval
Head repository's layout {"L-H": [per-trial values]}, as `headwise score ...`
writes and reads them."""
import ctypes

import numpy as np

from . import _args
from ._capi import check, check_handle, fsencode, lib
from ._protocol import Owned, copy_array, fill_array

__all__ = ["HeadScores", "read_head_scores"]


class HeadScores:
    """Per-head lists of values (one per successful trial, or one score) for an
    (L, H) grid of query heads.

    .mean       (L, H) float64 array: each head's mean (0 for an empty list)
    .per_trial  {(layer, head): [values]} for every head, layer then head order
    .write(path)   the {"L-H": [...]} file, atomically
    .ranking()     [(layer, head, mean)] highest first (ties to the lower index), as the
                   CLI ranks
    .copy()        a HeadScores of the same values, independent of this one

    HeadScores(L, H) starts empty; append(layer, head, value) adds a value."""

    def __init__(self, n_layer, n_head):
        n_layer = _args.integer(n_layer, "n_layer", 1)
        n_head = _args.integer(n_head, "n_head", 1)
        self._own = Owned(check_handle(lib().hw_head_scores_new(n_layer, n_head), "head scores"),
                          lib().hw_head_scores_free)

    @classmethod
    def _adopt(cls, handle):
        """Take ownership of an hw_head_scores * (freed with this object)."""
        self = cls.__new__(cls)
        self._own = Owned(check_handle(handle, "head scores"), lib().hw_head_scores_free)
        return self

    @classmethod
    def _copy_of(cls, handle):
        """A copy of an hw_head_scores the library owns (a protocol result's), so
        that it outlives the result."""
        L, H = lib().hw_head_scores_layers(handle), lib().hw_head_scores_heads(handle)
        self = cls(L, H)
        for (l, h), values in _per_trial(handle, L, H).items():
            for v in values:
                check(lib().hw_head_scores_append(self._own.handle, l, h, v))
        return self

    @property
    def _as_parameter_(self):
        return self._own._as_parameter_

    @property
    def shape(self):
        """(L, H)."""
        h = self._as_parameter_
        return lib().hw_head_scores_layers(h), lib().hw_head_scores_heads(h)

    @property
    def mean(self):
        return fill_array(lib().hw_head_scores_mean, self._as_parameter_, shape=self.shape)

    @property
    def per_trial(self):
        L, H = self.shape
        return _per_trial(self._as_parameter_, L, H)

    def values(self, layer, head):
        """The values of one head, as a list."""
        L, H = self.shape
        l, h = _args.head((layer, head), L, H)
        return _values(self._as_parameter_, l, h)

    def append(self, layer, head, value):
        L, H = self.shape
        l, h = _args.head((layer, head), L, H)
        check(lib().hw_head_scores_append(self._as_parameter_, l, h,
                                          _args.finite(value, "value")))

    def ranking(self):
        """Every head as (layer, head, mean score), highest first; ties go to the
        lower index (hw_scores_rank, the order `headwise heads` prints)."""
        L, H = self.shape
        mean = np.ascontiguousarray(self.mean.ravel())
        order = (ctypes.c_int * (L * H))()
        lib().hw_scores_rank(mean.ctypes.data_as(ctypes.POINTER(ctypes.c_double)), L * H, order)
        return [(i // H, i % H, float(mean[i])) for i in order]

    def copy(self):
        """A new HeadScores with the same values (one append per value)."""
        return HeadScores._copy_of(self._as_parameter_)

    def write(self, path):
        check(lib().hw_head_scores_write(self._as_parameter_, fsencode(path)), "write head scores")

    def close(self):
        """Free the C object now (it is also freed when garbage)."""
        self._own.close()

    def __repr__(self):
        L, H = self.shape
        return "HeadScores(%d layers, %d heads)" % (L, H)


def _values(handle, l, h):
    n = ctypes.c_int()
    ptr = lib().hw_head_scores_values(handle, l, h, ctypes.byref(n))
    return copy_array(ptr, (n.value,)).tolist() if n.value else []


def _per_trial(handle, L, H):
    return {(l, h): _values(handle, l, h) for l in range(L) for h in range(H)}


def read_head_scores(path):
    """A head-score file ({"L-H": [values]} or {"L-H": number}, ours or a published
    one) as HeadScores; Error with the library's message if it is malformed."""
    return HeadScores._adopt(lib().hw_head_scores_read(fsencode(path)))

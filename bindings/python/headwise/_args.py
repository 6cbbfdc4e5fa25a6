"""Argument checks done in Python before any C call: heads, phases, integers,
finite numbers, token ids. Each failure is an ArgumentError naming the argument,
so a wrong value never reaches C (where it could only fail later, or silently)."""
import math
import numbers
import operator

from ._capi import ArgumentError

PHASES = {"both": 0, "prefill": 1, "decode": 2}   # hw_phase


def integer(value, name, lo=None, hi=None):
    """value as an int (Python or NumPy integer; bool and float refused) in [lo, hi]."""
    try:
        if isinstance(value, (bool, float, str, bytes)):   # index() takes bool; the rest are not ids
            raise TypeError
        value = int(operator.index(value))
    except TypeError:
        raise ArgumentError("%s: expected an integer, got %r" % (name, value)) from None
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        if hi is None:
            rng = ">= %d" % lo
        elif lo is None:
            rng = "<= %d" % hi
        else:
            rng = "in [%d, %d]" % (lo, hi)
        raise ArgumentError("%s: %d is not %s" % (name, value, rng))
    return value


def finite(value, name, lo=None, hi=None, single=False):
    """value as a finite float in [lo, hi]; single: it must also be finite as a C
    float (1e39 is not)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentError("%s: expected a number, got %r" % (name, value))
    v = float(value)
    if not math.isfinite(v) or (single and abs(v) > 3.4028234663852886e38):
        raise ArgumentError("%s: %r is not a finite number" % (name, value))
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ArgumentError("%s: %r is not in [%s, %s]" % (name, value, lo, hi))
    return v


def phase(value):
    if isinstance(value, str) and value in PHASES:
        return PHASES[value]
    raise ArgumentError("phase: %r is not 'both', 'prefill' or 'decode'" % (value,))


def head(value, n_layer, n_head, name="head"):
    """A head as (layer, head) from "L.H" or an (L, H) pair (tuple, list, array),
    checked against the model's L layers and H query heads."""
    if isinstance(value, str):
        parts = value.strip().split(".")
        if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
            raise ArgumentError("%s: %r is not LAYER.HEAD (e.g. '3.1')" % (name, value))
        lh = (int(parts[0]), int(parts[1]))
    elif not isinstance(value, (bytes, dict)) and hasattr(value, "__len__") and len(value) == 2:
        lh = (integer(value[0], name + " layer"), integer(value[1], name + " head"))
    else:
        raise ArgumentError("%s: %r is neither 'L.H' nor an (L, H) pair" % (name, value))
    if not 0 <= lh[0] < n_layer or not 0 <= lh[1] < n_head:
        raise ArgumentError("%s: head %d.%d is outside the model (%d layers, %d heads)"
                            % (name, lh[0], lh[1], n_layer, n_head))
    return lh


def heads(value, n_layer, n_head, name="heads"):
    """Heads from "L.H", "L.H,L.H", an (L, H) pair, or an iterable of those."""
    if value is None:
        return []
    if isinstance(value, str):
        items = [s for s in value.split(",") if s.strip()] or [value]
    elif isinstance(value, tuple) and len(value) == 2 and not isinstance(value[0], (str, tuple, list)):
        items = [value]
    else:
        try:
            items = list(value)
        except TypeError:
            raise ArgumentError("%s: %r is not a head or a list of heads" % (name, value)) from None
    return [head(v, n_layer, n_head, name) for v in items]


def token_ids(value, vocab_size, name="tokens"):
    """A non-empty sequence of token ids in [0, vocab_size), as a list of ints."""
    try:
        ids = list(value)
    except TypeError:
        raise ArgumentError("%s: expected a sequence of token ids, got %r" % (name, value)) from None
    out = []
    for i, t in enumerate(ids):
        t = integer(t, "%s[%d]" % (name, i))
        if not 0 <= t < vocab_size:
            raise ArgumentError("%s[%d]: token id %d is outside the vocabulary (%d)"
                                % (name, i, t, vocab_size))
        out.append(t)
    return out


def text(value, name="text"):
    """UTF-8 bytes of a str for C (which stops at a NUL byte, so one is refused)."""
    if not isinstance(value, str):
        raise ArgumentError("%s: expected a str, got %s" % (name, type(value).__name__))
    try:
        b = value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ArgumentError("%s: not encodable as UTF-8 (%s)" % (name, e.reason)) from None
    if b"\0" in b:
        raise ArgumentError("%s: holds a NUL character" % name)
    return b

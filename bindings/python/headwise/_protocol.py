"""Shared machinery for wrapping a library protocol (house style, design.md):

    hw_X_params p = hw_X_params_default();   ->  make_params(lib().hw_X_params_default, flags, ...)
    hw_X_run(m, t, &p, progress, user, &r)   ->  run_method(lib().hw_X_run, m, t, params=p, ...)
    hw_X_result_*(r, ...)                    ->  fill_array / copy_array / out_values / heads_from

so that each function of protocols.py (score_retrieval, mask_test, sweep_scale, ...)
stays a few lines: declare the struct and prototypes, map the CLI's flags to
fields, call, read the result. A sketch, for a params struct mirrored in ctypes
as RetrievalParams and its result:

    _capi.declare("hw_retrieval_params_default", RetrievalParams, [])
    _capi.declare("hw_retrieval_run", c_int, [P, P, POINTER(RetrievalParams), PROGRESS_FN,
                                              c_void_p, POINTER(c_void_p)])
    def score_retrieval(model, *, progress=None, **flags):
        p = make_params(lib().hw_retrieval_params_default, flags, model=model,
                        aliases={"depths": "niah.n_depths", "o": "out"})
        r = Owned(run_method(lib().hw_retrieval_run, model._m, model._t, params=p,
                             progress=progress, free=lib().hw_retrieval_result_free),
                  lib().hw_retrieval_result_free)
        return HeadScores._copy_of(lib().hw_retrieval_result_scores(r.handle))
"""
import ctypes
import os
import sys
import time
import weakref

import numpy as np

from . import _args
from ._capi import (ArgumentError, Error, Head, PROGRESS_FN, check, lib)

__all__ = ["Callback", "Progress", "make_params", "run_method", "Owned", "fill_array",
           "copy_array", "out_values", "heads_from"]


# ------------------------------------------------------------------ callbacks

class Callback:
    """A Python callable as a C callback that never lets an exception into C.

    ctypes would print an exception raised in a callback and hand C a 0 ("go
    on"); instead the first exception (KeyboardInterrupt included) is kept, C is
    told to stop (`stop_value`), and reraise() raises it once the C call has
    returned. Keep the Callback alive for as long as C may call it."""

    def __init__(self, cfunctype, fn, stop_value=1):
        self.fn = fn
        self.error = None
        self.stop_value = stop_value

        def thunk(*args):
            if self.error is not None:      # already stopping: never re-enter user code
                return self.stop_value
            try:
                r = self.fn(*args)
                return 0 if r is None else int(r)
            except BaseException as e:      # noqa: B902 -- KeyboardInterrupt must stop C too
                self.error = e
                return self.stop_value

        self.c = cfunctype(thunk)

    def reraise(self):
        """Raise the exception a call of the callback raised, if any."""
        if self.error is not None:
            e, self.error = self.error, None
            raise e


class _Bar:
    """progress=True: a one-line progress report on stderr, at most ten a second."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.last = 0.0
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def __call__(self, stage, done, total):
        now = time.monotonic()
        if now - self.last < 0.1 and not (total and done >= total):
            return False
        self.last = now
        pct = " (%d%%)" % (100 * done // total) if total > 0 else ""
        count = "%d/%d" % (done, total) if total > 0 else "%d" % done
        line = "%s %s%s" % (stage, count, pct)
        if self.tty:
            self.stream.write("\r\033[K" + line + ("\n" if total and done >= total else ""))
        else:
            self.stream.write(line + "\n")
        self.stream.flush()
        return False


class Progress(Callback):
    """An hw_progress_fn. progress is None/False (silent), True (a line on
    stderr), or a callable fn(stage: str, done: int, total: int) that returns a
    true value to stop the method. Whatever it is, a Ctrl-C while the method runs
    reaches Python at the next progress call (signals are handled when Python code
    runs), stops the method by returning non-zero, and run_method re-raises the
    KeyboardInterrupt; so a progress callback is always passed, never NULL."""

    def __init__(self, progress=None):
        if progress is True:
            user = _Bar()
        elif progress is None or progress is False:
            user = None
        elif callable(progress):
            user = progress
        else:
            raise ArgumentError("progress: expected None, True, False or a callable, got %r"
                                % (progress,))

        def call(stage, done, total, _user):
            if user is None:
                return 0
            s = stage.decode("utf-8", "replace") if stage else ""
            return 1 if user(s, int(done), int(total)) else 0

        super().__init__(PROGRESS_FN, call)


# ------------------------------------------------------------------ params structs

_INT_TYPES = {ctypes.c_int: (32, True), ctypes.c_int32: (32, True), ctypes.c_int64: (64, True),
              ctypes.c_uint32: (32, False), ctypes.c_uint64: (64, False),
              ctypes.c_size_t: (8 * ctypes.sizeof(ctypes.c_size_t), False),
              ctypes.c_long: (8 * ctypes.sizeof(ctypes.c_long), True)}


def _field_type(struct, name):
    for f in struct._fields_:
        if f[0] == name:
            return f[1]
    return None


def _convert(ctype, value, name, model, enums, keep):
    """value for a field of C type ctype, checked; what C points to is kept in keep."""
    if isinstance(value, Callback):
        keep.append(value)
        return value.c
    if ctype in _INT_TYPES:
        if name in enums and isinstance(value, str):
            if value not in enums[name]:
                raise ArgumentError("%s: %r is not one of %s" % (name, value, ", ".join(enums[name])))
            return enums[name][value]
        if isinstance(value, bool):
            value = int(value)
        bits, signed = _INT_TYPES[ctype]
        lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        return _args.integer(value, name, lo, hi)
    if ctype in (ctypes.c_float, ctypes.c_double):
        return _args.finite(value, name, single=ctype is ctypes.c_float)
    if ctype is ctypes.c_char_p:
        if value is None:
            return None
        b = _args.text(value, name) if isinstance(value, str) else None
        if b is None:
            from ._capi import fsencode
            b = fsencode(value, name)
        keep.append(b)
        return b
    if ctype is Head:
        if model is None:
            raise ArgumentError("%s: a head needs the model to check it against" % name)
        cfg = model.config
        return Head(*_args.head(value, cfg.n_layer, cfg.n_head, name))
    if ctype is ctypes.c_void_p:
        # An opaque handle (const hw_head_scores *, const hw_prompts *, ...): any
        # object with _as_parameter_ (HeadScores), kept alive with the params.
        if value is None:
            return None
        handle = getattr(value, "_as_parameter_", value)
        if not isinstance(handle, int):
            raise ArgumentError("%s: expected a headwise object, got %s" % (name, type(value).__name__))
        keep.append(value)
        return handle
    if isinstance(ctype, type) and issubclass(ctype, ctypes._Pointer):
        return _array(ctype._type_, value, name, model, keep)
    raise ArgumentError("%s: cannot set a field of type %s from Python" % (name, ctype.__name__))


def _array(elem, value, name, model, keep):
    """A sequence as a C array of elem (POINTER fields that come with a count)."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)) and elem is not ctypes.c_char_p:
        raise ArgumentError("%s: expected a sequence, got %r" % (name, value))
    if isinstance(value, (str, bytes, os.PathLike)) and elem is ctypes.c_char_p:
        value = [value]
    if elem is Head and model is not None:
        cfg = model.config
        items = [Head(*lh) for lh in _args.heads(value, cfg.n_layer, cfg.n_head, name)]
    else:
        try:
            seq = list(np.asarray(value).ravel()) if isinstance(value, np.ndarray) else list(value)
        except TypeError:
            raise ArgumentError("%s: expected a sequence, got %r" % (name, value)) from None
        items = [_convert(elem, v, "%s[%d]" % (name, i), model, {}, keep) for i, v in enumerate(seq)]
    arr = (elem * max(len(items), 1))(*items)
    keep.append(arr)
    return ctypes.cast(arr, ctypes.POINTER(elem)), len(items)


def make_params(defaults, values, *, model=None, aliases=None, counts=None, enums=None,
                fname="params"):
    """A params struct: defaults() (the C hw_X_params_default, or any callable
    returning the struct) with the fields in values set.

    values: {name: value}; a name is a field, a dotted path into nested structs
      ("niah.n_depths"), or a key of aliases (a CLI flag's name -> such a path).
      A nested struct also takes a dict. None leaves the default.
    counts: {array field path: count field path}: a sequence given for a POINTER
      field becomes a C array and its length goes to the count field.
    enums: {field path: {"name": value}} for enum fields given as strings.
    model: checks heads ("L.H", (L, H)) given for hw_head fields.

    Every value is checked (integers in the field's range, finite numbers, paths
    without NUL) and an unknown name is a TypeError, as for any Python function.
    What C points to (strings, arrays, objects) is kept alive by the struct."""
    aliases = aliases or {}
    counts = counts or {}
    enums = enums or {}
    p = defaults()
    keep = []

    def nested(ctype):
        return isinstance(ctype, type) and issubclass(ctype, ctypes.Structure) and ctype is not Head

    def assign(struct, path, value, prefix=""):
        head, _, rest = path.partition(".")
        ctype = _field_type(type(struct), head)
        if ctype is None or (rest and not nested(ctype)):
            raise TypeError("%s() got an unexpected keyword argument %r" % (fname, prefix + path))
        if rest:
            return assign(getattr(struct, head), rest, value, prefix + head + ".")
        if isinstance(value, dict) and nested(ctype):
            for k, v in value.items():
                if v is not None:
                    assign(getattr(struct, head), k, v, prefix + head + ".")
            return None
        full = prefix + head
        v = _convert(ctype, value, full, model, enums, keep)
        if isinstance(v, tuple):        # an array, and its length for the count field
            if full not in counts:
                raise TypeError("%s(): %r is an array field with no count field" % (fname, full))
            setattr(struct, head, v[0])
            assign(p, counts[full], v[1])
        else:
            setattr(struct, head, v)

    for name, value in values.items():
        if value is not None:
            assign(p, aliases.get(name, name), value)
    p._keep = keep
    return p


# ------------------------------------------------------------------ running and results

def _handles(args):
    """Objects with _as_parameter_ (Owned, HeadScores) resolved before the call:
    ctypes would turn an Error raised there (a closed object) into its own
    ArgumentError."""
    return [a._as_parameter_ if isinstance(getattr(type(a), "_as_parameter_", None), property)
            else a for a in args]


def run_method(fn, *args, params, progress=None, free=None):
    """fn(*args, &params, progress_fn, NULL, &result) as every hw_X_run is called;
    returns the result handle. A KeyboardInterrupt (or an exception from the
    progress callable) during the run stops it and is re-raised here; a failure is
    an Error with the library's message. free(result) is called on a result that
    came back together with an exception."""
    cb = progress if isinstance(progress, Progress) else Progress(progress)
    out = ctypes.c_void_p()
    status = fn(*_handles(args), ctypes.byref(params), cb.c, None, ctypes.byref(out))
    if cb.error is not None or status != 0:
        if out.value and free is not None:
            free(out.value)
        cb.reraise()
        check(status)
    return out.value


class Owned:
    """A C handle freed with free_fn when this object is garbage (or at close())."""

    def __init__(self, handle, free_fn):
        if not handle:
            raise Error("no handle")
        self.handle = handle
        self._finalizer = weakref.finalize(self, free_fn, handle)

    @property
    def _as_parameter_(self):
        if not self._finalizer.alive:
            raise Error("the object was closed")
        return self.handle

    def close(self):
        self._finalizer()


def fill_array(fn, *args, shape, dtype=np.float64, status=False):
    """fn(*args, out) where C fills out (e.g. hw_head_scores_mean(s, mean) into (L, H));
    returns out as a new NumPy array. status: fn returns an hw_status to check."""
    out = np.zeros(shape, dtype=dtype)
    ctype = np.ctypeslib.as_ctypes_type(out.dtype)
    r = fn(*_handles(args), out.ctypes.data_as(ctypes.POINTER(ctype)))
    if status:
        check(r)
    return out


def copy_array(ptr, shape, what="result"):
    """A copy of the C array ptr points to (const double *, const float *, ...) as
    a NumPy array of shape; NULL is an Error naming `what`."""
    if not ptr:
        raise Error("%s: no data" % what)
    n = int(np.prod(shape))
    if n == 0:
        return np.zeros(shape, dtype=np.ctypeslib.as_array(ptr, (1,)).dtype)
    return np.ctypeslib.as_array(ptr, (n,)).reshape(shape).copy()


def out_values(fn, *args, types=(ctypes.c_double, ctypes.c_double)):
    """Accessors with out parameters, e.g. hw_mask_test_result_baseline(r, &exact,
    &recall): returns (fn's return value, (exact, recall))."""
    outs = [t() for t in types]
    r = fn(*_handles(args), *[ctypes.byref(o) for o in outs])
    return r, tuple(o.value for o in outs)


def heads_from(ptr, n):
    """A const hw_head * array of n heads as a list of (layer, head) pairs."""
    if not ptr:
        return []
    return [(ptr[i].layer, ptr[i].head) for i in range(n)]


"""The C API of libheadwise as ctypes sees it: finding and loading the library,
structs that mirror include/headwise.h field for field, function prototypes, and
the one place where a failed C call becomes a Python exception.

Nothing here is public; the package's modules build on `lib()`, `check()` and
the struct classes. tests/test_machinery.py compares every struct below with
the header, so a field added in C without its mirror here fails a test instead
of shifting every later field in memory.
"""
import ctypes
import ctypes.util
import os

from ctypes import (POINTER, CFUNCTYPE, Structure, c_char, c_char_p, c_double, c_float, c_int,
                    c_int64, c_size_t, c_uint64, c_void_p)

__all__ = ["Error", "ArgumentError", "lib", "library_path", "check", "check_handle",
           "last_error", "fsencode"]


class Error(RuntimeError):
    """A failure reported by libheadwise (the message is its hw_last_error()) or
    found by the binding before calling it. `status` is the hw_status code
    (HW_ERR_ARG = 4 for arguments refused in Python)."""

    def __init__(self, message, status=None):
        super().__init__(message)
        self.status = status


class ArgumentError(Error, ValueError):
    """A bad argument refused before any C call: also a ValueError, so code that
    expects one catches it."""

    def __init__(self, message):
        super().__init__(message, HW_ERR_ARG)


Error.__module__ = ArgumentError.__module__ = "headwise"   # as users name them


# hw_status values (include/headwise.h).
HW_OK, HW_ERR_IO, HW_ERR_FORMAT, HW_ERR_UNSUPPORTED, HW_ERR_ARG, HW_ERR_RANGE, HW_ERR_NOMEM = range(7)


def fsencode(path, what="path"):
    """A path (str, bytes or os.PathLike) as the bytes C reads; a NUL byte would
    silently cut the name short in C, so it is refused."""
    try:
        b = os.fsencode(path)
    except TypeError:
        raise ArgumentError("%s: expected a path, got %s" % (what, type(path).__name__)) from None
    if b"\0" in b:
        raise ArgumentError("%s: %r holds a NUL byte" % (what, path))
    return b


# ------------------------------------------------------------------ structs
# Enums are C ints. Each struct names its C typedef in _c_name_ for the header check.

class Config(Structure):
    _c_name_ = "hw_config"
    _fields_ = [
        ("arch", c_char * 32), ("n_layer", c_int), ("d_model", c_int), ("n_head", c_int),
        ("n_kv_head", c_int), ("head_dim", c_int), ("d_ff", c_int), ("vocab_size", c_int),
        ("n_ctx", c_int), ("norm", c_int), ("norm_eps", c_float), ("pos", c_int),
        ("rope_layout", c_int), ("rope_theta", c_float), ("rotary_frac", c_float),
        ("rope_scaling", c_int), ("rope_factor", c_float), ("rope_low_freq_factor", c_float),
        ("rope_high_freq_factor", c_float), ("rope_orig_ctx", c_int), ("act", c_int),
        ("qkv_bias", c_int), ("out_bias", c_int), ("mlp_bias", c_int), ("norm_bias", c_int),
        ("parallel_residual", c_int), ("sliding_window", c_int), ("sliding_window_from", c_int),
        ("tied_embeddings", c_int), ("bos_id", c_int), ("eos_id", c_int),
    ]


class ModelInfo(Structure):
    _c_name_ = "hw_model_info"
    _fields_ = [("format", c_char_p), ("dtype", c_char_p), ("n_params", c_int64),
                ("file_bytes", c_int64), ("weight_bytes", c_int64)]


class Head(Structure):
    _c_name_ = "hw_head"
    _fields_ = [("layer", c_int), ("head", c_int)]


class CaptureEntry(Structure):
    _c_name_ = "hw_capture_entry"
    _fields_ = [("point", c_int), ("layer", c_int), ("pos", c_int), ("T", c_int),
                ("decode", c_int), ("ndim", c_int), ("shape", c_int * 3),
                ("data", POINTER(c_float))]


class SamplerParams(Structure):
    _c_name_ = "hw_sampler_params"
    _fields_ = [("temperature", c_float), ("top_p", c_float), ("seed", c_uint64)]


class GenerateParams(Structure):
    _c_name_ = "hw_generate_params"
    _fields_ = [("n_steps", c_int), ("sampler", SamplerParams), ("hooks", c_void_p),
                ("kv", c_void_p)]


# Callback types (include/headwise.h).
PROGRESS_FN = CFUNCTYPE(c_int, c_char_p, c_int64, c_int64, c_void_p)   # hw_progress_fn
PIECE_FN = CFUNCTYPE(c_int, c_void_p, c_size_t, c_void_p)              # hw_piece_fn (bytes not NUL-terminated)
TOKEN_FN = CFUNCTYPE(c_int, c_int, c_int, POINTER(c_float), c_void_p)  # hw_token_fn


class HookCall(Structure):
    _c_name_ = "hw_hook_call"
    _fields_ = [("point", c_int), ("layer", c_int), ("ask", c_int), ("pos", c_int), ("T", c_int),
                ("decode", c_int), ("ndim", c_int), ("shape", c_int * 3),
                ("data", POINTER(c_float)), ("model", c_void_p)]


HOOK_FN = CFUNCTYPE(c_int, POINTER(HookCall), c_void_p)                # hw_hook_fn


class GreedyParams(Structure):
    _c_name_ = "hw_greedy_params"
    _fields_ = [("max_new", c_int), ("stop", c_int), ("decode_last", c_int),
                ("hooks", c_void_p), ("on_token", TOKEN_FN), ("user", c_void_p)]


class TextLossParams(Structure):
    _c_name_ = "hw_text_loss_params"
    _fields_ = [("kv", c_void_p), ("hooks", c_void_p), ("chunk", c_int), ("n_greedy", c_int),
                ("greedy", POINTER(c_int))]


STRUCTS = [Config, ModelInfo, Head, CaptureEntry, SamplerParams, GenerateParams, GreedyParams,
           HookCall, TextLossParams]
CALLBACKS = {"hw_progress_fn": PROGRESS_FN, "hw_piece_fn": PIECE_FN, "hw_token_fn": TOKEN_FN}

# ------------------------------------------------------------------ prototypes
# name: (restype, argtypes). Handles (hw_model *, hw_context *, ...) are c_void_p.

P = c_void_p
_PROTOTYPES = {
    "hw_status_str": (c_char_p, [c_int]),
    "hw_last_error": (c_char_p, []),
    "hw_set_threads": (None, [c_int]),
    "hw_get_threads": (c_int, []),
    "hw_argmax": (c_int, [POINTER(c_float), c_int]),
    "hw_model_load": (P, [c_char_p]),
    "hw_model_free": (None, [P]),
    "hw_model_config": (POINTER(Config), [P]),
    "hw_model_get_info": (None, [P, POINTER(ModelInfo)]),
    "hw_context_new": (P, [P, c_int]),
    "hw_context_free": (None, [P]),
    # KV-cache policies (headwise.h, "KV-cache policies"); hw_kv_policy_parse reads the
    # --kv text (src/methods/kv_spec.c).
    "hw_kv_policy_new": (P, [P, c_int, c_int, c_int, c_int]),
    "hw_kv_policy_parse": (P, [P, P, c_char_p]),
    "hw_kv_policy_copy": (P, [P]),
    "hw_kv_policy_free": (None, [P]),
    "hw_kv_policy_set_full": (c_int, [P, c_int, c_int, c_int]),
    "hw_kv_policy_is_full": (c_int, [P, c_int, c_int]),
    "hw_kv_policy_full_count": (c_int, [P]),
    "hw_kv_policy_layers": (c_int, [P]),
    "hw_kv_policy_kv_heads": (c_int, [P]),
    "hw_kv_policy_sink": (c_int, [P]),
    "hw_kv_policy_recent": (c_int, [P]),
    "hw_kv_policy_chunk": (c_int, [P]),
    "hw_kv_policy_compensation": (c_int, [P]),
    "hw_kv_policy_set_name": (c_int, [P, c_char_p]),
    "hw_kv_policy_name": (c_char_p, [P]),
    "hw_context_new_kv": (P, [P, c_int, P]),
    "hw_context_kv_bytes": (c_size_t, [P, c_int, c_int]),
    "hw_forward_hooked": (c_int, [P, POINTER(c_int), c_int, c_int, POINTER(c_float), P]),
    "hw_hooks_new": (P, []),
    "hw_hooks_free": (None, [P]),
    "hw_hooks_add": (c_int, [P, HOOK_FN, c_void_p]),
    "hw_hook_parse": (c_int, [P, c_char_p, POINTER(c_int), POINTER(c_int)]),
    "hw_hook_name": (c_int, [c_char_p, c_size_t, c_int, c_int]),
    "hw_capture_new": (P, []),
    "hw_capture_free": (None, [P]),
    "hw_capture_want": (c_int, [P, c_int, c_int]),
    "hw_hooks_add_capture": (c_int, [P, P]),
    "hw_capture_count": (c_int, [P]),
    "hw_capture_get": (POINTER(CaptureEntry), [P, c_int]),
    "hw_hooks_mask_uniform": (c_int, [P, POINTER(Head), c_int, c_int]),
    "hw_hooks_zero_output": (c_int, [P, POINTER(Head), c_int, c_int]),
    "hw_hooks_scale": (c_int, [P, POINTER(Head), c_int, c_float, c_int]),
    "hw_hooks_mean_ablate": (c_int, [P, POINTER(Head), c_int, POINTER(c_float), c_int]),
    "hw_mean_z": (c_int, [P, POINTER(POINTER(c_int)), POINTER(c_int), c_int, POINTER(c_float)]),
    "hw_hooks_patch": (c_int, [P, c_int, c_int, P, c_int]),
    "hw_tokenizer_load": (P, [c_char_p, c_int]),
    "hw_tokenizer_load_for_model": (P, [c_char_p, c_int]),
    "hw_tokenizer_path_for_model": (c_int, [c_char_p, ctypes.c_char_p, c_size_t]),
    "hw_tokenizer_free": (None, [P]),
    "hw_tokenizer_vocab_size": (c_int, [P]),
    "hw_tokenizer_bos": (c_int, [P]),
    "hw_tokenizer_eos": (c_int, [P]),
    "hw_tokenizer_encode": (c_int, [P, c_char_p, c_int, POINTER(c_int), c_int]),
    "hw_tokenizer_decode": (c_void_p, [P, c_int, c_int, POINTER(c_size_t)]),
    "hw_sampler_params_default": (SamplerParams, []),
    "hw_generate_params_default": (GenerateParams, []),
    "hw_text_loss_params_default": (TextLossParams, []),
    "hw_text_loss": (c_int, [P, POINTER(c_int), c_int, POINTER(TextLossParams), PROGRESS_FN,
                             c_void_p, POINTER(c_float)]),
    "hw_generate": (c_int, [P, P, c_char_p, GenerateParams, PIECE_FN, c_void_p]),
    "hw_greedy_params_default": (GreedyParams, []),
    "hw_greedy": (c_int, [P, P, POINTER(c_int), c_int, POINTER(GreedyParams), POINTER(c_int),
                          c_char_p, c_size_t]),
    "hw_head_scores_new": (P, [c_int, c_int]),
    "hw_head_scores_free": (None, [P]),
    "hw_head_scores_layers": (c_int, [P]),
    "hw_head_scores_heads": (c_int, [P]),
    "hw_head_scores_values": (POINTER(c_double), [P, c_int, c_int, POINTER(c_int)]),
    "hw_head_scores_append": (c_int, [P, c_int, c_int, c_double]),
    "hw_head_scores_mean": (None, [P, POINTER(c_double)]),
    "hw_head_scores_read": (P, [c_char_p]),
    "hw_head_scores_write": (c_int, [P, c_char_p]),
    "hw_scores_rank": (None, [POINTER(c_double), c_int, POINTER(c_int)]),
}


def declare(name, restype, argtypes):
    """Add a prototype (protocols.py declares its own functions this way); the
    symbol is looked up when first used, so a library without it fails only the
    call that needs it."""
    _PROTOTYPES[name] = (restype, list(argtypes))
    if _lib is not None:
        _lib._bound.pop(name, None)


class _Lib:
    """The loaded library; attribute access binds a prototype from _PROTOTYPES."""

    def __init__(self, cdll, path):
        self._cdll = cdll
        self.path = path
        self._bound = {}

    def __getattr__(self, name):
        if not name.startswith("hw_"):
            raise AttributeError(name)
        fn = self._bound.get(name)
        if fn is None:
            if name not in _PROTOTYPES:
                raise AttributeError("no prototype for %s in headwise._capi" % name)
            try:
                fn = getattr(self._cdll, name)
            except AttributeError:
                raise Error("%s has no function %s (an older library than this binding?)"
                            % (self.path, name)) from None
            fn.restype, fn.argtypes = _PROTOTYPES[name]
            self._bound[name] = fn
        return fn


_lib = None


def _candidates():
    """Where the library is looked for, in order: $HEADWISE_LIB, the build tree this
    package sits in (bindings/python/headwise -> ../../..), the system loader."""
    env = os.environ.get("HEADWISE_LIB")
    if env:
        return [("HEADWISE_LIB", env)]
    root = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", ".."))
    found = [("build tree", os.path.join(root, rel))
             for rel in ("build/current/libheadwise.so", "build/rel/libheadwise.so")]
    found = [c for c in found if os.path.isfile(c[1])]
    name = ctypes.util.find_library("headwise")
    if name:
        found.append(("system loader", name))
    return found


def _asan_missing(path):
    """An AddressSanitizer build of the library cannot be loaded into a process
    whose first library is not the ASan runtime: the runtime's start-up check
    would end the interpreter on the spot. Say so as an error instead."""
    try:
        with open(path, "rb") as f:
            needs = b"libasan.so" in f.read()
    except OSError:
        return False
    if not needs:
        return False
    try:
        with open("/proc/self/maps") as f:
            return "libasan" not in f.read()
    except OSError:
        return True


def lib():
    """The loaded libheadwise (loaded on first use, so `import headwise` works
    without it and the first call says what is missing)."""
    global _lib
    if _lib is not None:
        return _lib
    cands = _candidates()
    if not cands:
        raise Error("libheadwise.so not found: build it (`make` gives build/rel/libheadwise.so), "
                    "install it, or set HEADWISE_LIB to its path")
    how, path = cands[0]
    if how == "HEADWISE_LIB" and not os.path.isfile(path):
        raise Error("HEADWISE_LIB=%s: no such file" % path)
    if os.path.sep in path and _asan_missing(path):
        raise Error("%s is an AddressSanitizer build: run Python with LD_PRELOAD=$(gcc "
                    "-print-file-name=libasan.so) ASAN_OPTIONS=detect_leaks=0, or use a release "
                    "build" % path)
    try:
        cdll = ctypes.CDLL(path)
    except OSError as e:
        raise Error("cannot load %s (%s): %s" % (path, how, e)) from None
    _lib = _Lib(cdll, path)
    return _lib


def library_path():
    """The path (or loader name) of the libheadwise in use."""
    return lib().path


def last_error():
    msg = lib().hw_last_error()
    return msg.decode("utf-8", "replace") if msg else ""


def check(status, what=None):
    """Raise Error with the library's message unless status is HW_OK."""
    if status != HW_OK:
        msg = last_error() or lib().hw_status_str(status).decode()
        raise Error("%s: %s" % (what, msg) if what else msg, status)


def check_handle(handle, what=None):
    """A handle returned by a C constructor, or Error with the library's message."""
    if not handle:
        msg = last_error() or "failed"
        raise Error("%s: %s" % (what, msg) if what else msg)
    return handle

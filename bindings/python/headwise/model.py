"""Model: a loaded model and its tokenizer; run() with captures and head
interventions, generate(), encode() and decode()."""
import codecs
import ctypes
import dataclasses
import os
import time

import numpy as np

from . import _args
from ._capi import (ArgumentError, Error, Head, ModelInfo, PIECE_FN, TOKEN_FN, check,
                    check_handle, fsencode, last_error, lib)
from ._protocol import Callback, Owned, make_params

__all__ = ["Model", "Config", "RunResult", "default_tokenizer"]

HW_TOK_BOS, HW_TOK_EOS = 1, 2
HW_LOGITS_LAST = 1

_ENUMS = {
    "norm": ("rms", "layer"),
    "pos": ("rotary", "learned"),
    "rope_layout": ("interleaved", "halves"),
    "rope_scaling": ("none", "linear", "dynamic", "llama3"),
    "act": ("silu_gated", "gelu_tanh", "gelu_exact"),
}


@dataclasses.dataclass(frozen=True)
class Config:
    """hw_config's fields (include/headwise.h); enum fields as their names
    (norm "rms"/"layer", pos "rotary"/"learned", act "silu_gated"/..., and so on)."""
    arch: str
    n_layer: int
    d_model: int
    n_head: int
    n_kv_head: int
    head_dim: int
    d_ff: int
    vocab_size: int
    n_ctx: int
    norm: str
    norm_eps: float
    pos: str
    rope_layout: str
    rope_theta: float
    rotary_frac: float
    rope_scaling: str
    rope_factor: float
    rope_low_freq_factor: float
    rope_high_freq_factor: float
    rope_orig_ctx: int
    act: str
    qkv_bias: int
    out_bias: int
    mlp_bias: int
    norm_bias: int
    parallel_residual: int
    sliding_window: int
    sliding_window_from: int
    tied_embeddings: int
    bos_id: int
    eos_id: int

    @classmethod
    def _from_c(cls, c):
        values = {}
        for f in dataclasses.fields(cls):
            v = getattr(c, f.name)
            if f.name == "arch":
                v = v.decode("utf-8", "replace")
            elif f.name in _ENUMS:
                names = _ENUMS[f.name]
                v = names[v] if 0 <= v < len(names) else str(v)
            values[f.name] = v
        return cls(**values)


@dataclasses.dataclass
class RunResult:
    """What Model.run returns.

    tokens    the prompt's ids, then the n_new generated ones
    logits    (T, V) float32 for the T prompt positions
    captures  {hook name: float32 array}, named as `headwise run -o` names its .npy
              files: "blocks.3.attn.hook_pattern" for the prompt, with ".posP" for a
              decode step at position P (and for later chunks of a long prompt)"""
    tokens: list
    logits: np.ndarray
    captures: dict


def default_tokenizer(model_path):
    """The tokenizer the CLI uses when none is given: a Hugging Face folder holds
    its own; a checkpoint file has tokenizer.bin beside it."""
    p = os.fspath(model_path)
    if os.path.isdir(p):
        return p
    return os.path.join(os.path.dirname(p), "tokenizer.bin")


def _c_ints(values):
    return (ctypes.c_int * max(len(values), 1))(*values)


class Model:
    """A model and its tokenizer.

    Model(path, tokenizer=None, threads=None): path is a llama2.c checkpoint
    (.bin) or a Hugging Face model folder; tokenizer defaults to the model's
    folder or tokenizer.bin beside the checkpoint, as for the CLI. threads sets
    the library's thread count, which is process-wide (hw_set_threads)."""

    def __init__(self, path, tokenizer=None, threads=None):
        L = lib()
        if threads is not None:
            L.hw_set_threads(_args.integer(threads, "threads", 1, 1024))
        self.path = os.fspath(path)
        self._model = Owned(check_handle(L.hw_model_load(fsencode(path, "model"))),
                            L.hw_model_free)
        self.config = Config._from_c(L.hw_model_config(self._model.handle).contents)
        self.tokenizer_path = os.fspath(tokenizer) if tokenizer is not None else default_tokenizer(path)
        try:
            t = check_handle(L.hw_tokenizer_load(fsencode(self.tokenizer_path, "tokenizer"),
                                                 self.config.vocab_size))
        except Error:
            self._model.close()
            raise
        self._tok = Owned(t, L.hw_tokenizer_free)

    # -------------------------------------------------------------- handles

    @property
    def _m(self):
        return self._model._as_parameter_

    @property
    def _t(self):
        return self._tok._as_parameter_

    def close(self):
        """Free the model and tokenizer now (also done when the object is garbage)."""
        if hasattr(self, "_tok"):
            self._tok.close()
        self._model.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __repr__(self):
        c = self.config
        return "Model(%r: %s, %d layers, %d heads, vocabulary %d)" % (
            self.path, c.arch, c.n_layer, c.n_head, c.vocab_size)

    @property
    def info(self):
        """Format, storage dtype, parameter count and sizes (hw_model_get_info)."""
        i = ModelInfo()
        lib().hw_model_get_info(self._m, ctypes.byref(i))
        return {"format": (i.format or b"").decode(), "dtype": (i.dtype or b"").decode(),
                "n_params": i.n_params, "file_bytes": i.file_bytes, "weight_bytes": i.weight_bytes}

    # -------------------------------------------------------------- tokenizer

    def encode(self, text, bos=True, eos=False):
        """Token ids of text (with BOS first where the tokenizer has one)."""
        b = _args.text(text)
        flags = (HW_TOK_BOS if bos else 0) | (HW_TOK_EOS if eos else 0)
        n = lib().hw_tokenizer_encode(self._t, b, flags, None, 0)
        if n < 0:
            raise Error(last_error())
        ids = (ctypes.c_int * max(n, 1))()
        check_n = lib().hw_tokenizer_encode(self._t, b, flags, ids, n)
        if check_n != n:
            raise Error(last_error() or "encode: the count changed between calls")
        return list(ids[:n])

    def _piece_bytes(self, ids):
        V = lib().hw_tokenizer_vocab_size(self._t)
        ids = _args.token_ids(ids, V, "ids")
        out, n = [], ctypes.c_size_t()
        for i, t in enumerate(ids):
            ptr = lib().hw_tokenizer_decode(self._t, ids[i - 1] if i else -1, t, ctypes.byref(n))
            out.append(ctypes.string_at(ptr, n.value) if ptr else b"")
        return out

    def decode(self, ids):
        """The text of ids: each token's piece as it follows the one before
        (hw_tokenizer_decode; the first as at the start), joined."""
        return b"".join(self._piece_bytes(list(ids))).decode("utf-8", "replace")

    def pieces(self, ids, raw=False):
        """Each token's text as it follows the one before, as `headwise run` lists
        them in tokens.json; raw: as bytes (a byte token may be part of a UTF-8
        character, which a str shows as U+FFFD)."""
        b = self._piece_bytes(list(ids))
        return b if raw else [x.decode("utf-8", "replace") for x in b]

    # -------------------------------------------------------------- hooks

    def _hook(self, name):
        """(point, layer) of a hook name; "blocks.*.NAME" gives layer -1 (every
        layer), as the CLI's --capture."""
        if not isinstance(name, str):
            raise ArgumentError("capture: expected a hook name, got %r" % (name,))
        every = name.startswith("blocks.*.")
        b = _args.text("blocks.0." + name[9:] if every else name, "capture")
        point, layer = ctypes.c_int(), ctypes.c_int()
        if lib().hw_hook_parse(self._m, b, ctypes.byref(point), ctypes.byref(layer)) != 0:
            raise ArgumentError("capture: %s" % last_error())
        return point.value, -1 if every else layer.value

    def _interventions(self, mask_uniform, zero_output, scale, phase):
        """Every intervention checked, as a list of (kind, heads, scale) to add."""
        c = self.config
        ph = _args.phase(phase)
        edits = []
        for kind, heads in (("mask_uniform", mask_uniform), ("zero_output", zero_output)):
            hs = _args.heads(heads, c.n_layer, c.n_head, kind)
            if hs:
                edits.append((kind, hs, 1.0))
        if scale is not None:
            if not isinstance(scale, dict):
                raise ArgumentError("scale: expected a dict {'L.H': s}, got %r" % (scale,))
            groups = {}
            for k, s in scale.items():
                s = _args.finite(s, "scale[%r]" % (k,), single=True)
                groups.setdefault(s, []).extend(_args.heads(k, c.n_layer, c.n_head, "scale"))
            edits += [("scale", hs, s) for s, hs in groups.items()]
        return edits, ph

    @staticmethod
    def _add_interventions(hooks, edits, phase):
        L = lib()
        for kind, hs, s in edits:
            arr = (Head * len(hs))(*[Head(l, h) for l, h in hs])
            if kind == "mask_uniform":
                st = L.hw_hooks_mask_uniform(hooks, arr, len(hs), phase)
            elif kind == "zero_output":
                st = L.hw_hooks_zero_output(hooks, arr, len(hs), phase)
            else:
                st = L.hw_hooks_scale(hooks, arr, len(hs), s, phase)
            check(st)

    # -------------------------------------------------------------- run

    def run(self, tokens, capture=(), mask_uniform=(), zero_output=(), scale=None, phase="both",
            n_new=0):
        """Run tokens (ids, or a str encoded with BOS) as `headwise run` does: one
        prefill of the prompt, then n_new greedy tokens, each but the last fed back
        as a one-token decode step (hw_greedy). Hooks act in every call.

        capture       hook names ("blocks.3.attn.hook_pattern", "hook_logits",
                      "blocks.*.attn.hook_z" for every layer)
        mask_uniform  heads whose pre-softmax scores are set to 0 (uniform attention)
        zero_output   heads whose z is set to 0
        scale         {"L.H": s}: heads whose z is multiplied by s
        phase         when interventions act: "both", "prefill" or "decode"
        Heads are "L.H" strings or (L, H) pairs.

        Returns RunResult(tokens, logits (T, V), captures). The last row of logits
        is the one the CLI writes as logits.npy and greedy decoding reads (a
        one-row product); the rows before come from the (T, V) product of all rows
        and agree with a one-row product to rounding."""
        c = self.config
        if isinstance(tokens, str):
            tokens = self.encode(tokens)
        toks = _args.token_ids(tokens, c.vocab_size)
        if not toks:
            raise ArgumentError("tokens: no tokens")
        n_new = _args.integer(n_new, "n_new", 0)
        T = len(toks)
        if T + n_new > c.n_ctx:
            raise ArgumentError("the prompt (%d tokens) and %d steps do not fit the context of "
                                "%d tokens" % (T, n_new, c.n_ctx))
        if isinstance(capture, str):
            capture = [capture]
        wants = [self._hook(name) for name in capture]
        edits, ph = self._interventions(mask_uniform, zero_output, scale, phase)

        L = lib()
        hooks = Owned(check_handle(L.hw_hooks_new()), L.hw_hooks_free)
        cap = Owned(check_handle(L.hw_capture_new()), L.hw_capture_free)
        # The prompt rows of the logits, from hook_logits (observing changes no bit).
        lcap = Owned(check_handle(L.hw_capture_new()), L.hw_capture_free)
        ctx = Owned(check_handle(L.hw_context_new(self._m, T + n_new)), L.hw_context_free)
        try:
            # Captures first, then interventions, in the order `headwise run` adds them.
            for point, layer in wants:
                check(L.hw_capture_want(cap.handle, point, layer))
            if wants:
                check(L.hw_hooks_add_capture(hooks.handle, cap.handle))
            self._add_interventions(hooks.handle, edits, ph)
            check(L.hw_capture_want(lcap.handle, *self._hook("hook_logits")))
            check(L.hw_hooks_add_capture(hooks.handle, lcap.handle))
            prompt = _c_ints(toks)
            if n_new == 0:
                last = np.zeros(c.vocab_size, np.float32)
                check(L.hw_forward_hooked(ctx.handle, prompt, T, HW_LOGITS_LAST,
                                          last.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                          hooks.handle))
                new = []
            else:
                new, last = self._greedy(ctx.handle, prompt, T, n_new, hooks.handle)
            logits = _prefill_rows(lcap.handle, T, c.vocab_size)
            logits[T - 1] = last
            return RunResult(tokens=toks + new, logits=logits, captures=_captures(cap.handle))
        finally:
            for o in (ctx, hooks, lcap, cap):
                o.close()

    def _greedy(self, ctx, prompt, T, n_new, hooks):
        """hw_greedy with no stop condition: n_new tokens; the logits (V) the first
        was chosen from."""
        first = []

        def on_token(step, token, logits, user):
            if step == 0:
                first.append(np.ctypeslib.as_array(logits, (self.config.vocab_size,)).copy())
            return 0

        cb = Callback(TOKEN_FN, on_token)
        p = make_params(lib().hw_greedy_params_default,
                        {"max_new": n_new, "stop": 0, "decode_last": 0, "hooks": hooks,
                         "on_token": cb}, fname="run")
        out = (ctypes.c_int * n_new)()
        n = lib().hw_greedy(ctx, None, prompt, T, ctypes.byref(p), out, None, 0)
        cb.reraise()
        if n < 0:
            raise Error(last_error())
        return list(out[:n]), first[0]

    # -------------------------------------------------------------- generate

    def generate(self, prompt, n=256, temperature=0.0, top_p=0.9, seed=None, mask_uniform=(),
                 zero_output=(), scale=None, phase="both", on_piece=None):
        """Text from prompt, as `headwise generate -p PROMPT -n N -t T --top-p P -s SEED`
        prints it (without the final newline): the prompt's pieces, then each new
        one, until n positions (prompt included; 0: the whole context), BOS or EOS.
        temperature 0 is greedy. seed None: from the clock, as the CLI. Interventions
        as for run(). on_piece(text) is called with the text as it comes."""
        b = _args.text(prompt, "prompt")
        n = _args.integer(n, "n", 0, 1 << 30)
        temperature = _args.finite(temperature, "temperature", 0, 100)
        top_p = _args.finite(top_p, "top_p", 1e-9, 1)
        seed = int(time.time()) if seed is None else _args.integer(seed, "seed", 0, (1 << 64) - 1)
        edits, ph = self._interventions(mask_uniform, zero_output, scale, phase)
        if on_piece is not None and not callable(on_piece):
            raise ArgumentError("on_piece: expected a callable, got %r" % (on_piece,))

        chunks = []
        dec = codecs.getincrementaldecoder("utf-8")("replace")

        def piece(ptr, length, user):
            data = ctypes.string_at(ptr, length) if ptr and length else b""
            # As the CLI prints: a lone ASCII control byte (other than whitespace) is
            # dropped, so raw byte tokens cannot garble a terminal.
            if length == 1 and ((data[0] < 0x20 and data not in b"\n\t\r") or data[0] == 0x7F):
                return 0
            chunks.append(data)
            if on_piece is not None:
                s = dec.decode(data)
                if s:
                    on_piece(s)
            return 0

        L = lib()
        hooks = Owned(check_handle(L.hw_hooks_new()), L.hw_hooks_free)
        try:
            self._add_interventions(hooks.handle, edits, ph)
            p = make_params(L.hw_generate_params_default,
                            {"n_steps": n, "sampler": {"temperature": temperature, "top_p": top_p,
                                                       "seed": seed},
                             "hooks": hooks.handle if edits else None}, fname="generate")
            cb = Callback(PIECE_FN, piece)
            st = L.hw_generate(self._m, self._t, b, p, cb.c, None)
            cb.reraise()
            check(st)
        finally:
            hooks.close()
        if on_piece is not None:
            tail = dec.decode(b"", final=True)
            if tail:
                on_piece(tail)
        return b"".join(chunks).decode("utf-8", "replace")


def _entries(cap):
    L = lib()
    for i in range(L.hw_capture_count(cap)):
        yield L.hw_capture_get(cap, i).contents


def _array(e):
    shape = tuple(e.shape[d] for d in range(e.ndim))
    n = int(np.prod(shape))
    return np.ctypeslib.as_array(e.data, (n,)).reshape(shape).copy()


def _captures(cap):
    """Every capture entry as a copy, named as run.c names its .npy files."""
    out = {}
    buf = ctypes.create_string_buffer(128)
    for e in _entries(cap):
        lib().hw_hook_name(buf, len(buf), e.point, e.layer)
        name = buf.value.decode()
        key = "%s.pos%d" % (name, e.pos) if e.decode or e.pos > 0 else name
        out[key] = _array(e)
    return out


def _prefill_rows(cap, T, V):
    """The (T, V) logits of the prompt from the hook_logits entries of its prefill
    (one per chunk of a long prompt)."""
    rows = [_array(e) for e in _entries(cap) if not e.decode and e.pos < T]
    logits = np.concatenate(rows, axis=0) if rows else np.zeros((0, V), np.float32)
    if logits.shape != (T, V):
        raise Error("internal: prompt logits of shape %s, expected (%d, %d)" % (logits.shape, T, V))
    return logits


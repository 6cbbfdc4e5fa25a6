"""Model: a loaded model and its tokenizer; run() with captures and head
interventions, generate(), encode() and decode()."""
import codecs
import ctypes
import dataclasses
import os
import time

import numpy as np

from . import _args
from ._capi import (ArgumentError, Error, HOOK_FN, Head, ModelInfo, PIECE_FN, TOKEN_FN, check,
                    check_handle, fsencode, last_error, lib)
from ._protocol import Callback, Owned, Progress, make_params
from .kv import KVPolicy, kv_bytes

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
    """The tokenizer every headwise command loads when none is given
    (hw_tokenizer_path_for_model): a Hugging Face folder holds its own; a checkpoint
    file has tokenizer.bin in its folder."""
    buf = ctypes.create_string_buffer(4096)
    check(lib().hw_tokenizer_path_for_model(fsencode(model_path, "model"), buf, len(buf)))
    return os.fsdecode(buf.value)


def _c_ints(values):
    return (ctypes.c_int * max(len(values), 1))(*values)


class Model:
    """A model and its tokenizer.

    Model(path, tokenizer=None, threads=None): path is a llama2.c checkpoint
    (.bin), a Hugging Face model folder or a GGUF file; tokenizer defaults to the one
    the library finds for the model (hw_tokenizer_load_for_model: the folder's own,
    the GGUF's own, or tokenizer.bin beside the checkpoint), as for the CLI. threads sets the
    library's thread count, which is process-wide (hw_set_threads)."""

    def __init__(self, path, tokenizer=None, threads=None):
        L = lib()
        if threads is not None:
            L.hw_set_threads(_args.integer(threads, "threads", 1, 1024))
        self.path = os.fspath(path)
        self._model = Owned(check_handle(L.hw_model_load(fsencode(path, "model"))),
                            L.hw_model_free)
        self.config = Config._from_c(L.hw_model_config(self._model.handle).contents)
        try:
            V = self.config.vocab_size
            if tokenizer is not None:
                self.tokenizer_path = os.fspath(tokenizer)
                t = L.hw_tokenizer_load(fsencode(tokenizer, "tokenizer"), V)
            else:
                self.tokenizer_path = default_tokenizer(path)
                t = L.hw_tokenizer_load_for_model(fsencode(path, "model"), V)
            check_handle(t)
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

    def _interventions(self, mask_uniform, zero_output, scale, phase, mean_ablate=(),
                       mean_ref=None):
        """Every intervention checked, as a list of (kind, heads, scale or mean z) to
        add. The mean z of mean_ablate is computed last, once the rest is checked."""
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
        hs = _args.heads(mean_ablate, c.n_layer, c.n_head, "mean_ablate")
        if hs:
            if mean_ref is None:
                raise ArgumentError("mean_ablate needs mean_ref (reference prompts, token lists, "
                                    "a prompts file or a mean z)")
            edits.append(("mean_ablate", hs, self._mean_z_of(mean_ref)))
        elif mean_ref is not None:
            raise ArgumentError("mean_ref: given without mean_ablate")
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
            elif kind == "mean_ablate":
                # The hook keeps a pointer to the mean z: the edits list holds the array
                # for as long as the hooks live.
                st = L.hw_hooks_mean_ablate(hooks, arr, len(hs),
                                            s.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), phase)
            else:
                st = L.hw_hooks_scale(hooks, arr, len(hs), s, phase)
            check(st)

    # -------------------------------------------------------------- mean z

    def mean_z(self, refs):
        """(L, H, Dh) float32: every head's z averaged over all positions of the
        reference sequences, each run from an empty cache (hw_mean_z), what
        mean_ablate replaces a head's z with. refs is a prompts file (a path: one
        prompt per line, as `--mean-ref FILE` reads it) or a list whose items are
        prompts (str) or token-id lists; prompts are encoded with BOS."""
        c = self.config
        if isinstance(refs, (str, bytes, os.PathLike)):
            from .protocols import read_prompts
            refs = [row[0] for row in read_prompts(refs)]
        elif isinstance(refs, np.ndarray) and refs.ndim == 2:
            refs = list(refs)
        else:
            try:
                refs = list(refs)
            except TypeError:
                raise ArgumentError("mean_ref: expected a prompts file or a list of prompts or "
                                    "token lists, got %r" % (refs,)) from None
        if not refs:
            raise ArgumentError("mean_ref: no reference sequences")
        seqs = []
        for i, r in enumerate(refs):
            ids = self.encode(r) if isinstance(r, str) else _args.token_ids(r, c.vocab_size,
                                                                             "mean_ref[%d]" % i)
            if not 0 < len(ids) <= c.n_ctx:
                raise ArgumentError("mean_ref[%d]: %d tokens do not fit the context (%d)"
                                    % (i, len(ids), c.n_ctx))
            seqs.append(ids)
        arrays = [_c_ints(ids) for ids in seqs]
        ptrs = (ctypes.POINTER(ctypes.c_int) * len(seqs))(
            *[ctypes.cast(a, ctypes.POINTER(ctypes.c_int)) for a in arrays])
        lens = _c_ints([len(ids) for ids in seqs])
        out = np.zeros((c.n_layer, c.n_head, c.head_dim), np.float32)
        check(lib().hw_mean_z(self._m, ptrs, lens, len(seqs),
                              out.ctypes.data_as(ctypes.POINTER(ctypes.c_float))), "mean z")
        return out

    def _mean_z_of(self, mean_ref):
        """mean_ref as a mean z: an (L, H, Dh) array as given, else mean_z(mean_ref)."""
        c = self.config
        if isinstance(mean_ref, np.ndarray) and mean_ref.ndim == 3:
            want = (c.n_layer, c.n_head, c.head_dim)
            if mean_ref.shape != want:
                raise ArgumentError("mean_ref: a mean z of shape %s, expected %s"
                                    % (mean_ref.shape, want))
            z = np.ascontiguousarray(mean_ref, dtype=np.float32)
            if not np.isfinite(z).all():
                raise ArgumentError("mean_ref: the mean z holds non-finite numbers")
            return z
        return self.mean_z(mean_ref)

    # -------------------------------------------------------------- patching

    def _patches(self, patch):
        """patch {hook name: source} as {(point, layer): {pos: float32 array}}."""
        if patch is None:
            return {}
        if not isinstance(patch, dict):
            raise ArgumentError("patch: expected a dict {hook name: RunResult or array}, got %r"
                                % (patch,))
        c = self.config
        table = {}
        buf = ctypes.create_string_buffer(128)
        for name, src in patch.items():
            point, layer = self._hook(name)
            layers = range(c.n_layer) if isinstance(name, str) and name.startswith("blocks.*.") \
                else [layer]
            if isinstance(src, RunResult):
                for l in layers:
                    lib().hw_hook_name(buf, len(buf), point, l)
                    base = buf.value.decode()
                    found = {0 if k == base else int(k[len(base) + 4:]): v
                             for k, v in src.captures.items()
                             if k == base or (k.startswith(base + ".pos") and k[len(base) + 4:].isdigit())}
                    if not found:
                        raise ArgumentError("patch: the RunResult has no capture of %s (run it with "
                                            "capture=[%r])" % (base, name))
                    table[(point, l)] = found
            elif layers != [layer]:
                raise ArgumentError("patch: %s takes a RunResult (an array is one layer's)" % name)
            else:
                try:
                    arr = np.ascontiguousarray(src, dtype=np.float32)
                except (TypeError, ValueError):
                    raise ArgumentError("patch[%r]: expected a RunResult or an array, got %s"
                                        % (name, type(src).__name__)) from None
                table[(point, layer)] = {0: arr}
        return table

    @staticmethod
    def _patch_hook(table, phase):
        """A hook (a Callback of hw_hook_fn) that replaces each patched tensor by its
        source's at the same position, as hw_hooks_patch does with a capture: the
        sources here are arrays, which an hw_capture cannot be made from."""
        buf = ctypes.create_string_buffer(128)

        def hook(call_p, user):
            c = call_p.contents
            src = table.get((c.point, c.layer))
            if src is None or (phase == 1 and c.decode) or (phase == 2 and not c.decode):
                return 0
            if c.ask:
                return 1
            lib().hw_hook_name(buf, len(buf), c.point, c.layer)
            arr = src.get(c.pos)
            if arr is None:
                raise Error("patch: nothing given for %s at position %d" % (buf.value.decode(), c.pos))
            shape = tuple(c.shape[i] for i in range(c.ndim))
            if arr.shape != shape:
                raise ArgumentError("patch: %s at position %d has shape %s, the one given %s"
                                    % (buf.value.decode(), c.pos, shape, arr.shape))
            ctypes.memmove(c.data, arr.ctypes.data, arr.nbytes)
            return 0

        return Callback(HOOK_FN, hook)

    # -------------------------------------------------------------- KV cache

    def kv_policy(self, spec):
        """A KVPolicy for this model from the --kv text (hw_kv_policy_parse), to reuse
        across runs."""
        return KVPolicy(self, spec)

    def kv_bytes(self, kv=None, context=None):
        """(L, Hk) int64: bytes of KV cache (keys and values, the compensation entry
        included) per layer and KV head that a context of `context` positions (None:
        the model's context) holds under kv (None: every head full; a --kv text or a
        KVPolicy), as hw_context_kv_bytes measures it; .sum() is the total."""
        return kv_bytes(self, kv, context)

    # -------------------------------------------------------------- run

    def run(self, tokens, capture=(), mask_uniform=(), zero_output=(), scale=None, phase="both",
            n_new=0, mean_ablate=(), mean_ref=None, patch=None, kv=None):
        """Run tokens (ids, or a str encoded with BOS) as `headwise run` does: one
        prefill of the prompt, then n_new greedy tokens, each but the last fed back
        as a one-token decode step (hw_greedy). Hooks act in every call.

        capture       hook names ("blocks.3.attn.hook_pattern", "hook_logits",
                      "blocks.*.attn.hook_z" for every layer)
        mask_uniform  heads whose pre-softmax scores are set to 0 (uniform attention)
        zero_output   heads whose z is set to 0
        scale         {"L.H": s}: heads whose z is multiplied by s
        mean_ablate   heads whose z is replaced by its mean over mean_ref (hw_mean_z):
                      a prompts file (path), a list of prompts (str) and token lists,
                      or a mean z (L, H, Dh) from mean_z()
        patch         {hook name: RunResult or array}: the tensor at that hook replaced
                      by the source's at the same position (activation patching, as
                      hw_hooks_patch): a RunResult's captures of that hook (every
                      position it ran; "blocks.*.NAME" for every layer), or an array of
                      the hook's shape for the prompt's prefill
        phase         when interventions and patches act: "both", "prefill" or "decode"
        kv            the KV cache of the run, as `--kv`: None (every head full), a
                      policy text ("window:sink=4,recent=32", ...) or a KVPolicy
        Heads are "L.H" strings or (L, H) pairs. Hooks act in this order: captures
        (which so see each tensor before any edit at the same point), mask_uniform,
        zero_output, scale, mean_ablate, patch.

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
        patches = self._patches(patch)
        edits, ph = self._interventions(mask_uniform, zero_output, scale, phase, mean_ablate,
                                        mean_ref)
        pol = KVPolicy.of(self, kv)

        L = lib()
        hooks = Owned(check_handle(L.hw_hooks_new()), L.hw_hooks_free)
        cap = Owned(check_handle(L.hw_capture_new()), L.hw_capture_free)
        # The prompt rows of the logits, from hook_logits (observing changes no bit).
        lcap = Owned(check_handle(L.hw_capture_new()), L.hw_capture_free)
        ctx = Owned(check_handle(L.hw_context_new_kv(self._m, T + n_new, pol)), L.hw_context_free)
        try:
            # Captures first, then interventions, in the order `headwise run` adds them.
            for point, layer in wants:
                check(L.hw_capture_want(cap.handle, point, layer))
            if wants:
                check(L.hw_hooks_add_capture(hooks.handle, cap.handle))
            self._add_interventions(hooks.handle, edits, ph)
            pcb = self._patch_hook(patches, ph) if patches else None
            if pcb is not None:
                check(L.hw_hooks_add(hooks.handle, pcb.c, None))
            check(L.hw_capture_want(lcap.handle, *self._hook("hook_logits")))
            check(L.hw_hooks_add_capture(hooks.handle, lcap.handle))
            prompt = _c_ints(toks)
            if n_new == 0:
                last = np.zeros(c.vocab_size, np.float32)
                st = L.hw_forward_hooked(ctx.handle, prompt, T, HW_LOGITS_LAST,
                                         last.ctypes.data_as(ctypes.POINTER(ctypes.c_float)),
                                         hooks.handle)
                if pcb is not None:
                    pcb.reraise()
                check(st)
                new = []
            else:
                new, last = self._greedy(ctx.handle, prompt, T, n_new, hooks.handle, pcb)
            logits = _prefill_rows(lcap.handle, T, c.vocab_size)
            logits[T - 1] = last
            return RunResult(tokens=toks + new, logits=logits, captures=_captures(cap.handle))
        finally:
            for o in (ctx, hooks, lcap, cap):
                o.close()

    def _greedy(self, ctx, prompt, T, n_new, hooks, hook_cb=None):
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
        if hook_cb is not None:
            hook_cb.reraise()
        if n < 0:
            raise Error(last_error())
        return list(out[:n]), first[0]

    # -------------------------------------------------------------- loss

    def text_loss(self, tokens, kv=None, chunk=512, greedy=0, mask_uniform=(), zero_output=(),
                  scale=None, phase="both", progress=None):
        """(n - 1,) float32: every position's next-token loss -ln p(tokens[i + 1] |
        tokens[..i]) as the model reads tokens (ids, or a str encoded with BOS) in one
        context, prefilled `chunk` rows per call under kv (the KV cache, as `--kv`) and
        the interventions, as `headwise loss` (hw_text_loss). Past the model's context
        only for rotary-position models. greedy > 0: also that many tokens decoded
        greedily after the text, returned as (losses, ids)."""
        c = self.config
        ids = self.encode(tokens) if isinstance(tokens, str) else _args.token_ids(
            tokens, c.vocab_size, "tokens")
        if len(ids) < 2:
            raise ArgumentError("tokens: at least 2 are needed, got %d" % len(ids))
        chunk = _args.integer(chunk, "chunk", 0, 1 << 30)
        greedy = _args.integer(greedy, "greedy", 0, 1 << 20)
        edits, ph = self._interventions(mask_uniform, zero_output, scale, phase)
        pol = KVPolicy.of(self, kv)
        L = lib()
        hooks = Owned(check_handle(L.hw_hooks_new()), L.hw_hooks_free)
        out = np.zeros(len(ids) - 1, np.float32)
        gen = (ctypes.c_int * max(greedy, 1))()
        try:
            self._add_interventions(hooks.handle, edits, ph)
            p = make_params(L.hw_text_loss_params_default,
                            {"chunk": chunk, "n_greedy": greedy,
                             "hooks": hooks.handle if edits else None}, fname="text_loss")
            p.kv = pol._as_parameter_ if pol is not None else None
            p.greedy = ctypes.cast(gen, ctypes.POINTER(ctypes.c_int))
            cb = Progress(progress)
            st = L.hw_text_loss(self._m, _c_ints(ids), len(ids), ctypes.byref(p), cb.c, None,
                                out.ctypes.data_as(ctypes.POINTER(ctypes.c_float)))
            cb.reraise()
            check(st)
        finally:
            hooks.close()
        return (out, list(gen[:greedy])) if greedy else out

    # -------------------------------------------------------------- generate

    def generate(self, prompt, n=256, temperature=0.0, top_p=0.9, seed=None, mask_uniform=(),
                 zero_output=(), scale=None, phase="both", on_piece=None, mean_ablate=(),
                 mean_ref=None, kv=None):
        """Text from prompt, as `headwise generate -p PROMPT -n N -t T --top-p P -s SEED`
        prints it (without the final newline): the prompt's pieces, then each new
        one, until n positions (prompt included; 0: the whole context), BOS or EOS.
        temperature 0 is greedy. seed None: from the clock, as the CLI. Interventions
        (mean_ablate with mean_ref included) and kv (the KV cache, as `--kv`) as for
        run(). on_piece(text) is called with the text as it comes."""
        b = _args.text(prompt, "prompt")
        n = _args.integer(n, "n", 0, 1 << 30)
        temperature = _args.finite(temperature, "temperature", 0, 100)
        top_p = _args.finite(top_p, "top_p", 1e-9, 1)
        seed = int(time.time()) if seed is None else _args.integer(seed, "seed", 0, (1 << 64) - 1)
        if on_piece is not None and not callable(on_piece):
            raise ArgumentError("on_piece: expected a callable, got %r" % (on_piece,))
        edits, ph = self._interventions(mask_uniform, zero_output, scale, phase, mean_ablate,
                                        mean_ref)
        pol = KVPolicy.of(self, kv)
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
            p.kv = pol._as_parameter_ if pol is not None else None
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


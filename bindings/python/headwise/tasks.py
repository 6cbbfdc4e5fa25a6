"""Synthetic tasks (include/headwise.h, "synthetic tasks"): the held-out samples a model
organism is scored on, their counterfactuals (mcq: the answer moved to another letter,
the corrupted run of activation patching) and the prompts files `headwise samples`
writes.

    t = headwise.Task("mcq")
    tokens, targets, (src, dst, n) = t.sample(12345, 0)     # src: the correct label
    cf, cf_targets, cf_layout = t.counterfactual(tokens, -1)  # one letter on
    t.text(tokens[1:dst])                                    # the prompt, as the CLI writes it
    t.write_prompts("clean.tsv", samples=100, counterfactual="corrupt.tsv")
"""
from ctypes import POINTER, Structure, c_char_p, c_float, c_int, c_int64, c_uint64, c_void_p

import numpy as np

from . import _args, _capi
from ._capi import ArgumentError, check, check_handle, fsencode, lib
from ._protocol import Owned

__all__ = ["Task"]


class TaskParams(Structure):
    _c_name_ = "hw_task_params"
    _fields_ = [("seq_len", c_int), ("n_symbols", c_int), ("min_len", c_int), ("max_len", c_int),
                ("depth", c_float), ("world_seed", c_uint64), ("override", c_float), ("function", c_int)]


class TaskLayout(Structure):
    _c_name_ = "hw_task_layout"
    _fields_ = [("src", c_int), ("dst", c_int), ("len", c_int)]


_capi.STRUCTS.extend([TaskParams, TaskLayout])
P, PI = c_void_p, POINTER(c_int)
for _name, _restype, _argtypes in [
    ("hw_task_params_default", TaskParams, []),
    ("hw_task_new", P, [c_char_p, POINTER(TaskParams)]),
    ("hw_task_free", None, [P]),
    ("hw_task_vocab_size", c_int, [P]),
    ("hw_task_seq_len", c_int, [P]),
    ("hw_task_symbol", c_char_p, [P, c_int]),
    ("hw_task_sample", c_int, [P, c_uint64, c_int64, PI, PI, POINTER(TaskLayout)]),
    ("hw_task_counterfactual", c_int, [P, PI, c_int, PI, PI, POINTER(TaskLayout)]),
    ("hw_task_write_prompts", c_int, [P, c_uint64, c_int, c_char_p, c_char_p]),
]:
    _capi.declare(_name, _restype, _argtypes)


def _ints(a):
    return a.ctypes.data_as(PI)


class Task:
    """A synthetic task (hw_task_new): name "induction", "retrieval", "successor", "recall"
    or "mcq"; the keyword arguments are `headwise train`'s task flags (0: the task's
    default; depth < 0: random; override < 0: default). A bad name or setting raises
    headwise.ArgumentError with the library's message.

    .name, .vocab_size, .seq_len, .symbols (list of str, id 0 "<bos>")."""

    def __init__(self, name, *, seq_len=0, symbols=0, min_len=0, max_len=0, depth=-1.0,
                 override=-1.0, world_seed=None):
        p = lib().hw_task_params_default()
        p.seq_len = _args.integer(seq_len, "seq_len", 0, 65536)
        p.n_symbols = _args.integer(symbols, "symbols", 0, 1 << 20)
        p.min_len = _args.integer(min_len, "min_len", 0, 4096)
        p.max_len = _args.integer(max_len, "max_len", 0, 4096)
        p.depth = _args.finite(depth, "depth", -1, 1, single=True)
        p.override = _args.finite(override, "override", -1, 1, single=True)
        if world_seed is not None:
            p.world_seed = _args.integer(world_seed, "world_seed", 0, 2 ** 64 - 1)
        h = lib().hw_task_new(_args.text(name, "name"), p)
        if not h:
            raise ArgumentError(_capi.last_error())
        self._t = Owned(h, lib().hw_task_free)
        self.name = name
        self.vocab_size = lib().hw_task_vocab_size(self._t)
        self.seq_len = lib().hw_task_seq_len(self._t)
        self.symbols = [lib().hw_task_symbol(self._t, i).decode() for i in range(self.vocab_size)]

    def sample(self, seed, index):
        """Held-out sample `index` of stream `seed` (hw_task_sample): tokens (T,) and
        targets (T,) int32 (-1: no loss) and the layout (src, dst, len)."""
        seed = _args.integer(seed, "seed", 0, 2 ** 64 - 1)
        index = _args.integer(index, "index", 0, 2 ** 62)
        tok = np.zeros(self.seq_len, np.int32)
        tgt = np.zeros(self.seq_len, np.int32)
        lay = TaskLayout()
        check(lib().hw_task_sample(self._t, seed, index, _ints(tok), _ints(tgt), lay), "sample")
        return tok, tgt, (lay.src, lay.dst, lay.len)

    def counterfactual(self, tokens, to=-1):
        """The counterfactual of a sequence (hw_task_counterfactual): mcq moves the answer
        to letter `to` (0-3) or -s letters on (-1 to -3), swapping the two options' texts.
        Returns tokens, targets and layout as sample() does; headwise.Error for a task
        without counterfactuals or tokens that are not the task's sequence."""
        tok = np.ascontiguousarray(_args.token_ids(tokens, self.vocab_size), dtype=np.int32)
        if tok.shape != (self.seq_len,):
            raise ArgumentError("tokens: %d ids, the task's sequences have %d" % (tok.size, self.seq_len))
        to = _args.integer(to, "to", -(1 << 30), 1 << 30)
        out = np.zeros(self.seq_len, np.int32)
        tgt = np.zeros(self.seq_len, np.int32)
        lay = TaskLayout()
        check(lib().hw_task_counterfactual(self._t, _ints(tok), to, _ints(out), _ints(tgt), lay),
              "counterfactual")
        return out, tgt, (lay.src, lay.dst, lay.len)

    def text(self, tokens):
        """Token ids as the task's text: symbols joined by spaces (what the task's
        tokenizer.json encodes back)."""
        ids = _args.token_ids(tokens, self.vocab_size)
        return " ".join(self.symbols[i] for i in ids)

    def write_prompts(self, path, *, samples=100, seed=12345, counterfactual=None):
        """`headwise samples`: held-out samples 0 .. samples-1 as a prompts file (prompt,
        answer[, wrong answers]), and with counterfactual=PATH each one's counterfactual
        on the same line there (hw_task_write_prompts)."""
        samples = _args.integer(samples, "samples", 1, 1000000)
        seed = _args.integer(seed, "seed", 0, 2 ** 64 - 1)
        cf = fsencode(counterfactual, "counterfactual") if counterfactual is not None else None
        check(lib().hw_task_write_prompts(self._t, seed, samples, fsencode(path), cf), "write_prompts")

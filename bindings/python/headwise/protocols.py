"""The head-finding protocols, one function per command of the CLI, each one library call
(hw_X_params_default, hw_X_run, the result's accessors and writers):

    score_retrieval       headwise score retrieval        -> RetrievalScores (a HeadScores)
    score_echo_induction  headwise score echo-induction   -> HeadTable
    score_successor       headwise score successor        -> HeadTable
    score_attribution     headwise score attribution      -> HeadTable
    score_dla             headwise score dla              -> DlaResult (a dict)
    mask_test             headwise mask-test              -> MaskTestResult (a dict)
    sweep_scale           headwise sweep scale            -> SweepResult (a dict)

Keyword arguments are the command's flags in snake_case (`--max-new 8` is max_new=8,
`--task-seed` task_seed, `--from` from_, `-o` out, `-p` prompt), checked in Python
against the ranges the CLI accepts before anything is loaded or run. Flags that only
shape what the CLI prints (--top) have no counterpart: results hold every head. Every
function takes progress=None (silent), True (a line on stderr) or a callable
fn(stage, done, total) returning true to stop; a Ctrl-C while a protocol runs stops it
and raises KeyboardInterrupt. Output files named by out=... are checked before the work
(parent folders made, writable) and written atomically at the end, by the library's
writers, byte for byte as the CLI writes them.
"""
import ctypes
import os
from ctypes import POINTER, Structure, c_char_p, c_double, c_float, c_int, c_uint64, c_void_p

import numpy as np

from . import _args, _capi
from ._capi import ArgumentError, Error, Head, PROGRESS_FN, check, check_handle, fsencode, lib
from ._protocol import Owned, Progress, copy_array, heads_from, make_params, out_values, run_method
from .kv import KVPolicy
from .model import Model
from .scores import HeadScores

__all__ = ["score_retrieval", "score_echo_induction", "score_successor", "score_attribution",
           "score_dla", "mask_test", "sweep_scale", "read_prompts", "RetrievalScores",
           "HeadTable", "EchoInduction", "Successor", "Attribution", "DlaResult",
           "MaskTestResult", "SweepResult"]

P = c_void_p


# ------------------------------------------------------------------ structs (include/headwise.h)

class NiahParams(Structure):
    _c_name_ = "hw_niah_params"
    _fields_ = [("needles_path", c_char_p), ("haystack_paths", POINTER(c_char_p)),
                ("n_haystacks", c_int), ("data_dir", c_char_p), ("template_text", c_char_p),
                ("length_min", c_int), ("length_max", c_int), ("n_lengths", c_int),
                ("n_depths", c_int), ("buffer", c_int), ("max_new", c_int)]


class TaskEvalParams(Structure):
    _c_name_ = "hw_task_eval_params"
    _fields_ = [("name", c_char_p), ("seed", c_uint64), ("samples", c_int), ("depth", c_float),
                ("n_symbols", c_int)]


class RetrievalParams(Structure):
    _c_name_ = "hw_retrieval_params"
    _fields_ = [("niah", NiahParams), ("task", TaskEvalParams), ("min_rouge", c_double),
                ("out", c_char_p), ("contexts_path", c_char_p), ("kv", c_void_p)]


class MaskTestParams(Structure):
    _c_name_ = "hw_mask_test_params"
    _fields_ = [("scores", c_void_p), ("column", c_int), ("ascending", c_int), ("top", c_int),
                ("draws", c_int), ("exclude", c_int), ("singles", c_int), ("seed", c_uint64),
                ("mode", c_int), ("phase", c_int), ("prompts", c_void_p), ("task", TaskEvalParams),
                ("niah", NiahParams), ("kv", c_void_p)]


class ScaleSweepParams(Structure):
    _c_name_ = "hw_scale_sweep_params"
    _fields_ = [("head", Head), ("scales", POINTER(c_double)), ("n_scales", c_int),
                ("from", c_double), ("to", c_double), ("steps", c_int), ("prompts", c_void_p),
                ("task", TaskEvalParams), ("kv", c_void_p)]


class HeadTableC(Structure):
    _c_name_ = "hw_head_table"
    _fields_ = [("n_layer", c_int), ("n_head", c_int), ("n_col", c_int),
                ("cols", POINTER(c_char_p)), ("values", POINTER(c_double)), ("rank_col", c_int),
                ("ascending", c_int)]


class EchoInductionParams(Structure):
    _c_name_ = "hw_echo_induction_params"
    _fields_ = [("block", c_int), ("repeats", c_int), ("lo", c_int), ("hi", c_int),
                ("seed", c_uint64), ("text", c_char_p), ("echo_ratio", c_double),
                ("induction_ratio", c_double), ("kv_max", c_int), ("chunk", c_int)]


class EchoInductionInfo(Structure):
    _c_name_ = "hw_echo_induction_info"
    _fields_ = [("n_tokens", c_int), ("first", c_int), ("block", c_int), ("repeats", c_int),
                ("from_text", c_int), ("lo", c_int), ("hi", c_int), ("seed", c_uint64),
                ("n_kv_head", c_int), ("n_selected", c_int)]


class SuccessorTaskInfo(Structure):
    _c_name_ = "hw_successor_task_info"
    _fields_ = [("name", c_char_p), ("items", c_int), ("single_tokens", c_int), ("pairs", c_int)]


class SuccessorParams(Structure):
    _c_name_ = "hw_successor_params"
    _fields_ = [("tasks", c_void_p), ("embedding", c_int)]


class SuccessorInfo(Structure):
    _c_name_ = "hw_successor_info"
    _fields_ = [("pairs", c_int), ("n_tasks", c_int), ("embedding", c_int)]


class AttributionParams(Structure):
    _c_name_ = "hw_attribution_params"
    _fields_ = [("prompts", c_void_p), ("task", c_char_p), ("samples", c_int),
                ("task_seed", c_uint64), ("task_symbols", c_int), ("kv", c_void_p)]


class AttributionInfo(Structure):
    _c_name_ = "hw_attribution_info"
    _fields_ = [("n_prompts", c_int), ("in_context_rate", c_double), ("memorized_rate", c_double)]


class DlaParams(Structure):
    _c_name_ = "hw_dla_params"
    _fields_ = [("prompt", c_char_p), ("target", c_char_p), ("minus", POINTER(c_char_p)),
                ("n_minus", c_int), ("raw", c_int), ("kv", c_void_p)]


class DlaInfo(Structure):
    _c_name_ = "hw_dla_info"
    _fields_ = [("logit_diff", c_double), ("sum", c_double), ("scaled", c_int),
                ("n_tokens", c_int), ("target", c_int), ("target_text", c_char_p),
                ("n_minus", c_int), ("minus", POINTER(c_int)), ("minus_text", POINTER(c_char_p))]


# tests/test_machinery.py checks every struct of _capi.STRUCTS against the header and
# the compiler's layout: ours join them.
_capi.STRUCTS.extend([NiahParams, TaskEvalParams, RetrievalParams, MaskTestParams,
                      ScaleSweepParams, HeadTableC, EchoInductionParams, EchoInductionInfo,
                      SuccessorTaskInfo, SuccessorParams, SuccessorInfo, AttributionParams,
                      AttributionInfo, DlaParams, DlaInfo])

# ------------------------------------------------------------------ prototypes

_RUN = [PROGRESS_FN, c_void_p, POINTER(c_void_p)]     # progress, user, &result
PD = POINTER(c_double)
for _name, _restype, _argtypes in [
    ("hw_output_prepare", c_int, [c_char_p]),
    ("hw_prompts_read", P, [c_char_p, c_int]),
    ("hw_prompts_free", None, [P]),
    ("hw_prompts_count", c_int, [P]),
    ("hw_prompts_text", c_char_p, [P, c_int]),
    ("hw_prompts_answer", c_char_p, [P, c_int, c_int]),
    ("hw_niah_params_default", NiahParams, []),
    ("hw_niah_parse_lengths", c_int, [c_char_p, POINTER(NiahParams)]),
    ("hw_task_eval_params_default", TaskEvalParams, []),
    # retrieval
    ("hw_retrieval_params_default", RetrievalParams, []),
    ("hw_retrieval_run", c_int, [P, P, POINTER(RetrievalParams)] + _RUN),
    ("hw_retrieval_result_free", None, [P]),
    ("hw_retrieval_result_scores", P, [P]),
    ("hw_retrieval_result_trials", c_int, [P]),
    ("hw_retrieval_result_trials_run", c_int, [P]),
    ("hw_retrieval_result_counted", c_int, [P]),
    ("hw_retrieval_result_counted_run", c_int, [P]),
    ("hw_retrieval_result_write", c_int, [P, c_char_p]),
    ("hw_retrieval_result_write_tsv", c_int, [P, c_char_p]),
    # mask test
    ("hw_mask_test_params_default", MaskTestParams, []),
    ("hw_mask_test_run", c_int, [P, P, POINTER(MaskTestParams)] + _RUN),
    ("hw_mask_test_result_free", None, [P]),
    ("hw_mask_test_result_mode", c_int, [P]),
    ("hw_mask_test_result_phase", c_int, [P]),
    ("hw_mask_test_result_baseline", None, [P, PD, PD]),
    ("hw_mask_test_result_top", POINTER(Head), [P, POINTER(c_int), PD, PD]),
    ("hw_mask_test_result_ties", c_int, [P]),
    ("hw_mask_test_result_draw_count", c_int, [P]),
    ("hw_mask_test_result_draw", POINTER(Head), [P, c_int, PD, PD]),
    ("hw_mask_test_result_random_mean", None, [P, PD, PD]),
    ("hw_mask_test_result_single_count", c_int, [P]),
    ("hw_mask_test_result_single", c_int, [P, c_int, POINTER(Head), PD, PD]),
    ("hw_mask_test_result_write", c_int, [P, c_char_p]),
    # scale sweep
    ("hw_scale_sweep_params_default", ScaleSweepParams, []),
    ("hw_scale_sweep_run", c_int, [P, P, POINTER(ScaleSweepParams)] + _RUN),
    ("hw_scale_sweep_result_free", None, [P]),
    ("hw_scale_sweep_result_head", Head, [P]),
    ("hw_scale_sweep_result_count", c_int, [P]),
    ("hw_scale_sweep_result_samples", c_int, [P]),
    ("hw_scale_sweep_result_get", c_int, [P, c_int, PD, PD, PD]),
    ("hw_scale_sweep_result_write", c_int, [P, c_char_p]),
    ("hw_scale_sweep_result_write_tsv", c_int, [P, c_char_p]),
    # echo-induction
    ("hw_echo_induction_params_default", EchoInductionParams, []),
    ("hw_echo_induction_run", c_int, [P, P, POINTER(EchoInductionParams)] + _RUN),
    ("hw_echo_induction_free", None, [P]),
    ("hw_echo_induction_table", POINTER(HeadTableC), [P]),
    ("hw_echo_induction_get_info", None, [P, POINTER(EchoInductionInfo)]),
    ("hw_echo_induction_tokens", POINTER(c_int), [P]),
    ("hw_echo_induction_kv_echo", PD, [P]),
    ("hw_echo_induction_kv_induction", PD, [P]),
    ("hw_echo_induction_selected", POINTER(c_int), [P]),
    ("hw_echo_induction_write", c_int, [P, c_char_p]),
    ("hw_echo_induction_write_selection", c_int, [P, c_char_p]),
    # successor
    ("hw_successor_tasks_read", P, [P, c_char_p]),
    ("hw_successor_tasks_default", P, [P]),
    ("hw_successor_tasks_free", None, [P]),
    ("hw_successor_tasks_count", c_int, [P]),
    ("hw_successor_tasks_get", c_int, [P, c_int, POINTER(SuccessorTaskInfo)]),
    ("hw_successor_params_default", SuccessorParams, []),
    ("hw_successor_run", c_int, [P, P, POINTER(SuccessorParams)] + _RUN),
    ("hw_successor_free", None, [P]),
    ("hw_successor_table", POINTER(HeadTableC), [P]),
    ("hw_successor_get_info", None, [P, POINTER(SuccessorInfo)]),
    ("hw_successor_write", c_int, [P, c_char_p]),
    # attribution
    ("hw_attribution_params_default", AttributionParams, []),
    ("hw_attribution_run", c_int, [P, P, POINTER(AttributionParams)] + _RUN),
    ("hw_attribution_free", None, [P]),
    ("hw_attribution_table", POINTER(HeadTableC), [P]),
    ("hw_attribution_get_info", None, [P, POINTER(AttributionInfo)]),
    ("hw_attribution_tokens", POINTER(c_int), [P]),
    ("hw_attribution_write", c_int, [P, c_char_p]),
    # dla
    ("hw_dla_params_default", DlaParams, []),
    ("hw_dla_run", c_int, [P, P, POINTER(DlaParams)] + _RUN),
    ("hw_dla_free", None, [P]),
    ("hw_dla_count", c_int, [P]),
    ("hw_dla_name", c_char_p, [P, c_int]),
    ("hw_dla_values", PD, [P]),
    ("hw_dla_heads", PD, [P]),
    ("hw_dla_get_info", None, [P, POINTER(DlaInfo)]),
    ("hw_dla_write", c_int, [P, c_char_p]),
]:
    _capi.declare(_name, _restype, _argtypes)


# ------------------------------------------------------------------ argument checks

def _start(model, progress):
    """(Model, Progress): the model, or a path loaded as one (its tokenizer found as the
    CLI finds it), and the progress adapter, checked before anything else."""
    progress = Progress(progress)
    if isinstance(model, Model):
        return model, progress
    if isinstance(model, (str, bytes, os.PathLike)):
        return Model(model), progress
    raise ArgumentError("model: expected a headwise.Model or a path, got %s" % type(model).__name__)


def _ranges(values, table):
    """Each value given (not None) checked against the range its CLI flag accepts:
    table {name: (lo, hi)} for integers, {name: (lo, hi, float)} for numbers."""
    for name, spec in table.items():
        v = values.get(name)
        if v is None:
            continue
        if len(spec) == 3:
            values[name] = _args.finite(v, name, spec[0], spec[1])
        else:
            values[name] = _args.integer(v, name, spec[0], spec[1])
    return values


def _bool(value, name):
    if not isinstance(value, (bool, np.bool_)) and value not in (0, 1):
        raise ArgumentError("%s: expected True or False, got %r" % (name, value))
    return int(bool(value))


def _choice(value, name, choices):
    if not isinstance(value, str) or value not in choices:
        raise ArgumentError("%s: %r is not one of %s" % (name, value, ", ".join(map(repr, choices))))
    return choices[value] if isinstance(choices, dict) else value


def _given(values, names):
    return [n for n in names if values.get(n) is not None]


def _outputs(*paths):
    """Outputs written after the run, checked first (hw_output_prepare: parent folders
    made, a file can be created), so a bad path fails before the work, as in the CLI."""
    for name, p in paths:
        if p is not None:
            check(lib().hw_output_prepare(fsencode(p, name)), name)


def _threads(threads):
    """threads (as --threads) checked; the setter to call once everything else is."""
    n = None if threads is None else _args.integer(threads, "threads", 1, 1024)
    return lambda: n is not None and lib().hw_set_threads(n)


def _kv(p, model, kv):
    """kv (None, a --kv text or a KVPolicy) into p.kv, parsed before any run; p keeps
    the policy alive."""
    pol = KVPolicy.of(model, kv)
    if pol is not None:
        p.kv = pol._as_parameter_
        p._keep.append(pol)


def _write(fn, handle, path, what):
    check(fn(handle, fsencode(path, what)), what)


def _text(b):
    """A token's text from C: UTF-8 where it is, else its bytes as code points (as the
    library's JSON writers put a byte token)."""
    if b is None:
        return None
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return b.decode("latin-1")


def _head_key(h):
    return "%d-%d" % h


# The task and needle-in-a-haystack flags (cli/score_common.c), as keyword arguments.
_TASK_RANGES = {"samples": (1, 1000000), "task_seed": (0, 1 << 62), "task_depth": (-1, 1, float),
                "task_symbols": (1, 1 << 20)}
_TASK_FIELDS = {"task": "task.name", "samples": "task.samples", "task_seed": "task.seed",
                "task_depth": "task.depth", "task_symbols": "task.n_symbols"}
_NIAH_RANGES = {"depths": (1, 1000), "buffer": (0, 1 << 24), "max_new": (1, 100000)}
_NIAH_FIELDS = {"needles": "niah.needles_path", "haystack": "niah.haystack_paths",
                "template": "niah.template_text", "depths": "niah.n_depths", "buffer": "niah.buffer",
                "max_new": "niah.max_new", "data_dir": "niah.data_dir"}
_NIAH_COUNTS = {"niah.haystack_paths": "niah.n_haystacks"}


def _lengths(p, lengths):
    """--lengths A:B:N (or a tuple (A, B, N)) into p.niah, parsed by the library."""
    if lengths is None:
        return
    if isinstance(lengths, (tuple, list)):
        if len(lengths) != 3:
            raise ArgumentError("lengths: expected 'A:B:N' or (A, B, N), got %r" % (lengths,))
        lengths = ":".join(str(_args.integer(v, "lengths")) for v in lengths)
    if lib().hw_niah_parse_lengths(_args.text(lengths, "lengths"), ctypes.byref(p.niah)) != 0:
        raise ArgumentError(_capi.last_error())


def _haystack(values):
    """haystack: one path or a list of them, at most 64 (as the CLI)."""
    h = values.get("haystack")
    if h is None:
        return
    if isinstance(h, (str, bytes, os.PathLike)):
        h = values["haystack"] = [h]
    if not isinstance(h, (list, tuple)):
        raise ArgumentError("haystack: expected a path or a list of paths, got %r" % (h,))
    if len(h) > 64:
        raise ArgumentError("haystack: at most 64 files")


def _read_prompts(path, n_answers, name="prompts"):
    """A prompts file (hw_prompts_read) as an owned handle."""
    return Owned(check_handle(lib().hw_prompts_read(fsencode(path, name), n_answers), name),
                 lib().hw_prompts_free)


def read_prompts(path, n_answers=0):
    """A prompts file as the protocols read it (hw_prompts_read): one prompt per line,
    "prompt<TAB>answer[<TAB>answer ...]", "\\n" in a prompt for a newline, '#' lines
    skipped; every line must have at least n_answers answers. Returns a list of tuples
    (prompt, answer, ...)."""
    n_answers = _args.integer(n_answers, "n_answers", 0, 4)
    ps = _read_prompts(path, n_answers)
    L = lib()
    out = []
    for i in range(L.hw_prompts_count(ps.handle)):
        row = [L.hw_prompts_text(ps.handle, i)]
        k = 0
        while True:
            a = L.hw_prompts_answer(ps.handle, i, k)
            if a is None:
                break
            row.append(a)
            k += 1
        out.append(tuple(b.decode("utf-8", "replace") for b in row))
    ps.close()
    return out


# ------------------------------------------------------------------ results

class _View:
    """A handle that lives inside a result (hw_retrieval_result_scores), valid while
    the result is: HeadScores reads it through _as_parameter_."""

    def __init__(self, owner, handle):
        self.owner = owner
        self.handle = check_handle(handle, "result")

    @property
    def _as_parameter_(self):
        self.owner._as_parameter_        # raises if the result was closed
        return self.handle

    def close(self):
        self.owner.close()


class RetrievalScores(HeadScores):
    """The head scores of a retrieval run: a HeadScores (.mean (L, H), .per_trial,
    .values(l, h), .ranking(), .write(path)) read in place from the run's result
    (read-only: .copy() gives one to append to), and

    .trials       trials in the grid
    .trials_run   trials run by this call (the rest were resumed from out's log)
    .counted      trials counted (ROUGE-1 recall above min_rouge), resumed ones included
    .counted_run  of those, the ones this call ran
    .write_tsv(path)  the ranked TSV of `--tsv` (layer, head, score, trials)"""

    def __init__(self, *args, **kwargs):
        raise TypeError("RetrievalScores come from score_retrieval; HeadScores(L, H) makes "
                        "scores of your own")

    @classmethod
    def _of(cls, result):
        self = cls.__new__(cls)
        self._result = result
        L = lib()
        self._own = _View(result, L.hw_retrieval_result_scores(result.handle))
        h = result.handle
        self.trials = L.hw_retrieval_result_trials(h)
        self.trials_run = L.hw_retrieval_result_trials_run(h)
        self.counted = L.hw_retrieval_result_counted(h)
        self.counted_run = L.hw_retrieval_result_counted_run(h)
        return self

    def append(self, layer, head, value):
        raise Error("the scores of a retrieval run are read-only: append to s.copy()")

    def write(self, path):
        _write(lib().hw_retrieval_result_write, self._result, path, "write head scores")

    def write_tsv(self, path):
        _write(lib().hw_retrieval_result_write_tsv, self._result, path, "write tsv")

    def __repr__(self):
        L, H = self.shape
        return "RetrievalScores(%d layers, %d heads; %d of %d trials counted)" % (
            L, H, self.counted, self.trials)


class _Result(dict):
    """A protocol's result as a dict, with the run's C result kept for its writers."""

    def _writer(self, path):
        """The library's writer of this result for path."""
        raise NotImplementedError

    def _init(self, owned, model):
        self._r = owned
        self._model = model      # a model made from a path lives as long as its result

    def write(self, path):
        """The file the CLI's -o writes (JSON, or TSV when path ends in .tsv where the
        command supports it), atomically, making missing parent folders."""
        name = os.fsdecode(os.fspath(path)) if isinstance(path, (str, bytes, os.PathLike)) else ""
        _write(getattr(lib(), self._writer(name)), self._r, path, "write")

    def close(self):
        """Free the C result now (the values already in the dict stay)."""
        self._r.close()


def _table_columns(tab):
    """The (L, H) columns of an hw_head_table, as {name: float64 array} in column order."""
    t = tab.contents
    L, H, n = t.n_layer, t.n_head, t.n_col
    values = copy_array(t.values, (n, L, H), "table")
    return {t.cols[c].decode(): values[c] for c in range(n)}, t.rank_col, bool(t.ascending), (L, H)


class HeadTable(_Result):
    """Per-head columns of a scoring run: {column name: (L, H) float64 array} and the
    run's other arrays, with

    .columns      the per-head columns' names, in the CLI's order
    .rank_column  the column the CLI ranks by; .ascending: lowest first
    .info         the run's facts (a dict)
    .ranking(column=None, ascending=None)  [(layer, head, value)] in rank order (ties
                  to the lower index), as the CLI prints it
    .write(path)  the CLI's -o file: .tsv ranked rows, else {"L-H": [columns]}"""

    def _fill(self, owned, model, tab):
        self._init(owned, model)
        cols, rank_col, ascending, shape = _table_columns(tab)
        self.update(cols)
        self.columns = list(cols)
        self.rank_column = self.columns[rank_col]
        self.ascending = ascending
        self.shape = shape
        self.info = {}

    def ranking(self, column=None, ascending=None):
        column = self.rank_column if column is None else column
        if column not in self.columns:
            raise ArgumentError("column: %r is not one of %s" % (column, ", ".join(self.columns)))
        asc = self.ascending if ascending is None else bool(ascending)
        L, H = self.shape
        v = np.ascontiguousarray(self[column].ravel(), dtype=np.float64)
        key = np.ascontiguousarray(-v if asc else v)
        order = (c_int * (L * H))()
        lib().hw_scores_rank(key.ctypes.data_as(PD), L * H, order)
        return [(i // H, i % H, float(v[i])) for i in order]

    def __repr__(self):
        return "%s(%s; ranked by %s)" % (type(self).__name__, ", ".join(self), self.rank_column)


class DlaResult(_Result):
    """Direct logit attribution as the JSON of `score dla -o`: "logit_diff", "scaled",
    "target" (the token's text), "target_token", "minus", "minus_tokens", "components"
    {name: logit} in model order ("embed", "L.H" per head, "L.bias", "mlp.L", "rest");
    and .heads (L, H), .sum (of the components but "rest"), .n_tokens."""

    def _writer(self, path):
        return "hw_dla_write"


class MaskTestResult(_Result):
    """The mask test as the JSON of `mask-test -o`: "mode", "phase", "baseline", "top"
    {"heads": ["L-H", ...], "exact", "recall"}, "random" [{"heads", "exact", "recall"}],
    "random_mean", and with singles "singles" {"L-H": {"rank", "exact", "recall"}};
    and .ties (how many of the top K tie with the best head left out)."""

    def _writer(self, path):
        return "hw_mask_test_result_write"


class SweepResult(_Result):
    """The scale sweep as the JSON of `sweep scale -o`: "head" "L-H", "prompts" (prompts
    or task samples), "sweep" [{"scale", "in_context", "memorized"}]; and the columns as
    arrays .scales, .in_context, .memorized. write(path): TSV when path ends in .tsv."""

    def _writer(self, path):
        return ("hw_scale_sweep_result_write_tsv" if path.endswith(".tsv")
                else "hw_scale_sweep_result_write")


def _run(fn, model, params, progress, free):
    """hw_X_run(model, tokenizer, &params, progress, NULL, &result) as an owned result."""
    return Owned(run_method(fn, model._m, model._t, params=params, progress=progress, free=free),
                 free)


# ------------------------------------------------------------------ retrieval

def score_retrieval(model, *, needles=None, haystack=None, template=None, lengths=None,
                    depths=None, buffer=None, max_new=None, min_rouge=None, task=None,
                    samples=None, task_seed=None, task_depth=None, task_symbols=None, out=None,
                    tsv=None, save_contexts=None, data_dir=None, threads=None, kv=None,
                    progress=None):
    """`headwise score retrieval`: the Retrieval Head score (methods.md 1.1-1.2),
    hw_retrieval_run.

    Needle-in-a-haystack trials: needles (JSON lines file), haystack (a path or a list,
    concatenated), template ("{context}...{question}..."), lengths ("A:B:N" or (A, B, N)
    tokens), depths, buffer, max_new; data_dir: where the default haystack is looked for
    first. Or task="retrieval" (samples, task_seed, task_depth, task_symbols): the
    retrieval task's held-out samples, for model organisms. min_rouge: a trial counts
    when its ROUGE-1 recall x 100 is above it (-1: all).

    out: the head-score file, with its trial log out + ".trials": a rerun with the same
    out and settings resumes (other settings are refused); out itself is written when
    every trial is done, out + ".partial.json" meanwhile. tsv: the ranked TSV.
    save_contexts: every trial's prompt and answer as JSON lines. kv: the KV cache of every
    trial, as `--kv` (None: every head full; a policy text or a KVPolicy).

    Returns RetrievalScores."""
    m, progress = _start(model, progress)
    v = _ranges(dict(needles=needles, haystack=haystack, template=template, depths=depths,
                     buffer=buffer, max_new=max_new, data_dir=data_dir, task=task,
                     samples=samples, task_seed=task_seed, task_depth=task_depth,
                     task_symbols=task_symbols, min_rouge=min_rouge, out=out,
                     save_contexts=save_contexts),
                dict(_TASK_RANGES, **_NIAH_RANGES, min_rouge=(-1, 100, float)))
    if task is not None and (_given(v, _NIAH_FIELDS) or lengths is not None):
        raise ArgumentError("task replaces the needle-in-a-haystack arguments (%s)"
                            % ", ".join(_given(v, _NIAH_FIELDS) + (["lengths"] if lengths else [])))
    _haystack(v)
    set_threads = _threads(threads)
    p = make_params(lib().hw_retrieval_params_default, v, model=m, fname="score_retrieval",
                    aliases=dict(_TASK_FIELDS, **_NIAH_FIELDS, save_contexts="contexts_path"),
                    counts=_NIAH_COUNTS)
    _lengths(p, lengths)
    _kv(p, m, kv)
    _outputs(("tsv", tsv))
    set_threads()
    r = _run(lib().hw_retrieval_run, m, p, progress, lib().hw_retrieval_result_free)
    s = RetrievalScores._of(r)
    if tsv is not None:
        s.write_tsv(tsv)
    return s


# ------------------------------------------------------------------ mask test

def mask_test(model, *, scores, column=None, ascending=False, top=None, draws=None, exclude=None,
              singles=False, seed=None, mode="uniform", phase="decode", prompts=None, task=None,
              samples=None, task_seed=None, task_depth=None, task_symbols=None, needles=None,
              haystack=None, template=None, lengths=None, depths=None, buffer=None, max_new=None,
              data_dir=None, out=None, kv=None, progress=None):
    """`headwise mask-test`: task accuracy with the top-K heads of a ranking masked,
    against K random heads from outside the top `exclude` (methods.md 1.3),
    hw_mask_test_run.

    scores: a head-score file or a HeadScores (a retrieval run's, ...), ranked by the
    mean of each head's list or by its column-th value; ascending: lowest first. top (K,
    default 5), draws (10), exclude (default K), singles (also each head alone), seed,
    mode "uniform" (attention) or "zero" (output), phase "decode" or "both".

    The task, one of: prompts (a file of prompt<TAB>answer lines: exact greedy answers);
    task="retrieval"/... (samples, task_seed, task_depth, task_symbols); else
    needle-in-a-haystack trials (needles, haystack, template, lengths, depths, buffer,
    max_new) as for score_retrieval. out: the JSON, written at the end. kv: the KV cache
    of every evaluation, as `--kv` (None: every head full; a policy text or a KVPolicy).

    Returns MaskTestResult."""
    m, progress = _start(model, progress)
    v = _ranges(dict(column=column, top=top, draws=draws, exclude=exclude, seed=seed,
                     task=task, samples=samples, task_seed=task_seed, task_depth=task_depth,
                     task_symbols=task_symbols, needles=needles, haystack=haystack,
                     template=template, depths=depths, buffer=buffer, max_new=max_new,
                     data_dir=data_dir),
                dict(_TASK_RANGES, **_NIAH_RANGES, column=(0, 1 << 20), top=(1, 1 << 20),
                     draws=(0, 100000), exclude=(0, 1 << 20), seed=(0, 1 << 62)))
    niah = _given(v, _NIAH_FIELDS) + (["lengths"] if lengths is not None else [])
    if (prompts is not None) + bool(niah) + (task is not None) > 1:
        raise ArgumentError("give one task: task, prompts or needle-in-a-haystack arguments")
    v["mode"] = _choice(mode, "mode", {"uniform": 0, "zero": 1})
    v["phase"] = _choice(phase, "phase", {"both": 0, "decode": 2})
    v["ascending"] = _bool(ascending, "ascending")
    v["singles"] = _bool(singles, "singles")
    _haystack(v)
    if scores is None:
        raise ArgumentError("scores: give a head-score file or a HeadScores")
    if not isinstance(scores, HeadScores):
        fsencode(scores, "scores")
    p = make_params(lib().hw_mask_test_params_default, v, model=m, fname="mask_test",
                    aliases=dict(_TASK_FIELDS, **_NIAH_FIELDS), counts=_NIAH_COUNTS)
    _lengths(p, lengths)
    _kv(p, m, kv)
    _outputs(("out", out))
    if not isinstance(scores, HeadScores):
        scores = HeadScores._adopt(lib().hw_head_scores_read(fsencode(scores, "scores")))
    p.scores = scores._as_parameter_
    p._keep.append(scores)
    ps = _read_prompts(prompts, 1) if prompts is not None else None
    if ps is not None:
        p.prompts = ps.handle
    r = _run(lib().hw_mask_test_run, m, p, progress, lib().hw_mask_test_result_free)
    res = _mask_test_result(r)
    res._init(r, m)
    if out is not None:
        res.write(out)
    return res


def _measure(fn, *args):
    _, (exact, recall) = out_values(fn, *args)
    return {"exact": exact, "recall": recall}


def _mask_test_result(r):
    L = lib()
    h = r.handle
    res = MaskTestResult()
    res["mode"] = "zero" if L.hw_mask_test_result_mode(h) == 1 else "uniform"
    res["phase"] = ("both", "prefill", "decode")[L.hw_mask_test_result_phase(h)]
    res["baseline"] = _measure(L.hw_mask_test_result_baseline, h)
    k, ex, rc = c_int(), c_double(), c_double()
    top = L.hw_mask_test_result_top(h, ctypes.byref(k), ctypes.byref(ex), ctypes.byref(rc))
    res["top"] = {"heads": [_head_key(x) for x in heads_from(top, k.value)], "exact": ex.value,
                  "recall": rc.value}
    res["random"] = []
    for d in range(L.hw_mask_test_result_draw_count(h)):
        heads = L.hw_mask_test_result_draw(h, d, ctypes.byref(ex), ctypes.byref(rc))
        res["random"].append({"heads": [_head_key(x) for x in heads_from(heads, k.value)],
                              "exact": ex.value, "recall": rc.value})
    res["random_mean"] = _measure(L.hw_mask_test_result_random_mean, h)
    n = L.hw_mask_test_result_single_count(h)
    if n:
        res["singles"] = {}
        one = Head()
        for i in range(n):
            check(L.hw_mask_test_result_single(h, i, ctypes.byref(one), ctypes.byref(ex),
                                               ctypes.byref(rc)))
            res["singles"][_head_key((one.layer, one.head))] = {"rank": i + 1, "exact": ex.value,
                                                                "recall": rc.value}
    res.ties = L.hw_mask_test_result_ties(h)
    return res


# ------------------------------------------------------------------ scale sweep

def sweep_scale(model, *, head, prompts=None, task=None, samples=None, task_seed=None,
                task_depth=None, task_symbols=None, from_=None, to=None, steps=None, scales=None,
                out=None, kv=None, progress=None):
    """`headwise sweep scale`: one head's output multiplied by s at every position, and
    the rates at which the greedy next token is the in-context and the memorized answer
    (methods.md 6), hw_scale_sweep_run.

    head: "L.H" or (L, H). prompts: a file of prompt<TAB>memorized<TAB>in-context lines;
    or task="recall" (samples, task_seed, ...): in-context = counterfactual override,
    memorized = plain recall. Scales: linspace(from_, to, steps) (default 0, 2, 5), or
    scales: a list of finite numbers (or "S,S,..."). out: .json or .tsv. kv: the KV cache,
    as `--kv` (None: every head full; a policy text or a KVPolicy).

    Returns SweepResult."""
    m, progress = _start(model, progress)
    if (prompts is None) == (task is None):
        raise ArgumentError("give one of prompts (a file) or task='recall'")
    v = _ranges(dict(head=head, task=task, samples=samples, task_seed=task_seed,
                     task_depth=task_depth, task_symbols=task_symbols, to=to, steps=steps),
                dict(_TASK_RANGES, to=(-1e6, 1e6, float), steps=(1, 10000)))
    if from_ is not None:
        v["from"] = _args.finite(from_, "from_", -1e6, 1e6)
    if isinstance(scales, str):
        try:
            scales = [float(s) for s in scales.split(",")]
        except ValueError:
            raise ArgumentError("scales: %r is not S,S,... (numbers)" % (scales,)) from None
    if scales is not None:
        if not len(scales):
            raise ArgumentError("scales: no scales")
        v["scales"] = [_args.finite(s, "scales[%d]" % i) for i, s in enumerate(scales)]
    p = make_params(lib().hw_scale_sweep_params_default, v, model=m, fname="sweep_scale",
                    aliases=_TASK_FIELDS, counts={"scales": "n_scales"})
    _kv(p, m, kv)
    _outputs(("out", out))
    ps = _read_prompts(prompts, 2) if prompts is not None else None
    if ps is not None:
        p.prompts = ps.handle
    r = _run(lib().hw_scale_sweep_run, m, p, progress, lib().hw_scale_sweep_result_free)
    L = lib()
    res = SweepResult()
    hd = L.hw_scale_sweep_result_head(r.handle)
    res["head"] = _head_key((hd.layer, hd.head))
    res["prompts"] = L.hw_scale_sweep_result_samples(r.handle)
    rows = []
    for k in range(L.hw_scale_sweep_result_count(r.handle)):
        _, (s, ctx, mem) = out_values(L.hw_scale_sweep_result_get, r.handle, k,
                                      types=(c_double, c_double, c_double))
        rows.append({"scale": s, "in_context": ctx, "memorized": mem})
    res["sweep"] = rows
    res.scales, res.in_context, res.memorized = (
        np.array([row[c] for row in rows], dtype=np.float64)
        for c in ("scale", "in_context", "memorized"))
    res._init(r, m)
    if out is not None:
        res.write(out)
    return res


# ------------------------------------------------------------------ echo-induction

class EchoInduction(HeadTable):
    """score_echo_induction's result: the HeadTable of echo, induction, echo_mass,
    induction_mass, prev_token (L, H), and "kv_echo", "kv_induction" (L, Hk) float64,
    "selected" (L, Hk) int 0/1 (KV heads that keep a full cache), "tokens" (T) the probe;
    .info the probe's facts; .write_selection(path) the selection as --heads-out writes it."""

    def _writer(self, path):
        return "hw_echo_induction_write"

    def write_selection(self, path):
        _write(lib().hw_echo_induction_write_selection, self._r, path, "write selection")


def score_echo_induction(model, *, block=None, repeats=None, lo=None, hi=None, seed=None,
                         text=None, echo_ratio=None, induction_ratio=None, agg="max", chunk=None,
                         out=None, heads_out=None, threads=None, progress=None):
    """`headwise score echo-induction`: RazorAttention's probe (methods.md 3.1),
    hw_echo_induction_run: BOS and a block of random ids in [lo, hi) (seed), or of text's
    tokens, repeated `repeats` times; one prefill (chunk query rows per call); echo and
    induction scores per head, their per-KV-head agg ("max" or "mean") and the KV heads
    selected (top induction_ratio by induction + echo_ratio by echo). out: the table
    (.json or .tsv); heads_out: the selection (L rows x Hk columns of 0/1).

    Returns EchoInduction (a HeadTable)."""
    m, progress = _start(model, progress)
    if text is not None:
        _args.text(text, "text")
    v = _ranges(dict(block=block, repeats=repeats, lo=lo, hi=hi, seed=seed, chunk=chunk,
                     echo_ratio=echo_ratio, induction_ratio=induction_ratio, text=text),
                dict(block=(1, 1 << 24), repeats=(2, 1000), lo=(0, 1 << 30), hi=(1, 1 << 30),
                     seed=(0, 1 << 62), chunk=(1, 1 << 20), echo_ratio=(0, 1, float),
                     induction_ratio=(0, 1, float)))
    v["kv_max"] = _choice(agg, "agg", {"max": 1, "mean": 0})
    set_threads = _threads(threads)
    p = make_params(lib().hw_echo_induction_params_default, v, model=m,
                    fname="score_echo_induction")
    _outputs(("out", out), ("heads_out", heads_out))
    set_threads()
    r = _run(lib().hw_echo_induction_run, m, p, progress, lib().hw_echo_induction_free)
    L = lib()
    res = EchoInduction()
    res._fill(r, m, L.hw_echo_induction_table(r.handle))
    info = EchoInductionInfo()
    L.hw_echo_induction_get_info(r.handle, ctypes.byref(info))
    res.info = {f: getattr(info, f) for f, _ in EchoInductionInfo._fields_}
    res.info["agg"] = agg
    kv = (res.shape[0], info.n_kv_head)
    res["kv_echo"] = copy_array(L.hw_echo_induction_kv_echo(r.handle), kv, "kv_echo")
    res["kv_induction"] = copy_array(L.hw_echo_induction_kv_induction(r.handle), kv, "kv_induction")
    res["selected"] = copy_array(L.hw_echo_induction_selected(r.handle), kv, "selected")
    res["tokens"] = copy_array(L.hw_echo_induction_tokens(r.handle), (info.n_tokens,), "tokens")
    if out is not None:
        res.write(out)
    if heads_out is not None:
        res.write_selection(heads_out)
    return res


# ------------------------------------------------------------------ successor

class Successor(HeadTable):
    """score_successor's result: the HeadTable of score, pairs (L, H); .info (pairs,
    n_tasks, embedding); .tasks: per task its name, items, single_tokens and pairs."""

    def _writer(self, path):
        return "hw_successor_write"


def score_successor(model, *, tasks=None, embedding="mlp0", out=None, progress=None):
    """`headwise score successor`: successor heads (methods.md 5), hw_successor_run:
    each head's OV circuit on the effective embedding (embedding "mlp0" or "block0") of
    each ordinal item, and the share of consecutive pairs whose logits over the task's
    tokens peak at the successor. tasks: a file of "name: item item ..." lines (default:
    numbers, number words, ordinals, days, months, letters). Weights only.

    Returns Successor (a HeadTable)."""
    m, progress = _start(model, progress)
    emb = _choice(embedding, "embedding", {"mlp0": 0, "block0": 1})
    if tasks is not None:
        fsencode(tasks, "tasks")
    _outputs(("out", out))
    L = lib()
    ts = Owned(check_handle(L.hw_successor_tasks_read(m._t, fsencode(tasks, "tasks"))
                            if tasks is not None else L.hw_successor_tasks_default(m._t), "tasks"),
               L.hw_successor_tasks_free)
    p = make_params(L.hw_successor_params_default, {"tasks": ts, "embedding": emb},
                    fname="score_successor")
    r = _run(L.hw_successor_run, m, p, progress, L.hw_successor_free)
    res = Successor()
    res._fill(r, m, L.hw_successor_table(r.handle))
    info = SuccessorInfo()
    L.hw_successor_get_info(r.handle, ctypes.byref(info))
    res.info = {"pairs": info.pairs, "n_tasks": info.n_tasks, "embedding": embedding}
    res.tasks = []
    ti = SuccessorTaskInfo()
    for k in range(L.hw_successor_tasks_count(ts.handle)):
        check(L.hw_successor_tasks_get(ts.handle, k, ctypes.byref(ti)))
        res.tasks.append({"name": ti.name.decode("utf-8", "replace"), "items": ti.items,
                          "single_tokens": ti.single_tokens, "pairs": ti.pairs})
    ts.close()
    if out is not None:
        res.write(out)
    return res


# ------------------------------------------------------------------ attribution

class Attribution(HeadTable):
    """score_attribution's result: the HeadTable of raw, scaled (L, H), ranked by scaled
    lowest first (the in-context heads; memory heads are highest); "tokens" (n_prompts,
    3): per prompt the memorized answer's token, the in-context answer's and the greedy
    next token; .info (n_prompts, in_context_rate, memorized_rate)."""

    def _writer(self, path):
        return "hw_attribution_write"


def score_attribution(model, *, prompts=None, task=None, samples=None, task_seed=None,
                      task_symbols=None, out=None, kv=None, progress=None):
    """`headwise score attribution`: memory vs in-context heads (methods.md 6),
    hw_attribution_run: each head's output at the final position dotted with
    W_U[memorized] - W_U[in-context], averaged over prompts. prompts: a file of
    prompt<TAB>memorized<TAB>in-context lines; or task="recall" (samples, task_seed,
    task_symbols): the recall task's counterfactual held-out samples. kv: the KV cache,
    as `--kv` (None: every head full; a policy text or a KVPolicy).

    Returns Attribution (a HeadTable)."""
    m, progress = _start(model, progress)
    if (prompts is None) == (task is None):
        raise ArgumentError("give prompts (a file: prompt, memorized, in-context) or task='recall'")
    if task is not None and task != "recall":
        raise ArgumentError("task: %r is not 'recall'" % (task,))
    v = _ranges(dict(task=task, samples=samples, task_seed=task_seed, task_symbols=task_symbols),
                _TASK_RANGES)
    if prompts is not None:
        fsencode(prompts, "prompts")
    p = make_params(lib().hw_attribution_params_default, v, fname="score_attribution")
    _kv(p, m, kv)
    _outputs(("out", out))
    ps = _read_prompts(prompts, 2) if prompts is not None else None
    if ps is not None:
        p.prompts = ps.handle
    L = lib()
    r = _run(L.hw_attribution_run, m, p, progress, L.hw_attribution_free)
    res = Attribution()
    res._fill(r, m, L.hw_attribution_table(r.handle))
    info = AttributionInfo()
    L.hw_attribution_get_info(r.handle, ctypes.byref(info))
    res.info = {f: getattr(info, f) for f, _ in AttributionInfo._fields_}
    res["tokens"] = copy_array(L.hw_attribution_tokens(r.handle), (info.n_prompts, 3), "tokens") \
        if info.n_prompts else np.zeros((0, 3), np.int32)
    if out is not None:
        res.write(out)
    return res


# ------------------------------------------------------------------ dla

def score_dla(model, *, prompt, target, minus=(), raw=False, out=None, kv=None, progress=None):
    """`headwise score dla`: direct logit attribution (methods.md 9), hw_dla_run: every
    component's output at the prompt's last position (encoded with BOS) dotted with
    W_U[target] - mean W_U[minus] (target and each minus: an answer's first token); raw:
    the raw unembedding instead of the final norm's scale held fixed. out: .json or .tsv.
    kv: the KV cache, as `--kv` (None: every head full; a policy text or a KVPolicy).

    Returns DlaResult."""
    m, progress = _start(model, progress)
    if isinstance(minus, str):
        minus = [minus]
    v = {"prompt": _args.text(prompt, "prompt"), "target": _args.text(target, "target"),
         "minus": [_args.text(x, "minus[%d]" % i) for i, x in enumerate(minus)],
         "raw": _bool(raw, "raw")}
    if len(v["minus"]) > 64:
        raise ArgumentError("minus: at most 64 answers")   # as the CLI
    p = make_params(lib().hw_dla_params_default, v, fname="score_dla",
                    counts={"minus": "n_minus"})
    _kv(p, m, kv)
    _outputs(("out", out))
    L = lib()
    r = _run(L.hw_dla_run, m, p, progress, L.hw_dla_free)
    info = DlaInfo()
    L.hw_dla_get_info(r.handle, ctypes.byref(info))
    n = L.hw_dla_count(r.handle)
    values = copy_array(L.hw_dla_values(r.handle), (n,), "dla")
    res = DlaResult()
    res["logit_diff"] = info.logit_diff
    res["scaled"] = bool(info.scaled)
    res["target"] = _text(info.target_text)
    res["target_token"] = info.target
    res["minus"] = [_text(info.minus_text[k]) for k in range(info.n_minus)]
    res["minus_tokens"] = [info.minus[k] for k in range(info.n_minus)]
    res["components"] = {L.hw_dla_name(r.handle, k).decode(): float(values[k]) for k in range(n)}
    res.heads = copy_array(L.hw_dla_heads(r.handle), (m.config.n_layer, m.config.n_head), "heads")
    res.sum = info.sum
    res.n_tokens = info.n_tokens
    res._init(r, m)
    if out is not None:
        res.write(out)
    return res

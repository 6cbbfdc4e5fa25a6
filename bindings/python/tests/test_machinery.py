"""The machinery under every wrapper: ctypes structs that match the header, the
params-struct builder, the callback adapters (progress, Ctrl-C as cancellation)
and the result accessors."""
import ctypes
import gc
import os
import re
import shutil
import signal
import subprocess
from ctypes import CFUNCTYPE, POINTER, Structure, c_char_p, c_double, c_int, c_uint64, c_void_p

import numpy as np
import pytest

import headwise
from headwise import _capi
from headwise._capi import (CALLBACKS, Head, GreedyParams, PROGRESS_FN, STRUCTS, TOKEN_FN, lib)
from headwise._protocol import (Callback, Owned, Progress, copy_array, fill_array, heads_from,
                                make_params, out_values, run_method)
from conftest import REPO

HEADER = os.path.join(REPO, "include", "headwise.h")


# ------------------------------------------------------------------ structs against the header

def _header():
    text = open(HEADER).read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    structs = {m.group(2): m.group(1)
               for m in re.finditer(r"typedef struct\s*\{(.*?)\}\s*(\w+)\s*;", text, re.S)}
    enums = set(re.findall(r"typedef enum\s*\{.*?\}\s*(\w+)\s*;", text, re.S))
    return structs, enums


def _fields(body):
    """[(name, base type, pointer?, array length or None)] of a struct body."""
    out = []
    for decl in body.split(";"):
        decl = " ".join(decl.split())
        if not decl:
            continue
        parts = decl.split(",")
        m = re.match(r"^(.*?)([\s*]*)(\w+)\s*(?:\[\s*(\w+)\s*\])?$", parts[0])
        type_words = [w for w in m.group(1).replace("*", " * ").split() if w != "const"]
        base_ptr = "*" in type_words
        base = " ".join(w for w in type_words if w != "*")
        out.append((m.group(3), base, base_ptr or "*" in m.group(2), m.group(4)))
        for p in parts[1:]:
            m2 = re.match(r"^\s*(\**)\s*(\w+)\s*(?:\[\s*(\w+)\s*\])?$", p)
            out.append((m2.group(2), base, base_ptr or bool(m2.group(1)), m2.group(3)))
    return out


SCALARS = {"int": c_int, "float": ctypes.c_float, "double": c_double, "int64_t": ctypes.c_int64,
           "uint64_t": c_uint64, "size_t": ctypes.c_size_t, "char": ctypes.c_char}


def _compatible(ctype, base, ptr, n, enums):
    if ptr:
        return ctype in (c_void_p, c_char_p) or issubclass(ctype, (ctypes._Pointer, ctypes._CFuncPtr))
    if n is not None:
        return issubclass(ctype, ctypes.Array) and ctype._length_ == int(n) and \
            _compatible(ctype._type_, base, False, None, enums)
    if base in CALLBACKS:
        return ctype is CALLBACKS[base]
    if base in enums or base == "hw_status":
        return ctype is c_int
    if base in SCALARS:
        return ctype is SCALARS[base]
    return getattr(ctype, "_c_name_", None) == base


@pytest.mark.parametrize("struct", STRUCTS, ids=[s._c_name_ for s in STRUCTS])
def test_struct_matches_header(struct):
    structs, enums = _header()
    assert struct._c_name_ in structs, "%s is not in headwise.h" % struct._c_name_
    c_fields = _fields(structs[struct._c_name_])
    assert [f[0] for f in c_fields] == [f[0] for f in struct._fields_]
    for (name, base, ptr, n), (_, ctype) in zip(c_fields, struct._fields_):
        assert _compatible(ctype, base, ptr, n, enums), (name, base, ptr, n, ctype)


def test_struct_offsets_match_compiler(tmp_path):
    """Every field's offset and every struct's size as the C compiler lays them out."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        pytest.skip("no C compiler")
    lines = []
    for s in STRUCTS:
        lines.append('printf("%s sizeof %%zu\\n", sizeof(%s));' % (s._c_name_, s._c_name_))
        for name, _ in s._fields_:
            lines.append('printf("%s %s %%zu\\n", offsetof(%s, %s));'
                         % (s._c_name_, name, s._c_name_, name))
    src = tmp_path / "offsets.c"
    src.write_text("#include <stddef.h>\n#include <stdio.h>\n#include \"headwise.h\"\n"
                   "int main(void) {\n%s\nreturn 0;\n}\n" % "\n".join(lines))
    exe = tmp_path / "offsets"
    subprocess.run([cc, "-I", os.path.join(REPO, "include"), str(src), "-o", str(exe)], check=True)
    got = dict(l.rsplit(" ", 1) for l in subprocess.run([str(exe)], stdout=subprocess.PIPE,
                                                        check=True).stdout.decode().splitlines())
    for s in STRUCTS:
        assert int(got["%s sizeof" % s._c_name_]) == ctypes.sizeof(s), s._c_name_
        for name, _ in s._fields_:
            assert int(got["%s %s" % (s._c_name_, name)]) == getattr(s, name).offset, (s, name)


# ------------------------------------------------------------------ make_params

def test_params_from_c_defaults():
    p = make_params(lib().hw_generate_params_default,
                    {"n_steps": 7, "sampler.temperature": 0.5, "sampler": {"seed": 2 ** 64 - 1},
                     "hooks": None})
    assert p.n_steps == 7 and p.sampler.temperature == 0.5 and p.sampler.seed == 2 ** 64 - 1
    assert p.sampler.top_p == pytest.approx(0.9) and not p.hooks        # defaults kept
    g = make_params(lib().hw_greedy_params_default, {"stop": "newline"},
                    enums={"stop": {"eos": 1, "newline": 2}})
    assert (g.max_new, g.stop, g.decode_last) == (64, 2, 0)


@pytest.mark.parametrize("values,error,needle", [
    ({"nsteps": 3}, TypeError, "unexpected keyword argument 'nsteps'"),
    ({"sampler.nope": 3}, TypeError, "sampler.nope"),
    ({"n_steps.x": 3}, TypeError, "n_steps.x"),
    ({"sampler.temperature": float("nan")}, headwise.ArgumentError, "sampler.temperature"),
    ({"sampler": {"top_p": float("inf")}}, headwise.ArgumentError, "sampler.top_p"),
    ({"sampler.temperature": 1e39}, headwise.ArgumentError, "not a finite"),
    ({"n_steps": 2 ** 31}, headwise.ArgumentError, "n_steps"),
    ({"n_steps": 1.5}, headwise.ArgumentError, "expected an integer"),
    ({"sampler.seed": -1}, headwise.ArgumentError, "seed"),
    ({"sampler.seed": 2 ** 64}, headwise.ArgumentError, "seed"),
    ({"hooks": "abc"}, headwise.ArgumentError, "hooks"),
])
def test_params_refused(values, error, needle):
    with pytest.raises(error, match=re.escape(needle)):
        make_params(lib().hw_generate_params_default, values, fname="generate")


class Demo(Structure):
    _fields_ = [("head", Head), ("scales", POINTER(c_double)), ("n_scales", c_int),
                ("paths", POINTER(c_char_p)), ("n_paths", c_int), ("heads", POINTER(Head)),
                ("n_heads", c_int), ("scores", c_void_p), ("mode", c_int), ("name", c_char_p),
                ("on_token", TOKEN_FN)]


def _demo(model, values, **kw):
    return make_params(lambda: Demo(mode=1), values, model=model, fname="demo",
                       counts={"scales": "n_scales", "paths": "n_paths", "heads": "n_heads"},
                       enums={"mode": {"uniform": 0, "zero": 1}}, aliases={"scale": "scales"}, **kw)


def test_params_arrays_heads_objects(model, tmp_path):
    scores = headwise.HeadScores(5, 8)
    scores.append(4, 7, 0.5)
    handle = scores._as_parameter_
    p = _demo(model, {"head": "3.1", "scale": np.array([0.0, 0.5, 2.0]),
                      "paths": [tmp_path / "a.txt", "b.txt"], "heads": ["1.2", (4, 7)],
                      "scores": scores, "mode": "uniform", "name": "x"})
    del scores
    gc.collect()
    assert (p.head.layer, p.head.head) == (3, 1)
    assert p.n_scales == 3 and [p.scales[i] for i in range(3)] == [0.0, 0.5, 2.0]
    assert p.n_paths == 2 and p.paths[0] == os.fsencode(tmp_path / "a.txt") and p.paths[1] == b"b.txt"
    assert heads_from(p.heads, p.n_heads) == [(1, 2), (4, 7)]
    assert p.scores == handle and p.mode == 0 and p.name == b"x"
    # What the struct points to outlives the arguments: the scores are still there.
    mean = fill_array(lib().hw_head_scores_mean, p.scores, shape=(5, 8))
    assert mean[4, 7] == 0.5
    assert _demo(model, {}).mode == 1 and not _demo(model, {}).scales


@pytest.mark.parametrize("values,needle", [
    ({"head": "5.0"}, "outside the model"),
    ({"head": "1"}, "LAYER.HEAD"),
    ({"heads": ["1.2", "1.9"]}, "outside the model"),
    ({"scale": [1.0, float("nan")]}, r"scales\[1\]"),
    ({"scale": "1.0"}, "expected a sequence"),
    ({"mode": "sideways"}, "sideways"),
    ({"name": "a\0b"}, "NUL"),
    ({"scores": 3.5}, "expected a headwise object"),
])
def test_params_demo_refused(model, values, needle):
    with pytest.raises(headwise.ArgumentError, match=needle):
        _demo(model, values)


def test_params_array_needs_count():
    with pytest.raises(TypeError, match="no count field"):
        make_params(lambda: Demo(), {"scales": [1.0]})


# ------------------------------------------------------------------ callbacks

def test_progress_adapter_calls_and_stops():
    seen = []

    def fn(stage, done, total):
        seen.append((stage, done, total))
        return done >= 3

    p = Progress(fn)
    assert p.c(b"trial one", 1, 5, None) == 0          # called as C calls it, through libffi
    assert p.c(b"trial", 3, 5, None) == 1
    assert seen == [("trial one", 1, 5), ("trial", 3, 5)]
    p.reraise()                                          # nothing to raise
    assert Progress(None).c(b"x", 1, 0, None) == 0
    with pytest.raises(headwise.ArgumentError):
        Progress("yes")


def test_progress_adapter_keeps_exceptions():
    calls = []

    def boom(stage, done, total):
        calls.append(done)
        raise ZeroDivisionError("inside the callback")

    p = Progress(boom)
    assert p.c(b"s", 1, 2, None) == 1 and p.c(b"s", 2, 2, None) == 1
    assert calls == [1]                                  # not re-entered once stopping
    with pytest.raises(ZeroDivisionError, match="inside the callback"):
        p.reraise()


def test_ctrl_c_is_cancellation():
    """A real SIGINT during a method reaches Python in the progress callback, which
    tells C to stop; the KeyboardInterrupt comes out after the call."""
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("SIGINT is not Python's default handler here")

    def interrupted(stage, done, total):
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):      # the signal is handled at the next bytecode check
            pass
        return False

    p = Progress(interrupted)
    assert p.c(b"s", 1, 2, None) == 1
    with pytest.raises(KeyboardInterrupt):
        p.reraise()


def test_progress_true_prints(capsys):
    p = Progress(True)
    assert p.c(b"trial", 5, 10, None) == 0
    assert p.c(b"trial", 10, 10, None) == 0
    err = capsys.readouterr().err
    assert "trial 5/10 (50%)" in err and "trial 10/10 (100%)" in err


# A stand-in for an hw_X_run (the protocols are not wrapped yet): max_new steps, each
# reported; a stop leaves a result behind that run_method must free.
RUN_FN = CFUNCTYPE(c_int, c_void_p, POINTER(GreedyParams), PROGRESS_FN, c_void_p, POINTER(c_void_p))
freed = []


def _fake_run(m, params, progress, user, out):
    n = params.contents.max_new
    for i in range(n):
        if progress(b"step", i + 1, n, user):
            out[0] = 99
            return _capi.HW_ERR_ARG
    out[0] = 42
    return 0


fake_run = RUN_FN(_fake_run)


def test_run_method():
    p = make_params(lib().hw_greedy_params_default, {"max_new": 4})
    steps = []
    assert run_method(fake_run, None, params=p,
                      progress=lambda s, d, t: steps.append((s, d, t))) == 42
    assert steps == [("step", i, 4) for i in range(1, 5)]
    with pytest.raises(headwise.Error):
        run_method(fake_run, None, params=p, progress=lambda s, d, t: d == 2)
    del freed[:]

    def ctrl_c(s, d, t):
        if d == 3:
            raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        run_method(fake_run, None, params=p, progress=ctrl_c, free=freed.append)
    assert freed == [99]


def test_callback_stop_value():
    cb = Callback(TOKEN_FN, lambda step, tok, logits, user: None)
    assert cb.c(0, 5, None, None) == 0


# ------------------------------------------------------------------ accessors

def test_accessors(model):
    arr = (c_double * 6)(*range(6))
    a = copy_array(ctypes.cast(arr, POINTER(c_double)), (2, 3))
    arr[0] = 100
    assert a.tolist() == [[0, 1, 2], [3, 4, 5]] and a.dtype == np.float64   # a copy
    with pytest.raises(headwise.Error, match="scores: no data"):
        copy_array(None, (2, 2), "scores")
    st, (point, layer) = out_values(lib().hw_hook_parse, model._m, b"blocks.3.attn.hook_pattern",
                                    types=(c_int, c_int))
    name = ctypes.create_string_buffer(64)
    lib().hw_hook_name(name, 64, point, layer)
    assert st == 0 and layer == 3 and name.value == b"blocks.3.attn.hook_pattern"
    heads = (Head * 2)(Head(1, 2), Head(3, 4))
    assert heads_from(heads, 2) == [(1, 2), (3, 4)] and heads_from(None, 3) == []
    o = Owned(lib().hw_head_scores_new(2, 2), lib().hw_head_scores_free)
    assert fill_array(lib().hw_head_scores_mean, o, shape=(2, 2)).shape == (2, 2)
    o.close()
    with pytest.raises(headwise.Error, match="closed"):
        fill_array(lib().hw_head_scores_mean, o, shape=(2, 2))

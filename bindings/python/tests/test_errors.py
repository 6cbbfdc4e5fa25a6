"""Errors raise, never crash: bad arguments are refused in Python before any C
call, and bad files come back as headwise.Error with the library's message."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import headwise
from headwise import _capi
from conftest import BUILD, MODEL, PKG_ROOT, TOKENIZER

PROMPT = [1, 403, 407, 261, 378]


@pytest.fixture
def c_calls(monkeypatch):
    """The names of the library functions called while the test runs."""
    calls = []
    real = _capi._Lib.__getattr__

    def spy(self, name):
        calls.append(name)
        return real(self, name)

    monkeypatch.setattr(_capi._Lib, "__getattr__", spy)
    return calls


# Heavy C calls a refused argument must never reach.
RUNNING = {"hw_context_new", "hw_context_new_kv", "hw_forward_hooked", "hw_greedy", "hw_generate", "hw_hooks_new",
           "hw_capture_new", "hw_tokenizer_decode", "hw_hooks_mask_uniform", "hw_hooks_scale"}

BAD_RUNS = [
    ("token above the vocabulary", dict(tokens=[1, 512]), "outside the vocabulary"),
    ("negative token", dict(tokens=[1, -1]), "outside the vocabulary"),
    ("float token", dict(tokens=[1, 2.0]), "expected an integer"),
    ("bool token", dict(tokens=[True]), "expected an integer"),
    ("no tokens", dict(tokens=[]), "no tokens"),
    ("tokens of the wrong shape", dict(tokens=np.array([[1, 403], [407, 261]])), "expected an integer"),
    ("tokens not a sequence", dict(tokens=5), "expected a sequence"),
    ("heads of the wrong shape", dict(mask_uniform=np.array([[1, 2, 3]])), "nor an \\(L, H\\) pair"),
    ("hook name not a str", dict(capture=[3]), "expected a hook name"),
    ("unknown hook", dict(capture=["blocks.0.attn.hook_nope"]), "capture"),
    ("hook layer out of range", dict(capture=["blocks.5.attn.hook_pattern"]), "capture"),
    ("unknown every-layer hook", dict(capture=["blocks.*.hook_nothing"]), "capture"),
    ("head out of range", dict(mask_uniform=["1.8"]), "outside the model"),
    ("layer out of range", dict(zero_output=[(5, 0)]), "outside the model"),
    ("malformed head", dict(mask_uniform=["1-2"]), "LAYER.HEAD"),
    ("negative head", dict(mask_uniform=[(1, -1)]), "outside the model"),
    ("scale nan", dict(scale={"1.2": float("nan")}), "not a finite number"),
    ("scale inf", dict(scale={"1.2": float("inf")}), "not a finite number"),
    ("scale 1e400", dict(scale={"1.2": 1e400}), "not a finite number"),
    ("scale beyond float", dict(scale={"1.2": 1e39}), "not a finite number"),
    ("scale not a number", dict(scale={"1.2": "2"}), "expected a number"),
    ("scale not a dict", dict(scale=2.0), "expected a dict"),
    ("bad phase", dict(mask_uniform=["1.2"], phase="sometimes"), "phase"),
    ("negative n_new", dict(n_new=-1), "n_new"),
    ("beyond the context", dict(n_new=508), "do not fit the context"),
]


@pytest.mark.parametrize("what,kwargs,needle", BAD_RUNS, ids=[b[0] for b in BAD_RUNS])
def test_run_refuses_before_c(model, c_calls, what, kwargs, needle):
    kwargs = dict(kwargs)
    tokens = kwargs.pop("tokens", PROMPT)
    with pytest.raises(headwise.ArgumentError, match=needle) as e:
        model.run(tokens, **kwargs)
    assert isinstance(e.value, headwise.Error) and isinstance(e.value, ValueError)
    assert isinstance(e.value, RuntimeError)
    assert not RUNNING & set(c_calls), c_calls


BAD_GENERATES = [
    ("temperature nan", dict(temperature=float("nan")), "temperature"),
    ("temperature negative", dict(temperature=-1), "temperature"),
    ("top_p 0", dict(top_p=0), "top_p"),
    ("seed negative", dict(seed=-1), "seed"),
    ("n negative", dict(n=-5), "n"),
    ("NUL in prompt", dict(prompt="a\0b"), "NUL"),
    ("prompt not str", dict(prompt=b"bytes"), "expected a str"),
    ("bad head", dict(mask_uniform="9.9"), "outside the model"),
    ("on_piece not callable", dict(on_piece=3), "callable"),
]


@pytest.mark.parametrize("what,kwargs,needle", BAD_GENERATES, ids=[b[0] for b in BAD_GENERATES])
def test_generate_refuses_before_c(model, c_calls, what, kwargs, needle):
    kwargs = dict(kwargs)
    prompt = kwargs.pop("prompt", "Once")
    with pytest.raises(headwise.ArgumentError, match=needle):
        model.generate(prompt, **kwargs)
    assert not RUNNING & set(c_calls), c_calls


def test_tokenizer_arguments(model, c_calls):
    with pytest.raises(headwise.ArgumentError, match="outside the vocabulary"):
        model.decode([1, 600])
    with pytest.raises(headwise.ArgumentError, match="NUL"):
        model.encode("a\0b")
    with pytest.raises(headwise.ArgumentError, match="UTF-8"):
        model.encode("\udc80")
    assert "hw_tokenizer_decode" not in c_calls and "hw_tokenizer_encode" not in c_calls
    assert model.decode([]) == "" and model.pieces([]) == []


def test_truncated_model(tmp_path):
    data = open(MODEL, "rb").read()
    for n in (10, 28, len(data) // 2, len(data) - 4):
        p = tmp_path / "cut.bin"
        p.write_bytes(data[:n])
        with pytest.raises(headwise.Error, match=r"cut\.bin: file ends inside tensor .*truncated"):
            headwise.Model(p, tokenizer=TOKENIZER)


def test_missing_and_bad_files(tmp_path):
    with pytest.raises(headwise.Error, match="nope.bin"):
        headwise.Model(tmp_path / "nope.bin", tokenizer=TOKENIZER)
    with pytest.raises(headwise.Error, match="missing-tok.bin"):
        headwise.Model(MODEL, tokenizer=tmp_path / "missing-tok.bin")
    # The default tokenizer, tokenizer.bin beside the model, is not there.
    shutil.copy(MODEL, tmp_path / "m.bin")
    with pytest.raises(headwise.Error, match="tokenizer.bin: no such file"):
        headwise.Model(tmp_path / "m.bin")
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(os.urandom(3000))
    with pytest.raises(headwise.Error):
        headwise.Model(MODEL, tokenizer=garbage)
    with pytest.raises(headwise.Error):
        headwise.Model(garbage, tokenizer=TOKENIZER)
    with pytest.raises(headwise.Error):   # a folder with no model in it
        headwise.Model(tmp_path, tokenizer=TOKENIZER)
    with pytest.raises(headwise.ArgumentError, match="NUL"):
        headwise.Model("a\0b")
    with pytest.raises(headwise.ArgumentError, match="threads"):
        headwise.Model(MODEL, tokenizer=TOKENIZER, threads=0)


BAD_SCORES = [
    ("not json", b"{\"0-0\": [1, 2", "not a JSON object"),
    ("a list", b"[1, 2, 3]", "not a JSON object"),
    ("bad key", b"{\"a-b\": [1]}", "not LAYER-HEAD"),
    ("negative key", b"{\"-1-0\": [1]}", "not LAYER-HEAD"),
    ("string value", b"{\"0-0\": \"x\"}", "neither a list nor a number"),
    ("string in list", b"{\"0-0\": [1, \"x\"]}", "not a finite number"),
    ("infinite", b"{\"0-0\": [1e999]}", "not a finite number"),
    ("empty", b"{}", "no head scores"),
    ("not utf-8", b"{\"0-0\": [1], \"\xff\": 2}", "not UTF-8"),
    ("empty file", b"", "not a JSON object"),
]


@pytest.mark.parametrize("what,content,needle", BAD_SCORES, ids=[b[0] for b in BAD_SCORES])
def test_malformed_head_scores(tmp_path, what, content, needle):
    p = tmp_path / "scores.json"
    p.write_bytes(content)
    with pytest.raises(headwise.Error, match=needle):
        headwise.read_head_scores(p)
    with pytest.raises(headwise.Error, match="cannot read"):
        headwise.read_head_scores(tmp_path / "absent.json")


def test_unwritable_head_scores(tmp_path):
    s = headwise.HeadScores(2, 2)
    with pytest.raises(headwise.Error):
        s.write(tmp_path / "no" / "such" / "dir" / "x.json")
    with pytest.raises(headwise.ArgumentError):
        s.append(0, 0, float("nan"))
    with pytest.raises(headwise.ArgumentError):
        s.append(2, 0, 1.0)


def test_closed_model_raises():
    m = headwise.Model(MODEL, tokenizer=TOKENIZER)
    m.close()
    with pytest.raises(headwise.Error, match="closed"):
        m.run(PROMPT)
    with pytest.raises(headwise.Error, match="closed"):
        m.encode("x")
    m.close()      # twice is fine


def _python(code, env):
    return subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, env=env, cwd="/", timeout=120)


PROBE = ("import sys; sys.path.insert(0, %r)\nimport headwise\n"
         "try:\n    headwise.Model(%r, tokenizer=%r)\n"
         "except headwise.Error as e:\n    print('Error:', e)\nelse:\n    print('loaded')\n"
         % (PKG_ROOT, MODEL, TOKENIZER))


def test_library_not_found_is_an_error():
    env = dict(os.environ, HEADWISE_LIB="/nonexistent/libheadwise.so")
    p = _python(PROBE, env)
    assert p.returncode == 0, p.stderr
    assert b"Error: HEADWISE_LIB=/nonexistent/libheadwise.so: no such file" in p.stdout


def test_asan_library_without_runtime_is_an_error():
    """An ASan build loaded into a plain interpreter would end it; the binding
    refuses it with an Error instead."""
    san = os.path.join(os.path.dirname(BUILD), "san", "libheadwise.so")
    if not os.path.isfile(san):
        pytest.skip("no sanitizer build at %s" % san)
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
    env["HEADWISE_LIB"] = san
    p = _python(PROBE, env)
    assert p.returncode == 0, p.stderr
    assert b"Error:" in p.stdout and b"AddressSanitizer" in p.stdout

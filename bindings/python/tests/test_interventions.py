"""Model.run's mean ablation (hw_mean_z + hw_hooks_mean_ablate) against `headwise run
--mean-ablate HEADS --mean-ref FILE`, and activation patching against the library's
own hw_hooks_patch driven through ctypes."""
import ctypes

import numpy as np
import pytest

import headwise
from headwise._capi import lib
from headwise._protocol import Owned, make_params
from conftest import MODEL, TOKENIZER, cli_run_dir, run_cli

PROMPT = "Once upon a time, there was a little girl named Lily"
REFS = ["Once upon a time", "Lily saw a cat", "The dog ran to the park and"]


@pytest.fixture
def ref_file(tmp_path):
    p = tmp_path / "ref.tsv"
    # A prompts file as --mean-ref reads it: comments skipped, text after a tab unused.
    p.write_text("# reference prompts\n%s\n%s\tunused\n%s\n" % tuple(REFS))
    return p


# ------------------------------------------------------------------ mean ablation

def test_mean_ablate_equals_cli(model, tmp_path, ref_file):
    caps = ["blocks.1.attn.hook_z", "blocks.3.attn.hook_result"]
    cli = cli_run_dir(tmp_path, PROMPT, "--mean-ablate", "1.2,3.4", "--mean-ref", str(ref_file),
                      "-n", "3", *[x for c in caps for x in ("--capture", c)])
    r = model.run(PROMPT, mean_ablate="1.2,3.4", mean_ref=ref_file, n_new=3, capture=caps)
    assert r.tokens == cli["ids"]
    assert np.array_equal(r.logits[-1], cli["logits"])
    assert sorted(r.captures) == sorted(cli["captures"])
    for name, want in cli["captures"].items():
        assert np.array_equal(r.captures[name], want), name
    plain = model.run(PROMPT, n_new=3)
    assert not np.array_equal(plain.logits[-1], r.logits[-1])     # the ablation acts
    # The same references given as prompts, as token lists, or as their mean z.
    ids = [model.encode(x) for x in REFS]
    z = model.mean_z(REFS)
    for ref in (REFS, ids, z):
        again = model.run(PROMPT, mean_ablate=[(1, 2), "3.4"], mean_ref=ref, n_new=3)
        assert again.tokens == r.tokens and np.array_equal(again.logits, r.logits)
    assert np.array_equal(model.mean_z(ref_file), z)


def test_mean_z_is_the_mean_of_z(model):
    z = model.mean_z(REFS)
    c = model.config
    assert z.shape == (c.n_layer, c.n_head, c.head_dim) and z.dtype == np.float32
    rows = []
    for text in REFS:
        caps = model.run(text, capture=["blocks.*.attn.hook_z"]).captures
        rows.append(np.stack([caps["blocks.%d.attn.hook_z" % l] for l in range(c.n_layer)]))
    want = np.concatenate(rows, axis=1).mean(axis=1)     # (L, T, H, Dh) over every position
    assert np.allclose(z, want, atol=1e-6, rtol=1e-5)
    # The ablated head's output is the mean's: hook_result of head 1.2 at every
    # position is W_O applied to the same z, so every row is the same.
    res = model.run(PROMPT, mean_ablate="1.2", mean_ref=z,
                    capture=["blocks.1.attn.hook_result"]).captures["blocks.1.attn.hook_result"]
    assert np.allclose(res[:, 2], res[0, 2], atol=1e-6)
    assert not np.allclose(res[:, 3], res[0, 3], atol=1e-6)


def test_generate_mean_ablate_equals_cli(model, ref_file):
    out = run_cli("generate", "-m", MODEL, "-z", TOKENIZER, "-p", "Lily went", "-n", "40",
                  "-t", "0", "--mean-ablate", "0.1,2.3", "--mean-ref", str(ref_file)).stdout
    text = model.generate("Lily went", 40, mean_ablate="0.1,2.3", mean_ref=ref_file)
    assert text.encode() == out[:-1]
    assert text != model.generate("Lily went", 40)


@pytest.mark.parametrize("kw,error,needle", [
    (dict(mean_ablate="1.2"), headwise.ArgumentError, "needs mean_ref"),
    (dict(mean_ref=REFS), headwise.ArgumentError, "without mean_ablate"),
    (dict(mean_ablate="1.2", mean_ref=[]), headwise.ArgumentError, "no reference"),
    (dict(mean_ablate="1.2", mean_ref=[[1, 999]]), headwise.ArgumentError, "outside the vocabulary"),
    (dict(mean_ablate="1.2", mean_ref=[[]]), headwise.ArgumentError, "do not fit"),
    (dict(mean_ablate="1.2", mean_ref=[[1] * 513]), headwise.ArgumentError, "do not fit"),
    (dict(mean_ablate="1.2", mean_ref=np.zeros((5, 8, 7))), headwise.ArgumentError, "shape"),
    (dict(mean_ablate="1.2", mean_ref=np.full((5, 8, 8), np.nan)), headwise.ArgumentError,
     "non-finite"),
    (dict(mean_ablate="1.2", mean_ref=3), headwise.ArgumentError, "mean_ref"),
    (dict(mean_ablate="9.2", mean_ref=REFS), headwise.ArgumentError, "outside the model"),
    (dict(mean_ablate="1.2", mean_ref="/nonexistent/ref.tsv"), headwise.Error, "ref.tsv"),
])
def test_mean_ablate_refused(model, kw, error, needle):
    with pytest.raises(error, match=needle):
        model.run(PROMPT, **kw)


# ------------------------------------------------------------------ patching

def _c_reference(model, src, tgt, name, n_new, layer_every=False):
    """The library's own patching: capture `name` in a run of src, then hw_hooks_patch
    it into a run of tgt (hw_forward_hooked, or hw_greedy with n_new steps). Returns
    the new tokens and the logits the first one was chosen from."""
    L = lib()
    point, layer = model._hook(name)
    keep = []

    def run(tokens, hooks):
        T = len(tokens)
        ctx = Owned(L.hw_context_new(model._m, T + n_new), L.hw_context_free)
        arr = (ctypes.c_int * T)(*tokens)
        first = []

        def on_token(step, token, logits, user):
            if step == 0:
                first.append(np.ctypeslib.as_array(logits, (model.config.vocab_size,)).copy())
            return 0

        if n_new == 0:
            out = np.zeros(model.config.vocab_size, np.float32)
            assert L.hw_forward_hooked(ctx.handle, arr, T, 1, out.ctypes.data_as(
                ctypes.POINTER(ctypes.c_float)), hooks) == 0, headwise._capi.last_error()
            return [], out
        cb = headwise._protocol.Callback(headwise._capi.TOKEN_FN, on_token)
        p = make_params(L.hw_greedy_params_default, {"max_new": n_new, "stop": 0, "hooks": hooks,
                                                     "on_token": cb})
        new = (ctypes.c_int * n_new)()
        n = L.hw_greedy(ctx.handle, None, arr, T, ctypes.byref(p), new, None, 0)
        assert n == n_new, headwise._capi.last_error()
        return list(new), first[0]

    cap = Owned(L.hw_capture_new(), L.hw_capture_free)
    assert L.hw_capture_want(cap.handle, point, layer) == 0
    h1 = Owned(L.hw_hooks_new(), L.hw_hooks_free)
    assert L.hw_hooks_add_capture(h1.handle, cap.handle) == 0
    run(src, h1.handle)
    h2 = Owned(L.hw_hooks_new(), L.hw_hooks_free)
    assert L.hw_hooks_patch(h2.handle, point, layer, cap.handle, 0) == 0
    keep.append(cap)
    return run(tgt, h2.handle)


def _pair(model):
    a = model.encode(PROMPT)
    b = list(a)
    b[3], b[-1] = model.encode(" dog", bos=False)[0], model.encode(" Tom", bos=False)[0]
    assert b != a
    return a, b


@pytest.mark.parametrize("name,n_new", [("blocks.2.attn.hook_z", 0), ("blocks.2.attn.hook_z", 3),
                                        ("blocks.1.hook_resid_post", 4),
                                        ("blocks.*.attn.hook_v", 2), ("hook_embed", 0)])
def test_patch_equals_hw_hooks_patch(model, name, n_new):
    a, b = _pair(model)
    src = model.run(a, capture=[name], n_new=n_new)
    got = model.run(b, patch={name: src}, n_new=n_new)
    new, first = _c_reference(model, a, b, name, n_new)
    assert got.tokens[len(b):] == new
    assert np.array_equal(got.logits[-1], first)
    plain = model.run(b, n_new=n_new)
    assert not np.array_equal(plain.logits[-1], got.logits[-1])    # the patch acts


def test_patch_semantics(model):
    a, b = _pair(model)
    # Clean into clean changes nothing.
    src = model.run(a, capture=["blocks.2.attn.hook_z"], n_new=2)
    same = model.run(a, patch={"blocks.2.attn.hook_z": src}, n_new=2)
    plain = model.run(a, n_new=2)
    assert same.tokens == plain.tokens and np.array_equal(same.logits, plain.logits)
    # The last residual stream of a, patched into b, gives a's logits on every row.
    last = "blocks.%d.hook_resid_post" % (model.config.n_layer - 1)
    ra = model.run(a, capture=[last])
    rb = model.run(b, patch={last: ra})
    assert np.array_equal(rb.logits, ra.logits)
    # An array is the prompt's prefill tensor: the same as the RunResult it came from.
    arr = model.run(b, patch={last: ra.captures[last]})
    assert np.array_equal(arr.logits, ra.logits)
    # An edited array: one head's z of a, the rest of b's own.
    za = model.run(a, capture=["blocks.2.attn.hook_z"]).captures["blocks.2.attn.hook_z"]
    zb = model.run(b, capture=["blocks.2.attn.hook_z"]).captures["blocks.2.attn.hook_z"]
    mixed = zb.copy()
    mixed[:, 5] = za[:, 5]
    one = model.run(b, patch={"blocks.2.attn.hook_z": mixed}, capture=["blocks.3.attn.hook_z"])
    assert not np.array_equal(one.logits, model.run(b).logits)
    # Captures see a tensor before the patch at the same point.
    seen = model.run(b, patch={"blocks.2.attn.hook_z": mixed}, capture=["blocks.2.attn.hook_z"])
    assert np.array_equal(seen.captures["blocks.2.attn.hook_z"], zb)
    # phase="prefill": a source of the prompt alone is enough for a run that decodes.
    pre = model.run(a, capture=["blocks.2.attn.hook_z"])
    ok = model.run(b, patch={"blocks.2.attn.hook_z": pre}, n_new=3, phase="prefill")
    assert len(ok.tokens) == len(b) + 3


@pytest.mark.parametrize("make,error,needle", [
    (lambda m, a: "blocks.2.attn.hook_z", headwise.ArgumentError, "expected a dict"),
    (lambda m, a: {"blocks.2.attn.hook_nope": np.zeros(3)}, headwise.ArgumentError, "capture"),
    (lambda m, a: {"blocks.2.attn.hook_z": m.run(a)}, headwise.ArgumentError, "no capture of"),
    (lambda m, a: {"blocks.*.attn.hook_z": np.zeros((12, 8, 8))}, headwise.ArgumentError,
     "takes a RunResult"),
    (lambda m, a: {"blocks.2.attn.hook_z": "abc"}, headwise.ArgumentError, "patch"),
    (lambda m, a: {"blocks.2.attn.hook_z": np.zeros((3, 8, 8))}, headwise.ArgumentError,
     "has shape"),
])
def test_patch_refused(model, make, error, needle):
    a, b = _pair(model)
    with pytest.raises(error, match=needle):
        model.run(b, patch=make(model, a))
    assert model.run(b).tokens == b        # the model works after it


def test_patch_missing_position_fails(model):
    a, b = _pair(model)
    src = model.run(a, capture=["blocks.2.attn.hook_z"])          # the prefill only
    with pytest.raises(headwise.Error, match="nothing given for blocks.2.attn.hook_z at position"):
        model.run(b, patch={"blocks.2.attn.hook_z": src}, n_new=2)

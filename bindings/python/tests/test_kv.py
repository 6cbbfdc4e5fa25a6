"""KV-cache policies from Python (issue 14): kv= on Model.run, Model.generate and the
protocols, Model.kv_bytes; "full" is today's cache bit for bit, a window really drops
positions, and the bytes follow the C layout."""
import os

import numpy as np
import pytest

import headwise
from conftest import MODEL, REPO, TOKENIZER, cli_run_dir, run_cli

COPY = os.path.join(REPO, "data", "prompts", "stories_copy.tsv")
RECALL = os.path.join(REPO, "data", "prompts", "stories_recall.tsv")

WINDOW = "window:sink=4,recent=32"


@pytest.fixture(scope="module")
def long_ids(model):
    """About 200 tokens of the model's own greedy text: longer than any window below."""
    ids = model.encode(model.generate("Once upon a time", n=200, temperature=0))
    assert len(ids) > 150
    return ids


def test_full_equals_no_policy(model, long_ids):
    a = model.run(long_ids, n_new=6, capture=["blocks.2.attn.hook_pattern"])
    for kv in ("full", model.kv_policy("full")):
        b = model.run(long_ids, n_new=6, capture=["blocks.2.attn.hook_pattern"], kv=kv)
        assert b.tokens == a.tokens
        assert np.array_equal(b.logits, a.logits)
        assert all(np.array_equal(b.captures[k], a.captures[k]) for k in a.captures)
    g = model.generate("Once upon a time", n=120, temperature=0)
    assert model.generate("Once upon a time", n=120, temperature=0, kv="full") == g


def test_window_changes_the_run(model, long_ids):
    a = model.run(long_ids, n_new=8)
    # One prefill chunk: DuoAttention's semantics let every row of the chunk see the
    # whole chunk, so the prompt's logits stay; the decode steps see 4 + 32 positions.
    w = model.run(long_ids, n_new=8, kv=WINDOW)
    assert np.array_equal(w.logits, a.logits)
    assert w.tokens[:len(long_ids)] == long_ids and w.tokens != a.tokens
    # Chunks of 32 rows: the prompt's later rows lose most of their past.
    c = model.run(long_ids, n_new=1, kv=WINDOW + ",chunk=32")
    # Nothing dropped yet in the first rows (other matrix shapes: equal to rounding).
    assert np.allclose(c.logits[:36], a.logits[:36], atol=1e-4)
    assert np.abs(c.logits[-1] - a.logits[-1]).max() > 0.1
    # A window covering the context is the full cache.
    assert np.array_equal(model.run(long_ids, kv="window:sink=4,recent=508").logits, a.logits[:len(long_ids)])
    g = model.generate("Once upon a time", n=200, temperature=0)
    assert model.generate("Once upon a time", n=200, temperature=0, kv="window:sink=4,recent=16") != g


def test_window_matches_the_cli(model, long_ids, tmp_path):
    prompt = model.decode(long_ids[1:])
    flags = ("--kv", WINDOW + ",chunk=32", "-n", "3", "--capture", "hook_logits")
    cli = cli_run_dir(tmp_path, prompt, *flags)
    r = model.run(prompt, n_new=3, kv=WINDOW + ",chunk=32", capture=["hook_logits"])
    assert r.tokens == cli["ids"]
    assert np.array_equal(r.logits[-1], cli["logits"])
    entry = cli["index"][-1]
    assert entry["kv"] == WINDOW + ",chunk=32"
    assert entry["kv_bytes"] == model.kv_bytes(WINDOW, context=len(cli["ids"])).sum()


def test_kv_bytes_formula(model):
    c = model.config
    L, Hk, Dh, C = c.n_layer, c.n_kv_head, c.head_dim, c.n_ctx
    full = model.kv_bytes()
    assert full.shape == (L, Hk) and full.dtype == np.int64
    assert (full == 2 * C * Dh * 4).all() and full.sum() == 2 * L * Hk * C * Dh * 4
    assert np.array_equal(model.kv_bytes("full"), full)
    assert (model.kv_bytes(WINDOW) == 2 * (4 + 32) * Dh * 4).all()
    assert (model.kv_bytes(WINDOW, context=100) == 2 * 36 * Dh * 4).all()
    # A ring that would hold the whole context keeps every position instead.
    assert (model.kv_bytes("window:sink=4,recent=508") == 2 * C * Dh * 4).all()
    assert (model.kv_bytes(WINDOW, context=30) == 2 * 30 * Dh * 4).all()


def test_policy_object(model):
    p = model.kv_policy(WINDOW + ",chunk=64")
    assert isinstance(p, headwise.KVPolicy)
    assert (p.name, p.sink, p.recent, p.chunk, p.compensation) == (WINDOW + ",chunk=64", 4, 32, 64, "none")
    assert p.full.shape == (5, 4) and not p.full.any() and p.full_count == 0
    f = model.kv_policy("full")
    assert f.full.all() and f.full_count == 20 and f.name == "full"


@pytest.mark.parametrize("spec,needle", [("bogus", "unknown policy"), ("window:recent=0", "recent=0"),
                                         ("duo:heads=/nonexistent/heads.tsv", "kv"),
                                         ("window:sink=4,recent=x", "recent=x"), (3, "expected a policy")])
def test_bad_policy_refused_before_running(model, spec, needle, monkeypatch):
    calls = []
    real = headwise._capi._Lib.__getattr__
    monkeypatch.setattr(headwise._capi._Lib, "__getattr__",
                        lambda self, name: calls.append(name) or real(self, name))
    with pytest.raises(headwise.ArgumentError, match=needle):
        model.run([1, 403, 407], kv=spec)
    with pytest.raises(headwise.ArgumentError, match=needle):
        model.generate("Once", kv=spec)
    assert not {"hw_context_new_kv", "hw_forward_hooked", "hw_generate", "hw_greedy"} & set(calls)


def test_protocols_take_kv(model):
    full = headwise.score_dla(model, prompt="Lily and Ben went to the park. Lily gave the ball to",
                              target="Ben", minus="Lily")
    same = headwise.score_dla(model, prompt="Lily and Ben went to the park. Lily gave the ball to",
                              target="Ben", minus="Lily", kv="full")
    assert same["components"] == full["components"]
    # 13 tokens: a window of 2 + 3 in chunks of 4 drops most of the prompt.
    small = headwise.score_dla(model, prompt="Lily and Ben went to the park. Lily gave the ball to",
                               target="Ben", minus="Lily", kv="window:sink=2,recent=3,chunk=4")
    assert small["logit_diff"] != full["logit_diff"]
    assert abs(small.sum - small["logit_diff"]) < 1e-4      # the parts still add up
    # Prefilled a row at a time, the components come from the chunk holding the last
    # position (they once came from past the first chunk's capture); a window covering
    # the prompt is then the full cache to rounding.
    one = headwise.score_dla(model, prompt="Lily and Ben went to the park. Lily gave the ball to",
                             target="Ben", minus="Lily", kv="window:sink=64,recent=256,chunk=1")
    assert abs(one["logit_diff"] - full["logit_diff"]) < 1e-4
    assert np.allclose(one.heads, full.heads, atol=1e-4)
    with pytest.raises(headwise.ArgumentError, match="kv"):
        headwise.score_dla(model, prompt="Lily", target="Ben", kv="nope")


def test_duo_mask_policy_bytes_per_head(model, tmp_path, long_ids):
    c = model.config
    mask = np.zeros((c.n_layer, c.n_kv_head), int)
    mask[0, 0] = mask[2, 1] = mask[4, 3] = 1
    path = tmp_path / "full_attention_heads.tsv"
    path.write_text("".join("\t".join(map(str, row)) + "\n" for row in mask))
    spec = "duo:heads=%s,sink=4,recent=32" % path
    p = model.kv_policy(spec)
    assert np.array_equal(p.full, mask.astype(bool)) and p.full_count == 3
    b = model.kv_bytes(p)
    row = 2 * c.head_dim * 4
    assert np.array_equal(b, np.where(mask == 1, c.n_ctx * row, 36 * row))
    # A mixed cache runs: the full heads' rows and the rings side by side.
    a = model.run(long_ids, n_new=6, kv=p)
    assert a.tokens[:len(long_ids)] == long_ids and len(a.tokens) == len(long_ids) + 6


TINY = "window:sink=1,recent=1,chunk=1"


@pytest.mark.parametrize("fn,cli,kwargs", [
    ("sweep_scale", ["sweep", "scale", "--head", "0.0", "--prompts", RECALL, "--steps", "3"],
     dict(head="0.0", prompts=RECALL, steps=3)),
    ("score_attribution", ["score", "attribution", "--prompts", RECALL], dict(prompts=RECALL)),
    ("mask_test", ["mask-test", "--prompts", COPY, "--scores", None, "--top", "2", "--draws", "1"],
     dict(prompts=COPY, top=2, draws=1)),
], ids=["sweep_scale", "score_attribution", "mask_test"])
def test_protocol_kv_equals_cli(model, tmp_path, fn, cli, kwargs):
    """The protocols' kv= is the CLI's --kv: the same file, and a window changes it."""
    if fn == "mask_test":
        ranks = tmp_path / "rank.json"
        ranks.write_text("{%s}" % ", ".join('"%d-%d": [%d]' % (l, h, l * 8 + h)
                                            for l in range(5) for h in range(8)))
        cli = [str(ranks) if a is None else a for a in cli]
        kwargs = dict(kwargs, scores=str(ranks))
    files = {}
    for kv in (None, TINY):
        ours, theirs = tmp_path / ("py-%s.json" % kv), tmp_path / ("cli-%s.json" % kv)
        getattr(headwise, fn)(model, kv=kv, out=str(ours), **kwargs)
        run_cli(*cli, "-m", MODEL, "-z", TOKENIZER, "-o", str(theirs), *(["--kv", kv] if kv else []))
        assert ours.read_bytes() == theirs.read_bytes(), kv
        files[kv] = ours.read_bytes()
    assert files[None] != files[TINY]

"""headwise.logit_lens, head_subspace and subspace_lowrank against the CLI on stories260K:
the same files byte for byte, arrays equal to the JSON's, and the invariants that make
the arrays mean something (the last lens row is the model's logits; U S V^T is W_Q W_K^T
rebuilt from the weights the CLI's singular values describe; r = Dh is the baseline)."""
import json
import os

import numpy as np
import pytest

import headwise
from conftest import MODEL, REPO, TOKENIZER, run_cli

M = ("-m", MODEL, "-z", TOKENIZER)
PROMPT = "Once upon a time, there was a little girl named Lily. She loved to play in the"
COPY = os.path.join(REPO, "data", "prompts", "stories_copy.tsv")


def same_bytes(a, b):
    with open(a, "rb") as fa, open(b, "rb") as fb:
        return fa.read() == fb.read()


def test_lens_equals_cli(model, tmp_path):
    run_cli("lens", *M, "-p", PROMPT, "--target", "park", "--components", "--norm", "fixed", "--top", "5",
            "-o", str(tmp_path / "cli.json"))
    r = headwise.logit_lens(model, prompt=PROMPT, target="park", components=True, norm="fixed", top=5,
                            out=tmp_path / "py.json")
    assert same_bytes(tmp_path / "cli.json", tmp_path / "py.json")
    with open(tmp_path / "cli.json") as f:
        j = json.load(f)
    assert r["rows"] == [row["name"] for row in j["rows"]] and len(r["rows"]) == 5 * 11 + 1
    assert r["logits"].shape == (56, 512) and r["logits"].dtype == np.float32
    np.testing.assert_array_equal(r["top"], [row["top"] for row in j["rows"]])
    np.testing.assert_allclose(r["top_logit"], [row["top_logit"] for row in j["rows"]], rtol=1e-7)
    np.testing.assert_array_equal(r["target_rank"], [row["target_rank"] for row in j["rows"]])
    np.testing.assert_allclose(r["target_logprob"], [row["target_logprob"] for row in j["rows"]], rtol=1e-7)
    assert r.info["target"] == j["target_token"] and r.info["tokens"] == j["tokens"]
    assert r.info["norm"] == "fixed" and r.info["pos"] == j["pos"] == len(j["tokens"]) - 1


def test_lens_last_row_is_the_logits(model, tmp_path):
    ids = model.encode("Tom had a red kite")
    r = headwise.logit_lens(model, ids=ids, pos=3)
    want = model.run(ids).logits[3]
    np.testing.assert_allclose(r["logits"][-1], want, atol=1e-4)
    assert "target_rank" not in r and r.info["target"] == -1
    html = tmp_path / "l.html"
    r.write(html)
    run_cli("lens", *M, "--ids", ",".join(map(str, ids)), "--pos", "3", "-o", str(tmp_path / "c.html"))
    assert same_bytes(html, tmp_path / "c.html")


def test_subspace_equals_cli(model, tmp_path):
    run_cli("subspace", *M, "--head", "4.0", "--kind", "ov", "--directions", "3", "--top", "4",
            "-o", str(tmp_path / "cli.json"))
    r = headwise.head_subspace(model, head="4.0", kind="ov", directions=3, top=4, out=tmp_path / "py.json")
    assert same_bytes(tmp_path / "cli.json", tmp_path / "py.json")
    with open(tmp_path / "cli.json") as f:
        j = json.load(f)
    np.testing.assert_allclose(r["singular"], j["singular"], rtol=1e-8)
    for i, d in enumerate(j["directions"]):
        for side in ("in", "out"):
            np.testing.assert_array_equal(r[side]["top"][i], d[side]["top"])
            np.testing.assert_array_equal(r[side]["bottom"][i], d[side]["bottom"])
            np.testing.assert_allclose(r[side]["top_score"][i], d[side]["top_score"], rtol=1e-8)
    # orthonormal singular vectors
    for v in (r["left"], r["right"]):
        np.testing.assert_allclose(v @ v.T, np.eye(8), atol=1e-9)


def test_subspace_rebuilds_the_circuit(model):
    """U S V^T of QK (raw) equals W_Q W_K^T from the weights headwise.Model.run exposes:
    q . k at a query and key row equals x_q^T (U S V^T) x_k before rotary."""
    r = headwise.head_subspace(model, head="2.3", kind="qk", fold=False, directions=0)
    A = (r["left"].T * r["singular"]) @ r["right"]                # (D, D)
    ids = model.encode("Lily saw a big dog")
    run = model.run(ids, capture=["blocks.2.attn.hook_q", "blocks.2.attn.hook_k",
                                  "blocks.2.hook_resid_pre"])
    x = run.captures["blocks.2.hook_resid_pre"].astype(np.float64)
    rms = np.sqrt((x * x).mean(axis=1, keepdims=True) + 1e-5)
    # the model's q, k read the RMS-normalised residual times the norm's gain: unfold it
    q = run.captures["blocks.2.attn.hook_q"][:, 3].astype(np.float64)
    k = run.captures["blocks.2.attn.hook_k"][:, 3 // 2].astype(np.float64)
    g = headwise.head_subspace(model, head="2.3", kind="qk", fold=True, directions=0)
    Ag = (g["left"].T * g["singular"]) @ g["right"]
    xn = x / rms
    np.testing.assert_allclose(xn @ Ag @ xn.T, q @ k.T, rtol=1e-4, atol=1e-3)
    assert not np.allclose(A, Ag)                                  # the gain matters


def test_lowrank_equals_cli(model, tmp_path):
    run_cli("subspace", "lowrank", *M, "--head", "1.3", "--input", "k,v", "--prompts", COPY, "--ranks", "0,2,8",
            "--center", "-o", str(tmp_path / "cli.json"))
    r = headwise.subspace_lowrank(model, head="1.3", input=["k", "v"], prompts=COPY, ranks=[0, 2, 8], center=True,
                                  out=tmp_path / "py.json")
    assert same_bytes(tmp_path / "cli.json", tmp_path / "py.json")
    with open(tmp_path / "cli.json") as f:
        j = json.load(f)
    np.testing.assert_array_equal(r["ranks"], [0, 2, 8])
    np.testing.assert_allclose(r["accuracy2"], [x["accuracy2"] for x in j["ranks"]], rtol=1e-8)
    assert r["inputs"] == j["inputs"] == ["k", "v"]
    for x in ("k", "v"):
        np.testing.assert_allclose(r["spectrum"][x], j["spectrum"][x], rtol=1e-8)
    assert r["accuracy"][-1] == r["baseline"][0] and r["accuracy2"][-1] == r["baseline"][1]
    assert r.fit_rows == j["fit_rows"] > 0


@pytest.mark.parametrize("fn,kw,msg", [
    (headwise.logit_lens, dict(), "prompt or ids"),
    (headwise.logit_lens, dict(prompt="a", ids=[1]), "prompt or ids"),
    (headwise.logit_lens, dict(prompt="a", norm="sometimes"), "norm"),
    (headwise.logit_lens, dict(prompt="a", top=0), "top"),
    (headwise.logit_lens, dict(prompt="a", target="x", target_id=3), "not both"),
    (headwise.head_subspace, dict(head="9.0"), "head"),
    (headwise.head_subspace, dict(head="1.0", kind="vo"), "kind"),
    (headwise.subspace_lowrank, dict(head="1.0"), "task or prompts"),
    (headwise.subspace_lowrank, dict(head="1.0", task="induction", input="z"), "input"),
    (headwise.subspace_lowrank, dict(head="1.0", task="induction", input="q,q"), "input"),
    (headwise.subspace_lowrank, dict(head="1.0", task="induction", ranks=[1, -1]), "ranks"),
])
def test_refused(model, fn, kw, msg):
    with pytest.raises(headwise.ArgumentError, match=msg):
        fn(model, **kw)

"""headwise.patch and headwise.path_patch (activation and path patching) against the
CLI's `headwise patch` / `headwise patch path` JSON on stories260K: the same arrays, and
the same file byte for byte from the library's writer."""
import json
import math

import numpy as np
import pytest

import headwise
from conftest import MODEL, TOKENIZER, run_cli

M = ["-m", MODEL, "-z", TOKENIZER]


def same_grid(py, js):
    a, b = np.asarray(py, dtype=float), np.array([[math.nan if v is None else v for v in row] for row in js])
    assert a.shape == b.shape and np.allclose(a, b, rtol=1e-8, atol=1e-12, equal_nan=True)


def test_patch_equals_cli(model, files, tmp_path):
    run_cli("patch", *M, "--clean", files[0], "--corrupt", files[1], "--direct", "--direction", "noise",
            "-o", str(tmp_path / "cli.json"))
    r = headwise.patch(model, clean=files[0], corrupt=files[1], direct=True, direction="noise",
                       out=tmp_path / "py.json", html=tmp_path / "py.html")
    assert (tmp_path / "cli.json").read_bytes() == (tmp_path / "py.json").read_bytes()
    d = json.loads((tmp_path / "cli.json").read_text())
    for k in ("hook", "direction", "metric", "identity", "rows", "cols", "axes", "labels"):
        assert r[k] == d[k], k
    assert r["mean"].shape == (5, 8)
    same_grid(r["mean"], d["mean"])
    same_grid(r["mean_direct"], d["mean_direct"])
    same_grid(r["pooled"], d["pooled"])
    same_grid(r["pooled_direct"], d["pooled_direct"])
    assert len(r["pairs"]) == 2
    for p, q in zip(r["pairs"], d["pairs"]):
        assert p["label"] == q["label"] and (p["target"], p["minus"]) == (q["target"], q["minus"])
        assert p["clean"] == pytest.approx(q["clean"], rel=1e-8)
        for k in ("normalized", "metric", "normalized_direct", "metric_direct"):
            same_grid(p[k], q[k])
    assert "class=\"legend\"" in (tmp_path / "py.html").read_text()


def test_patch_task_positions_equal_cli(model, tmp_path):
    run_cli("patch", *M, "--task", "induction", "--samples", "3", "--seed", "5", "--hook", "resid_pre",
            "--metric", "logprob", "-o", str(tmp_path / "cli.json"))
    r = headwise.patch(model, task="induction", samples=3, seed=5, hook="resid_pre", metric="logprob",
                       out=tmp_path / "py.json")
    assert (tmp_path / "cli.json").read_bytes() == (tmp_path / "py.json").read_bytes()
    d = json.loads((tmp_path / "cli.json").read_text())
    assert r["axes"] == "layer,pos" and r["mean"].shape == (5, d["cols"]) and d["cols"] == 32
    same_grid(r["mean"], d["mean"])


def test_path_patch_equals_cli(model, files, tmp_path):
    run_cli("patch", "path", *M, "--clean", files[0], "--corrupt", files[1], "--senders", "3.0,3.1",
            "--receivers", "4.3,4.1", "--mlps", "--logits", "-o", str(tmp_path / "cli.json"))
    r = headwise.path_patch(model, clean=files[0], corrupt=files[1], senders="3.0,3.1", receivers=[(4, 3), (4, 1)],
                            mlps=True, logits=True, out=tmp_path / "py.json")
    assert (tmp_path / "cli.json").read_bytes() == (tmp_path / "py.json").read_bytes()
    d = json.loads((tmp_path / "cli.json").read_text())
    assert r["receivers"] == d["receivers"] == ["4.3.q", "4.1.q", "4.1.k", "4.0.k", "4.1.v", "4.0.v",  # KV heads read
                                                "mlp.0", "mlp.1", "mlp.2", "mlp.3", "mlp.4", "logits", "all"]
    assert r["percent"].shape == (2, 13)
    same_grid(r["percent"], d["percent"])
    same_grid(r["normalized"], d["normalized"])
    for p, q in zip(r["pairs"], d["pairs"]):
        same_grid(p["metric"], q["metric"])
        assert p["clean"] == pytest.approx(q["clean"], rel=1e-8)


def test_patch_bad_input(model, tmp_path):
    c, x = tmp_path / "c.txt", tmp_path / "x.txt"
    c.write_text("Lily saw a big red ball\tball\n")
    x.write_text("Lily saw a big red ball and\n")
    with pytest.raises(headwise.Error, match="equal lengths"):
        headwise.patch(model, clean=c, corrupt=x)
    with pytest.raises(headwise.ArgumentError):
        headwise.patch(model, task="induction", hook="result")
    with pytest.raises(headwise.ArgumentError):
        headwise.patch(model, clean=c)
    with pytest.raises(headwise.ArgumentError):
        headwise.path_patch(model, task="induction", input="q,x")


def test_preserve_elements():
    keep = headwise.preserve_elements([[3, -1], [0.5, math.nan]], 0.8)
    assert keep.tolist() == [[True, True], [False, False]]
    assert headwise.preserve_elements([1.0, 2.0], 0).tolist() == [False, False]
    with pytest.raises(headwise.ArgumentError):
        headwise.preserve_elements([1.0], 1.5)

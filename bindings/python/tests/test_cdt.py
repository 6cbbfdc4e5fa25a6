"""headwise.cdt and headwise.cdt_decompose (CD-T) against the CLI's `headwise cdt` JSON on
stories260K: the same values and the same file byte for byte from the library's writer;
the decomposition adds up to the model's run and its parts move with the sources."""
import json

import numpy as np
import pytest

import headwise
from conftest import MODEL, TOKENIZER, run_cli

M = ["-m", MODEL, "-z", TOKENIZER]


def test_cdt_equals_cli(model, files, tmp_path):
    run_cli("cdt", *M, "--clean", files[0], "--corrupt", files[1], "--draws", "4", "--known", "4.4,4.3",
            "-o", str(tmp_path / "cli.json"))
    r = headwise.cdt(model, clean=files[0], corrupt=files[1], draws=4, known="4.4,4.3", out=tmp_path / "py.json",
                     html=tmp_path / "py.html")
    assert (tmp_path / "cli.json").read_bytes() == (tmp_path / "py.json").read_bytes()
    d = json.loads((tmp_path / "cli.json").read_text())
    assert r["logit"].shape == (5, 8) and np.allclose(r["logit"], d["logit"], rtol=1e-8, atol=0)
    assert np.allclose(r["relevance"], d["relevance"], rtol=1e-8, atol=0)
    assert r["circuit"] == d["circuit"] and len(r["edges"]) == len(d["edges"])
    for a, b in zip(r["edges"], d["edges"]):
        assert (a["sender"], a["receiver"], a["input"]) == (b["sender"], b["receiver"], b["input"])
        assert a["weight"] == pytest.approx(b["weight"], rel=1e-8)
    assert [f["added"] for f in r["faithfulness"]] == [f["added"] for f in d["faithfulness"]]
    assert r.ratio.shape == (40, 40, 3) and np.isnan(r.ratio[39, 0, 0]) and 0 <= r.ratio[0, 39, 1] <= 1
    assert 0 <= r.auc <= 1 and "class=\"edge\"" in (tmp_path / "py.html").read_text()


def test_cdt_decompose_adds_up(model):
    text = "Lily saw a big red ball. Lily saw a big red"
    run = model.run(text, capture=["blocks.*.attn.hook_z", "blocks.*.hook_resid_post"])
    d = headwise.cdt_decompose(model, text, [("head", "4.4", None), ("token", 1)])
    for l in range(5):
        for name in ("attn.hook_z", "hook_resid_post"):
            b, g = d["blocks.%d.%s" % (l, name)]
            x = run.captures["blocks.%d.%s" % (l, name)]
            assert np.abs(b + g - x).max() <= 1e-4 * np.abs(x).max()
    b, g = d["logits"]
    assert np.abs(b + g - run.logits).max() <= 1e-4 * np.abs(run.logits).max()
    b, g = d["blocks.4.attn.hook_z"]
    assert np.abs(g[:, 4]).max() == 0 and np.abs(b[:, 4]).max() > 0      # the source head all relevant
    none = headwise.cdt_decompose(model, text)
    assert np.abs(none["logits"][0]).max() == 0


def test_cdt_bad_arguments(model, files):
    with pytest.raises(headwise.ArgumentError):
        headwise.cdt(model, clean=files[0], corrupt=files[1], keep=2)
    with pytest.raises(headwise.ArgumentError):
        headwise.cdt(model, clean=files[0], corrupt=files[1], known="9.0")
    with pytest.raises(headwise.ArgumentError):
        headwise.cdt_decompose(model, "Lily", [("head", "5.0", None)])
    with pytest.raises(headwise.ArgumentError):
        headwise.cdt_decompose(model, "Lily", [("neuron", 3)])

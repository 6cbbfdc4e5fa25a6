"""headwise.niah (hw_niah_grid_run) against `headwise niah`: LongHeads' passkey trials on
stories260K (passkey=True, within and past its 512-token context, under --kv longheads)
and the text needles give the CLI's grid, trials and JSON byte for byte; the passkey
arguments are checked as the CLI checks its flags."""
import json
import os

import numpy as np
import pytest

import headwise
from conftest import MODEL, REPO, TOKENIZER, run_cli

PASSKEY = dict(lengths="512:1024:2", depths=3, samples=2, seed=5)
PASSKEY_FLAGS = ["--passkey", "--lengths", "512:1024:2", "--depths", "3", "--samples", "2", "--seed", "5"]


def _cli(tmp_path, name, *flags):
    out = tmp_path / (name + ".json")
    run_cli("niah", "-m", MODEL, "-z", TOKENIZER, "--label", "stories", "-o", str(out), *flags)
    return out


def _same_dict(a, b):
    """Equal dicts, floats to cJSON's 15 printed digits."""
    assert list(a) == list(b), (a, b)
    for k in a:
        if isinstance(a[k], float) or isinstance(b[k], float):
            assert a[k] == pytest.approx(b[k], rel=1e-13, abs=1e-15), (k, a, b)
        else:
            assert a[k] == b[k] and type(a[k]) is type(b[k]), (k, a, b)


def _same_as_cli(g, cli):
    d = json.load(open(cli))
    assert g["lengths"].tolist() == d["lengths"] and g["depths"].tolist() == d["depths"]
    for k in ("trials", "exact", "rouge1_recall", "rouge1_f"):
        assert isinstance(g[k], np.ndarray) and g[k].shape == (len(d["depths"]), len(d["lengths"]))
        # cJSON prints 15 significant digits.
        assert np.allclose(g[k], np.array(d[k]), rtol=1e-13, atol=1e-15), k
    assert g["kv_bytes"].tolist() == d["kv_bytes"] and g["kv_bytes_full"].tolist() == d["kv_bytes_full"]
    _same_dict(g["overall"], d["overall"])
    assert g["policy"] == d["policy"]["name"] and g["chunk"] == d["policy"]["chunk"]
    assert len(g["trial_results"]) == len(d["trial_results"])
    for a, b in zip(g["trial_results"], d["trial_results"]):
        _same_dict(a, b)


@pytest.mark.parametrize("kv", ["full", "longheads"])
def test_passkey_matches_the_cli(model, tmp_path, kv):
    cli = _cli(tmp_path, "cli", *PASSKEY_FLAGS, "--kv", kv)
    g = headwise.niah(model, passkey=True, kv=kv, label="stories", out=tmp_path / "py.json",
                      html=tmp_path / "py.html", **PASSKEY)
    _same_as_cli(g, cli)
    assert (tmp_path / "py.json").read_bytes() == cli.read_bytes()
    assert "passkey retrieval, 2 passkeys per cell" in (tmp_path / "py.html").read_text()
    t = g["trial_results"]
    assert len(t) == 12 and {x["sample"] for x in t} == {0, 1}
    assert len({x["passkey"] for x in t}) == 2 and all(1 <= x["passkey"] <= 50000 for x in t)
    # 1024 is twice stories260K's context: allowed for its rotary positions.
    assert g["lengths"].tolist() == [512, 1024] and g["trials"].tolist() == [[2, 2]] * 3


def test_text_needles_match_the_cli(model, tmp_path):
    needles = os.path.join(REPO, "data", "needles", "stories.jsonl")
    hay = os.path.join(REPO, "data", "haystack", "stories.txt")
    cli = _cli(tmp_path, "text", "--needles", needles, "--haystack", hay, "--template", "{context}{question}",
               "--lengths", "128:192:2", "--depths", "3", "--buffer", "64")
    g = headwise.niah(model, needles=needles, haystack=hay, template="{context}{question}", lengths=(128, 192, 2),
                      depths=3, buffer=64, label="stories")
    _same_as_cli(g, cli)
    assert {x["needle"] for x in g["trial_results"]} == {0, 1}


def test_passkey_arguments(model, tmp_path):
    with pytest.raises(headwise.ArgumentError, match="two sources"):
        headwise.niah(model, passkey=True, task="retrieval")
    with pytest.raises(headwise.ArgumentError, match="replaces the text-trial arguments"):
        headwise.niah(model, passkey=True, needles="x.jsonl")
    with pytest.raises(headwise.ArgumentError, match="samples"):
        headwise.niah(model, passkey=True, samples=0)
    with pytest.raises(headwise.Error, match="length 100 is shorter than the prompt without garbage"):
        headwise.niah(model, passkey=True, lengths="100:512:2")
    with pytest.raises(headwise.Error, match="/proc"):
        headwise.niah(model, passkey=True, out="/proc/niah/x.json")

"""headwise.atlas against `headwise atlas` on the induction and recall organisms: the same
labels, scores (to the JSON's 6 digits), masking effects and KV policy, and the same
atlas.json when written."""
import json
import os

import numpy as np
import pytest

import headwise
from conftest import run_cli
from test_protocols import organism


@pytest.mark.parametrize("task", ["induction", "recall"])
def test_atlas_matches_cli(task, tmp_path):
    d = organism(task)
    run_cli("atlas", "-m", d, "-o", str(tmp_path / "cli"))     # the task from training.json
    want = json.load(open(tmp_path / "cli" / "atlas.json"))
    got = headwise.atlas(headwise.Model(d), str(tmp_path / "py"))
    assert want["task"] == task
    L, H, Hk = got["shape"]
    assert (L, H, Hk) == (want["layers"], want["heads"], want["kv_heads"])
    for h in want["heads_info"]:
        l, k = h["layer"], h["head"]
        assert got["labels"][l][k] == h["labels"]
        for name, v in h["scores"].items():
            assert got["scores"][name][l, k] == pytest.approx(v, rel=1e-5, abs=1e-6)
        m = got["mask_effect"].get((l, k))
        assert (m is None) == (h["mask_effect"] is None)
        if m:
            assert (m["baseline"], m["masked"]) == pytest.approx((h["mask_effect"]["baseline"], h["mask_effect"]["masked"]), rel=1e-5)
    kv = want["kv_policy"]
    assert sorted(map(list, zip(*np.nonzero(got["kv"]["full"])))) == sorted(kv["full_heads"])
    assert got["kv"]["bytes_policy"] == kv["kv_bytes"]["policy"]
    assert any(got["labels"][l][k] != ["other"] for l in range(L) for k in range(H))
    py = json.load(open(tmp_path / "py" / "atlas.json"))
    assert py["model"] == want["model"] == d
    py["kv_policy"]["flag"] = want["kv_policy"]["flag"] = None
    assert py == want


def test_atlas_bad_arguments():
    with pytest.raises(headwise.ArgumentError):
        headwise.atlas(headwise.Model(organism("induction")), skip=["nope"])
    with pytest.raises(headwise.Error):
        headwise.atlas(headwise.Model(organism("induction")), thresholds={"streaming": float("nan")})

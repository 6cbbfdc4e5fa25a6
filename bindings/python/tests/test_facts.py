"""headwise.facts (hw_fact_run) against `headwise facts`: the same JSON file byte for
byte, and the dict of NumPy arrays equal to the CLI's JSON; headwise.fact_regress on an
exact combination; arguments refused before anything runs."""
import json
import math
import os
import subprocess

import numpy as np
import pytest

import headwise
from conftest import MODEL, REPO, TOKENIZER, cli_env, run_cli

FACTS = os.path.join(REPO, "data", "prompts", "stories_facts.tsv")
M = ["-m", MODEL, "-z", TOKENIZER]


def equal_json(got, want, path="$"):
    """got (Python: dicts, lists, NumPy arrays, NaN) equals want (the CLI's JSON: %.9g
    numbers, null for NaN)."""
    if isinstance(got, np.ndarray):
        got = got.tolist()
    if isinstance(want, dict):
        assert isinstance(got, dict) and sorted(got) == sorted(want), (path, sorted(got), sorted(want))
        for k in want:
            equal_json(got[k], want[k], path + "." + k)
    elif isinstance(want, list):
        assert len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want)):
            equal_json(g, w, "%s[%d]" % (path, i))
    elif want is None:
        assert got is None or (isinstance(got, float) and math.isnan(got)), (path, got)
    elif isinstance(want, float) or (isinstance(got, float) and not isinstance(want, bool)):
        assert got == pytest.approx(want, rel=2e-8, abs=1e-300), (path, got, want)
    else:
        assert got == want, (path, got, want)


def test_facts_equals_cli(model, tmp_path):
    out = run_cli("facts", *M, "--prompts", FACTS, "--top", "4", "--terms", "3", "--mitigate", "0.5",
                  "-o", str(tmp_path / "cli.json")).stdout.decode()
    calls = []
    r = headwise.facts(model, prompts=FACTS, top=4, terms=3, mitigate=0.5, out=tmp_path / "py.json",
                       progress=lambda *a: calls.append(a))
    assert (tmp_path / "cli.json").read_bytes() == (tmp_path / "py.json").read_bytes()
    with open(tmp_path / "cli.json") as f:
        equal_json(dict(r), json.load(f))
    assert r["movers"]["score"].shape == (5, 8) and r["regression"]["intercept"].shape == (64,)
    assert len(r["regression"]["readings"]) == 4 and all(len(x["ids"]) == 4 for x in r["regression"]["readings"])
    assert r["per_prompt"]["top_token"].shape == (7,)
    assert "R^2 %.6f" % r["regression"]["r2"] in out
    assert [c[0] for c in calls].count("prompt") == 7


def test_facts_organism_equals_cli(tmp_path):
    p = subprocess.run(["bash", "-c", ". tests/organisms.sh; organism recall"], cwd=REPO,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env(), timeout=3600)
    org = p.stdout.decode().strip()
    if p.returncode or not os.path.isdir(org):
        pytest.skip("the recall organism could not be made")
    run_cli("facts", "-m", org, "--task", "recall", "--samples", "60", "--topic", "context",
            "-o", str(tmp_path / "cli.json"))
    r = headwise.facts(org, task="recall", samples=60, topic="context", out=tmp_path / "py.json")
    assert (tmp_path / "cli.json").read_bytes() == (tmp_path / "py.json").read_bytes()
    with open(tmp_path / "cli.json") as f:
        equal_json(dict(r), json.load(f))
    assert r["regression"]["constant"] == ["embed"]


def test_fact_regress_exact():
    rng = np.random.default_rng(3)
    o = rng.standard_normal((6, 4, 5)).astype(np.float32)
    beta, b = np.array([1.5, -0.5, 0.0, 2.0]), rng.standard_normal(5)
    y = (np.einsum("i,pid->pd", beta, o.astype(np.float64)) + b).astype(np.float32)
    got, gb, r2, ridge, const = headwise.fact_regress(o, y)
    assert np.allclose(got, beta, atol=1e-5) and np.allclose(gb, b, atol=1e-5)
    assert r2 == pytest.approx(1, abs=1e-9) and ridge == 0 and not const.any()
    with pytest.raises(headwise.Error, match="at least"):
        headwise.fact_regress(o[:1], y[:1])


@pytest.mark.parametrize("kwargs, msg", [
    (dict(), "give prompts"),
    (dict(prompts=FACTS, task="recall"), "give prompts"),
    (dict(task="induction"), "not 'recall'"),
    (dict(prompts=FACTS, shape="plain"), "go with task"),
    (dict(task="recall", shape="odd"), "shape"),
    (dict(prompts=FACTS, top=0), "top"),
    (dict(prompts=FACTS, mitigate=float("nan")), "finite"),
    (dict(prompts=FACTS, bogus=1), "unexpected keyword"),
])
def test_facts_refuses(model, kwargs, msg):
    with pytest.raises((headwise.ArgumentError, TypeError), match=msg):
        headwise.facts(model, **kwargs)


def test_facts_library_errors(model, tmp_path):
    bad = tmp_path / "absent.tsv"
    bad.write_text("The dog ran. The dog\tzebra\nTom had a ball. Tom\tTom\n")
    with pytest.raises(headwise.Error, match="its topic 'zebra'"):
        headwise.facts(model, prompts=bad)
    with pytest.raises(headwise.Error, match="MLP layer 5"):
        headwise.facts(model, prompts=FACTS, mlp=5)

"""headwise.Task against `headwise samples`: the same prompts files byte for byte, and
each line the text of sample() (clean) or counterfactual() (corrupted) before the answer."""
import subprocess

import numpy as np
import pytest

import headwise
from headwise.tasks import Task
from conftest import CLI, cli_env


def _lines(path):
    return [l.rstrip("\n").split("\t") for l in open(path) if not l.startswith("#")]


def test_mcq_samples_and_counterfactuals_match_cli(tmp_path):
    subprocess.run([CLI, "samples", "mcq", "--samples", "30", "--seed", "7", "-o", str(tmp_path / "c.tsv"),
                    "--counterfactual", str(tmp_path / "k.tsv")], check=True, env=cli_env(),
                   stderr=subprocess.DEVNULL)
    t = Task("mcq")
    t.write_prompts(tmp_path / "pc.tsv", samples=30, seed=7, counterfactual=tmp_path / "pk.tsv")
    assert (tmp_path / "pc.tsv").read_bytes() == (tmp_path / "c.tsv").read_bytes()
    assert (tmp_path / "pk.tsv").read_bytes() == (tmp_path / "k.tsv").read_bytes()
    clean, corrupt = _lines(tmp_path / "c.tsv"), _lines(tmp_path / "k.tsv")
    assert len(clean) == len(corrupt) == 30
    for k in range(30):
        tok, tgt, (src, dst, n) = t.sample(7, k)
        assert tok.dtype == np.int32 and tok.shape == (t.seq_len,) and n == 1
        assert clean[k][0] == t.text(tok[1:dst]) and clean[k][1] == t.symbols[tok[dst]]
        assert tgt[dst - 1] == tok[dst] and (tgt >= 0).sum() == 1 and t.symbols[tok[src]] == clean[k][1]
        cf, cft, (csrc, cdst, _) = t.counterfactual(tok, -1 - k % 3)
        assert corrupt[k][0] == t.text(cf[1:cdst]) and corrupt[k][1] == t.symbols[cf[cdst]]
        assert cdst == dst and corrupt[k][1] != clean[k][1] and cft[cdst - 1] == cf[cdst]
        back, _, _ = t.counterfactual(cf, "ABCD".index(clean[k][1]))
        assert np.array_equal(back, tok)


def test_task_errors():
    with pytest.raises(headwise.ArgumentError, match="sorting"):
        Task("sorting")
    with pytest.raises(headwise.ArgumentError, match="min"):
        Task("mcq", min_len=3, max_len=2)
    t = Task("mcq")
    tok, _, (src, dst, _) = t.sample(1, 0)
    with pytest.raises(headwise.Error, match="another letter"):
        t.counterfactual(tok, "ABCD".index(t.symbols[tok[dst]]))
    with pytest.raises(headwise.ArgumentError, match="outside the vocabulary"):
        t.counterfactual(np.full(t.seq_len, 99), 0)
    with pytest.raises(headwise.ArgumentError, match="ids"):
        t.counterfactual(tok[:5], 0)
    with pytest.raises(headwise.Error, match="no counterfactual"):
        Task("induction").counterfactual(Task("induction").sample(1, 0)[0], 0)

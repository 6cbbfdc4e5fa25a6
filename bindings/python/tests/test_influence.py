"""headwise.influence and headwise.influence_select (hw_influence_run, _merge, _select)
against `headwise influence` and `headwise influence select` on stories260K: the same
bytes, the same table, bad lines reported with their numbers, bad arguments refused."""
import json

import numpy as np
import pytest

import headwise
from conftest import MODEL, TOKENIZER, run_cli

DOCS = [
    {"id": "a", "domain": "story", "text": "Once upon a time, there was a little girl named Lily."},
    {"domain": "story", "text": "She liked to play outside in the sun with her dog. One day the dog ran "
                                "away and Lily was sad. She looked for him in the park and by the tree."},
    {"id": 7, "domain": "short", "text": "Tom"},
    {"id": "d", "domain": "short", "text": "The cat sat on the mat and looked at the bird."},
]


@pytest.fixture
def corpus(tmp_path):
    p = tmp_path / "c.jsonl"
    p.write_text("".join(json.dumps(d) + "\n" for d in DOCS) + "not json\n", encoding="utf-8")
    return p


@pytest.mark.parametrize("mode", ["uniform", "zero"])
def test_matches_the_cli(model, corpus, tmp_path, mode):
    cli = tmp_path / "cli.jsonl"
    run_cli("influence", "-m", MODEL, "-z", TOKENIZER, "--heads-list", "1.0,3.2", "--context", "32",
            "--mode", mode, "--corpus", str(corpus), "-o", str(cli))
    py = tmp_path / "py.jsonl"
    s = headwise.influence(model, corpus, py, heads_list="1.0,3.2", context=32, mode=mode)
    assert py.read_bytes() == cli.read_bytes()
    rows = [json.loads(l) for l in cli.read_text().splitlines()]
    assert len(s) == 4 and s.id == ["a", 2, 7, "d"] and s.heads == [(1, 0), (3, 2)]
    assert np.array_equal(s.influence, [r["influence"] for r in rows])
    assert np.allclose(s.influence, (s.loss_masked - s.loss_base) / s.loss_base, rtol=0, atol=1e-12)
    assert list(s.domain) == ["story", "story", "short", "short"] and s.tokens[1] > 31
    assert s.bad_lines == 1 and s.warnings == [(5, "malformed JSON")]
    # A second call resumes from the log: nothing scored again, the same scores.
    again = headwise.influence(model, corpus, py, heads_list="1.0,3.2", context=32, mode=mode)
    assert again.resumed == 4 and np.array_equal(again.influence, s.influence)


def test_heads_from_a_score_file(model, corpus, tmp_path):
    c = model.config
    scores = {"%d-%d" % (l, h): [0.9 if (l, h) == (2, 3) else 0.01 * h] for l in range(c.n_layer)
              for h in range(c.n_head)}
    (tmp_path / "h.json").write_text(json.dumps(scores))
    s = headwise.influence(model, corpus, tmp_path / "o.jsonl", heads=tmp_path / "h.json",
                           top=1.0 / (c.n_layer * c.n_head), context=32)
    assert s.heads == [(2, 3)]
    t = headwise.influence(model, corpus, tmp_path / "o2.jsonl", heads_list=[(2, 3)], context=32)
    assert np.array_equal(s.influence, t.influence)


def test_select_matches_the_cli(model, corpus, tmp_path):
    scores = tmp_path / "s.jsonl"
    headwise.influence(model, corpus, scores, heads_list="1.0,3.2", context=32)
    p = run_cli("influence", "select", "--scores", str(scores), "--fraction", "0.5", "--per-domain",
                "-o", str(tmp_path / "cli_sel.jsonl"))
    table = headwise.influence_select(scores, tmp_path / "py_sel.jsonl", fraction=0.5, per_domain=True)
    assert table == p.stdout.decode()
    assert (tmp_path / "py_sel.jsonl").read_bytes() == (tmp_path / "cli_sel.jsonl").read_bytes()
    assert len((tmp_path / "py_sel.jsonl").read_text().splitlines()) == 2
    assert table.splitlines()[0].split("\t")[:3] == ["domain", "documents", "selected"]


def test_bad_arguments(model, corpus, tmp_path):
    out = tmp_path / "o.jsonl"
    with pytest.raises(headwise.ArgumentError):
        headwise.influence(model, corpus, out, heads_list="1.0", mode="half")
    with pytest.raises(headwise.ArgumentError):
        headwise.influence(model, corpus, out)
    with pytest.raises(headwise.ArgumentError):
        headwise.influence(model, corpus, out, heads_list="99.0")
    with pytest.raises(headwise.ArgumentError):
        headwise.influence(model, corpus, out, heads=tmp_path / "missing.json")
    with pytest.raises(headwise.Error, match="corpus line 5: malformed JSON"):
        headwise.influence(model, corpus, out, heads_list="1.0", strict=True)
    with pytest.raises(headwise.ArgumentError):
        headwise.influence_select(corpus, out, fraction=0)
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(headwise.Error, match="empty corpus"):
        headwise.influence(model, empty, tmp_path / "e.jsonl", heads_list="1.0")

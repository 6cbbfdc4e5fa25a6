"""HeadScores: a published Retrieval Head file read, written and read again
unchanged; the mean and ranking as the CLI computes them."""
import json
import os

import numpy as np
import pytest

import headwise
from conftest import SHARED, run_cli

PUBLISHED = os.path.join(SHARED, "artifacts", "retrieval-head", "llama-2-7b-80k.json")


@pytest.fixture(scope="module")
def published():
    if not os.path.isfile(PUBLISHED):
        pytest.skip("%s not found (set HW_SHARED)" % PUBLISHED)
    with open(PUBLISHED) as f:
        raw = json.load(f)
    return raw, headwise.read_head_scores(PUBLISHED)


def _keyed(raw):
    return {tuple(map(int, k.split("-"))): v for k, v in raw.items()}


def test_read_matches_json(published):
    raw, s = published
    assert s.shape == (32, 32)
    want = _keyed(raw)
    got = s.per_trial
    assert set(got) == set(want) and list(got) == sorted(got)
    assert all(got[k] == want[k] for k in want)          # every value, exactly
    mean = s.mean
    assert mean.shape == (32, 32) and mean.dtype == np.float64
    for (l, h), v in want.items():
        assert mean[l, h] == pytest.approx(np.mean(v), rel=1e-12, abs=1e-15)
    assert s.values(16, 19) == want[(16, 19)]


def test_write_read_round_trip(published, tmp_path):
    raw, s = published
    out = tmp_path / "copy.json"
    s.write(out)
    with open(out) as f:
        assert json.load(f) == raw                        # %.17g: every double back exactly
    again = headwise.read_head_scores(out)
    assert again.per_trial == s.per_trial
    assert np.array_equal(again.mean, s.mean)
    again.write(tmp_path / "copy2.json")
    assert (tmp_path / "copy2.json").read_bytes() == out.read_bytes()


def test_ranking_matches_cli(published, tmp_path):
    _, s = published
    tsv = tmp_path / "ranked.tsv"
    run_cli("heads", "import", PUBLISHED, "-o", str(tsv), "--top", "0")
    rows = [line.split("\t") for line in tsv.read_text().splitlines()
            if line and not line.startswith("#")][1:]
    assert [(int(r[0]), int(r[1])) for r in rows] == [(l, h) for l, h, _ in s.ranking()]
    mean = s.mean
    for r in rows[:50]:
        assert float(r[2]) == pytest.approx(mean[int(r[0]), int(r[1])], abs=1e-8)


def test_new_append_write(tmp_path):
    s = headwise.HeadScores(3, 4)
    assert s.shape == (3, 4) and not s.mean.any()
    s.append(0, 1, 0.5)
    s.append(0, 1, 1.0)
    s.append(2, 3, 0.25)
    s.append(1, 2, -0.0)
    assert s.per_trial[(0, 1)] == [0.5, 1.0] and s.per_trial[(1, 0)] == []
    m = s.mean
    assert m[0, 1] == 0.75 and m[2, 3] == 0.25 and m[1, 0] == 0
    assert s.ranking()[:2] == [(0, 1, 0.75), (2, 3, 0.25)]
    s.write(tmp_path / "s.json")
    back = headwise.read_head_scores(tmp_path / "s.json")
    assert back.shape == (3, 4) and back.per_trial == s.per_trial
    # A bare number per head (a published layout) reads as a one-value list.
    (tmp_path / "bare.json").write_text('{"0-0": 0.5, "1-1": [0.25, 0.75]}')
    bare = headwise.read_head_scores(tmp_path / "bare.json")
    assert bare.shape == (2, 2) and bare.per_trial[(0, 0)] == [0.5]
    assert bare.mean[1, 1] == 0.5

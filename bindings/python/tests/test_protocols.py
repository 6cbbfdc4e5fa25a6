"""Every protocol called from Python against its CLI command on the same model and
settings (stories260K, and the model organisms of tests/organisms.sh): the same
numbers in the returned dicts and arrays, the same files byte for byte. Then the
progress callbacks, stopping, Ctrl-C, resuming, and the errors: each raises
headwise.Error or ArgumentError (a bad argument before any C call), never crashes."""
import json
import os
import re
import signal
import subprocess

import numpy as np
import pytest

import headwise
from headwise import _capi
from conftest import MODEL, REPO, TOKENIZER, cli_env, run_cli

DATA = os.path.join(REPO, "data")
NEEDLES = os.path.join(DATA, "needles", "stories.jsonl")
HAYSTACK = os.path.join(DATA, "haystack", "stories.txt")
COPY = os.path.join(DATA, "prompts", "stories_copy.tsv")
RECALL = os.path.join(DATA, "prompts", "stories_recall.tsv")
SUCC_TASKS = os.path.join(DATA, "tasks", "successor_organism.txt")
M = ["-m", MODEL, "-z", TOKENIZER]
# The needle-in-a-haystack settings of tests/golden_test.sh, as flags and as arguments.
NIAH = ["--needles", NEEDLES, "--haystack", HAYSTACK, "--template", "{context}{question}",
        "--lengths", "128:448:3", "--depths", "3", "--buffer", "64"]
NIAH_KW = dict(needles=NEEDLES, haystack=HAYSTACK, template="{context}{question}",
               lengths="128:448:3", depths=3, buffer=64)


# ------------------------------------------------------------------ helpers

_organisms = {}


def organism(task):
    """The cached model organism of task (tests/organisms.sh trains it on first use)."""
    if task not in _organisms:
        p = subprocess.run(["bash", "-c", ". tests/organisms.sh; organism " + task], cwd=REPO,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=cli_env(),
                           timeout=3600)
        path = p.stdout.decode().strip()
        _organisms[task] = path if p.returncode == 0 and os.path.isdir(path) else None
    if _organisms[task] is None:
        pytest.skip("the %s organism could not be made" % task)
    return _organisms[task]


def same_bytes(a, b):
    with open(a, "rb") as f, open(b, "rb") as g:
        return f.read() == g.read()


def approx_json(got, want, abs_=0.0, rel=0.0):
    """got (from Python) equals want (read back from the CLI's JSON) where floats
    were printed with limited digits: within abs_ or rel of each other."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and list(got) == list(want), (list(got), list(want))
        for k in want:
            approx_json(got[k], want[k], abs_, rel)
    elif isinstance(want, list):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            approx_json(g, w, abs_, rel)
    elif isinstance(want, float) or (isinstance(got, float) and isinstance(want, int)
                                     and not isinstance(want, bool)):
        assert got == pytest.approx(want, abs=abs_, rel=rel)
    else:
        assert got == want and type(got) is type(want), (got, want)


def table_equals_json(res, path):
    """A HeadTable equals the CLI's {"L-H": [columns]} file (values as %.9g)."""
    with open(path) as f:
        want = json.load(f)
    L, H = res.shape
    assert list(want) == ["%d-%d" % (l, h) for l in range(L) for h in range(H)]
    for key, vals in want.items():
        l, h = map(int, key.split("-"))
        assert [res[c][l, h] for c in res.columns] == pytest.approx(vals, rel=6e-9, abs=1e-300)


def tsv_rows(path):
    with open(path) as f:
        return [line.rstrip("\n").split("\t") for line in f if line.strip()]


class Recorder:
    """A progress callable that records its calls and can stop at a call."""

    def __init__(self, stop_at=None, raise_at=None):
        self.calls = []
        self.stop_at = stop_at
        self.raise_at = raise_at

    def __call__(self, stage, done, total):
        self.calls.append((stage, done, total))
        if self.raise_at is not None and len(self.calls) == self.raise_at:
            raise KeyboardInterrupt
        return self.stop_at is not None and len(self.calls) >= self.stop_at


@pytest.fixture
def c_calls(monkeypatch):
    """The names of the library functions called while the test runs."""
    calls = []
    real = _capi._Lib.__getattr__

    def spy(self, name):
        calls.append(name)
        return real(self, name)

    monkeypatch.setattr(_capi._Lib, "__getattr__", spy)
    return calls


# ------------------------------------------------------------------ retrieval

def test_retrieval_equals_cli(model, tmp_path):
    cli = run_cli("score", "retrieval", *M, *NIAH, "-o", str(tmp_path / "cli.json"),
                  "--tsv", str(tmp_path / "cli.tsv"), "--save-contexts",
                  str(tmp_path / "cli.jsonl"), "--top", "0").stdout.decode()
    rec = Recorder()
    s = headwise.score_retrieval(model, **NIAH_KW, out=tmp_path / "py.json",
                                 tsv=str(tmp_path / "py.tsv"), save_contexts=tmp_path / "py.jsonl",
                                 progress=rec)
    assert isinstance(s, headwise.HeadScores) and isinstance(s, headwise.RetrievalScores)
    for ext in (".json", ".tsv", ".json.trials", ".jsonl"):
        assert same_bytes(tmp_path / ("cli" + ext), tmp_path / ("py" + ext)), ext
    assert not (tmp_path / "py.json.partial.json").exists()
    with open(tmp_path / "cli.json") as f:
        want = json.load(f)
    got = s.per_trial
    assert {"%d-%d" % k: v for k, v in got.items()} == want          # every value, exactly
    assert s.mean.shape == (5, 8)
    assert np.array_equal(s.mean, [[np.mean(want["%d-%d" % (l, h)]) if want["%d-%d" % (l, h)] else 0
                                    for h in range(8)] for l in range(5)])
    m = re.search(r"# retrieval score: (\d+) successful trials \(this run: (\d+) of (\d+) new\)", cli)
    assert (s.counted, s.counted_run, s.trials_run, s.trials) == (int(m[1]), int(m[2]), int(m[3]), 18)
    # The CLI's table is the ranking.
    rows = [l.split("\t") for l in cli.splitlines() if re.match(r"^\d+\t", l)]
    assert [r[1] for r in rows] == ["%d.%d" % (l, h) for l, h, _ in s.ranking()]
    assert [float(r[2]) for r in rows] == pytest.approx([v for _, _, v in s.ranking()], abs=5e-5)
    # One progress call per trial, each naming it.
    assert [c[1:] for c in rec.calls] == [(i, 18) for i in range(1, 19)]
    assert all(c[0].startswith("trial %d/18" % i) for i, c in zip(range(1, 19), rec.calls))
    # write() is the library's writer; the scores are the run's, read-only.
    s.write(tmp_path / "again.json")
    assert same_bytes(tmp_path / "again.json", tmp_path / "cli.json")
    with pytest.raises(headwise.Error, match="read-only"):
        s.append(0, 0, 1.0)
    c = s.copy()
    c.append(0, 0, 1.0)
    assert c.values(0, 0) == s.values(0, 0) + [1.0]


def test_retrieval_organism_equals_cli(tmp_path):
    org = organism("retrieval")
    run_cli("score", "retrieval", "-m", org, "--task", "retrieval", "--samples", "40",
            "--task-seed", "7", "-o", str(tmp_path / "cli.json"))
    # A path for the model: loaded with the tokenizer the library finds in the folder.
    s = headwise.score_retrieval(org, task="retrieval", samples=40, task_seed=7,
                                 out=tmp_path / "py.json")
    assert same_bytes(tmp_path / "cli.json", tmp_path / "py.json")
    assert same_bytes(tmp_path / "cli.json.trials", tmp_path / "py.json.trials")
    assert s.trials == 40 and s.counted == 40


def test_retrieval_stop_resume_and_settings(model, tmp_path):
    """Stopped by the callback or by Ctrl-C: the log and OUT.partial.json hold the
    trials done; a rerun resumes to the uninterrupted result; other settings are
    refused naming the setting."""
    run_cli("score", "retrieval", *M, *NIAH, "-o", str(tmp_path / "cli.json"))
    out = tmp_path / "py.json"
    with pytest.raises(headwise.Error, match="stopped by the caller"):
        headwise.score_retrieval(model, **NIAH_KW, out=out, progress=Recorder(stop_at=4))
    assert not out.exists() and (tmp_path / "py.json.partial.json").exists()
    with pytest.raises(KeyboardInterrupt):
        headwise.score_retrieval(model, **NIAH_KW, out=out, progress=Recorder(raise_at=3))
    rec = Recorder()
    s = headwise.score_retrieval(model, **NIAH_KW, out=out, progress=rec)
    assert rec.calls[0][0].startswith("resuming: 6 trials") and rec.calls[0][1:] == (6, 18)
    assert s.trials_run == 12 and s.trials == 18
    assert same_bytes(out, tmp_path / "cli.json")
    assert not (tmp_path / "py.json.partial.json").exists()
    kw = dict(NIAH_KW, depths=2)
    with pytest.raises(headwise.Error, match="depths is '0,50,100' there, '0,100' now"):
        headwise.score_retrieval(model, **kw, out=out)


def test_real_sigint_cancels(model, tmp_path):
    """A real SIGINT while a protocol runs reaches Python at the next progress call,
    which stops the run; the model works after it."""
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("SIGINT is not Python's default handler here")
    calls = []

    def interrupt(stage, done, total):
        calls.append(done)
        if done == 2:
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):       # the signal is handled at the next bytecode check
                pass
        return False

    with pytest.raises(KeyboardInterrupt):
        headwise.score_retrieval(model, **NIAH_KW, progress=interrupt)
    assert calls[-1] <= 3 and len(calls) < 18
    assert headwise.score_retrieval(model, **NIAH_KW).trials_run == 18


# ------------------------------------------------------------------ worked example

def _readme_example():
    with open(os.path.join(REPO, "bindings", "python", "README.md")) as f:
        text = f.read()
    m = re.search(r"<!-- worked example:[^\n]*-->\n```python\n(.*?)```", text, re.S)
    assert m, "the worked example is missing from bindings/python/README.md"
    return m.group(1)


def test_worked_example(tmp_path, monkeypatch, capsys):
    """The README's five lines, as they are, on the retrieval organism: the top head
    is the CLI's, and heads.json is the CLI's file."""
    org = organism("retrieval")
    code = _readme_example()
    assert len(code.strip().splitlines()) == 5
    monkeypatch.chdir(tmp_path)
    exec(compile(code.replace("path/to/retrieval-organism", org), "README.md", "exec"), {})
    top5 = eval(capsys.readouterr().out.strip())
    cli = run_cli("score", "retrieval", "-m", org, "--task", "retrieval", "--samples", "50",
                  "-o", str(tmp_path / "cli.json"), "--top", "5").stdout.decode()
    rows = [l.split("\t") for l in cli.splitlines() if re.match(r"^\d+\t", l)]
    assert len(top5) == 5 and all(len(t) == 3 for t in top5)
    assert "%d.%d" % top5[0][:2] == rows[0][1]
    assert ["%d.%d" % t[:2] for t in top5] == [r[1] for r in rows]
    assert top5[0][2] == pytest.approx(float(rows[0][2]), abs=5e-5) and top5[0][2] > top5[4][2]
    assert same_bytes(tmp_path / "heads.json", tmp_path / "cli.json")


# ------------------------------------------------------------------ mask test

def _zero_free_scores(path):
    """The retrieval scores of the golden test's settings, for mask-test."""
    run_cli("score", "retrieval", *M, *NIAH, "-o", str(path))
    return path


@pytest.mark.parametrize("case", ["prompts", "niah", "scores-object"])
def test_mask_test_equals_cli(model, tmp_path, case):
    if case == "scores-object":
        # A HeadScores made here (two values per head), given as the object itself.
        obj = headwise.HeadScores(5, 8)
        for i in range(40):
            obj.append(i // 8, i % 8, (i * 7) % 40 / 40)
            obj.append(i // 8, i % 8, 1.0)
        scores = tmp_path / "obj.json"
        obj.write(scores)
    else:
        scores = _zero_free_scores(tmp_path / "r.json")
    if case == "prompts":
        flags = ["--prompts", COPY, "--top", "3", "--draws", "3", "--singles"]
        kw = dict(prompts=COPY, top=3, draws=3, singles=True)
    elif case == "niah":
        flags = NIAH + ["--top", "2", "--draws", "2", "--mode", "zero", "--phase", "both"]
        kw = dict(NIAH_KW, top=2, draws=2, mode="zero", phase="both")
    else:
        flags = ["--prompts", COPY, "--top", "2", "--draws", "4", "--seed", "9", "--exclude", "6",
                 "--column", "0", "--ascending"]
        kw = dict(prompts=COPY, top=2, draws=4, seed=9, exclude=6, column=0, ascending=True)
    err = run_cli("mask-test", *M, "--scores", str(scores), *flags, "-o",
                  str(tmp_path / "cli.json")).stderr.decode()
    src = obj if case == "scores-object" else scores
    rec = Recorder()
    r = headwise.mask_test(model, scores=src, **kw, out=tmp_path / "py.json", progress=rec)
    assert isinstance(r, headwise.MaskTestResult) and isinstance(r, dict)
    assert same_bytes(tmp_path / "cli.json", tmp_path / "py.json")
    with open(tmp_path / "cli.json") as f:
        approx_json(dict(r), json.load(f), abs_=5.1e-7)
    assert len(r["random"]) == kw["draws"] and len(r["top"]["heads"]) == kw["top"]
    assert ("singles" in r) == (case == "prompts")
    ties = re.search(r"(\d+) of the top \d+ heads tie", err)
    assert r.ties == (int(ties[1]) if ties else 0)
    assert rec.calls[0][0] == "baseline" and len(rec.calls) >= 2 + kw["draws"]


def test_mask_test_organism_equals_cli(tmp_path):
    org = organism("retrieval")
    run_cli("score", "retrieval", "-m", org, "--task", "retrieval", "--samples", "40",
            "-o", str(tmp_path / "ro.json"))
    run_cli("mask-test", "-m", org, "--task", "retrieval", "--samples", "30", "--scores",
            str(tmp_path / "ro.json"), "--top", "2", "--draws", "2", "-o", str(tmp_path / "cli.json"))
    m = headwise.Model(org)
    s = headwise.score_retrieval(m, task="retrieval", samples=40)
    r = headwise.mask_test(m, scores=s, task="retrieval", samples=30, top=2, draws=2)
    r.write(tmp_path / "py.json")
    assert same_bytes(tmp_path / "cli.json", tmp_path / "py.json")
    # Masking the top retrieval heads breaks retrieval; random heads do not.
    assert r["baseline"]["exact"] > r["top"]["exact"]
    assert r["random_mean"]["exact"] > r["top"]["exact"]
    assert r["top"]["heads"] == ["%d-%d" % t[:2] for t in s.ranking()[:2]]


# ------------------------------------------------------------------ scale sweep

def test_sweep_equals_cli(model, tmp_path):
    run_cli("sweep", "scale", *M, "--head", "0.0", "--prompts", RECALL, "--from", "0", "--to", "2",
            "--steps", "3", "-o", str(tmp_path / "cli.json"))
    rec = Recorder()
    r = headwise.sweep_scale(model, head="0.0", prompts=RECALL, from_=0, to=2, steps=3,
                             out=tmp_path / "py.json", progress=rec)
    assert same_bytes(tmp_path / "cli.json", tmp_path / "py.json")
    with open(tmp_path / "cli.json") as f:
        approx_json(dict(r), json.load(f), rel=1e-8)
    assert r.scales.tolist() == [0.0, 1.0, 2.0] and r["prompts"] == 7
    assert r.in_context.shape == r.memorized.shape == (3,)
    assert rec.calls


def test_sweep_organism_equals_cli(tmp_path):
    org = organism("recall")
    run_cli("sweep", "scale", "-m", org, "--head", "0.1", "--task", "recall", "--samples", "60",
            "--scales", "0,1,2", "-o", str(tmp_path / "cli.tsv"))
    m = headwise.Model(org)
    r = headwise.sweep_scale(m, head=(0, 1), task="recall", samples=60, scales=[0, 1, 2],
                             out=tmp_path / "py.tsv")
    assert same_bytes(tmp_path / "cli.tsv", tmp_path / "py.tsv")
    rows = tsv_rows(tmp_path / "cli.tsv")[1:]
    assert r.in_context.tolist() == pytest.approx([float(x[1]) for x in rows], rel=1e-8)
    assert r.memorized.tolist() == pytest.approx([float(x[2]) for x in rows], rel=1e-8)
    # "S,S,..." as the CLI's --scales
    again = headwise.sweep_scale(m, head="0.1", task="recall", samples=60, scales="0,1,2")
    assert again["sweep"] == r["sweep"]


# ------------------------------------------------------------------ echo-induction

def test_echo_induction_equals_cli(model, tmp_path):
    run_cli("score", "echo-induction", "-m", MODEL, "-o", str(tmp_path / "cli.json"),
            "--heads-out", str(tmp_path / "cli_heads.tsv"))
    rec = Recorder()
    r = headwise.score_echo_induction(model, out=tmp_path / "py.json",
                                      heads_out=tmp_path / "py_heads.tsv", progress=rec)
    assert same_bytes(tmp_path / "cli.json", tmp_path / "py.json")
    assert same_bytes(tmp_path / "cli_heads.tsv", tmp_path / "py_heads.tsv")
    assert r.columns == ["echo", "induction", "echo_mass", "induction_mass", "prev_token"]
    table_equals_json(r, tmp_path / "cli.json")
    sel = np.array([[int(x) for x in row] for row in tsv_rows(tmp_path / "cli_heads.tsv")])
    assert r["selected"].shape == (5, 4) and np.array_equal(r["selected"], sel)
    assert r.info["n_selected"] == sel.sum() and r.info["n_tokens"] == len(r["tokens"]) == 509
    assert r["kv_induction"].shape == (5, 4)
    # kv_max: a KV head's score is the max over its two query heads.
    assert np.array_equal(r["kv_induction"], r["induction"].reshape(5, 4, 2).max(axis=2))
    assert r.rank_column == "induction" and rec.calls and rec.calls[-1][1] == rec.calls[-1][2]


def test_echo_induction_text_equals_cli(model, tmp_path):
    text = "Lily saw a purple frog named Zog and a big fox."
    out = run_cli("score", "echo-induction", *M, "--text", text, "-o", str(tmp_path / "cli.tsv"),
                  "--agg", "mean", "--top", "0").stdout.decode()
    r = headwise.score_echo_induction(model, text=text, agg="mean")
    r.write(tmp_path / "py.tsv")
    assert same_bytes(tmp_path / "cli.tsv", tmp_path / "py.tsv")
    rows = [l.split("\t") for l in out.splitlines() if re.match(r"^\d+\t", l)]
    assert [r_[1] for r_ in rows] == ["%d.%d" % t[:2] for t in r.ranking()]
    assert r.info["from_text"] == 1
    assert np.allclose(r["kv_induction"], r["induction"].reshape(5, 4, 2).mean(axis=2))


# ------------------------------------------------------------------ successor

def test_successor_equals_cli(model, tmp_path):
    p = run_cli("score", "successor", *M, "-o", str(tmp_path / "cli.json"), "--top", "0")
    r = headwise.score_successor(model, out=tmp_path / "py.json")
    assert same_bytes(tmp_path / "cli.json", tmp_path / "py.json")
    table_equals_json(r, tmp_path / "cli.json")
    # The per-task lines the CLI prints on stderr.
    err = p.stderr.decode()
    for t in r.tasks:
        assert "task %s: %d of %d items are single tokens, %d pairs" % (
            t["name"], t["single_tokens"], t["items"], t["pairs"]) in err
    assert r.info["pairs"] == sum(t["pairs"] for t in r.tasks) and r.info["n_tasks"] == 8
    b = headwise.score_successor(model, embedding="block0")
    out = run_cli("score", "successor", *M, "--embedding", "block0", "--top", "5").stdout.decode()
    rows = [l.split("\t") for l in out.splitlines() if re.match(r"^\d+\t", l)]
    assert [x[1] for x in rows] == ["%d.%d" % t[:2] for t in b.ranking()[:5]]


def test_successor_organism_equals_cli(tmp_path):
    org = organism("successor")
    run_cli("score", "successor", "-m", org, "--tasks", SUCC_TASKS, "-o", str(tmp_path / "cli.tsv"))
    r = headwise.score_successor(headwise.Model(org), tasks=SUCC_TASKS, out=tmp_path / "py.tsv")
    assert same_bytes(tmp_path / "cli.tsv", tmp_path / "py.tsv")
    rows = tsv_rows(tmp_path / "cli.tsv")
    assert rows[0] == ["layer", "head", "score", "pairs"]
    assert [(int(x[0]), int(x[1])) for x in rows[1:]] == [t[:2] for t in r.ranking()]
    assert r.ranking()[0][2] > 0.5          # the organism has a successor head


# ------------------------------------------------------------------ attribution

def test_attribution_equals_cli(model, tmp_path):
    out = run_cli("score", "attribution", *M, "--prompts", RECALL, "-o",
                  str(tmp_path / "cli.json")).stdout.decode()
    r = headwise.score_attribution(model, prompts=RECALL, out=tmp_path / "py.json")
    assert same_bytes(tmp_path / "cli.json", tmp_path / "py.json")
    table_equals_json(r, tmp_path / "cli.json")
    m = re.search(r"over (\d+) prompts: greedy next token is the in-context answer in ([\d.]+), "
                  r"the memorized one in ([\d.]+)", out)
    assert r.info["n_prompts"] == int(m[1]) == len(headwise.read_prompts(RECALL, 2))
    assert r.info["in_context_rate"] == pytest.approx(float(m[2]), abs=5e-7)
    assert r.info["memorized_rate"] == pytest.approx(float(m[3]), abs=5e-7)
    assert r["tokens"].shape == (7, 3)
    # Ranked lowest first (in-context heads), as the second table the CLI prints.
    tables = out.split("# in-context heads (lowest):\n")
    rows = [l.split("\t") for l in tables[1].splitlines() if re.match(r"^\d+\t", l)]
    assert [x[1] for x in rows] == ["%d.%d" % t[:2] for t in r.ranking()[:len(rows)]]
    mem = [l.split("\t") for l in tables[0].splitlines() if re.match(r"^\d+\t", l)]
    assert [x[1] for x in mem] == ["%d.%d" % t[:2] for t in r.ranking(ascending=False)[:len(mem)]]


def test_attribution_organism_equals_cli(tmp_path):
    org = organism("recall")
    run_cli("score", "attribution", "-m", org, "--task", "recall", "--samples", "60",
            "-o", str(tmp_path / "cli.tsv"))
    r = headwise.score_attribution(headwise.Model(org), task="recall", samples=60,
                                   out=tmp_path / "py.tsv")
    assert same_bytes(tmp_path / "cli.tsv", tmp_path / "py.tsv")
    assert r.info["n_prompts"] > 0 and r["tokens"].shape == (r.info["n_prompts"], 3)


# ------------------------------------------------------------------ dla

DLA_PROMPT = "Lily and Ben went to the park. Lily gave the ball to"


def test_dla_equals_cli(model, tmp_path):
    out = run_cli("score", "dla", *M, "-p", DLA_PROMPT, "--target", "Ben", "--minus", "Lily",
                  "-o", str(tmp_path / "cli.json"), "--top", "0").stdout.decode()
    rec = Recorder()
    r = headwise.score_dla(model, prompt=DLA_PROMPT, target="Ben", minus=["Lily"],
                           out=tmp_path / "py.json", progress=rec)
    assert same_bytes(tmp_path / "cli.json", tmp_path / "py.json")
    with open(tmp_path / "cli.json") as f:
        approx_json(dict(r), json.load(f), rel=1e-8)
    assert "target ' B' = token %d, minus ' Lily' = token %d" % (r["target_token"],
                                                                  r["minus_tokens"][0]) in out
    comps = r["components"]
    assert len(comps) == 1 + 5 * (8 + 2) + 1 and list(comps)[:2] == ["embed", "0.0"]
    assert r.heads.shape == (5, 8) and r.heads[3, 4] == comps["3.4"]
    assert r.sum == pytest.approx(sum(v for k, v in comps.items() if k != "rest"), rel=1e-9)
    # scaled: the parts add up to the logit difference
    assert r.sum + comps["rest"] == pytest.approx(r["logit_diff"], rel=1e-6)
    assert [c[0] for c in rec.calls] == ["forward"] or rec.calls[0][0] == "forward"


def test_dla_raw_equals_cli(model, tmp_path):
    run_cli("score", "dla", *M, "-p", "Tom had a red kite", "--target", "and", "--raw",
            "-o", str(tmp_path / "cli.tsv"))
    r = headwise.score_dla(model, prompt="Tom had a red kite", target="and", raw=True,
                           out=tmp_path / "py.tsv")
    assert same_bytes(tmp_path / "cli.tsv", tmp_path / "py.tsv")
    assert r["scaled"] is False and r["minus"] == [] and r["minus_tokens"] == []


# ------------------------------------------------------------------ prompts files

def test_read_prompts(tmp_path):
    p = tmp_path / "p.tsv"
    p.write_text("# a comment\nOnce upon\\na time\tthere\twas\n\nLily\tsaw\n")
    assert headwise.read_prompts(p) == [("Once upon\na time", "there", "was"), ("Lily", "saw")]
    with pytest.raises(headwise.Error, match="answer"):
        headwise.read_prompts(p, 2)
    with pytest.raises(headwise.Error):
        headwise.read_prompts(tmp_path / "missing.tsv")


# ------------------------------------------------------------------ errors

# Calls that load, read files or run: a refused argument must reach none of them.
HEAVY = {"hw_retrieval_run", "hw_mask_test_run", "hw_scale_sweep_run", "hw_echo_induction_run",
         "hw_successor_run", "hw_attribution_run", "hw_dla_run", "hw_head_scores_read",
         "hw_prompts_read", "hw_successor_tasks_read", "hw_successor_tasks_default",
         "hw_output_prepare", "hw_model_load"}

R, MT, SW, EI, SU, AT, DL = (headwise.score_retrieval, headwise.mask_test, headwise.sweep_scale,
                             headwise.score_echo_induction, headwise.score_successor,
                             headwise.score_attribution, headwise.score_dla)
SC = os.path.join(REPO, "tests", "data")      # any existing path for scores=

BAD = [
    (R, dict(lengths="1:2"), "lengths"),
    (R, dict(lengths=(128, 448)), "lengths"),
    (R, dict(depths=0), "depths"),
    (R, dict(depths=2.5), "expected an integer"),
    (R, dict(buffer=-1), "buffer"),
    (R, dict(max_new=0), "max_new"),
    (R, dict(min_rouge=float("nan")), "not a finite"),
    (R, dict(min_rouge=101), "min_rouge"),
    (R, dict(samples=0), "samples"),
    (R, dict(task_depth=2.0), "task_depth"),
    (R, dict(task="retrieval", depths=3), "task replaces"),
    (R, dict(haystack=["x.txt"] * 65), "at most 64"),
    (R, dict(template="a\0b"), "NUL"),
    (R, dict(threads=0), "threads"),
    (R, dict(progress="yes"), "progress"),
    (MT, dict(scores=SC, top=0), "top"),
    (MT, dict(scores=SC, mode="sideways"), "mode"),
    (MT, dict(scores=SC, phase="prefill"), "phase"),
    (MT, dict(scores=SC, prompts=COPY, task="retrieval"), "one task"),
    (MT, dict(scores=SC, prompts=COPY, depths=3), "one task"),
    (MT, dict(scores=None), "scores"),
    (MT, dict(scores=SC, singles="yes"), "singles"),
    (MT, dict(scores=SC, seed=-1), "seed"),
    (SW, dict(head="9.9", prompts=RECALL), "outside the model"),
    (SW, dict(head="0.0"), "one of prompts"),
    (SW, dict(head="0.0", prompts=RECALL, task="recall"), "one of prompts"),
    (SW, dict(head="0.0", prompts=RECALL, scales=[1, float("nan")]), r"scales\[1\]"),
    (SW, dict(head="0.0", prompts=RECALL, scales="1,x"), "scales"),
    (SW, dict(head="0.0", prompts=RECALL, scales=[]), "no scales"),
    (SW, dict(head="0.0", prompts=RECALL, from_=float("inf")), "from_"),
    (SW, dict(head="0.0", prompts=RECALL, steps=0), "steps"),
    (EI, dict(agg="median"), "agg"),
    (EI, dict(repeats=1), "repeats"),
    (EI, dict(echo_ratio=2), "echo_ratio"),
    (EI, dict(text=b"bytes"), "expected a str"),
    (SU, dict(embedding="mlp1"), "embedding"),
    (AT, dict(task="induction"), "recall"),
    (AT, dict(), "give prompts"),
    (AT, dict(prompts=RECALL, task="recall"), "give prompts"),
    (DL, dict(prompt=3, target="Ben"), "prompt"),
    (DL, dict(prompt="x", target="Ben", minus=["a"] * 65), "at most 64"),
    (DL, dict(prompt="x", target="Ben", raw=2), "raw"),
]


@pytest.mark.parametrize("fn,kw,needle", BAD, ids=["%s-%d" % (b[0].__name__, i)
                                                   for i, b in enumerate(BAD)])
def test_bad_arguments_refused_before_c(model, c_calls, fn, kw, needle):
    with pytest.raises(headwise.ArgumentError, match=needle):
        fn(model, **kw)
    assert not HEAVY & set(c_calls), sorted(HEAVY & set(c_calls))


def test_unknown_argument_is_type_error(model):
    with pytest.raises(TypeError, match="sample"):
        headwise.score_retrieval(model, sample=3)
    with pytest.raises(TypeError):
        headwise.mask_test(model)                   # scores is required
    with pytest.raises(TypeError):
        headwise.score_retrieval(model, "128:448:3")   # flags are keywords
    with pytest.raises(headwise.ArgumentError, match="expected a headwise.Model"):
        headwise.score_successor(3)


def _zeros(tmp_path):
    s = headwise.HeadScores(5, 8)
    for l in range(5):
        for h in range(8):
            s.append(l, h, 0.0)
    s.write(tmp_path / "zero.json")
    return tmp_path / "zero.json"


def test_library_errors_raise(model, tmp_path):
    """Failures found by the library: headwise.Error with its message, and the work
    not started (no progress call) when the inputs are wrong."""
    rec = Recorder()
    cases = [
        (R, dict(needles=tmp_path / "none.jsonl"), "none.jsonl"),
        (R, dict(lengths="128:4000:2"), "longer than the model's context"),
        (R, dict(haystack=tmp_path / "none.txt"), "none.txt"),
        (R, dict(task="nonsense"), "nonsense"),
        (R, dict(out="/proc/headwise/r.json"), "/proc/headwise"),
        (MT, dict(scores=tmp_path / "none.json", prompts=COPY), "none.json"),
        (MT, dict(scores=_zeros(tmp_path), prompts=COPY), "tie|tied"),
        (MT, dict(scores=os.path.join(REPO, "README.md"), prompts=COPY), "README"),
        (SW, dict(head="0.0", prompts=COPY), "answer"),           # one answer, two needed
        (SW, dict(head="0.0", prompts=RECALL, out="/proc/x/s.json"), "/proc/x"),
        (EI, dict(block=600), "context"),
        (EI, dict(lo=10, hi=5), ""),
        (EI, dict(out="/proc/x/e.json"), "/proc/x"),
        (SU, dict(tasks=tmp_path / "none.txt"), "none.txt"),
        (AT, dict(prompts=COPY), "answer"),
        (DL, dict(prompt="Tom", target=""), ""),
        (DL, dict(prompt="Tom", target="and", out="/proc/x/d.json"), "/proc/x"),
    ]
    for fn, kw, needle in cases:
        with pytest.raises(headwise.Error, match=needle):
            fn(model, progress=rec, **kw)
    assert rec.calls == []                       # none of them started its work
    with pytest.raises(headwise.Error, match="tokenizer"):
        headwise.score_successor(MODEL)          # no tokenizer.bin beside stories260K.bin


def test_progress_stops_every_protocol(model, tmp_path):
    """A true return stops each protocol with an Error; an exception in the callback
    (KeyboardInterrupt) comes out of the call; the model works after either."""
    ranked = headwise.HeadScores(5, 8)
    for i in range(40):
        ranked.append(i // 8, i % 8, float(i))
    runs = [
        lambda p: headwise.score_echo_induction(model, chunk=64, progress=p),
        lambda p: headwise.score_successor(model, progress=p),
        lambda p: headwise.score_attribution(model, prompts=RECALL, progress=p),
        lambda p: headwise.mask_test(model, scores=ranked, prompts=COPY, top=2, draws=2,
                                     progress=p),
        lambda p: headwise.sweep_scale(model, head="1.1", prompts=RECALL, progress=p),
        lambda p: headwise.score_dla(model, prompt=DLA_PROMPT, target="Ben", progress=p),
    ]
    for run in runs:
        with pytest.raises(headwise.Error, match="stopped"):
            run(Recorder(stop_at=1))
        with pytest.raises(KeyboardInterrupt):
            run(Recorder(raise_at=1))
        rec = Recorder()
        run(rec)
        assert rec.calls and all(isinstance(c[0], str) and c[0] for c in rec.calls)


def test_progress_true_prints(model, capsys):
    headwise.score_successor(model, progress=True)
    assert "task letters 8/8 (100%)" in capsys.readouterr().err


# ------------------------------------------------------------------ tokenizer lookup

def test_tokenizer_found_by_the_library(tmp_path):
    assert headwise.default_tokenizer(MODEL) == os.path.join(os.path.dirname(MODEL), "tokenizer.bin")
    org = organism("retrieval")
    assert headwise.default_tokenizer(org) == org
    m = headwise.Model(org)
    assert m.tokenizer_path == org and m.encode("Q:", bos=False)
    with pytest.raises(headwise.Error, match=r"the tokenizer of model .*stories260K\.bin.*tokenizer\.bin"):
        headwise.Model(MODEL)
    # A checkpoint with tokenizer.bin beside it loads without one named.
    os.symlink(MODEL, tmp_path / "m.bin")
    os.symlink(TOKENIZER, tmp_path / "tokenizer.bin")
    m2 = headwise.Model(tmp_path / "m.bin")
    assert m2.tokenizer_path == str(tmp_path / "tokenizer.bin") and m2.encode("Once") == [1, 403]


def test_threads_argument(model):
    """threads= sets the library's (process-wide) thread count, as --threads; the
    scores do not depend on it."""
    before = headwise.get_threads()
    try:
        one = headwise.score_echo_induction(model, threads=1)
        assert headwise.get_threads() == 1
        two = headwise.score_echo_induction(model, threads=2)
        assert headwise.get_threads() == 2
        for c in one.columns:
            assert np.array_equal(one[c], two[c]), c
    finally:
        headwise.set_threads(before)
    with pytest.raises(TypeError, match="score_retrieval"):
        headwise.RetrievalScores(5, 8)

"""Shared fixtures: the repository, the build (HW_BUILD, default build/rel) whose
CLI the binding is compared with, and stories260K (HW_SHARED, default ../shared).

The binding is imported from this source tree, and HEADWISE_LIB is pointed at the
same build's libheadwise.so unless already set, so that the library under test and
the CLI it is compared with are built from the same objects with the same flags."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
PKG_ROOT = os.path.dirname(HERE)                      # bindings/python
REPO = os.path.normpath(os.path.join(PKG_ROOT, "..", ".."))
BUILD = os.path.join(REPO, os.environ.get("HW_BUILD", "build/rel"))
SHARED = os.environ.get("HW_SHARED") or os.path.join(REPO, "..", "shared")
if not os.path.isabs(SHARED):
    SHARED = os.path.join(REPO, SHARED)
STORIES = os.path.join(SHARED, "models", "stories260K")
MODEL = os.path.join(STORIES, "stories260K.bin")
TOKENIZER = os.path.join(STORIES, "tok512.bin")
CLI = os.path.join(BUILD, "headwise")

os.environ.setdefault("HEADWISE_LIB", os.path.join(BUILD, "libheadwise.so"))
sys.path.insert(0, PKG_ROOT)

import headwise  # noqa: E402


def cli_env():
    """The environment for the CLI: tests/python_test.sh preloads the ASan runtime
    and turns leak checks off for Python; an ASan CLI links its runtime itself and
    keeps its own options (HW_CLI_ASAN_OPTIONS)."""
    env = dict(os.environ)
    if "HW_CLI_ASAN_OPTIONS" in env:
        env["ASAN_OPTIONS"] = env["HW_CLI_ASAN_OPTIONS"]
        env.pop("LD_PRELOAD", None)
    return env


def run_cli(*args, check=True):
    """Run the headwise CLI; returns the CompletedProcess (stdout/stderr bytes)."""
    p = subprocess.run([CLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       env=cli_env(), timeout=600)
    if check and p.returncode != 0:
        raise AssertionError("headwise %s failed (%d): %s" % (" ".join(args), p.returncode,
                                                              p.stderr.decode(errors="replace")))
    return p


def cli_run_dir(tmp_path, prompt, *flags):
    """`headwise run -p prompt flags -o DIR` on stories260K; returns DIR's tokens
    (ids), their texts (bytes), captures {name: array} and logits (V)."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    out = tmp_path / "run"
    run_cli("run", "-m", MODEL, "-z", TOKENIZER, "-p", prompt, "-o", str(out), *flags)
    # A token's text is its raw bytes (a byte-fallback token may be part of a UTF-8
    # character), so read them back as bytes.
    toks = json.loads((out / "tokens.json").read_bytes().decode("utf-8", "surrogateescape"))
    index = json.loads((out / "index.json").read_text())
    # index.json lists logits.npy too, as its last entry ("hook": "logits").
    caps = {e["file"][:-len(".npy")]: np.load(out / e["file"]) for e in index
            if e["hook"] != "logits"}
    return {"ids": [t["id"] for t in toks], "texts": [t["text"].encode("utf-8", "surrogateescape") for t in toks],
            "captures": caps, "logits": np.load(out / "logits.npy"), "index": index}


@pytest.fixture(scope="session")
def model():
    if not os.path.isfile(MODEL) or not os.path.isfile(TOKENIZER):
        pytest.skip("stories260K not found under %s (set HW_SHARED)" % SHARED)
    if not os.path.isfile(CLI):
        pytest.skip("no CLI at %s (build with make -j2 all)" % CLI)
    return headwise.Model(MODEL, tokenizer=TOKENIZER)


# Two clean / corrupted prompt pairs on stories260K (a copied word changed), for the
# circuit methods' tests (patching, CD-T): each clean line's answers are its target and
# minus.
PAIR_CLEAN = ("Lily saw a big red ball. Lily saw a big red\tball\tcat\n"
              "Tom had a small blue car. Tom had a small blue\tcar\tdog\n")
PAIR_CORRUPT = "Lily saw a big red cat. Lily saw a big red\nTom had a small blue dog. Tom had a small blue\n"


@pytest.fixture
def files(tmp_path):
    """The two pairs as prompts files: (clean path, corrupt path)."""
    c, x = tmp_path / "clean.txt", tmp_path / "corrupt.txt"
    c.write_text(PAIR_CLEAN)
    x.write_text(PAIR_CORRUPT)
    return str(c), str(x)

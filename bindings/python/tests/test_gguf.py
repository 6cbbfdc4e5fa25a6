"""GGUF from Python: Model(path.gguf) loads the weights and the tokenizer from the one
file (hw_model_load and hw_tokenizer_load_for_model read GGUF), and stories260K.gguf
runs as stories260K.bin does, bit for bit; headwise.gguf_file lists a file's metadata
and tensors as `headwise info --gguf` prints them."""
import os

import numpy as np
import pytest

import headwise
from conftest import MODEL, SHARED, TOKENIZER, run_cli

GGUF = os.path.join(SHARED, "models", "gguf", "stories260K.gguf")
PROMPT = "Once upon a time, there was a little girl named Lily"


@pytest.fixture(scope="module")
def gguf():
    if not os.path.exists(GGUF):
        pytest.skip("no %s" % GGUF)
    with headwise.Model(GGUF) as m:
        yield m


def test_info_names_gguf(gguf):
    assert gguf.info["format"] == "GGUF v3" and gguf.info["dtype"] == "F32 x48"
    assert gguf.tokenizer_path == GGUF           # the file holds its own tokenizer
    out = run_cli("info", "-m", GGUF).stdout.decode()
    assert "GGUF v3" in out and "F32 x48" in out


def test_same_tokens_logits_and_text_as_bin(gguf):
    with headwise.Model(MODEL, tokenizer=TOKENIZER) as b:
        ids = gguf.encode(PROMPT)
        assert ids == b.encode(PROMPT)
        x = gguf.run(ids, capture=["blocks.*.attn.hook_pattern"])
        y = b.run(ids, capture=["blocks.*.attn.hook_pattern"])
        assert x.logits.shape == (len(ids), 512) and np.array_equal(x.logits, y.logits)
        assert x.captures.keys() == y.captures.keys() and len(x.captures) == 5
        assert all(np.array_equal(x.captures[k], y.captures[k]) for k in x.captures)
        assert gguf.generate(PROMPT, n=40) == b.generate(PROMPT, n=40)


def test_gguf_file_matches_cli():
    path = os.path.join(SHARED, "models", "gguf", "llama-2-tiny-random.gguf")
    f = headwise.gguf_file(path)
    out = run_cli("info", "-m", path, "--gguf").stdout.decode().splitlines()
    assert out[0] == "gguf version  %d" % f["version"] == "gguf version  3"
    meta = dict(line.strip().split(" = ", 1) for line in out if line.startswith("  ") and " = " in line)
    assert meta == f["metadata"] and len(meta) == 18
    assert f["metadata"]["llama.block_count"] == "1" and f["metadata"]["general.name"] == '"LLaMA v2"'
    assert f["metadata"]["tokenizer.ggml.tokens"].startswith('[string x 32000: "<unk>", "<s>"')
    rows = [line.split() for line in out if line.startswith("  ") and " = " not in line]
    assert len(rows) == len(f["tensors"]) == 12
    for row, t in zip(rows, f["tensors"]):
        assert row[0] == t["name"] and row[1] == t["type"]
        assert " ".join(row[2:]) == "[%s] %d bytes at %d" % (", ".join(map(str, t["shape"])), t["bytes"],
                                                            t["offset"])
    emb = f["tensors"][0]
    assert emb == {"name": "token_embd.weight", "type": "F16", "shape": [8, 32000], "bytes": 512000,
                   "offset": 724416}


def test_gguf_file_refuses_other_files():
    with pytest.raises(headwise.Error, match="not a GGUF file"):
        headwise.gguf_file(MODEL)


def test_quantize_equals_cli_and_loads(tmp_path, gguf):
    """headwise.quantize writes the file `headwise quantize` writes, byte for byte; it
    loads with its matrices in Q8_0 and its logits stay near the F32 file's."""
    a, b = str(tmp_path / "py.gguf"), str(tmp_path / "cli.gguf")
    s = headwise.quantize(GGUF, a, "q8_0")
    run_cli("quantize", "-m", GGUF, "-o", b, "--type", "q8_0")
    assert open(a, "rb").read() == open(b, "rb").read()
    assert s["n_tensors"] == 48 and s["n_quantized"] == 37 and 0 < s["out_bytes"] < s["in_bytes"] / 2
    with headwise.Model(a) as q:
        assert "Q8_0 x32" in q.info["dtype"]
        ids = gguf.encode(PROMPT)
        d = np.abs(q.run(ids).logits - gguf.run(ids).logits).max()
        assert 0 < d < 0.5
    with pytest.raises(headwise.Error, match="q3"):
        headwise.quantize(GGUF, str(tmp_path / "bad.gguf"), "q3")
    assert not os.path.exists(tmp_path / "bad.gguf")

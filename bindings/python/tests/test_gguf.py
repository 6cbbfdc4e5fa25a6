"""GGUF models from Python: Model(path.gguf) loads the weights and the tokenizer from the
one file (no new functions: hw_model_load and hw_tokenizer_load_for_model read GGUF),
and stories260K.gguf runs as stories260K.bin does, bit for bit."""
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

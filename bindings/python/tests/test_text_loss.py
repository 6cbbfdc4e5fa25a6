"""Model.text_loss (hw_text_loss) against `headwise loss -o`: the same losses bit for
bit, full attention and LongHeads past stories260K's trained context (512)."""
import os

import numpy as np
import pytest

import headwise
from conftest import MODEL, REPO, TOKENIZER, run_cli

STORIES = os.path.join(REPO, "data", "haystack", "stories.txt")


@pytest.mark.parametrize("kv", ["full", "longheads"])
def test_matches_the_cli(model, kv, tmp_path):
    out = tmp_path / "loss.npy"
    p = run_cli("loss", "-m", MODEL, "-z", TOKENIZER, "--text", STORIES, "--tokens", "1024",
                "--kv", kv, "--greedy", "8", "-o", str(out))
    cli = np.load(out)
    ids = model.encode(open(STORIES, encoding="utf-8").read())
    ids = (ids + ids[1:] * 2)[:1024]  # repeated without BOS, as the CLI does
    loss, greedy = model.text_loss(ids, kv=kv, greedy=8)
    assert loss.shape == (1023,) and np.array_equal(loss, cli)
    # The CLI decodes the first greedy token as it follows the text's last one.
    text = model.decode(ids[-1:] + greedy)[len(model.decode(ids[-1:])):]
    assert p.stdout.decode().splitlines()[-1] == "greedy:" + text.replace("\n", " ")


def test_longheads_below_full_past_the_context(model):
    ids = model.encode(open(STORIES, encoding="utf-8").read())[:1536]
    full = model.text_loss(ids)
    lh = model.text_loss(ids, kv="longheads")
    assert np.array_equal(full[:512], lh[:512])
    assert lh[512:].mean() < full[512:].mean() - 0.1


def test_bad_arguments(model):
    with pytest.raises(headwise.ArgumentError):
        model.text_loss([1])
    with pytest.raises(headwise.ArgumentError):
        model.text_loss([1, 2, 100000])
    with pytest.raises(headwise.ArgumentError):
        model.text_loss([1, 2, 3], chunk=-1)

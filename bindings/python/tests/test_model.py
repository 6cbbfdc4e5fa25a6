"""Model from Python against the CLI on stories260K: the same tokens, the same
captured tensors and logits bit for bit, the same generated text."""
import dataclasses

import numpy as np
import pytest

import headwise
from conftest import MODEL, TOKENIZER, cli_run_dir, run_cli

PROMPT = "Once upon a time, there was a little girl named Lily"


def test_config_matches_cli_info(model):
    out = run_cli("info", "-m", MODEL).stdout.decode()
    info = dict(line.split(None, 1) for line in out.splitlines() if line.strip())
    c = model.config
    assert (c.arch, c.n_layer, c.d_model, c.d_ff) == (info["architecture"].strip(), int(info["layers"]),
                                                      int(info["d_model"]), int(info["d_ff"]))
    assert (c.n_head, c.head_dim, c.vocab_size, c.n_ctx) == (8, 8, 512, 512)
    assert c.n_kv_head == 4 and c.bos_id == 1 and c.eos_id == 2
    assert c.norm == "rms" and c.pos == "rotary" and c.act == "silu_gated"
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.n_layer = 3
    assert model.info["n_params"] == 260032


@pytest.mark.parametrize("text", [PROMPT, "Tom said: \"Hello!\"\nThe end.", "caf\u00e9 \u2603 naïve"])
def test_encode_decode_match_cli(model, tmp_path, text):
    cli = cli_run_dir(tmp_path, text)
    ids = model.encode(text)
    assert ids == cli["ids"]
    assert ids[0] == model.config.bos_id
    assert model.encode(text, bos=False) == ids[1:]
    assert model.pieces(ids, raw=True) == cli["texts"]
    assert model.pieces(ids) == [b.decode("utf-8", "replace") for b in cli["texts"]]
    assert model.decode(ids) == b"".join(cli["texts"]).decode("utf-8")
    assert model.decode(ids[1:]) == text      # SentencePiece: no space before the first word


def test_captures_equal_cli_npy(model, tmp_path):
    hooks = ["blocks.*.attn.hook_pattern", "blocks.2.attn.hook_z", "hook_logits",
             "blocks.1.attn.hook_k", "blocks.0.hook_resid_post", "blocks.*.attn.hook_attn_scores"]
    flags = [x for h in hooks for x in ("--capture", h)]
    cli = cli_run_dir(tmp_path, PROMPT, *flags, "-n", "4")
    r = model.run(model.encode(PROMPT), capture=hooks, n_new=4)
    assert sorted(r.captures) == sorted(cli["captures"])
    assert "blocks.3.attn.hook_pattern.pos%d" % (len(cli["ids"]) - 2) in r.captures
    for name, want in cli["captures"].items():
        got = r.captures[name]
        assert got.dtype == np.float32 and got.shape == want.shape, name
        assert np.array_equal(got, want), name
    assert r.tokens == cli["ids"]
    T = len(model.encode(PROMPT))
    assert r.logits.shape == (T, 512) and r.logits.dtype == np.float32
    assert np.array_equal(r.logits[-1], cli["logits"])
    # Copies: editing a result cannot touch another one's memory.
    r.captures["hook_logits"][:] = 0
    assert np.array_equal(r.logits[-1], cli["logits"])


def test_masked_run_equals_cli(model, tmp_path):
    plain = cli_run_dir(tmp_path / "plain", PROMPT)
    cli = cli_run_dir(tmp_path / "masked", PROMPT, "--mask-uniform", "1.2,3.4",
                      "--capture", "blocks.1.attn.hook_pattern")
    r = model.run(model.encode(PROMPT), capture=["blocks.1.attn.hook_pattern"],
                  mask_uniform=["1.2", (3, 4)])
    assert np.array_equal(r.logits[-1], cli["logits"])
    assert not np.array_equal(r.logits[-1], plain["logits"])   # the mask acts
    assert np.array_equal(r.captures["blocks.1.attn.hook_pattern"],
                          cli["captures"]["blocks.1.attn.hook_pattern"])
    # Uniform attention: head 1.2's row t is 1 / (t + 1) over its t + 1 keys.
    pat = r.captures["blocks.1.attn.hook_pattern"][2]
    T = pat.shape[0]
    assert np.allclose(pat, np.tril(np.ones((T, T))) / np.arange(1, T + 1)[:, None], atol=1e-6)


def test_interventions_equal_cli(model, tmp_path):
    cli = cli_run_dir(tmp_path, PROMPT, "--zero-output", "0.1", "--scale", "2.3,4.0=0.5",
                      "--mask-uniform", "4.7", "--phase", "decode", "-n", "5",
                      "--capture", "blocks.4.attn.hook_z")
    r = model.run(PROMPT, capture="blocks.4.attn.hook_z", zero_output="0.1",
                  scale={"2.3": 0.5, (4, 0): 0.5}, mask_uniform=[(4, 7)], phase="decode", n_new=5)
    assert r.tokens == cli["ids"]
    assert np.array_equal(r.logits[-1], cli["logits"])
    assert sorted(r.captures) == sorted(cli["captures"])
    for name, want in cli["captures"].items():
        assert np.array_equal(r.captures[name], want), name
    # Decode phase only: the prompt's logits are the plain run's.
    assert np.array_equal(r.logits, model.run(PROMPT).logits)


def test_logit_rows_are_positions(model):
    """Row k of the (T, V) logits is position k's: the last row of a run of the
    first k + 1 tokens (to rounding: a (T, V) product against a one-row one)."""
    ids = model.encode(PROMPT)
    full = model.run(ids).logits
    for k in (0, 3, len(ids) - 2):
        row = model.run(ids[:k + 1]).logits[-1]
        assert np.allclose(full[k], row, atol=1e-4, rtol=1e-5), k
        assert int(np.argmax(full[k])) == int(np.argmax(row))


def test_run_greedy_equals_cli_text(model):
    out = run_cli("run", "-m", MODEL, "-z", TOKENIZER, "-p", "Lily and Ben", "-n", "12").stdout
    greedy = out[out.index(b"greedy: ") + len(b"greedy: "):-1]
    ids = model.encode("Lily and Ben")
    r = model.run(ids, n_new=12)
    assert len(r.tokens) == len(ids) + 12
    assert "".join(model.pieces(r.tokens)[len(ids):]).encode() == greedy


@pytest.mark.parametrize("prompt,n", [("Once upon a time", 40), ("", 30), ("Lily saw a cat", 0),
                                       ("The dog", 200)])
def test_generate_greedy_equals_cli(model, prompt, n):
    out = run_cli("generate", "-m", MODEL, "-z", TOKENIZER, "-p", prompt, "-n", str(n),
                  "-t", "0").stdout
    assert model.generate(prompt, n).encode() == out[:-1] and out.endswith(b"\n")


def test_generate_sampled_equals_cli(model):
    out = run_cli("generate", "-m", MODEL, "-z", TOKENIZER, "-p", "Ben had a", "-n", "60",
                  "-t", "0.9", "--top-p", "0.8", "-s", "1234").stdout
    text = model.generate("Ben had a", 60, temperature=0.9, top_p=0.8, seed=1234)
    assert text.encode() == out[:-1]
    assert text != model.generate("Ben had a", 60, temperature=0.9, top_p=0.8, seed=99)


def test_generate_streams_and_intervenes(model):
    got = []
    text = model.generate("Once upon a time", 50, on_piece=got.append)
    assert "".join(got) == text and len(got) > 10
    masked = model.generate("Once upon a time", 50, zero_output=["0.%d" % h for h in range(8)])
    assert masked != text and masked.startswith("Once upon a time")


def test_generate_keyboard_interrupt_stops(model):
    seen = []

    def stop(piece):
        seen.append(piece)
        if len(seen) == 8:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        model.generate("Once upon a time", 200, on_piece=stop)
    assert len(seen) == 8          # C stopped at once: no piece after the interrupt
    assert model.generate("Once upon a time", 20)   # the model still works


def test_threads_do_not_change_results(model):
    ids = model.encode(PROMPT)
    headwise.set_threads(1)
    one = model.run(ids, capture=["blocks.2.attn.hook_pattern"], n_new=3)
    headwise.set_threads(2)
    two = model.run(ids, capture=["blocks.2.attn.hook_pattern"], n_new=3)
    assert one.tokens == two.tokens and np.array_equal(one.logits, two.logits)
    assert np.array_equal(one.captures["blocks.2.attn.hook_pattern"],
                          two.captures["blocks.2.attn.hook_pattern"])

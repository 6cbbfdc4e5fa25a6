#!/usr/bin/env python3
"""atlas_page_size.py: the head atlas page at the Llama-2-7B head layout, measured (not part
of the suite: about a minute). A random Llama of 32 layers x 32 heads (sharp init as
tests/hf_fixtures.py draws it, d_model 64, head_dim 8, no MLP, vocabulary 512 so that
stories260K's tok512.bin is its tokenizer, context 1024) gets `headwise atlas` with a
1K-token probe; the page's size, the run's time and, in headless Chromium
(tests/atlas_browser.py), the time until its scripts ran and until a head's card is
drawn are printed.

usage: atlas_page_size.py [BUILD (default build/rel)]  (run from the repository root)"""
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, "scripts")
from hf_safetensors import write_safetensors  # noqa: E402

build = sys.argv[1] if len(sys.argv) > 1 else "build/rel"
shared = os.environ.get("HW_SHARED", os.path.join("..", "shared"))
tok = os.path.join(shared, "models", "stories260K", "tok512.bin")
L, H, D, Dh, V = 32, 32, 64, 8, 512
with tempfile.TemporaryDirectory() as tmp:
    model = os.path.join(tmp, "llama7b_layout")
    os.makedirs(model)
    rng = np.random.default_rng(7)
    W = {"model.embed_tokens.weight": rng.standard_normal((V, D))}
    for i in range(L):
        p = "model.layers.%d." % i
        W[p + "input_layernorm.weight"] = 1 + 0.1 * rng.standard_normal(D)
        for n, r, c, qk in [("q_proj", H * Dh, D, 1), ("k_proj", H * Dh, D, 1), ("v_proj", H * Dh, D, 0),
                            ("o_proj", D, H * Dh, 0)]:
            W[p + "self_attn." + n + ".weight"] = rng.standard_normal((r, c)) * (2.4 if qk else 0.8) / np.sqrt(c)
    W["model.norm.weight"] = 1 + 0.1 * rng.standard_normal(D)
    W["lm_head.weight"] = rng.standard_normal((V, D)) * 0.8 / np.sqrt(D)
    write_safetensors(os.path.join(model, "model.safetensors"),
                      [(k, "F32", v.shape, v.astype("<f4").tobytes()) for k, v in sorted(W.items())], {"format": "pt"})
    json.dump({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu",
               "rms_norm_eps": 1e-5, "vocab_size": V, "hidden_size": D, "intermediate_size": 0,
               "num_hidden_layers": L, "num_attention_heads": H, "num_key_value_heads": H, "head_dim": Dh,
               "max_position_embeddings": 1024, "rope_theta": 10000.0, "tie_word_embeddings": False,
               "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float32"},
              open(os.path.join(model, "config.json"), "w"))
    out = os.path.join(tmp, "atlas")
    t0 = time.time()
    subprocess.run([os.path.join(build, "headwise"), "atlas", "-m", model, "-z", tok, "--probe-tokens", "1024",
                    "--skip", "retrieval,mask,kv-eval", "-o", out], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    run = time.time() - t0
    page = os.path.join(out, "atlas.html")
    a = json.load(open(os.path.join(out, "atlas.json")))
    print("atlas of %d x %d heads, %d-token probe in %d bins: %.1f s; atlas.html %d bytes (atlas.json %d)" % (
        L, H, len(a["probe"]["tokens"]), a["probe"]["bins"], run, os.path.getsize(page),
        os.path.getsize(os.path.join(out, "atlas.json"))))
    chromium = next((c for c in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if os.path.exists(c)), None)
    if chromium:
        res = os.path.join(tmp, "r.json")
        subprocess.run([sys.executable, "tests/atlas_browser.py", chromium, "atlas", page, res, "31", "31"], check=True)
        r = json.load(open(res))
        print("chromium: page scripts done %.0f ms after navigation; head 31.31's card drawn %.0f ms later; "
              "%d cells; errors %s" % (r["ms"], r["ms_checked"] - r["ms"], r["cells"], r["errors"] or "none"))

#!/usr/bin/python3
"""llama2c_to_hf.py MODEL.bin OUT_DIR: convert a legacy llama2.c checkpoint
(e.g. stories260K.bin) into a Hugging Face Llama folder (config.json +
model.safetensors, fp32).

Legacy layout: 7 int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads,
vocab_size, seq_len; a negative vocab_size means an unshared classifier), then
fp32 token_embedding (V, D), rms_att (L, D), wq (L, D, D), wk (L, KV, D),
wv (L, KV, D), wo (L, D, D), rms_ffn (L, D), w1 (L, F, D), w2 (L, D, F),
w3 (L, F, D), rms_final (D), two RoPE tables (seq_len, head_size/2) each,
then the classifier (V, D) only when unshared.

Rotary layout: llama2.c rotates the pairs (2i, 2i+1) of each head; Hugging
Face rotates (i, i + head_size/2). Permuting the rows of wq and wk within each
head (2i -> i, 2i+1 -> i + head_size/2) makes the halves layout compute exactly
what the interleaved one did, as Hugging Face's own Llama conversion does.
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_safetensors import write_safetensors  # noqa: E402


def to_halves(w, n_heads):
    """Rows of w (n_heads * head_size, cols): interleaved pairs to halves."""
    rows, cols = w.shape
    hs = rows // n_heads
    return w.reshape(n_heads, hs // 2, 2, cols).transpose(0, 2, 1, 3).reshape(rows, cols)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: llama2c_to_hf.py MODEL.bin OUT_DIR")
    raw = np.fromfile(sys.argv[1], dtype=np.uint8)
    if raw.size < 28:
        sys.exit("%s: too short for a llama2.c header" % sys.argv[1])
    dim, hidden, n_layers, n_heads, n_kv, vocab, seq = (int(x) for x in raw[:28].view("<i4"))
    shared = vocab > 0
    vocab = abs(vocab)
    if min(dim, hidden, n_layers, n_heads, n_kv, vocab, seq) <= 0 or dim % n_heads or n_heads % n_kv:
        sys.exit("%s: implausible header %s" % (sys.argv[1], (dim, hidden, n_layers, n_heads, n_kv, vocab, seq)))
    hs = dim // n_heads
    kv_dim = n_kv * hs
    floats = raw[28:28 + (raw.size - 28) // 4 * 4].view("<f4")
    pos = 0

    def take(*shape):
        nonlocal pos
        n = int(np.prod(shape))
        if pos + n > floats.size:
            sys.exit("%s: truncated (needs %d more floats)" % (sys.argv[1], pos + n - floats.size))
        out = floats[pos:pos + n].reshape(shape)
        pos += n
        return out

    emb = take(vocab, dim)
    rms_att = take(n_layers, dim)
    wq = take(n_layers, dim, dim)
    wk = take(n_layers, kv_dim, dim)
    wv = take(n_layers, kv_dim, dim)
    wo = take(n_layers, dim, dim)
    rms_ffn = take(n_layers, dim)
    w1 = take(n_layers, hidden, dim)
    w2 = take(n_layers, dim, hidden)
    w3 = take(n_layers, hidden, dim)
    rms_final = take(dim)
    take(seq, hs // 2)  # RoPE tables: recomputed by any reader
    take(seq, hs // 2)
    wcls = emb if shared else take(vocab, dim)

    tensors = [("model.embed_tokens.weight", emb)]
    for i in range(n_layers):
        p = "model.layers.%d." % i
        tensors += [
            (p + "input_layernorm.weight", rms_att[i]),
            (p + "self_attn.q_proj.weight", to_halves(wq[i], n_heads)),
            (p + "self_attn.k_proj.weight", to_halves(wk[i], n_kv)),
            (p + "self_attn.v_proj.weight", wv[i]),
            (p + "self_attn.o_proj.weight", wo[i]),
            (p + "post_attention_layernorm.weight", rms_ffn[i]),
            (p + "mlp.gate_proj.weight", w1[i]),
            (p + "mlp.down_proj.weight", w2[i]),
            (p + "mlp.up_proj.weight", w3[i]),
        ]
    tensors.append(("model.norm.weight", rms_final))
    if not shared:
        tensors.append(("lm_head.weight", wcls))

    out = sys.argv[2]
    os.makedirs(out, exist_ok=True)
    write_safetensors(os.path.join(out, "model.safetensors"),
                      [(n, "F32", t.shape, np.ascontiguousarray(t, dtype="<f4").tobytes()) for n, t in tensors],
                      {"format": "pt"})
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": dim, "intermediate_size": hidden, "num_hidden_layers": n_layers,
        "num_attention_heads": n_heads, "num_key_value_heads": n_kv, "vocab_size": vocab,
        "max_position_embeddings": seq, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
        "hidden_act": "silu", "tie_word_embeddings": shared, "bos_token_id": 1, "eos_token_id": 2,
        "torch_dtype": "float32",
    }
    with open(os.path.join(out, "config.json"), "w") as f:
        json.dump(config, f, indent=2)


if __name__ == "__main__":
    main()

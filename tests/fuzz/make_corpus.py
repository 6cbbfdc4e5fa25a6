#!/usr/bin/python3
"""make_corpus.py [OUT]: the small seed inputs kept in tests/fuzz/corpus/.

One folder per fuzz target, each file a valid input (or a near miss) in the
layout that target reads (see tests/fuzz/fuzz_*.c): tiny llama2.c checkpoints
of each version, safetensors files, config.json of each family, whole tiny
Hugging Face folders, tokenizer.bin, tokenizer.json in each layout, GPT-2
files and texts, training checkpoints, needle-in-a-haystack inputs and the
scorers' prompt, task and trial-log files. Deterministic; standard library only. Real files from
../shared/models are added as seeds at run time by tests/fuzz/run.sh.
"""
import json
import os
import random
import struct
import sys

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
rng = random.Random(8)


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def floats(n):
    return struct.pack(f"<{n}f", *[rng.uniform(-1, 1) for _ in range(n)])


# ---------------------------------------------------------------- llama2.c checkpoints

def llama2c(version, D=8, F=12, L=2, H=2, Hk=1, V=16, C=8, shared=True, group=4):
    Dh = D // H
    KV = Hk * Dh
    hdr = [D, F, L, H, Hk, V if shared or version else -V, C]
    if version == 0:
        out = struct.pack("<7i", *hdr)
        out += floats(V * D) + floats(L * D) + floats(L * D * D) + floats(2 * L * KV * D)
        out += floats(L * D * D) + floats(L * D) + floats(3 * L * F * D) + floats(D)
        out += floats(C * Dh)  # the old RoPE tables
        if not shared:
            out += floats(V * D)
        return out
    h = struct.pack("<I", 0x616B3432) + struct.pack("<i", version) + struct.pack("<7i", *hdr) + bytes([int(shared)])
    if version == 2:
        h += struct.pack("<i", group)
    h += bytes(256 - len(h))
    out = h + floats(L * D) + floats(L * D) + floats(D)
    if version == 1:
        out += floats(V * D) + floats(L * D * D) + floats(2 * L * KV * D) + floats(L * D * D)
        out += floats(3 * L * F * D)
        if not shared:
            out += floats(V * D)
        return out

    def q8(rows, cols):
        n = rows * cols
        return bytes(rng.randrange(256) for _ in range(n)) + floats(n // group)
    out += q8(V, D)
    for rows, cols in ((D, D), (KV, D), (KV, D), (D, D), (F, D), (D, F), (F, D)):
        for _ in range(L):
            out += q8(rows, cols)
    if not shared:
        out += q8(V, D)
    return out


def llama2c_seeds():
    put("llama2c", "v0-shared", llama2c(0))
    put("llama2c", "v0-unshared", llama2c(0, shared=False))
    put("llama2c", "v1-shared", llama2c(1))
    put("llama2c", "v1-unshared-gqa", llama2c(1, H=4, Hk=2, shared=False))
    put("llama2c", "v2-shared", llama2c(2))
    put("llama2c", "v2-unshared", llama2c(2, shared=False, group=8, F=16))
    put("llama2c", "v1-truncated", llama2c(1)[:300])
    put("llama2c", "header-only", struct.pack("<7i", 8, 12, 2, 2, 1, 16, 8))


# ---------------------------------------------------------------- safetensors

DT = {"F32": ("f", 4), "F16": ("e", 2), "BF16": (None, 2), "I64": ("q", 8), "I32": ("i", 4),
      "U8": ("B", 1), "BOOL": ("?", 1)}


def safetensors(tensors, metadata=None, pad=0):
    """tensors: list of (name, dtype, shape). Data is random, stored in order."""
    header, data = {}, b""
    for name, dt, shape in tensors:
        n = 1
        for s in shape:
            n *= s
        size = DT[dt][1] * n
        blob = bytes(rng.randrange(256) for _ in range(size)) if dt != "F32" else floats(n)
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [len(data), len(data) + size]}
        data += blob
    if metadata is not None:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * pad
    return struct.pack("<Q", len(h)) + h + data


def safetensors_seeds():
    put("safetensors", "mixed", safetensors([("w", "F32", (2, 3)), ("b", "BF16", (3,)), ("h", "F16", (4,)),
                                             ("ids", "I64", (1, 5)), ("mask", "BOOL", (2, 2)),
                                             ("empty", "F32", (0, 4)), ("scalar", "F32", ())],
                                            {"format": "pt"}, pad=5))
    put("safetensors", "one", safetensors([("x", "F32", (4,))]))
    put("safetensors", "empty-header", struct.pack("<Q", 2) + b"{}")
    put("safetensors", "rank8", safetensors([("r", "U8", (1, 2, 1, 2, 1, 2, 1, 2))]))


# ---------------------------------------------------------------- Hugging Face configs and folders

def cfg_gpt2(**kw):
    c = {"architectures": ["GPT2LMHeadModel"], "n_embd": 8, "n_layer": 1, "n_head": 2, "vocab_size": 16,
         "n_positions": 8, "n_inner": None, "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
         "tie_word_embeddings": True, "bos_token_id": 0, "eos_token_id": 0}
    c.update(kw)
    return c


def cfg_neox(**kw):
    c = {"architectures": ["GPTNeoXForCausalLM"], "hidden_size": 8, "num_hidden_layers": 1,
         "num_attention_heads": 2, "intermediate_size": 16, "vocab_size": 16, "max_position_embeddings": 8,
         "rotary_pct": 0.5, "rotary_emb_base": 10000, "layer_norm_eps": 1e-5, "hidden_act": "gelu",
         "use_parallel_residual": True, "tie_word_embeddings": False, "attention_bias": True}
    c.update(kw)
    return c


def cfg_llama(arch="LlamaForCausalLM", **kw):
    c = {"architectures": [arch], "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2,
         "num_key_value_heads": 1, "intermediate_size": 12, "vocab_size": 16, "max_position_embeddings": 8,
         "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "hidden_act": "silu", "tie_word_embeddings": False,
         "bos_token_id": 1, "eos_token_id": [2, 3]}
    c.update(kw)
    return c


def gpt2_tensors(c):
    D, F, V, C = c["n_embd"], c["n_inner"] or 4 * c["n_embd"], c["vocab_size"], c["n_positions"]
    t = [("wte.weight", "F32", (V, D)), ("wpe.weight", "F32", (C, D))]
    for i in range(c["n_layer"]):
        p = f"h.{i}."
        t += [(p + "ln_1.weight", "F32", (D,)), (p + "ln_1.bias", "F32", (D,)),
              (p + "attn.c_attn.weight", "F32", (D, 3 * D)), (p + "attn.c_attn.bias", "F32", (3 * D,)),
              (p + "attn.c_proj.weight", "F32", (D, D)), (p + "attn.c_proj.bias", "F32", (D,)),
              (p + "ln_2.weight", "F32", (D,)), (p + "ln_2.bias", "F32", (D,)),
              (p + "mlp.c_fc.weight", "F32", (D, F)), (p + "mlp.c_fc.bias", "F32", (F,)),
              (p + "mlp.c_proj.weight", "F32", (F, D)), (p + "mlp.c_proj.bias", "F32", (D,))]
    return t + [("ln_f.weight", "F32", (D,)), ("ln_f.bias", "F32", (D,))]


def neox_tensors(c, dt="F32"):
    D, F, V = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    t = [("gpt_neox.embed_in.weight", dt, (V, D)), ("embed_out.weight", dt, (V, D))]
    for i in range(c["num_hidden_layers"]):
        p = f"gpt_neox.layers.{i}."
        t += [(p + "input_layernorm.weight", dt, (D,)), (p + "input_layernorm.bias", dt, (D,)),
              (p + "attention.query_key_value.weight", dt, (3 * D, D)),
              (p + "attention.query_key_value.bias", dt, (3 * D,)),
              (p + "attention.dense.weight", dt, (D, D)), (p + "attention.dense.bias", dt, (D,)),
              (p + "post_attention_layernorm.weight", dt, (D,)), (p + "post_attention_layernorm.bias", dt, (D,)),
              (p + "mlp.dense_h_to_4h.weight", dt, (F, D)), (p + "mlp.dense_h_to_4h.bias", dt, (F,)),
              (p + "mlp.dense_4h_to_h.weight", dt, (D, F)), (p + "mlp.dense_4h_to_h.bias", dt, (D,))]
    return t + [("gpt_neox.final_layer_norm.weight", dt, (D,)), ("gpt_neox.final_layer_norm.bias", dt, (D,))]


def llama_tensors(c, qkv_bias=False, dt="F32"):
    D, F, V = c["hidden_size"], c["intermediate_size"], c["vocab_size"]
    H, Hk = c["num_attention_heads"], c["num_key_value_heads"]
    Dh = c.get("head_dim") or D // H
    t = [("model.embed_tokens.weight", dt, (V, D))]
    if not c["tie_word_embeddings"]:
        t.append(("lm_head.weight", dt, (V, D)))
    for i in range(c["num_hidden_layers"]):
        p = f"model.layers.{i}."
        t += [(p + "input_layernorm.weight", dt, (D,)), (p + "self_attn.q_proj.weight", dt, (H * Dh, D)),
              (p + "self_attn.k_proj.weight", dt, (Hk * Dh, D)), (p + "self_attn.v_proj.weight", dt, (Hk * Dh, D)),
              (p + "self_attn.o_proj.weight", dt, (D, H * Dh))]
        if qkv_bias:
            t += [(p + "self_attn.q_proj.bias", dt, (H * Dh,)), (p + "self_attn.k_proj.bias", dt, (Hk * Dh,)),
                  (p + "self_attn.v_proj.bias", dt, (Hk * Dh,))]
        t += [(p + "post_attention_layernorm.weight", dt, (D,)), (p + "mlp.gate_proj.weight", dt, (F, D)),
              (p + "mlp.up_proj.weight", dt, (F, D)), (p + "mlp.down_proj.weight", dt, (D, F))]
    return t + [("model.norm.weight", dt, (D,))]


def hf_seeds():
    cases = {
        "gpt2": (cfg_gpt2(), gpt2_tensors(cfg_gpt2())),
        "neox": (cfg_neox(), neox_tensors(cfg_neox())),
        "neox-bf16": (cfg_neox(), neox_tensors(cfg_neox(), "BF16")),
        "llama": (cfg_llama(), llama_tensors(cfg_llama())),
        "llama-f16-tied": (cfg_llama(tie_word_embeddings=True), llama_tensors(cfg_llama(tie_word_embeddings=True), dt="F16")),
        "llama3-scaling": (cfg_llama(rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                                   "high_freq_factor": 4.0, "original_max_position_embeddings": 4}),
                           llama_tensors(cfg_llama())),
        "mistral": (cfg_llama("MistralForCausalLM", sliding_window=4), llama_tensors(cfg_llama())),
        "qwen2": (cfg_llama("Qwen2ForCausalLM", use_sliding_window=True, sliding_window=2, max_window_layers=0,
                            rope_scaling={"type": "dynamic", "factor": 2.0}),
                  llama_tensors(cfg_llama(), qkv_bias=True)),
        "head-dim": (cfg_llama(head_dim=6), llama_tensors(cfg_llama(head_dim=6))),
    }
    for name, (cfg, tensors) in cases.items():
        cj = json.dumps(cfg).encode()
        put("hfconfig", name, cj)
        st = safetensors(tensors)
        put("hf_folder", name, cj + b"\0" + b"\0" + st)
    # The sharded form: an index naming s.safetensors for every tensor.
    cfg, tensors = cases["llama"]
    index = {"metadata": {"total_size": 0}, "weight_map": {n: "s.safetensors" for n, _, _ in tensors}}
    put("hf_folder", "llama-sharded", json.dumps(cfg).encode() + b"\0" + json.dumps(index).encode() + b"\0" +
        safetensors(tensors))
    put("hfconfig", "rope-linear", json.dumps(cfg_llama(rope_scaling={"type": "linear", "factor": 2}, rope_theta=5e5)))
    put("hfconfig", "gpt2-nulls", json.dumps(cfg_gpt2(n_ctx=None, layer_norm_epsilon=None, activation_function="gelu")))


# ---------------------------------------------------------------- tokenizers

def tokenizer_bin(pieces, max_len=None):
    """pieces: list of (score, bytes)."""
    m = max_len or max(len(p) for _, p in pieces)
    return struct.pack("<i", m) + b"".join(struct.pack("<fi", s, len(p)) + p for s, p in pieces)


def tokenizer_bin_seeds():
    pieces = [(0.0, b"<unk>"), (0.0, b"\n<s>\n"), (0.0, b"\n</s>\n")]
    pieces += [(0.0, f"<0x{b:02X}>".encode()) for b in range(256)]
    words = [b" ", b"e", b"t", b"a", b"o", b"n", b" t", b"he", b" the", b"in", b" a", b"on", b"ce",
             b" upon", b" time", b"\xc3\xa9", b"caf", "\u00fc".encode()]
    pieces += [(-float(i), w) for i, w in enumerate(words)]
    full = tokenizer_bin(pieces)
    put("tokenizer_bin", "all-pieces", b"\0" + full)
    put("tokenizer_bin", "first-255", b"\xff" + full)
    put("tokenizer_bin", "few-pieces", b"\x08" + tokenizer_bin(pieces[:3] + [(1.0, b"a"), (2.0, b"ab")] + pieces[3:6]))
    put("tokenizer_bin", "nan-score", b"\0" + tokenizer_bin([(float("nan"), b"x")]))


def byte_level_vocab():
    # GPT-2's byte-to-unicode alphabet, as byte-level BPE vocabularies spell pieces.
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    alpha = {b: chr(c) for b, c in zip(bs, cs)}
    vocab = {alpha[b]: i for i, b in enumerate(sorted(alpha))}
    merges = []
    for a, b in (("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a"), ("o", "n"), ("e", "r"),
                 ("1", "2"), ("Ã", "©")):
        vocab.setdefault(a + b, len(vocab))
        merges.append(f"{a} {b}")
    return vocab, merges


def tokenizer_json_seeds():
    vocab, merges = byte_level_vocab()
    V = len(vocab)
    added = [{"id": V, "content": "<|endoftext|>", "special": True, "lstrip": False, "rstrip": False,
              "single_word": False, "normalized": False},
             {"id": V + 1, "content": "<|user|>", "special": False, "lstrip": True, "rstrip": True,
              "single_word": True, "normalized": False}]
    bl = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    base = {"version": "1.0", "added_tokens": added, "normalizer": None, "pre_tokenizer": bl,
            "post_processor": {"type": "ByteLevel"}, "decoder": {"type": "ByteLevel"},
            "model": {"type": "BPE", "vocab": vocab, "merges": merges, "unk_token": None, "byte_fallback": False}}
    text = "Hello the world <|endoftext|> in 1234 caf\u00e9 <|user|> x\n\t  \U0001F600"
    layouts = {
        "bytelevel": {},
        "prefix": {"pre_tokenizer": dict(bl, add_prefix_space=True)},
        "llama3": {"pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": r"(?i:'s|'t)|\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+|\s+"},
             "behavior": "Isolated", "invert": False}, dict(bl, use_regex=False)]},
            "model": dict(base["model"], ignore_merges=True),
            "post_processor": {"type": "TemplateProcessing",
                               "single": [{"SpecialToken": {"id": "<|endoftext|>"}}, {"Sequence": {"id": "A"}}],
                               "special_tokens": {"<|endoftext|>": {"ids": [V]}}}},
        "qwen2-nfc": {"normalizer": {"type": "NFC"}},
        "digits": {"pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": True}, bl]}},
        "merges-as-pairs": {"model": dict(base["model"], merges=[m.split(" ") for m in merges])},
    }
    for name, over in layouts.items():
        tj = dict(base)
        tj.update(over)
        put("tokenizer_json", name, json.dumps(tj, ensure_ascii=False).encode() + b"\0" + text.encode())
    # SentencePiece style: byte fallback, Metaspace or Prepend/Replace, Strip.
    sp = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        sp[f"<0x{b:02X}>"] = len(sp)
    sm = []
    for a, b in (("\u2581", "t"), ("h", "e"), ("\u2581t", "he"), ("i", "n"), ("\u2581", "a")):
        for p in (a, b, a + b):
            sp.setdefault(p, len(sp))
        sm.append(f"{a} {b}")
    for ch in "abcdefghijklmnopqrstuvwxyz ":
        sp.setdefault(ch, len(sp))
    spm_added = [{"id": i, "content": c, "special": True} for i, c in ((0, "<unk>"), (1, "<s>"), (2, "</s>"))]
    spm_model = {"type": "BPE", "vocab": sp, "merges": sm, "unk_token": "<unk>", "byte_fallback": True,
                 "fuse_unk": True}
    legacy = {"added_tokens": spm_added, "model": spm_model,
              "normalizer": {"type": "Sequence", "normalizers": [
                  {"type": "Prepend", "prepend": "\u2581"},
                  {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"}]},
              "pre_tokenizer": None,
              "decoder": {"type": "Sequence", "decoders": [
                  {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
                  {"type": "ByteFallback"}, {"type": "Fuse"},
                  {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}}
    metaspace = {"added_tokens": spm_added, "model": spm_model, "normalizer": None,
                 "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first",
                                   "split": True},
                 "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always"}}
    splits = {"added_tokens": spm_added, "model": spm_model,
              "normalizer": {"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "},
              "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
                  {"type": "Whitespace"}, {"type": "WhitespaceSplit"},
                  {"type": "Split", "pattern": {"String": "e"}, "behavior": "MergedWithNext", "invert": True},
                  {"type": "Split", "pattern": {"Regex": "[aeiou]"}, "behavior": "MergedWithPrevious"},
                  {"type": "Split", "pattern": {"Regex": "x"}, "behavior": "Contiguous"},
                  {"type": "Split", "pattern": {"Regex": "q"}, "behavior": "Removed"}]},
              "decoder": None}
    cfg = json.dumps({"bos_token": {"content": "<s>"}, "eos_token": "</s>"})
    spm_text = "the cat in the hat \u00fc\u00e9 \U0001F600 <s> qqxx  e"
    put("tokenizer_json", "spm-legacy", json.dumps(legacy).encode() + b"\0" + spm_text.encode() + b"\0" + cfg.encode())
    put("tokenizer_json", "spm-metaspace", json.dumps(metaspace).encode() + b"\0" + spm_text.encode())
    put("tokenizer_json", "spm-splits", json.dumps(splits).encode() + b"\0" + spm_text.encode())
    # GPT-2's own files.
    enc = dict(vocab)
    enc["<|endoftext|>"] = V
    bpe = "#version: 0.2\n" + "\n".join(merges) + "\n"
    put("gpt2_files", "small", json.dumps(enc, ensure_ascii=False).encode() + b"\0" + bpe.encode() + b"\0" +
        text.encode())
    put("gpt2_files", "crlf", json.dumps(enc, ensure_ascii=False).encode() + b"\0" +
        bpe.replace("\n", "\r\n").encode() + b"\0" + b"the the the")


def tokenize_seeds():
    texts = ["Once upon a time, there was a little girl named Lily.", "", " ", "\n\n\t ",
             "caf\u00e9 na\u00efve \u00fc\u00f6 \U0001F600\U0001F44D\U0001F3FD", "1234567890 3.14",
             "<s> </s> <|endoftext|> <0x41>", "\u4e2d\u6587 \u0420\u0443\u0441\u0441\u043a\u0438\u0439",
             "e\u0301 a\u0308 \u1100\u1161\u11a8", "x" * 200]
    for i, t in enumerate(texts):
        for k in range(3):
            put("tokenize", f"text{i:02d}-{k}", bytes([k]) + t.encode("utf-8"))
    put("tokenize", "invalid-utf8", b"\x01\xff\xfe\xc3\x28\xa0\xa1\xe2\x28\xa1\xf0\x28\x8c\xbc\xed\xa0\x80")


def wordlevel_seeds():
    vocab = {"[UNK]": 0, "A": 1, "B": 2, "C": 3, "->": 4, ";": 5, "x1": 6}
    wl = {"model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"},
          "pre_tokenizer": {"type": "WhitespaceSplit"}, "decoder": None,
          "added_tokens": [{"id": 7, "content": "<bos>", "special": True}]}
    put("tokenizer_json", "wordlevel", json.dumps(wl).encode() + b"\0" + b"<bos> A B -> C ; x1 D")
    wl2 = dict(wl, model={"type": "WordLevel", "vocab": vocab}, pre_tokenizer={"type": "Whitespace"})
    put("tokenizer_json", "wordlevel-no-unk", json.dumps(wl2).encode() + b"\0" + b"A B C")


def head_scores_seeds():
    put("head_scores", "lists", json.dumps({"0-0": [0.5, 0.25], "0-1": [], "1-3": [1.0], "2-0": [0.125, 0, 1e-300]}))
    put("head_scores", "numbers", json.dumps({"0-0": 0.5, "3-2": 1, "10-11": -2.5}))
    put("head_scores", "published", "{" + ", ".join(f'"{l}-{h}": [{(l * 7 + h) % 10 / 10}, 0.0]'
                                                    for l in range(4) for h in range(4)) + "}")


def fnv1a(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def checkpoint_seeds():
    """Variants of checkpoint/valid, fuzz_checkpoint's own model saved by
    `HW_FUZZ_WRITE_SEED=tests/fuzz/corpus/checkpoint/valid build/rel/fuzz/fuzz_checkpoint`
    (the layout is in src/train/checkpoint.c: magic, 29 int64 fields, 3 arenas, FNV-1a)."""
    src = os.path.join(OUT, "checkpoint", "valid")
    if not os.path.exists(src):
        print(f"make_corpus: no {src}; checkpoint variants skipped", file=sys.stderr)
        return
    with open(src, "rb") as f:
        valid = f.read()
    body = valid[:-8]

    def field(data, i, v):  # set int64 field i and re-sign
        d = bytearray(data)
        struct.pack_into("<q", d, 8 + 8 * i, v)
        return bytes(d) + struct.pack("<Q", fnv1a(d))

    put("checkpoint", "step-7", field(body, 1, 7))
    put("checkpoint", "step-huge", field(body, 1, 1 << 40))
    put("checkpoint", "step-negative", field(body, 1, -1))
    put("checkpoint", "version-2", field(body, 0, 2))
    put("checkpoint", "other-model", field(body, 4, 16))
    put("checkpoint", "bad-checksum", body + struct.pack("<Q", fnv1a(body) ^ 1))
    put("checkpoint", "truncated", valid[: 8 + 29 * 8 + 40])
    put("checkpoint", "header-only", valid[: 8 + 29 * 8])
    put("checkpoint", "magic-only", valid[:8])


def niah_seeds():
    """needles NUL haystack NUL template NUL lengths, as fuzz_niah splits them."""
    needles = "\n".join(json.dumps(x) for x in [
        {"needle": " Mia had a secret. The magic word was a big red ball.",
         "question": " The magic word was", "real_needle": "a big red ball"},
        {"needle": " Tom liked his toy car.", "question": " What did Tom like?", "real_needle": "his toy car"}])
    hay = ("Once upon a time, there was a little girl named Lily. She liked to play outside. "
           "One day, she saw a big dog in the park. The dog was happy. Lily and the dog played all day. ") * 3
    put("niah", "defaults", (needles + "\n").encode() + b"\0" + hay.encode())
    put("niah", "template-lengths", needles.encode() + b"\0" + hay.encode() + b"\0" +
        b"{context}Question:{question}\nAnswer:" + b"\0" + b"100:300:3")
    put("niah", "one-length", needles.encode() + b"\0" + hay.encode() + b"\0" + b"{context}" + b"\0" + b"200:200:1")
    put("niah", "no-room", needles.encode() + b"\0" + hay.encode() + b"\0" + b"{context}{question}" +
        b"\0" + b"20:40:2")
    put("niah", "not-json", b"needle: x\n" + b"\0" + hay.encode())
    put("niah", "short-haystack", needles.encode() + b"\0" + b"Hi.")
    put("niah", "no-context", needles.encode() + b"\0" + hay.encode() + b"\0" + b"Q: {question}")
    put("niah", "bad-lengths", needles.encode() + b"\0" + hay.encode() + b"\0\0" + b"300:100:2")


def score_files_seeds():
    """One selector byte (0 prompts, 1 tasks, 2 trial log; 4 = two answers), then the file."""
    put("score_files", "prompts-1", b"\0# prompt<TAB>answer\nLily saw a frog. Lily saw a\tfrog\n"
        b"Once upon a time\\nthere was a\tgirl\r\n\n")
    put("score_files", "prompts-2", b"\4# prompt<TAB>memorized<TAB>in context\n"
        b"The sky was green. The sky was\tblue\tgreen\nThe sun was\tbig\tpurple\n")
    put("score_files", "prompts-empty", b"\0# only a comment\n")
    put("score_files", "tasks", b"\1# tasks\nnumbers: 1 2 3 4 5 6 7 8 9 10\n"
        b"days: monday tuesday wednesday monday\n  letters:\ta b c\nnumbers:")
    put("score_files", "tasks-no-name", b"\1one two three\n")
    rows = [f"0\t100\t{d}\t0.5000\t1\t" + ",".join(f"{(i * 7 + d) % 10 / 10:.17g}" for i in range(40)) +
            "\ta big red ball\n" for d in (0, 50)]
    put("score_files", "trials", ("\2# headwise retrieval trials L 5 H 8\n" + "".join(rows) +
                                  "1\t100\t0\t0.0000\t0\t\tno\n" + "1\t100\t50\t0.5").encode())
    put("score_files", "trials-other-model", b"\2# headwise retrieval trials L 2 H 8\n")
    put("score_files", "trials-short-row", b"\2# headwise retrieval trials L 5 H 8\n0\t1\t2\t0.5\t1\t0.1,0.2\tx\n")


def kv_heads_seeds():
    """One selector byte (bits 0-1 the model shape, bit 2 the echo column, bit 3 a --kv
    spec whose '@' is the heads file), then the file, then NUL and config.json (or, for a
    spec, the heads file)."""
    gates = lambda L, H: "".join("\t".join(f"{(l * H + h) * 7 % 11 / 10 - 0.05:.18e}" for h in range(H)) + "\n"
                                 for l in range(L))
    config = json.dumps({"sink_size": 128, "recent_size": 256, "sparsity": None, "threshold": 0.5})
    put("kv_heads", "gates-own-grid", b"\0" + gates(4, 3).encode())
    put("kv_heads", "gates-config", b"\1" + gates(2, 2).encode() + b"\0" + config.encode())
    put("kv_heads", "gates-per-query", b"\3" + ("# per query head\n\n" + gates(3, 2)).encode())
    put("kv_heads", "mask", b"\2" + b"1\t0\t0\t1\n0\t0\t0\t0\n")
    put("kv_heads", "bad-config", b"\0" + gates(1, 2).encode() + b"\0" + b'{"sink_size": 1.5}')
    put("kv_heads", "nan", b"\0" + b"0.5\tnan\n")
    put("kv_heads", "retrieval", b"\1" + json.dumps({f"{l}-{h}": [(l + h) % 3 / 2, 0.25] for l in range(2)
                                                      for h in range(4)}).encode())
    table = lambda L, H: "layer\thead\techo\tinduction\techo_mass\tinduction_mass\tprev_token\n" + "".join(
        f"{l}\t{h}\t" + "\t".join(f"{(l * 5 + h * 3 + c) % 7 / 9:.9g}" for c in range(5)) + "\n"
        for l in range(L) for h in range(H))
    put("kv_heads", "echo-table", b"\5" + table(2, 4).encode())
    put("kv_heads", "score-table", b"\1" + b"layer\thead\tscore\ttrials\n1\t3\t0.5\t2\n" +
        "".join(f"{l}\t{h}\t0.25\t2\n" for l in range(2) for h in range(4) if (l, h) != (1, 3)).encode())
    put("kv_heads", "table-twice", b"\0" + b"layer\thead\tscore\n0\t0\t1\n0\t0\t2\n")
    put("kv_heads", "spec-duo", b"\x08duo:heads=@,top=0.25,sink=8,recent=32\0" + gates(5, 4).encode())
    put("kv_heads", "spec-duo-sparsity", b"\x08duo:heads=@,sparsity=0.75,seed=7,chunk=64\0" + gates(5, 4).encode())
    put("kv_heads", "spec-razor", b"\x08razor:heads=@,compensation=mean,induction=0.2\0" + table(5, 8).encode())
    put("kv_heads", "spec-window", b"\x08window:sink=4,recent=32,chunk=16")
    put("kv_heads", "spec-full", b"\x08full")
    put("kv_heads", "spec-longheads", b"\x08longheads:chunk=8,heads_len=256,score=max")
    put("kv_heads", "spec-bad", b"\x08duo:heads=@,top=0.2,sparsity=0.5\0" + gates(5, 4).encode())


llama2c_seeds()
safetensors_seeds()
wordlevel_seeds()
head_scores_seeds()
hf_seeds()
tokenizer_bin_seeds()
tokenizer_json_seeds()
tokenize_seeds()
checkpoint_seeds()
niah_seeds()
score_files_seeds()
kv_heads_seeds()


# ---------------------------------------------------------------- GGUF

def gguf_seeds():
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
    import gguf_file as g
    put("gguf", "llama-f16-f32", g.llama_file())
    put("gguf", "llama-tied-2-layers", g.llama_file(tied=True, L=2, seed=2))
    put("gguf", "llama-gqa-no-vocab", g.llama_file(D=16, H=4, Hk=2, vocab=False, seed=3))
    put("gguf", "vocab-only-unpadded", g.write([("tokenizer.ggml.model", g.STRING, "gpt2"),
                                                ("tokenizer.ggml.tokens", g.ARRAY, (g.STRING, ["a", "b", "ab"])),
                                                ("tokenizer.ggml.merges", g.ARRAY, (g.STRING, ["a b"]))],
                                               [], pad=False))
    put("gguf", "every-type", g.write([("u8", g.U8, 1), ("i8", g.I8, -1), ("u16", g.U16, 2), ("i16", g.I16, -2),
                                       ("u32", g.U32, 3), ("i32", g.I32, -3), ("f32", g.F32, 0.5),
                                       ("bool", g.BOOL, 1), ("str", g.STRING, "x"), ("u64", g.U64, 4),
                                       ("i64", g.I64, -4), ("f64", g.F64, 0.25),
                                       ("nested", g.ARRAY, (g.ARRAY, [(g.I32, [1, 2]), (g.STRING, ["y"])])),
                                       ("general.alignment", g.U32, 64)],
                                      [("t", [4, 2], g.T_BF16, bytes(16))], version=2, alignment=64))


gguf_seeds()

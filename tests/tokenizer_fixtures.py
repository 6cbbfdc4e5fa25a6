"""tokenizer_fixtures.py: deterministic test text and Hugging Face style
tokenizer.json files built from the real vocabularies on this machine.

varied_texts(seed, n_bytes)    prose, code, numbers, whitespace runs, contractions,
                               accented and non-Latin scripts, emoji, symbols
llama2_json(bin_path, layout)  the 32k Llama-2 vocabulary (llama2.c tokenizer.bin)
                               in the layout transformers' Llama converter writes
gpt2_json(encoder, bpe, style) GPT-2's vocabulary and merges under the pre-tokenizers
                               of GPT-2, Llama-3, Qwen2, SmolLM-style digits, ...
"""
import json
import random
import struct

# ---------------------------------------------------------------- text

WORDS = ("the of and to in is was he for it with as his on be at by had are but from or "
         "have an they which one you were her all she there would their we him been has when "
         "who will more no if out so said what up its about into than them can only other new "
         "some could time these two may then do first any my now such like our over man me even "
         "most made after also did many before must through back years where much your way well "
         "down should because each just those people Mr how too little state good very make world "
         "still own see men work long get here between both life being under never day same another "
         "know while last might us great old year off come since against go came right used take "
         "three transformer attention head layer token model embedding gradient residual").split()
CONTRACTIONS = ["don't", "I'm", "we'll", "they've", "it's", "she'd", "you're", "can't", "won't",
                "DON'T", "I'M", "WE'LL", "It'S", "y'all", "'tis", "rock'n'roll", "o'clock"]
SCRIPTS = [
    "Café crème brûlée à la française, naïve façade, déjà vu",
    "Größenverhältnisse über Äpfel und Öl; Straße, Fußgänger",
    "El niño comió piñata; ¿Dónde está? ¡Olé!",
    "Tiếng Việt có nhiều dấu: người, được, những",
    "Ελληνικά: Η γρήγορη καφέ αλεπού πηδάει",
    "Русский текст: Съешь же ещё этих мягких французских булок",
    "Українська: Чуєш їх, доцю, га? Кумедна ж ти",
    "العربية: نص تجريبي باللغة العربية",
    "עברית: טקסט לדוגמה בעברית",
    "हिन्दी: यह एक उदाहरण वाक्य है।",
    "ภาษาไทย: นี่คือประโยคตัวอย่าง",
    "中文：我们在测试分词器，数字１２３和標點。",
    "日本語：これはテストです。カタカナとひらがな、漢字。",
    "한국어: 토크나이저를 시험합니다",
    "Łódź, Kraków, Gdańsk; Český Krumlov; Türkçe ığüşöç",
    "Ærøskøbing, Ångström, Øresund, Þingvellir, Ðe",
]
EMOJI = ["😀", "🎉", "👍", "👍🏽", "👨‍👩‍👧‍👦", "🇫🇷", "🇯🇵", "❤️", "1️⃣", "🧑🏿‍🚀", "🐍", "🚀🚀🚀", "☕"]
SYMBOLS = ["∀x∈ℝ: x² ≥ 0", "∑ᵢ aᵢ ≠ ∞", "€100 £20 ¥3000 ₹50", "→ ← ↔ ⇒", "“quoted” ‘single’ «guillemets»",
           "em—dash en–dash…", "┌─┐│└─┘", "©®™°±×÷", "½ ¼ ¾ ⅓", "x\u200by", "a\u00a0b", "wide\u3000space",
           "thin\u2009space", "\x01\x02\x7f ctrl"]
CODE = [
    "int main(void) {\n    return a[i] >> 2 && b != 0;\n}\n",
    "def f(x):\n\tif x is None:\n\t\treturn []\n\treturn [y ** 2 for y in x]\n",
    "for (let i = 0; i < n; ++i) { sum += xs[i] * 0.5; } // loop",
    "#include <stdio.h>\n#define MAX(a, b) ((a) > (b) ? (a) : (b))",
    "SELECT name, COUNT(*) FROM users WHERE age >= 18 GROUP BY name;",
    "  \"key\": [1, 2.5, -3e10, null, true],  ",
    "git commit -m 'fix: off-by-one' && make -j2 test",
    "<div class=\"row\"><span>&amp;&lt;&gt;</span></div>",
    "x=1;y=2;z=x+y;print(f'{z:08.3f}')",
    "    indented    with    runs    of    spaces    ",
]
DECOMPOSED = ["Cafe\u0301", "n\u0303o", "A\u030angstro\u0308m", "\u1100\u1161\u11a8", "e\u0301\u0301"]


def _number(rng):
    k = rng.randrange(8)
    if k == 0:
        return str(rng.randrange(10))
    if k == 1:
        return str(rng.randrange(10 ** rng.randrange(2, 20)))
    if k == 2:
        return f"{rng.uniform(-1000, 1000):.{rng.randrange(1, 6)}f}"
    if k == 3:
        return f"{rng.randrange(1, 10**9):,}"
    if k == 4:
        return f"{rng.randrange(1900, 2100)}-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}"
    if k == 5:
        return hex(rng.randrange(1 << 32))
    if k == 6:
        return f"{rng.random():.3e}"
    return f"+1 ({rng.randrange(100, 999)}) {rng.randrange(100, 999)}-{rng.randrange(1000, 9999)}"


def _space(rng):
    return rng.choice([" ", " ", " ", " ", "  ", "   ", "      ", "\t", "\n", "\n\n", "\n\n\n",
                       "\r\n", " \n", "\n ", "\n    ", "\t\t", " \t ", ", ", ". ", "; ", "! ", "? "])


def _prose(rng, n):
    out = []
    for i in range(n):
        r = rng.random()
        if r < 0.70:
            w = rng.choice(WORDS)
            w = w.capitalize() if rng.random() < 0.15 else w.upper() if rng.random() < 0.03 else w
        elif r < 0.80:
            w = rng.choice(CONTRACTIONS)
        elif r < 0.90:
            w = _number(rng)
        elif r < 0.95:
            w = rng.choice(EMOJI)
        else:
            w = rng.choice(SYMBOLS)
        out.append(w)
        out.append(_space(rng) if i + 1 < n else rng.choice(["", ".", "!", "?", "\n", " "]))
    return "".join(out)


def varied_texts(seed, n_bytes, specials=(), decomposed=False):
    """Records of mixed text adding up to at least n_bytes of UTF-8.

    specials: strings (added tokens) to sprinkle into some records.
    decomposed: also include combining sequences (for NFC normalizers).
    """
    rng = random.Random(seed)
    texts, total = [], 0
    fixed = ["Hello, I'm a language model,", "", " ", "  ", "\n", "a", " leading", "trailing ",
             "   three leading and trailing   ", "\n\nnewlines first", "!!!", "...", "1234567890",
             "x" * 50, " " * 17 + "x", "Ünïcödé", "👍🏽" * 3]
    for t in fixed:
        texts.append(t)
        total += len(t.encode())
    while total < n_bytes:
        k = rng.random()
        if k < 0.45:
            t = _prose(rng, rng.randint(1, 40))
        elif k < 0.60:
            t = rng.choice(CODE)
            if rng.random() < 0.5:
                t += _space(rng) + rng.choice(CODE)
        elif k < 0.75:
            t = rng.choice(SCRIPTS) + _space(rng) + _prose(rng, rng.randint(0, 8))
        elif k < 0.85:
            t = _space(rng).join(_number(rng) for _ in range(rng.randint(1, 10)))
        elif k < 0.92:
            t = "".join(rng.choice(EMOJI + SYMBOLS + [" ", "  ", "\n"]) for _ in range(rng.randint(1, 12)))
        else:
            t = "".join(_space(rng) for _ in range(rng.randint(1, 6))) + _prose(rng, rng.randint(0, 5))
        if specials and rng.random() < 0.15:
            cut = rng.randrange(len(t) + 1)
            t = t[:cut] + rng.choice(rng.choice([specials, [" " + s + " " for s in specials]])) + t[cut:]
        if decomposed and rng.random() < 0.10:
            t += " " + rng.choice(DECOMPOSED)
        texts.append(t)
        total += len(t.encode())
    return texts


# ---------------------------------------------------------------- Llama-2 (SentencePiece BPE)

SPM_SPACE = "\u2581"


def read_llama2c_bin(path):
    data = open(path, "rb").read()
    off, pieces, scores = 4, [], []
    while off < len(data):
        score, n = struct.unpack_from("<fi", data, off)
        off += 8
        pieces.append(data[off:off + n].decode("utf-8"))
        scores.append(score)
        off += n
    return pieces, scores


def llama2_json(bin_path, layout="legacy"):
    """The Llama-2 vocabulary as transformers writes its tokenizer.json.

    llama2.c's export turned U+2581 into ' ' and <s> into '\\n<s>\\n'; undo both.
    Merges come from the vocabulary as SentencePiece's converter makes them:
    every split of a piece into two pieces, ranked by the merged piece's
    score (best first; "▁▁" scores -1e9 and so merges last), then id, then
    the parts' ids.
    layout: "legacy" (Prepend + Replace normalizer, Strip decoder) or
    "metaspace" (Metaspace pre-tokenizer and decoder, prepend_scheme "first").
    """
    pieces, scores = read_llama2c_bin(bin_path)
    specials = {0: "<unk>", 1: "<s>", 2: "</s>"}
    vocab = {}
    for i, p in enumerate(pieces):
        p = specials.get(i, p if p.startswith("<0x") and len(p) == 6 else p.replace(" ", SPM_SPACE))
        vocab.setdefault(p, i)
    merges = []
    for p, i in vocab.items():
        if i < 259:
            continue
        for k in range(1, len(p)):
            a, b = p[:k], p[k:]
            if a in vocab and b in vocab and vocab[a] >= 259 and vocab[b] >= 259:
                merges.append((-scores[i], i, vocab[a], vocab[b], a, b))
    merges.sort()
    added = [{"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False,
              "normalized": False, "special": True} for i, c in specials.items()]
    tj = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True,
                  "vocab": vocab, "merges": [f"{a} {b}" for *_, a, b in merges]},
    }
    if layout == "legacy":
        tj["normalizer"] = {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": SPM_SPACE},
            {"type": "Replace", "pattern": {"String": " "}, "content": SPM_SPACE}]}
        tj["pre_tokenizer"] = None
        tj["decoder"] = {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": SPM_SPACE}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}
    elif layout == "metaspace":
        tj["normalizer"] = None
        tj["pre_tokenizer"] = {"type": "Metaspace", "replacement": SPM_SPACE, "prepend_scheme": "first",
                               "split": False}
        tj["decoder"] = {"type": "Sequence", "decoders": [
            {"type": "Metaspace", "replacement": SPM_SPACE, "prepend_scheme": "first", "split": False},
            {"type": "ByteFallback"}, {"type": "Fuse"}]}
        # Newer files list merges as pairs.
        tj["model"]["merges"] = [[a, b] for *_, a, b in merges]
    else:
        raise ValueError(layout)
    return tj


# ---------------------------------------------------------------- GPT-2 vocabulary, other pre-tokenizers

LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                 r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def _added(i, content, **kw):
    d = {"id": i, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True}
    d.update(kw)
    return d


def gpt2_json(encoder_path, bpe_path, style="gpt2"):
    """GPT-2's 50257 pieces and 50000 merges in a tokenizer.json of the given style.

    gpt2    ByteLevel pre-tokenizer with GPT-2's pattern (GPT-2, Pythia)
    prefix  the same with add_prefix_space (some GPT-NeoX-style files)
    llama3  Split(Llama-3 pattern) + ByteLevel(use_regex=false), ignore_merges,
            <|begin_of_text|>/<|end_of_text|> added after the vocabulary
    qwen2   NFC normalizer, Split(Qwen2 pattern) + ByteLevel(use_regex=false),
            ChatML tokens added
    digits  Digits(individual_digits) + ByteLevel (SmolLM style), with an lstrip/rstrip token
    """
    vocab = json.load(open(encoder_path, encoding="utf-8"))
    lines = open(bpe_path, encoding="utf-8").read().split("\n")
    merges = [ln for ln in lines[1:] if ln]
    n = len(vocab)
    added = [_added(vocab["<|endoftext|>"], "<|endoftext|>")]
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    tj = {"version": "1.0", "truncation": None, "padding": None, "normalizer": None,
          "pre_tokenizer": dict(byte_level),
          "post_processor": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False,
                             "use_regex": True},
          "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
          "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                    "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False,
                    "vocab": vocab, "merges": merges}}
    if style == "gpt2":
        pass
    elif style == "prefix":
        tj["pre_tokenizer"]["add_prefix_space"] = True
    elif style in ("llama3", "qwen2"):
        pattern = LLAMA3_PATTERN if style == "llama3" else QWEN2_PATTERN
        tj["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": pattern}, "behavior": "Isolated", "invert": False},
            dict(byte_level, use_regex=False)]}
        if style == "llama3":
            tj["model"]["ignore_merges"] = True
            added += [_added(n, "<|begin_of_text|>"), _added(n + 1, "<|end_of_text|>")]
            tj["post_processor"] = {"type": "Sequence", "processors": [
                {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
                {"type": "TemplateProcessing",
                 "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}},
                            {"Sequence": {"id": "A", "type_id": 0}}],
                 "pair": [],
                 "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [n],
                                                          "tokens": ["<|begin_of_text|>"]}}}]}
        else:
            tj["normalizer"] = {"type": "NFC"}
            added += [_added(n, "<|im_start|>"), _added(n + 1, "<|im_end|>")]
    elif style == "digits":
        tj["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
            {"type": "Digits", "individual_digits": True}, dict(byte_level)]}
        added += [_added(n, "<|user|>", lstrip=True, rstrip=True, special=False)]
    else:
        raise ValueError(style)
    tj["added_tokens"] = added
    return tj


def specials_of(tj):
    return [a["content"] for a in tj["added_tokens"]]

"""tokenizer_ref.py: an independent Python reading of llama2.c's tokenizer.

Parses tokenizer.bin with struct, encodes with llama2.c's plain loop (rescan
all pairs, merge the first best-scored one), and compares id for id with
libheadwise (called through ctypes) on a few KB of varied text per vocabulary.
Usage: tokenizer_ref.py LIBHEADWISE_SO SHARED_DIR. Prints PASS/FAIL lines.
"""
import ctypes
import random
import struct
import sys


def load_bin(path):
    data = open(path, "rb").read()
    (max_len,) = struct.unpack_from("<i", data, 0)
    off, pieces, scores = 4, [], []
    while off < len(data):
        score, n = struct.unpack_from("<fi", data, off)
        off += 8
        pieces.append(data[off:off + n])
        scores.append(score)
        off += n
    return pieces, scores


def encode(pieces, scores, text):
    index = {}
    for i, p in enumerate(pieces):
        index.setdefault(p, i)
    raw = text.encode("utf-8")
    if raw:
        raw = b" " + raw  # dummy prefix
    ids = []
    for ch in raw.decode("utf-8"):  # texts here are valid UTF-8: one group per character
        b = ch.encode("utf-8")
        if b in index:
            ids.append(index[b])
        else:
            ids.extend(x + 3 for x in b)
    while True:
        best, best_i, best_id = -1e10, -1, -1
        for i in range(len(ids) - 1):
            j = index.get(pieces[ids[i]] + pieces[ids[i + 1]])
            if j is not None and scores[j] > best:
                best, best_i, best_id = scores[j], i, j
        if best_i < 0:
            return ids
        ids[best_i:best_i + 2] = [best_id]


def varied_lines(seed, n):
    """Deterministic mixed text: words, spacing, scripts, emoji, digits."""
    rng = random.Random(seed)
    words = ("the cat sat on a mat Once upon time there was little girl named Lily "
             "happy sad play park ball tree big red blue because didn't won't it's "
             "café naïve Ångström Łódź Москва Ελλάδα 東京 北京 서울 ‘quotes’ — … "
             "😀 🎉 👍🏽 🇫🇷 x² ∑ ≠ 3.14 42 1e-9 0xFF a[i] {} () <s> </s> "
             "aaaaaaa eeeee !!!!! ...... ------ hahaha 0000000 ====").split()
    # Runs of one character make overlapping equal-score pairs, where only
    # the leftmost-first rule gives the reference's answer.
    seps = [" ", " ", " ", "  ", "\t", "\n", ", ", ". ", "   ", "     ", "\n\n"]
    for _ in range(n):
        k = rng.randint(1, 18)
        yield "".join(rng.choice(words) + rng.choice(seps) for _ in range(k)).rstrip("\n") or "x"


class HwBuf(ctypes.Structure):
    _fields_ = [("s", ctypes.c_void_p), ("n", ctypes.c_size_t), ("cap", ctypes.c_size_t)]


def nfc_case(lib):
    """hw_nfc (internal, exported from the .so) against unicodedata.normalize."""
    import unicodedata as ud
    lib.hw_nfc.restype = ctypes.c_int
    lib.hw_nfc.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.POINTER(HwBuf)]
    libc = ctypes.CDLL(None)
    libc.free.argtypes = [ctypes.c_void_p]

    def hw(text):
        raw = text.encode("utf-8", "surrogatepass")
        b = HwBuf()
        if lib.hw_nfc(raw, len(raw), ctypes.byref(b)) != 0:
            return None
        out = ctypes.string_at(b.s, b.n) if b.n else b""
        libc.free(b.s)
        return out

    rng = random.Random(7)
    marks = [chr(c) for c in (0x300, 0x301, 0x302, 0x303, 0x308, 0x30A, 0x323, 0x327, 0x328, 0x331,
                              0x345, 0x5B0, 0x93C, 0x94D, 0x3099, 0x309A, 0x1161, 0x11A8, 0x0B3E, 0x0CD5)]
    bases = [chr(c) for c in (0x41, 0x61, 0x45, 0x65, 0x4F, 0x6F, 0x55, 0x3B1, 0x3C9, 0x928, 0x304B, 0x1100,
                              0xAC00, 0xAC01, 0x0B47, 0x0CC6, 0x226E, 0x212B, 0x1E0A)]
    texts = []
    for cp in range(0x110000):
        if 0xD800 <= cp <= 0xDFFF:
            continue
        ch = chr(cp)
        d = ud.normalize("NFD", ch)
        if d != ch or ud.combining(ch) or ud.decomposition(ch):
            texts += [ch, d, "x" + d + "\u0301"]
    for _ in range(3000):
        texts.append("".join(rng.choice(bases + marks + [" ", "ab"]) for _ in range(rng.randint(1, 8))))
    bad = 0
    for t in texts:
        want = ud.normalize("NFC", t).encode()
        got = hw(t)
        if got != want:
            bad += 1
            if bad <= 3:
                print(f"  nfc {t!r}: got {got!r} want {want!r}", file=sys.stderr)
    # Invalid UTF-8 passes through; composition continues around it.
    raw = b"e\xcc\x81\xff\xfeA\xcc\x8a"
    b = HwBuf()
    lib.hw_nfc(raw, len(raw), ctypes.byref(b))
    got = ctypes.string_at(b.s, b.n)
    libc.free(b.s)
    if got != "é".encode() + b"\xff\xfe" + "Å".encode():
        bad += 1
        print(f"  nfc invalid bytes: {got!r}", file=sys.stderr)
    print(f"{'FAIL' if bad else 'PASS'} nfc_matches_unicodedata ({len(texts)} strings, {bad} differ)")
    return bad > 0


def main():
    lib = ctypes.CDLL(sys.argv[1])
    shared = sys.argv[2]
    lib.hw_tokenizer_load.restype = ctypes.c_void_p
    lib.hw_tokenizer_load.argtypes = [ctypes.c_char_p, ctypes.c_int]
    lib.hw_tokenizer_encode.restype = ctypes.c_int
    lib.hw_tokenizer_encode.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
                                        ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    lib.hw_tokenizer_free.argtypes = [ctypes.c_void_p]
    failed = 0
    for name, rel, vocab, seed in (("tok512", "models/stories260K/tok512.bin", 512, 1),
                                   ("llama2_32k", "models/llama2-tokenizer/tokenizer.bin", 32000, 2)):
        path = f"{shared}/{rel}"
        pieces, scores = load_bin(path)
        t = lib.hw_tokenizer_load(path.encode(), vocab)
        bad, total = 0, 0
        if not t:
            bad = 1
        else:
            for line in varied_lines(seed, 60):
                want = encode(pieces, scores, line)
                buf = (ctypes.c_int * (4 * len(line.encode()) + 8))()
                n = lib.hw_tokenizer_encode(t, line.encode(), 0, buf, len(buf))
                got = list(buf[:n]) if 0 <= n <= len(buf) else None
                total += len(line.encode())
                if got != want:
                    bad += 1
                    if bad <= 3:
                        print(f"  {name}: {line!r}\n    got  {got}\n    want {want}", file=sys.stderr)
            lib.hw_tokenizer_free(t)
        if total < 2000:
            bad += 1
            print(f"  {name}: only {total} bytes compared", file=sys.stderr)
        print(f"{'FAIL' if bad else 'PASS'} python_reference_{name} ({total} bytes)")
        failed += bad > 0
    failed += nfc_case(lib)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

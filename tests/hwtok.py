"""hwtok.py: libheadwise's tokenizer API through ctypes, for the Python test scripts."""
import ctypes


class HwTokenizerError(RuntimeError):
    pass


class Lib:
    def __init__(self, so_path):
        lib = ctypes.CDLL(so_path)
        lib.hw_tokenizer_load.restype = ctypes.c_void_p
        lib.hw_tokenizer_load.argtypes = [ctypes.c_char_p, ctypes.c_int]
        lib.hw_tokenizer_free.argtypes = [ctypes.c_void_p]
        lib.hw_tokenizer_encode.restype = ctypes.c_int
        lib.hw_tokenizer_encode.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
                                            ctypes.POINTER(ctypes.c_int), ctypes.c_int]
        lib.hw_tokenizer_decode.restype = ctypes.POINTER(ctypes.c_char)
        lib.hw_tokenizer_decode.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                                            ctypes.POINTER(ctypes.c_size_t)]
        for f in ("hw_tokenizer_bos", "hw_tokenizer_eos", "hw_tokenizer_vocab_size"):
            getattr(lib, f).restype = ctypes.c_int
            getattr(lib, f).argtypes = [ctypes.c_void_p]
        lib.hw_last_error.restype = ctypes.c_char_p
        self.lib = lib

    def last_error(self):
        return self.lib.hw_last_error().decode("utf-8", "replace")

    def load(self, path, vocab_size=0):
        t = self.lib.hw_tokenizer_load(str(path).encode(), vocab_size)
        if not t:
            raise HwTokenizerError(self.last_error())
        return Tokenizer(self, t)


class Tokenizer:
    BOS, EOS = 1, 2

    def __init__(self, lib, handle):
        self.lib, self.h = lib, handle

    def close(self):
        if self.h:
            self.lib.lib.hw_tokenizer_free(self.h)
            self.h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @property
    def bos(self):
        return self.lib.lib.hw_tokenizer_bos(self.h)

    @property
    def eos(self):
        return self.lib.lib.hw_tokenizer_eos(self.h)

    @property
    def vocab_size(self):
        return self.lib.lib.hw_tokenizer_vocab_size(self.h)

    def encode(self, text, flags=0):
        raw = text.encode("utf-8") if isinstance(text, str) else text
        n = self.lib.lib.hw_tokenizer_encode(self.h, raw, flags, None, 0)
        if n < 0:
            raise HwTokenizerError(self.lib.last_error())
        buf = (ctypes.c_int * max(n, 1))()
        m = self.lib.lib.hw_tokenizer_encode(self.h, raw, flags, buf, n)
        if m != n:
            raise HwTokenizerError(f"second encode gave {m} ids, first {n}")
        return list(buf[:n])

    def decode(self, ids, prev=-1):
        """Concatenated bytes of ids, each decoded after the one before it."""
        out = bytearray()
        ln = ctypes.c_size_t()
        for i in ids:
            p = self.lib.lib.hw_tokenizer_decode(self.h, prev, i, ctypes.byref(ln))
            if not p:
                raise HwTokenizerError(self.lib.last_error())
            out += ctypes.string_at(p, ln.value)
            prev = i
        return bytes(out)

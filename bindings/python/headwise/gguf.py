"""A GGUF file's metadata and tensor table without loading a model (hw_gguf_file_*),
as `headwise info --gguf` prints them. (Loading one as a model is Model(path.gguf).)

    f = headwise.gguf_file("model.gguf")
    f["version"], f["metadata"]["llama.block_count"], f["tensors"][0]
"""
import ctypes
from ctypes import POINTER, Structure, c_char_p, c_int, c_int64, c_void_p

from . import _capi
from ._capi import check, check_handle, fsencode, lib
from ._protocol import Owned

P = c_void_p


class GgufTensorInfo(Structure):
    _c_name_ = "hw_gguf_tensor_info"
    _fields_ = [("name", c_char_p), ("type", c_char_p), ("n_dims", c_int), ("ne", c_int64 * 4),
                ("bytes", c_int64), ("offset", c_int64)]


_capi.STRUCTS.append(GgufTensorInfo)
for _name, _restype, _argtypes in [
    ("hw_gguf_file_open", P, [c_char_p]),
    ("hw_gguf_file_free", None, [P]),
    ("hw_gguf_file_version", c_int, [P]),
    ("hw_gguf_file_n_metadata", c_int64, [P]),
    ("hw_gguf_file_n_tensors", c_int64, [P]),
    ("hw_gguf_file_metadata", c_int, [P, c_int64, c_char_p, ctypes.c_size_t, c_char_p, ctypes.c_size_t]),
    ("hw_gguf_file_tensor", c_int, [P, c_int64, POINTER(GgufTensorInfo)]),
]:
    _capi.declare(_name, _restype, _argtypes)


def gguf_file(path):
    """{"version": 3, "metadata": {key: value as text, as `info --gguf` prints it},
    "tensors": [{"name", "type", "shape" (GGUF order: a row's length first), "bytes",
    "offset"}]} of the GGUF file at path; headwise.Error if it is not a valid one."""
    L = lib()
    f = Owned(check_handle(L.hw_gguf_file_open(fsencode(path, "path"))), L.hw_gguf_file_free)
    try:
        h = f.handle
        key, value = ctypes.create_string_buffer(4200), ctypes.create_string_buffer(1024)
        meta = {}
        for i in range(L.hw_gguf_file_n_metadata(h)):
            check(L.hw_gguf_file_metadata(h, i, key, len(key), value, len(value)))
            meta[key.value.decode("utf-8", "replace")] = value.value.decode("utf-8", "replace")
        tensors = []
        t = GgufTensorInfo()
        for i in range(L.hw_gguf_file_n_tensors(h)):
            check(L.hw_gguf_file_tensor(h, i, ctypes.byref(t)))
            tensors.append({"name": t.name.decode("utf-8", "replace"), "type": t.type.decode(),
                            "shape": [int(t.ne[d]) for d in range(t.n_dims)], "bytes": int(t.bytes),
                            "offset": int(t.offset)})
        return {"version": L.hw_gguf_file_version(h), "metadata": meta, "tensors": tensors}
    finally:
        f.close()


class QuantizeParams(Structure):
    _c_name_ = "hw_quantize_params"
    _fields_ = [("type", c_char_p), ("progress", _capi.PROGRESS_FN), ("user", c_void_p)]


class QuantizeSummary(Structure):
    _c_name_ = "hw_quantize_summary"
    _fields_ = [("n_tensors", c_int64), ("n_quantized", c_int64), ("in_bytes", c_int64),
                ("out_bytes", c_int64)]


_capi.STRUCTS += [QuantizeParams, QuantizeSummary]
_capi.declare("hw_quantize_params_default", QuantizeParams, [])
_capi.declare("hw_quantize_gguf", c_int, [c_char_p, c_char_p, POINTER(QuantizeParams), POINTER(QuantizeSummary)])


def quantize(model, out, type="q8_0"):
    """Write the GGUF model at `model` to `out` with its matrices in `type` (q8_0, q4_0,
    q4_k, q6_k), as `headwise quantize` does (hw_quantize_gguf): {"n_tensors",
    "n_quantized", "in_bytes", "out_bytes"} (tensor data read and written)."""
    L = lib()
    p = L.hw_quantize_params_default()
    t = type.encode() if isinstance(type, str) else type
    p.type = t
    s = QuantizeSummary()
    check(L.hw_quantize_gguf(fsencode(model, "model"), fsencode(out, "out"), ctypes.byref(p), ctypes.byref(s)))
    return {"n_tensors": s.n_tensors, "n_quantized": s.n_quantized, "in_bytes": s.in_bytes,
            "out_bytes": s.out_bytes}

"""hf_safetensors.py: a minimal safetensors writer (the safetensors package is
not installed here). Used by scripts/llama2c_to_hf.py and the test fixtures.

Layout: u64 little-endian header length N, N bytes of JSON header (padded with
spaces to a multiple of 8 so every tensor's data starts 8-byte aligned), then
the tensors' bytes back to back in header order.
"""
import json
import struct


def write_safetensors(path, tensors, metadata=None):
    """tensors: list of (name, dtype string such as "F32", shape, raw bytes)."""
    header, offset = {}, 0
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": list(shape),
                        "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for _, _, _, raw in tensors:
            f.write(raw)
    return 8 + len(h) + offset


def write_sharded(folder, tensors, n_shards, stem="model"):
    """Split tensors over n_shards files named as Hugging Face does, plus the
    model.safetensors.index.json that maps each tensor to its shard."""
    per = -(-len(tensors) // n_shards)
    weight_map, total = {}, 0
    for s in range(n_shards):
        part = tensors[s * per:(s + 1) * per]
        name = "%s-%05d-of-%05d.safetensors" % (stem, s + 1, n_shards)
        write_safetensors("%s/%s" % (folder, name), part, {"format": "pt"})
        for t in part:
            weight_map[t[0]] = name
            total += len(t[3])
    with open("%s/%s.safetensors.index.json" % (folder, stem), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)

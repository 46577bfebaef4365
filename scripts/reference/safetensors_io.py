"""Minimal safetensors reader/writer using only json, struct, numpy and torch.

Format (https://github.com/huggingface/safetensors):

    8 bytes    little-endian uint64 N: length of the JSON header
    N bytes    JSON header: {name: {"dtype", "shape", "data_offsets": [begin, end]}, ...}
               plus an optional "__metadata__": {str: str}; padded with spaces so that
               8 + N is a multiple of 8
    rest       the tensor data, little-endian, row-major; data_offsets are relative to
               the start of this region

This writer emits the tensors sorted by name, in the header and in the data, with no gaps.
Supported dtypes: F32, F16, BF16, I64 (plus F64, I32 for convenience).
"""

import json
import struct

import numpy as np
import torch

# safetensors dtype name -> (torch dtype, numpy dtype used for the raw bytes)
_DTYPES = {
    "F64": (torch.float64, np.dtype("<f8")),
    "F32": (torch.float32, np.dtype("<f4")),
    "F16": (torch.float16, np.dtype("<f2")),
    "BF16": (torch.bfloat16, np.dtype("<u2")),  # numpy has no bfloat16: move raw bits
    "I64": (torch.int64, np.dtype("<i8")),
    "I32": (torch.int32, np.dtype("<i4")),
}
_TORCH_TO_NAME = {t: name for name, (t, _) in _DTYPES.items()}


def _to_bytes(t):
    t = t.detach().contiguous().cpu()
    if t.dtype == torch.bfloat16:
        return t.view(torch.int16).numpy().astype("<i2").tobytes()
    _, npd = _DTYPES[_TORCH_TO_NAME[t.dtype]]
    return t.numpy().astype(npd, copy=False).tobytes()


def _from_bytes(buf, dtype_name, shape):
    tdt, npd = _DTYPES[dtype_name]
    count = 1
    for d in shape:
        count *= d
    if len(buf) != count * npd.itemsize:
        raise ValueError("tensor byte size %d does not match %s%s" % (len(buf), dtype_name, shape))
    if dtype_name == "BF16":
        a = np.frombuffer(buf, dtype="<i2").astype(np.int16).reshape(shape)
        return torch.from_numpy(a.copy()).view(torch.bfloat16)
    a = np.frombuffer(buf, dtype=npd).astype(npd.newbyteorder("="), copy=True).reshape(shape)
    return torch.from_numpy(a).to(tdt)


def dumps(tensors, metadata=None):
    """Serialise {name: torch.Tensor} to safetensors bytes."""
    header = {}
    chunks = []
    offset = 0
    for name in sorted(tensors):
        t = tensors[name]
        if not isinstance(t, torch.Tensor):
            raise TypeError("%s: not a torch.Tensor" % name)
        if t.dtype not in _TORCH_TO_NAME:
            raise TypeError("%s: unsupported dtype %s" % (name, t.dtype))
        b = _to_bytes(t)
        header[name] = {
            "dtype": _TORCH_TO_NAME[t.dtype],
            "shape": list(t.shape),
            "data_offsets": [offset, offset + len(b)],
        }
        chunks.append(b)
        offset += len(b)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    hjson = json.dumps(header, sort_keys=True, separators=(",", ":")).encode("utf-8")
    hjson += b" " * ((-(8 + len(hjson))) % 8)
    return struct.pack("<Q", len(hjson)) + hjson + b"".join(chunks)


def save(tensors, path, metadata=None):
    with open(path, "wb") as f:
        f.write(dumps(tensors, metadata))


def loads(data):
    """Parse safetensors bytes into (dict name -> torch.Tensor, metadata dict)."""
    if len(data) < 8:
        raise ValueError("file shorter than the 8-byte header length")
    (n,) = struct.unpack("<Q", data[:8])
    if 8 + n > len(data):
        raise ValueError("header length %d exceeds file size %d" % (n, len(data)))
    header = json.loads(data[8:8 + n].decode("utf-8"))
    body = data[8 + n:]
    metadata = header.pop("__metadata__", {}) or {}
    out = {}
    for name, info in header.items():
        begin, end = info["data_offsets"]
        if not (0 <= begin <= end <= len(body)):
            raise ValueError("%s: data_offsets %r out of range" % (name, info["data_offsets"]))
        if info["dtype"] not in _DTYPES:
            raise ValueError("%s: unsupported dtype %s" % (name, info["dtype"]))
        out[name] = _from_bytes(body[begin:end], info["dtype"], list(info["shape"]))
    return out, metadata


def load(path):
    """Read a safetensors file; returns {name: torch.Tensor} (metadata dropped)."""
    with open(path, "rb") as f:
        tensors, _ = loads(f.read())
    return tensors

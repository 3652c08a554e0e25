#!/usr/bin/env python3
"""An independent safetensors reader, standard library only, used by dtlab's tests as the oracle
for "a plain safetensors reader loads it".

It follows the format specification (huggingface/safetensors) and applies the checks of the
reference Rust implementation: an 8-byte little-endian header length, a JSON object header that
starts with '{', string-to-string __metadata__, known dtypes, and data_offsets that tile the data
section exactly. It prints a JSON summary: metadata, and for each tensor its dtype, shape, and the
sum and first values of its data.

usage: safetensors_read.py FILE
"""
import json
import struct
import sys
from array import array

DTYPES = {"F32": ("f", 4), "F64": ("d", 8), "I32": ("i", 4), "I64": ("q", 8), "U8": ("B", 1)}


def fail(msg):
    print(f"safetensors_read.py: {msg}", file=sys.stderr)
    sys.exit(1)


def main(path):
    with open(path, "rb") as f:
        blob = f.read()
    if len(blob) < 8:
        fail("file shorter than 8 bytes")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > len(blob) - 8 or n > 100_000_000:
        fail(f"header length {n} exceeds the file")
    text = blob[8 : 8 + n]
    if not text.startswith(b"{"):
        fail("header does not start with '{'")
    header = json.loads(text.decode("utf-8"))
    data = blob[8 + n :]
    meta = header.pop("__metadata__", {})
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        fail("metadata must map strings to strings")
    ranges, out = [], {}
    for name, info in header.items():
        dtype, shape, (begin, end) = info["dtype"], info["shape"], info["data_offsets"]
        if dtype not in DTYPES:
            fail(f"{name}: unknown dtype {dtype}")
        code, size = DTYPES[dtype]
        count = 1
        for d in shape:
            count *= d
        if end - begin != count * size or not 0 <= begin <= end <= len(data):
            fail(f"{name}: data_offsets {begin}..{end} do not fit shape {shape}")
        values = array(code)
        values.frombytes(data[begin:end])
        if sys.byteorder != "little":
            values.byteswap()
        ranges.append((begin, end))
        out[name] = {"dtype": dtype, "shape": shape, "sum": float(sum(values)),
                     "first": [float(v) for v in values[:4]]}
    at = 0
    for begin, end in sorted(ranges):
        if begin != at:
            fail(f"tensor data is not contiguous at byte {at}")
        at = end
    if at != len(data):
        fail(f"tensors cover {at} of {len(data)} data bytes")
    json.dump({"metadata": meta, "tensors": out}, sys.stdout)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        fail("usage: safetensors_read.py FILE")
    main(sys.argv[1])

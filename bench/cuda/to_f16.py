#!/usr/bin/env python3
"""Copy a Hugging Face model directory with its F32 safetensors weights
converted to F16 (standard library only), so that the default model fits the
device tool's 64 MiB carry limit. encore reads F16 weights, and the GPU
end-to-end test compares the CPU and GPU paths on the same converted weights.

    python3 bench/cuda/to_f16.py SRC_DIR DST_DIR
"""
import json
import os
import shutil
import struct
import sys


def main():
    src, dst = sys.argv[1], sys.argv[2]
    os.makedirs(dst, exist_ok=True)
    for root, _, files in os.walk(src):
        rel = os.path.relpath(root, src)
        os.makedirs(os.path.join(dst, rel), exist_ok=True)
        for name in files:
            if name != "model.safetensors":
                shutil.copy2(os.path.join(root, name), os.path.join(dst, rel, name))
    with open(os.path.join(src, "model.safetensors"), "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", None)
    out_header, chunks, off = {}, [], 0
    for name in sorted(header, key=lambda k: header[k]["data_offsets"][0]):
        t = header[name]
        a, b = t["data_offsets"]
        raw = data[a:b]
        dtype = t["dtype"]
        if dtype == "F32":
            count = len(raw) // 4
            raw = struct.pack("<%de" % count, *struct.unpack("<%df" % count, raw))
            dtype = "F16"
        out_header[name] = {"dtype": dtype, "shape": t["shape"], "data_offsets": [off, off + len(raw)]}
        chunks.append(raw)
        off += len(raw)
    if meta is not None:
        out_header["__metadata__"] = meta
    text = json.dumps(out_header).encode()
    text += b" " * (-len(text) % 8)
    with open(os.path.join(dst, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)
    return 0


if __name__ == "__main__":
    sys.exit(main())

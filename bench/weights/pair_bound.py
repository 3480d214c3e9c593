#!/usr/bin/env python3
"""How often int8 weights break the pair bound that would make vpmaddubsw
exact: per linear layer of a checkpoint, the weights quantized as encore
quantizes them (one scale per output row, max |w| / 127, round to nearest
even, clamped to [-127, 127]), then the share of the pairs of k that
vpmaddubsw adds (k = 2i, 2i + 1) whose two weights have the same sign and
|q1| + |q2| > 128. Only those can saturate int16 with unsigned activation
bytes (255 * 128 = 32640 fits; pairs of opposite signs stay below 255 * 127).
A layout that split such weights into a bounded part and a sparse rest would
need one extra product per such pair.

    python3 bench/weights/pair_bound.py MODEL_DIR [MODEL_DIR ...]

Needs numpy and safetensors (the peers venv has both)."""
import glob
import os
import sys

import numpy as np
from safetensors.numpy import load_file


def quantize(w):
    scale = np.abs(w).max(axis=1, keepdims=True) / 127.0
    scale[scale == 0] = 1.0
    return np.clip(np.rint(w / scale), -127, 127).astype(np.int32)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for model in sys.argv[1:]:
        files = sorted(glob.glob(os.path.join(model, "*.safetensors")))
        if not files:
            sys.exit("pair_bound: no .safetensors in %s" % model)
        over = pairs = layers = 0
        for f in files:
            for name, w in load_file(f).items():
                # The linear layers' weights: 2-D, not an embedding table, an even K.
                if w.ndim != 2 or "embed" in name or w.shape[0] < 64 or w.shape[1] % 2:
                    continue
                q = quantize(w.astype(np.float32))
                q1, q2 = q[:, 0::2], q[:, 1::2]
                bad = (q1 * q2 > 0) & (np.abs(q1) + np.abs(q2) > 128)
                over += int(bad.sum())
                pairs += bad.size
                layers += 1
        if not pairs:
            sys.exit("pair_bound: no linear layer in %s" % model)
        print("%s: %d linear layers, %d of %d pairs of k over the bound (%.2f %%)"
              % (model, layers, over, pairs, 100.0 * over / pairs))


if __name__ == "__main__":
    main()

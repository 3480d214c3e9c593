"""transformers' text-classification pipeline on the CPU, in a Python loop over
chunks of texts with batch_size set: the job `encore score` does.

    python hf_pipeline.py MODEL_DIR TEXTS --batch-size 32 --out FILE

Writes one JSON line per text ({"label", "score"}) to --out and prints one JSON
line of timing. truncation=True, as encore truncates over-long texts.
"""
import argparse
import json
import time

import torch
from transformers import pipeline


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("texts")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--chunk", type=int, default=1024, help="texts handed to the pipeline per loop step")
    ap.add_argument("--out")
    a = ap.parse_args()
    with open(a.texts, encoding="utf-8", newline="\n") as f:
        texts = [line.rstrip("\r\n") for line in f]
    pipe = pipeline("text-classification", model=a.model, device=-1)
    pipe(texts[:64], batch_size=a.batch_size, truncation=True)  # warm-up
    out = []
    t0 = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(texts), a.chunk):
            out.extend(pipe(texts[i:i + a.chunk], batch_size=a.batch_size, truncation=True))
    dt = time.perf_counter() - t0
    if a.out:
        with open(a.out, "w") as f:
            for o in out:
                f.write(json.dumps({"label": o["label"], "score": o["score"]}) + "\n")
    print(json.dumps({"texts": len(texts), "seconds": round(dt, 3), "texts_per_s": round(len(texts) / dt, 1),
                      "batch_size": a.batch_size, "torch_threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()

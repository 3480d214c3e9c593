"""Hugging Face tokenizers (the Rust fast tokenizer) in batch mode on a file of
texts, one per line: throughput, and every text's ids written for comparison.

    RAYON_NUM_THREADS=1 python hf_tokenize.py MODEL_DIR TEXTS MAX_LENGTH --ids FILE

Prints one JSON line. Set RAYON_NUM_THREADS before Python starts: tokenizers
reads it once.
"""
import argparse
import json
import os
import time

from transformers import AutoTokenizer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("texts")
    ap.add_argument("max_length", type=int)
    ap.add_argument("--ids")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    with open(a.texts, encoding="utf-8", newline="\n") as f:
        texts = [line.rstrip("\r\n") for line in f]
    # The Rust tokenizer exactly as transformers configures it for this model.
    tok = AutoTokenizer.from_pretrained(a.model, use_fast=True).backend_tokenizer
    tok.enable_truncation(max_length=a.max_length)
    tok.no_padding()
    best, encs = float("inf"), None
    for _ in range(a.repeat):
        t0 = time.perf_counter()
        encs = tok.encode_batch(texts, add_special_tokens=True)
        best = min(best, time.perf_counter() - t0)
    tokens = sum(len(e.ids) for e in encs)
    if a.ids:
        with open(a.ids, "w") as f:
            for e in encs:
                f.write(" ".join(map(str, e.ids)) + "\n")
    print(json.dumps({"texts": len(texts), "tokens": tokens, "seconds": round(best, 4),
                      "texts_per_s": round(len(texts) / best, 1), "tokens_per_s": round(tokens / best, 1),
                      "rayon_threads": os.environ.get("RAYON_NUM_THREADS", "all")}))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""encore's pipelines against transformers' on the same inputs, one task and
one side per process:

    python bench/pipelines/bench_tasks.py --task fill-mask --variant encore|transformers \
        --model build/bench-pipelines/models/fill-mask --texts ../shared/data/sst2/dev.tsv --threads 2 --json OUT

Inputs come from SST-2 dev sentences, in file order:
- fill-mask: the sentence with its middle word replaced by the mask token, top_k 5;
- zero-shot-classification: the sentence, candidate labels "positive",
  "negative", "neutral" (three premise/hypothesis pairs per text);
- token-classification: the sentence, aggregation_strategy "simple";
- question-answering: question "What is the film like?", the sentence as
  context.
Cells: "single" calls the pipeline with one input at a time (p50 / p90 ms
over --single-iters calls); "batch" calls it with --batch inputs in one call
(inputs per second over --batch-iters calls; transformers with
batch_size=--batch). Each call is the whole job from text to the
pipeline's output, tokenization included. Each side first answers the first
--check inputs untimed, written to the JSON, which report.py compares.
"""

import argparse
import json
import os
import platform
import time

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

LABELS = ["positive", "negative", "neutral"]
QUESTION = "What is the film like?"


def read_texts(path):
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        col = header.index("sentence")
        return [line.rstrip("\n").split("\t")[col].strip() for line in f]


def inputs_for(task, texts, mask):
    if task == "fill-mask":
        out = []
        for t in texts:
            words = t.split(" ")
            words[len(words) // 2] = mask
            out.append(" ".join(words))
        return out
    if task == "question-answering":
        return [{"question": QUESTION, "context": t} for t in texts]
    return texts


def make_variant(task, name, model_dir, n, batch):
    """A callable (inputs) -> the pipeline's output."""
    if name == "encore":
        import encore

        pipe = encore.pipeline(task, model=model_dir, threads=n, batch_size=batch)
        mask = "[MASK]"
    else:
        import torch
        import transformers

        torch.set_num_threads(n)
        pipe = transformers.pipeline(task, model=model_dir, device="cpu", dtype=torch.float32)
        mask = pipe.tokenizer.mask_token if task == "fill-mask" else None
    if task == "fill-mask":
        call = lambda x: pipe(x, top_k=5, **({} if name == "encore" else {"batch_size": batch}))  # noqa: E731
    elif task == "zero-shot-classification":
        call = lambda x: pipe(x, candidate_labels=LABELS, **({} if name == "encore" else {"batch_size": batch}))  # noqa: E731
    elif task == "token-classification":
        call = lambda x: pipe(x, aggregation_strategy="simple", **({} if name == "encore" else {"batch_size": batch}))  # noqa: E731
    else:
        call = lambda x: pipe(x, **({} if name == "encore" else {"batch_size": batch}))  # noqa: E731
    return call, mask


def time_single(fn, items, iters, warmup):
    for x in items[:warmup]:
        fn(x)
    lat = []
    for i in range(iters):
        x = items[i % len(items)]
        t0 = time.perf_counter()
        fn(x)
        lat.append((time.perf_counter() - t0) * 1e3)
    return {"p50_ms": float(np.percentile(lat, 50)), "p90_ms": float(np.percentile(lat, 90))}


def time_batch(fn, items, batch, iters, warmup):
    for _ in range(warmup):
        fn(items[:batch])
    t0 = time.perf_counter()
    for i in range(iters):
        start = (i * batch) % (len(items) - batch)
        fn(items[start:start + batch])
    return {"inputs_per_s": batch * iters / (time.perf_counter() - t0)}


def versions():
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for dist in ("encore-inference", "torch", "transformers", "tokenizers"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", required=True,
                    choices=["fill-mask", "zero-shot-classification", "token-classification", "question-answering"])
    ap.add_argument("--variant", required=True, choices=["encore", "transformers"])
    ap.add_argument("--model", required=True)
    ap.add_argument("--texts", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--single-iters", type=int, default=100)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--batch-iters", type=int, default=3)
    ap.add_argument("--check", type=int, default=64)
    ap.add_argument("--json", required=True)
    args = ap.parse_args()

    fn, mask = make_variant(args.task, args.variant, args.model, args.threads, args.batch)
    items = inputs_for(args.task, read_texts(args.texts), mask or "[MASK]")
    outputs = [fn(x) for x in items[:args.check]]
    single = time_single(fn, items, args.single_iters, warmup=5)
    batch = time_batch(fn, items, args.batch, args.batch_iters, warmup=1)
    doc = dict(task=args.task, variant=args.variant, threads=args.threads, batch=args.batch, single=single,
               batch_result=batch, versions=versions(), outputs=outputs, inputs=items[:args.check])
    with open(args.json, "w", encoding="utf-8") as f:
        json.dump(doc, f, default=float)
    print(f"{args.task} {args.variant}: single p50 {single['p50_ms']:.2f} ms, "
          f"batch {batch['inputs_per_s']:.1f} inputs/s", flush=True)


if __name__ == "__main__":
    main()

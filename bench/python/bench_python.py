#!/usr/bin/env python3
"""encore's Python pipeline against transformers' pipeline and optimum's ONNX
Runtime pipeline, side by side on the same texts; and the per-call overhead
of Python over the C command line.

    python bench/python/bench_python.py --variant encore|encore-session|transformers|optimum|cli \
        --model build/models/encore-sst2-minilm --texts ../shared/data/sst2/dev.tsv --threads 2 --json OUT

One variant per process (bench/python/run.sh runs them all, in interleaved
rounds, and writes the table): "encore" is encore.pipeline, "encore-session"
the bare binding (encore.Session.scores), "transformers" transformers'
pipeline, "optimum" optimum's ORT pipeline (ORTModelForSequenceClassification
exported from the same directory), "cli" the C library's own figures
(`encore bench`). Cells, as bench/peers: "single" calls
the pipeline with one text at a time (p50/p90 ms over --single-iters calls,
texts in file order), "batch 64" calls it with 64 texts (sequences/s over
--batch-iters calls). Every call is the whole job from text to the
pipeline's [{'label', 'score'}] output, tokenization included. Each variant
first labels the first 256 texts untimed (run.sh compares them with
transformers'). The per-call overhead of Python: encore.pipeline and
encore.Session.scores against `encore bench --batch 1` on the same texts and
threads (the C library's own timing of tokenize + forward for one text).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np


def read_texts(path):
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        col = header.index("sentence")
        return [line.rstrip("\n").split("\t")[col].strip() for line in f]


def time_single(fn, texts, iters, warmup):
    for t in texts[:warmup]:
        fn(t)
    lat = []
    for i in range(iters):
        t = texts[i % len(texts)]
        t0 = time.perf_counter()
        fn(t)
        lat.append((time.perf_counter() - t0) * 1e3)
    return {"p50_ms": float(np.percentile(lat, 50)), "p90_ms": float(np.percentile(lat, 90))}


def time_batch(fn, texts, batch, iters, warmup):
    for i in range(warmup):
        fn(texts[:batch])
    t0 = time.perf_counter()
    for i in range(iters):
        start = (i * batch) % (len(texts) - batch)
        fn(texts[start:start + batch])
    return {"seq_per_s": batch * iters / (time.perf_counter() - t0)}


def make_variant(name, model_dir, n, batch):
    """A callable texts -> pipeline output, for one variant."""
    if name in ("encore", "encore-session"):
        import encore

        if name == "encore":
            pipe = encore.pipeline("text-classification", model=model_dir, threads=n, batch_size=batch)
            return lambda x: pipe(x, truncation=True)
        session = encore.Model(model_dir).session(threads=n)
        labels = session.model.labels
        # the bare binding: scores as numpy, labels picked here
        return lambda x: [{"label": labels[int(r.argmax())], "score": float(r.max())}
                          for r in session.scores([x] if isinstance(x, str) else x, truncation=True)]
    import torch
    import transformers

    torch.set_num_threads(n)
    if name == "transformers":
        hf = transformers.pipeline("text-classification", model=model_dir, device="cpu", dtype=torch.float32)
        return lambda x: hf(x, batch_size=batch, truncation=True)
    if name == "optimum":
        import onnxruntime as ort
        from optimum.onnxruntime import ORTModelForSequenceClassification
        from optimum.pipelines import pipeline as ort_pipeline

        so = ort.SessionOptions()
        so.intra_op_num_threads = n
        so.inter_op_num_threads = 1
        model = ORTModelForSequenceClassification.from_pretrained(model_dir, export=True, session_options=so)
        tok = transformers.AutoTokenizer.from_pretrained(model_dir)
        pipe = ort_pipeline("text-classification", model=model, tokenizer=tok, accelerator="ort")
        return lambda x: pipe(x, batch_size=batch, truncation=True)
    raise SystemExit("unknown variant " + name)


def versions(name):
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for dist in ("encore-inference", "torch", "transformers", "optimum", "optimum-onnx", "onnxruntime"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--variant", required=True, help="encore, encore-session, transformers, optimum or cli")
    ap.add_argument("--model", required=True)
    ap.add_argument("--texts", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--single-iters", type=int, default=200)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--batch-iters", type=int, default=6)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--encore-cli", default="build/encore")
    ap.add_argument("--json", required=True)
    args = ap.parse_args()
    texts = read_texts(args.texts)
    n = args.threads
    res = {"variant": args.variant, "threads": n, "load_before": os.getloadavg()}
    if args.variant == "cli":
        # The C library's own timing: encore bench, the same texts, threads and batches.
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            subprocess.run([args.encore_cli, "bench", "--model", args.model, "--texts", args.texts, "--batch",
                            "1,%d" % args.batch, "--threads", str(n), "--iters", str(args.single_iters),
                            "--warmup", str(args.warmup), "--json", out.name, "--quiet"], check=True,
                           stdout=subprocess.DEVNULL)
            with open(out.name) as f:
                cells = {c["batch"]: c for c in json.load(f)["cells"]}
        res["single"] = {"p50_ms": cells[1]["latency_ms"]["p50"], "p90_ms": cells[1]["latency_ms"]["p90"]}
        res["batch"] = {"seq_per_s": cells[args.batch]["seq_per_s"]}
    else:
        fn = make_variant(args.variant, args.model, n, args.batch)
        res["labels_first_256"] = [o["label"] for o in fn(texts[:256])]
        res["single"] = time_single(fn, texts, args.single_iters, args.warmup)
        res["batch"] = time_batch(fn, texts, args.batch, args.batch_iters, 1)
        res["versions"] = versions(args.variant)
    res["load_after"] = os.getloadavg()
    print(args.variant, res["single"], res["batch"], file=sys.stderr)
    with open(args.json, "w") as f:
        json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()

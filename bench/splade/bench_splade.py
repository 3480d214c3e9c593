#!/usr/bin/env python3
"""SPLADE sparse embeddings: encore's Session.embed_sparse against
sentence-transformers' SparseEncoder.encode on the same model directory and
the same texts, one side per process:

    python bench/splade/bench_splade.py make --base build/models/all-minilm-l6-v2 --out DIR
    python bench/splade/bench_splade.py run --variant encore|sentence-transformers --model DIR \
        --texts ../shared/data/sst2/dev.tsv --threads 2 --json OUT
    python bench/splade/bench_splade.py report OUT_DIR "the command"

make: the real all-MiniLM-L6-v2 encoder (6 layers, hidden 384, its
30,522-token uncased vocabulary) under a masked-language-model head drawn at
random with a fixed seed (no trained SPLADE head of this shape can be had
offline; speed does not depend on the weights' values), saved by
sentence-transformers' SparseEncoder.save with SpladePooling (max of
log(1 + relu)), naver/splade-v3's settings.

run: "single" encodes one SST-2 dev sentence per call (p50 / p90 ms over
--single-iters calls); "batch" encodes --batch sentences per call (inputs per
second over --batch-iters calls). Each call is the whole job from text to the
weights (dense float32 on both sides: encore's array, SparseEncoder's
convert_to_sparse_tensor=False). Each side first encodes the first --check
sentences untimed and writes the weights that are not 0, which report
compares: the same entries, values within 1e-4.

report: writes the section "## SPLADE: encore against sentence-transformers"
of bench/RESULTS.md (each cell's best round, the ratio, the agreement, the CPU).
"""

import json
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from results_md import cpu, read_texts, side_main, side_report, time_calls, versions  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SEED = 20261203
TOL = 1e-4
SECTION = "## SPLADE: encore against sentence-transformers"


def make(base, out):
    import torch
    import transformers
    from sentence_transformers import SparseEncoder
    from sentence_transformers.models import Transformer
    from sentence_transformers.sparse_encoder.models import SpladePooling
    from transformers import AutoTokenizer, BertForMaskedLM

    transformers.logging.set_verbosity_error()
    torch.manual_seed(SEED)
    tmp = out + ".base"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    BertForMaskedLM.from_pretrained(base, dtype=torch.float32).save_pretrained(tmp)
    AutoTokenizer.from_pretrained(base).save_pretrained(tmp)
    enc = SparseEncoder(modules=[Transformer(tmp, transformer_task="fill-mask", max_seq_length=256),
                                 SpladePooling(pooling_strategy="max", activation_function="relu")], device="cpu")
    enc.save(out)
    shutil.rmtree(tmp)
    print(f"SPLADE model: {out}", flush=True)


def variant(name, model, threads):
    if name == "encore":
        import encore

        session = encore.Model(model).session(threads=threads)
        return lambda texts: session.embed_sparse(texts)
    import torch
    from sentence_transformers import SparseEncoder

    torch.set_num_threads(threads)
    enc = SparseEncoder(model, device="cpu")
    return lambda texts: enc.encode(texts, batch_size=len(texts), convert_to_tensor=True,
                                    convert_to_sparse_tensor=False).numpy()


def run(args):
    fn = variant(args.variant, args.model, args.threads)
    texts = read_texts(args.texts)
    checked = fn(texts[:args.check])
    nonzero = [[[int(i), float(row[i])] for i in np.flatnonzero(row)] for row in checked]
    single, batch_result = time_calls(fn, texts, args.single_iters, args.batch, args.batch_iters)
    doc = dict(variant=args.variant, threads=args.threads, batch=args.batch,
               single=single, batch_result=batch_result, versions=versions(), nonzero=nonzero)
    with open(args.json, "w", encoding="utf-8") as f:
        json.dump(doc, f)
    rate = batch_result["inputs_per_s"]
    print(f"{args.variant}: single p50 {single['p50_ms']:.2f} ms, batch {rate:.1f} inputs/s", flush=True)


def agreement(a, b):
    """(texts with the same non-zero entries, max |difference|) of two sides' checks."""
    same, worst = 0, 0.0
    for x, y in zip(a, b):
        dx, dy = dict(x), dict(y)
        for k in set(dx) | set(dy):
            worst = max(worst, abs(dx.get(k, 0.0) - dy.get(k, 0.0)))
        same += dx.keys() == dy.keys()
    return same, worst


def report(out_dir, command):
    lines = [SECTION, "",
             f"Command: `{command}`, where ENCORE_PY is a Python with the encore package and ENCORE_HF_PY one "
             "with torch and sentence-transformers (models/requirements-fixtures.txt).", "",
             f"- CPU: {cpu()}.",
             "- Model: the real all-MiniLM-L6-v2 encoder under a masked-language-model head drawn at random "
             "(bench/splade/bench_splade.py make), saved by sentence-transformers' SparseEncoder with "
             "SpladePooling (max of log(1 + relu)): 30,522 weights per text.",
             "- Inputs: SST-2 dev sentences in file order; single = one sentence per call (p50 ms), batch = 32 "
             "per call (inputs/s); each side in its own process, the best of the rounds.", "",
             "| threads | encore p50 ms | sentence-transformers p50 ms | speed-up | encore inputs/s (batch) "
             "| sentence-transformers inputs/s | speed-up | same entries | max abs diff |",
             "|---|---|---|---|---|---|---|---|---|"]

    def row(threads, e, s, cells):
        same, worst = agreement(e[0]["nonzero"], s[0]["nonzero"])
        n = len(e[0]["nonzero"])
        if n == 0 or len(s[0]["nonzero"]) != n:
            sys.exit("the two sides checked different numbers of texts")
        return f"| {threads} | {cells} | {same}/{n} | {worst:.2g} |"

    side_report(lines, out_dir, "sentence-transformers", row)


def main():
    side_main(__doc__, ("--base", "the all-MiniLM-L6-v2 directory"), make, run, report)

if __name__ == "__main__":
    main()

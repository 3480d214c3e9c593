#!/usr/bin/env python3
"""MPNet sentence embeddings (all-mpnet-base-v2's shape): encore's
SentenceEncoder against sentence-transformers' SentenceTransformer.encode on
the same model directory and the same texts, one side per process:

    python bench/mpnet/bench_mpnet.py make --vocab build/models/all-minilm-l6-v2/vocab.txt --out DIR
    python bench/mpnet/bench_mpnet.py run --variant encore|sentence-transformers --model DIR \
        --texts ../shared/data/sst2/dev.tsv --threads 2 --json OUT
    python bench/mpnet/bench_mpnet.py report OUT_DIR "the command"

make: an MPNetModel of all-mpnet-base-v2's shape (12 layers, hidden 768, 12
heads, 3,072 wide feed-forward, 514 positions, 32 relative position buckets)
with weights drawn at random with a fixed seed (no trained MPNet can be had
offline; speed does not depend on the weights' values), under MPNet's
tokenizer on BERT's uncased vocabulary (<s> <pad> </s> <unk>, the 30,522
tokens, <mask>: 30,527, as the real one), saved by sentence-transformers as
all-mpnet-base-v2 is laid out: Transformer (max_seq_length 384), mean
Pooling, Normalize.

run: "single" encodes one SST-2 dev sentence per call (p50 / p90 ms over
--single-iters calls); "batch" encodes --batch sentences per call (inputs per
second over --batch-iters calls). Each call is the whole job from text to the
normalized float32 embeddings. Each side first encodes the first --check
sentences untimed and writes them; report compares the two sides (largest
difference, smallest cosine).

report: writes the section "## MPNet embeddings: encore against
sentence-transformers" of bench/RESULTS.md (each cell's best round, the
ratio, the agreement, the CPU).
"""

import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from results_md import cpu, read_texts, side_main, side_report, time_calls, versions  # noqa: E402

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

SEED = 20261204
TOL = 1e-5
SECTION = "## MPNet embeddings: encore against sentence-transformers"


def make(vocab, out):
    import shutil

    import torch
    import transformers
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Normalize, Pooling, Transformer
    from transformers import MPNetConfig, MPNetModel, MPNetTokenizer

    transformers.logging.set_verbosity_error()
    torch.manual_seed(SEED)
    tmp = out + ".base"
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(out, ignore_errors=True)
    with open(vocab, encoding="utf-8") as f:
        bert = [line.rstrip("\n") for line in f]
    tokens = ["<s>", "<pad>", "</s>", "<unk>"] + bert + ["<mask>"]
    MPNetTokenizer(vocab={t: i for i, t in enumerate(tokens)}, model_max_length=512).save_pretrained(tmp)
    config = MPNetConfig(vocab_size=len(tokens), hidden_size=768, num_hidden_layers=12, num_attention_heads=12,
                         intermediate_size=3072, max_position_embeddings=514, relative_attention_num_buckets=32,
                         layer_norm_eps=1e-5, pad_token_id=1, bos_token_id=0, eos_token_id=2)
    MPNetModel(config).save_pretrained(tmp)
    word = Transformer(tmp, max_seq_length=384)
    st = SentenceTransformer(modules=[word, Pooling(word.get_embedding_dimension(), "mean"), Normalize()],
                             device="cpu")
    st.save(out)
    shutil.rmtree(tmp)
    print(f"MPNet model: {out} ({len(tokens)} tokens)", flush=True)


def variant(name, model, threads):
    if name == "encore":
        import encore

        enc = encore.SentenceEncoder(model, threads=threads)
        return lambda texts: enc.encode(texts, batch_size=len(texts))
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    st = SentenceTransformer(model, device="cpu")
    return lambda texts: st.encode(texts, batch_size=len(texts), convert_to_numpy=True)


def run(args):
    fn = variant(args.variant, args.model, args.threads)
    texts = read_texts(args.texts)
    checked = np.asarray(fn(texts[:args.check]), dtype=np.float32)
    single, batch_result = time_calls(fn, texts, args.single_iters, args.batch, args.batch_iters)
    doc = dict(variant=args.variant, threads=args.threads, batch=args.batch,
               single=single, batch_result=batch_result, versions=versions(), embeddings=checked.tolist())
    with open(args.json, "w", encoding="utf-8") as f:
        json.dump(doc, f)
    rate = batch_result["inputs_per_s"]
    print(f"{args.variant}: single p50 {single['p50_ms']:.2f} ms, batch {rate:.1f} inputs/s", flush=True)


def agreement(a, b):
    """(largest |difference|, smallest cosine) of two sides' checked embeddings; NaN fails."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.size == 0 or not np.isfinite(a).all() or not np.isfinite(b).all():
        sys.exit(f"the two sides' checks differ in shape or are not finite: {a.shape} {b.shape}")
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return float(np.abs(a - b).max()), float(cos.min())


def report(out_dir, command):
    lines = [SECTION, "",
             f"Command: `{command}`, where ENCORE_PY is a Python with the encore package and ENCORE_HF_PY one "
             "with torch and sentence-transformers (models/requirements-fixtures.txt).", "",
             f"- CPU: {cpu()}.",
             "- Model: an MPNetModel of all-mpnet-base-v2's shape (12 layers, hidden 768, 12 heads, 32 relative "
             "position buckets; 30,527 tokens) with random weights (bench/mpnet/bench_mpnet.py make), laid out "
             "as all-mpnet-base-v2 is: mean pooling, Normalize.",
             "- Inputs: SST-2 dev sentences in file order; single = one sentence per call (p50 ms), batch = 32 "
             "per call (inputs/s); each side in its own process, the best of the rounds.", "",
             "| threads | encore p50 ms | sentence-transformers p50 ms | speed-up | encore inputs/s (batch) "
             "| sentence-transformers inputs/s | speed-up | max abs diff | min cosine |",
             "|---|---|---|---|---|---|---|---|---|"]

    def row(threads, e, s, cells):
        worst, cos = agreement(e[0]["embeddings"], s[0]["embeddings"])
        if worst > TOL:
            sys.exit(f"threads {threads}: the embeddings differ by {worst:.3g}, above {TOL}")
        return f"| {threads} | {cells} | {worst:.2g} | {cos:.7f} |"

    side_report(lines, out_dir, "sentence-transformers", row,
                lambda e: [f"The embeddings of the first {len(e[0]['embeddings'])} sentences agree within {TOL:g} "
                           "(checked by the report, which fails otherwise).", ""])


def main():
    side_main(__doc__, ("--vocab", "BERT's uncased vocab.txt"), make, run, report)

if __name__ == "__main__":
    main()

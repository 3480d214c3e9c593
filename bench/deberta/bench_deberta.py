#!/usr/bin/env python3
"""DeBERTa-v3 text classification (deberta-v3-base's shape): encore's
pipeline("text-classification") against transformers' on the same model
directory and the same texts, one side per process:

    python bench/deberta/bench_deberta.py make --tokenizer tests/fixtures/models/tiny-deberta-sst --out DIR
    python bench/deberta/bench_deberta.py run --variant encore|transformers --model DIR \
        --texts ../shared/data/sst2/dev.tsv --threads 2 --json OUT
    python bench/deberta/bench_deberta.py report OUT_DIR "the command"

make: a DebertaV2ForSequenceClassification of deberta-v3-base's shape (12
layers, hidden 768, 12 heads, 3,072 wide feed-forward, 512 positions, 256
log-bucketed relative positions, c2p and p2c, relative embeddings
LayerNorm'd, no absolute positions, a GELU pooler, 2 labels) with weights
drawn at random with a fixed seed (speed does not depend on their values),
under the SentencePiece tokenizer of tests/fixtures/models/tiny-deberta-sst
(transformers 5's DebertaV2Tokenizer; 2,000 pieces and [MASK], where
deberta-v3's has 128,000 pieces: the embedding table is smaller, the network
the same, and its texts come out in more tokens than deberta-v3's would).

run: "single" classifies one SST-2 dev sentence per call (p50 / p90 ms over
--single-iters calls); "batch" classifies --batch sentences per call
(inputs per second over --batch-iters calls). Each call is the whole job
from text to the labels and scores, top_k=None (every label's score). Each
side first classifies the first --check sentences untimed and writes the
scores; report compares the two sides.

report: writes the section "## DeBERTa-v3 classification: encore against
transformers" of bench/RESULTS.md (each cell's best round, the ratio, the
agreement, the CPU).
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
TOL = 1e-4
SECTION = "## DeBERTa-v3 classification: encore against transformers"
LABELS = ["NEGATIVE", "POSITIVE"]


def make(tokenizer, out):
    import torch
    import transformers
    from transformers import AutoTokenizer, DebertaV2Config, DebertaV2ForSequenceClassification

    transformers.logging.set_verbosity_error()
    torch.manual_seed(SEED)
    tok = AutoTokenizer.from_pretrained(tokenizer, model_max_length=512)
    config = DebertaV2Config(
        vocab_size=len(tok), hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072,
        max_position_embeddings=512, type_vocab_size=0, relative_attention=True, position_buckets=256,
        max_relative_positions=-1, pos_att_type=["p2c", "c2p"], share_att_key=True, norm_rel_ebd="layer_norm",
        position_biased_input=False, pooler_hidden_size=768, pooler_hidden_act="gelu", hidden_act="gelu",
        layer_norm_eps=1e-7, pad_token_id=0, num_labels=2, id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)})
    model = DebertaV2ForSequenceClassification(config).eval()
    model.save_pretrained(out)
    tok.save_pretrained(out)
    print(f"DeBERTa-v3-base-shaped classifier: {out} ({len(tok)} tokens)", flush=True)


def variant(name, model, threads):
    if name == "encore":
        import encore

        clf = encore.pipeline("text-classification", model=model, threads=threads, device="cpu")
    else:
        import torch
        from transformers import pipeline

        torch.set_num_threads(threads)
        clf = pipeline("text-classification", model=model, device="cpu")
    return lambda texts: clf(texts, top_k=None, batch_size=len(texts))


def scores(result):
    """[[score of NEGATIVE, score of POSITIVE] per text] from top_k=None's output."""
    return [[next(r["score"] for r in row if r["label"] == label) for label in LABELS] for row in result]


def run(args):
    fn = variant(args.variant, args.model, args.threads)
    texts = read_texts(args.texts)
    checked = scores(fn(texts[:args.check]))
    single, batch_result = time_calls(fn, texts, args.single_iters, args.batch, args.batch_iters)
    doc = dict(variant=args.variant, threads=args.threads, batch=args.batch, single=single,
               batch_result=batch_result, versions=versions(), scores=checked)
    with open(args.json, "w", encoding="utf-8") as f:
        json.dump(doc, f)
    print(f"{args.variant}: single p50 {single['p50_ms']:.2f} ms, batch {batch_result['inputs_per_s']:.1f} "
          "inputs/s", flush=True)


def agreement(a, b):
    """Largest |score difference| of the two sides' checked texts; NaN or a shape mismatch fails."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.size == 0 or not np.isfinite(a).all() or not np.isfinite(b).all():
        sys.exit(f"the two sides' checks differ in shape or are not finite: {a.shape} {b.shape}")
    same_top = int((a.argmax(1) == b.argmax(1)).sum())
    return float(np.abs(a - b).max()), same_top


def report(out_dir, command):
    lines = [SECTION, "",
             f"Command: `{command}`, where ENCORE_PY is a Python with the encore package and ENCORE_HF_PY one "
             "with torch and transformers (models/requirements-fixtures.txt).", "",
             f"- CPU: {cpu()}.",
             "- Model: a DebertaV2ForSequenceClassification of deberta-v3-base's shape (12 layers, hidden 768, 12 "
             "heads, 256 relative position buckets, c2p and p2c) with random weights, under a SentencePiece "
             "tokenizer of 2,000 pieces (bench/deberta/bench_deberta.py make).",
             "- Inputs: SST-2 dev sentences in file order; single = one sentence per call (p50 ms), batch = 32 "
             "per call (inputs/s); pipeline(\"text-classification\", top_k=None) on both sides, each in its own "
             "process, the best of the rounds.", "",
             "| threads | encore p50 ms | transformers p50 ms | speed-up | encore inputs/s (batch) "
             "| transformers inputs/s | speed-up | max score diff | same top label |",
             "|---|---|---|---|---|---|---|---|---|"]

    def row(threads, e, t, cells):
        worst, same = agreement(e[0]["scores"], t[0]["scores"])
        if worst > TOL:
            sys.exit(f"threads {threads}: the scores differ by {worst:.3g}, above {TOL}")
        return f"| {threads} | {cells} | {worst:.2g} | {same}/{len(e[0]['scores'])} |"

    side_report(lines, out_dir, "transformers", row,
                lambda e: [f"The scores of the first {len(e[0]['scores'])} sentences agree within {TOL:g} (checked "
                           "by the report, which fails otherwise).", ""])


def main():
    side_main(__doc__, ("--tokenizer", "a directory with DeBERTa-v3's tokenizer files"), make, run, report,
              peer="transformers")

if __name__ == "__main__":
    main()

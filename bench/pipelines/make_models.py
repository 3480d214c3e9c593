#!/usr/bin/env python3
"""Models for the per-task pipeline benchmark: the real all-MiniLM-L6-v2
encoder (6 layers, hidden 384, its 30,522-token uncased vocabulary) under
each task's head, the heads drawn at random with a fixed seed (speed does
not depend on the weights' values, and no trained head of these tasks can
be had offline). Written with transformers' save_pretrained, so both sides
read the same directory.

    python bench/pipelines/make_models.py --base build/models/all-minilm-l6-v2 --out build/bench-pipelines/models
"""

import argparse
import os
import shutil

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import (  # noqa: E402
    AutoTokenizer,
    BertForMaskedLM,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
)

SEED = 20261201
NER_LABELS = ["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"]
NLI_LABELS = ["contradiction", "entailment", "neutral"]


def build(kind, base, out):
    torch.manual_seed(SEED)
    if kind == "fill-mask":
        model = BertForMaskedLM.from_pretrained(base, dtype=torch.float32)
    elif kind == "zero-shot-classification":
        model = BertForSequenceClassification.from_pretrained(
            base, dtype=torch.float32, num_labels=3, id2label=dict(enumerate(NLI_LABELS)),
            label2id={l: i for i, l in enumerate(NLI_LABELS)})
    elif kind == "token-classification":
        model = BertForTokenClassification.from_pretrained(
            base, dtype=torch.float32, num_labels=len(NER_LABELS), id2label=dict(enumerate(NER_LABELS)),
            label2id={l: i for i, l in enumerate(NER_LABELS)})
    else:
        model = BertForQuestionAnswering.from_pretrained(base, dtype=torch.float32)
    shutil.rmtree(out, ignore_errors=True)
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(base).save_pretrained(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--tasks", default="fill-mask,zero-shot-classification,token-classification,question-answering")
    args = ap.parse_args()
    transformers.logging.set_verbosity_error()
    for kind in args.tasks.split(","):
        build(kind, args.base, os.path.join(args.out, kind))
        print(f"{kind}: {os.path.join(args.out, kind)}", flush=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""encore qa against transformers 4.57's pipeline("question-answering") on a
DistilBERT-base-shaped question-answering model (6 layers, hidden 768, random
weights: no real QA weights can be had offline; `encore pull
distilbert/distilbert-base-cased-distilled-squad` fetches real ones where the
Hub is reachable). 16 questions on four ~1,000-token contexts cut from
README.md, top_k=3, the pipeline's defaults (windows of 384 tokens, stride
128): whether the answers are the same, the largest score difference, and
the wall time of each (encore's includes loading the model). Run in the venv
of models/requirements-qa.txt after building encore:

    build/venv-qa/bin/python bench/qa/run.py [--threads N]

The model goes to build/qa-bench/ (made once, seed 0) with the tokenizer of
the default embedding model (build/models/all-minilm-l6-v2).
"""

import argparse
import json
import os
import shutil
import subprocess
import time
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
warnings.simplefilter("ignore")

import torch  # noqa: E402
from transformers import DistilBertConfig, DistilBertForQuestionAnswering, pipeline  # noqa: E402
from transformers.utils import logging  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def make_model(d, tokenizer_dir):
    torch.manual_seed(0)
    DistilBertForQuestionAnswering(DistilBertConfig(initializer_range=0.05)).save_pretrained(d)
    for f in ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "special_tokens_map.json"):
        if os.path.exists(os.path.join(tokenizer_dir, f)):
            shutil.copy(os.path.join(tokenizer_dir, f), d)
    p = os.path.join(d, "tokenizer_config.json")
    cfg = json.load(open(p))
    cfg.update(model_max_length=512, tokenizer_class="DistilBertTokenizer")  # no token_type_ids for DistilBERT
    json.dump(cfg, open(p, "w"))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--tokenizer-from", default=os.path.join(ROOT, "build", "models", "all-minilm-l6-v2"))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    logging.set_verbosity_error()
    d = os.path.join(ROOT, "build", "qa-bench", "distilbert-qa-random")
    if not os.path.isdir(d):
        make_model(d, a.tokenizer_from)
    words = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read().split()
    contexts = [" ".join(words[i * 700:(i + 1) * 700]) for i in range(4)]
    questions = ["What does encore do?", "Which models are supported?", "How is it tested?", "Where does it run?"]
    pairs = [(q, c) for c in contexts for q in questions]
    pipe = pipeline("question-answering", model=d, device="cpu")
    t = time.perf_counter()
    ref = [pipe(question=q, context=c, top_k=3) for q, c in pairs]
    t_hf = time.perf_counter() - t
    lines = "".join(json.dumps({"question": q, "context": c}) + "\n" for q, c in pairs)
    t = time.perf_counter()
    out = subprocess.run([os.path.join(ROOT, "build", "encore"), "qa", "--model", d, "--quiet", "--top-k", "3",
                          "--threads", str(a.threads)], input=lines, capture_output=True, text=True, check=True).stdout
    t_enc = time.perf_counter() - t
    ours = [json.loads(line) for line in out.splitlines()]
    windows = sum(len(pipe.tokenizer(q, c, truncation="only_second", max_length=384, stride=128,
                                     return_overflowing_tokens=True)["input_ids"]) for q, c in pairs)
    same, worst = 0, 0.0
    for a_, b_ in zip(ours, ref):
        if [(x["answer"], x["start"], x["end"]) for x in a_] == [(x["answer"], x["start"], x["end"]) for x in b_]:
            same += 1
            worst = max([worst] + [abs(x["score"] - y["score"]) for x, y in zip(a_, b_)])
        else:
            print("differs:", a_, b_)
    print(f"{len(pairs)} questions, {windows} windows; identical answers {same}/{len(pairs)}, "
          f"largest score difference {worst:.2e}")
    print(f"threads {a.threads}: transformers 4.57 pipeline {t_hf:.2f} s, encore qa {t_enc:.2f} s (with the load)")


if __name__ == "__main__":
    main()

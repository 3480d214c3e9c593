#!/usr/bin/env python3
"""Dump what transformers' pipeline("token-classification") returns for the
tiny token-classification fixtures (tests/fixtures/models/tiny-bert-ner and
tiny-distilbert-ner), for encore's NER pipeline to be held to.

Writes tests/fixtures/reference/<model>.ner.json: for each case the text,
the pipeline's arguments, its output as it returns it (numpy float32 scores
as Python floats, the only change) and json.dumps of that output.

    /work/venv-fixtures/bin/python models/make_ner_refs.py     # or any Python with
    # models/requirements-fixtures.txt (transformers 5.24); offline, deterministic

The models have random weights, so the labels vary from token to token; the
texts are chosen so that every strategy meets B-/I- runs, groups of several
tokens, words split into several word pieces that disagree, and "O".
"""

import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import pipeline  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "models"))
from make_fixtures import dump_json, generator_info  # noqa: E402

MODELS = ["tiny-bert-ner", "tiny-distilbert-ner"]
STRATEGIES = ["none", "simple", "first", "average", "max"]

# A text of more than the models' 64 tokens: the pipeline truncates it.
LONG = ("The committee of Northwestern Amalgamated Broadcasting met in Copenhagen, Stockholm and Reykjavik "
        "to discuss extraordinarily complicated telecommunications regulations with Ms. Abernathy-Worthington, "
        "Dr. Oyelaran-Okonkwo and the Lord Mayor of Llanfairpwllgwyngyll before lunch.")

TEXTS = [
    ("names", "John Smithson visited Washington yesterday."),
    ("subwords", "Transmogrification unbelievably hyperventilating"),
    ("accents", "Zürich café naïve résumé Ørsted"),
    # Combining marks: the tokenizer strips them, so the word piece is shorter
    # than the text it covers and counts as a sub-word even at a word's start.
    ("decomposed", "Zu\u0308rich cafe\u0301 and Ame\u0301lie"),
    ("cjk", "東京 and 北京 are cities, 東京タワー"),
    ("punctuation", "Hello, world! (Really?) Yes: no; maybe... it's John's don't"),
    ("spaces", "  Hello   world  \t again  "),
    ("one_word", "Washington"),
    ("unknown", "emoji \U0001F642 and \u2603 snow \u00bf"),
    ("empty", ""),
    ("blank", "   "),
    ("dots", "..."),
    ("special_text", "[SEP] in [MASK] middle"),
    # Words these random-weight models tag "O" (found by search).
    ("o_label_1", "Point all surprisingly there movies."),
    ("o_label_2", "When comedy little side middle."),
    ("o_label_3", "Your pers new sit truly."),
    ("o_label_4", "Moving wonder movies but long."),
    ("long", LONG),
]


def plain(out):
    """The pipeline's output with numpy scalars as Python numbers."""
    if isinstance(out, list):
        return [plain(o) for o in out]
    if isinstance(out, dict):
        return {k: plain(v) for k, v in out.items()}
    if isinstance(out, np.floating):
        return float(out)
    if isinstance(out, np.integer):
        return int(out)
    return out


def cases_for(labels):
    out = []
    for name, text in TEXTS:
        for s in STRATEGIES:
            out.append(dict(name=f"{name}/{s}", text=text, kw=dict(aggregation_strategy=s)))
            out.append(dict(name=f"{name}/{s}/all", text=text, kw=dict(aggregation_strategy=s, ignore_labels=[])))
    # Custom ignore lists: token labels for "none", entity groups for the others.
    for name, text in TEXTS[:6]:
        out.append(dict(name=f"{name}/none/custom", text=text,
                        kw=dict(aggregation_strategy="none", ignore_labels=["O", labels[1], "I-MISC"])))
        out.append(dict(name=f"{name}/simple/custom", text=text,
                        kw=dict(aggregation_strategy="simple", ignore_labels=["MISC"])))
        out.append(dict(name=f"{name}/first/custom", text=text,
                        kw=dict(aggregation_strategy="first", ignore_labels=["LOC", "PER", "I-MISC"])))
    return out


def check(name, pipe, cases):
    """Each strategy's cases must hold what its post-processing is about."""
    tok = pipe.tokenizer
    assert tok.model_max_length == 64
    assert len(tok(LONG)["input_ids"]) > 64, "the long text must be truncated"
    for s in STRATEGIES:
        mine = [c for c in cases if c["aggregation_strategy"] == s]
        ents = [e for c in mine for e in c["result"]]
        key = "entity" if s == "none" else "entity_group"
        assert all(key in e for e in ents), (name, s)
        labels = {e[key] for e in ents}
        if s == "none":
            assert any(e["word"].startswith("##") for e in ents), (name, s, "sub-words")
            assert any(l.startswith("B-") for l in labels) and any(l.startswith("I-") for l in labels), (name, s)
            assert "O" in labels, (name, s, "an O token")
        else:
            # groups of several tokens: a word with a space, or several pieces
            assert any(" " in e["word"] for e in ents), (name, s, "multi-word groups")
            assert len(labels) >= 3, (name, s, labels)
            assert "O" in labels, (name, s, "an O group")
        # non-ASCII offsets
        assert any(any(ord(ch) > 127 for ch in c["text"][e["start"]:e["end"]]) for c in mine for e in c["result"])
    # Sub-word disagreement: "simple" splits a word that the word strategies keep whole.
    split = 0
    for c in cases:
        if c["aggregation_strategy"] == "simple" and c["ignore_labels"] == []:
            first = next(d for d in cases if d["text"] == c["text"] and d["aggregation_strategy"] == "first"
                         and d["ignore_labels"] == [])
            split += len(c["result"]) > len(first["result"])
    assert split >= 2, (name, "sub-words that disagree", split)
    # The word strategies differ from each other somewhere.
    for a, b in [("first", "average"), ("first", "max"), ("average", "max")]:
        ra = [c["pipeline"] for c in cases if c["aggregation_strategy"] == a and c["ignore_labels"] == []]
        rb = [c["pipeline"] for c in cases if c["aggregation_strategy"] == b and c["ignore_labels"] == []]
        assert ra != rb, (name, a, b)


def main():
    torch.manual_seed(0)
    torch.set_num_threads(1)
    ref_dir = os.path.join(ROOT, "tests", "fixtures", "reference")
    assert transformers.__version__.startswith("5."), transformers.__version__
    for name in MODELS:
        d = os.path.join(ROOT, "tests", "fixtures", "models", name)
        pipe = pipeline("token-classification", model=d, tokenizer=d, device="cpu", dtype=torch.float32)
        assert next(pipe.model.parameters()).dtype == torch.float32
        labels = [pipe.model.config.id2label[i] for i in range(pipe.model.config.num_labels)]
        cases = []
        for c in cases_for(labels):
            out = plain(pipe(c["text"], **c["kw"]))
            cases.append(dict(name=c["name"], text=c["text"], aggregation_strategy=c["kw"]["aggregation_strategy"],
                              ignore_labels=c["kw"].get("ignore_labels"), result=out, pipeline=json.dumps(out)))
        check(name, pipe, cases)
        doc = dict(generator=dict(generator_info(), script="models/make_ner_refs.py"), model=name,
                   max_length=pipe.tokenizer.model_max_length, labels=labels, pipeline_cases=cases)
        path = os.path.join(ref_dir, name + ".ner.json")
        dump_json(path, doc)
        print(f"{path}: {len(cases)} cases", file=sys.stderr)


if __name__ == "__main__":
    main()

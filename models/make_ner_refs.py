#!/usr/bin/env python3
"""Dump what transformers' pipeline("token-classification") returns for the
tiny token-classification fixtures (tests/fixtures/models/tiny-bert-ner,
tiny-distilbert-ner, tiny-roberta-ner, tiny-xlmr-ner, tiny-mpnet-ner, tiny-electra-ner and tiny-deberta-ner), for encore's NER pipeline to be held to.

Writes tests/fixtures/reference/<model>.ner.json: for each case the text,
the pipeline's arguments (null: not passed), its output as it returns it (numpy float32 scores
as Python floats, the only change) and json.dumps of that output.

    /work/venv-fixtures/bin/python models/make_ner_refs.py [MODEL]    # or any Python with
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
os.environ["RUST_BACKTRACE"] = "0"  # the refusal checked below is a panic in tokenizers

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import pipeline  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "models"))
from make_fixtures import dump_json, generator_info  # noqa: E402

MODELS = ["tiny-bert-ner", "tiny-distilbert-ner", "tiny-roberta-ner", "tiny-xlmr-ner", "tiny-mpnet-ner", "tiny-electra-ner",
          "tiny-deberta-ner"]
STRATEGIES = ["none", "simple", "first", "average", "max"]

# A text of more than the models' 64 tokens: the pipeline truncates it.
LONG = ("The committee of Northwestern Amalgamated Broadcasting met in Copenhagen, Stockholm and Reykjavik "
        "to discuss extraordinarily complicated telecommunications regulations with Ms. Abernathy-Worthington, "
        "Dr. Oyelaran-Okonkwo and the Lord Mayor of Llanfairpwllgwyngyll before lunch.")

# Longer still: several windows with a stride.
LONGER = LONG + (" Afterwards the Secretary-General of the Organisation for Economic Co-operation flew from "
                 "Thiruvananthapuram to Ouagadougou, where Mr. Przybyszewski-Kowalczyk and Señora Nuñez-Ibáñez "
                 "welcomed the delegation at Aéroport International Thomas Sankara.")

# stride: windows of 64 tokens over the long texts, each repeating the last
# `stride` tokens of the one before, the entities of overlapping windows
# merged as the pipeline merges them.
STRIDES = [0, 8, 40]

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
    # stride: the grouping strategies, and none by default (the pipeline
    # refuses stride only with aggregation_strategy="none" passed).
    for name, text in [("longer", LONGER), ("one_word", "Washington")]:
        for stride in STRIDES:
            for s in [None] + STRATEGIES[1:]:
                if s is None and stride != 8:
                    continue  # per-token output is long: one stride shows it
                kw = dict(stride=stride)
                if s is not None:
                    kw["aggregation_strategy"] = s
                tag = s or "default"
                out.append(dict(name=f"{name}/stride{stride}/{tag}/all", text=text, kw=dict(kw, ignore_labels=[])))
                if stride == 8 and s is not None:
                    out.append(dict(name=f"{name}/stride{stride}/{tag}", text=text, kw=kw))
    return out


def check(name, pipe, cases):
    """Each strategy's cases must hold what its post-processing is about."""
    tok = pipe.tokenizer
    assert tok.model_max_length == 64
    assert len(tok(LONG)["input_ids"]) > 64, "the long text must be truncated"
    for s in STRATEGIES:
        mine = [c for c in cases if c["aggregation_strategy"] == s and c["stride"] is None]
        ents = [e for c in mine for e in c["result"]]
        key = "entity" if s == "none" else "entity_group"
        assert all(key in e for e in ents), (name, s)
        labels = {e[key] for e in ents}
        if s == "none":
            if "roberta" in name or "xlmr" in name or "deberta" in name:
                # byte-level BPE, SentencePiece: a token that neither follows nor starts with a space
                assert any(e["start"] > 0 and " " not in c["text"][e["start"] - 1:e["start"] + 1]
                           for c in mine for e in c["result"]), (name, s, "sub-words")
            else:
                assert any(e["word"].startswith("##") for e in ents), (name, s, "sub-words")
            assert any(l.startswith("B-") for l in labels) and any(l.startswith("I-") for l in labels), (name, s)
            assert "O" in labels, (name, s, "an O token")
        else:
            # groups of several tokens: a word with a space, or several pieces
            if ("xlmr" in name or "deberta" in name) and s != "simple":
                # SentencePiece: the pipeline joins the words' decoded strings (no "▁" left) with
                # no space, so a group of several words shows only in its span of the text
                assert any(" " in c["text"][e["start"]:e["end"]] for c in mine for e in c["result"]), (
                    name, s, "multi-word groups")
            else:
                assert any(" " in e["word"] for e in ents), (name, s, "multi-word groups")
            assert len(labels) >= 3, (name, s, labels)
            assert "O" in labels, (name, s, "an O group")
        # non-ASCII offsets
        assert any(any(ord(ch) > 127 for ch in c["text"][e["start"]:e["end"]]) for c in mine for e in c["result"])
    # Sub-word disagreement: "simple" splits a word that the word strategies keep whole.
    split = 0
    for c in cases:
        if c["aggregation_strategy"] == "simple" and c["ignore_labels"] == [] and c["stride"] is None:
            first = next(d for d in cases if d["text"] == c["text"] and d["aggregation_strategy"] == "first"
                         and d["ignore_labels"] == [] and d["stride"] is None)
            split += len(c["result"]) > len(first["result"])
    assert split >= 2, (name, "sub-words that disagree", split)
    # The word strategies differ from each other somewhere.
    for a, b in [("first", "average"), ("first", "max"), ("average", "max")]:
        ra = [c["pipeline"] for c in cases if c["aggregation_strategy"] == a and c["ignore_labels"] == []]
        rb = [c["pipeline"] for c in cases if c["aggregation_strategy"] == b and c["ignore_labels"] == []]
        assert ra != rb, (name, a, b)
    # stride: several windows, reaching past the first window's end, and the
    # strides give different answers.
    n_longer = len(tok(LONGER)["input_ids"])
    # (more than three windows; XLM-R's Unigram pieces are longer: 159 tokens, three windows)
    assert n_longer > (2 if "xlmr" in name else 3) * 64, n_longer
    for s in STRATEGIES[1:]:
        by_stride = {c["stride"]: c for c in cases
                     if c["name"].startswith("longer/stride") and c["aggregation_strategy"] == s
                     and c["ignore_labels"] == []}
        assert len(by_stride) == len(STRIDES), (name, s)
        assert len({c["pipeline"] for c in by_stride.values()}) > 1, (name, s, "strides all alike")
        # Past the first window always; to the text's end with some stride (a
        # long group of one window can hide the last ones' shorter groups).
        assert all(max(e["end"] for e in c["result"]) > len(LONG) for c in by_stride.values()), (name, s)
        assert any(max(e["end"] for e in c["result"]) > len(LONGER) - 3 for c in by_stride.values()), (name, s)
    # What the pipeline refuses: stride with "none" passed, a stride of the
    # window or more, and (tokenizers) a stride not under the window's room.
    for kw in (dict(stride=8, aggregation_strategy="none"), dict(stride=64, aggregation_strategy="simple"),
               dict(stride=62, aggregation_strategy="simple")):
        try:
            pipe(LONG, **kw)
        except BaseException:  # noqa: BLE001 (ValueError from the pipeline, a Rust panic from tokenizers)
            continue
        raise AssertionError((name, kw, "not refused"))


def main():
    only = sys.argv[1] if len(sys.argv) > 1 else None  # one model's file alone; the others stay as they are
    assert only is None or only in MODELS, (only, MODELS)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    ref_dir = os.path.join(ROOT, "tests", "fixtures", "reference")
    assert transformers.__version__.startswith("5."), transformers.__version__
    for name in MODELS:
        if only and name != only:
            continue
        d = os.path.join(ROOT, "tests", "fixtures", "models", name)
        pipe = pipeline("token-classification", model=d, tokenizer=d, device="cpu", dtype=torch.float32)
        assert next(pipe.model.parameters()).dtype == torch.float32
        labels = [pipe.model.config.id2label[i] for i in range(pipe.model.config.num_labels)]
        cases = []
        for c in cases_for(labels):
            out = plain(pipe(c["text"], **c["kw"]))
            cases.append(dict(name=c["name"], text=c["text"], aggregation_strategy=c["kw"].get("aggregation_strategy"),
                              ignore_labels=c["kw"].get("ignore_labels"), stride=c["kw"].get("stride"), result=out,
                              pipeline=json.dumps(out)))
        check(name, pipe, cases)
        doc = dict(generator=dict(generator_info(), script="models/make_ner_refs.py"), model=name,
                   max_length=pipe.tokenizer.model_max_length, labels=labels, pipeline_cases=cases)
        path = os.path.join(ref_dir, name + ".ner.json")
        dump_json(path, doc)
        print(f"{path}: {len(cases)} cases", file=sys.stderr)


if __name__ == "__main__":
    main()

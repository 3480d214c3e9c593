#!/usr/bin/env python3
"""Dump the references the Python package's tests hold encore to, from
transformers' pipeline and sentence-transformers themselves.

    ENCORE_FIXTURE_PYTHON=/path/to/python   # a Python with models/requirements-fixtures.txt
    python3 models/default/assemble.py --out build/models/encore-sst2-minilm   # the default models
    $ENCORE_FIXTURE_PYTHON models/make_python_refs.py        # rewrites python/tests/reference/

Offline (HF_HUB_OFFLINE=1): it reads the committed fixture directories and the
assembled default models only. For each classifier it records calls of
transformers.pipeline("text-classification", model=DIR) (the inputs, the
call's keyword arguments, those given to pipeline() itself, whether the
inputs came as a generator, and the output exactly as the pipeline returned
it) in <name>.classify.json. Models run in fp32, as encore computes F16 and
BF16 checkpoints. For each
embedding model it records SentenceTransformer(DIR).encode calls in
<name>.encode.json (inputs, arguments, output shape) with the embeddings in
<name>.encode.npz (float32, one array per case). For the embedding models
and tiny-bert-sst it records calls of transformers.pipeline(
"feature-extraction", model=DIR) (every token's last hidden state) in
<name>.features.json (inputs, arguments, the output's nesting and shapes)
with the hidden states in <name>.features.npz (float32, one array per output
item). The tests need neither torch nor transformers.
"""

import argparse
import json
import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "python", "tests", "reference")
FIXTURES = "tests/fixtures/models"
DEFAULTS = "build/models"

# Texts of every kind the tokenizer treats specially, as the C fixtures have.
TEXTS = [
    "This movie is fantastic!",
    "a bleak, joyless and utterly forgettable film .",
    "",
    "   leading and trailing spaces   ",
    "Café crème brûlée, naïve façade",
    "東京 is big; 界 and 龍 and 요 are rare",
    "emoji 🔥🎬 and symbols ©®™ ½",
    "UPPER lower MiXeD",
    "tabs\tand\nnewlines\r\nhere",
    "unbelievably-hyphenated, re-examined, well...",
    "a",
    "it 's a charming and often affecting journey .",
]
PAIRS = [
    {"text": "The plot was thin.", "text_pair": "The acting made up for it."},
    {"text": "Great.", "text_pair": ""},
    {"text": "Café", "text_pair": "東京 🔥"},
]


def long_text(n_words):
    words = "the film keeps surprising us with quiet scenes and sharp dialogue".split()
    return " ".join(words[i % len(words)] for i in range(n_words))


def classify_cases(long):
    """(name, inputs, kwargs, stream) for the text-classification pipeline."""
    return [
        ("single", TEXTS[0], {}, False),
        ("single_empty", "", {}, False),
        ("list", TEXTS, {}, False),
        ("list_of_one", [TEXTS[1]], {}, False),
        ("top_k_1_single", TEXTS[0], {"top_k": 1}, False),
        ("top_k_1_list", TEXTS[:4], {"top_k": 1}, False),
        ("top_k_none_single", TEXTS[4], {"top_k": None}, False),
        ("top_k_none_list", TEXTS, {"top_k": None}, False),
        ("top_k_2_list_of_one", [TEXTS[5]], {"top_k": 2}, False),
        ("sigmoid", TEXTS[:6], {"function_to_apply": "sigmoid"}, False),
        ("none", TEXTS[:6], {"function_to_apply": "none", "top_k": None}, False),
        ("softmax_single", TEXTS[6], {"function_to_apply": "softmax"}, False),
        ("pair_single", PAIRS[0], {}, False),
        ("pair_list", PAIRS, {}, False),
        ("pair_top_k_none", PAIRS[2], {"top_k": None}, False),
        ("truncation", [long, TEXTS[0]], {"truncation": True}, False),
        ("truncation_pair", {"text": long, "text_pair": TEXTS[0]}, {"truncation": True}, False),
        ("batch_size_4", TEXTS, {"batch_size": 4}, False),
        ("generator", TEXTS, {}, True),
        ("generator_top_k_none", TEXTS[:5], {"top_k": None}, True),
        ("generator_pairs", PAIRS, {}, True),
    ]


def encode_cases(long):
    """(name, sentences, kwargs) for SentenceTransformer.encode."""
    texts = TEXTS + [long]
    return [
        ("list", texts, {}),
        ("single", TEXTS[0], {}),
        ("list_of_one", [TEXTS[1]], {}),
        ("normalize", texts, {"normalize_embeddings": True}),
        ("truncate_dim", texts, {"truncate_dim": 16}),
        ("truncate_dim_normalize", texts, {"truncate_dim": 16, "normalize_embeddings": True}),
        ("prompt", texts[:6], {"prompt": "query: "}),
        ("batch_size_3", texts, {"batch_size": 3}),
        ("no_numpy", texts[:3], {"convert_to_numpy": False}),
    ]


def feature_cases(long):
    """(name, inputs, kwargs, stream, pipeline_kwargs) for the feature-extraction
    pipeline. It takes no text pair as an input (a dict or a [[a, b]] list is
    not text to its tokenizer); a pair reaches the tokenizer only as
    tokenize_kwargs' text_pair, the same second text for every input. Calls
    keep transformers' default batch_size of 1: with more, transformers pads
    each batch and returns the padding's hidden states too."""
    return [
        ("single", TEXTS[0], {}, False, {}),
        ("single_empty", "", {}, False, {}),
        ("list", TEXTS, {}, False, {}),
        ("list_of_one", [TEXTS[1]], {}, False, {}),
        ("return_tensors_single", TEXTS[4], {"return_tensors": True}, False, {}),
        ("return_tensors_list", TEXTS[:3], {"return_tensors": True}, False, {}),
        ("return_tensors_false", TEXTS[5], {"return_tensors": False}, False, {}),
        ("tokenize_kwargs_truncation", [long, TEXTS[0]], {"tokenize_kwargs": {"truncation": True}}, False, {}),
        ("tokenize_kwargs_longest_first", long, {"tokenize_kwargs": {"truncation": "longest_first"}}, False, {}),
        ("truncation_argument", long, {"truncation": True}, False, {}),
        ("truncation_short", TEXTS[6], {"tokenize_kwargs": {"truncation": True}}, False, {}),
        ("truncation_false", TEXTS[7], {"tokenize_kwargs": {"truncation": False}}, False, {}),
        ("pair", TEXTS[0], {"tokenize_kwargs": {"text_pair": TEXTS[1]}}, False, {}),
        ("pair_list", TEXTS[4:7], {"tokenize_kwargs": {"text_pair": "and a second text"}}, False, {}),
        ("pair_truncation", long, {"tokenize_kwargs": {"text_pair": TEXTS[0], "truncation": True}}, False, {}),
        ("generator", TEXTS[:5], {}, True, {}),
        ("generator_tensors", TEXTS[:3], {"return_tensors": True}, True, {}),
        ("ctor_truncation", [long, TEXTS[2]], {}, False, {"tokenize_kwargs": {"truncation": True}}),
        ("ctor_return_tensors", TEXTS[0], {}, False, {"return_tensors": True}),
        ("ctor_return_tensors_call_override", TEXTS[0], {"return_tensors": False}, False, {"return_tensors": True}),
        ("too_long", long, {}, False, {}),
    ]


def versions():
    import sentence_transformers
    import tokenizers
    import torch
    import transformers

    return {"torch": torch.__version__, "transformers": transformers.__version__,
            "tokenizers": tokenizers.__version__, "sentence-transformers": sentence_transformers.__version__,
            "numpy": np.__version__}


def dump_classifier(name, rel_dir, long, extra_texts=()):
    import torch
    from transformers import pipeline

    # fp32, as encore computes F16 and BF16 checkpoints (widened at load).
    pipe = pipeline("text-classification", model=os.path.join(ROOT, rel_dir), device="cpu", dtype=torch.float32)
    assert next(pipe.model.parameters()).dtype == torch.float32
    cases = [c + ({},) for c in classify_cases(long)]
    if extra_texts:
        cases.append(("extra_texts", list(extra_texts), {"top_k": None}, False, {}))
    # Arguments given to pipeline() itself become every call's defaults, and
    # transformers then nests a single text's top_k list once more.
    cases += [
        ("ctor_top_k_none_single", TEXTS[0], {}, False, {"top_k": None}),
        ("ctor_top_k_none_list", TEXTS[:3], {}, False, {"top_k": None}),
        ("ctor_top_k_1_single", TEXTS[1], {}, False, {"top_k": 1}),
        ("ctor_top_k_call_override", TEXTS[1], {"top_k": 2}, False, {"top_k": None}),
        ("ctor_sigmoid_single", TEXTS[2], {}, False, {"function_to_apply": "sigmoid"}),
        ("ctor_truncation", long, {}, False, {"truncation": True}),
    ]
    out = []
    for case, inputs, kwargs, stream, ctor in cases:
        p = pipe
        if ctor:
            p = pipeline("text-classification", model=os.path.join(ROOT, rel_dir), device="cpu",
                         dtype=torch.float32, **ctor)
        arg = (x for x in inputs) if stream else inputs
        result = p(arg, **kwargs)
        if stream:
            result = list(result)
        out.append({"name": case, "inputs": inputs, "kwargs": kwargs, "stream": stream, "pipeline_kwargs": ctor,
                    "output": result})
    doc = {"generator": "models/make_python_refs.py", "versions": versions(), "model": rel_dir,
           "task": "text-classification", "cases": out}
    path = os.path.join(OUT, name + ".classify.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print("wrote", path, file=sys.stderr)


def dump_encoder(name, rel_dir, long, truncate_dim):
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(os.path.join(ROOT, rel_dir), device="cpu", model_kwargs={"dtype": torch.float32})
    assert next(model.parameters()).dtype == torch.float32
    cases, arrays = [], {}
    for case, sentences, kwargs in encode_cases(long):
        if "truncate_dim" in kwargs:
            kwargs = dict(kwargs, truncate_dim=truncate_dim)
        result = model.encode(sentences, **kwargs)
        if isinstance(result, list):  # convert_to_numpy=False: a list of tensors
            kind = "list"
            array = np.stack([t.numpy() for t in result])
        else:
            kind = "ndarray"
            array = np.asarray(result)
        arrays[case] = array.astype(np.float32)
        cases.append({"name": case, "inputs": sentences, "kwargs": kwargs, "type": kind,
                      "shape": list(array.shape) if kind == "ndarray" else [len(result)] + list(result[0].shape),
                      "dtype": str(array.dtype)})
    doc = {"generator": "models/make_python_refs.py", "versions": versions(), "model": rel_dir,
           "task": "sentence-transformers encode", "cases": cases}
    with open(os.path.join(OUT, name + ".encode.json"), "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    np.savez_compressed(os.path.join(OUT, name + ".encode.npz"), **arrays)
    print("wrote", name, "encode", file=sys.stderr)


def _structure(result, where):
    """The nesting transformers gave (a list, or a torch tensor) and the
    float32 arrays inside: ('list' | 'tensor', array), checked rectangular."""
    import torch

    if isinstance(result, torch.Tensor):
        assert result.dtype == torch.float32, where
        return "tensor", result.detach().numpy().astype(np.float32)
    assert isinstance(result, list), "%s: %s" % (where, type(result))
    array = np.asarray(result, dtype=np.float64)  # fails unless rectangular
    assert array.ndim == 3 and array.shape[0] == 1, "%s: shape %s" % (where, array.shape)
    assert array.tolist() == result, where  # floats only, nested exactly so
    return "list", array.astype(np.float32)


# Cases of over-long texts left out for the default model, whose 512 tokens
# of hidden states each would only repeat what the fixtures' cases show.
FEATURE_FIXTURE_ONLY = ("tokenize_kwargs_longest_first", "truncation_argument", "ctor_truncation")


def dump_features(name, rel_dir, long, fixture_only=True):
    import torch
    from transformers import pipeline

    def make(ctor):
        return pipeline("feature-extraction", model=os.path.join(ROOT, rel_dir), device="cpu", dtype=torch.float32,
                        **ctor)

    pipe = make({})
    assert next(pipe.model.parameters()).dtype == torch.float32
    cases, arrays = [], {}
    for case, inputs, kwargs, stream, ctor in feature_cases(long):
        if case in FEATURE_FIXTURE_ONLY and not fixture_only:
            continue
        p = make(ctor) if ctor else pipe
        entry = {"name": case, "inputs": inputs, "kwargs": kwargs, "stream": stream, "pipeline_kwargs": ctor}
        try:
            result = p((x for x in inputs) if stream else inputs, **kwargs)
            if stream:
                result = list(result)
        except Exception as e:  # only an over-long text without truncation may fail
            if case != "too_long":
                raise
            entry["error"] = type(e).__name__
            cases.append(entry)
            continue
        items = result if isinstance(inputs, list) else [result]
        assert isinstance(items, list) and len(items) == (len(inputs) if isinstance(inputs, list) else 1), case
        entry["batched"] = isinstance(inputs, list)
        types, shapes = [], []
        for i, item in enumerate(items):
            kind, array = _structure(item, "%s %s[%d]" % (name, case, i))
            types.append(kind)
            shapes.append(list(array.shape))
            arrays["%s/%d" % (case, i)] = array
        assert len(set(types)) == 1, case
        entry["type"] = types[0]
        entry["shapes"] = shapes
        cases.append(entry)
    doc = {"generator": "models/make_python_refs.py", "versions": versions(), "model": rel_dir,
           "task": "feature-extraction", "cases": cases}
    with open(os.path.join(OUT, name + ".features.json"), "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
        f.write("\n")
    np.savez_compressed(os.path.join(OUT, name + ".features.npz"), **arrays)
    print("wrote", name, "features", file=sys.stderr)


def sst2_dev(n):
    path = os.path.join(ROOT, "..", "shared", "data", "sst2", "dev.tsv")
    with open(path, encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t")[0] for line in f][1:]
    return rows[:n]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--skip-default", action="store_true", help="the committed fixtures only")
    ap.add_argument("--only", metavar="NAME",
                    help="dump this fixture model's references alone; the other files stay as they are")
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    fixture_long = long_text(80)  # > 64 tokens, the fixtures' limit
    want = (lambda name: name == args.only) if args.only else (lambda name: True)
    for name in ("tiny-bert-sst", "tiny-distilbert-sst", "tiny-bert-multilabel", "tiny-roberta-sst", "tiny-xlmr-sst",
                 "tiny-mpnet-sst", "tiny-electra-sst", "tiny-deberta-sst"):
        if want(name):
            dump_classifier(name, os.path.join(FIXTURES, name), fixture_long)
    for name in ("tiny-bert-embed", "tiny-distilbert-embed", "tiny-bert-embed-short", "tiny-roberta-embed",
                 "tiny-xlmr-embed", "tiny-mpnet-embed", "tiny-bert-embed-st6", "tiny-electra-embed", "tiny-deberta-embed"):
        if want(name):
            dump_encoder(name, os.path.join(FIXTURES, name), fixture_long, 16)
    for name in ("tiny-bert-embed", "tiny-distilbert-embed", "tiny-bert-sst"):
        if want(name):
            dump_features(name, os.path.join(FIXTURES, name), fixture_long)
    if not args.skip_default and not args.only:
        default_long = long_text(600)  # > 512 tokens
        dump_classifier("encore-sst2-minilm", os.path.join(DEFAULTS, "encore-sst2-minilm"), default_long,
                        extra_texts=sst2_dev(64))
        dump_encoder("all-minilm-l6-v2", os.path.join(DEFAULTS, "all-minilm-l6-v2"), default_long, 128)
        dump_features("all-minilm-l6-v2", os.path.join(DEFAULTS, "all-minilm-l6-v2"), default_long,
                      fixture_only=False)


if __name__ == "__main__":
    main()

"""encore.SentenceEncoder.encode against sentence-transformers' encode, on
the fixtures and the default embedding model (cases from
models/make_python_refs.py). encore.pipeline("feature-extraction") gives
every token's hidden state, as transformers does: test_feature_parity.py."""

import os

import numpy as np
import pytest

import encore
from conftest import ENCODERS, REFERENCE, assert_cosine, load_reference, model_dir

_encoders = {}


def _encoder(name):
    if name not in _encoders:
        _encoders[name] = encore.SentenceEncoder(model_dir(name))
    return _encoders[name]


def _arrays(name):
    path = os.path.join(REFERENCE, name + ".encode.npz")
    if not os.path.isfile(path):
        pytest.fail("reference %s is missing" % path)
    return np.load(path)


def _cases():
    return [pytest.param(name, case, id="%s-%s" % (name, case["name"]))
            for name in ENCODERS for case in load_reference(name + ".encode.json")["cases"]]


@pytest.mark.parametrize("name,case", _cases())
def test_encode_matches_sentence_transformers(name, case):
    ref = _arrays(name)[case["name"]]
    out = _encoder(name).encode(case["inputs"], **case["kwargs"])
    if case["type"] == "list":
        assert isinstance(out, list) and all(isinstance(v, np.ndarray) for v in out)
        assert len(out) == case["shape"][0]
        out = np.stack(out)
    else:
        assert isinstance(out, np.ndarray)
        assert list(out.shape) == case["shape"], "shape %s, sentence-transformers %s" % (out.shape, case["shape"])
    assert out.dtype == np.float32
    assert_cosine(out, ref)


def test_default_embedding_model(monkeypatch):
    monkeypatch.delenv("ENCORE_MODEL", raising=False)
    enc = encore.SentenceEncoder()
    assert enc.model.path.rstrip("/").endswith("all-minilm-l6-v2")
    case = load_reference("all-minilm-l6-v2.encode.json")["cases"][0]
    assert_cosine(enc.encode(case["inputs"]), _arrays("all-minilm-l6-v2")[case["name"]])


def test_progress_bar(capsys):
    case = load_reference("tiny-bert-embed.encode.json")["cases"][0]
    out = _encoder("tiny-bert-embed").encode(case["inputs"], batch_size=2, show_progress_bar=True)
    assert_cosine(out, _arrays("tiny-bert-embed")[case["name"]])
    err = capsys.readouterr().err
    assert "Batches" in err and "7/7" in err, err  # 13 sentences in batches of 2 (tqdm writes to stderr)


def test_prompt_name():
    case = [c for c in load_reference("tiny-bert-embed.encode.json")["cases"] if c["name"] == "prompt"][0]
    enc = encore.SentenceEncoder(model_dir("tiny-bert-embed"), prompts={"query": case["kwargs"]["prompt"]})
    assert_cosine(enc.encode(case["inputs"], prompt_name="query"), _arrays("tiny-bert-embed")["prompt"])
    with pytest.raises(ValueError, match="not found in the configured prompts"):
        enc.encode(case["inputs"], prompt_name="passage")

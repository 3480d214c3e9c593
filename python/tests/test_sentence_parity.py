"""encore.SentenceEncoder.encode against sentence-transformers' encode, on
the fixtures and the default embedding model (cases from
models/make_python_refs.py). encore.pipeline("feature-extraction") gives
every token's hidden state, as transformers does: test_feature_parity.py."""

import os

import numpy as np
import pytest

import encore
from conftest import ENCODERS, FIXTURE_REFERENCE, REFERENCE, assert_cosine, load_reference, model_dir

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


def load_reference_fixture(name):
    """The C suites' reference of a fixture (tests/fixtures/reference), from make_fixtures.py."""
    import json

    path = os.path.join(FIXTURE_REFERENCE, name + ".json")
    if not os.path.isfile(path):
        pytest.fail("reference %s is missing" % path)
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _with_normalize(tmp_path, name, module_type):
    """A copy of fixture `name` whose modules.json ends with a Normalize
    module of the given type name, as sentence-transformers saves one."""
    import json
    import shutil

    d = tmp_path / name
    shutil.copytree(model_dir(name), d)
    modules = json.loads((d / "modules.json").read_text(encoding="utf-8"))
    modules.append({"idx": len(modules), "name": str(len(modules)), "path": "2_Normalize", "type": module_type})
    (d / "modules.json").write_text(json.dumps(modules), encoding="utf-8")
    (d / "2_Normalize").mkdir()
    return str(d)


@pytest.mark.parametrize("name,module_type", [
    # sentence-transformers 6's names (1_Pooling with "pooling_mode": "cls")
    ("tiny-bert-embed-st6", "sentence_transformers.base.modules.normalize.Normalize"),
    # and 5's (1_Pooling with "pooling_mode_mean_tokens": true)
    ("tiny-bert-embed", "sentence_transformers.models.Normalize"),
])
def test_normalize_module_of_either_version(tmp_path, name, module_type):
    # The fixture's pooled embeddings, normalized: what sentence-transformers
    # gives with the Normalize module (encode(normalize_embeddings=True) in
    # the reference). Held to 1e-5 per value, not by cosine, which would not
    # see a missing normalization.
    cases = [c for c in load_reference_fixture(name)["cases"]
             if "embedding_normalized" in c and "\x00" not in c["text"]]  # encore takes C strings
    assert len(cases) > 20
    enc = encore.SentenceEncoder(_with_normalize(tmp_path, name, module_type))
    out = enc.encode([c["text"] for c in cases])
    want = np.array([c["embedding_normalized"] for c in cases], dtype=np.float32)
    assert np.isfinite(out).all() and np.isfinite(want).all()
    np.testing.assert_allclose(out, want, rtol=0, atol=1e-5)
    plain = encore.SentenceEncoder(model_dir(name)).encode([c["text"] for c in cases])
    assert np.abs(plain - want).max() > 1e-2, "the fixture's own embeddings are already unit length"

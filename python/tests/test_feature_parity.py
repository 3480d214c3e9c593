"""encore.pipeline("feature-extraction") against transformers'
pipeline("feature-extraction"): every call recorded by
models/make_python_refs.py (a str, an empty str, lists, a list of one,
return_tensors, tokenize_kwargs' truncation and text_pair, truncation=,
generators, arguments given to pipeline() itself, an over-long text without
truncation) replayed on the embedding fixtures, a classifier's encoder and
the default embedding model. The nesting, lengths and float types must be
transformers' exactly ([1][n_tokens][hidden] per input; float32 numpy
arrays of that shape where transformers gives torch tensors) and every
hidden state within HIDDEN_ATOL."""

import os

import numpy as np
import pytest

import encore
from conftest import REFERENCE, assert_same_output, load_reference, model_dir

FEATURE_MODELS = ["tiny-bert-embed", "tiny-distilbert-embed", "tiny-bert-sst", "all-minilm-l6-v2"]
# fp32 last hidden states, held to 1e-4 as the C fixture tests hold them.
HIDDEN_ATOL = 1e-4

_pipes = {}
_npz = {}


def _pipe(name, **pipeline_kwargs):
    key = (name, repr(sorted(pipeline_kwargs.items())))
    if key not in _pipes:
        _pipes[key] = encore.pipeline("feature-extraction", model=model_dir(name), **pipeline_kwargs)
    return _pipes[key]


def _arrays(name):
    if name not in _npz:
        path = os.path.join(REFERENCE, name + ".features.npz")
        if not os.path.isfile(path):
            pytest.fail("reference %s is missing (models/make_python_refs.py writes it)" % path)
        _npz[name] = np.load(path)
    return _npz[name]


def _expected(name, case):
    """transformers' output items as float32 arrays, checked against the
    shapes the JSON recorded; missing or non-finite data fails."""
    arrays = _arrays(name)
    shapes = case.get("shapes")
    if not shapes:
        pytest.fail("%s %s: no shapes recorded" % (name, case["name"]))
    out = []
    for i, shape in enumerate(shapes):
        key = "%s/%d" % (case["name"], i)
        if key not in arrays:
            pytest.fail("%s: %s is missing from %s.features.npz" % (name, key, name))
        a = arrays[key]
        assert list(a.shape) == shape and a.dtype == np.float32, "%s: %s %s" % (key, a.shape, a.dtype)
        assert np.isfinite(a).all(), "%s: NaN or Inf in the reference" % key
        out.append(a)
    return out


def _cases():
    return [pytest.param(name, case, id="%s-%s" % (name, case["name"]))
            for name in FEATURE_MODELS for case in load_reference(name + ".features.json")["cases"]]


@pytest.mark.parametrize("name,case", _cases())
def test_feature_extraction_matches_transformers(name, case):
    pipe = _pipe(name, **case["pipeline_kwargs"])

    def call():
        out = pipe((x for x in case["inputs"]) if case["stream"] else case["inputs"], **case["kwargs"])
        if case["stream"]:
            assert not isinstance(out, list), "a generator input gives a generator, as in transformers"
            out = list(out)
        return out

    if "error" in case:  # transformers' model failed on it (an over-long text, untruncated)
        with pytest.raises(encore.InputError):
            call()
        return
    out = call()
    ref = _expected(name, case)
    if case["type"] == "list":
        expected = [a.tolist() for a in ref]
        assert_same_output(out, expected if case["batched"] else expected[0], HIDDEN_ATOL)
        return
    assert case["type"] == "tensor", case["type"]
    if case["batched"]:
        assert isinstance(out, list) and len(out) == len(ref), "a list of %d arrays, as transformers' tensors" % len(
            ref)
    else:
        out = [out]
    for i, (a, b) in enumerate(zip(out, ref)):
        assert isinstance(a, np.ndarray) and a.dtype == np.float32, "[%d]: %r" % (i, type(a))
        assert a.shape == b.shape, "[%d]: shape %s, transformers %s" % (i, a.shape, b.shape)
        assert np.isfinite(a).all(), "[%d]: NaN or Inf" % i
        diff = float(np.abs(a - b).max())
        assert diff <= HIDDEN_ATOL, "[%d]: max |diff| %.3g > %g" % (i, diff, HIDDEN_ATOL)


def test_every_model_has_references():
    names = {p.values[0] for p in _cases()}
    assert names == set(FEATURE_MODELS)
    for name in FEATURE_MODELS:
        recorded = {c["name"] for c in load_reference(name + ".features.json")["cases"]}
        for needed in ("single", "list", "list_of_one", "return_tensors_single", "tokenize_kwargs_truncation",
                       "pair", "too_long"):
            assert needed in recorded, "%s: no %s case" % (name, needed)


def test_default_model_when_none(monkeypatch):
    monkeypatch.delenv("ENCORE_MODEL", raising=False)
    pipe = encore.pipeline("feature-extraction")
    assert pipe.model.path.rstrip("/").endswith("all-minilm-l6-v2")
    case = load_reference("all-minilm-l6-v2.features.json")["cases"][0]
    assert case["name"] == "single"
    assert_same_output(pipe(case["inputs"]), _expected("all-minilm-l6-v2", case)[0].tolist(), HIDDEN_ATOL)


def test_batch_size_does_not_change_results():
    case = [c for c in load_reference("tiny-bert-embed.features.json")["cases"] if c["name"] == "list"][0]
    expected = [a.tolist() for a in _expected("tiny-bert-embed", case)]
    for size in (1, 5, 64):
        assert_same_output(_pipe("tiny-bert-embed")(case["inputs"], batch_size=size), expected, HIDDEN_ATOL)


def test_tensors_are_writable_copies():
    out = _pipe("tiny-bert-embed")(["a b", "c"], return_tensors=True)
    out[0][...] = 0  # owned arrays, not views of one shared buffer
    assert np.abs(out[1]).sum() > 0


@pytest.mark.parametrize("bad,kwargs,exc", [
    (None, {}, TypeError),
    (5, {}, TypeError),
    ([], {}, encore.InputError),
    (["a", 3], {}, TypeError),
    ({"text": "a", "text_pair": "b"}, {}, TypeError),
    ([["a", "b"]], {}, TypeError),
    ("\ud800", {}, encore.InputError),
    ("a\x00b", {}, encore.InputError),
    ("a", {"tokenize_kwargs": "truncation"}, TypeError),
    ("a", {"tokenize_kwargs": {"max_length": 8}}, TypeError),
    ("a", {"tokenize_kwargs": {"truncation": True}, "truncation": True}, ValueError),
    ("a", {"tokenize_kwargs": {"truncation": "only_second"}}, ValueError),
    ("a", {"truncation": "sometimes"}, ValueError),
    ("a", {"tokenize_kwargs": {"text_pair": 3}}, TypeError),
    ("a", {"tokenize_kwargs": {"text_pair": "\udc80"}}, encore.InputError),
    ("a", {"normalize": True}, TypeError),
    ("a", {"batch_size": 0}, ValueError),
    ("word " * 200, {}, encore.InputError),
    ("word " * 200, {"tokenize_kwargs": {"truncation": False}}, encore.InputError),
])
def test_bad_inputs_raise(bad, kwargs, exc):
    pipe = _pipe("tiny-bert-embed")
    with pytest.raises(exc):
        pipe(bad, **kwargs)
    # the pipeline still works afterwards
    assert len(pipe("fine")[0]) == len(pipe.model.tokenize("fine").ids)


def test_bad_inputs_in_a_stream_raise():
    pipe = _pipe("tiny-bert-embed")
    with pytest.raises(TypeError):
        list(pipe(x for x in ["a", 3]))
    with pytest.raises(encore.InputError):
        list(pipe(x for x in ["a", "word " * 200]))


def test_bad_pipeline_defaults_raise_at_construction():
    for kwargs, exc in (({"tokenize_kwargs": 5}, TypeError), ({"top_k": 1}, TypeError),
                        ({"tokenize_kwargs": {"truncation": "x"}}, ValueError)):
        with pytest.raises(exc):
            encore.pipeline("feature-extraction", model=model_dir("tiny-bert-embed"), **kwargs)


def test_lowlevel_hidden_states():
    m = encore.Model(model_dir("tiny-bert-sst"))
    s = m.session()
    one = s.hidden_states("a b c")
    assert one.dtype == np.float32 and one.shape == (len(m.tokenize("a b c").ids), m.hidden_size)
    many = s.hidden_states(["a", "b c d"], ["x", None])
    assert [a.shape[0] for a in many] == [len(m.tokenize("a", "x").ids), len(m.tokenize("b c d").ids)]
    with pytest.raises(encore.InputError):
        s.hidden_states([])
    with pytest.raises(TypeError):
        s.hidden_states([b"bytes"])
    with pytest.raises(ValueError):
        s.hidden_states(["a", "b"], ["only one pair"])
    with pytest.raises(ValueError):
        s.hidden_states(["a"], truncation_side="middle")
    with pytest.raises(encore.InputError):
        s.hidden_states(["word " * 200])
    cut = s.hidden_states(["word " * 200], truncation=True)[0]
    assert cut.shape == (m.max_length, m.hidden_size) and np.isfinite(cut).all()

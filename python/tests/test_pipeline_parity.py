"""encore.pipeline("text-classification") against transformers' pipeline:
every call recorded by models/make_python_refs.py (single texts, lists,
lists of one, top_k 1 / None / 2, function_to_apply, text pairs,
truncation, batch sizes, generators, arguments given to pipeline() itself)
replayed, compared for structure, labels and scores."""

import pytest

import encore
from conftest import CLASSIFIERS, LOGIT_ATOL, SCORE_ATOL, assert_same_output, load_reference, model_dir

_pipes = {}


def _pipe(name, **pipeline_kwargs):
    key = (name, tuple(sorted(pipeline_kwargs.items())))
    if key not in _pipes:
        _pipes[key] = encore.pipeline("text-classification", model=model_dir(name), **pipeline_kwargs)
    return _pipes[key]


def _cases():
    out = []
    for name in CLASSIFIERS:
        for case in load_reference(name + ".classify.json")["cases"]:
            out.append(pytest.param(name, case, id="%s-%s" % (name, case["name"])))
    return out


@pytest.mark.parametrize("name,case", _cases())
def test_pipeline_matches_transformers(name, case):
    pipe = _pipe(name, **case["pipeline_kwargs"])
    inputs = (x for x in case["inputs"]) if case["stream"] else case["inputs"]
    out = pipe(inputs, **case["kwargs"])
    if case["stream"]:
        assert not isinstance(out, list), "a generator input gives a generator, as in transformers"
        out = list(out)
    atol = LOGIT_ATOL if case["kwargs"].get("function_to_apply") == "none" else SCORE_ATOL
    assert_same_output(out, case["output"], atol)


def test_every_classifier_has_references():
    names = {p.values[0] for p in _cases()}
    assert names == set(CLASSIFIERS)


def test_sentiment_analysis_is_text_classification():
    ref = load_reference("tiny-bert-sst.classify.json")["cases"][0]
    out = encore.pipeline("sentiment-analysis", model=model_dir("tiny-bert-sst"))(ref["inputs"])
    assert_same_output(out, ref["output"], SCORE_ATOL)


def test_default_model_when_none(monkeypatch):
    monkeypatch.delenv("ENCORE_MODEL", raising=False)
    pipe = encore.pipeline("text-classification")
    assert pipe.model.path.rstrip("/").endswith("encore-sst2-minilm")
    ref = load_reference("encore-sst2-minilm.classify.json")["cases"][0]
    assert_same_output(pipe(ref["inputs"]), ref["output"], SCORE_ATOL)


def test_encore_model_env(monkeypatch):
    monkeypatch.setenv("ENCORE_MODEL", model_dir("tiny-distilbert-sst"))
    assert encore.pipeline("text-classification").model.path == model_dir("tiny-distilbert-sst")

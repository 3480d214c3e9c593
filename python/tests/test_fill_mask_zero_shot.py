"""encore.pipeline("fill-mask") and encore.pipeline("zero-shot-classification")
against transformers' pipelines: every call recorded in
tests/fixtures/reference/tiny-{bert,distilbert}-mlm.json and tiny-bert-nli.json
(models/make_fixtures.py) replayed, compared for structure, tokens, strings,
label order and scores; and their refusals of bad input."""

import json
import os

import pytest

import encore
from conftest import FIXTURE_REFERENCE, SCORE_ATOL, assert_same_output, model_dir

_pipes = {}


def _pipe(task, name):
    if (task, name) not in _pipes:
        _pipes[(task, name)] = encore.pipeline(task, model=model_dir(name))
    return _pipes[(task, name)]


def _cases(name):
    path = os.path.join(FIXTURE_REFERENCE, name + ".json")
    if not os.path.isfile(path):
        pytest.fail("reference %s is missing (models/make_fixtures.py --only %s writes it)" % (path, name))
    with open(path, encoding="utf-8") as f:
        cases = json.load(f)["pipeline_cases"]
    if not cases:
        pytest.fail("reference %s has no cases" % path)
    return [pytest.param(name, c, id="%s-%s" % (name, c["name"])) for c in cases]


@pytest.mark.parametrize("name,case", _cases("tiny-bert-mlm") + _cases("tiny-distilbert-mlm"))
def test_fill_mask_matches_transformers(name, case):
    kwargs = {k: case[k] for k in ("top_k", "targets") if case[k] is not None}
    assert_same_output(_pipe("fill-mask", name)(case["text"], **kwargs), case["result"], SCORE_ATOL)


def test_fill_mask_list_inputs_as_transformers():
    pipe = _pipe("fill-mask", "tiny-bert-mlm")
    cases = {c.values[1]["name"]: c.values[1] for c in _cases("tiny-bert-mlm")}
    one, two = cases["one"], cases["two_masks"]
    # A list of one text gives its result alone; a longer list one per text.
    assert_same_output(pipe([one["text"]]), one["result"], SCORE_ATOL)
    assert_same_output(pipe([one["text"], two["text"]]), [one["result"], two["result"]], SCORE_ATOL)


@pytest.mark.parametrize("name,case", _cases("tiny-bert-nli"))
def test_zero_shot_matches_transformers(name, case):
    kwargs = {k: case[k] for k in ("hypothesis_template", "multi_label") if case[k] is not None}
    out = _pipe("zero-shot-classification", name)(case["text"], candidate_labels=case["candidate_labels"], **kwargs)
    assert_same_output(out, case["result"], SCORE_ATOL)


def test_zero_shot_labels_positional_and_lists_of_texts():
    pipe = _pipe("zero-shot-classification", "tiny-bert-nli")
    case = {c.values[1]["name"]: c.values[1] for c in _cases("tiny-bert-nli")}["default"]
    assert_same_output(pipe(case["text"], case["candidate_labels"]), case["result"], SCORE_ATOL)
    assert_same_output(pipe([case["text"]] * 2, case["candidate_labels"]), [case["result"]] * 2, SCORE_ATOL)


def test_bad_input_raises_with_the_library_message():
    fill = _pipe("fill-mask", "tiny-bert-mlm")
    with pytest.raises(encore.InputError, match="no mask token"):
        fill("no mask here")
    with pytest.raises(encore.InputError, match="no target"):
        fill("a [MASK] film", targets=["  "])
    with pytest.raises(ValueError):
        fill("a [MASK] film", top_k=0)
    zs = _pipe("zero-shot-classification", "tiny-bert-nli")
    with pytest.raises(encore.InputError, match="no candidate labels"):
        zs("a film", candidate_labels=" , ")
    with pytest.raises(encore.InputError, match="hypothesis_template"):
        zs("a film", candidate_labels=["good"], hypothesis_template="no place")
    with pytest.raises(encore.UnsupportedError, match="masked-language-model head"):
        encore.pipeline("fill-mask", model=model_dir("tiny-bert-sst"))("a [MASK] film")
    with pytest.raises(encore.UnsupportedError, match="entail"):
        encore.pipeline("zero-shot-classification", model=model_dir("tiny-bert-sst"))("a film", ["good"])
    with pytest.raises(ValueError, match="no default model"):
        encore.pipeline("fill-mask")

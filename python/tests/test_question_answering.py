"""encore.pipeline("question-answering") against transformers 4.57's
pipeline("question-answering"): every call recorded in
tests/fixtures/reference/tiny-{bert,distilbert}-qa.qa.json
(models/make_qa_refs.py) replayed as it was made (question=/context=
keywords, lists of questions, a list of dicts), compared for structure,
texts, offsets and scores; the other ways transformers takes its inputs;
and the refusals of bad input."""

import json
import os

import pytest

import encore
from conftest import FIXTURE_REFERENCE, SCORE_ATOL, assert_same_output, model_dir

MODELS = ["tiny-bert-qa", "tiny-distilbert-qa", "tiny-roberta-qa", "tiny-xlmr-qa", "tiny-mpnet-qa", "tiny-electra-qa",
          "tiny-deberta-qa"]
_pipes = {}


def _pipe(name):
    if name not in _pipes:
        _pipes[name] = encore.pipeline("question-answering", model=model_dir(name))
    return _pipes[name]


def _load(name):
    path = os.path.join(FIXTURE_REFERENCE, name + ".qa.json")
    if not os.path.isfile(path):
        pytest.fail("reference %s is missing (models/make_qa_refs.py writes it)" % path)
    with open(path, encoding="utf-8") as f:
        cases = json.load(f)["cases"]
    if not cases:
        pytest.fail("reference %s has no cases" % path)
    return cases


def _cases():
    return [pytest.param(name, c, id="%s-%s" % (name, c["name"])) for name in MODELS for c in _load(name)]


def _drop_zero_score_fill(output):
    """The pipeline's output without the zero-score spans at its end: where
    top_k exceeds the spans of non-zero score, numpy's argpartition fills the
    list with arbitrary zero-score spans, and encore stops at the non-zero
    ones. A list of answers keeps its first; a list of lists is trimmed in
    each."""
    if not isinstance(output, list):
        return output
    if output and isinstance(output[0], list):
        return [_drop_zero_score_fill(o) for o in output]
    out = list(output)
    while len(out) > 1 and out[-1]["score"] == 0.0:
        out.pop()
    return out


@pytest.mark.parametrize("name,case", _cases())
def test_matches_transformers(name, case):
    pipe = _pipe(name)
    inputs = case["inputs"]
    if isinstance(inputs, dict):
        ours = pipe(**inputs, **case["parameters"])
    else:
        ours = pipe(inputs, **case["parameters"])
    assert_same_output(ours, _drop_zero_score_fill(case["output"]), SCORE_ATOL)


def test_other_input_forms_as_transformers():
    pipe = _pipe("tiny-bert-qa")
    cases = {c["name"]: c for c in _load("tiny-bert-qa")}
    short = cases["short"]
    q, c = short["inputs"]["question"], short["inputs"]["context"]
    # A dict, a list of one dict, two positional strings: the one result.
    assert_same_output(pipe({"question": q, "context": c}), short["output"], SCORE_ATOL)
    assert_same_output(pipe([{"question": q, "context": c}]), short["output"], SCORE_ATOL)
    assert_same_output(pipe(q, c), short["output"], SCORE_ATOL)
    # Two lists of one length pair up; transformers' deprecated topk= is top_k=.
    several = cases["several_questions"]
    qs = several["inputs"]["question"]
    assert_same_output(pipe(question=qs, context=[c] * len(qs), top_k=2), several["output"], SCORE_ATOL)
    assert_same_output(pipe(question=qs, context=c, topk=2), several["output"], SCORE_ATOL)
    # Defaults given at construction apply to every call.
    pipe2 = encore.pipeline("question-answering", model=model_dir("tiny-bert-qa"), top_k=2)
    assert_same_output(pipe2(question=qs, context=c), several["output"], SCORE_ATOL)


def test_refuses_bad_input():
    pipe = _pipe("tiny-bert-qa")
    with pytest.raises(ValueError, match="`question` cannot be empty"):
        pipe(question="", context="Paris.")
    with pytest.raises(ValueError, match="`context` cannot be None"):
        pipe({"question": "Who?", "context": None})
    with pytest.raises(KeyError):
        pipe({"question": "Who?"})
    with pytest.raises(ValueError, match="same lengths"):
        pipe(question=["a?", "b?"], context=["x"])
    with pytest.raises(ValueError, match="top_k"):
        pipe(question="Who?", context="Paris.", top_k=0)
    with pytest.raises(ValueError, match="max_answer_len"):
        pipe(question="Who?", context="Paris.", max_answer_len=0)
    with pytest.raises(ValueError, match="doc_stride"):
        pipe(question="Who?", context="Paris.", max_seq_len=16, doc_stride=17)
    # A stride the question leaves no room for, a question that leaves the
    # context none, a context of spaces: encore.InputError (a ValueError).
    with pytest.raises(encore.InputError, match="stride"):
        pipe(question="Who?", context="One two three four five six seven eight nine ten eleven twelve.",
             max_seq_len=16, doc_stride=12)
    with pytest.raises(encore.InputError, match="no room"):
        pipe(question="Who watched the harbour through binoculars every single evening?",
             context="One two three four five six seven eight nine ten eleven twelve.", max_seq_len=16, doc_stride=2)
    with pytest.raises(encore.InputError, match="no tokens"):
        pipe(question="Who?", context="   ")
    with pytest.raises(TypeError):
        pipe(question="Who?", context="Paris.", no_such_option=1)
    with pytest.raises(ValueError, match="no default model"):
        encore.pipeline("question-answering")
    with pytest.raises(encore.UnsupportedError, match="not a question-answering model"):
        encore.pipeline("question-answering", model=model_dir("tiny-bert-ner"))(question="Who?", context="Paris.")

"""encore.pipeline("token-classification") (alias "ner") against transformers'
pipeline("token-classification"): every call recorded in
tests/fixtures/reference/tiny-{bert,distilbert,mpnet,electra}-ner.ner.json
(models/make_ner_refs.py) replayed and compared for structure, keys and
their order, labels, words, offsets and index exactly, scores within 1e-5
and of numpy float32 type, as transformers gives them; and its refusals of
bad input."""

import json
import math
import os

import numpy as np
import pytest

import encore
from conftest import FIXTURE_REFERENCE, SCORE_ATOL, model_dir

_pipes = {}


def _pipe(name, task="token-classification"):
    if (task, name) not in _pipes:
        _pipes[(task, name)] = encore.pipeline(task, model=model_dir(name))
    return _pipes[(task, name)]


def _load(name):
    path = os.path.join(FIXTURE_REFERENCE, name + ".ner.json")
    if not os.path.isfile(path):
        pytest.fail("reference %s is missing (models/make_ner_refs.py writes it)" % path)
    with open(path, encoding="utf-8") as f:
        cases = json.load(f)["pipeline_cases"]
    if not cases:
        pytest.fail("reference %s has no cases" % path)
    return cases


def _cases(name):
    return [pytest.param(name, c, id="%s-%s" % (name, c["name"])) for c in _load(name)]


def _assert_entities(ours, ref, where):
    assert isinstance(ours, list), "%s: a list in transformers, %s here" % (where, type(ours).__name__)
    assert len(ours) == len(ref), "%s: %d entities in transformers, %d here" % (where, len(ref), len(ours))
    for i, (a, b) in enumerate(zip(ours, ref)):
        at = "%s[%d]" % (where, i)
        assert list(a) == list(b), "%s: keys %s, transformers %s" % (at, list(a), list(b))
        for k in b:
            if k == "score":
                # transformers' scores are numpy float32 (json.dumps refuses them, as it does ours)
                assert type(a[k]) is np.float32, "%s: score %r is not numpy float32" % (at, a[k])
                assert math.isfinite(a[k]) and abs(float(a[k]) - b[k]) <= SCORE_ATOL, "%s: %r vs %r" % (
                    at, a[k], b[k])
            else:
                assert type(a[k]) is type(b[k]) and a[k] == b[k], "%s[%r]: %r vs transformers %r" % (
                    at, k, a[k], b[k])


@pytest.mark.parametrize("name,case", [c for name in ("tiny-bert-ner", "tiny-distilbert-ner", "tiny-mpnet-ner",
                                                      "tiny-electra-ner", "tiny-deberta-ner") for c in _cases(name)])
def test_ner_matches_transformers(name, case):
    kwargs = {k: case[k] for k in ("aggregation_strategy", "ignore_labels", "stride") if case[k] is not None}
    _assert_entities(_pipe(name)(case["text"], **kwargs), case["result"], case["name"])


def test_lists_defaults_and_the_ner_alias():
    cases = {c["name"]: c for c in _load("tiny-distilbert-ner")}
    pipe = _pipe("tiny-distilbert-ner", "ner")
    one, two = cases["names/none"], cases["accents/none"]
    # A list gives one list per text, also for one text (as transformers).
    out = pipe([one["text"]])
    assert len(out) == 1
    _assert_entities(out[0], one["result"], "list of one")
    out = pipe((one["text"], two["text"]))
    _assert_entities(out[0], one["result"], "tuple[0]")
    _assert_entities(out[1], two["result"], "tuple[1]")
    # A generator streams.
    out = list(pipe(t for t in (one["text"], two["text"])))
    _assert_entities(out[1], two["result"], "generator[1]")
    # Construction arguments become the defaults; a call's own override them.
    grouped = encore.pipeline("ner", model=model_dir("tiny-distilbert-ner"), aggregation_strategy="MAX",
                              ignore_labels=[])
    _assert_entities(grouped(cases["subwords/max/all"]["text"]), cases["subwords/max/all"]["result"], "defaults")
    _assert_entities(grouped(one["text"], aggregation_strategy="none", ignore_labels=["O"]), one["result"],
                     "overridden")


def test_refuses_bad_input():
    pipe = _pipe("tiny-bert-ner")
    with pytest.raises(encore.InputError, match="aggregation strategy"):
        pipe("Paris", aggregation_strategy="mean")
    with pytest.raises(TypeError):
        pipe("Paris", aggregation_strategy=3)
    with pytest.raises(TypeError):
        pipe("Paris", ignore_labels="O")
    with pytest.raises(TypeError):
        pipe("Paris", ignore_labels=["O", 3])
    with pytest.raises(TypeError, match="unexpected"):
        pipe("Paris", is_split_into_words=True)
    # stride: not with "none" passed (as transformers), not the window or more
    with pytest.raises(ValueError, match="stride"):
        pipe("Paris", aggregation_strategy="none", stride=8)
    with pytest.raises(encore.InputError, match="stride"):
        pipe("Paris", aggregation_strategy="simple", stride=64)
    with pytest.raises(encore.InputError, match="stride"):
        pipe("Paris " * 80, aggregation_strategy="simple", stride=62)
    with pytest.raises(ValueError, match="stride"):
        pipe("Paris", aggregation_strategy="simple", stride=-1)
    with pytest.raises(ValueError):
        pipe([])
    with pytest.raises(TypeError):
        pipe(None)
    with pytest.raises(TypeError):
        pipe(b"Paris")
    with pytest.raises(encore.InputError):
        pipe("lone \ud800 surrogate")
    with pytest.raises(encore.InputError):
        pipe("nul \x00 inside")
    with pytest.raises(ValueError, match="no default model"):
        encore.pipeline("token-classification")
    # Models without a token classifier fail at construction.
    for other in ("tiny-bert-sst", "tiny-bert-qa", "tiny-bert-mlm"):
        with pytest.raises(encore.UnsupportedError, match="token classifier"):
            encore.pipeline("ner", model=model_dir(other))

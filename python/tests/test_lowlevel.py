"""encore.Model / encore.Session against the C suite's fixture references
(tests/fixtures/reference, dumped from Hugging Face by
models/make_fixtures.py): token ids, type ids, tokens, character offsets
and sequence ids identical to the tokenizer's; logits within 1e-4 of the
model's; embeddings within 1e-5 of sentence-transformers'; and the
pipeline's JSON for each of the 44 texts."""

import json
import os

import numpy as np
import pytest

import encore
from conftest import FIXTURE_REFERENCE, LOGIT_ATOL, SCORE_ATOL, assert_same_output, model_dir

# Embeddings within 1e-5 elementwise, as the C fixture tests hold them
# (hidden 32, |x| ~1: fp32 sums in another order move them by ~1e-7).
EMBED_ATOL = 1e-5


def _reference(name):
    path = os.path.join(FIXTURE_REFERENCE, name + ".json")
    if not os.path.isfile(path):
        pytest.fail("fixture reference %s is missing" % path)
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    assert doc["cases"], path
    return doc


_models, _sessions = {}, {}


def _model(name):
    if name not in _models:
        _models[name] = encore.Model(model_dir(name))
        _sessions[name] = _models[name].session(threads=1)
    return _models[name], _sessions[name]


def _cases(names):
    return [pytest.param(n, c, id="%s-%s" % (n, c["name"])) for n in names for c in _reference(n)["cases"]]


def _has_nul(case):
    """A text with U+0000, which a C string cannot carry: encore refuses it
    (the C suite skips these cases; here each must raise InputError)."""
    if "\x00" not in case["text"] + (case["text_pair"] or ""):
        return False
    model, session = _model("tiny-bert-sst")
    with pytest.raises(encore.InputError, match="U\\+0000"):
        model.tokenize(case["text"], case["text_pair"])
    with pytest.raises(encore.InputError, match="U\\+0000"):
        session.scores([case["text"]], [case["text_pair"]])
    return True


CLASSIFY = ["tiny-bert-sst", "tiny-distilbert-sst", "tiny-bert-multilabel"]
EMBED = ["tiny-bert-embed", "tiny-distilbert-embed", "tiny-bert-embed-short"]


@pytest.mark.parametrize("name,case", _cases(CLASSIFY + EMBED))
def test_tokenize_matches_tokenizer(name, case):
    model, _ = _model(name)
    task = "classify" if name in CLASSIFY else "embed"
    if _has_nul(case):
        return
    if case["too_long"]:
        with pytest.raises(encore.InputError) as e:
            model.tokenize(case["text"], case["text_pair"], task=task, truncation=False)
        assert isinstance(e.value, ValueError) and e.value.status == "input too long"
        return
    enc = model.tokenize(case["text"], case["text_pair"], task=task, truncation=case["truncation"])
    assert enc.ids.tolist() == case["ids"]
    assert enc.type_ids.tolist() == case["type_ids"]
    assert enc.tokens == case["tokens"]
    assert enc.byte_offsets.tolist() == case["offsets"]  # the fixtures keep the tokenizer's offsets in bytes
    # ... and as characters (Hugging Face's offset_mapping), converted here independently.
    texts = {0: case["text"], 1: case["text_pair"]}
    chars = [[0, 0] if s < 0 else [len(texts[s].encode()[:a].decode()), len(texts[s].encode()[:b].decode())]
             for (a, b), s in zip(case["offsets"], enc.sequence_ids.tolist())]
    assert enc.offsets.tolist() == chars
    assert enc.sequence_ids.tolist() == [-1 if s is None else s for s in case["sequence_ids"]]
    assert enc.word_ids.tolist() == case["word_ids"]
    assert enc.truncated == case["truncation"] or not enc.truncated


@pytest.mark.parametrize("name,case", _cases(CLASSIFY))
def test_logits_scores_and_pipeline(name, case):
    if case["too_long"] or _has_nul(case):
        return  # no reference output: transformers cannot run it untruncated (the tokenize test covers it)
    model, session = _model(name)
    logits = session.logits(case["text"], case["text_pair"], truncation=case["truncation"])
    np.testing.assert_allclose(logits, case["logits"], rtol=0, atol=LOGIT_ATOL)
    scores = session.scores(case["text"], case["text_pair"], truncation=case["truncation"])
    np.testing.assert_allclose(scores, case["scores"], rtol=0, atol=SCORE_ATOL)
    if case["text_pair"] is None:
        pipe = encore.pipeline("text-classification", model=model, threads=1)
        assert_same_output(pipe(case["text"], truncation=case["truncation"]), json.loads(case["pipeline"]),
                           SCORE_ATOL)
        assert_same_output(pipe(case["text"], top_k=None, truncation=case["truncation"]),
                           json.loads(case["pipeline_top_k_all"]), SCORE_ATOL)


@pytest.mark.parametrize("name,case", _cases(EMBED))
def test_embeddings(name, case):
    if case["too_long"] or _has_nul(case) or case["text_pair"] is not None:
        return  # no reference: sentence-transformers embeds single texts (the tokenize test covers pairs)
    _, session = _model(name)
    keys = (("embedding", {}), ("embedding_normalized", {"normalize": True}),
            ("embedding_mean", {"pooling": "mean"}), ("embedding_cls", {"pooling": "cls"}))
    for key in ("embedding", "embedding_normalized"):
        if case.get(key) is None:
            pytest.fail("reference key %s missing in %s" % (key, case["name"]))
    for key, kwargs in keys:
        if key not in case:
            continue  # the pooling variants are dumped for some models only
        out = session.embed(case["text"], **kwargs)
        assert out.shape == (len(case[key]),) and out.dtype == np.float32
        np.testing.assert_allclose(out, case[key], rtol=0, atol=EMBED_ATOL, err_msg=key)


def test_model_properties():
    model, session = _model("tiny-bert-multilabel")
    assert model.labels == _reference("tiny-bert-multilabel")["labels"]
    assert (model.n_labels, model.hidden_size, model.n_layers, model.max_length) == (3, 32, 2, 64)
    assert model.score_function == "sigmoid" and model.task == "classify"
    assert model.architecture == "BertForSequenceClassification"
    assert session.device == "cpu"
    embed, _ = _model("tiny-bert-embed-short")
    assert (embed.task, embed.n_labels, embed.max_length, embed.embed_max_length) == ("embed", 0, 64, 16)
    assert _model("tiny-distilbert-embed")[0].pooling == "cls"


def test_batch_equals_single():
    _, session = _model("tiny-bert-sst")
    texts = [c["text"] for c in _reference("tiny-bert-sst")["cases"]
             if not c["too_long"] and not c["text_pair"] and "\x00" not in c["text"]]
    batch = session.logits(texts, truncation=True)
    single = np.stack([session.logits(t, truncation=True) for t in texts])
    assert batch.shape == (len(texts), 2)
    np.testing.assert_array_equal(batch, single)  # bitwise: a text's result does not depend on its batch


def test_weights_bf16_int8_load():
    d = model_dir("tiny-bert-sst")
    ref = _reference("tiny-bert-sst")["cases"][0]
    for weights, atol in (("bf16", 0.05), ("int8", 0.1)):  # README: bf16/int8 move scores by up to ~1e-2
        s = encore.Model(d, weights=weights).session()
        np.testing.assert_allclose(s.scores(ref["text"]), ref["scores"], atol=atol)

"""Bad input raises a Python exception with the C library's message, never
crashes: None, bytes, lone surrogates, empty lists, nested wrong types,
U+0000, over-long text without truncation, missing and broken models, bad
arguments. encore.Error is the base; each also derives from the built-in
exception that fits (FileNotFoundError, ValueError, TypeError for types)."""

import os
import shutil

import numpy as np
import pytest

import encore
from conftest import model_dir

LONG = "word " * 200  # > 64 tokens, the fixtures' limit


@pytest.fixture(scope="module")
def pipe():
    return encore.pipeline("text-classification", model=model_dir("tiny-bert-sst"))


@pytest.fixture(scope="module")
def encoder():
    return encore.SentenceEncoder(model_dir("tiny-bert-embed"))


@pytest.mark.parametrize("bad,exc", [
    (None, TypeError),
    (b"bytes", TypeError),
    (bytearray(b"x"), TypeError),
    (42, TypeError),
    (3.5, TypeError),
    ([], ValueError),
    ((), ValueError),
    (["ok", None], TypeError),
    (["ok", b"bytes"], TypeError),
    (["ok", 1], TypeError),
    ([["nested", "list", "of three"]], ValueError),
    ([[1, 2]], ValueError),
    ([{"text": 1}], TypeError),
    ([{"text": "a", "text_pair": 2}], TypeError),
    ({"txt": "typo"}, ValueError),
    ({"text": "a", "extra": "b"}, ValueError),
    ("lone \ud800 surrogate", encore.InputError),
    (["fine", "lone \udfff"], encore.InputError),
    ({"text": "a", "text_pair": "\ud83d"}, encore.InputError),
    ("nul \x00 inside", encore.InputError),
    (LONG, encore.InputError),
])
def test_pipeline_bad_inputs(pipe, bad, exc):
    with pytest.raises(exc) as e:
        pipe(bad)
    assert str(e.value)
    # The pipeline still works afterwards.
    assert pipe("fine")[0]["label"] in ("NEGATIVE", "POSITIVE")


def test_bad_item_in_generator_raises_when_reached(pipe):
    out = pipe(x for x in ["good", None])
    with pytest.raises(TypeError):
        list(out)


def test_error_hierarchy_and_message(pipe):
    with pytest.raises(encore.Error) as e:
        pipe(LONG)  # transformers fails on over-long input without truncation too
    assert isinstance(e.value, ValueError) and isinstance(e.value, encore.InputError)
    assert e.value.status == "input too long"
    assert "64" in str(e.value)  # the C message names the limit
    assert pipe(LONG, truncation=True)[0]["label"]
    with pytest.raises(encore.InputError, match="lone surrogate"):
        pipe("\ud800")


@pytest.mark.parametrize("kwargs,exc", [
    ({"top_k": 0}, ValueError),
    ({"top_k": "3"}, TypeError),
    ({"function_to_apply": "relu"}, ValueError),
    ({"function_to_apply": 3}, ValueError),
    ({"truncation": "only_second"}, ValueError),
    ({"truncation": 7}, ValueError),
    ({"batch_size": 0}, ValueError),
    ({"batch_size": "8"}, ValueError),
    ({"no_such_argument": 1}, TypeError),
])
def test_pipeline_bad_arguments(pipe, kwargs, exc):
    with pytest.raises(exc):
        pipe("text", **kwargs)


def test_missing_model_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        encore.pipeline("text-classification", model=str(tmp_path / "nowhere"))
    assert isinstance(e.value, encore.ModelFileError) and isinstance(e.value, encore.Error)
    assert "nowhere" in str(e.value)
    with pytest.raises(encore.ModelFileError):
        encore.Model(tmp_path)  # a directory without config.json


def test_default_model_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("ENCORE_MODEL", str(tmp_path / "absent"))
    with pytest.raises(FileNotFoundError, match="absent"):
        encore.pipeline("text-classification")


def test_broken_model_is_value_error(tmp_path):
    d = tmp_path / "broken"
    shutil.copytree(model_dir("tiny-bert-sst"), d)
    (d / "config.json").write_text("{ not json")
    with pytest.raises(encore.ModelError) as e:
        encore.Model(d)
    assert isinstance(e.value, ValueError) and e.value.status == "bad model"
    (d / "config.json").write_text('{"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2"}')
    with pytest.raises(encore.Error) as e:
        encore.Model(d)
    assert isinstance(e.value, ValueError)
    with open(d / "model.safetensors", "r+b") as f:  # a truncated checkpoint
        f.truncate(100)
    shutil.copy(os.path.join(model_dir("tiny-bert-sst"), "config.json"), d / "config.json")
    with pytest.raises(encore.ModelError):
        encore.Model(d)


@pytest.mark.parametrize("bad,exc", [
    (None, TypeError), (b"x", TypeError), ([], ValueError), ([None], TypeError), ([["a"]], TypeError),
    ("\ud800", encore.InputError), ({"text": "a"}, TypeError), (["a", 3], TypeError),
])
def test_encode_bad_inputs(encoder, bad, exc):
    with pytest.raises(exc):
        encoder.encode(bad)
    assert encoder.encode("fine").shape == (32,)


@pytest.mark.parametrize("kwargs,exc", [
    ({"batch_size": 0}, ValueError), ({"truncate_dim": 0}, ValueError), ({"precision": "int8"}, ValueError),
    ({"output_value": "token_embeddings"}, ValueError), ({"convert_to_tensor": True}, ValueError),
    ({"prompt_name": "nope"}, ValueError), ({"prompt": 5}, TypeError), ({"device": "cuda"}, ValueError),
])
def test_encode_bad_arguments(encoder, kwargs, exc):
    with pytest.raises(exc):
        encoder.encode(["a"], **kwargs)


def test_feature_extraction_bad_inputs():
    fx = encore.pipeline("feature-extraction", model=model_dir("tiny-bert-embed"))
    for bad, exc in ((None, TypeError), ([], ValueError), ([{"text": "a"}], TypeError), ("\ud800", ValueError)):
        with pytest.raises(exc):
            fx(bad)
    with pytest.raises(ValueError):
        fx("a", truncation="sometimes")


def test_wrong_task_for_model():
    with pytest.raises(encore.InputError, match="feature-extraction"):
        encore.pipeline("text-classification", model=model_dir("tiny-bert-embed"))
    with pytest.raises(ValueError, match="unknown task"):
        encore.pipeline("summarization", model=model_dir("tiny-bert-sst"))
    s = encore.Model(model_dir("tiny-bert-embed")).session()
    with pytest.raises(encore.InputError, match="no classification head"):
        s.logits(["a"])


@pytest.mark.parametrize("kwargs,exc", [
    ({"device": "tpu"}, ValueError), ({"device": 0}, TypeError), ({"precision": "fp8"}, ValueError),
    ({"threads": 0}, ValueError), ({"threads": -2}, ValueError), ({"threads": "2"}, ValueError),
    ({"weights": "fp4"}, ValueError),
])
def test_bad_construction_arguments(kwargs, exc):
    with pytest.raises(exc):
        encore.pipeline("text-classification", model=model_dir("tiny-bert-sst"), **kwargs)


def test_lowlevel_bad_inputs():
    m = encore.Model(model_dir("tiny-bert-sst"))
    s = m.session()
    with pytest.raises(TypeError):
        m.tokenize(None)
    with pytest.raises(TypeError):
        m.tokenize(b"x")
    with pytest.raises(encore.InputError):
        m.tokenize("\udc80")
    with pytest.raises(ValueError):
        m.tokenize("a", task="translate")
    with pytest.raises(TypeError):
        encore.Model(b"/bytes/path")
    with pytest.raises(TypeError):
        encore.Session("not a model")
    with pytest.raises(ValueError):
        s.scores(["a", "b"], ["only one pair"])
    with pytest.raises(ValueError):
        s.embed(["a"], pooling="max")
    assert m.tokenize("a").ids.dtype == np.int32
    # The lists of str the pipeline calls take: None or a list, nothing else.
    mlm = encore.Model(model_dir("tiny-bert-mlm")).session()
    with pytest.raises(TypeError, match="targets must be None or a list of str"):
        mlm.fill_mask("a [MASK] film", targets="good")
    with pytest.raises(TypeError):
        mlm.fill_mask("a [MASK] film", targets=["good", 3])
    ner = encore.Model(model_dir("tiny-bert-ner")).session()
    with pytest.raises(TypeError, match="ignore_labels must be None or a list of str"):
        ner.token_classify("Paris", ignore_labels="O")
    with pytest.raises(encore.InputError):
        ner.token_classify("Paris", ignore_labels=["\udc80"])
    assert isinstance(ner.token_classify("Paris", ignore_labels=[]), list)
    assert m._model.token(10**12) is None and m._model.token(-1) is None


@pytest.mark.parametrize("task,needs", [
    ("fill-mask", r"\*ForMaskedLM: BERT, DistilBERT, RoBERTa or XLM-RoBERTa"),
    ("zero-shot-classification", "NLI sequence classifier"),
    ("ner", r"\*ForTokenClassification directory: BERT, DistilBERT, RoBERTa or XLM-RoBERTa"),
    ("question-answering", r"\*ForQuestionAnswering: BERT, DistilBERT, RoBERTa or XLM-RoBERTa"),
])
def test_task_pipelines_have_no_default_model(task, needs):
    """The text-classification and feature-extraction pipelines fall back to
    the default models; the others need a model and say which kind."""
    with pytest.raises(ValueError, match="has no default model: pass model=DIR .*" + needs):
        encore.pipeline(task)

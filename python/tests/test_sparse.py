"""Session.embed_sparse against sentence-transformers' SparseEncoder, on the
tiny-*-splade fixtures (models/make_fixtures.py writes their weights to
tests/fixtures/reference/*.splade.safetensors)."""

import json
import os
import struct

import numpy as np
import pytest

import encore
from conftest import FIXTURE_REFERENCE, model_dir

SPLADE = ["tiny-bert-splade", "tiny-distilbert-splade"]
WEIGHT_ATOL = 1e-4  # the C suite's (tests/test_sparse.cc)


def _safetensors_f32(path):
    """{name: float32 array} of a safetensors file of F32 tensors."""
    if not os.path.isfile(path):
        pytest.fail("reference %s is missing (models/make_fixtures.py writes it)" % path)
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", (name, t["dtype"])
        a, b = t["data_offsets"]
        out[name] = np.frombuffer(data[8 + n + a:8 + n + b], dtype="<f4").reshape(t["shape"])
    return out


def _reference(name):
    with open(os.path.join(FIXTURE_REFERENCE, name + ".json"), encoding="utf-8") as f:
        doc = json.load(f)
    weights = _safetensors_f32(os.path.join(FIXTURE_REFERENCE, name + ".splade.safetensors"))
    cases = [c for c in doc["cases"] if c.get("splade") and "\x00" not in c["text"]]
    if len(cases) < 20:
        pytest.fail("%s: only %d SPLADE cases" % (name, len(cases)))
    return doc, cases, weights


@pytest.mark.parametrize("name", SPLADE)
def test_embed_sparse_matches_sparse_encoder(name):
    doc, cases, weights = _reference(name)
    model = encore.Model(model_dir(name))
    assert model.is_sparse and model.vocab_size == doc["vocab_size"]
    session = model.session(threads=1)
    texts = [c["text"] for c in cases]
    batch = session.embed_sparse(texts)
    assert batch.shape == (len(texts), model.vocab_size) and batch.dtype == np.float32
    for i, c in enumerate(cases):
        want = weights[c["splade"]]
        one = session.embed_sparse(c["text"])
        assert one.shape == (model.vocab_size,)
        for got in (one, batch[i]):
            assert np.isfinite(got).all()
            np.testing.assert_allclose(got, want, atol=WEIGHT_ATOL, rtol=1e-5, err_msg=c["name"])
        assert np.count_nonzero(one) > 10


def test_splade_flag_and_refusals(tmp_path):
    mlm = encore.Model(model_dir("tiny-bert-mlm"))
    assert not mlm.is_sparse
    with pytest.raises(encore.UnsupportedError, match="not a SPLADE model"):
        mlm.session().embed_sparse("a fine film")
    forced = encore.Model(model_dir("tiny-bert-mlm"), splade=True)
    assert forced.is_sparse
    w = forced.session().embed_sparse(["a fine film", "dull"])
    assert w.shape == (2, forced.vocab_size) and (w >= 0).all() and np.count_nonzero(w[0]) > 10
    with pytest.raises(encore.UnsupportedError, match="masked-language-model head"):
        encore.Model(model_dir("tiny-bert-embed"), splade=True)


@pytest.mark.parametrize("name", SPLADE)
def test_sparse_encoder_encode_decode_similarity(name):
    doc, cases, weights = _reference(name)
    enc = encore.SparseEncoder(model_dir(name))
    assert enc.get_sentence_embedding_dimension() == doc["vocab_size"]
    texts = [c["text"] for c in cases]
    want = np.stack([weights[c["splade"]] for c in cases])
    got = enc.encode(texts, batch_size=7)
    assert got.shape == want.shape and got.dtype == np.float32
    np.testing.assert_allclose(got, want, atol=WEIGHT_ATOL, rtol=1e-5)
    np.testing.assert_allclose(enc.encode(texts[3]), want[3], atol=WEIGHT_ATOL, rtol=1e-5)
    # The fixtures' prompts are empty, as SparseEncoder.save writes them.
    np.testing.assert_array_equal(enc.encode_query(texts[:4]), got[:4])
    np.testing.assert_array_equal(enc.encode_document(texts[:4]), got[:4])
    # max_active_dims keeps each row's k largest weights.
    k = 7
    top = enc.encode(texts[:5], max_active_dims=k)
    for row, full in zip(top, got[:5]):
        assert np.count_nonzero(row) == k
        keep = np.flatnonzero(row)
        assert set(keep) == set(np.argsort(-full, kind="stable")[:k])
        np.testing.assert_array_equal(row[keep], full[keep])
    # decode: the tokens of the weights that are not 0, largest first.
    model = encore.Model(model_dir(name))
    pairs = enc.decode(got[0])
    assert len(pairs) == np.count_nonzero(got[0])
    assert [w for _, w in pairs] == sorted((w for _, w in pairs), reverse=True)
    assert {t for t, _ in pairs} == {model._model.token(int(i)) for i in np.flatnonzero(got[0])}
    assert enc.decode(got[:2], top_k=3)[1] == enc.decode(got[1])[:3]
    # against SparseEncoder.decode(top_k=10) on the reference weights
    for c, row in zip(cases, got):
        ours = enc.decode(row, top_k=10)
        assert [t for t, _ in ours] == [t for t, _ in c["decode_top10"]], c["name"]
        np.testing.assert_allclose([w for _, w in ours], [w for _, w in c["decode_top10"]], atol=WEIGHT_ATOL)
    # similarity: dot products.
    np.testing.assert_allclose(enc.similarity(got[:3], got[:4]), got[:3] @ got[:4].T, rtol=1e-6)


def test_sparse_encoder_refusals():
    with pytest.raises(encore.UnsupportedError, match="not a SPLADE model"):
        encore.SparseEncoder(model_dir("tiny-bert-mlm"))
    assert encore.SparseEncoder(model_dir("tiny-bert-mlm"), splade=True).encode("fine").shape[0] > 100
    with pytest.raises(encore.UnsupportedError, match="SparseEncoder"):
        encore.SentenceEncoder(model_dir("tiny-bert-splade"))
    enc = encore.SparseEncoder(model_dir("tiny-bert-splade"))
    with pytest.raises(ValueError):
        enc.encode("a", max_active_dims=0)
    with pytest.raises(ValueError):
        enc.encode("a", prompt_name="nope")
    with pytest.raises(encore.InputError):
        enc.encode([])
    with pytest.raises(ValueError):
        enc.decode(np.zeros(3))

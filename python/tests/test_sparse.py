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

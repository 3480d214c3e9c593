"""Shared paths and comparisons for encore's Python tests.

The tests import the installed package (the wheel), never python/encore
from the source tree; they read the references under python/tests/reference
(dumped from transformers and sentence-transformers by
models/make_python_refs.py), the fixture models under tests/fixtures, and
the default models assembled under build/models. A missing reference file or
model fails the test that needs it; nothing is skipped.
"""

import json
import math
import os

import numpy as np
import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.environ.get("ENCORE_REPO") or os.path.dirname(os.path.dirname(HERE))
REFERENCE = os.path.join(HERE, "reference")
FIXTURE_MODELS = os.path.join(REPO, "tests", "fixtures", "models")
FIXTURE_REFERENCE = os.path.join(REPO, "tests", "fixtures", "reference")
DEFAULT_MODELS = os.path.join(REPO, "build", "models")
SST2 = os.environ.get("ENCORE_SST2_DIR") or os.path.join(REPO, "..", "shared", "data", "sst2")

CLASSIFIERS = ["tiny-bert-sst", "tiny-distilbert-sst", "tiny-bert-multilabel", "tiny-roberta-sst", "tiny-xlmr-sst",
               "tiny-mpnet-sst", "tiny-electra-sst", "tiny-deberta-sst", "encore-sst2-minilm"]
ENCODERS = ["tiny-bert-embed", "tiny-distilbert-embed", "tiny-bert-embed-short", "tiny-roberta-embed", "tiny-xlmr-embed",
            "tiny-mpnet-embed", "tiny-bert-embed-st6", "tiny-electra-embed", "tiny-deberta-embed", "all-minilm-l6-v2"]

# Scores: transformers' pipeline scores within 1e-5, the project's bar for
# fp32 scores (softmax/sigmoid outputs lie in [0, 1]; fp32 GEMMs summed in
# another order move them by ~1e-7). The "none" function gives raw logits,
# held to 1e-4 as the C fixture tests hold logits (|logit| up to ~10).
SCORE_ATOL = 1e-5
LOGIT_ATOL = 1e-4
# Embeddings: cosine >= 0.99999 to sentence-transformers', the project's bar.
MIN_COSINE = 0.99999


def model_dir(name):
    """A fixture or default model directory; fails when it is missing."""
    d = os.path.join(DEFAULT_MODELS if name in ("encore-sst2-minilm", "all-minilm-l6-v2") else FIXTURE_MODELS,
                     name)
    if not any(os.path.isfile(os.path.join(d, f)) for f in ("config.json", "adapter_config.json")):
        pytest.fail("model %s is missing at %s (the default models: python3 models/default/assemble.py --out "
                    "build/models/encore-sst2-minilm)" % (name, d))
    return d


def load_reference(name):
    path = os.path.join(REFERENCE, name)
    if not os.path.isfile(path):
        pytest.fail("reference %s is missing (models/make_python_refs.py writes it)" % path)
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if not doc.get("cases"):
        pytest.fail("reference %s has no cases" % path)
    return doc


def assert_same_output(ours, ref, atol, where="output"):
    """Same structure (types, lengths, keys, labels) and scores within atol;
    NaN or Inf on either side fails."""
    if isinstance(ref, list):
        assert isinstance(ours, list), "%s: a list in transformers, %s here" % (where, type(ours).__name__)
        assert len(ours) == len(ref), "%s: %d items in transformers, %d here" % (where, len(ref), len(ours))
        for i, (a, b) in enumerate(zip(ours, ref)):
            assert_same_output(a, b, atol, "%s[%d]" % (where, i))
    elif isinstance(ref, dict):
        assert isinstance(ours, dict), "%s: a dict in transformers, %s here" % (where, type(ours).__name__)
        assert list(ours) == list(ref), "%s: keys %s, transformers %s" % (where, list(ours), list(ref))
        for k in ref:
            assert_same_output(ours[k], ref[k], atol, "%s[%r]" % (where, k))
    elif isinstance(ref, float):
        assert type(ours) is float, "%s: %r is not a float" % (where, ours)
        assert math.isfinite(ours) and math.isfinite(ref), "%s: %r vs %r" % (where, ours, ref)
        assert abs(ours - ref) <= atol, "%s: %r vs transformers %r (|diff| %.3g > %g)" % (
            where, ours, ref, abs(ours - ref), atol)
    else:
        assert type(ours) is type(ref) and ours == ref, "%s: %r vs transformers %r" % (where, ours, ref)


def assert_cosine(ours, ref, where="embeddings"):
    """Row-wise cosine >= MIN_COSINE, same shape, everything finite."""
    ours = np.asarray(ours, dtype=np.float64)
    ref = np.asarray(ref, dtype=np.float64)
    assert ours.shape == ref.shape, "%s: shape %s vs %s" % (where, ours.shape, ref.shape)
    assert np.isfinite(ours).all() and np.isfinite(ref).all(), "%s: NaN or Inf" % where
    ours2, ref2 = ours.reshape(-1, ours.shape[-1]), ref.reshape(-1, ref.shape[-1])
    cos = (ours2 * ref2).sum(1) / (np.linalg.norm(ours2, axis=1) * np.linalg.norm(ref2, axis=1))
    worst = int(np.argmin(cos))
    assert cos[worst] >= MIN_COSINE, "%s: row %d cosine %.8f < %g" % (where, worst, cos[worst], MIN_COSINE)
    # Norms too: cosine alone would accept a scaled vector.
    np.testing.assert_allclose(np.linalg.norm(ours2, axis=1), np.linalg.norm(ref2, axis=1), rtol=1e-4)

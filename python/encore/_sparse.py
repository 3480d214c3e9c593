"""encore.SparseEncoder: sentence-transformers' SparseEncoder on the C library.

``SparseEncoder(model).encode(sentences)`` returns the SPLADE weights that
``SparseEncoder(DIR).encode(sentences)`` gives for the same directory, as a
dense float32 numpy array, (n, vocab_size) or (vocab_size,) for one string,
mostly zeros (sentence-transformers returns a torch sparse tensor; encore
uses no torch). ``decode`` names the tokens, ``similarity`` is the dot
product, sentence-transformers' default for sparse encoders.
"""

import os

import numpy as np

from . import _encore
from ._core import Model, SessionPool
from ._progress import progress
from ._sentence import _read_json


def _texts(sentences):
    if isinstance(sentences, str):
        return [sentences], True
    if sentences is None or isinstance(sentences, (bytes, bytearray, dict)):
        raise TypeError("sentences must be a str or a list of str, not %s" % type(sentences).__name__)
    sentences = sentences.tolist() if isinstance(sentences, np.ndarray) else list(sentences)
    if not sentences:
        raise _encore.InputError("sentences is empty: give at least one sentence")
    for i, s in enumerate(sentences):
        if not isinstance(s, str):
            raise TypeError("sentence %d must be a str, not %s" % (i, type(s).__name__))
    return sentences, False


def _positive(name, value):
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError("%s must be None or a positive integer, got %r." % (name, value))


class SparseEncoder:
    """``SparseEncoder(model, device=None, precision=None, threads=None,
    weights="fp32", prompts=None, max_active_dims=None, splade=False)``.

    model: a directory sentence-transformers' SparseEncoder saved (a
    ``*ForMaskedLM`` model with ``SpladePooling`` in ``modules.json``), an
    encore.Model of one, or, with ``splade=True``, any ``*ForMaskedLM``
    directory (TEI's ``--pooling splade``: max pooling of log(1 + relu)).
    The prompts (``query``, ``document``) come from
    config_sentence_transformers.json, as sentence-transformers reads them.
    Safe to call from several threads at once.
    """

    def __init__(self, model, device=None, precision=None, threads=None, weights="fp32", prompts=None,
                 max_active_dims=None, splade=False):
        if not isinstance(model, Model):
            if model is None:
                raise ValueError("SparseEncoder needs a model directory (there is no default SPLADE model)")
            model = Model(model, weights=weights, splade=splade)
        if not model.is_sparse:
            raise _encore.UnsupportedError(
                "%s is not a SPLADE model (no SpladePooling in modules.json); SparseEncoder(path, splade=True) "
                "takes a *ForMaskedLM model as one" % model.path)
        _positive("max_active_dims", max_active_dims)
        self.model = model
        self.max_active_dims = max_active_dims
        self._pool = SessionPool(model, device=device, precision=precision, threads=threads)
        config = _read_json(os.path.join(model.path, "config_sentence_transformers.json")) or {}
        self.prompts = dict(config.get("prompts") or {})
        if prompts:
            self.prompts.update(prompts)
        self.default_prompt_name = config.get("default_prompt_name")
        self.similarity_fn_name = config.get("similarity_fn_name") or "dot"
        if self.similarity_fn_name != "dot":
            raise _encore.UnsupportedError("similarity_fn_name %r: encore's SparseEncoder has the dot product only"
                                           % (self.similarity_fn_name,))

    @property
    def device(self):
        return self._pool.device

    def get_sentence_embedding_dimension(self):
        return self.model.vocab_size

    def encode(self, sentences, prompt_name=None, prompt=None, batch_size=32, show_progress_bar=None,
               max_active_dims=None):
        """The weights of one sentence ((vocab_size,)) or a list of them ((n,
        vocab_size)), float32, as sentence-transformers' encode gives them
        (dense here). prompt / prompt_name prepend a prompt; max_active_dims
        keeps each text's largest weights, zeroing the others."""
        sentences, single = _texts(sentences)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError("batch_size must be a positive integer, got %r." % (batch_size,))
        _positive("max_active_dims", max_active_dims)
        if prompt is None:
            name = prompt_name if prompt_name is not None else self.default_prompt_name
            if name is not None:
                if name not in self.prompts:
                    raise ValueError("Prompt name %r not found in the configured prompts dictionary with keys %r."
                                     % (name, list(self.prompts)))
                prompt = self.prompts[name]
        if prompt:
            sentences = [prompt + s for s in sentences]
        out = np.empty((len(sentences), self.model.vocab_size), dtype=np.float32)
        for start in progress(range(0, len(sentences), batch_size), show_progress_bar, desc="Batches", unit="batch"):
            out[start:start + batch_size] = self._pool.run("embed_sparse", sentences[start:start + batch_size])
        k = max_active_dims if max_active_dims is not None else self.max_active_dims
        if k is not None and k < out.shape[1]:
            drop = np.argpartition(-out, k - 1, axis=1)[:, k:]
            np.put_along_axis(out, drop, 0.0, axis=1)
        return out[0] if single else out

    def encode_query(self, sentences, **kwargs):
        """encode with the "query" prompt when the model has one."""
        if "prompt" not in kwargs and "prompt_name" not in kwargs and "query" in self.prompts:
            kwargs["prompt_name"] = "query"
        return self.encode(sentences, **kwargs)

    def encode_document(self, sentences, **kwargs):
        """encode with the "document" prompt (or "passage", "corpus") when the model has one."""
        if "prompt" not in kwargs and "prompt_name" not in kwargs:
            for name in ("document", "passage", "corpus"):
                if name in self.prompts:
                    kwargs["prompt_name"] = name
                    break
        return self.encode(sentences, **kwargs)

    def decode(self, embeddings, top_k=None):
        """(token, weight) pairs of the weights that are not 0, largest first:
        a list for one (vocab_size,) vector, a list of lists for (n,
        vocab_size); top_k keeps the first top_k of each."""
        _positive("top_k", top_k)
        e = np.asarray(embeddings, dtype=np.float32)
        if e.ndim not in (1, 2) or e.shape[-1] != self.model.vocab_size:
            raise ValueError("embeddings must be (vocab_size,) or (n, vocab_size), vocab_size %d, not %s"
                             % (self.model.vocab_size, e.shape))
        rows = []
        for row in np.atleast_2d(e):
            idx = np.flatnonzero(row)
            idx = idx[np.argsort(-row[idx], kind="stable")]
            if top_k is not None:
                idx = idx[:top_k]
            rows.append([(self.model._model.token(int(i)), float(row[i])) for i in idx])
        return rows[0] if e.ndim == 1 else rows

    def similarity(self, a, b):
        """Dot products: (n, m) float32 for (n, V) and (m, V) weights."""
        a = np.atleast_2d(np.asarray(a, dtype=np.float32))
        b = np.atleast_2d(np.asarray(b, dtype=np.float32))
        return a @ b.T

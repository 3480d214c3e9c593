"""encore.SentenceEncoder: sentence-transformers' encode() on the C library.

``SentenceEncoder(model).encode(sentences, ...)`` returns what
``SentenceTransformer(DIR).encode(sentences, ...)`` returns for the same
sentence-transformers directory: float32 numpy arrays, (n, d), or (d,) for
one string; cosine >= 0.99999 to sentence-transformers' embeddings
(python/tests/test_sentence_parity.py holds it to dumps of
sentence-transformers itself).
"""

import json
import os

import numpy as np

from . import _encore
from ._core import Model, SessionPool
from ._progress import progress

def _module_class(module):
    """The class name of a modules.json entry: "Normalize" for
    sentence-transformers 5's "sentence_transformers.models.Normalize" and 6's
    "sentence_transformers.base.modules.normalize.Normalize" alike."""
    kind = module.get("type")
    return kind.rsplit(".", 1)[-1] if isinstance(kind, str) else None


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise _encore.ModelError("%s: %s" % (path, e)) from None


def _normalize(x):  # as torch.nn.functional.normalize(x, p=2, dim=1)
    norms = np.sqrt(np.einsum("ij,ij->i", x, x, dtype=np.float32))[:, None]
    return x / np.maximum(norms, np.float32(1e-12))


class SentenceEncoder:
    """``SentenceEncoder(model=None, device=None, precision=None, threads=None,
    weights="fp32", prompts=None, default_prompt_name=None, truncate_dim=None)``.

    model: a sentence-transformers directory (modules.json, 1_Pooling, ...),
    a plain BERT directory (mean pooling), an encore.Model, or None for the
    default embedding model (all-MiniLM-L6-v2). The directory's modules
    decide pooling and whether a Normalize module runs; its
    config_sentence_transformers.json gives the prompts. Safe to call from
    several threads at once.
    """

    def __init__(self, model=None, device=None, precision=None, threads=None, weights="fp32", prompts=None,
                 default_prompt_name=None, truncate_dim=None, _pool=None):
        if not isinstance(model, Model):
            model = Model(model, task="embed", weights=weights)
        if model.is_sparse:
            raise _encore.UnsupportedError("%s is a SPLADE model: its embedding is its vocabulary weights "
                                           "(encore.SparseEncoder)" % model.path)
        self.model = model
        self._pool = _pool or SessionPool(model, device=device, precision=precision, threads=threads)
        modules = [m for m in _read_json(os.path.join(model.path, "modules.json")) or [] if isinstance(m, dict)]
        self._normalize_module = any(_module_class(m) == "Normalize" for m in modules)
        pooling = None
        for m in modules:
            if _module_class(m) == "Pooling":
                pooling = _read_json(os.path.join(model.path, m.get("path", ""), "config.json"))
        self._include_prompt = (pooling or {}).get("include_prompt", True)
        config = _read_json(os.path.join(model.path, "config_sentence_transformers.json")) or {}
        self.prompts = dict(config.get("prompts") or {})
        if prompts:
            self.prompts.update(prompts)
        self.default_prompt_name = default_prompt_name or config.get("default_prompt_name")
        if self.default_prompt_name is not None and self.default_prompt_name not in self.prompts:
            raise ValueError("default prompt name %r not in the prompts %s" % (self.default_prompt_name,
                                                                                sorted(self.prompts)))
        self.truncate_dim = truncate_dim

    @property
    def device(self):
        return self._pool.device

    def get_sentence_embedding_dimension(self):
        d = self.model.hidden_size
        return d if self.truncate_dim is None else min(d, self.truncate_dim)

    def _resolve_prompt(self, prompt, prompt_name):
        if prompt is None:
            if prompt_name is not None:
                if prompt_name not in self.prompts:
                    raise ValueError("Prompt name %r not found in the configured prompts dictionary with keys %r."
                                     % (prompt_name, list(self.prompts)))
                prompt = self.prompts[prompt_name]
            elif self.default_prompt_name is not None:
                prompt = self.prompts.get(self.default_prompt_name)
        if prompt is not None and not isinstance(prompt, str):
            raise TypeError("prompt must be a str, not %s" % type(prompt).__name__)
        if prompt and not self._include_prompt:
            raise _encore.UnsupportedError("this model's pooling excludes the prompt's tokens (include_prompt: "
                                           "false), which encore does not do")
        return prompt

    def encode(self, sentences, prompt_name=None, prompt=None, batch_size=32, show_progress_bar=None,
               output_value="sentence_embedding", precision="float32", convert_to_numpy=True,
               convert_to_tensor=False, device=None, normalize_embeddings=False, truncate_dim=None):
        """Embeddings of one sentence (a (d,) array) or a list of them ((n, d)),
        as sentence-transformers' encode: prompt / prompt_name prepend a prompt,
        truncate_dim keeps the first dimensions, normalize_embeddings then
        divides by the L2 norm. convert_to_numpy=False gives a list of (d,)
        arrays. show_progress_bar shows a bar over the batches (tqdm if
        installed). Only what sentence-transformers' float32 sentence
        embeddings need is supported: output_value "sentence_embedding",
        precision "float32", no tensors, the encoder's own device."""
        if output_value != "sentence_embedding":
            raise ValueError("output_value must be 'sentence_embedding': encore gives sentence embeddings only")
        if precision != "float32":
            raise ValueError("precision must be 'float32', not %r" % (precision,))
        if convert_to_tensor:
            raise ValueError("convert_to_tensor needs torch, which encore does not use: call torch.from_numpy on "
                             "the result")
        if device is not None:
            raise ValueError("device is chosen when the SentenceEncoder is made, not per call")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError("batch_size must be a positive integer, got %r." % (batch_size,))
        single = isinstance(sentences, str)
        if single:
            sentences = [sentences]
        elif isinstance(sentences, np.ndarray):
            sentences = sentences.tolist()
        elif isinstance(sentences, (list, tuple)):
            sentences = list(sentences)
        elif sentences is None or isinstance(sentences, (bytes, bytearray, dict)):
            raise TypeError("sentences must be a str or a list of str, not %s" % type(sentences).__name__)
        else:
            sentences = list(sentences)  # datasets.Column and other iterables
        if not sentences:
            raise _encore.InputError("sentences is empty: give at least one sentence")
        for i, s in enumerate(sentences):
            if not isinstance(s, str):
                raise TypeError("sentence %d must be a str, not %s" % (i, type(s).__name__))
        prompt = self._resolve_prompt(prompt, prompt_name)
        if prompt:
            sentences = [prompt + s for s in sentences]
        truncate_dim = truncate_dim if truncate_dim is not None else self.truncate_dim
        if truncate_dim is not None and (isinstance(truncate_dim, bool) or not isinstance(truncate_dim, int)
                                         or truncate_dim < 1):
            raise ValueError("truncate_dim must be None or an int >= 1, not %r" % (truncate_dim,))

        out = np.empty((len(sentences), self.model.hidden_size), dtype=np.float32)
        starts = range(0, len(sentences), batch_size)
        for start in progress(starts, show_progress_bar, desc="Batches", unit="batch"):
            out[start:start + batch_size] = self._pool.run("embed", sentences[start:start + batch_size],
                                                           normalize=self._normalize_module)
        if truncate_dim is not None:
            out = np.ascontiguousarray(out[:, :truncate_dim])
        if normalize_embeddings:
            out = _normalize(out)
        if single:
            return out[0]
        return out if convert_to_numpy else list(out)

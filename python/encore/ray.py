"""Batch inference on Ray Data: callable classes for ``Dataset.map_batches``.

    import ray, encore.ray
    ray.init()                                   # or ray.init("auto") on a cluster
    ds = ray.data.read_parquet("reviews.parquet")
    ds = ds.map_batches(encore.ray.TextClassifier,
                        fn_constructor_kwargs={"model": "/models/sst2", "text_column": "text"},
                        concurrency=4, batch_size=256)
    ds.write_parquet("scored/")

Each actor loads the model once, in its constructor; each call reads the
text column (and the pair column if named) of a batch and returns the batch
with new columns: ``label`` and ``score`` (TextClassifier), or
``embedding`` (Embedder, a (n, d) float32 column). Batches may come as numpy
dicts (batch_format="numpy", the default) or pandas DataFrames.
For GPU actors on a CUDA build: ``num_gpus=1`` in map_batches and
``device="cuda"`` in fn_constructor_kwargs. This module imports nothing from
Ray: the classes are plain callables.
"""

import numpy as np

from ._core import Model, SessionPool
from ._sentence import SentenceEncoder


def _column(batch, name):
    try:
        col = batch[name]
    except KeyError:
        raise KeyError("the batch has no column %r (columns: %s)" % (name, ", ".join(map(str, batch.keys()))))
    return col.tolist() if hasattr(col, "tolist") else list(col)


class TextClassifier:
    """Adds ``label_column`` (str) and ``score_column`` (float32): the top
    label and its score, as ``encore score`` and the pipeline give them.

    ``TextClassifier(model=None, text_column="text", pair_column=None,
    label_column="label", score_column="score", device=None, precision=None,
    threads=None, weights="fp32", truncation=True)``. truncation=True cuts
    over-long texts as ``encore score`` does; with False they raise.
    """

    def __init__(self, model=None, text_column="text", pair_column=None, label_column="label", score_column="score",
                 device=None, precision=None, threads=None, weights="fp32", truncation=True):
        self.model = model if isinstance(model, Model) else Model(model, task="classify", weights=weights)
        if self.model.n_labels < 1:
            raise ValueError("%s has no classification head: use encore.ray.Embedder" % self.model.path)
        self._pool = SessionPool(self.model, device=device, precision=precision, threads=threads)
        self._labels = np.array(self.model.labels, dtype=object)
        self.text_column, self.pair_column = text_column, pair_column
        self.label_column, self.score_column = label_column, score_column
        self.truncation = truncation

    def __call__(self, batch):
        texts = _column(batch, self.text_column)
        pairs = _column(batch, self.pair_column) if self.pair_column else None
        scores = self._pool.run("scores", texts, pairs, truncation=self.truncation)
        best = scores.argmax(axis=1)
        batch[self.label_column] = self._labels[best]
        batch[self.score_column] = scores[np.arange(len(best)), best]
        return batch


class Embedder:
    """Adds ``embedding_column``: (n, d) float32 sentence embeddings, as
    encore.SentenceEncoder.encode gives them.

    ``Embedder(model=None, text_column="text", embedding_column="embedding",
    normalize_embeddings=False, truncate_dim=None, device=None,
    precision=None, threads=None, weights="fp32")``.
    """

    def __init__(self, model=None, text_column="text", embedding_column="embedding", normalize_embeddings=False,
                 truncate_dim=None, device=None, precision=None, threads=None, weights="fp32"):
        self.encoder = SentenceEncoder(model, device=device, precision=precision, threads=threads, weights=weights,
                                       truncate_dim=truncate_dim)
        self.text_column, self.embedding_column = text_column, embedding_column
        self.normalize_embeddings = normalize_embeddings

    def __call__(self, batch):
        texts = _column(batch, self.text_column)
        emb = self.encoder.encode(texts, batch_size=max(1, len(texts)),
                                  normalize_embeddings=self.normalize_embeddings)
        if hasattr(batch, "iloc"):  # pandas: one array per row
            batch[self.embedding_column] = list(emb)
        else:
            batch[self.embedding_column] = emb
        return batch

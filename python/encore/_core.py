"""encore.Model and encore.Session: the lower level, numpy in and out.

Threads: a Model is immutable and any number of threads may share it. A
Session holds scratch buffers and runs one call at a time; a call from a
second thread while one runs raises encore.InputError instead of racing.
Give each thread its own Session, or use SessionPool (what encore.pipeline
and encore.SentenceEncoder do inside). Every call releases the GIL while it
tokenizes and runs the model.
"""

import os
import threading
from dataclasses import dataclass

import numpy as np

from . import _encore, _models

_KIND_LOGITS, _KIND_SCORES, _KIND_EMBED, _KIND_SPARSE = 0, 1, 2, 3


def _threads_arg(threads):
    if threads is None:
        return 0
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError("threads must be None (all cores) or an int >= 1, not %r" % (threads,))
    return threads


def _texts_arg(texts, name="texts"):
    """A list of str from a str or a list/tuple of str (the C layer checks
    each item's type and content)."""
    if isinstance(texts, str):
        return [texts], True
    if isinstance(texts, (list, tuple)):
        if not texts:
            raise _encore.InputError("%s is empty: give at least one text" % name)
        return list(texts), False
    raise TypeError("%s must be a str or a list of str, not %s" % (name, type(texts).__name__))


@dataclass
class Encoding:
    """One input's tokens as the model sees them, special tokens included."""

    ids: np.ndarray  # (n,) int32 vocabulary ids
    type_ids: np.ndarray  # (n,) int32: 0 first text, 1 pair
    offsets: np.ndarray  # (n, 2) int32 character [start, end) in its text; (0, 0) for special tokens
    byte_offsets: np.ndarray  # (n, 2) int32 UTF-8 byte [start, end)
    sequence_ids: np.ndarray  # (n,) int32: 0 or 1, -1 for special tokens
    word_ids: np.ndarray  # (n,) int32: the word of its text, as tokenizers' word_ids(); -1 for special tokens
    tokens: list  # (n,) the vocabulary entries
    n_untruncated: int  # tokens before truncation; > len(ids) when the input was cut

    @property
    def truncated(self):
        return self.n_untruncated > len(self.ids)


def _char_offsets(byte_offsets, sequence_ids, text, pair):
    """Byte offsets to character offsets, as Hugging Face's offset_mapping."""
    out = np.zeros_like(byte_offsets)
    maps = {}
    for which, s in ((0, text), (1, pair)):
        if s is None:
            continue
        # starts[b] = index of the character that owns byte b; the end maps too.
        lens = np.fromiter((len(c.encode("utf-8")) for c in s), dtype=np.int64, count=len(s))
        pos = np.zeros(int(lens.sum()) + 1, dtype=np.int32)
        ends = np.cumsum(lens)
        pos[ends] = 1
        maps[which] = np.cumsum(pos).astype(np.int32)
    for i, seq in enumerate(sequence_ids):
        if seq in maps:
            out[i, 0] = maps[seq][byte_offsets[i, 0]]
            out[i, 1] = maps[seq][byte_offsets[i, 1]]
    return out


class Model:
    """A model directory loaded once, shared by every thread and session.

    ``Model(path=None, task="classify", weights="fp32", splade=False)``:
    ``path=None`` takes the default model for ``task`` (see
    encore.default_model_dir). A directory with sentence-transformers'
    SpladePooling is a SPLADE model (``is_sparse``); ``splade=True`` loads a
    ``*ForMaskedLM`` model without it as one (TEI's ``--pooling splade``).
    """

    def __init__(self, path=None, *, task="classify", weights="fp32", splade=False):
        if path is None:
            path = _models.default_model_dir(task)
        if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
            raise TypeError("path must be a str or os.PathLike, not %s" % type(path).__name__)
        self.path = os.fspath(path)
        self._model = _encore.Model(self.path, weights, bool(splade))

    def __repr__(self):
        return "encore.Model(%r, %s, %d layers, hidden %d)" % (
            self.path, self.architecture, self.n_layers, self.hidden_size)

    n_labels = property(lambda self: self._model.n_labels)
    labels = property(lambda self: list(self._model.labels))
    hidden_size = property(lambda self: self._model.hidden_size)
    n_layers = property(lambda self: self._model.n_layers)
    max_length = property(lambda self: self._model.max_length)
    embed_max_length = property(lambda self: self._model.embed_max_length)
    architecture = property(lambda self: self._model.architecture)
    task = property(lambda self: self._model.task)
    score_function = property(lambda self: self._model.score_function)
    pooling = property(lambda self: self._model.pooling)
    vocab_size = property(lambda self: self._model.vocab_size)
    is_sparse = property(lambda self: self._model.is_sparse)

    def tokenize(self, text, text_pair=None, *, task="classify", truncation=True):
        """The tokens of one text (or pair) as the model sees them, cut as
        ``task`` ('classify' or 'embed') cuts over-long input when
        ``truncation`` is true; otherwise over-long input raises InputError."""
        r = self._model.tokenize(text, text_pair, task, bool(truncation))
        n = r["n_tokens"]
        ids = np.frombuffer(r["ids"], dtype=np.int32)
        byte_offsets = np.frombuffer(r["offsets"], dtype=np.int32).reshape(n, 2)
        sequence_ids = np.frombuffer(r["sequence_ids"], dtype=np.int32)
        return Encoding(
            ids=ids,
            type_ids=np.frombuffer(r["type_ids"], dtype=np.int32),
            offsets=_char_offsets(byte_offsets, sequence_ids, text, text_pair),
            byte_offsets=byte_offsets,
            sequence_ids=sequence_ids,
            word_ids=np.frombuffer(r["word_ids"], dtype=np.int32),
            tokens=[self._model.token(int(i)) for i in ids],
            n_untruncated=r["n_untruncated"],
        )

    def session(self, **kwargs):
        """A new Session on this model (see Session)."""
        return Session(self, **kwargs)


def default_device():
    """The device of device=None: $ENCORE_DEVICE ("cpu", "cuda" or "auto",
    as the container images' entry point reads it), else "cpu"."""
    device = os.environ.get("ENCORE_DEVICE")
    if not device:
        return "cpu"
    if device not in ("cpu", "cuda", "auto"):
        raise ValueError("ENCORE_DEVICE must be 'cpu', 'cuda' or 'auto', not %r" % (device,))
    return device


class Session:
    """Scratch buffers for one thread at a time.

    ``Session(model, device=None|"cpu"|"cuda"|"auto", precision=None|"fp32"|"fp16"|"bf16",
    threads=None, max_batch_tokens=None)``. ``device=None`` takes
    ``$ENCORE_DEVICE`` (the CUDA container image sets "cuda"), else "cpu".
    ``device="cuda"`` on a build or a host without CUDA runs on the CPU and
    logs one line; ``.device`` says where it runs.
    """

    def __init__(self, model, *, device=None, precision=None, threads=None, max_batch_tokens=None):
        if not isinstance(model, Model):
            raise TypeError("model must be an encore.Model, not %s" % type(model).__name__)
        if max_batch_tokens is not None and (not isinstance(max_batch_tokens, int) or max_batch_tokens < 1):
            raise ValueError("max_batch_tokens must be None or an int >= 1")
        if device is None:
            device = default_device()
        if not isinstance(device, str):
            raise TypeError("device must be None, 'cpu', 'cuda' or 'auto'")
        if precision is not None and not isinstance(precision, str):
            raise TypeError("precision must be None, 'fp32', 'fp16' or 'bf16'")
        self.model = model
        self._session = _encore.Session(model._model, device, precision or "default", _threads_arg(threads),
                                        max_batch_tokens or 0)

    @property
    def device(self):
        return self._session.device

    def _run(self, kind, texts, text_pairs, width, **kwargs):
        texts, single = _texts_arg(texts)
        if isinstance(text_pairs, str):
            text_pairs = [text_pairs]
        elif isinstance(text_pairs, tuple):
            text_pairs = list(text_pairs)
        out = np.frombuffer(self._session.run(kind, texts, text_pairs, **kwargs), dtype=np.float32)
        out = out.reshape(len(texts), width)
        return out[0] if single else out

    def logits(self, texts, text_pairs=None, *, truncation=True):
        """Raw classifier logits: (n, n_labels) float32, or (n_labels,) for one str."""
        return self._run(_KIND_LOGITS, texts, text_pairs, self.model.n_labels, truncation=bool(truncation))

    def scores(self, texts, text_pairs=None, *, truncation=True):
        """The logits after the model's score function (softmax, sigmoid or none)."""
        return self._run(_KIND_SCORES, texts, text_pairs, self.model.n_labels, truncation=bool(truncation))

    def embed(self, texts, text_pairs=None, *, pooling=None, normalize=False):
        """Sentence embeddings as sentence-transformers computes them (cut at the
        embedding limit): (n, hidden_size) float32, or (hidden_size,) for one str."""
        if pooling not in (None, "mean", "cls"):
            raise ValueError("pooling must be None (the directory's), 'mean' or 'cls', not %r" % (pooling,))
        return self._run(_KIND_EMBED, texts, text_pairs, self.model.hidden_size,
                         pooling=pooling or "default", normalize=bool(normalize))

    def embed_sparse(self, texts):
        """A SPLADE model's weights, as sentence-transformers' SparseEncoder.encode
        gives them (dense here): (n, vocab_size) float32, or (vocab_size,) for one
        str, mostly zeros. ``np.nonzero`` gives the active entries; TEI's
        /embed_sparse lists them as {index, value}."""
        return self._run(_KIND_SPARSE, texts, None, self.model.vocab_size)

    def fill_mask(self, text, *, top_k=5, targets=None):
        """The masks of one text filled: a list per mask of (score, token,
        token_str, sequence) tuples, best first (encore_session_fill_mask)."""
        return self._session.fill_mask(text, top_k, targets)

    def zero_shot(self, text, labels, *, hypothesis_template=None, multi_label=False):
        """Zero-shot scores of candidate labels for one text: (scores in the
        labels' order, label indices best first) (encore_session_zero_shot)."""
        return self._session.zero_shot(text, labels, hypothesis_template, bool(multi_label))

    def token_classify(self, text, *, aggregation_strategy="none", ignore_labels=None, stride=None):
        """The tokens of one text classified (encore_session_token_classify):
        a list of (entity, score, index, word, start, end) tuples, index -1
        with a grouping strategy; start and end are character offsets.
        ignore_labels: None for the pipeline's ["O"], or a list of str.
        stride: None (one window, cut at the model's length) or the tokens
        each window of the whole text repeats from the one before."""
        if stride is not None and (isinstance(stride, bool) or not isinstance(stride, int) or stride < 0):
            raise ValueError("stride must be None or an int >= 0, not %r" % (stride,))
        return self._session.token_classify(text, aggregation_strategy, ignore_labels,
                                            -1 if stride is None else min(stride, 2**31 - 1))
    def question_answer(self, question, context, **params):
        """Answers to one question from one context: a list of (score, start,
        end, answer) tuples, best first, start and end characters of the
        context (encore_session_question_answer). params: top_k, doc_stride,
        max_answer_len, max_seq_len, max_question_len,
        handle_impossible_answer, align_to_words."""
        return self._session.question_answer(question, context, **params)

    def hidden_states(self, texts, text_pairs=None, *, truncation=False, truncation_side="right"):
        """Every token's last hidden state, special tokens included, tokenized as
        transformers' tokenizer call does (truncation=True cuts at the model's
        max_length; without it an over-long input raises encore.InputError): a
        list of (n_tokens, hidden_size) float32 arrays, one per input, or one
        array for one str."""
        texts, single = _texts_arg(texts)
        if isinstance(text_pairs, str):
            text_pairs = [text_pairs]
        elif isinstance(text_pairs, tuple):
            text_pairs = list(text_pairs)
        if truncation_side not in ("right", "left"):
            raise ValueError("truncation_side must be 'right' or 'left', not %r" % (truncation_side,))
        states, counts = self._session.hidden_states(texts, text_pairs, bool(truncation), truncation_side)
        counts = np.frombuffer(counts, dtype=np.int32)
        rows = np.frombuffer(states, dtype=np.float32).reshape(int(counts.sum()), self.model.hidden_size)
        ends = np.cumsum(counts)
        out = [rows[end - n:end] for n, end in zip(counts.tolist(), ends.tolist())]
        return out[0] if single else out


class SessionPool:
    """Sessions of one model for any number of threads: a call takes an idle
    session (or makes one) and gives it back, so each thread in flight has its
    own. Sessions stay for reuse; there are at most as many as threads that
    ever called at once."""

    def __init__(self, model, **session_kwargs):
        self.model = model
        self._kwargs = session_kwargs
        self._idle = []
        self._lock = threading.Lock()
        self._idle.append(Session(model, **session_kwargs))  # bad settings fail here, not at the first call

    def acquire(self):
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return Session(self.model, **self._kwargs)

    def release(self, session):
        with self._lock:
            self._idle.append(session)

    def run(self, method, *args, **kwargs):
        s = self.acquire()
        try:
            return getattr(s, method)(*args, **kwargs)
        finally:
            self.release(s)

    @property
    def device(self):
        s = self.acquire()
        try:
            return s.device
        finally:
            self.release(s)

"""encore.pipeline: transformers' pipeline() call semantics on the C library.

``pipe = encore.pipeline("text-classification")`` then ``pipe(inputs, **kw)``
returns what ``transformers.pipeline("text-classification", model=DIR)``
returns for the same directory: the same nesting, labels and keys, scores
within 1e-5 (python/tests/test_pipeline_parity.py holds it to dumps of
transformers itself). ``encore.pipeline("feature-extraction")`` returns
every token's last hidden state as transformers' does, within 1e-4
(python/tests/test_feature_parity.py). ``encore.pipeline("fill-mask")``
and ``encore.pipeline("zero-shot-classification")`` return what
transformers' do (python/tests/test_fill_mask_zero_shot.py), and so does
``encore.pipeline("token-classification")`` (python/tests/test_ner.py);
``encore.pipeline("question-answering")`` returns what transformers 4.57's
does (python/tests/test_question_answering.py).
"""

import itertools
import types

import numpy as np

from . import _encore
from ._core import Model, SessionPool

_FUNCTIONS = ("softmax", "sigmoid", "none")
_PAIR_ERROR = (
    "The pipeline received invalid inputs, if you are trying to send text pairs, you can try to send a"
    ' dictionary `{"text": "My text", "text_pair": "My pair"}` in order to send a text pair.'
)


def _sigmoid(x):  # as transformers.pipelines.text_classification.sigmoid, in float32
    return 1.0 / (1.0 + np.exp(-x))


def _softmax(x):  # as transformers.pipelines.text_classification.softmax, in float32
    maxes = np.max(x, axis=-1, keepdims=True)
    shifted_exp = np.exp(x - maxes)
    return shifted_exp / shifted_exp.sum(axis=-1, keepdims=True)


def _batches(iterable, size):
    it = iter(iterable)
    while True:
        chunk = list(itertools.islice(it, size))
        if not chunk:
            return
        yield chunk


def _is_stream(inputs):
    """Generators, datasets' columns and other iterables stream, as a
    generator or a Dataset does in transformers."""
    if isinstance(inputs, (str, bytes, bytearray, dict, list, tuple)) or inputs is None:
        return False
    if isinstance(inputs, types.GeneratorType):
        return True
    try:
        iter(inputs)
    except TypeError:
        return False
    return True


def _check_batch_size(batch_size):
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError("batch_size must be an int >= 1, not %r" % (batch_size,))
    return batch_size


class _Pipeline:
    """What both tasks share: the model, a pool of sessions (so that one
    pipeline may be called from several threads at once), batching."""

    def __init__(self, model, task, device, precision, threads, batch_size, weights, defaults):
        if model is None or not isinstance(model, Model):
            model = Model(model, task=task, weights=weights)
        self.model = model
        self.batch_size = _check_batch_size(batch_size)
        self._pool = SessionPool(model, device=device, precision=precision, threads=threads)
        self._defaults = defaults
        self._sanitize(**defaults)  # bad defaults fail at construction

    @property
    def device(self):
        """Where the sessions run after any fallback: 'cpu' or 'cuda'."""
        return self._pool.device

    def _params(self, kwargs):
        return self._sanitize(**{**self._defaults, **kwargs})

    def __call__(self, inputs, batch_size=None, **kwargs):
        params = self._params(kwargs)
        size = self.batch_size if batch_size is None else _check_batch_size(batch_size)
        if _is_stream(inputs):
            return self._stream(inputs, size, params)
        if isinstance(inputs, (list, tuple)):
            if not inputs:
                raise _encore.InputError("inputs is an empty list: give at least one text")
            items = [self._item(x) for x in inputs]  # every item checked before any work
            out = []
            for chunk in _batches(items, size):
                out.extend(self._run(chunk, params))
            return out
        return self._single(self._run([self._item(inputs)], params)[0], inputs, kwargs)

    def _stream(self, inputs, size, params):
        for chunk in _batches(inputs, size):
            yield from self._run([self._item(x) for x in chunk], params)


class TextClassificationPipeline(_Pipeline):
    """``pipe(inputs, top_k=..., function_to_apply=..., truncation=...)``.

    inputs: a str, a ``{"text", "text_pair"}`` dict, a list of those, or a
    generator / other iterable (then the result is a generator, one result
    per input, computed ``batch_size`` inputs at a time). Results as
    transformers gives them: a str gives ``[{"label", "score"}]``, a list
    gives one ``{"label", "score"}`` per input; with ``top_k`` (an int, or
    None for every label) each input gives a list of dicts, best first.
    ``function_to_apply``: "softmax", "sigmoid" or "none" (default: the
    model's, as transformers chooses it). ``truncation=True`` cuts over-long
    input to the model's maximum; without it (the default, as in
    transformers) over-long input raises encore.InputError.
    """

    task = "text-classification"

    def __init__(self, model=None, device=None, precision=None, threads=None, batch_size=32, weights="fp32",
                 **defaults):
        super().__init__(model, "classify", device, precision, threads, batch_size, weights, defaults)
        if self.model.n_labels < 1:
            raise _encore.InputError("%s has no classification head (%s): use task 'feature-extraction'"
                                     % (self.model.path, self.model.architecture))
        self._labels = self.model.labels

    def _sanitize(self, top_k="", function_to_apply=None, truncation=False, **unknown):
        if unknown:
            raise TypeError("unexpected argument(s) for text-classification: %s" % ", ".join(sorted(unknown)))
        legacy = True
        if top_k is None or (isinstance(top_k, int) and not isinstance(top_k, bool)):
            if top_k is not None and top_k < 1:
                raise ValueError("top_k must be None or an int >= 1, not %r" % (top_k,))
            legacy = False
        elif top_k != "":
            raise TypeError("top_k must be None or an int, not %r" % (top_k,))
        if function_to_apply is not None:
            name = getattr(function_to_apply, "value", function_to_apply)
            if not isinstance(name, str) or name.lower() not in _FUNCTIONS:
                raise ValueError("function_to_apply must be one of %s, not %r" % (", ".join(_FUNCTIONS),
                                                                                 function_to_apply))
            function_to_apply = name.lower()
        if truncation in (True, "longest_first", "only_first", "only_second"):
            # encore cuts pairs longest-first, the tokenizer's default
            if truncation in ("only_first", "only_second"):
                raise ValueError("truncation=%r is not supported: encore truncates longest_first" % (truncation,))
            truncation = True
        elif truncation in (False, None, "do_not_truncate"):
            truncation = False
        else:
            raise ValueError("truncation must be True, False, 'longest_first' or 'do_not_truncate', not %r"
                             % (truncation,))
        return {"top_k": 1 if top_k == "" else top_k, "legacy": legacy, "function": function_to_apply,
                "truncation": truncation}

    @staticmethod
    def _item(x):
        if isinstance(x, str):
            return x, None
        if isinstance(x, dict):
            extra = set(x) - {"text", "text_pair"}
            if "text" not in x or extra:
                raise ValueError("a dict input needs the key 'text' and may have 'text_pair', nothing else; got %s "
                                 "(for the rows of a datasets.Dataset, pass a column: pipe(ds['text']))"
                                 % sorted(x))
            pair = x.get("text_pair")
            if not isinstance(x["text"], str) or not (pair is None or isinstance(pair, str)):
                raise TypeError("'text' must be a str and 'text_pair' a str or None")
            return x["text"], pair
        if isinstance(x, list):
            if len(x) == 1 and isinstance(x[0], list) and len(x[0]) == 2:  # transformers' old pair form
                a, b = x[0]
                if isinstance(a, str) and isinstance(b, str):
                    return a, b
            raise ValueError(_PAIR_ERROR)
        raise TypeError("an input must be a str, a {'text', 'text_pair'} dict or a list of them, not %s"
                        % type(x).__name__)

    def _run(self, items, p):
        texts = [t for t, _ in items]
        pairs = [q for _, q in items]
        if all(q is None for q in pairs):
            pairs = None
        if p["function"] is None:
            scores = self._pool.run("scores", texts, pairs, truncation=p["truncation"])
        else:
            logits = self._pool.run("logits", texts, pairs, truncation=p["truncation"])
            f = p["function"]
            scores = _softmax(logits) if f == "softmax" else _sigmoid(logits) if f == "sigmoid" else logits
        return [self._postprocess(row, p) for row in scores]

    def _postprocess(self, scores, p):
        if p["top_k"] == 1 and p["legacy"]:
            return {"label": self._labels[int(scores.argmax())], "score": float(scores.max())}
        out = [{"label": self._labels[i], "score": float(s)} for i, s in enumerate(scores)]
        if not p["legacy"]:
            out.sort(key=lambda x: x["score"], reverse=True)
            if p["top_k"] is not None:
                out = out[: p["top_k"]]
        return out

    def _single(self, result, inputs, kwargs):
        # As transformers: a str is wrapped in a list unless this call passed
        # top_k, so top_k given to pipeline() nests a str's list once more.
        return [result] if isinstance(inputs, str) and "top_k" not in kwargs else result


class FeatureExtractionPipeline(_Pipeline):
    """``pipe(inputs, tokenize_kwargs=None, return_tensors=False, truncation=None)``:
    every token's last hidden state, special tokens included, as
    transformers' ``pipeline("feature-extraction")`` returns it (the base
    encoder's output; a classification head, if any, is not used).

    inputs: a str, a list of str, or a generator / other iterable (then the
    result is a generator, one result per input). A str gives a nested list
    of shape [1][n_tokens][hidden_size]; a list gives one such list per
    input. ``return_tensors=True`` gives a float32 numpy array of shape
    (1, n_tokens, hidden_size) per input where transformers gives a torch
    tensor. ``tokenize_kwargs``: the tokenizer call's arguments, as in
    transformers: ``truncation`` (True / "longest_first" cut an over-long
    input at the model's max_length; without it, the default, an over-long
    input raises encore.InputError where transformers' model fails on it)
    and ``text_pair`` (a str: the second text of a pair, the same for every
    input). ``truncation=`` is the same as ``tokenize_kwargs={"truncation": ...}``
    (giving both raises ValueError). Arguments given to pipeline() are
    defaults that a call's own override, key by key for tokenize_kwargs.
    Results do not depend on batch_size (transformers, with batch_size > 1,
    also returns the hidden states of its padding). The pooled sentence
    embedding is ``encore.SentenceEncoder(model).encode``."""

    task = "feature-extraction"

    def __init__(self, model=None, device=None, precision=None, threads=None, batch_size=32, weights="fp32",
                 **defaults):
        super().__init__(model, "embed", device, precision, threads, batch_size, weights, defaults)
        self._default_params = self._sanitize(**defaults)

    def _sanitize(self, truncation=None, tokenize_kwargs=None, return_tensors=None, **unknown):
        """transformers' _sanitize_parameters: (tokenizer arguments, output
        arguments), each holding only what was given."""
        if unknown:
            raise TypeError("unexpected argument(s) for feature-extraction: %s" % ", ".join(sorted(unknown)))
        if tokenize_kwargs is None:
            tokenize_kwargs = {}
        if not isinstance(tokenize_kwargs, dict):
            raise TypeError("tokenize_kwargs must be a dict or None, not %s" % type(tokenize_kwargs).__name__)
        tok = dict(tokenize_kwargs)
        if truncation is not None:
            if "truncation" in tok:
                raise ValueError("truncation parameter defined twice (given as keyword argument as well as in "
                                 "tokenize_kwargs)")
            tok["truncation"] = truncation
        extra = set(tok) - {"truncation", "text_pair"}
        if extra:
            raise TypeError("tokenize_kwargs: encore takes 'truncation' and 'text_pair', not %s"
                            % ", ".join(sorted(map(str, extra))))
        if "truncation" in tok:
            t = tok["truncation"]
            if t is True or t == "longest_first":
                tok["truncation"] = True
            elif t is False or t is None or t == "do_not_truncate":
                tok["truncation"] = False
            elif t in ("only_first", "only_second"):
                raise ValueError("truncation=%r is not supported: encore truncates longest_first" % (t,))
            else:
                raise ValueError("truncation must be True, False, 'longest_first' or 'do_not_truncate', not %r"
                                 % (t,))
        if "text_pair" in tok and not (tok["text_pair"] is None or isinstance(tok["text_pair"], str)):
            raise TypeError("tokenize_kwargs' text_pair must be a str or None, not %s"
                            % type(tok["text_pair"]).__name__)
        post = {} if return_tensors is None else {"return_tensors": bool(return_tensors)}
        return tok, post

    def _params(self, kwargs):
        # As transformers: the call's arguments over pipeline()'s, key by key.
        tok, post = self._sanitize(**kwargs)
        dtok, dpost = self._default_params
        tok, post = {**dtok, **tok}, {**dpost, **post}
        return {"truncation": tok.get("truncation", False), "text_pair": tok.get("text_pair"),
                "tensors": post.get("return_tensors", False)}

    @staticmethod
    def _item(x):
        if isinstance(x, str):
            return x
        raise TypeError("a feature-extraction input must be a str, not %s (a text pair: "
                        "tokenize_kwargs={'text_pair': ...})" % type(x).__name__)

    def _run(self, texts, p):
        pairs = None if p["text_pair"] is None else [p["text_pair"]] * len(texts)
        states = self._pool.run("hidden_states", texts, pairs, truncation=p["truncation"])
        return [s[None].copy() if p["tensors"] else s[None].tolist() for s in states]

    def _single(self, result, inputs, kwargs):
        return result


def _check_unknown(unknown):
    if unknown:
        raise TypeError("unexpected arguments: %s" % ", ".join(sorted(unknown)))


class _TaskPipeline:
    """What the pipelines of one text at a time share (fill-mask, zero-shot,
    token classification, question answering): a model given (they have no
    default), a pool of sessions, the call's default keyword arguments."""

    def __init__(self, model, task, needs, device, precision, threads, batch_size, weights, defaults):
        if model is None:
            raise ValueError("the %s pipeline has no default model: pass model=DIR (a %s)" % (task, needs))
        self.model = model if isinstance(model, Model) else Model(model, weights=weights)
        _check_batch_size(batch_size)
        self._pool = SessionPool(self.model, device=device, precision=precision, threads=threads)
        self._defaults = defaults

    @property
    def device(self):
        """Where the sessions run after any fallback: 'cpu' or 'cuda'."""
        return self._pool.device


class FillMaskPipeline(_TaskPipeline):
    """``pipe(inputs, top_k=5, targets=None)`` as transformers'
    pipeline("fill-mask"): a str gives a list of
    ``{"score", "token", "token_str", "sequence"}`` best first, or one such
    list per mask when the text has several; a list of texts gives one result
    per text (a list of one text gives its result alone, as transformers
    does). ``targets``: a str or a list of str to score only those.
    """

    def __init__(self, model=None, device="cpu", precision=None, threads=None, batch_size=32, weights="fp32",
                 **defaults):
        super().__init__(model, "fill-mask", "*ForMaskedLM: BERT, DistilBERT, RoBERTa or XLM-RoBERTa", device,
                         precision, threads, batch_size, weights, defaults)
        self._sanitize(**defaults)

    @staticmethod
    def _sanitize(top_k=5, targets=None, **unknown):
        _check_unknown(unknown)
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise ValueError("top_k must be an int >= 1, not %r" % (top_k,))
        if isinstance(targets, str):
            targets = [targets]
        elif isinstance(targets, tuple):
            targets = list(targets)
        if targets is not None and not isinstance(targets, list):
            raise TypeError("targets must be None, a str or a list of str")
        return top_k, targets

    def _one(self, text, top_k, targets):
        rows = self._pool.run("fill_mask", text, top_k=top_k, targets=targets)
        out = [[{"score": s, "token": t, "token_str": ts, "sequence": seq} for s, t, ts, seq in row] for row in rows]
        return out[0] if len(out) == 1 else out

    def __call__(self, inputs, **kwargs):
        top_k, targets = self._sanitize(**{**self._defaults, **kwargs})
        if isinstance(inputs, (list, tuple)):
            if not inputs:
                raise _encore.InputError("inputs is an empty list: give at least one text")
            out = [self._one(x, top_k, targets) for x in inputs]
            return out[0] if len(out) == 1 else out
        return self._one(inputs, top_k, targets)


class ZeroShotClassificationPipeline(_TaskPipeline):
    """``pipe(sequences, candidate_labels, hypothesis_template="This example
    is {}.", multi_label=False)`` as transformers'
    pipeline("zero-shot-classification") with an NLI classifier: a str gives
    ``{"sequence", "labels", "scores"}``, labels best first; a list gives one
    such dict per text. ``candidate_labels``: a list of str, or one str of
    comma-separated labels (split and stripped as transformers does).
    """

    def __init__(self, model=None, device="cpu", precision=None, threads=None, batch_size=32, weights="fp32",
                 **defaults):
        super().__init__(model, "zero-shot-classification", "NLI sequence classifier", device, precision, threads,
                         batch_size, weights, defaults)

    @staticmethod
    def _sanitize(candidate_labels=None, hypothesis_template="This example is {}.", multi_label=False, **unknown):
        _check_unknown(unknown)
        if isinstance(candidate_labels, str):
            candidate_labels = [label.strip() for label in candidate_labels.split(",") if label.strip()]
        elif isinstance(candidate_labels, tuple):
            candidate_labels = list(candidate_labels)
        if candidate_labels is None:
            candidate_labels = []
        if not isinstance(candidate_labels, list):
            raise TypeError("candidate_labels must be a str or a list of str")
        if not isinstance(hypothesis_template, str):
            raise TypeError("hypothesis_template must be a str")
        return candidate_labels, hypothesis_template, bool(multi_label)

    def _one(self, text, labels, template, multi_label):
        scores, order = self._pool.run("zero_shot", text, labels, hypothesis_template=template,
                                       multi_label=multi_label)
        return {"sequence": text, "labels": [labels[i] for i in order], "scores": [scores[i] for i in order]}

    def __call__(self, sequences, *args, **kwargs):
        if len(args) == 1 and "candidate_labels" not in kwargs:
            kwargs["candidate_labels"] = args[0]
        elif args:
            raise ValueError("Unable to understand extra arguments %r" % (args,))
        labels, template, multi_label = self._sanitize(**{**self._defaults, **kwargs})
        if isinstance(sequences, (list, tuple)):
            if not sequences:
                raise _encore.InputError("sequences is an empty list: give at least one text")
            return [self._one(x, labels, template, multi_label) for x in sequences]
        return self._one(sequences, labels, template, multi_label)


class TokenClassificationPipeline(_TaskPipeline):
    """``pipe(inputs, aggregation_strategy="none", ignore_labels=["O"])`` as
    transformers' pipeline("token-classification") (alias "ner") with a
    *ForTokenClassification directory (BERT, DistilBERT, RoBERTa, XLM-RoBERTa):
    a str gives a list of ``{"entity", "score", "index", "word", "start",
    "end"}`` per token, or with a strategy ("simple", "first", "average",
    "max") ``{"entity_group", "score", "word", "start", "end"}`` per group;
    scores are numpy float32 and start/end character offsets, as in
    transformers. A list gives one such list per text; another iterable
    streams. ``stride=N`` classifies the whole text in windows of the model's
    length that each repeat N tokens of the one before, and merges the
    windows' overlapping entities, as transformers does.
    """

    def __init__(self, model=None, device="cpu", precision=None, threads=None, batch_size=32, weights="fp32",
                 **defaults):
        super().__init__(model, "token-classification",
                         "*ForTokenClassification directory: BERT, DistilBERT, RoBERTa or XLM-RoBERTa", device,
                         precision, threads, batch_size, weights, defaults)
        self._sanitize(**defaults)
        self._pool.run("token_classify", "")  # a model without a token classifier fails here

    @staticmethod
    def _sanitize(aggregation_strategy=None, ignore_labels=None, stride=None, **unknown):
        _check_unknown(unknown)
        value = getattr(aggregation_strategy, "value", aggregation_strategy)  # transformers' AggregationStrategy
        if value is not None and not isinstance(value, str):
            raise TypeError("aggregation_strategy must be a str, not %s" % type(value).__name__)
        if stride is not None:
            if isinstance(stride, bool) or not isinstance(stride, int) or stride < 0:
                raise ValueError("stride must be None or an int >= 0, not %r" % (stride,))
            if value is not None and value.lower() == "none":  # as transformers refuses it
                raise ValueError('`stride` was provided to process all the text but `aggregation_strategy="none"`, '
                                 "please select another one instead.")
        if isinstance(ignore_labels, tuple):
            ignore_labels = list(ignore_labels)
        if ignore_labels is not None and not isinstance(ignore_labels, list):
            raise TypeError("ignore_labels must be None or a list of str")
        return value or "none", ignore_labels, stride

    def _one(self, text, strategy, ignore, stride):
        rows = self._pool.run("token_classify", text, aggregation_strategy=strategy, ignore_labels=ignore,
                              stride=stride)
        if strategy.lower() == "none":
            return [{"entity": e, "score": np.float32(sc), "index": i, "word": w, "start": a, "end": b}
                    for e, sc, i, w, a, b in rows]
        return [{"entity_group": e, "score": np.float32(sc), "word": w, "start": a, "end": b}
                for e, sc, _, w, a, b in rows]

    def __call__(self, inputs, **kwargs):
        strategy, ignore, stride = self._sanitize(**{**self._defaults, **kwargs})
        if isinstance(inputs, (list, tuple)):
            if not inputs:
                raise ValueError("At least one input is required.")
            return [self._one(x, strategy, ignore, stride) for x in inputs]
        if _is_stream(inputs):
            return (self._one(x, strategy, ignore, stride) for x in inputs)
        return self._one(inputs, strategy, ignore, stride)


class QuestionAnsweringPipeline(_TaskPipeline):
    """``pipe(question=..., context=..., top_k=1, doc_stride=None,
    max_answer_len=15, max_seq_len=None, max_question_len=64,
    handle_impossible_answer=False, align_to_words=True)`` as transformers
    4.57's pipeline("question-answering") with a *ForQuestionAnswering
    model (transformers 5 removed that pipeline): a question gives
    ``{"score", "start", "end", "answer"}`` when there is one answer, else a
    list of them best first (``start``/``end``: characters of the context).
    Inputs as transformers takes them: ``question=`` and ``context=``
    keywords (a list of questions on one context, or two lists of one
    length), a ``{"question", "context"}`` dict, a list of such dicts, or
    ``pipe(question, context)``; several give one result each, a list of one
    gives that one result alone.
    """

    def __init__(self, model=None, device="cpu", precision=None, threads=None, batch_size=32, weights="fp32",
                 **defaults):
        super().__init__(model, "question-answering",
                         "*ForQuestionAnswering: BERT, DistilBERT, RoBERTa or XLM-RoBERTa",
                         device, precision, threads, batch_size, weights, defaults)
        self._sanitize(**defaults)

    @staticmethod
    def _sanitize(top_k=None, topk=None, doc_stride=None, max_answer_len=None, max_seq_len=None,
                  max_question_len=None, handle_impossible_answer=None, align_to_words=None, padding=None,
                  **unknown):
        _check_unknown(unknown)
        if topk is not None and top_k is None:  # transformers' deprecated spelling
            top_k = topk
        p = {}
        for name, value, low in (("top_k", top_k, 1), ("max_answer_len", max_answer_len, 1),
                                 ("doc_stride", doc_stride, 0), ("max_seq_len", max_seq_len, 1),
                                 ("max_question_len", max_question_len, 1)):
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError("%s must be an int, not %r" % (name, value))
            if value < low:
                raise ValueError("%s parameter should be >= %d (got %d)" % (name, low, value))
            p[name] = value
        if handle_impossible_answer is not None:
            p["handle_impossible_answer"] = bool(handle_impossible_answer)
        if align_to_words is not None:
            p["align_to_words"] = bool(align_to_words)
        # padding: each window runs alone, unpadded; transformers' padding
        # options do not change its answers, so they are accepted and unused.
        return p

    @staticmethod
    def _example(item):
        """The pipeline's argument handler's normalize(): a dict with both keys."""
        if not isinstance(item, dict):
            raise ValueError("%r argument needs to be of type (SquadExample, dict)" % (item,))
        for k in ("question", "context"):
            if k not in item:
                raise KeyError("You need to provide a dictionary with keys {question:..., context:...}")
            if item[k] is None:
                raise ValueError("`%s` cannot be None" % k)
            if isinstance(item[k], str) and len(item[k]) == 0:
                raise ValueError("`%s` cannot be empty" % k)
            if not isinstance(item[k], str):
                raise TypeError("`%s` must be a str, not %s" % (k, type(item[k]).__name__))
        return item["question"], item["context"]

    def _examples(self, args, kwargs):
        """The (question, context) pairs as transformers'
        QuestionAnsweringArgumentHandler makes them."""
        if args:
            if len(args) == 1:
                inputs = args[0]
            elif len(args) == 2 and all(isinstance(a, str) for a in args):
                inputs = [{"question": args[0], "context": args[1]}]
            else:
                inputs = list(args)
        elif "question" in kwargs and "context" in kwargs:
            q, c = kwargs.pop("question"), kwargs.pop("context")
            if isinstance(q, list) and isinstance(c, str):
                inputs = [{"question": x, "context": c} for x in q]
            elif isinstance(q, list) and isinstance(c, list):
                if len(q) != len(c):
                    raise ValueError("Questions and contexts don't have the same lengths")
                inputs = [{"question": x, "context": y} for x, y in zip(q, c)]
            elif isinstance(q, str) and isinstance(c, str):
                inputs = [{"question": q, "context": c}]
            else:
                raise ValueError("Arguments can't be understood")
        else:
            raise ValueError("Unknown arguments %s" % (kwargs,))
        if isinstance(inputs, dict):
            inputs = [inputs]
        elif isinstance(inputs, (list, tuple)) or _is_stream(inputs):
            inputs = list(inputs)
        else:
            raise ValueError("Invalid arguments %s" % (kwargs,))
        return [self._example(x) for x in inputs]

    def _one(self, question, context, p):
        rows = self._pool.run("question_answer", question, context, **p)
        out = [{"score": s, "start": a, "end": b, "answer": t} for s, a, b, t in rows]
        return out[0] if len(out) == 1 else out

    def __call__(self, *args, **kwargs):
        kwargs = dict(kwargs)
        examples = self._examples(args, kwargs)
        p = self._sanitize(**{**self._defaults, **kwargs})
        if "doc_stride" in p and "max_seq_len" in p and p["doc_stride"] > p["max_seq_len"]:
            raise ValueError("`doc_stride` (%d) is larger than `max_seq_len` (%d)" % (p["doc_stride"], p["max_seq_len"]))
        if not examples:
            raise _encore.InputError("no question given: give at least one {question, context}")
        out = [self._one(q, c, p) for q, c in examples]
        return out[0] if len(out) == 1 else out


_TASKS = {
    "text-classification": TextClassificationPipeline,
    "sentiment-analysis": TextClassificationPipeline,
    "feature-extraction": FeatureExtractionPipeline,
    "fill-mask": FillMaskPipeline,
    "zero-shot-classification": ZeroShotClassificationPipeline,
    "question-answering": QuestionAnsweringPipeline,
    "token-classification": TokenClassificationPipeline,
    "ner": TokenClassificationPipeline,
}


def pipeline(task, model=None, device=None, precision=None, threads=None, batch_size=32, weights="fp32", **kwargs):
    """A callable with transformers' pipeline semantics.

    task: "text-classification" (or "sentiment-analysis"),
    "feature-extraction", "fill-mask", "zero-shot-classification",
    "token-classification" (alias "ner") or "question-answering" (these
    four need model=DIR). model: a model directory, an encore.Model, or
    None for the default model of the task (see encore.default_model_dir).
    device: "cpu", "cuda" or "auto" (CUDA on a CUDA build with a GPU, else
    the CPU with one log line); None takes $ENCORE_DEVICE, else "cpu". precision: None (fp32 on the CPU, fp16 on
    CUDA), "fp32", "fp16" or "bf16". threads: CPU threads per call (None:
    all cores). batch_size: inputs per forward pass (results do not depend
    on it). weights: "fp32" (the reference), "bf16", "int8" or "int8-dynamic"
    on the CPU.
    Other keyword arguments (top_k, function_to_apply, truncation, ...)
    become the defaults of every call.

    The pipeline may be called from several threads at once: each call in
    flight takes a session of its own from a pool inside.
    """
    if task not in _TASKS:
        raise ValueError("unknown task %r: encore has %s" % (task, ", ".join(sorted(_TASKS))))
    return _TASKS[task](model=model, device=device, precision=precision, threads=threads, batch_size=batch_size,
                        weights=weights, **kwargs)

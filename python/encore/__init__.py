"""encore: transformer encoder inference (BERT, DistilBERT, RoBERTa, XLM-RoBERTa) in C, from Python.

    import encore
    classify = encore.pipeline("text-classification")    # the default model
    classify("This movie is fantastic!")                 # [{'label': 'POSITIVE', 'score': 0.99...}]
    encoder = encore.SentenceEncoder()                    # all-MiniLM-L6-v2
    encoder.encode(["A sentence.", "Another one."])       # (2, 384) float32

- encore.pipeline(task, model=None, ...): transformers' pipeline() semantics
  for "text-classification" / "sentiment-analysis", "feature-extraction",
  "fill-mask" and "zero-shot-classification".
- encore.SentenceEncoder(model=None).encode(...): sentence-transformers'.
- encore.SparseEncoder(model).encode(...): sentence-transformers' SparseEncoder (SPLADE).
- encore.Model / encore.Session: tokens, logits, scores, embeddings and
  per-token hidden states as numpy.
- encore.ray: callable classes for Ray Data's map_batches.

Threads: Models are shared; a pipeline or SentenceEncoder may be called from
several threads at once (sessions are pooled inside); a Session serves one
thread at a time. Calls release the GIL while they tokenize and run.

Errors: encore.Error and its subclasses, which also derive from the built-in
exception that fits: ModelFileError (FileNotFoundError), ModelError,
UnsupportedError and InputError (ValueError), OutOfMemoryError (MemoryError),
DeviceError (RuntimeError). The message is the C library's.

OpenMP: unless OMP_WAIT_POLICY is set before import, encore sets it to
"passive" (threads sleep between parallel regions rather than spin), which
keeps several sessions, actors or other work on the same cores from
starving each other, as `encore serve` does.
"""

import atexit as _atexit
import logging as _logging
import os as _os

_os.environ.setdefault("OMP_WAIT_POLICY", "passive")

from . import _build_info  # noqa: E402
from ._encore import (  # noqa: E402
    DeviceError,
    Error,
    InputError,
    ModelError,
    ModelFileError,
    OutOfMemoryError,
    UnsupportedError,
)
from ._encore import set_log_handler as _set_log_handler  # noqa: E402
from ._core import Encoding, Model, Session, SessionPool  # noqa: E402
from ._models import default_model_dir  # noqa: E402
from ._pipeline import (  # noqa: E402
    FeatureExtractionPipeline,
    FillMaskPipeline,
    TextClassificationPipeline,
    TokenClassificationPipeline,
    ZeroShotClassificationPipeline,
    pipeline,
)
from ._sentence import SentenceEncoder  # noqa: E402
from ._sparse import SparseEncoder  # noqa: E402

__version__ = _build_info.version
#: True when this build has the CUDA backend (device="cuda" can use a GPU).
has_cuda = _build_info.have_cuda

_logger = _logging.getLogger("encore")
_LEVELS = (_logging.DEBUG, _logging.INFO, _logging.WARNING, _logging.ERROR)


def _log(level, message):
    _logger.log(_LEVELS[level] if 0 <= level < len(_LEVELS) else _logging.ERROR, message)


# The library's log lines (a CUDA fallback, ...) go to the "encore" logger,
# until the interpreter shuts down (then the C library's default sink again).
_set_log_handler(_log)
_atexit.register(_set_log_handler, None)

__all__ = [
    "DeviceError", "Encoding", "Error", "FeatureExtractionPipeline", "FillMaskPipeline", "InputError", "Model",
    "ModelError", "ZeroShotClassificationPipeline", "TokenClassificationPipeline",
    "ModelFileError", "OutOfMemoryError", "SentenceEncoder", "Session", "SessionPool", "SparseEncoder",
    "TextClassificationPipeline", "UnsupportedError", "default_model_dir", "has_cuda", "pipeline",
]

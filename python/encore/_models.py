"""Where encore finds a model when none is named (model=None).

The order, the same as the encore command line's:

1. ``$ENCORE_MODEL``: a model directory, for every task;
2. the default models that ``python3 models/default/assemble.py --out
   build/models/encore-sst2-minilm`` assembles in the source tree the wheel
   was built from (recorded at build time): ``build/models/encore-sst2-minilm``
   for classification, ``build/models/all-minilm-l6-v2`` for embeddings;
3. the same two names under ``$ENCORE_MODELS_DIR`` (default
   ``~/.cache/encore/models``), for an installed wheel away from its source:
   ``python3 models/default/assemble.py --out ~/.cache/encore/models/encore-sst2-minilm``
   puts both there.
"""

import os

from . import _build_info

CLASSIFY_MODEL = "encore-sst2-minilm"
EMBED_MODEL = "all-minilm-l6-v2"


def candidates(task):
    """The directories tried, in order, for task 'classify' or 'embed'."""
    env = os.environ.get("ENCORE_MODEL")
    if env:
        return [env]
    name = CLASSIFY_MODEL if task == "classify" else EMBED_MODEL
    cache = os.environ.get("ENCORE_MODELS_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "encore", "models")
    return [os.path.join(_build_info.source_dir, "build", "models", name), os.path.join(cache, name)]


def default_model_dir(task="classify"):
    """The default model directory for a task, or FileNotFoundError (an
    encore.ModelFileError) saying where it looked and how to make one."""
    from ._encore import ModelFileError

    tried = candidates(task)
    for d in tried:
        # a model directory, or a PEFT adapter directory (the default classifier)
        if any(os.path.isfile(os.path.join(d, f)) for f in ("config.json", "adapter_config.json")):
            return d
    raise ModelFileError(
        "no default %s model: looked in %s. Assemble the default models with "
        "`python3 models/default/assemble.py --out ~/.cache/encore/models/%s` from encore's source tree, "
        "set ENCORE_MODEL to a model directory, or pass model=DIR"
        % ("classification" if task == "classify" else "embedding", ", ".join(tried), CLASSIFY_MODEL)
    )

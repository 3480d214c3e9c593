"""device="cuda" / "auto": on a CUDA build with a GPU, the pipeline runs
there and matches transformers' references (fp32 within 1e-4: cuBLAS sums
in its own order and device expf/erff differ in the last bits; fp16 within
2e-2: fp16 activations); without one, the session falls back to the CPU
with one log line and gives the CPU's results. The GPU tests skip, saying
so, without a usable GPU (the only skip CI accepts)."""

import logging

import pytest

import encore
from conftest import SCORE_ATOL, assert_same_output, load_reference, model_dir


def _gpu_device():
    if not encore.has_cuda:
        return None
    s = encore.Model(model_dir("tiny-bert-sst")).session(device="cuda")
    return s.device if s.device == "cuda" else None


GPU = _gpu_device()
needs_gpu = pytest.mark.skipif(GPU is None, reason="no usable CUDA device (or a build without CUDA)")


def _case(name, case):
    return [c for c in load_reference(name + ".classify.json")["cases"] if c["name"] == case][0]


@pytest.mark.skipif(GPU is not None, reason="a usable GPU is present, so the CPU fallback is not taken here")
def test_cuda_without_gpu_falls_back_to_cpu(caplog):
    with caplog.at_level(logging.INFO, logger="encore"):
        pipe = encore.pipeline("text-classification", model=model_dir("tiny-bert-sst"), device="cuda")
    assert pipe.device == "cpu"
    assert any("CPU" in r.getMessage() or "cpu" in r.getMessage() for r in caplog.records), caplog.records
    case = _case("tiny-bert-sst", "top_k_none_list")
    assert_same_output(pipe(case["inputs"], **case["kwargs"]), case["output"], SCORE_ATOL)
    assert encore.pipeline("text-classification", model=model_dir("tiny-bert-sst"), device="auto").device == "cpu"


@needs_gpu
@pytest.mark.parametrize("name", ["tiny-bert-sst", "tiny-distilbert-sst", "encore-sst2-minilm"])
@pytest.mark.parametrize("precision,atol", [("fp32", 1e-4), ("fp16", 2e-2)])
def test_cuda_pipeline_matches_transformers(name, precision, atol):
    pipe = encore.pipeline("text-classification", model=model_dir(name), device="cuda", precision=precision)
    assert pipe.device == "cuda"
    for case in ("top_k_none_list", "pair_list", "truncation"):
        c = _case(name, case)
        out = pipe(c["inputs"], **c["kwargs"])
        if precision == "fp32":
            assert_same_output(out, c["output"], atol)
        else:  # fp16 may swap near-ties in a top_k list: hold the scores by label
            flat = lambda o: sorted((d["label"], d["score"]) for d in (o if isinstance(o, list) else [o]))  # noqa: E731
            for a, b in zip(out, c["output"]):
                for (la, sa), (lb, sb) in zip(flat(a), flat(b)):
                    assert la == lb and abs(sa - sb) <= atol


@needs_gpu
def test_cuda_encoder_matches_sentence_transformers():
    import os

    import numpy as np

    from conftest import REFERENCE, assert_cosine

    enc = encore.SentenceEncoder(model_dir("all-minilm-l6-v2"), device="cuda", precision="fp32")
    assert enc.device == "cuda"
    case = load_reference("all-minilm-l6-v2.encode.json")["cases"][0]
    ref = np.load(os.path.join(REFERENCE, "all-minilm-l6-v2.encode.npz"))[case["name"]]
    assert_cosine(enc.encode(case["inputs"]), ref)


def test_encore_device_sets_the_default_device(monkeypatch, caplog):
    # device=None takes $ENCORE_DEVICE (the CUDA image sets "cuda"): the GPU
    # where there is one, else the CPU with the fallback's log line; an
    # explicit device wins over it, and a bad value is a clear error.
    path = model_dir("tiny-bert-sst")
    monkeypatch.delenv("ENCORE_DEVICE", raising=False)
    assert encore.pipeline("text-classification", model=path).device == "cpu"
    monkeypatch.setenv("ENCORE_DEVICE", "cuda")
    with caplog.at_level(logging.INFO, logger="encore"):
        pipe = encore.pipeline("text-classification", model=path)
    if GPU is None:
        assert pipe.device == "cpu"
        assert any("running on the CPU" in r.getMessage() for r in caplog.records), caplog.records
    else:
        assert pipe.device == "cuda"
    assert encore.SentenceEncoder(model_dir("tiny-bert-embed")).device == pipe.device
    assert encore.pipeline("text-classification", model=path, device="cpu").device == "cpu"
    monkeypatch.setenv("ENCORE_DEVICE", "gpu")
    with pytest.raises(ValueError, match="ENCORE_DEVICE must be 'cpu', 'cuda' or 'auto', not 'gpu'"):
        encore.pipeline("text-classification", model=path)

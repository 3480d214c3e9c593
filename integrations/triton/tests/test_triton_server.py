"""The encore backend inside a real tritonserver, through tritonclient.

Run by integrations/triton/tests/run.sh, which builds the model repository,
starts the server and passes its addresses in the environment. Every result is
compared with the encore CLI (`encore classify` / `encore embed`, themselves
held to transformers and sentence-transformers by the main suite): identical
labels, scores and embeddings within 1e-6. The CLI and the backend run the same
library on the same machine, and a text's result does not depend on the other
texts of its batch (encore.h), so any difference past float rounding in the
last place means the backend fed the model something else.
"""
import json
import math
import os
import re
import subprocess
import threading
import time
import urllib.request

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from tritonclient.utils import InferenceServerException

HTTP = os.environ["ENCORE_TRITON_HTTP"]
GRPC = os.environ["ENCORE_TRITON_GRPC"]
METRICS = os.environ["ENCORE_TRITON_METRICS"]
LOG = os.environ["ENCORE_TRITON_LOG"]
REPO = os.environ["ENCORE_TRITON_REPO"]
ENCORE = os.environ["ENCORE_BIN"]
FIXTURES = os.environ["ENCORE_FIXTURES"]
DEFAULT_MODEL = os.environ["ENCORE_DEFAULT_MODEL"]

SST_DIR = os.path.join(FIXTURES, "tiny-distilbert-sst")
EMBED_DIR = os.path.join(FIXTURES, "tiny-bert-embed")

# The tolerance of the comparison with the CLI (see the module's docstring).
TOL = 1e-6

TEXTS = [
    "This movie is fantastic!",
    "I hated every minute of it.",
    "",
    "An ok film, nothing more, nothing less.",
    "Déjà vu: the café's crème brûlée was superb 🍮",
    "北京欢迎你",
    "The plot was thin but the acting carried it",
    "worst. film. ever.",
    "It is neither good nor bad, simply there.",
    "A masterpiece of modern cinema, moving and wise",
    "I would not recommend it to anyone",
    "Ünïcödé àccents and MIXED case",
    "tabs\tand  double  spaces",
    "numbers 12345 and symbols #@!",
    "short",
    "a " * 40 + "long but not too long",
]
PAIRS = [
    ("The cat sat on the mat.", "A cat is sitting."),
    ("It rains.", "The weather is dry."),
    ("Déjà vu", "北京"),
]
# Longer than the fixture classifier's 64 positions.
LONG_TEXT = "the film was long " * 60


# ---- the independent reference: the encore CLI ---------------------------------


def cli_classify(model_dir, texts=None, pairs=None, extra=()):
    """Per input: {label: score} and the top label, from `encore classify --top-k all`."""
    cmd = [ENCORE, "classify", "--model", model_dir, "--top-k", "all", "--quiet", *extra]
    if pairs is not None:
        out = subprocess.run(cmd + ["--tsv"], input="".join(f"{a}\t{b}\n" for a, b in pairs),
                             capture_output=True, text=True, check=True).stdout
    else:
        out = subprocess.run(cmd + ["--"] + list(texts), capture_output=True, text=True, check=True).stdout
    rows = [json.loads(line) for line in out.splitlines()]
    n = len(pairs) if pairs is not None else len(texts)
    assert len(rows) == n, f"the CLI gave {len(rows)} results for {n} inputs"
    return [({r["label"]: r["score"] for r in row}, row[0]["label"]) for row in rows]


def cli_embed(model_dir, texts, normalize):
    cmd = [ENCORE, "embed", "--model", model_dir, "--quiet"] + (["--normalize"] if normalize else [])
    out = subprocess.run(cmd + ["--"] + list(texts), capture_output=True, text=True, check=True).stdout
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == len(texts)
    return np.array(rows, dtype=np.float64)


def id2label(model_dir):
    # A PEFT adapter directory (the default model) takes its labels from its
    # base's config.json, as transformers and encore read them.
    adapter = os.path.join(model_dir, "adapter_config.json")
    if os.path.isfile(adapter):
        with open(adapter) as f:
            model_dir = json.load(f)["base_model_name_or_path"]
    with open(os.path.join(model_dir, "config.json")) as f:
        labels = json.load(f)["id2label"]
    return [labels[str(i)] for i in range(len(labels))]


def assert_close(got, want, what):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, want {want.shape}"
    assert got.size > 0, f"{what}: no values"
    assert np.isfinite(got).all(), f"{what}: non-finite values from Triton: {got}"
    assert np.isfinite(want).all(), f"{what}: non-finite values from the CLI: {want}"
    err = np.abs(got - want).max()
    assert err <= TOL, f"{what}: max |Triton - CLI| = {err:.3g} > {TOL}"


def check_classification(model_dir, scores, labels, texts=None, pairs=None, extra=()):
    want = cli_classify(model_dir, texts=texts, pairs=pairs, extra=extra)
    names = id2label(model_dir)
    assert scores.shape == (len(want), len(names)), scores.shape
    for i, (row, (by_label, top)) in enumerate(zip(scores, want)):
        assert sorted(by_label) == sorted(names), f"input {i}: labels {sorted(by_label)} vs {names}"
        assert_close(row, [by_label[n] for n in names], f"input {i} scores")
        assert labels[i].decode() == top, f"input {i}: LABEL {labels[i]!r}, the CLI says {top!r}"


# ---- clients ------------------------------------------------------------------------


def text_input(module, texts, name="TEXT", batched=True):
    arr = np.array([[t if isinstance(t, bytes) else t.encode()] for t in texts], dtype=np.object_)
    if not batched:
        arr = arr.reshape([len(texts)])
    inp = module.InferInput(name, list(arr.shape), "BYTES")
    inp.set_data_from_numpy(arr)
    return inp


def classify(client, module, model, texts, pairs=None):
    inputs = [text_input(module, texts)]
    if pairs is not None:
        inputs.append(text_input(module, pairs, "TEXT_PAIR"))
    res = client.infer(model, inputs)
    return res.as_numpy("SCORES"), res.as_numpy("LABEL").reshape(-1)


@pytest.fixture(scope="module")
def http():
    return httpclient.InferenceServerClient(HTTP)


@pytest.fixture(scope="module")
def grpc():
    return grpcclient.InferenceServerClient(GRPC)


def server_alive(client):
    # (Not is_server_ready: with strict readiness a model that failed to load,
    # as the load-error tests make, marks the whole server not ready.)
    assert client.is_server_live()
    for model in ("sst", "embed", "minilm"):
        assert client.is_model_ready(model), f"{model} is no longer ready"


# ---- configuration --------------------------------------------------------------------


def test_config_is_auto_completed(http):
    cfg = http.get_model_config("sst")
    inputs = {t["name"]: t for t in cfg["input"]}
    outputs = {t["name"]: t for t in cfg["output"]}
    assert set(inputs) == {"TEXT", "TEXT_PAIR"}
    assert inputs["TEXT"]["data_type"] == "TYPE_STRING" and inputs["TEXT"]["dims"] == [1]
    assert inputs["TEXT_PAIR"]["optional"] is True
    assert set(outputs) == {"SCORES", "LABEL"}
    assert outputs["SCORES"]["data_type"] == "TYPE_FP32"
    assert outputs["SCORES"]["dims"] == [len(id2label(SST_DIR))]
    assert outputs["LABEL"]["data_type"] == "TYPE_STRING" and outputs["LABEL"]["dims"] == [1]
    # Triton's default-max-batch-size and, with it, the dynamic batcher.
    assert cfg["max_batch_size"] == 4
    assert "dynamic_batching" in cfg

    cfg = http.get_model_config("embed")
    with open(os.path.join(EMBED_DIR, "config.json")) as f:
        hidden = json.load(f)["hidden_size"]
    assert [(t["name"], t["data_type"], t["dims"]) for t in cfg["output"]] == [("EMBEDDING", "TYPE_FP32", [hidden])]


# ---- classification ------------------------------------------------------------------------


def test_single_http(http):
    scores, labels = classify(http, httpclient, "sst", TEXTS[:1])
    check_classification(SST_DIR, scores, labels, texts=TEXTS[:1])


def test_single_grpc(grpc):
    scores, labels = classify(grpc, grpcclient, "sst", TEXTS[1:2])
    check_classification(SST_DIR, scores, labels, texts=TEXTS[1:2])


@pytest.mark.parametrize("module_name", ["http", "grpc"])
def test_batched_default_model(module_name, http, grpc):
    client, module = (http, httpclient) if module_name == "http" else (grpc, grpcclient)
    scores, labels = classify(client, module, "minilm", TEXTS)
    check_classification(DEFAULT_MODEL, scores, labels, texts=TEXTS)


def test_batched_fixture_at_max_batch_size(http):
    scores, labels = classify(http, httpclient, "sst", TEXTS[:4])
    check_classification(SST_DIR, scores, labels, texts=TEXTS[:4])


def test_unbatched_model(http):
    inp = text_input(httpclient, TEXTS[:1], batched=False)
    res = http.infer("sst_nobatch", [inp])
    scores = res.as_numpy("SCORES")
    assert scores.shape == (2,)
    check_classification(SST_DIR, scores.reshape(1, -1), res.as_numpy("LABEL").reshape(-1), texts=TEXTS[:1])


def test_truncates_long_text_by_default(http):
    scores, labels = classify(http, httpclient, "sst", [LONG_TEXT])
    check_classification(SST_DIR, scores, labels, texts=[LONG_TEXT])


@pytest.mark.parametrize("module_name", ["http", "grpc"])
def test_pairs(module_name, http, grpc):
    client, module = (http, httpclient) if module_name == "http" else (grpc, grpcclient)
    scores, labels = classify(client, module, "sst", [a for a, _ in PAIRS], [b for _, b in PAIRS])
    check_classification(SST_DIR, scores, labels, pairs=PAIRS)
    scores, labels = classify(client, module, "minilm", [a for a, _ in PAIRS], [b for _, b in PAIRS])
    check_classification(DEFAULT_MODEL, scores, labels, pairs=PAIRS)


def test_only_the_requested_output(http):
    res = http.infer("sst", [text_input(httpclient, TEXTS[:2])], outputs=[httpclient.InferRequestedOutput("LABEL")])
    assert res.as_numpy("SCORES") is None
    _, top = zip(*cli_classify(SST_DIR, TEXTS[:2]))
    assert [x.decode() for x in res.as_numpy("LABEL").reshape(-1)] == list(top)


def test_cuda_instance_falls_back_to_the_cpu(http):
    scores, labels = classify(http, httpclient, "sst_cuda", TEXTS[:3])
    check_classification(SST_DIR, scores, labels, texts=TEXTS[:3])
    log = open(LOG, encoding="utf-8", errors="replace").read()
    assert re.search(r"encore: .*running on the CPU", log), "no CPU-fallback line from the library in the log"
    # KIND_MODEL instances are named <group>_<index>_<index>.
    assert re.search(r"encore instance 'sst_cuda_[0-9_]+': runs on the CPU \(no usable GPU\)", log), \
        "no line from the backend saying where the sst_cuda instance runs"


# ---- embeddings ---------------------------------------------------------------------------------


@pytest.mark.parametrize("module_name", ["http", "grpc"])
def test_embeddings(module_name, http, grpc):
    client, module = (http, httpclient) if module_name == "http" else (grpc, grpcclient)
    got = client.infer("embed", [text_input(module, TEXTS[:8])]).as_numpy("EMBEDDING")
    want = cli_embed(EMBED_DIR, TEXTS[:8], normalize=True)
    assert_close(got, want, "embeddings")
    assert_close(np.linalg.norm(got, axis=1), np.ones(8), "embedding norms")


def cli_embed_sparse(model_dir, texts, extra=()):
    """Dense SPLADE weights from `encore embed`'s [{index, value}, ...] lines."""
    cmd = [ENCORE, "embed", "--model", model_dir, "--quiet", *extra, "--"] + list(texts)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) == len(texts)
    return rows


@pytest.mark.parametrize("module_name", ["http", "grpc"])
@pytest.mark.parametrize("model,extra", [("splade", ()), ("splade_mlm", ("--pooling", "splade"))])
def test_splade_weights(module_name, model, extra, http, grpc):
    client, module = (http, httpclient) if module_name == "http" else (grpc, grpcclient)
    cfg = http.get_model_config(model)
    (out,) = cfg["output"]
    texts = [t for t in TEXTS[:8] if t]
    got = client.infer(model, [text_input(module, texts)]).as_numpy("EMBEDDING")
    assert out["name"] == "EMBEDDING" and got.shape == (len(texts), out["dims"][0])
    name = "tiny-bert-splade" if model == "splade" else "tiny-bert-mlm"
    want = np.zeros(got.shape)
    for i, row in enumerate(cli_embed_sparse(os.path.join(FIXTURES, name), texts, extra)):
        for e in row:
            want[i, e["index"]] = e["value"]
    assert (want > 0).sum(axis=1).min() > 10
    assert_close(got, want, "SPLADE weights")


# ---- concurrency and the dynamic batcher --------------------------------------------------------


def concurrent_requests(model, texts, module):
    results = [None] * len(texts)
    errors = []
    start = threading.Barrier(len(texts))

    def one(i):
        try:
            client = module.InferenceServerClient(HTTP if module is httpclient else GRPC)
            inp = text_input(module, [texts[i]])
            start.wait()
            res = client.infer(model, [inp])
            results[i] = (res.as_numpy("SCORES")[0], res.as_numpy("LABEL").reshape(-1)[0])
        except Exception as e:  # reported below, with the others
            errors.append(f"client {i}: {e!r}")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert all(r is not None for r in results), "a client got no answer"
    return np.stack([r[0] for r in results]), np.array([r[1] for r in results])


def model_stats(client, model, until=None, timeout=10):
    """The model's statistics; with until, the first that satisfy it. (The
    backend reports an execution after sending its responses, so a client can
    read the statistics before they include the request it just got back.)"""
    deadline = time.time() + timeout
    while True:
        stats = client.get_inference_statistics(model)["model_stats"][0]
        if until is None or until(stats) or time.time() > deadline:
            return stats
        time.sleep(0.05)


@pytest.mark.parametrize("module_name", ["http", "grpc"])
def test_32_concurrent_clients(module_name, http):
    module = httpclient if module_name == "http" else grpcclient
    texts = [f"{TEXTS[i % len(TEXTS)]} (client {i})" for i in range(32)]
    before = model_stats(http, "minilm")
    scores, labels = concurrent_requests("minilm", texts, module)
    check_classification(DEFAULT_MODEL, scores, labels, texts=texts)
    after = model_stats(http, "minilm",
                        until=lambda st: int(st["inference_count"]) - int(before["inference_count"]) >= 32)
    inferences = int(after["inference_count"]) - int(before["inference_count"])
    executions = int(after["execution_count"]) - int(before["execution_count"])
    assert inferences == 32
    # The dynamic batcher put some of the 32 requests together.
    assert 0 < executions < 32, f"{executions} executions for 32 concurrent requests"


# ---- bad requests: each gets an error, the server stays up ----------------------------------------


def expect_error(fn, *fragments):
    with pytest.raises(InferenceServerException) as e:
        fn()
    msg = str(e.value)
    for f in fragments:
        assert f in msg, f"error {msg!r} does not say {f!r}"
    return msg


@pytest.mark.parametrize("module_name", ["http", "grpc"])
def test_bad_requests_get_errors(module_name, http, grpc):
    client, module = (http, httpclient) if module_name == "http" else (grpc, grpcclient)

    # Wrong dtype.
    inp = module.InferInput("TEXT", [1, 1], "INT32")
    inp.set_data_from_numpy(np.array([[7]], dtype=np.int32))
    expect_error(lambda: client.infer("sst", [inp]), "TEXT")
    server_alive(client)

    # Wrong shapes: two texts per row, and a batch past max_batch_size.
    arr = np.array([[b"a", b"b"]], dtype=np.object_)
    inp = module.InferInput("TEXT", [1, 2], "BYTES")
    inp.set_data_from_numpy(arr)
    expect_error(lambda: client.infer("sst", [inp]))
    expect_error(lambda: client.infer("sst", [text_input(module, TEXTS[:5])]))
    server_alive(client)

    # Invalid UTF-8, alone and beside valid texts in the same request.
    expect_error(lambda: client.infer("sst", [text_input(module, [b"bad \xff\xfe bytes"])]), "invalid UTF-8")
    expect_error(lambda: client.infer("sst", [text_input(module, [b"fine", b"\xc3\x28"])]),
                 "element 1", "invalid UTF-8")
    expect_error(lambda: client.infer("embed", [text_input(module, [b"\xed\xa0\x80"])]), "invalid UTF-8")
    server_alive(client)

    # A NUL byte inside a text.
    expect_error(lambda: client.infer("sst", [text_input(module, [b"a\x00b"])]), "NUL")

    # Over-long with truncation off: the request's error, as `encore classify --no-truncation` fails.
    expect_error(lambda: client.infer("sst_nobatch", [text_input(module, [LONG_TEXT], batched=False)]),
                 "at most 64")
    with pytest.raises(subprocess.CalledProcessError):
        cli_classify(SST_DIR, [LONG_TEXT], extra=["--no-truncation"])

    # TEXT_PAIR without TEXT, and with a different count.
    expect_error(lambda: client.infer("sst", [text_input(module, ["x"], "TEXT_PAIR")]), "TEXT")
    expect_error(lambda: client.infer("sst", [text_input(module, ["x", "y"]), text_input(module, ["z"], "TEXT_PAIR")]))
    server_alive(client)

    # And the server still answers correctly.
    scores, labels = classify(client, module, "sst", TEXTS[:2])
    check_classification(SST_DIR, scores, labels, texts=TEXTS[:2])


def test_bad_request_in_a_dynamic_batch_fails_alone(http):
    """Requests batched together: the bad one gets its error, the others their results."""
    texts = [t.encode() for t in TEXTS[:7]] + [b"\xff broken"]
    results = {}
    start = threading.Barrier(len(texts))

    def one(i):
        client = httpclient.InferenceServerClient(HTTP)
        inp = text_input(httpclient, [texts[i]])
        start.wait()
        try:
            res = client.infer("embed", [inp])
            results[i] = res.as_numpy("EMBEDDING")[0]
        except InferenceServerException as e:
            results[i] = e

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert isinstance(results.get(7), InferenceServerException) and "invalid UTF-8" in str(results[7])
    got = np.stack([results[i] for i in range(7)])
    assert_close(got, cli_embed(EMBED_DIR, TEXTS[:7], normalize=True), "embeddings beside a bad request")


# ---- model management -----------------------------------------------------------------------------


def repository_entry(client, name):
    for m in client.get_model_repository_index():
        if m["name"] == name:
            return m
    raise AssertionError(f"{name} is not in the repository index")


@pytest.mark.parametrize("model,fragments", [
    ("broken", ["cannot load", "no-such-model"]),
    ("bad_param", ["pooling", "'max'"]),
    ("splade_normalized", ["SPLADE", "normalize"]),
])
def test_load_errors_show_in_model_status(http, model, fragments):
    msg = expect_error(lambda: http.load_model(model), *fragments)
    entry = repository_entry(http, model)
    assert entry.get("state") == "UNAVAILABLE", entry
    for f in fragments:
        assert f in entry.get("reason", ""), f"reason {entry.get('reason')!r} does not say {f!r} ({msg})"
    assert not http.is_model_ready(model)
    server_alive(http)


def wait_ready(client, model, ready, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if client.is_model_ready(model) == ready:
            return
        time.sleep(0.1)
    raise AssertionError(f"{model}: ready is not {ready} after {timeout} s")


def test_unload_and_reload(http, grpc):
    inp = lambda: [text_input(httpclient, TEXTS[:1], batched=False)]
    before = http.infer("sst_nobatch", inp()).as_numpy("SCORES")
    http.unload_model("sst_nobatch")
    wait_ready(http, "sst_nobatch", False)
    expect_error(lambda: http.infer("sst_nobatch", inp()))
    deadline = time.time() + 30  # UNLOADING, then UNAVAILABLE once the instances are finalized
    while repository_entry(http, "sst_nobatch")["state"] == "UNLOADING" and time.time() < deadline:
        time.sleep(0.1)
    assert repository_entry(http, "sst_nobatch")["state"] == "UNAVAILABLE"
    grpc.load_model("sst_nobatch")
    wait_ready(http, "sst_nobatch", True)
    after = http.infer("sst_nobatch", inp()).as_numpy("SCORES")
    assert_close(after, before, "scores after the reload")
    check_classification(SST_DIR, after.reshape(1, -1),
                         http.infer("sst_nobatch", inp()).as_numpy("LABEL").reshape(-1), texts=TEXTS[:1])
    assert "successfully unloaded 'sst_nobatch'" in open(LOG, encoding="utf-8", errors="replace").read()


# ---- statistics and metrics --------------------------------------------------------------------------


def test_statistics_show_encore_compute_times(http):
    classify(http, httpclient, "minilm", TEXTS[:8])
    stats = model_stats(http, "minilm", until=lambda st: any(int(b["batch_size"]) == 8 for b in st["batch_stats"]))
    assert int(stats["inference_count"]) >= 8 and int(stats["execution_count"]) >= 1
    infer = stats["inference_stats"]
    for key in ("success", "compute_input", "compute_infer", "compute_output"):
        assert int(infer[key]["count"]) >= 1, f"{key}: {infer[key]}"
    assert int(infer["compute_infer"]["ns"]) > 0
    # The forward pass dominates compute: at least 1 µs per text on any machine.
    assert int(infer["compute_infer"]["ns"]) >= 1000 * int(stats["inference_count"]) // 2
    batches = {int(b["batch_size"]): b for b in stats["batch_stats"]}
    assert 8 in batches and int(batches[8]["compute_infer"]["ns"]) > 0, stats["batch_stats"]
    # Failed requests count as failures, not successes.
    expect_error(lambda: http.infer("sst", [text_input(httpclient, [b"\xff"])]), "invalid UTF-8")
    sst = model_stats(http, "sst", until=lambda st: int(st["inference_stats"]["fail"]["count"]) >= 1)
    assert int(sst["inference_stats"]["fail"]["count"]) >= 1

    with urllib.request.urlopen(f"http://{METRICS}/metrics", timeout=10) as r:
        text = r.read().decode()
    values = {}
    for line in text.splitlines():
        m = re.match(r'(nv_inference_\w+)\{model="minilm",version="1"\} (\S+)', line)
        if m:
            values[m.group(1)] = float(m.group(2))
    for name in ("nv_inference_count", "nv_inference_exec_count", "nv_inference_compute_infer_duration_us",
                 "nv_inference_request_success"):
        assert name in values, f"{name} missing from /metrics"
        assert math.isfinite(values[name]) and values[name] > 0, f"{name} = {values[name]}"

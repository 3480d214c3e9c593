#!/usr/bin/env python3
"""The encore backend's KIND_GPU instances inside a real tritonserver, on a GPU.

Run by bench/device-triton.sh, which starts the server with a model repository
of pairs: each model twice, once as a KIND_GPU instance group and once as a
KIND_CPU one, same directory, same parameters. The CPU instance is the
reference (the CPU path is held to transformers by the main suite); the GPU
instance must agree with it:
  - fp32: identical labels, scores and embeddings within 1e-4;
  - fp16 (the GPU's default precision): labels identical wherever the CPU's
    top two scores are more than 2e-2 apart, scores within 2e-2.
It also sends 32 concurrent clients at a GPU instance (the dynamic batcher
merges them: the statistics must show fewer executions than requests), reads
/metrics and the statistics API, unloads and reloads a GPU model through the
repository API, and times the DistilBERT-shaped model at concurrency 1, 8 and
32 on both instance kinds. Plain HTTP/JSON from the standard library: the GPU
host has no tritonclient.

    device_triton.py HTTP_PORT METRICS_PORT SERVER_LOG SST2_TSV OUT.md
"""
import json
import re
import statistics
import sys
import threading
import time
import urllib.error
import urllib.request

import numpy as np

HTTP, METRICS, LOG, SST2, OUT = sys.argv[1:6]
BASE = f"http://127.0.0.1:{HTTP}"
failures = []
report = []


def say(line=""):
    print(line, flush=True)
    report.append(line)


def check(ok, what):
    if not ok:
        failures.append(what)
        say(f"- FAIL: {what}")
    return ok


def post(path, body=None, timeout=60):
    data = json.dumps(body).encode() if body is not None else b""
    req = urllib.request.Request(BASE + path, data=data, method="POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        raw = r.read()
    return json.loads(raw) if raw else {}


def get(path, base=BASE):
    with urllib.request.urlopen(base + path, timeout=30) as r:
        return r.read().decode()


def infer(model, texts, outputs):
    body = {"inputs": [{"name": "TEXT", "datatype": "BYTES", "shape": [len(texts), 1], "data": list(texts)}],
            "outputs": [{"name": o} for o in outputs]}
    res = post(f"/v2/models/{model}/infer", body)
    out = {}
    for o in res["outputs"]:
        arr = np.array(o["data"], dtype=object if o["datatype"] == "BYTES" else np.float64)
        out[o["name"]] = arr.reshape(o["shape"])
    return out


def texts_from(path, n):
    rows = []
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            if i == 0 and line.lower().startswith("sentence"):
                continue
            rows.append(line.rstrip("\n").split("\t")[0])
    return rows[:n] if n else rows


def batched(model, texts, outputs, size):
    parts = [infer(model, texts[i:i + size], outputs) for i in range(0, len(texts), size)]
    return {k: np.concatenate([p[k] for p in parts]) for k in outputs}


def compare_classifier(gpu, cpu, texts, tol, tie):
    g = batched(gpu, texts, ["SCORES", "LABEL"], 8)
    c = batched(cpu, texts, ["SCORES", "LABEL"], 8)
    gs, cs = g["SCORES"], c["SCORES"]
    check(np.isfinite(gs).all(), f"{gpu}: non-finite scores")
    err = float(np.abs(gs - cs).max())
    top2 = np.sort(cs, axis=1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) > tie
    same = g["LABEL"].reshape(-1) == c["LABEL"].reshape(-1)
    say(f"- `{gpu}` against `{cpu}`, {len(texts)} SST-2 dev texts in batches of 8: max |score diff| {err:.2e} "
        f"(bound {tol:g}); labels agree on {int(same.sum())}/{len(texts)} "
        f"({int((same | ~clear).sum())}/{len(texts)} counting near-ties within {tie:g})")
    check(err <= tol, f"{gpu}: max score diff {err:.3g} > {tol}")
    check(bool((same | ~clear).all()), f"{gpu}: a label differs where the CPU's margin exceeds {tie}")
    return c


def concurrent(model, texts, clients, outputs=("SCORES",)):
    """Each client sends its share of texts one request each; returns results by index and latencies."""
    results, lat, errors = {}, [], []
    lock = threading.Lock()

    def work(k):
        for i in range(k, len(texts), clients):
            t0 = time.perf_counter()
            try:
                r = infer(model, [texts[i]], list(outputs))
            except Exception as e:  # noqa: BLE001 - every failure is reported
                with lock:
                    errors.append(repr(e))
                continue
            dt = time.perf_counter() - t0
            with lock:
                results[i] = r
                lat.append(dt)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=work, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results, lat, time.perf_counter() - t0, errors


def stats(model):
    s = json.loads(get(f"/v2/models/{model}/stats"))["model_stats"][0]
    return int(s["inference_count"]), int(s["execution_count"]), s


def main():
    dev = texts_from(SST2, 0)
    say("## encore inside Triton on the GPU: KIND_GPU instances against KIND_CPU\n")
    log = open(LOG, encoding="utf-8", errors="replace").read()
    for m in ("sst_gpu", "sst_gpu16", "embed_gpu"):
        on_gpu = re.search(rf"encore instance '{m}_\d+_\d+': runs on CUDA device (\d+)", log)
        check(on_gpu is not None, f"{m}: the log does not say its instance runs on a CUDA device")
        if on_gpu:
            say(f"- `{m}`: the server log says: runs on CUDA device {on_gpu.group(1)}")
    check("no usable GPU" not in log, "an instance fell back to the CPU (no usable GPU)")

    texts = dev[:256]
    compare_classifier("sst_gpu", "sst_cpu", texts, 1e-4, 0.0)
    compare_classifier("sst_gpu16", "sst_cpu", texts, 2e-2, 2e-2)
    ge = batched("embed_gpu", texts, ["EMBEDDING"], 8)["EMBEDDING"]
    ce = batched("embed_cpu", texts, ["EMBEDDING"], 8)["EMBEDDING"]
    eerr = float(np.abs(ge - ce).max())
    say(f"- `embed_gpu` against `embed_cpu`: {ge.shape[0]} embeddings of {ge.shape[1]}, max |diff| {eerr:.2e} (bound 1e-4)")
    check(eerr <= 1e-4 and np.isfinite(ge).all(), f"embed_gpu: max diff {eerr:.3g} > 1e-4")

    # 32 concurrent clients, one text per request: the dynamic batcher merges them.
    want = batched("sst_cpu", dev, ["SCORES"], 8)["SCORES"]
    n0, e0, _ = stats("sst_gpu")
    res, lat, wall, errors = concurrent("sst_gpu", dev, 32)
    n1, e1, _ = stats("sst_gpu")
    check(not errors, f"sst_gpu under 32 clients: {len(errors)} errors, first {errors[:1]}")
    got = np.array([res[i]["SCORES"][0] for i in range(len(dev)) if i in res])
    err = float(np.abs(got - want[[i for i in range(len(dev)) if i in res]]).max()) if len(got) else float("nan")
    say(f"- 32 concurrent clients, {len(dev)} single-text requests to `sst_gpu`: {len(res)} answered, max |score diff| "
        f"against the CPU {err:.2e}; {n1 - n0} inferences in {e1 - e0} executions (mean batch "
        f"{(n1 - n0) / max(e1 - e0, 1):.1f})")
    check(len(res) == len(dev) and err <= 1e-4, "sst_gpu under 32 clients: missing results or scores off")
    check(e1 - e0 < n1 - n0, "the dynamic batcher merged no requests on the GPU instance")

    metrics = get("/metrics", base=f"http://127.0.0.1:{METRICS}")
    m = re.search(r'nv_inference_compute_infer_duration_us\{model="sst_gpu",version="1"\} (\d+)', metrics)
    check(m is not None and int(m.group(1)) > 0, "/metrics has no compute time for sst_gpu")
    gpu_lines = [line for line in metrics.splitlines() if line.startswith("nv_gpu_") and "{" in line]
    say(f"- /metrics: nv_inference_compute_infer_duration_us for sst_gpu = {m.group(1) if m else 'missing'}; "
        f"{len(gpu_lines)} nv_gpu_* samples (Triton's own GPU metrics)")

    # Unload and reload a GPU model through the repository API.
    post("/v2/repository/models/sst_gpu/unload")
    for _ in range(100):
        try:
            urllib.request.urlopen(f"{BASE}/v2/models/sst_gpu/ready", timeout=5)
        except urllib.error.HTTPError:
            break
        time.sleep(0.1)
    post("/v2/repository/models/sst_gpu/load")
    again = batched("sst_gpu", texts[:16], ["SCORES"], 8)["SCORES"]
    rerr = float(np.abs(again - want[:16]).max())
    say(f"- unload and reload of `sst_gpu` through the repository API: scores after the reload within {rerr:.2e}")
    check(rerr <= 1e-4, f"sst_gpu after reload: diff {rerr:.3g}")

    # Throughput on the DistilBERT-shaped model (bench/cuda/bench_model's
    # directory), when the device check left it on this machine.
    index = post("/v2/repository/index", {"ready": True})
    ready = {m["name"] for m in index} if isinstance(index, list) else set()
    if {"distil_gpu", "distil_cpu"} <= ready:
        say("\n### Throughput through Triton's HTTP endpoint (one text per request, SST-2 dev sentences)\n")
        say("| model | instances | clients | requests | texts/s | p50 ms | p99 ms |")
        say("|---|---|---|---|---|---|---|")
        for model, kind in (("distil_gpu", "1 x KIND_GPU, fp16"), ("distil_cpu", "1 x KIND_CPU, fp32")):
            infer(model, dev[:8], ["SCORES"])  # warm-up
            for clients in (1, 8, 32):
                n = 256 if model == "distil_cpu" else len(dev)
                res, lat, wall, errors = concurrent(model, dev[:n], clients)
                check(not errors, f"{model} at {clients} clients: {len(errors)} errors")
                lat.sort()
                p = lambda q: 1e3 * lat[min(len(lat) - 1, int(q * len(lat)))]  # noqa: E731
                say(f"| {model} | {kind} | {clients} | {len(res)} | {len(res) / wall:.0f} | {p(0.5):.2f} | {p(0.99):.2f} |")
    else:
        say("- the DistilBERT-shaped model was not there (bench_model did not run): no throughput table")

    say("")
    say("PASS" if not failures else f"FAILED: {len(failures)} checks: " + "; ".join(failures))
    with open(OUT, "w") as f:
        f.write("\n".join(report) + "\n")
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())

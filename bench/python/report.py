#!/usr/bin/env python3
"""Write bench/python/run.sh's results into bench/RESULTS.md (one section,
replaced on each run; the rest of the file is kept).

usage: bench/python/report.py RESULT_DIR THREADS COMMAND
"""

import glob
import json
import os
import platform
import sys

HEADING = "## Python: encore.pipeline against transformers and optimum"
NAMES = {"encore": "encore.pipeline", "encore-session": "encore.Session.scores (the binding alone)",
         "cli": "C library (`encore bench`)", "transformers": "transformers pipeline",
         "optimum": "optimum ORT pipeline"}


def cpu_model():
    """'AMD EPYC ..., 2 cores, AVX-512' from /proc/cpuinfo."""
    name, flags = platform.processor(), set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    isa = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return "%s, %d cores, %s" % (name, os.cpu_count(), isa)


def load_best(rdir):
    """Per variant, the best round of each cell."""
    runs = {}
    for path in sorted(glob.glob(os.path.join(rdir, "*.json"))):
        with open(path) as f:
            r = json.load(f)
        runs.setdefault(r["variant"], []).append(r)
    return {v: {"single": min(r["single"]["p50_ms"] for r in rs), "p90": min(r["single"]["p90_ms"] for r in rs),
                "batch": max(r["batch"]["seq_per_s"] for r in rs), "rounds": len(rs),
                "versions": rs[0].get("versions", {}), "labels": rs[0].get("labels_first_256"),
                "load": [r["load_before"][0] for r in rs]} for v, rs in runs.items()}


def main():
    rdir, threads, command = sys.argv[1], sys.argv[2], sys.argv[3]
    plural = "" if threads == "1" else "s"
    heading = "%s, %s thread%s" % (HEADING, threads, plural)
    best = load_best(rdir)
    overhead = load_best(os.path.join(rdir, "overhead"))
    ref = best.get("transformers", {}).get("labels")
    lines = [heading, "", "`%s`, %s, %s thread%s, the default model (7 layers, hidden 384), SST-2 dev sentences "
             "in file order, tokenization and the pipeline's output included; each cell the best of %d "
             "interleaved rounds, one process per variant. Single: p50 (p90) ms per call of one text; batch: "
             "sequences/s for calls of 64 texts. The optimum pipeline runs the graph "
             "ORTModelForSequenceClassification exports from the same directory (no extra optimizer pass; "
             "bench/peers times ONNX Runtime with its transformer fusions)." % (command, cpu_model(), threads, plural,
                                                      max(b["rounds"] for b in best.values())), "",
             "| variant | single text | batch 64 | labels = transformers' (256 texts) |", "|---|---:|---:|---|"]
    for v in ("encore", "encore-session", "cli", "transformers", "optimum"):
        if v not in best:
            lines.append("| %s | not run | | |" % NAMES[v])
            continue
        b = best[v]
        agree = "-" if b["labels"] is None or ref is None else (
            "%d/256" % sum(a == c for a, c in zip(b["labels"], ref)))
        lines.append("| %s | %.2f ms (%.2f) | %.0f seq/s | %s |" % (NAMES[v], b["single"], b["p90"], b["batch"],
                                                                 agree))
    lines.append("")
    if "encore" in best:
        e = best["encore"]
        for peer in ("transformers", "optimum"):
            if peer in best:
                p = best[peer]
                lines.append("- encore.pipeline against the %s: %.2fx faster for a single text, %.2fx for "
                             "batch 64." % (NAMES[peer], p["single"] / e["single"], e["batch"] / p["batch"]))
    if all(v in overhead for v in ("encore", "encore-session", "cli")):
        o = overhead
        lines.append("- Python's per-call overhead over the C library, measured where it shows, on the tiny "
                     "fixture model (tests/fixtures/models/tiny-bert-sst, a forward pass of microseconds), same "
                     "texts, single text p50: C library %.1f us, encore.Session.scores %.1f us (+%.1f us: "
                     "the binding), encore.pipeline %.1f us (+%.1f us: the binding and the pipeline's "
                     "Python); batch 64: %.0f, %.0f and %.0f seq/s. On the default model above the difference "
                     "is within the noise of the load." % (
                         1e3 * o["cli"]["single"], 1e3 * o["encore-session"]["single"],
                         1e3 * (o["encore-session"]["single"] - o["cli"]["single"]), 1e3 * o["encore"]["single"],
                         1e3 * (o["encore"]["single"] - o["cli"]["single"]), o["cli"]["batch"],
                         o["encore-session"]["batch"], o["encore"]["batch"]))
    loads = [x for b in best.values() for x in b["load"]]
    lines.append("- Versions: %s. Load average (1 min) before each run: %.1f to %.1f (other work shared the "
                 "cores: the figures move with it)." % (
                     "; ".join("%s: %s" % (NAMES[v], ", ".join("%s %s" % kv for kv in sorted(b["versions"].items())))
                               for v, b in best.items() if b["versions"]), min(loads), max(loads)))
    lines.append("")
    section = "\n".join(lines) + "\n"
    path = "bench/RESULTS.md"
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if heading in text:
        start = text.index(heading)
        end = text.find("\n## ", start + len(heading))
        text = text[:start] + section + (text[end + 1:] if end >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    print(section)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes the section "## Pipelines: encore against transformers, per task"
of bench/RESULTS.md from bench_tasks.py's JSON files (DIR/TASK.VARIANT.ROUND.json):
each cell's best round, the ratio, and whether the two sides gave the same
outputs on the checked inputs (strings and integers equal, numbers within
1e-4)."""

import glob
import json
import math
import os
import platform
import sys

TOL = 1e-4
SECTION = "## Pipelines: encore against transformers, per task"


def same(a, b):
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, float) or isinstance(b, float):
        if not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
            return False
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return abs(a - b) <= TOL
    return a == b


def cpu():
    name, flags = "?", set()
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name") and name == "?":
            name = line.split(":", 1)[1].strip()
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
    isa = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16") if f in flags]
    return f"{name} ({platform.machine()}, {os.cpu_count()} cores; {', '.join(isa)})"


def ratio(x):
    """A speed-up, bold where encore is ahead."""
    return f"**{x:.2f}×**" if x > 1 else f"{x:.2f}×"


def main():
    out_dir, command = sys.argv[1], sys.argv[2]
    runs = {}
    for path in sorted(glob.glob(os.path.join(out_dir, "*.json"))):
        d = json.load(open(path, encoding="utf-8"))
        runs.setdefault((d["task"], d["threads"]), {}).setdefault(d["variant"], []).append(d)
    lines = [SECTION, "", f"Command: `{command}`, where ENCORE_PY is a Python with the encore package "
             "(`pip install ./python`), ENCORE_HF_PY one with torch and transformers 5 "
             "(models/requirements-fixtures.txt) and ENCORE_QA_HF_PY one with transformers 4.57, the last with the "
             "question-answering pipeline (models/requirements-qa.txt).", "",
             f"- Machine: {cpu()}; load average {open('/proc/loadavg').read().split()[0]} at the end of the run.",
             "- Models: the real all-MiniLM-L6-v2 encoder (6 layers, hidden 384, 30,522-token vocabulary) under "
             "each task's head, drawn at random with a fixed seed (bench/pipelines/make_models.py); the same "
             "directory for both sides.",
             "- Inputs: SST-2 dev sentences in file order (bench/pipelines/bench_tasks.py says how each task uses "
             "them). Single: one input per call, p50 over the calls. Batch: many inputs per call, inputs/s. "
             "Each cell is its best round; every call runs from text to the pipeline's output.",
             "- Same output: the first inputs answered by both sides, compared whole (labels, tokens, words, "
             "offsets equal; scores within 1e-4).", "",
             "| task | threads | encore p50 ms | transformers p50 ms | speed-up | encore inputs/s (batch) "
             "| transformers inputs/s | speed-up | same output |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    versions, hf_versions = {}, {}
    for (task, threads), sides in sorted(runs.items()):
        if "encore" not in sides or "transformers" not in sides:
            continue
        e, t = sides["encore"], sides["transformers"]
        e_p50 = min(r["single"]["p50_ms"] for r in e)
        t_p50 = min(r["single"]["p50_ms"] for r in t)
        e_b = max(r["batch_result"]["inputs_per_s"] for r in e)
        t_b = max(r["batch_result"]["inputs_per_s"] for r in t)
        eo, to = e[0]["outputs"], t[0]["outputs"]
        agree = sum(same(a, b) for a, b in zip(eo, to))
        lines.append(f"| {task} | {threads} | {e_p50:.2f} | {t_p50:.2f} | {ratio(t_p50 / e_p50)} | {e_b:.1f} "
                     f"| {t_b:.1f} | {ratio(e_b / t_b)} | {agree} / {min(len(eo), len(to))} |")
        versions.update(e[0]["versions"])
        hf_versions[task] = ", ".join(f"{k} {v}" for k, v in sorted(t[0]["versions"].items()) if k != "python")
    common = max(set(hf_versions.values()), key=list(hf_versions.values()).count) if hf_versions else ""
    others = [f"{task}: {v}" for task, v in sorted(hf_versions.items()) if v != common]
    lines += ["", "Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(versions.items())) +
              f"; the transformers side: {common}" + (f" ({'; '.join(others)})" if others else "") + ".", ""]
    text = "\n".join(lines)
    print(text)
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    from results_md import write_section

    write_section(SECTION, text)


if __name__ == "__main__":
    main()

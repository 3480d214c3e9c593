#!/usr/bin/env python3
"""Merge bench_model's and peer_torch.py's JSON lines into a markdown report
with the issue's targets checked, for bench/RESULTS.md.

    python3 bench/cuda/report.py ENCORE.jsonl TORCH.jsonl KERNELS.md > RESULTS.md
"""
import json
import os
import sys


def load(path):
    rows = []
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    rows.append(json.loads(line))
    return rows


def of_model(rows, name):
    """The rows of one model (rows without a name are DistilBERT's)."""
    return [r for r in rows if r.get("model", "distilbert") == name]


def side_table(enc, tor):
    """encore's fp16 grid and SST-2 rows beside PyTorch's, where it ran them."""
    t = {(r["case"], r["batch"], r["length"]): r for r in tor if "ms" in r}
    print("| case | batch | length | encore ms | encore seq/s | torch ms | torch seq/s | speed-up |")
    print("|---|---|---|---|---|---|---|---|")
    for r in enc:
        if r["precision"] != "fp16" or r["case"] not in ("grid", "sst2"):
            continue
        p = t.get((r["case"], r["batch"], r["length"]))
        if p is None and r["case"] == "sst2":
            p = next((x for (c, b, _), x in t.items() if c == "sst2"), None)
        tm = f"{p['ms']:.3f} | {p['seq_per_s']:.0f} | {p['ms'] / r['ms']:.2f}x" if p else "- | - | -"
        length = f"{r['length']}" if r["case"] == "grid" else f"mixed, max {r['length']}"
        print(f"| {r['case']} | {r['batch']} | {length} | {r['ms']:.3f} | {r['seq_per_s']:.0f} | {tm} |")
    return t


def print_parity(tor):
    parity = next((r for r in tor if r.get("case") == "parity"), None)
    if parity:
        print(f"\nParity: max |torch - encore| fp16 logit difference on an 8 x 128 batch: "
              f"{parity['max_abs_logit_diff_vs_encore']:.3g}")


def main():
    enc_all, tor_all = load(sys.argv[1]), load(sys.argv[2])
    enc, tor = of_model(enc_all, "distilbert"), of_model(tor_all, "distilbert")
    kernels = open(sys.argv[3]).read() if len(sys.argv) > 3 and os.path.exists(sys.argv[3]) else ""
    device = next((r.get("device") for r in tor if r.get("device")), "the GPU")
    print(f"# encore on {device}: DistilBERT-shaped model (6 layers, hidden 768, random fp16 weights)\n")
    print("Throughput of `encore_session_logits_encoded` (pre-tokenized inputs; packing, upload and download "
          "included) against PyTorch fp16 with SDPA on the same GPU, same weights, same run. Median of repeats.\n")
    t = side_table(enc, tor)
    print("\nOther settings:\n")
    print("| precision | graphs | batch | length | ms | seq/s |")
    print("|---|---|---|---|---|---|")
    for r in enc:
        if r["precision"] != "fp16" or r["case"] == "nograph":
            print(f"| {r['precision']} | {r['graphs']} | {r['batch']} | {r['length']} | {r['ms']:.3f} | "
                  f"{r['seq_per_s']:.0f} |")
    print_parity(tor)
    print("\n## Targets (issue 4)\n")
    g = {(r["batch"], r["length"]): r for r in enc if r["case"] == "grid" and r["precision"] == "fp16"}
    best128 = max((r["seq_per_s"] for (b, l), r in g.items() if l == 128), default=0)
    b1 = g.get((1, 128))
    speedups = [t[("grid", b, l)]["ms"] / r["ms"] for (b, l), r in g.items() if ("grid", b, l) in t]
    checks = [
        (f"length 128, fp16: >= 40,000 seq/s (best batch: {best128:.0f})", best128 >= 40000),
        (f"batch 1, length 128: < 0.3 ms ({b1['ms']:.3f} ms)" if b1 else "batch 1, length 128: not measured",
         bool(b1) and b1["ms"] < 0.3),
        (f">= 2x PyTorch fp16 SDPA (lowest speed-up over the grid: {min(speedups):.2f}x)" if speedups
         else ">= 2x PyTorch: not measured", bool(speedups) and min(speedups) >= 2.0),
    ]
    for text, ok in checks:
        print(f"- [{'x' if ok else ' '}] {text}")
    deberta = of_model(enc_all, "deberta")
    if deberta:
        print("\n## DeBERTa-v3-base-shaped model (12 layers, hidden 768, 256 position buckets, random fp16 "
              "weights)\n")
        side_table(deberta, of_model(tor_all, "deberta"))
        print_parity(of_model(tor_all, "deberta"))
    if kernels:
        print("\n" + kernels)
    return 0


if __name__ == "__main__":
    sys.exit(main())

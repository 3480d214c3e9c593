#!/usr/bin/env python3
"""What low-precision weights cost in accuracy, measured: the default model's
fp32 weights against --weights W on the real-model parity set
(tests/reference-real/cases.json: 872 SST-2 dev sentences and 295 varied
texts, pairs skipped) and SST-2 dev accuracy.

    python3 bench/weights/accuracy.py [--encore build/encore] [--model DIR] [--weights bf16]

Prints label agreement with fp32, SST-2 dev accuracy of both, and the
largest difference in the top score (and the largest against transformers'
pipeline, which the reference file holds). Standard library only."""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def classify(encore, model, weights, texts):
    """The top label and score for each text, as arguments (some texts hold
    newlines, which stdin would split), 200 to an encore process."""
    rows = []
    for i in range(0, len(texts), 200):
        out = subprocess.run([encore, "classify", "--model", model, "--weights", weights, "--quiet", "--"]
                             + texts[i:i + 200], capture_output=True, text=True).stdout
        rows += [json.loads(line) for line in out.splitlines()]
    if len(rows) != len(texts):
        sys.exit(f"accuracy: {len(texts)} texts in, {len(rows)} results out")
    bad = [r for r in rows if not isinstance(r, list)]
    if bad:
        sys.exit(f"accuracy: encore failed on {len(bad)} texts, e.g. {bad[0]}")
    return [(r[0]["label"], r[0]["score"]) for r in rows]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--encore", default=os.path.join(ROOT, "build", "encore"))
    ap.add_argument("--model", default=os.path.join(ROOT, "build", "models", "encore-sst2-minilm"))
    ap.add_argument("--weights", default="bf16")
    ap.add_argument("--cases", default=os.path.join(ROOT, "tests", "reference-real", "cases.json"))
    a = ap.parse_args()

    cases = [c for c in json.load(open(a.cases))["cases"] if c.get("text_pair") is None and "label" in c]
    if not cases:
        sys.exit("accuracy: no cases in " + a.cases)
    texts = [c["text"] for c in cases]
    ref = classify(a.encore, a.model, "fp32", texts)
    low = classify(a.encore, a.model, a.weights, texts)

    agree = sum(r[0] == l[0] for r, l in zip(ref, low))
    # Scores compared on the same label; where labels differ, compare the
    # probability of fp32's label (1 - score for two labels).
    def p_of(label, row):
        return row[1] if row[0] == label else 1.0 - row[1]
    worst = max(abs(r[1] - p_of(r[0], l)) for r, l in zip(ref, low))
    worst_hf = max(abs(c["score"] - p_of(c["label"], l)) for c, l in zip(cases, low))
    worst_hf32 = max(abs(c["score"] - p_of(c["label"], r)) for c, r in zip(cases, ref))

    dev = [(i, c) for i, c in enumerate(cases) if c.get("dev_label") is not None]
    names = json.load(open(a.cases))["labels"]
    acc = lambda rows: sum(rows[i][0] == names[c["dev_label"]] for i, c in dev) / len(dev)
    flips = [(c["text"], r, l) for c, r, l in zip(cases, ref, low) if r[0] != l[0]]

    print(f"texts: {len(cases)} ({len(dev)} SST-2 dev)")
    print(f"label agreement {a.weights} vs fp32: {agree}/{len(cases)} = {100.0 * agree / len(cases):.2f} %")
    print(f"SST-2 dev accuracy: fp32 {100 * acc(ref):.2f} %, {a.weights} {100 * acc(low):.2f} % "
          f"(change {100 * (acc(low) - acc(ref)):+.2f} points)")
    print(f"largest score difference {a.weights} vs fp32: {worst:.2e}")
    print(f"largest score difference vs transformers: fp32 {worst_hf32:.2e}, {a.weights} {worst_hf:.2e}")
    for text, r, l in flips[:10]:
        print(f"  flipped: {text[:60]!r}: fp32 {r[0]} {r[1]:.4f}, {a.weights} {l[0]} {l[1]:.4f}")


if __name__ == "__main__":
    main()

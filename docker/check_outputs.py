#!/usr/bin/env python3
"""Check what an encore image printed against a fixture's reference, which
transformers' pipeline wrote (tests/fixtures/reference/*.json).

  check_outputs.py texts REF                  the reference's single texts, NUL-separated
  check_outputs.py request REF                /predict's request body for them (the non-empty ones)
  check_outputs.py classify REF OUTPUT        encore classify's JSON lines, one per text
  check_outputs.py pipeline REF OUTPUT        the Python package's pipeline results, one JSON line per text
  check_outputs.py predict REF OUTPUT         /predict's answer to `request`

Each text must get the pipeline's label and its score within 1e-5: the
tolerance the CLI and server tests hold (fp32 sums in another order than
PyTorch's, then a softmax)."""
import json
import sys

TOL = 1e-5


def cases(ref):
    with open(ref, encoding="utf-8") as f:
        data = json.load(f)
    # Single texts the pipeline scores (pairs and too-long texts are other
    # tests'), that a command line can carry (no NUL).
    return [c for c in data["cases"] if c["text_pair"] is None and not c["too_long"] and "\0" not in c["text"]]


def server_cases(ref):
    # TEI's /predict refuses an empty text (error_type "empty"), as encore
    # serve does; the request asks for truncation, as the reference did.
    return [c for c in cases(ref) if c["text"]]


def best(result):
    """The top entry of one text's result: a dict, or a list of label/score dicts."""
    if isinstance(result, dict):
        return result
    if isinstance(result, list) and result and all(isinstance(r, dict) for r in result):
        return max(result, key=lambda r: r["score"])
    raise ValueError(f"not a classification result: {result!r}")


def compare(want, results, what):
    if not isinstance(results, list):
        sys.exit(f"{what}: not a list of results: {json.dumps(results)[:300]}")
    if len(results) != len(want):
        sys.exit(f"{what}: {len(results)} results for {len(want)} texts")
    bad = 0
    for case, got in zip(want, results):
        expect = json.loads(case["pipeline"])[0]
        try:
            top = best(got)
            ok = top["label"] == expect["label"] and abs(top["score"] - expect["score"]) <= TOL
        except (ValueError, KeyError, TypeError) as e:
            ok, top = False, str(e)
        if not ok:
            bad += 1
            print(f"{what}: {case['name']}: got {top}, want {expect}", file=sys.stderr)
    if bad:
        sys.exit(f"{what}: {bad} of {len(want)} texts differ from the pipeline")
    print(f"{what}: {len(want)} texts match the pipeline (label, score within {TOL})")


def main():
    cmd, ref = sys.argv[1], sys.argv[2]
    if cmd == "texts":
        sys.stdout.write("".join(c["text"] + "\0" for c in cases(ref)))
    elif cmd == "request":
        print(json.dumps({"inputs": [[c["text"]] for c in server_cases(ref)], "truncate": True}))
    elif cmd == "classify":
        with open(sys.argv[3], encoding="utf-8") as f:
            compare(cases(ref), [json.loads(line) for line in f if line.strip()], "classify")
    elif cmd == "pipeline":
        with open(sys.argv[3], encoding="utf-8") as f:
            compare(cases(ref), [json.loads(line) for line in f if line.strip()], "encore.pipeline")
    elif cmd == "predict":
        with open(sys.argv[3], encoding="utf-8") as f:
            compare(server_cases(ref), json.load(f), "/predict")
    else:
        sys.exit(f"unknown command {cmd}")


if __name__ == "__main__":
    main()

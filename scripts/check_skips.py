#!/usr/bin/env python3
"""Fail when ctest skipped a test for any reason but the GPU or a CPU path.

usage: scripts/check_skips.py JUNIT_XML

Reads the file `ctest --output-junit` wrote and prints every skipped test with
the reason it gave (gtest's GTEST_SKIP message). The CUDA tests skip without a
usable GPU, the CPU-fallback tests skip with one, and a CPU path the CPU
lacks (AVX2, AVX-512) is skipped naming the missing feature: those skips are
expected and only counted. Any other skip (a model, a tool or a data file
missing) means the suite did not test what it claims, and the exit status is 1.
"""
import re
import sys
import xml.etree.ElementTree as ET

# Skips that depend only on what this machine is: whether it has a usable
# GPU, and which CPU paths (AVX2, AVX-512) it can run; each names what is
# missing.
ALLOWED = [
    re.compile(r"^no usable CUDA device"),
    re.compile(r"^a usable GPU is present, so the CPU fallback is not taken here"),
    re.compile(r"^no AVX[-0-9A-Za-z +]* on this CPU"),
    re.compile(r"^this CPU lacks [a-z0-9_]+"),
]


def reason(system_out):
    """The message of a gtest skip: the lines between '...: Skipped' and '[  SKIPPED ]'."""
    lines = (system_out or "").splitlines()
    for line in lines:
        # A test that is not gtest's (ctest's SKIP_RETURN_CODE) says why on a
        # line of its own.
        if line.startswith("SKIPPED: "):
            return line[len("SKIPPED: "):].strip()
    for i, line in enumerate(lines):
        if line.endswith(": Skipped"):
            msg = []
            for more in lines[i + 1:]:
                if more.startswith("[  SKIPPED ]"):
                    break
                msg.append(more)
            return "\n".join(msg).strip() or "(no reason given)"
    return "(no reason given)"


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    root = ET.parse(sys.argv[1]).getroot()
    allowed, bad = {}, []
    for case in root.iter("testcase"):
        if case.find("skipped") is None:
            continue
        why = reason(case.findtext("system-out"))
        if any(p.match(why) for p in ALLOWED):
            key = why.splitlines()[0]
            allowed[key] = allowed.get(key, 0) + 1
        else:
            bad.append((case.get("name"), why))
    for why, n in sorted(allowed.items()):
        print("skipped (expected on this machine): %d test%s: %s" % (n, "" if n == 1 else "s", why))
    for name, why in bad:
        print("SKIPPED: %s: %s" % (name, why.replace("\n", " ")))
    if bad:
        print("%d test%s skipped for a reason other than the GPU: the suite must run them"
              % (len(bad), "" if len(bad) == 1 else "s"))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

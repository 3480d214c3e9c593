"""What the benchmark reports share: write_section replaces the section of
bench/RESULTS.md that starts with a heading (up to the next "## "), or
appends it; read_texts, cpu and versions give the SST-2 sentences, the CPU
line and the packages' versions that each report records."""

import os
import platform

PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "RESULTS.md")


def write_section(heading, text, path=PATH):
    doc = open(path, encoding="utf-8").read()
    if heading in doc:
        start = doc.index(heading)
        nxt = doc.find("\n## ", start + len(heading))
        doc = doc[:start] + text + ("\n" + doc[nxt + 1:] if nxt >= 0 else "")
    else:
        doc = doc.rstrip("\n") + "\n\n" + text
    open(path, "w", encoding="utf-8").write(doc)


def read_texts(path):
    """The "sentence" column of an SST-2 TSV file, in file order."""
    with open(path, encoding="utf-8") as f:
        col = f.readline().rstrip("\n").split("\t").index("sentence")
        return [line.rstrip("\n").split("\t")[col].strip() for line in f]


def versions(dists=("encore-inference", "torch", "transformers", "sentence-transformers")):
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for dist in dists:
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return out


def cpu():
    """The CPU's name, family and model, cores and the vector ISAs that matter here."""
    name, family, model, flags = "?", "?", "?", set()
    for line in open("/proc/cpuinfo"):
        key = line.split(":", 1)[0].strip()
        if key == "model name" and name == "?":
            name = line.split(":", 1)[1].strip()
        elif key == "cpu family" and family == "?":
            family = line.split(":", 1)[1].strip()
        elif key == "model" and model == "?":
            model = line.split(":", 1)[1].strip()
        elif key == "flags":
            flags = set(line.split(":", 1)[1].split())
    isa = [f for f in ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni") if f in flags]
    return (f"{name}, family {family} model {model} ({platform.machine()}, {os.cpu_count()} cores; "
            f"{', '.join(isa)}; no {', '.join(f for f in ('avx512f', 'avx512_vnni', 'avx_vnni') if f not in flags) or '-'})")

"""What the benchmark reports share: write_section replaces the section of
bench/RESULTS.md that starts with a heading (up to the next "## "), or
appends it; read_texts, cpu and versions give the SST-2 sentences, the CPU
line and the packages' versions that each report records; time_calls and
side_parser are the timing loop and the command line of the benchmarks that
hold encore's Python package to a sentence-transformers encoder."""

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


def time_calls(fn, texts, single_iters, batch, batch_iters):
    """fn(list of texts) timed: one text per call (p50 / p90 ms over
    single_iters calls, after 5 untimed) and batch texts per call (inputs
    per second over batch_iters calls, after one untimed)."""
    import time

    import numpy as np

    for t in texts[:5]:
        fn([t])
    lat = []
    for i in range(single_iters):
        t0 = time.perf_counter()
        fn([texts[i % len(texts)]])
        lat.append((time.perf_counter() - t0) * 1e3)
    fn(texts[:batch])
    t0 = time.perf_counter()
    for i in range(batch_iters):
        start = (i * batch) % (len(texts) - batch)
        fn(texts[start:start + batch])
    rate = batch * batch_iters / (time.perf_counter() - t0)
    return ({"p50_ms": float(np.percentile(lat, 50)), "p90_ms": float(np.percentile(lat, 90))},
            {"inputs_per_s": rate})


def side_parser(description, make_options, peer="sentence-transformers"):
    """The make / run / report command line; make_options: (flag, help) of
    make's required options besides --out; peer: the other side's name."""
    import argparse

    ap = argparse.ArgumentParser(description=description)
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    for flag, text in make_options:
        m.add_argument(flag, required=True, help=text)
    m.add_argument("--out", required=True)
    r = sub.add_parser("run")
    r.add_argument("--variant", required=True, choices=["encore", peer])
    r.add_argument("--model", required=True)
    r.add_argument("--texts", required=True)
    r.add_argument("--threads", type=int, default=2)
    r.add_argument("--single-iters", type=int, default=100)
    r.add_argument("--batch", type=int, default=32)
    r.add_argument("--batch-iters", type=int, default=5)
    r.add_argument("--check", type=int, default=64)
    r.add_argument("--json", required=True)
    p = sub.add_parser("report")
    p.add_argument("out_dir")
    p.add_argument("command")
    return ap


def speedup(x):
    """A ratio as the tables print it, in bold where encore is ahead."""
    return f"**{x:.2f}×**" if x > 1 else f"{x:.2f}×"


def side_rows(out_dir, peer):
    """The runs of out_dir (one JSON per side, thread count and round, as
    bench/st_rounds.sh names them) by thread count: (threads, encore's runs,
    the peer's runs, the row's timing cells: best p50 of each side, the
    ratio, best batch rate of each side, the ratio). Exits when a side is
    missing."""
    import glob
    import json
    import os
    import sys

    runs = {}
    for path in sorted(glob.glob(os.path.join(out_dir, "*.json"))):
        with open(path, encoding="utf-8") as f:
            d = json.load(f)
        runs.setdefault(d["threads"], {}).setdefault(d["variant"], []).append(d)
    for threads, sides in sorted(runs.items()):
        e, s = sides.get("encore"), sides.get(peer)
        if not e or not s:
            sys.exit(f"threads {threads}: a side is missing in {out_dir}")
        e_p50 = min(d["single"]["p50_ms"] for d in e)
        s_p50 = min(d["single"]["p50_ms"] for d in s)
        e_b = max(d["batch_result"]["inputs_per_s"] for d in e)
        s_b = max(d["batch_result"]["inputs_per_s"] for d in s)
        cells = (f"{e_p50:.2f} | {s_p50:.2f} | {speedup(s_p50 / e_p50)} | {e_b:.1f} | {s_b:.1f} "
                 f"| {speedup(e_b / s_b)}")
        yield threads, e, s, cells


def side_report(lines, out_dir, peer, row, note=None):
    """The end of a side-by-side report: lines (the section's heading, notes
    and table header), then a row per thread count from row(threads, encore's
    runs, the peer's runs, cells) (which exits on a disagreement), the lines
    note(encore's runs) gives, and the versions of both sides; printed and
    written to the section. Exits when out_dir holds no runs."""
    import sys

    vers, e = {}, None
    for threads, e, s, cells in side_rows(out_dir, peer):
        lines.append(row(threads, e, s, cells))
        vers.update(e[0]["versions"])
        vers.update(s[0]["versions"])
    if e is None:
        sys.exit(f"no runs in {out_dir}")
    lines += [""] + (note(e) if note else [])
    lines += ["Versions: " + ", ".join(f"{k} {v}" for k, v in sorted(vers.items())) + ".", ""]
    text = "\n".join(lines)
    print(text)
    write_section(lines[0], text)


def side_main(doc, make_option, make, run, report, peer="sentence-transformers"):
    """A side-by-side benchmark's command line (side_parser) and its three
    commands: make(the make_option's value, out), run(args), report(out_dir,
    command). make_option: (flag, help)."""
    args = side_parser(doc.split("\n\n")[0], [make_option], peer=peer).parse_args()
    if args.cmd == "make":
        make(getattr(args, make_option[0].lstrip("-").replace("-", "_")), args.out)
    elif args.cmd == "run":
        run(args)
    else:
        report(args.out_dir, args.command)

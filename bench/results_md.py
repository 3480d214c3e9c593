"""bench/RESULTS.md's sections, shared by the benchmark reports: write_section
replaces the section that starts with a heading (up to the next "## "), or
appends it."""

import os

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

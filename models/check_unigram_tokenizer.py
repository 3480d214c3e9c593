#!/usr/bin/env python3
"""Print what Hugging Face tokenizers makes of texts, one JSON line per text,
for comparing encore's tokenizer with it (written for SentencePiece Unigram
tokenizer.json files such as XLM-R's, but any tokenizer.json works).

    python models/check_unigram_tokenizer.py TOKENIZER_JSON TEXTS.txt
    python models/check_unigram_tokenizer.py TOKENIZER_JSON --sst2 ../shared/data/sst2 [--limit N]
    python models/check_unigram_tokenizer.py TOKENIZER_JSON --jsonl TEXTS.jsonl

Each output line is {"text": ..., "ids": [...], "tokens": [...],
"offsets": [[start, end], ...]}: tokenizers.Tokenizer.from_file(path)
.encode(text) (special tokens added unless --no-special), its offsets
converted from character offsets to UTF-8 byte offsets into the text
([0, 0] stays [0, 0] for special tokens).  Non-ASCII characters are written
as they are, except U+0085, U+2028 and U+2029 (escaped, so that every
record is one line for any line reader).

Input: TEXTS.txt holds one text per line (only the line's "\\n" is
removed, so other white space, "\\r" included, stays part of the text);
--jsonl reads one JSON string per line (or an object with "text"), for
texts with newlines in them; --sst2 DIR reads the sentences of DIR/train.tsv
(--split dev for dev.tsv), the first --limit of them if given.

Needs only the tokenizers package (models/requirements-fixtures.txt pins it).
Offline: nothing is downloaded.
"""

import argparse
import json
import os
import sys


def byte_offsets(text, offsets):
    """Character offsets into text -> UTF-8 byte offsets."""
    pos = [0]
    for ch in text:
        pos.append(pos[-1] + len(ch.encode("utf-8")))
    return [[pos[s], pos[e]] for s, e in offsets]


def read_texts(args):
    if args.sst2:
        path = os.path.join(args.sst2, args.split + ".tsv")
        with open(path, encoding="utf-8", newline="") as f:
            next(f)  # header: sentence<TAB>label
            for line in f:
                yield line.rstrip("\n").split("\t")[0]
    elif args.jsonl:
        with open(args.texts, encoding="utf-8") as f:
            for line in f:
                if not line.strip():
                    continue
                obj = json.loads(line)
                yield obj["text"] if isinstance(obj, dict) else obj
    else:
        with open(args.texts, encoding="utf-8", newline="") as f:
            for line in f:
                yield line[:-1] if line.endswith("\n") else line


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("tokenizer_json", help="path to a tokenizer.json")
    ap.add_argument("texts", nargs="?", help="text file, one text per line (or JSON lines with --jsonl)")
    ap.add_argument("--jsonl", action="store_true", help="TEXTS holds one JSON string (or {\"text\": ...}) a line")
    ap.add_argument("--sst2", metavar="DIR", help="read the sentences of DIR/<split>.tsv instead of TEXTS")
    ap.add_argument("--split", default="train", help="with --sst2: train (default) or dev")
    ap.add_argument("--limit", type=int, help="only the first N texts")
    ap.add_argument("--no-special", action="store_true", help="encode with add_special_tokens=False")
    args = ap.parse_intermixed_args()
    if bool(args.sst2) == bool(args.texts):
        ap.error("give either TEXTS or --sst2 DIR")

    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(args.tokenizer_json)
    out = sys.stdout
    for i, text in enumerate(read_texts(args)):
        if args.limit is not None and i >= args.limit:
            break
        enc = tok.encode(text, add_special_tokens=not args.no_special)
        rec = {"text": text, "ids": enc.ids, "tokens": enc.tokens, "offsets": byte_offsets(text, enc.offsets)}
        line = json.dumps(rec, ensure_ascii=False)
        # JSON leaves these raw; escaped, no line reader (Python's splitlines) breaks a record apart
        line = line.replace("\x85", "\\u0085").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
        try:
            out.write(line + "\n")
        except BrokenPipeError:  # | head: stop quietly (as the Python docs advise)
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            return


if __name__ == "__main__":
    main()

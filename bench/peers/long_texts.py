#!/usr/bin/env python3
"""Long texts for the peers benchmark: SST-2 train sentences of 12 words or
more, joined in file order until each text has at least --words words (290
gives ~350 WordPiece tokens, under BERT's 512). One text per line.

    python3 bench/peers/long_texts.py [--train ../shared/data/sst2/train.tsv]
        [--count 40] [--words 290] [--out build/peers/long.txt]
"""
import argparse
import os

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--train", default=os.path.join(REPO, "..", "shared", "data", "sst2", "train.tsv"))
    ap.add_argument("--count", type=int, default=40)
    ap.add_argument("--words", type=int, default=290)
    ap.add_argument("--out", default=os.path.join(REPO, "build", "peers", "long.txt"))
    args = ap.parse_args()
    with open(args.train, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        col = header.index("sentence")
        sentences = [line.rstrip("\n").split("\t")[col] for line in f]
    sentences = [s for s in sentences if len(s.split()) >= 12]
    texts, k = [], 0
    for _ in range(args.count):
        words = []
        while len(words) < args.words:
            if k == len(sentences):
                raise SystemExit("long_texts: %s has too few sentences" % args.train)
            words += sentences[k].split()
            k += 1
        texts.append(" ".join(words))
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write("\n".join(texts) + "\n")
    print("long_texts: %d texts of %d+ words from %d sentences -> %s" % (len(texts), args.words, k, args.out))


if __name__ == "__main__":
    main()

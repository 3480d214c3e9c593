"""SST-2 train for model selection: read the GLUE TSV files, and hold out
full sentences of TRAIN without leaking their sub-phrases into training
(used by train_lora.py; SST-2 dev is only ever used for the final report)."""

import numpy as np

HELDOUT_FRACTION = 0.10  # of the full training sentences ("roots"), see split_train()


def read_tsv(path):
    texts, labels = [], []
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        if header != ["sentence", "label"]:
            raise SystemExit("%s: unexpected header %r" % (path, header))
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            text, label = line.rsplit("\t", 1)
            texts.append(text)
            labels.append(int(label))
    return texts, np.array(labels, dtype=np.int64)


def split_train(texts, rng):
    """Held-out slice of TRAIN that does not leak into training.

    GLUE's SST-2 train split holds every phrase of the treebank, so most rows
    are sub-phrases of other rows. A random slice would be scored on phrases
    whose sub-phrases and super-phrases were trained on (it reads ~92% while
    dev reads ~75%). Instead: the "roots" are the rows that are no
    token-contiguous sub-span of another row, which are the full sentences. Take
    HELDOUT_FRACTION of the roots as held-out, and drop from training every row
    that is a span of a held-out root.
    """
    toks = [t.split() for t in texts]
    proper = set()
    for tk in toks:
        n = len(tk)
        for i in range(n):
            for j in range(i + 1, n + 1):
                if j - i < n:
                    proper.add(" ".join(tk[i:j]))
    roots = np.flatnonzero([" ".join(tk) not in proper for tk in toks])
    del proper
    ho = np.sort(rng.choice(roots, size=int(round(HELDOUT_FRACTION * len(roots))), replace=False))
    ho_spans = set()
    for i in ho:
        tk = toks[i]
        for a in range(len(tk)):
            for b in range(a + 1, len(tk) + 1):
                ho_spans.add(" ".join(tk[a:b]))
    tr = np.flatnonzero([" ".join(tk) not in ho_spans for tk in toks])
    return tr, ho, len(roots)

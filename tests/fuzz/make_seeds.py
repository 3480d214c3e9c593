#!/usr/bin/env python3
"""Write the seed corpora of the fuzz harnesses (tests/fuzz/corpus/NAME).

usage: tests/fuzz/make_seeds.py [--encore build/encore]

Standard library only, deterministic: running it again writes the same
files (but for the job strings of the checkpoint seeds, which name the
temporary directory of their run). The seeds are small on purpose (a fuzzer mutates them thousands of
times a second): tiny BERT and DistilBERT models in F32, F16 and BF16, the
committed LoRA adapter fixtures (and F16, BF16 and rsLoRA variants), short
tokenizer files with each setting, texts that reach each tokenizer path,
request bodies of every form, score inputs of every format. The checkpoint
seeds come from real `encore score` runs on the harness's fixed input, so
--encore (a built binary) is needed for them; without it they are kept as
they are.
"""
import argparse
import base64
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "fixtures", "models")


def out_dir(name, keep=False):
    d = os.path.join(HERE, "corpus", name)
    if os.path.isdir(d) and not keep:
        shutil.rmtree(d)
    os.makedirs(d, exist_ok=True)
    return d


def write(d, name, data):
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


# ---- safetensors ------------------------------------------------------------

def pack(values, dtype):
    if dtype == "F32":
        return struct.pack("<%df" % len(values), *values)
    if dtype == "F16":
        return struct.pack("<%de" % len(values), *values)
    if dtype == "BF16":
        return b"".join(struct.pack("<I", struct.unpack("<I", struct.pack("<f", v))[0])[2:] for v in values)
    raise ValueError(dtype)


def safetensors(tensors, dtype="F32", metadata=True):
    """tensors: [(name, shape, values)] -> bytes, offsets contiguous from 0."""
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = {"format": "pt"}
    for name, shape, values in tensors:
        blob = pack(values, dtype)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(blob)]}
        data += blob
    h = json.dumps(header, separators=(",", ":")).encode()
    return struct.pack("<Q", len(h)) + h + data


def values(rng, n, scale=0.5):
    return [round(rng.uniform(-scale, scale), 3) for _ in range(n)]


def bert_tensors(rng, C, F, P, V, T, L, layers, distil, gamma_beta=False):
    ts = []
    ln = ("gamma", "beta") if gamma_beta else ("weight", "bias")

    def add(name, shape, scale=0.5, ones=False):
        n = 1
        for d in shape:
            n *= d
        ts.append((name, shape, [1.0] * n if ones else values(rng, n, scale)))

    if distil:
        p = "distilbert."
        add(p + "embeddings.word_embeddings.weight", [V, C])
        add(p + "embeddings.position_embeddings.weight", [P, C])
        add(p + "embeddings.LayerNorm." + ln[0], [C], ones=True)
        add(p + "embeddings.LayerNorm." + ln[1], [C])
        for i in range(layers):
            q = p + "transformer.layer.%d." % i
            for part in ("q_lin", "k_lin", "v_lin", "out_lin"):
                add(q + "attention.%s.weight" % part, [C, C])
                add(q + "attention.%s.bias" % part, [C])
            add(q + "sa_layer_norm.weight", [C], ones=True)
            add(q + "sa_layer_norm.bias", [C])
            add(q + "ffn.lin1.weight", [F, C])
            add(q + "ffn.lin1.bias", [F])
            add(q + "ffn.lin2.weight", [C, F])
            add(q + "ffn.lin2.bias", [C])
            add(q + "output_layer_norm.weight", [C], ones=True)
            add(q + "output_layer_norm.bias", [C])
        if L:
            add("pre_classifier.weight", [C, C])
            add("pre_classifier.bias", [C])
    else:
        p = "bert."
        add(p + "embeddings.word_embeddings.weight", [V, C])
        add(p + "embeddings.position_embeddings.weight", [P, C])
        add(p + "embeddings.token_type_embeddings.weight", [T, C])
        add(p + "embeddings.LayerNorm." + ln[0], [C], ones=True)
        add(p + "embeddings.LayerNorm." + ln[1], [C])
        for i in range(layers):
            q = p + "encoder.layer.%d." % i
            for part in ("query", "key", "value"):
                add(q + "attention.self.%s.weight" % part, [C, C])
                add(q + "attention.self.%s.bias" % part, [C])
            add(q + "attention.output.dense.weight", [C, C])
            add(q + "attention.output.dense.bias", [C])
            add(q + "attention.output.LayerNorm." + ln[0], [C], ones=True)
            add(q + "attention.output.LayerNorm." + ln[1], [C])
            add(q + "intermediate.dense.weight", [F, C])
            add(q + "intermediate.dense.bias", [F])
            add(q + "output.dense.weight", [C, F])
            add(q + "output.dense.bias", [C])
            add(q + "output.LayerNorm." + ln[0], [C], ones=True)
            add(q + "output.LayerNorm." + ln[1], [C])
        if L:
            add("bert.pooler.dense.weight", [C, C])
            add("bert.pooler.dense.bias", [C])
    if L:
        add("classifier.weight", [L, C])
        add("classifier.bias", [L])
    return ts


def bert_config(C, F, P, V, T, L, layers, heads, distil, extra=None):
    if distil:
        c = {"architectures": ["DistilBertForSequenceClassification" if L else "DistilBertModel"],
             "model_type": "distilbert", "dim": C, "hidden_dim": F, "n_layers": layers, "n_heads": heads,
             "max_position_embeddings": P, "vocab_size": V, "activation": "gelu"}
    else:
        c = {"architectures": ["BertForSequenceClassification" if L else "BertModel"], "model_type": "bert",
             "hidden_size": C, "intermediate_size": F, "num_hidden_layers": layers, "num_attention_heads": heads,
             "max_position_embeddings": P, "type_vocab_size": T, "vocab_size": V, "hidden_act": "gelu",
             "layer_norm_eps": 1e-12}
    if L:
        c["id2label"] = {str(i): "LABEL_%d" % i for i in range(L)}
        c["label2id"] = {"LABEL_%d" % i: i for i in range(L)}
    if extra:
        c.update(extra)
    return json.dumps(c, indent=1)


def seeds_safetensors_and_models():
    rng = random.Random(14)
    d = out_dir("safetensors")
    write(d, "empty-header", struct.pack("<Q", 2) + b"{}")
    write(d, "metadata-only", safetensors([], metadata=True))
    small = [("a", [2, 3], values(rng, 6)), ("b", [4], values(rng, 4)), ("c", [], [1.5]), ("d", [0, 3], [])]
    for dt in ("F32", "F16", "BF16"):
        write(d, "small-" + dt.lower(), safetensors(small, dt))
    other = json.dumps({"i": {"dtype": "I64", "shape": [2], "data_offsets": [0, 16]},
                        "u": {"dtype": "U8", "shape": [3], "data_offsets": [16, 19]}}).encode()
    write(d, "other-dtypes", struct.pack("<Q", len(other)) + other + bytes(19))

    m = out_dir("model_load")
    shapes = dict(C=4, F=8, P=8, V=16, T=2, layers=1)
    variants = [
        ("bert-classifier-f32", 0, "F32", False, 2, {}, False),
        ("bert-classifier-bf16-weights", 1, "F16", False, 3, {"problem_type": "multi_label_classification"}, False),
        ("bert-model-int8-weights", 2, "BF16", False, 0, {}, False),
        ("bert-gamma-beta", 0, "F32", False, 1, {"hidden_act": "gelu_new"}, True),
        ("distilbert-classifier-f32", 0, "F32", True, 2, {}, False),
        ("distilbert-model-bf16", 1, "BF16", True, 0, {"activation": "relu"}, False),
    ]
    for name, weights, dtype, distil, labels, extra, gb in variants:
        cfg = bert_config(shapes["C"], shapes["F"], shapes["P"], shapes["V"], shapes["T"], labels,
                          shapes["layers"], 2, distil, extra).encode()
        st = safetensors(bert_tensors(rng, shapes["C"], shapes["F"], shapes["P"], shapes["V"], shapes["T"], labels,
                                      shapes["layers"], distil, gb), dtype)
        write(m, name, bytes([weights]) + struct.pack("<H", len(cfg)) + cfg + st)
        if name == "bert-classifier-f32":
            write(d, "tiny-bert", st)

    # MPNet: BERT's tensors under MPNet's names, no token types, the
    # relative position bias (32 buckets x heads); positions after padding_idx 1.
    renames = [("bert.embeddings.token_type_embeddings.", None), ("bert.pooler.dense.", "classifier.dense."),
               ("classifier.weight", "classifier.out_proj.weight"), ("classifier.bias", "classifier.out_proj.bias"),
               ("attention.self.query.", "attention.attn.q."), ("attention.self.key.", "attention.attn.k."),
               ("attention.self.value.", "attention.attn.v."), ("attention.output.dense.", "attention.attn.o."),
               ("attention.output.LayerNorm.", "attention.LayerNorm."), ("bert.", "mpnet.")]
    tensors = []
    for name, shape, vals in bert_tensors(rng, shapes["C"], shapes["F"], shapes["P"] + 2, shapes["V"], 1, 2,
                                          shapes["layers"], False):
        for old, new in renames:
            if old in name:
                name = None if new is None else name.replace(old, new)
                if name is None:
                    break
        if name:
            tensors.append((name, shape, vals))
    tensors.append(("mpnet.encoder.relative_attention_bias.weight", [32, 2], values(rng, 64, 2.0)))
    cfg = json.loads(bert_config(shapes["C"], shapes["F"], shapes["P"] + 2, shapes["V"], 1, 2, shapes["layers"], 2,
                                 False))
    del cfg["type_vocab_size"]
    cfg.update(architectures=["MPNetForSequenceClassification"], model_type="mpnet", pad_token_id=1,
               relative_attention_num_buckets=32, layer_norm_eps=1e-5)
    cfg = json.dumps(cfg, indent=1).encode()
    write(m, "mpnet-classifier-f32", bytes([0]) + struct.pack("<H", len(cfg)) + cfg + safetensors(tensors, "F32"))

    c = out_dir("config")
    for fixture in sorted(os.listdir(FIXTURES)):
        p = os.path.join(FIXTURES, fixture, "config.json")
        if os.path.exists(p):
            with open(p, "rb") as f:
                write(c, fixture, f.read())
    write(c, "distilbert", bert_config(768, 3072, 512, 30522, 0, 2, 6, 12, True))
    write(c, "model-type-only", '{"model_type": "bert", "hidden_size": 8, "intermediate_size": 8, '
          '"num_hidden_layers": 1, "num_attention_heads": 2, "max_position_embeddings": 8, '
          '"type_vocab_size": 2, "vocab_size": 8}')
    write(c, "num-labels", '{"architectures": ["BertForSequenceClassification"], "hidden_size": 8, '
          '"intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, '
          '"max_position_embeddings": 8, "type_vocab_size": 2, "vocab_size": 8, "num_labels": 5, '
          '"layer_norm_eps": 1e-5, "position_embedding_type": "absolute"}')


# ---- adapters -----------------------------------------------------------------

# The committed lora-* fixtures name their base as "../tiny-..."; the harness
# links the bases beside the adapter under these names.
ADAPTER_BASES = {"../tiny-bert-embed": "bert-embed", "../tiny-bert-sst": "bert-sst",
                 "../tiny-distilbert-sst": "distilbert-sst"}


def read_safetensors(data):
    """bytes -> [(name, dtype, shape, values)] in file order (F32 only), metadata dropped."""
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    body = data[8 + n:]
    out = []
    for name, t in header.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", (name, t["dtype"])
        begin, end = t["data_offsets"]
        count = (end - begin) // 4
        out.append((name, t["shape"], list(struct.unpack("<%df" % count, body[begin:end]))))
    return out


def seeds_adapter():
    d = out_dir("adapter")

    def seed(name, weights, config, tensors, dtype="F32"):
        cfg = json.dumps(config, separators=(",", ":")).encode()
        write(d, name, bytes([weights]) + struct.pack("<H", len(cfg)) + cfg + safetensors(tensors, dtype))

    for fixture in sorted(os.listdir(FIXTURES)):
        cfg_path = os.path.join(FIXTURES, fixture, "adapter_config.json")
        if not fixture.startswith("lora-") or not os.path.exists(cfg_path):
            continue
        with open(cfg_path) as f:
            config = json.load(f)
        config["base_model_name_or_path"] = ADAPTER_BASES[config["base_model_name_or_path"]]
        with open(os.path.join(FIXTURES, fixture, "adapter_model.safetensors"), "rb") as f:
            tensors = read_safetensors(f.read())
        seed(fixture, 0, config, tensors)
        if fixture == "lora-bert-embed":
            seed(fixture + "-f16-bf16-weights", 1, config, tensors, "F16")
            seed(fixture + "-bf16-int8-weights", 2, config, tensors, "BF16")
            seed(fixture + "-rslora", 0, dict(config, use_rslora=True, fan_in_fan_out=True), tensors)
        if fixture == "lora-bert-cls":
            seed(fixture + "-patterns", 0, dict(config, rank_pattern={"layer\\.0\\..*query": 4},
                                                 alpha_pattern={"key": 2.5, "value": 16}), tensors)


# ---- tokenizers ---------------------------------------------------------------

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "a", "film", "##s", "good", "bad", "play",
         "##ing", "##ed", "un", "##believ", "##able", ",", ".", "!", "?", "'", "\u4f60", "\u597d", "caf",
         "##e", "\u00e9", "na", "##ive", "e", "\u0301", "hello", "world", "[", "]", "##a", "##b", "x"]


def tokenizer_json(lowercase=True, strip=None, chinese=True, clean=True, added_extra=(), processor="template",
                   max_chars=100):
    added = [{"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False, "normalized": False,
              "special": True} for i, t in enumerate(VOCAB[:5])]
    for i, (content, opts) in enumerate(added_extra):
        tok = {"id": len(VOCAB) + i, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
               "normalized": False, "special": False}
        tok.update(opts)
        added.append(tok)
    if processor == "template":
        post = {"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                           {"SpecialToken": {"id": "[SEP]", "type_id": 0}}],
                "pair": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                         {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}},
                         {"SpecialToken": {"id": "[SEP]", "type_id": 1}}],
                "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [2], "tokens": ["[CLS]"]},
                                   "[SEP]": {"id": "[SEP]", "ids": [3], "tokens": ["[SEP]"]}}}
    elif processor == "bert":
        post = {"type": "BertProcessing", "sep": ["[SEP]", 3], "cls": ["[CLS]", 2]}
    else:
        post = None
    t = {"version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
         "normalizer": {"type": "BertNormalizer", "clean_text": clean, "handle_chinese_chars": chinese,
                        "strip_accents": strip, "lowercase": lowercase},
         "pre_tokenizer": {"type": "BertPreTokenizer"}, "post_processor": post,
         "decoder": {"type": "WordPiece", "prefix": "##", "cleanup": True},
         "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                   "max_input_chars_per_word": max_chars, "vocab": {t: i for i, t in enumerate(VOCAB)}}}
    return json.dumps(t, ensure_ascii=False, indent=1)


def seeds_tokenizers():
    d = out_dir("tokenizer_files")
    config = json.dumps({"do_lower_case": True, "model_max_length": 16, "cls_token": "[CLS]", "sep_token": "[SEP]",
                         "unk_token": "[UNK]", "pad_token": "[PAD]", "mask_token": "[MASK]",
                         "tokenize_chinese_chars": True, "strip_accents": None})
    special = json.dumps({"cls_token": "[CLS]", "sep_token": "[SEP]", "unk_token": "[UNK]", "pad_token": "[PAD]",
                          "mask_token": "[MASK]"})
    sep = b"\0\0"

    def seed(name, mode, main, cfg=config, spec=special):
        parts = [main.encode() if isinstance(main, str) else main]
        if cfg is not None:
            parts.append(cfg.encode())
            if spec is not None:
                parts.append(spec.encode())
        write(d, name, bytes([mode]) + sep.join(parts))

    seed("json-uncased", 0, tokenizer_json())
    seed("json-cased-keep-accents", 0, tokenizer_json(lowercase=False, strip=False), cfg=None)
    seed("json-strip-cased", 0, tokenizer_json(lowercase=False, strip=True, chinese=False, clean=False))
    seed("json-added-tokens", 0, tokenizer_json(added_extra=[
        ("<x>", {"lstrip": True, "rstrip": True}), ("hello world", {"normalized": True}),
        ("play", {"single_word": True}), ("\u00e9t\u00e9", {"normalized": True, "lstrip": True})]))
    seed("json-bert-processing", 0, tokenizer_json(processor="bert", max_chars=5))
    seed("json-no-processor", 0, tokenizer_json(processor=None))
    seed("json-decoder-config", 0, tokenizer_json(), cfg=json.dumps({
        "added_tokens_decoder": {"0": {"content": "[PAD]", "special": True}, "38": {"content": "<new>",
                                                                                   "lstrip": True}},
        "do_lower_case": False, "model_max_length": 1e30}))
    seed("vocab-uncased", 1, "\n".join(VOCAB) + "\n")
    seed("vocab-cased-crlf", 1, "\r\n".join(VOCAB), cfg=json.dumps({"do_lower_case": False}), spec=None)
    seed("vocab-duplicates", 1, "\n".join(VOCAB + ["the", "film"]) + "\n", cfg=None)
    with open(os.path.join(FIXTURES, "tok-no-chinese", "tokenizer.json"), "rb") as f:
        seed("fixture-tok-no-chinese", 0, f.read())
    # RoBERTa's byte-level BPE: tokenizer.json, and vocab.json + merges.txt (mode 2)
    roberta = os.path.join(FIXTURES, "tiny-roberta-sst")
    files = {}
    for name in ("tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json"):
        with open(os.path.join(roberta, name), "rb") as f:
            files[name] = f.read()
    compact = json.dumps(json.loads(files["tokenizer.json"]), ensure_ascii=False, separators=(",", ":")).encode()
    write(d, "fixture-roberta-json", bytes([0]) + sep.join([compact, files["tokenizer_config.json"]]))  # under max_len
    write(d, "fixture-roberta-vocab-merges",
          bytes([2]) + sep.join([files["vocab.json"], files["merges.txt"], files["tokenizer_config.json"]]))

    # SentencePiece Unigram (XLM-R's): a short vocabulary with scores, a
    # charsmap of a few NFKC rules, Metaspace; as transformers 5 rebuilds it
    # (XLMRobertaTokenizer) and as the file says (no tokenizer_class).
    with open(os.path.join(FIXTURES, "tiny-xlmr-sst", "tokenizer.json"), encoding="utf-8") as f:
        xlmr = json.load(f)
    small = dict(xlmr)
    small["model"] = dict(xlmr["model"], vocab=xlmr["model"]["vocab"][:400] + xlmr["model"]["vocab"][-1:])
    small["added_tokens"] = [dict(t, id=min(t["id"], 400)) for t in xlmr["added_tokens"]]
    small["normalizer"] = {"type": "Sequence", "normalizers": [
        {"type": "Precompiled", "precompiled_charsmap": charsmap({
            "\uff21": "A", "\ufb01": "fi", "e\u0301": "\u00e9", "\u200b": "", "\u2460": "1", "\u3000": " "})},
        {"type": "Strip", "strip_left": False, "strip_right": True},
        {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": "\u2581"}]}
    compact = json.dumps(small, ensure_ascii=False, separators=(",", ":")).encode()
    xlmr_config = json.dumps({"tokenizer_class": "XLMRobertaTokenizer", "add_prefix_space": True}).encode()
    write(d, "fixture-xlmr-json", bytes([0]) + sep.join([compact, xlmr_config]))
    write(d, "fixture-xlmr-json-as-is", bytes([0]) + sep.join([compact, b"{}"]))


def charsmap(rules):
    """A SentencePiece precompiled_charsmap (base64) of rules (key -> its
    replacement): darts-clone's double array, each key's UTF-8 walked from
    the root by XOR with its bytes, the replacement's offset at the end,
    then the NUL-terminated replacements."""
    trie = {}
    blob = b""
    for key, repl in rules.items():
        node = trie
        for b in key.encode():
            node = node.setdefault(b, {})
        node[None] = len(blob)
        blob += repl.encode() + b"\0"
    units, used = {0: 0}, {0}

    def place(node, at):
        labels = [b for b in node if b is not None]
        base = 1
        while base in used or any(base ^ c in used for c in labels):
            base += 1
        if None in node:
            used.add(base)
            units[base] = 1 << 31 | node[None]
        for c in labels:
            used.add(base ^ c)
        units[at] |= (at ^ base) << 10
        for c in labels:
            units[base ^ c] = c | (1 << 8 if None in node[c] else 0)
            place(node[c], base ^ c)

    place(trie, 0)
    array = [units.get(i, 0) for i in range(max(units) + 1)]
    raw = struct.pack("<I", 4 * len(array)) + struct.pack("<%dI" % len(array), *array) + blob
    return base64.b64encode(raw).decode()



TEXTS = [
    "This movie is fantastic!",
    "Hello, world! [MASK] and [CLS] inside [SEP]",
    "\u4f60\u597d\u4e16\u754c caf\u00e9 na\u00efve \u00c5ngstr\u00f6m",
    "e\u0301\U0001D165 \u2003 tab\tnew\nline \x7f ctrl \u200b zero",
    "unbelievable playing films played" * 3,
    "\U0001F600\U0001F44D emoji \u0130stanbul \u00df \ufb01",
    "a" * 130 + " b",
    "\u0041\u030A\u0301\u0323 marks \u0f73 \u1100\u1161",
    "   ",
]


def seeds_texts():
    d = out_dir("tokenize_classify")
    for i, t in enumerate(TEXTS):
        write(d, "text-%d" % i, bytes([4 if i % 2 else 6]) + t.encode())
    write(d, "pair", bytes([5]) + b"A premise.\0A hypothesis, longer than the premise.")
    write(d, "pair-cjk", bytes([1]) + "\u4f60\u597d\0\u4e16\u754c".encode())
    write(d, "invalid-utf8", bytes([4]) + b"caf\xc3 bad \xff\xfe")
    write(d, "long", bytes([6]) + ("word " * 200).encode())
    # for the BPE tokenizer: its specials, contractions, space runs; cut on the left (flag 64)
    write(d, "bpe-left", bytes([64 | 8]) + "<s> it's <mask>x  \t two  spaces\n\n end 'll ''VE \u00bd\u00b2 10th "
                                         "\U0001F600\u200d</s> ".encode() * 3)
    write(d, "bpe-pair", bytes([1 | 64]) + " leading <mask>\0trailing  \u3000<pad>".encode())

    s = out_dir("serve_request")
    bodies = [
        (0, {"inputs": "This movie is fantastic!"}),
        (0, {"inputs": ["I loved it."]}),
        (0, {"inputs": ["A premise.", "A hypothesis."], "raw_scores": True}),
        (0, {"inputs": [["I loved it."], ["A premise.", "A hypothesis."]], "truncate": True}),
        (1, {"inputs": ["first text", "second text"], "normalize": True}),
        (3, {"inputs": "H\u00e9llo world", "add_special_tokens": False}),
        (1, {"inputs": []}),
        (0, {"inputs": [["a", "b", "c"]]}),
        (1, {"inputs": ["x"] * 40}),
        (2, {"inputs": "a", "truncate": None}),
    ]
    for i, (form, body) in enumerate(bodies):
        write(s, "body-%d" % i, bytes([form]) + json.dumps(body, ensure_ascii=False).encode())
    write(s, "escapes", bytes([1]) + b'{"inputs": "\\u00e9\\ud83d\\ude00\\n\\t\\"", "truncate": false}  \r\n')
    write(s, "nul-escape", bytes([0]) + b'{"inputs": "a\\u0000b"}')
    write(s, "not-json", bytes([0]) + b"inputs=hello")


def seeds_token_classify():
    d = out_dir("token_classify")
    texts = ["John Smithson visited Washington yesterday.", "Z\u00fcrich caf\u00e9 and Ame\u0301lie",
             "\u6771\u4eac and \u5317\u4eac", "  spaces   and\ttabs  ", "emoji \U0001F642 [UNK] [SEP]", ""]
    for i, t in enumerate(texts):
        write(d, "text-%d" % i, bytes([i % 5 | (8 if i % 2 else 0)]) + t.encode())
    long = " ".join(["Transmogrification", "in", "Reykjav\u00edk"] * 12)
    write(d, "stride-8", bytes([1 | 16 | (1 << 5)]) + long.encode())
    write(d, "stride-61", bytes([2 | 16 | (7 << 5)]) + long.encode())
    write(d, "stride-0-none", bytes([0 | 8 | 16]) + long.encode())
    write(d, "invalid-utf8", bytes([3]) + b"caf\xc3 bad \xff")


def seeds_qa():
    d = out_dir("qa")
    ctx = ("The old lighthouse keeper, Mrs. El\u00e9onore Vasquez-Holmberg, watched the harbour every evening. "
           "In 1987 the municipality replaced her oil lamp; visitors from Z\u00fcrich wrote \u4e16\u754c in the book.")
    # flags, max_seq_len, doc_stride, max_answer_len (see fuzz_qa.c), question NUL context
    write(d, "short", bytes([0, 56, 128, 14]) + b"Who watched?\0" + ctx.encode())
    write(d, "windows", bytes([4 * 2, 16, 5, 4]) + b"When?\0" + ctx.encode())
    write(d, "impossible-tokens", bytes([1 | 2 | 4 * 7, 24, 30, 0]) + b"Why?\0No")
    write(d, "special-tokens", bytes([4 * 3, 40, 10, 9]) + "[CLS] where [SEP] [CLS]?\0Z\u00fcrich [CLS] caf\u00e9.".encode())
    write(d, "stride-too-large", bytes([0, 12, 9, 3]) + b"A question\0" + ctx.encode())
    write(d, "no-context", bytes([0, 56, 0, 14]) + b"Who?")
    write(d, "invalid-utf8", bytes([0, 56, 0, 14]) + b"Who?\0caf\xc3 bad \xff")
    # RoBERTa's (flags bit 5) and XLM-R's (bit 6) words: byte-level pieces,
    # Metaspace words with their punctuation, special tokens written out
    write(d, "roberta-windows", bytes([32 | 4 * 2, 16, 5, 4]) + b"When?\0" + ctx.encode())
    write(d, "roberta-special-tokens", bytes([32 | 4 * 3, 40, 10, 9]) + "<s> where </s>?\0Z\u00fcrich <mask> caf\u00e9.".encode())
    write(d, "xlmr-windows", bytes([64 | 4 * 2, 16, 5, 4]) + b"When?\0" + ctx.encode())
    write(d, "xlmr-spaces", bytes([64 | 1, 24, 3, 6]) + "  who\u2581 ?\0  Z\u00fcrich,\u3000caf\u00e9 .  ".encode())


def seeds_score():
    d = out_dir("score_input")
    jsonl = ('{"id": 1, "text": "a fine film"}\n\n{"id": "x2", "text": "dull", "pair": "boring"}\n'
             '{"text": "no id"}\n{"id": 3}\n{"id": 4, "text": 5}\n[1, 2]\n{"id": 5, "text": "caf\\u00e9"}\r\n'
             '{"id": 6, "text": "   "}\n{"id": 7, "text": "last"}')
    write(d, "jsonl", bytes([0]) + jsonl.encode())
    write(d, "jsonl-pair-id", bytes([0 | 4 | 8]) + jsonl.encode())
    write(d, "jsonl-small-records-tsv-out", bytes([0 | 16 | 32]) + jsonl.encode())
    tsv = "id\ttext\tpair\n1\ta fine film\tyes\n2\t\tempty\n3\tmissing pair\n\n4\ttab\\tin\tx\r\n5\tlast\tz"
    write(d, "tsv", bytes([1]) + tsv.encode())
    write(d, "tsv-pair-npy", bytes([1 | 4 | 64]) + tsv.encode())
    csv = ('id,text,pair\n1,"a ""quoted"" film",p\n2,"multi\nline",q\n3,plain,\n4,"unclosed\n5,x,y\r\n'
           '6,"a"b,c')
    write(d, "csv", bytes([2]) + csv.encode())
    write(d, "csv-pair-id", bytes([2 | 4 | 8]) + csv.encode())
    write(d, "csv-bom", bytes([2]) + b"\xef\xbb\xbf" + csv.encode())
    text = "first line\n\nsecond \xc3\xa9 line\r\n   \nbad \xff utf8\n" + "long " * 30 + "\nlast"
    write(d, "text", bytes([3]) + text.encode("latin-1"))
    write(d, "text-small-records", bytes([3 | 16]) + text.encode("latin-1"))
    write(d, "nul-lines", bytes([0]) + b'{"text": "a"}\n\0\0\0\n{"text": "b"}\n\0')


# The harness's fixed input (fuzz_checkpoint.c's `input`).
CHECKPOINT_INPUT = ('{"id": 1, "text": "a fine film"}\n'
                    '\n'
                    '{"id": 2, "text": "dull"}\n'
                    '{"id": 3, "text": broken}\n'
                    '{"id": 4, "text": "the end"}\r\n'
                    '{"id": 5, "text": "ok"}')
PROBLEMS = ["invalid_utf8", "malformed", "missing_field", "empty_text", "too_large", "too_long", "failed"]


def seeds_checkpoint(encore):
    if not encore:
        print("make_seeds: no --encore: the checkpoint seeds are kept as they are", file=sys.stderr)
        return
    d = out_dir("checkpoint")
    tmp = tempfile.mkdtemp()
    try:
        inp = os.path.join(tmp, "in.jsonl")
        with open(inp, "w") as f:
            f.write(CHECKPOINT_INPUT)
        for name, extra in (("complete", []), ("strict", ["--strict"])):
            out = os.path.join(tmp, name + ".jsonl")
            subprocess.run([encore, "score", "--model", os.path.join(FIXTURES, "tiny-bert-sst"), "--input", inp,
                            "--output", out, "--quiet", "--threads", "1"] + extra, check=False)
            with open(out + ".ckpt", "rb") as f:
                text = f.read()
            with open(out, "rb") as f:
                output = f.read()
            write(d, "text-" + name, b"\0" + text)
            c = json.loads(text)
            flags = (2 if c["complete"] else 0) | ({0: 0, 1: 1, 130: 2}[c["exit_status"]] << 2)
            fields = [c[k] for k in ("input_offset", "input_line", "output_bytes", "index_bytes", "records",
                                     "scored", "truncated", "tokens")] + [c["problems"][p] for p in PROBLEMS]
            body = bytes([1, flags]) + b"".join(struct.pack(">Q", int(v)) for v in fields)
            body += bytes.fromhex(c["input_sha256"]) + bytes.fromhex(c["output_sha256"]) + output
            write(d, "fields-" + name, body)  # (strict: incomplete, so a resume is tried)
    finally:
        shutil.rmtree(tmp)
    write(d, "text-version-1", b'\0{"version": 1, "job": "x", "complete": false, "exit_status": 0}')


def seeds_splade():
    """fuzz_splade: modules.json, \0\0, 1_SpladePooling/config.json
    [, \0\0, the splade flag's byte]: tiny-bert-splade's own files, the other
    settings, sentence-transformers 5's module name, and the flag on a
    directory without SpladePooling."""
    d = out_dir("splade")
    src = os.path.join(FIXTURES, "tiny-bert-splade")
    with open(os.path.join(src, "modules.json"), "rb") as f:
        modules = f.read()
    with open(os.path.join(src, "1_SpladePooling", "config.json"), "rb") as f:
        pooling = f.read()
    write(d, "fixture", modules + b"\0\0" + pooling)
    write(d, "sum-log1p-relu", modules + b"\0\0" +
          json.dumps({"pooling_strategy": "sum", "activation_function": "log1p_relu"}).encode())
    write(d, "mlm-transformer", modules.replace(b"sentence_transformers.base.modules.transformer.Transformer",
                                                b"sentence_transformers.sparse_encoder.models.MLMTransformer")
          + b"\0\0" + pooling)
    plain = json.dumps([{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}])
    write(d, "forced", plain.encode() + b"\0\0{}\0\0\x01")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--encore", help="a built encore binary (for the checkpoint seeds)")
    args = ap.parse_args()
    seeds_safetensors_and_models()
    seeds_adapter()
    seeds_tokenizers()
    seeds_texts()
    seeds_token_classify()
    seeds_qa()
    seeds_score()
    seeds_checkpoint(os.path.abspath(args.encore) if args.encore else None)
    seeds_splade()


if __name__ == "__main__":
    main()

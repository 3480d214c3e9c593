"""Build PEFT LoRA adapter fixtures on the committed tiny models, and their
reference outputs from transformers + peft (and sentence-transformers for the
embedding adapter), into tests/fixtures/.

    ENCORE_FIXTURE_PYTHON=... bash models/make_fixtures.sh  # makes the venv
    build/venv-fixtures/bin/python models/make_adapter_fixtures.py

Each adapter is made with peft's get_peft_model on a tiny base model from
tests/fixtures/models, its LoRA B matrices drawn at random (peft starts them
at zero, which would test nothing), and saved with save_pretrained. Its
adapter_config.json names the base relative to the adapter directory
("../tiny-bert-embed"), and the references are computed with the working
directory set to the adapter directory, so that transformers resolves that
path exactly as written. Offline, seeded, single-threaded.

The reference files have the layout of models/make_fixtures.py's, so the
same tests read them. Two adapters encore must refuse (DoRA, IA3) are made
too; they have no reference outputs.
"""
import contextlib
import json
import os
import shutil
import sys

import numpy as np
import safetensors.numpy
import torch
import transformers
from peft import IA3Config, LoraConfig, TaskType, get_peft_model
from sentence_transformers import SentenceTransformer
from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer, pipeline

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402  (CASES, tokenization and JSON helpers)

SEED = 20261201
BERT_ALL = ["query", "key", "value", "attention.output.dense", "intermediate.dense", "output.dense"]
DISTIL_ALL = ["q_lin", "k_lin", "v_lin", "out_lin", "lin1", "lin2"]

# name: base fixture, task, LoraConfig arguments
ADAPTERS = {
    # A classifier made from an embedding model, as the default model is: the
    # head (classifier, and BERT's pooler) saved whole; labels LABEL_0/1.
    "lora-bert-cls": dict(
        base="tiny-bert-embed", task=TaskType.SEQ_CLS,
        lora=dict(r=4, lora_alpha=8, target_modules=BERT_ALL, modules_to_save=["classifier", "pooler"]),
    ),
    # Per-module ranks and alphas, rsLoRA, fan_in_fan_out (which peft turns
    # off for Linear layers), and every bias trained and saved.
    "lora-bert-patterns": dict(
        base="tiny-bert-sst", task=TaskType.SEQ_CLS,
        lora=dict(r=8, lora_alpha=16, target_modules=BERT_ALL, modules_to_save=["classifier"],
                  rank_pattern={"value": 2, r"layer\.1\.output\.dense": 3},
                  alpha_pattern={"key": 3, r"intermediate\.dense": 5},
                  use_rslora=True, fan_in_fan_out=True, bias="all"),
    ),
    # DistilBERT, with a LoRA on the word embeddings too.
    "lora-distilbert-cls": dict(
        base="tiny-distilbert-sst", task=TaskType.SEQ_CLS,
        lora=dict(r=4, lora_alpha=4, target_modules=DISTIL_ALL + ["word_embeddings"],
                  modules_to_save=["pre_classifier", "classifier"]),
    ),
    # An embedding model adapted for embeddings.
    "lora-bert-embed": dict(
        base="tiny-bert-embed", task=TaskType.FEATURE_EXTRACTION,
        lora=dict(r=2, lora_alpha=6, target_modules=["query", "value", "output.dense"]),
    ),
}

REFUSED = {
    "lora-bert-dora": dict(base="tiny-bert-embed", config=lambda: LoraConfig(
        task_type=TaskType.SEQ_CLS, r=2, lora_alpha=4, target_modules=["query"], use_dora=True,
        modules_to_save=["classifier", "pooler"])),
    "ia3-bert": dict(base="tiny-bert-embed", config=lambda: IA3Config(
        task_type=TaskType.SEQ_CLS, target_modules=["key", "value", "output.dense"],
        feedforward_modules=["output.dense"], modules_to_save=["classifier", "pooler"])),
}


@contextlib.contextmanager
def cwd(path):
    old = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(old)


def relative_base(out_dir, base):
    """Name the base relative to the adapter directory."""
    path = os.path.join(out_dir, "adapter_config.json")
    cfg = json.load(open(path, encoding="utf-8"))
    cfg["base_model_name_or_path"] = "../" + base
    with open(path, "w", encoding="utf-8") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")


def randomize_lora(model, seed):
    """Draw every LoRA B (and A) and every saved module at random, so that
    each part of the adapter changes the output."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if p.requires_grad:
                p.copy_(torch.randn(p.shape, generator=g) * (0.15 if "lora_" in n else 0.5))


def build(name, spec, models_dir):
    out_dir = os.path.join(models_dir, name)
    shutil.rmtree(out_dir, ignore_errors=True)
    base_dir = os.path.join(models_dir, spec["base"])
    cls = AutoModelForSequenceClassification if spec["task"] == TaskType.SEQ_CLS else AutoModel
    base = cls.from_pretrained(base_dir, dtype=torch.float32)
    model = get_peft_model(base, LoraConfig(task_type=spec["task"], **spec["lora"]))
    randomize_lora(model, SEED + len(name))
    model.save_pretrained(out_dir)
    os.remove(os.path.join(out_dir, "README.md"))
    relative_base(out_dir, spec["base"])
    return out_dir


def reference_classifier(name, out_dir, ref_dir):
    with cwd(out_dir):
        pipe = pipeline("text-classification", model=".", device="cpu", dtype=torch.float32)
        from peft import AutoPeftModelForSequenceClassification
        peft_model = AutoPeftModelForSequenceClassification.from_pretrained(".", dtype=torch.float32).eval()
        tok = AutoTokenizer.from_pretrained(json.load(open("adapter_config.json"))["base_model_name_or_path"])
    labels = [pipe.model.config.id2label[i] for i in range(pipe.model.config.num_labels)]
    hidden, cases = {}, []
    for i, c in enumerate(mf.CASES):
        rec = mf.case_header(c)
        rec.update(mf.tokenize_case(tok, c))
        if not c["too_long"]:
            inp = mf.model_inputs(tok, c)
            assert inp["input_ids"][0].tolist() == rec["ids"], c["name"]
            with torch.no_grad():
                logits = peft_model(**inp).logits[0]
                hs = mf.base_model(peft_model.base_model.model)(**inp).last_hidden_state[0]
            pin = c["text"] if c["text_pair"] is None else {"text": c["text"], "text_pair": c["text_pair"]}
            kw = {"truncation": True} if c["truncation"] else {}
            by_label = {d["label"]: d["score"] for d in pipe(pin, top_k=None, **kw)}
            scores = [by_label[l] for l in labels]
            assert np.allclose(scores, torch.softmax(logits, -1).numpy(), rtol=1e-5, atol=1e-7), c["name"]
            rec["logits"] = mf.floats(logits)
            rec["scores"] = [float(s) for s in scores]
            key = f"case_{i}"
            hidden[key] = np.ascontiguousarray(hs.numpy().astype(np.float32))
            rec["hidden"] = key
        cases.append(rec)
    doc = dict(generator=generator_info(), model=name, max_length=mf.MAX_LEN, labels=labels, cases=cases)
    mf.dump_json(os.path.join(ref_dir, name + ".json"), doc)
    safetensors.numpy.save_file(hidden, os.path.join(ref_dir, name + ".hidden.safetensors"))
    return labels, cases


def reference_embedder(name, spec, out_dir, ref_dir):
    base_dir = os.path.join(os.path.dirname(out_dir), spec["base"])
    with cwd(out_dir):
        model = AutoModel.from_pretrained(".", dtype=torch.float32).eval()  # the base with the adapter
        st = SentenceTransformer(spec["base"] and base_dir, device="cpu")
        st.load_adapter(".")
    assert hasattr(model, "peft_config"), "transformers did not load the adapter"
    tok = AutoTokenizer.from_pretrained(base_dir)
    hidden, cases = {}, []
    for i, c in enumerate(mf.CASES):
        rec = mf.case_header(c)
        rec.update(mf.tokenize_case(tok, c))
        if not c["too_long"]:
            inp = mf.model_inputs(tok, c)
            with torch.no_grad():
                hs = model(**inp).last_hidden_state[0].numpy().astype(np.float32)
            mask = inp["attention_mask"][0].numpy().astype(np.float64)
            mean = ((hs.astype(np.float64) * mask[:, None]).sum(0) / max(mask.sum(), 1e-9)).astype(np.float32)
            if c["text_pair"] is None:
                emb = st.encode(c["text"], convert_to_numpy=True)
                embn = st.encode(c["text"], convert_to_numpy=True, normalize_embeddings=True)
                assert np.allclose(emb, mean, rtol=1e-4, atol=1e-5), c["name"]
                rec["embedding"] = mf.floats(emb)
                rec["embedding_normalized"] = mf.floats(embn)
            rec["embedding_mean"] = mf.floats(mean)
            rec["embedding_cls"] = mf.floats(hs[0])
            key = f"case_{i}"
            hidden[key] = np.ascontiguousarray(hs)
            rec["hidden"] = key
        cases.append(rec)
    doc = dict(generator=generator_info(), model=name, max_length=mf.MAX_LEN, cases=cases)
    mf.dump_json(os.path.join(ref_dir, name + ".json"), doc)
    safetensors.numpy.save_file(hidden, os.path.join(ref_dir, name + ".hidden.safetensors"))


def generator_info():
    import peft
    info = mf.generator_info()
    info["peft"] = peft.__version__
    info["script"] = "models/make_adapter_fixtures.py"
    return info


def main():
    repo_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    models_dir = os.path.join(repo_root, "tests", "fixtures", "models")
    ref_dir = os.path.join(repo_root, "tests", "fixtures", "reference")
    torch.set_num_threads(1)
    torch.manual_seed(SEED)
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    for name, spec in ADAPTERS.items():
        out_dir = build(name, spec, models_dir)
        if spec["task"] == TaskType.SEQ_CLS:
            labels, cases = reference_classifier(name, out_dir, ref_dir)
            tops = {labels[int(np.argmax(c["scores"]))] for c in cases if "scores" in c}
            print(f"  {name}: on {spec['base']}, top labels {sorted(tops)}")
        else:
            reference_embedder(name, spec, out_dir, ref_dir)
            print(f"  {name}: on {spec['base']}, embeddings")
    for name, spec in REFUSED.items():
        out_dir = os.path.join(models_dir, name)
        shutil.rmtree(out_dir, ignore_errors=True)
        base = AutoModelForSequenceClassification.from_pretrained(os.path.join(models_dir, spec["base"]))
        model = get_peft_model(base, spec["config"]())
        model.save_pretrained(out_dir)
        os.remove(os.path.join(out_dir, "README.md"))
        relative_base(out_dir, spec["base"])
        print(f"  {name}: refused by encore (no reference)")


if __name__ == "__main__":
    main()

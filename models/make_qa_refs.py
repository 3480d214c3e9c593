#!/usr/bin/env python3
"""References for encore's question answering, from Hugging Face itself.

Writes
  tests/fixtures/reference/tiny-bert-qa.overflow.json   tokenizer windows
  tests/fixtures/reference/<model>.qa.json              pipeline answers

The windows are what tokenizers gives with return_overflowing_tokens=True
and a stride (the pipeline's doc_stride), for pairs cut with
truncation="only_second" / "only_first" and single texts cut with
truncation=True. The answers are transformers 4.57's
pipeline("question-answering") (transformers 5 has no such pipeline): run in
the venv of models/requirements-qa.txt,

    python3 -m venv build/venv-qa
    build/venv-qa/bin/pip install -r models/requirements-qa.txt
    build/venv-qa/bin/python models/make_qa_refs.py

--overflow-only writes the windows only (any venv with transformers and
tokenizers, e.g. the fixtures venv of models/requirements-fixtures.txt).
Offline and deterministic (fixed checkpoints, single-threaded torch).
"""

import argparse
import json
import os
import sys
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ["RUST_BACKTRACE"] = "0"  # tokenizers panics on the error cases: one line, not a backtrace

import tokenizers  # noqa: E402
import transformers  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
MODELS = ["tiny-bert-qa", "tiny-distilbert-qa", "tiny-roberta-qa", "tiny-xlmr-qa", "tiny-mpnet-qa", "tiny-electra-qa",
          "tiny-deberta-qa"]

# Texts: sub-word splits (words the small vocabulary does not hold), accents,
# CJK (each character a word; 界 and 龍 are [UNK]), punctuation.
LONG = (
    "The old lighthouse keeper, Mrs. Eléonore Vasquez-Holmberg, watched the unremarkable harbour "
    "through binoculars every evening. In 1987 the municipality replaced her oil lamp with an "
    "electric beacon, but she kept polishing the brass anyway. Visitors from Zürich and Kyōto "
    "brought photographs; one wrote 世界 和平 in the guestbook. Nobody knows who painted the "
    "door turquoise, although rumours point to a fisherman called Øyvind."
)
SHORT = "Paris is the capital and most populous city of France."
CJK = "東京 は 日本 の 首都 です 。 The city 東京 hosts 龍 festivals."
ACCENTS = "Crème brûlée, façade, naïve, coöperate: the café served them à la carte."
SPLIT = "Supercalifragilisticexpialidocious antidisestablishmentarianism floccinaucinihilipilification."


def overflow_cases():
    """(name, text, text_pair, kwargs) for the tokenizer windows."""
    q = "Who painted the door turquoise?"
    return [
        ("pair_only_second_m64_s16", q, LONG, dict(truncation="only_second", max_length=64, stride=16)),
        ("pair_only_second_m32_s8", q, LONG, dict(truncation="only_second", max_length=32, stride=8)),
        ("pair_only_second_m24_s0", q, ACCENTS + " " + CJK, dict(truncation="only_second", max_length=24, stride=0)),
        ("pair_only_second_stride_room_minus_1", "Where?", SPLIT, dict(truncation="only_second", max_length=16, stride=10)),
        ("pair_only_second_fits", q, SHORT, dict(truncation="only_second", max_length=64, stride=32)),
        ("pair_only_first_m40_s4", LONG, q, dict(truncation="only_first", max_length=40, stride=4)),
        ("single_m20_s5", LONG, None, dict(truncation=True, max_length=20, stride=5)),
        ("single_cjk_m12_s3", CJK, None, dict(truncation=True, max_length=12, stride=3)),
        ("single_m14_s2", SHORT, None, dict(truncation=True, max_length=14, stride=2)),
        # tokenizers refuses these (no room left, stride not under the room)
        ("error_stride_too_large", q, LONG, dict(truncation="only_second", max_length=24, stride=15)),
        ("error_no_room", LONG, "Why?", dict(truncation="only_second", max_length=20, stride=2)),
    ]


def windows(tok, text, pair, kw):
    enc = tok(text, pair, return_overflowing_tokens=True, return_offsets_mapping=True, return_token_type_ids=True, **kw)
    out = []
    for i in range(len(enc["input_ids"])):
        out.append(
            dict(
                ids=enc["input_ids"][i],
                type_ids=enc["token_type_ids"][i],
                sequence_ids=[-1 if s is None else s for s in enc.sequence_ids(i)],
                offsets=[list(o) for o in enc["offset_mapping"][i]],
            )
        )
    return out


def generator_info(extra=None):
    info = dict(transformers=transformers.__version__, tokenizers=tokenizers.__version__,
                python=".".join(map(str, sys.version_info[:3])), script="models/make_qa_refs.py")
    info.update(extra or {})
    return info


def dump(path, obj):
    """The document's keys one a line, its cases one a line, each compact."""
    def compact(o):
        return json.dumps(o, ensure_ascii=False, allow_nan=False, separators=(",", ":"))

    lines = [f" {compact(k)}: {compact(v)}," for k, v in obj.items() if k != "cases"]
    cases = ",\n".join("  " + compact(c) for c in obj["cases"])
    with open(path, "w", encoding="utf-8") as f:
        f.write("{\n" + "\n".join(lines) + '\n "cases": [\n' + cases + "\n ]\n}\n")


def make_overflow():
    tok = AutoTokenizer.from_pretrained(os.path.join(FIXTURES, "models", "tiny-bert-qa"))
    assert tok.is_fast
    cases = []
    for name, text, pair, kw in overflow_cases():
        rec = dict(name=name, text=text, text_pair=pair, truncation=kw["truncation"], max_length=kw["max_length"],
                   stride=kw["stride"])
        try:
            rec["windows"] = windows(tok, text, pair, kw)
        except BaseException as e:  # tokenizers panics (PanicException) on a stride past the room
            if not name.startswith("error_"):
                raise
            rec["error"] = f"{type(e).__name__}: {e}"
        else:
            assert not name.startswith("error_"), name
        cases.append(rec)
    dump(os.path.join(FIXTURES, "reference", "tiny-bert-qa.overflow.json"),
         dict(generator=generator_info(), model="tiny-bert-qa",
              note="offsets are character offsets into the text they come from", cases=cases))


def qa_cases():
    """(name, inputs, kwargs): inputs as given to the pipeline (question=,
    context= keywords, or a list of {question, context})."""
    return [
        ("short", dict(question="What is the capital of France?", context=SHORT), {}),
        ("long_doc_stride", dict(question="Who painted the door turquoise?", context=LONG), {}),
        ("long_doc_stride_small", dict(question="Who kept polishing the brass?", context=LONG),
         dict(doc_stride=5, max_seq_len=32)),
        ("long_top_k_5", dict(question="Where did visitors come from?", context=LONG), dict(top_k=5)),
        ("split_words", dict(question="Which word is longest?", context=SPLIT), dict(top_k=3)),
        ("split_words_no_align", dict(question="Which word is longest?", context=SPLIT),
         dict(top_k=3, align_to_words=False)),
        ("accents", dict(question="What did the café serve?", context=ACCENTS), dict(top_k=2)),
        ("accents_no_align", dict(question="What did the café serve?", context=ACCENTS),
         dict(top_k=4, align_to_words=False)),
        ("cjk", dict(question="首都 は どこ ?", context=CJK), dict(top_k=3)),
        ("cjk_no_align", dict(question="首都 は どこ ?", context=CJK), dict(top_k=3, align_to_words=False)),
        ("edges_max_answer_len_1", dict(question="Which city?", context=SHORT), dict(top_k=11, max_answer_len=1)),
        ("max_answer_len_3", dict(question="Who watched the harbour?", context=LONG), dict(top_k=4, max_answer_len=3)),
        ("max_seq_len_24", dict(question="When was the lamp replaced?", context=LONG), dict(max_seq_len=24, doc_stride=6)),
        ("max_question_len", dict(question="When was the lamp replaced?", context=LONG),
         dict(max_question_len=3, top_k=2)),
        ("impossible", dict(question="Is there an answer here at all?", context=SHORT),
         dict(handle_impossible_answer=True, top_k=3)),
        # A two-token context: [CLS]'s probability is high, the empty answer wins.
        ("impossible_wins", dict(question="Is there any answer to this question in the text?", context="Yes."),
         dict(handle_impossible_answer=True)),
        ("impossible_wins_top_k", dict(question="Is there any answer to this question in the text?", context="Yes."),
         dict(handle_impossible_answer=True, top_k=4)),
        # One context token: [CLS] wins, the answer is the pipeline's empty one.
        ("impossible_null_wins", dict(question="Why?", context="No"), dict(handle_impossible_answer=True)),
        ("impossible_null_wins_top_k", dict(question="Why?", context="No"), dict(handle_impossible_answer=True, top_k=2)),
        ("impossible_long", dict(question="Is there an answer?", context=LONG),
         dict(handle_impossible_answer=True, top_k=2, max_seq_len=40, doc_stride=10)),
        ("several_questions", dict(question=["What is the capital of France?", "Which city?"], context=SHORT),
         dict(top_k=2)),
        ("list_of_dicts", [dict(question="What was replaced?", context=LONG),
                           dict(question="What did the café serve?", context=ACCENTS)], {}),
    ]


def same_tokenizer(name, tok):
    """transformers 4.57 reads the tokenizer.json that transformers 5 wrote
    (for XLM-R: the pipeline 5 rebuilds, which encore follows): it must give
    the ids, byte offsets and word ids of the fixture's references, made by
    transformers 5 (make_fixtures.py), or the answers below would not be
    the ones transformers 5's tokenizer leads to."""
    with open(os.path.join(FIXTURES, "reference", f"{name}.json"), encoding="utf-8") as f:
        ref = json.load(f)
    for c in ref["cases"]:
        a, b = c["text"], c["text_pair"]
        kw = dict(return_offsets_mapping=True, add_special_tokens=True)
        kw.update(dict(truncation=True, max_length=len(c["ids"])) if c["truncation"] else dict(truncation=False))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            enc = tok(a, b, **kw) if b is not None else tok(a, **kw)
        offsets = []
        for (s, e), sid in zip(enc["offset_mapping"], enc.sequence_ids()):
            src = a if sid == 0 else b
            offsets.append([0, 0] if sid is None else [len(src[:s].encode()), len(src[:e].encode())])
        got = dict(ids=list(enc["input_ids"]), offsets=offsets,
                   word_ids=[-1 if w is None else w for w in enc.word_ids()])
        for k, v in got.items():
            if v != c[k]:
                raise SystemExit(f"{name}: case {c['name']}: transformers {transformers.__version__} gives other "
                                 f"{k} than the fixture's reference")


def make_qa():
    import numpy as np
    import torch
    from transformers import AutoModelForQuestionAnswering, pipeline
    from transformers.utils import logging as hf_logging

    torch.set_num_threads(1)
    for name in MODELS:
        d = os.path.join(FIXTURES, "models", name)
        # The fixture weights were written by transformers 5: they must load
        # in 4.57 whole (no missing, unexpected or mismatched keys).
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            # (4.57's DeBERTa-v2 module scripts helpers with torch.jit, which torch deprecates)
            warnings.filterwarnings("ignore", message=".*torch.jit.script.*", category=FutureWarning)
            model, info = AutoModelForQuestionAnswering.from_pretrained(d, output_loading_info=True)
        bad = {k: v for k, v in info.items() if v}
        if bad:
            raise SystemExit(f"{name}: the weights do not load cleanly in transformers {transformers.__version__}: {bad}")
        model.eval()
        hf_logging.set_verbosity_error()
        tok = AutoTokenizer.from_pretrained(d)
        same_tokenizer(name, tok)
        pipe = pipeline("question-answering", model=model, tokenizer=tok, device="cpu")
        cases = []
        for cname, inputs, kw in qa_cases():
            if isinstance(inputs, dict):
                out = pipe(**inputs, **kw)
            else:
                out = pipe(inputs, **kw)
            cases.append(dict(name=cname, inputs=inputs, parameters=kw, output=out, json=json.dumps(out)))
        dump(os.path.join(FIXTURES, "reference", f"{name}.qa.json"),
             dict(generator=generator_info(dict(torch=torch.__version__, numpy=np.__version__)), model=name,
                  pipeline="question-answering", cases=cases))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--overflow-only", action="store_true", help="write the tokenizer windows only")
    a = ap.parse_args()
    make_overflow()
    if not a.overflow_only:
        if not transformers.__version__.startswith("4.57."):
            raise SystemExit(f"the answers come from transformers 4.57.x, not {transformers.__version__}: "
                             "use the venv of models/requirements-qa.txt")
        make_qa()


if __name__ == "__main__":
    main()

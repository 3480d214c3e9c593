#!/usr/bin/env python3
"""tok-deberta-normalizer: a DebertaV2Tokenizer directory whose tokenizer.json
carries a normalizer and a pre-tokenizer of its own (lowercasing, accents
stripped, BERT's whitespace-and-punctuation split), and what transformers 5
makes of it.

transformers 5 rebuilds a DebertaV2Tokenizer's pipeline from its class and
keeps only the file's pieces, so the reference is the class's tokenization,
not the file's; encore, which reads tokenizer.json, must override the file
the same way. The script checks that the file's own pipeline would tokenize
the cases differently (so that the fixture can tell the two apart), then
writes

  tests/fixtures/models/tok-deberta-normalizer/   tokenizer.json, tokenizer_config.json
  tests/fixtures/reference/tok-deberta-normalizer.json

from tiny-deberta-sst's tokenizer (built by make_fixtures.py), with the same
cases and record format as make_fixtures.py's tokenizer references. Run it
with make_fixtures.py's pinned environment:

  ENCORE_FIXTURE_PYTHON=... bash models/make_fixtures.sh   # once, for the venv
  build/venv-fixtures/bin/python models/make_deberta_tokenizer_fixture.py
"""

import json
import os
import shutil
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_fixtures as mf  # noqa: E402
from transformers import AutoTokenizer  # noqa: E402

NAME = "tok-deberta-normalizer"
SOURCE = "tiny-deberta-sst"

# What the file says, and transformers 5 ignores for this class.
FOREIGN_NORMALIZER = {
    "type": "Sequence",
    "normalizers": [{"type": "Lowercase"}, {"type": "NFKD"}, {"type": "StripAccents"}],
}
FOREIGN_PRE_TOKENIZER = {"type": "BertPreTokenizer"}


def main():
    repo_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    fixtures = os.path.join(repo_root, "tests", "fixtures")
    src = os.path.join(fixtures, "models", SOURCE)
    out = os.path.join(fixtures, "models", NAME)
    mf.transformers.logging.set_verbosity_error()

    os.makedirs(out, exist_ok=True)
    shutil.copyfile(os.path.join(src, "tokenizer_config.json"), os.path.join(out, "tokenizer_config.json"))
    with open(os.path.join(src, "tokenizer.json"), encoding="utf-8") as f:
        doc = json.load(f)
    assert doc["normalizer"] != FOREIGN_NORMALIZER and doc["pre_tokenizer"] != FOREIGN_PRE_TOKENIZER
    doc["normalizer"] = FOREIGN_NORMALIZER
    doc["pre_tokenizer"] = FOREIGN_PRE_TOKENIZER
    with open(os.path.join(out, "tokenizer.json"), "w", encoding="utf-8", newline="\n") as f:
        json.dump(doc, f, ensure_ascii=False, indent=2)
        f.write("\n")
    assert sorted(os.listdir(out)) == ["tokenizer.json", "tokenizer_config.json"], os.listdir(out)

    tok = AutoTokenizer.from_pretrained(out)
    assert type(tok).__name__ == "DebertaV2Tokenizer", type(tok).__name__
    original = AutoTokenizer.from_pretrained(src)
    cases = mf.fit_cases("deberta", tok)

    # The class's pipeline, not the file's: every case as tiny-deberta-sst's
    # own tokenizer gives it, and some unlike what the file alone would.
    rust = mf.RustTokenizer.from_file(os.path.join(out, "tokenizer.json"))
    differ = 0
    for c in cases:
        a, b = c["text"], c["text_pair"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ids = tok(a, b)["input_ids"] if b is not None else tok(a)["input_ids"]
            want = original(a, b)["input_ids"] if b is not None else original(a)["input_ids"]
        assert ids == want, c["name"]
        differ += rust.encode(a, b).ids != ids
    assert differ >= 10, differ

    records = []
    for c in cases:
        rec = mf.case_header(c)
        rec.update(mf.tokenize_case(tok, c))
        records.append(rec)
    gen = mf.generator_info()
    gen["script"] = "models/make_deberta_tokenizer_fixture.py"
    mf.dump_json(os.path.join(fixtures, "reference", NAME + ".json"),
                 dict(generator=gen, model=NAME, max_length=mf.MAX_LEN, cases=records))
    print(f"{NAME}: {len(records)} cases, {differ} of them tokenized otherwise by the file's own pipeline")


if __name__ == "__main__":
    main()

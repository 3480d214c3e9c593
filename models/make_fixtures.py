#!/usr/bin/env python3
"""Build encore's tiny random-weight reference checkpoints and dump what
Hugging Face itself computes for them.

Writes (see tests/fixtures/README.md for the format):
  tests/fixtures/models/<name>/                 checkpoints / tokenizer dirs
  tests/fixtures/reference/<name>.json          reference dumps
  tests/fixtures/reference/<name>.hidden.safetensors   last_hidden_state per case

Run through models/make_fixtures.sh (pinned versions, offline).  Everything is
deterministic: fixed seeds, single-threaded torch, no network.  --only NAME
rebuilds one model and its reference and leaves the other fixtures alone.
"""

import argparse
import json
import os
import shutil
import contextlib
import io
import logging
import sys
import tempfile
import warnings

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import safetensors  # noqa: E402
import safetensors.numpy  # noqa: E402
import tokenizers  # noqa: E402
import transformers  # noqa: E402
import sentence_transformers  # noqa: E402
from tokenizers import AddedToken, decoders, normalizers, pre_tokenizers, trainers  # noqa: E402
from tokenizers import Tokenizer as RustTokenizer  # noqa: E402
from tokenizers import models as tok_models  # noqa: E402
from transformers import (  # noqa: E402
    AutoModel,
    AutoModelForQuestionAnswering,
    AutoModelForMaskedLM,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoTokenizer,
    BertConfig,
    BertForMaskedLM,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
    BertTokenizerFast,
    DistilBertConfig,
    DistilBertForMaskedLM,
    DistilBertForQuestionAnswering,
    DistilBertForSequenceClassification,
    DistilBertForTokenClassification,
    DebertaV2Config,
    DebertaV2ForQuestionAnswering,
    DebertaV2ForSequenceClassification,
    DebertaV2ForTokenClassification,
    DebertaV2Model,
    DebertaV2Tokenizer,
    DistilBertModel,
    DistilBertTokenizerFast,
    ElectraConfig,
    ElectraForQuestionAnswering,
    ElectraForSequenceClassification,
    ElectraForTokenClassification,
    ElectraModel,
    MPNetConfig,
    MPNetForMaskedLM,
    MPNetForQuestionAnswering,
    MPNetForSequenceClassification,
    MPNetForTokenClassification,
    MPNetModel,
    MPNetTokenizer,
    RobertaConfig,
    RobertaForMaskedLM,
    RobertaForQuestionAnswering,
    RobertaForSequenceClassification,
    RobertaForTokenClassification,
    RobertaModel,
    RobertaTokenizerFast,
    XLMRobertaConfig,
    XLMRobertaForMaskedLM,
    XLMRobertaForQuestionAnswering,
    XLMRobertaForSequenceClassification,
    XLMRobertaForTokenClassification,
    XLMRobertaModel,
    XLMRobertaTokenizer,
    pipeline,
)
from sentence_transformers import SentenceTransformer, SparseEncoder  # noqa: E402
from sentence_transformers.models import Transformer  # noqa: E402
from sentence_transformers.sparse_encoder.models import SpladePooling  # noqa: E402

MAX_LEN = 64
VOCAB_SIZE = 1500
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]  # ids 0..4
SST2_LINES = 4000
INIT_RANGE = 0.3
BASE_SEED = 1234

# Characters kept out of the vocabulary on purpose so that [UNK] shows up:
#   界 龍 (CJK ideographs: split to single chars, so only that char is [UNK]),
#   요 (hangul is not split: the whole word "좋아요" becomes [UNK]),
#   🔥 (emoji are not split either: a word containing it becomes [UNK]).
EXCLUDED_CHARS = "界龍요🔥"

WORD_100 = ("pneumonoultramicroscopicsilicovolcanoconiosis" * 3)[:100]
WORD_120 = ("supercalifragilisticexpialidocious" * 4)[:120]
assert len(WORD_100) == 100 and len(WORD_120) == 120

LONG_SINGLE = (
    "The film opens with a long and patient shot of the harbour at dawn, and for the first "
    "half hour very little happens: fishermen mend their nets, a child chases gulls along "
    "the pier, and the camera simply watches, which some viewers will find hypnotic and "
    "others will find unbearably slow, but by the end the quiet accumulation of detail "
    "pays off in a finale that is both moving and surprisingly funny."
)
LONG_PAIR_A = (
    "The director clearly loves these characters and gives every one of them a moment to "
    "shine, even the minor ones who appear in only a single scene near the middle of the "
    "story, and the ensemble cast responds with warm, generous performances throughout."
)
LONG_PAIR_B = (
    "Sadly the script never decides what it wants to be, drifting from comedy to melodrama "
    "and back again without much sense of purpose."
)

# (name, text, text_pair).  Over-long inputs are expanded below into a
# truncated case and a too_long (untruncated, ids only) case.
BASE_CASES = [
    ("en_positive", "This movie was a wonderful, heartfelt delight.", None),
    ("en_negative", "The plot is dull and the acting is terrible.", None),
    ("en_sst_style", "it 's a charming and often affecting journey . ", None),
    ("en_contractions", "I didn't like it, but it's not the worst film I've seen.", None),
    ("en_negative_2", "a gross-out monster movie with effects that are more silly than scary", None),
    ("mixed_case", "HELLO World", None),
    ("accents", "Café déjà vu, naïve résumé", None),
    ("combining_marks", "Cafe\u0301 and e\u0301 vs \u00e9", None),
    ("german_sharp_s", "Die Straße ist groß. STRASSE", None),
    ("turkish_dotted_i", "İstanbul ve ılık İi Iı", None),
    ("greek_final_sigma", "ΟΔΥΣΣΕΥΣ Οδυσσεύς λόγος", None),
    ("ligature", "\ufb01ne \ufb02ow of\ufb01ce", None),
    ("fullwidth", "ＡＢＣ ｄｅｆ １２３！", None),
    ("chinese", "我喜欢这部电影，真好看！世界很大。", None),
    ("japanese_mixed", "この映画は最高です。カタカナとひらがな、漢字。龍", None),
    ("korean", "이 영화 정말 좋아요 최고", None),
    ("arabic", "هذا الفيلم رائع جدا", None),
    ("devanagari", "यह फ़िल्म बहुत अच्छी है", None),
    ("emoji_old", "great 😀 👍🏽 fun 🔥 movie 😀😀", None),
    ("emoji_new", "so sad 🥲 and 🫠 melting", None),
    ("punct_run", "wow!!!??... really?!", None),
    ("ascii_symbols", "$100+ <tag> a|b ~x^y `q` {k: [1, 2]} #hash @at 50% a&b c*d e=f \\ /", None),
    ("long_word_over_100", "a " + WORD_120 + " word", None),
    ("word_exactly_100", "a " + WORD_100 + " word", None),
    ("control_chars", "a\x00b\x07c\u200bd\ufeffe\u00adf\x7fg", None),
    ("whitespace_kinds", "tab\there\nnew\r\nline\u00a0nbsp\u2028ls\u3000ideo\u2003em\x0bvt\x0cff", None),
    ("special_tokens_literal", "[CLS] hi [SEP] there [MASK]", None),
    ("special_tokens_variants", "[cls] [Sep] x[UNK]y [PAD][MASK]", None),
    ("empty", "", None),
    ("only_spaces", "   ", None),
    ("numbers", "3.14 1,000,000 2nd 42nd 007", None),
    ("url_email", "see https://example.com/a?b=c or mail me@x.org", None),
    ("quotes_dashes", "\u201cSmart quotes\u201d and \u2018single\u2019 \u2014 em-dash\u2026 ellipsis", None),
    ("mixed_scripts_word", "naïveté日本abc123ÉCOLE", None),
    ("exact_64_tokens", " ".join(["the"] * 62), None),
    ("pair_basic", "The food was great.", "The service was slow."),
    ("pair_empty_second", "Only the first side.", ""),
    ("pair_empty_first", "", "Only the second side."),
    ("pair_unicode", "Café 😀 naïve", "日本語のテキスト 世界"),
    ("pair_cased", "HELLO there", "General KENOBI"),
]
LONG_CASES = [
    ("long_single", LONG_SINGLE, None),
    ("long_pair", LONG_PAIR_A, LONG_PAIR_B),
]


def build_cases():
    cases = []
    for name, a, b in BASE_CASES:
        cases.append(dict(name=name, text=a, text_pair=b, truncation=False, too_long=False))
    for name, a, b in LONG_CASES:
        cases.append(dict(name=name, text=a, text_pair=b, truncation=True, too_long=False))
        cases.append(dict(name=name + "_untruncated", text=a, text_pair=b, truncation=False, too_long=True))
    names = [c["name"] for c in cases]
    assert len(names) == len(set(names)), "case names must be unique"
    return cases


CASES = build_cases()

# Byte-level BPE (RoBERTa): what only a byte-level tokenizer sees differently:
# its own special tokens written in the text (<mask> strips the space before
# it), the regex's contractions (lower-case only), runs of spaces before a
# word, other white space, digits next to letters, and bytes of characters
# the merges never join.
BPE_VOCAB_SIZE = 1200
ROBERTA_EXTRA_CASES = [
    dict(name="bpe_specials_literal", text="<s> hi </s> there <mask> and<mask>x <pad><unk>", text_pair=None),
    dict(name="bpe_contractions", text="it's I'M we're they'VE he'd you'll I've 'tis", text_pair=None),
    dict(name="bpe_space_runs", text="  two  spaces   three\t\ttabs \n\n end  ", text_pair=None),
    dict(name="bpe_digits_letters", text="abc123def 4x4 ½ ² 10th", text_pair=None),
    dict(name="bpe_pair_spaces", text=" leading", text_pair="trailing "),
]
for _c in ROBERTA_EXTRA_CASES:
    _c.update(truncation=False, too_long=False)
ROBERTA_CASES = CASES + ROBERTA_EXTRA_CASES

# SentencePiece Unigram (XLM-RoBERTa): what only its tokenizer sees: the
# nmt_nfkc normalization in the precompiled charsmap (compatibility forms,
# composition of combining sequences and conjoining jamo, half-width kana),
# white space (runs, kinds, at the ends, zero-width), control characters,
# the special tokens written in the text, the other scripts of the
# vocabulary, and characters it never saw (<unk>, consecutive ones fused).
UNIGRAM_VOCAB_SIZE = 2000
# Never in the Unigram training text (beside EXCLUDED_CHARS): runic,
# Egyptian hieroglyphs, Tifinagh, Ogham.
XLMR_UNSEEN = "ᚠᚢᚦ𓀀𓂀ⵣⴰ᚛ᚁ᚜"
XLMR_EXTRA_CASES = [
    dict(name="spm_nfkc_compat", text="ＡＢＣ１２３ ｆｕｌｌ ﬁne ﬂow ① ㎏ ½ x² H₂O ™ ℌ Ⅻ ﹏ ︵", text_pair=None),
    dict(name="spm_combining",  # decomposed and precomposed
         text="e\u0301 A\u030A cafe\u0301 caf\u00e9 n\u0303 \u00c5ngstr\u00f6m A\u030Angstro\u0308m q\u0307\u0323",
         text_pair=None),
    dict(name="spm_hangul",  # syllables, the same in conjoining jamo, compatibility jamo, lone jamo
         text="한국어 \u1112\u1161\u11ab\u1100\u116e\u11a8\u110b\u1165 ㄱㅏㄴ \u1100 \u1161 좋아요", text_pair=None),
    dict(name="spm_cjk", text="中文分词测试，日本語の文章と한국어。世界龍", text_pair=None),
    dict(name="spm_kana", text="ひらがな カタカナ ｶﾀｶﾅ ﾊﾟﾋﾟﾌﾟ ｶﾞｷﾞ ｰ｡｢｣", text_pair=None),
    dict(name="spm_arabic", text="مرحبا بالعالم، هذا اختبار ١٢٣ ﻻ ﷲ", text_pair=None),
    dict(name="spm_hindi", text="क्षत्रिय श्रीमान् हिन्दी ज़िंदगी \u095b \u0915\u094d\u200d\u0937", text_pair=None),
    dict(name="spm_emoji", text="👍🏽 👨\u200d👩\u200d👧 🏳\ufe0f\u200d🌈 🇫🇷🇯🇵 ❤\ufe0f 😀🔥", text_pair=None),
    dict(name="spm_space_runs", text="a  b   c\t\td\n\ne \u3000f\u00a0g\u2003h", text_pair=None),
    dict(name="spm_lead_trail", text="   leading and trailing   ", text_pair=None),
    dict(name="spm_zero_width", text="zero\u200bwidth\u200djoiner\u200cnon\ufeffbom \u200b \u2060x", text_pair=None),
    dict(name="spm_control", text="a\x00b\x01c\x1fd\x7fe\u0085f\u00adg\x1bh", text_pair=None),
    dict(name="spm_specials_literal", text="<s> x </s> <mask> y<mask>", text_pair=None),
    dict(name="spm_specials_variants", text="<pad><unk> z<s>w </s></s> <MASK> < mask >", text_pair=None),
    dict(name="spm_pair", text="  Bonjour le monde ", text_pair="Привет, мир!  Γειά σου"),
    dict(name="spm_scripts", text="Ελληνικά русский français español Deutsch 中文 日本語 한국어 العربية हिन्दी",
         text_pair=None),
    dict(name="spm_unknown", text="ᚠᚢᚦ 𓀀𓂀 ab\u2d63cd ⴰ the᚛ᚁ᚜end", text_pair=None),
    dict(name="spm_only_whitespace", text="\t\n \u3000 \u200b", text_pair=None),
]
for _c in XLMR_EXTRA_CASES:
    _c.update(truncation=False, too_long=False)
XLMR_CASES = CASES + XLMR_EXTRA_CASES
# DeBERTa-v2/v3's tokenizer (transformers 5): white-space runs and tabs or
# newlines become one space, NFC, trailing white space stripped, then
# Metaspace: runs of each kind of white space, combining marks that NFC
# composes (and a Hangul syllable spelled in jamo), a composition exclusion.
DEBERTA_EXTRA_CASES = [
    dict(name="deberta_space_runs", text="two  spaces,\tone tab,\n\nnewlines  \t mixed   ", text_pair=None),
    dict(name="deberta_unicode_spaces", text="nbsp\u00a0\u00a0run, one\u00a0nbsp, ideographic\u3000\u3000, nel\u0085"
         "\u0085, vt\u000b ff\u000c end", text_pair=None),
    dict(name="deberta_nfc", text="cafe\u0301 nai\u0308ve \u1100\u1161\u11a8 A\u030a \u212b \u0958 e\u0301\u0301",
         text_pair="re\u0301sume\u0301  \t pair"),
    dict(name="deberta_trailing", text="  leading and trailing \t\n", text_pair=None),
]
for _c in DEBERTA_EXTRA_CASES:
    _c.update(truncation=False, too_long=False)
DEBERTA_CASES = XLMR_CASES + DEBERTA_EXTRA_CASES

# The case list of each architecture with a tokenizer of its own (the others
# take CASES as they are), before and after fit_cases().
ARCH_CASES = {"roberta": ROBERTA_CASES, "xlmr": XLMR_CASES, "deberta": DEBERTA_CASES}
_FITTED = {}


def cases_for(spec):
    """The cases of a model. Byte-level BPE spends several tokens on a
    character outside its merges (and a small Unigram vocabulary on a word
    outside it), so some base cases are longer than MAX_LEN for RoBERTa and
    XLM-R: those become a truncated case and a too_long one, as the
    LONG_CASES are (fit_cases)."""
    arch = spec.get("arch")
    if arch not in ARCH_CASES:
        return CASES
    assert arch in _FITTED, f"fit_cases({arch!r}, ...) first"
    return _FITTED[arch]


def fit_cases(arch, tok):
    out = []
    for c in ARCH_CASES[arch]:
        if c["truncation"] or c["too_long"]:
            out.append(c)
            continue
        a, b = c["text"], c["text_pair"]
        n = len((tok(a, b) if b is not None else tok(a))["input_ids"])
        if n <= MAX_LEN:
            out.append(c)
        else:
            out.append(dict(c, truncation=True))
            out.append(dict(c, name=c["name"] + "_untruncated", too_long=True))
    names = [c["name"] for c in out]
    assert len(names) == len(set(names))
    _FITTED[arch] = out
    return out

# The embedding limit: an embedding model whose sentence_bert_config.json
# max_seq_length (EMBED_LIMIT) is below what the model takes (MAX_LEN).
# sentence-transformers cuts every text at EMBED_LIMIT tokens; these texts lie
# below, at, and between the two limits, and one beyond both.
EMBED_LIMIT = 16
EMBED_LIMIT_CASES = [
    ("short", "This movie was a wonderful, heartfelt delight."),
    ("short_unicode", "Café déjà vu 😀 naïve"),
    ("exact_limit", " ".join(["the"] * (EMBED_LIMIT - 2))),
    ("one_over_limit", " ".join(["the"] * (EMBED_LIMIT - 1))),
    ("between_contractions", "I didn't like it, but it's not the worst film I've seen."),
    ("between_sentence", LONG_PAIR_B),
    ("between_paragraph", LONG_PAIR_A),
    ("between_unicode", "Die Straße ist groß. ΟΔΥΣΣΕΥΣ Οδυσσεύς λόγος. 我喜欢这部电影，真好看！世界很大。"),
    ("over_both_limits", LONG_SINGLE),
]

# ---------------------------------------------------------------- vocabulary


def wordpiece_merges(word_counts, vocab_size, min_frequency, specials, prefix="##"):
    """Frequency-based WordPiece vocabulary learning, the same algorithm as
    tokenizers' WordPieceTrainer (its BpeTrainer with a "##" continuing-subword
    prefix): start from every character (word-initial form and "##" form),
    then repeatedly merge the most frequent adjacent pair (min_frequency or
    more) until the vocabulary holds vocab_size tokens.

    Re-implemented here only to make ties deterministic: tokenizers breaks
    ties between equally frequent pairs by internal ids that depend on Rust
    HashMap iteration order, so its trainer gives a slightly different
    vocabulary on every run.  Here, as there, ties go to the pair whose
    (left id, right id) is smallest, i.e. to older symbols, but the ids are
    fixed: specials, word-initial characters by code point, "##" characters
    by code point, then merged tokens in the order they were created.
    """
    import heapq

    words = []
    counts = []
    vocab = list(specials)
    known = set(vocab)
    initial, continuing = set(), set()
    for w in sorted(word_counts):
        syms = [w[0]] + [prefix + ch for ch in w[1:]]
        initial.add(syms[0])
        continuing.update(syms[1:])
        words.append(syms)
        counts.append(word_counts[w])
    for t in sorted(initial) + sorted(continuing):
        if t not in known:
            vocab.append(t)
            known.add(t)
    sym_id = {t: i for i, t in enumerate(vocab)}

    pair_count = {}
    where = {}

    def add_pairs(i, sign):
        syms, c = words[i], counts[i]
        for a, b in zip(syms, syms[1:]):
            pair_count[(a, b)] = pair_count.get((a, b), 0) + sign * c
            if sign > 0:
                where.setdefault((a, b), set()).add(i)

    for i in range(len(words)):
        add_pairs(i, +1)
    def entry(c, a, b):
        return (-c, sym_id[a], sym_id[b], a, b)

    heap = [entry(c, a, b) for (a, b), c in pair_count.items()]
    heapq.heapify(heap)
    merges = []
    while len(vocab) < vocab_size and heap:
        negc, _, _, a, b = heapq.heappop(heap)
        cur = pair_count.get((a, b), 0)
        if cur != -negc:  # stale entry
            if cur > 0:
                heapq.heappush(heap, entry(cur, a, b))
            continue
        if cur < min_frequency:
            break
        new = a + b[len(prefix):]
        merges.append((a, b))
        if new not in known:
            vocab.append(new)
            known.add(new)
            sym_id[new] = len(vocab) - 1
        touched = set()
        for i in sorted(where.pop((a, b), ())):
            syms = words[i]
            if len(syms) < 2:
                continue
            add_pairs(i, -1)
            out = []
            j = 0
            while j < len(syms):
                if j + 1 < len(syms) and syms[j] == a and syms[j + 1] == b:
                    out.append(new)
                    j += 2
                else:
                    out.append(syms[j])
                    j += 1
            words[i] = out
            add_pairs(i, +1)
            touched.update(zip(out, out[1:]))
        pair_count.pop((a, b), None)
        for p in sorted(touched):
            c = pair_count.get(p, 0)
            if c > 0:
                heapq.heappush(heap, entry(c, p[0], p[1]))
    return vocab


def sst2_lines(repo_root):
    """The first SST2_LINES sentences of ../shared's SST-2 train set."""
    sst = os.path.join(repo_root, "..", "shared", "data", "sst2", "train.tsv")
    lines = []
    with open(sst, encoding="utf-8") as f:
        next(f)  # header
        for line in f:
            lines.append(line.split("\t")[0])
            if len(lines) >= SST2_LINES:
                break
    return lines


def train_vocab(repo_root):
    """Train the shared BERT WordPiece vocabulary (ids 0..4 = SPECIALS).

    Text is normalized with tokenizers' BertNormalizer and split with its
    BertPreTokenizer.  The fixture texts go in under several normalizer
    settings (cased / lowercased+stripped / no chinese splitting), so that the
    alphabet holds upper-case, accented and CJK characters, both word-initially
    and as ##continuations.  EXCLUDED_CHARS are removed from the training
    text.  See wordpiece_merges() for why the merge loop is not tokenizers'.
    """
    lines = sst2_lines(repo_root)

    fixture_texts = []
    for c in CASES:
        if c["name"] in ("long_word_over_100", "word_exactly_100"):
            continue  # would only spend the vocabulary on pieces of these words
        fixture_texts.append(c["text"])
        if c["text_pair"]:
            fixture_texts.append(c["text_pair"])
    variants = [
        dict(clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=False),
        dict(clean_text=True, handle_chinese_chars=True, strip_accents=True, lowercase=True),
        dict(clean_text=True, handle_chinese_chars=True, strip_accents=False, lowercase=True),
        dict(clean_text=True, handle_chinese_chars=False, strip_accents=False, lowercase=False),
        dict(clean_text=True, handle_chinese_chars=False, strip_accents=True, lowercase=True),
    ]
    sst_norm = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True,
                                          strip_accents=False, lowercase=False)
    corpus = [sst_norm.normalize_str(t) for t in lines]
    for v in variants:
        norm = normalizers.BertNormalizer(**v)
        for t in fixture_texts:
            corpus.append(norm.normalize_str(t))
    table = {ord(ch): " " for ch in EXCLUDED_CHARS}
    corpus = [t.translate(table) for t in corpus]

    pre = pre_tokenizers.BertPreTokenizer()
    word_counts = {}
    for t in corpus:
        for w, _ in pre.pre_tokenize_str(t):
            word_counts[w] = word_counts.get(w, 0) + 1
    tokens = wordpiece_merges(word_counts, VOCAB_SIZE, 2, SPECIALS)
    assert len(tokens) == len(set(tokens))
    assert tokens[:5] == SPECIALS, tokens[:5]
    for ch in EXCLUDED_CHARS:
        assert not any(ch in t for t in tokens), ch
    for t in tokens:
        assert t and "\n" not in t and "\r" not in t and t == t.strip(), repr(t)
    return tokens


def train_bpe(repo_root):
    """A byte-level BPE vocabulary and merges (RoBERTa's layout: <s> <pad>
    </s> <unk> <mask> = ids 0..4), trained with tokenizers' own BpeTrainer
    on the first SST2_LINES SST-2 sentences and the fixture texts, unchanged
    (byte-level BPE has no normalizer)."""
    lines = sst2_lines(repo_root)
    for c in ROBERTA_CASES:
        if c["name"] in ("long_word_over_100", "word_exactly_100"):
            continue
        lines.append(c["text"])
        if c["text_pair"]:
            lines.append(c["text_pair"])
    tok = RustTokenizer(tok_models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=BPE_VOCAB_SIZE, min_frequency=2,
                                  special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(lines, trainer)
    model = json.loads(tok.to_str())["model"]
    vocab, merges = model["vocab"], [tuple(m) for m in model["merges"]]
    assert [t for t, _ in sorted(vocab.items(), key=lambda x: x[1])][:5] == ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    assert len(vocab) == BPE_VOCAB_SIZE, len(vocab)
    return vocab, merges


def save_bpe_tokenizer(bpe, out_dir):
    """RoBERTa's tokenizer over the trained vocabulary: tokenizer.json and
    tokenizer_config.json as transformers 5 writes them, plus vocab.json and
    merges.txt (the slow tokenizer's files, which transformers 4 also wrote).
    <mask> strips the space before it, as in roberta-base."""
    vocab, merges = bpe
    os.makedirs(out_dir, exist_ok=True)
    tok = RobertaTokenizerFast(vocab=dict(vocab), merges=list(merges), model_max_length=MAX_LEN,
                               mask_token=AddedToken("<mask>", lstrip=True, rstrip=False, special=True,
                                                     normalized=False))
    tok.save_pretrained(out_dir)
    with open(os.path.join(out_dir, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(out_dir, "merges.txt"), "w", encoding="utf-8", newline="\n") as f:
        f.write("#version: 0.2\n")
        for a, b in merges:
            f.write(f"{a} {b}\n")
    saved = json.load(open(os.path.join(out_dir, "tokenizer.json"), encoding="utf-8"))
    mask = [t for t in saved["added_tokens"] if t["content"] == "<mask>"]
    assert mask and mask[0]["lstrip"], saved["added_tokens"]
    assert saved["pre_tokenizer"]["type"] == "ByteLevel" and saved["post_processor"]["type"] == "RobertaProcessing"


# A few sentences in each of the other scripts of the Unigram vocabulary (in
# its training text, with the SST-2 sentences and the fixture texts).
MULTILINGUAL_SAMPLE = [
    "Le film était magnifique, mais un peu trop long.",
    "Nous sommes allés au cinéma hier soir avec des amis.",
    "Les acteurs jouent très bien et l'histoire est émouvante.",
    "Der Film war großartig, aber etwas zu lang.",
    "Wir sind gestern Abend mit Freunden ins Kino gegangen.",
    "Die Schauspieler spielen sehr gut und die Geschichte ist rührend.",
    "La película fue maravillosa, pero un poco larga.",
    "Anoche fuimos al cine con unos amigos.",
    "¿Te gustó la película? ¡Sí, los actores son muy buenos!",
    "Фильм был замечательный, но немного длинный.",
    "Вчера вечером мы ходили в кино с друзьями.",
    "Актёры играют очень хорошо, а история трогательная.",
    "Η ταινία ήταν υπέροχη, αλλά λίγο μεγάλη.",
    "Χθες το βράδυ πήγαμε σινεμά με φίλους.",
    "Οι ηθοποιοί παίζουν πολύ καλά και η ιστορία είναι συγκινητική.",
    "这部电影非常精彩，但是有点长。",
    "昨天晚上我们和朋友一起去看电影了。",
    "演员们演得很好，故事也很感人。",
    "この映画は素晴らしかったが、少し長かった。",
    "昨日の夜、友達と映画館に行きました。",
    "俳優たちの演技がとても良く、物語も感動的です。",
    "그 영화는 훌륭했지만 조금 길었다.",
    "어제 저녁에 친구들과 영화관에 갔다.",
    "배우들의 연기가 아주 좋고 이야기도 감동적이다.",
    "كان الفيلم رائعا لكنه طويل قليلا.",
    "ذهبنا إلى السينما مع الأصدقاء مساء أمس.",
    "الممثلون يؤدون أدوارهم بشكل جيد والقصة مؤثرة.",
    "फ़िल्म बहुत अच्छी थी, लेकिन थोड़ी लंबी थी।",
    "कल शाम हम दोस्तों के साथ सिनेमा गए।",
    "अभिनेताओं ने बहुत अच्छा अभिनय किया और कहानी दिल को छू लेने वाली है।",
]
MULTILINGUAL_REPEAT = 3  # so that some whole words of these scripts become pieces


def train_unigram(repo_root, layout="xlmr"):
    """A SentencePiece Unigram model as XLM-R's sentencepiece.bpe.model is
    one (serialized ModelProto bytes): trained with the sentencepiece package
    itself, nmt_nfkc normalization (so the precompiled charsmap is
    SentencePiece's real one), <unk> <s> </s> = ids 0..2 and no <pad>
    (fairseq's layout, which transformers' converter shifts to XLM-R's
    <s> <pad> </s> <unk>), no byte fallback, every character of the training
    text kept (character_coverage 1.0) but EXCLUDED_CHARS and XLMR_UNSEEN,
    which are left out so that <unk> occurs.  Training text: the first
    SST2_LINES SST-2 sentences, the fixture texts, MULTILINGUAL_SAMPLE.
    Deterministic: one thread, a fixed seed, no input shuffling.
    layout="deberta": DeBERTa-v3's spm.model layout instead, [PAD] [CLS]
    [SEP] [UNK] = ids 0..3, trained on its cases too."""
    import sentencepiece as spm

    lines = sst2_lines(repo_root)
    for c in (DEBERTA_CASES if layout == "deberta" else XLMR_CASES):
        if c["name"] in ("long_word_over_100", "word_exactly_100"):
            continue
        lines.append(c["text"])
        if c["text_pair"]:
            lines.append(c["text_pair"])
    lines += MULTILINGUAL_SAMPLE * MULTILINGUAL_REPEAT
    table = {ord(ch): " " for ch in EXCLUDED_CHARS + XLMR_UNSEEN}
    # one sentence a line, as spm_train reads a file
    lines = [s for t in lines for s in t.translate(table).splitlines() if s.strip()]
    buf = io.BytesIO()
    spm.set_random_generator_seed(BASE_SEED)
    ids = (dict(pad_id=0, pad_piece="[PAD]", bos_id=1, bos_piece="[CLS]", eos_id=2, eos_piece="[SEP]", unk_id=3,
                unk_piece="[UNK]") if layout == "deberta" else dict(unk_id=0, bos_id=1, eos_id=2, pad_id=-1))
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=buf, model_type="unigram", vocab_size=UNIGRAM_VOCAB_SIZE,
        normalization_rule_name="nmt_nfkc", character_coverage=1.0, byte_fallback=False,
        num_threads=1, shuffle_input_sentence=False, minloglevel=2, **ids)
    model = buf.getvalue()
    sp = spm.SentencePieceProcessor(model_proto=model)
    pieces = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
    first = ["[PAD]", "[CLS]", "[SEP]", "[UNK]"] if layout == "deberta" else ["<unk>", "<s>", "</s>"]
    assert len(pieces) == UNIGRAM_VOCAB_SIZE and pieces[:len(first)] == first, pieces[:4]
    for ch in EXCLUDED_CHARS + XLMR_UNSEEN:
        assert not any(ch in p for p in pieces), ch
    return model


# What transformers 5 makes of an XLM-R sentencepiece model (asserted, so that
# a change of transformers shows): the charsmap alone as normalizer (no
# Replace of space runs, unlike transformers 4's converter), white-space
# split before Metaspace, Unigram with <unk> at 3, <s> A </s></s> B </s>.
XLMR_TOKENIZER_JSON = dict(
    normalizer={"type": "Precompiled"},
    pre_tokenizer={"type": "Sequence", "pretokenizers": [
        {"type": "WhitespaceSplit"},
        {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}]},
    model={"type": "Unigram", "unk_id": 3, "byte_fallback": False},
    post_processor={"type": "TemplateProcessing"},
    decoder={"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
)


def save_unigram_tokenizer(spm_model, out_dir):
    """XLM-R's tokenizer over the trained SentencePiece model, as transformers
    converts a sentencepiece.bpe.model (SentencePieceExtractor and
    XLMRobertaConverter.convert_from_spm: <s> <pad> </s> <unk>, the pieces
    after fairseq's three, <mask> last): tokenizer.json and
    tokenizer_config.json.  The .model file is not kept (transformers loads
    tokenizer.json alone).  <mask> strips the space before it, as in
    xlm-roberta-base.

    The tokenizer is constructed from the converted vocabulary and charsmap
    (XLMRobertaTokenizer(vocab=..., _spm_precompiled_charsmap=...)) rather
    than saved from from_pretrained(a directory holding the .model): the
    backend is the same (asserted), but from_pretrained's tokenizer_config.json
    would also carry the loader's arguments (is_local, local_files_only, the
    .model's own unk_id 0, extra_special_tokens)."""
    os.makedirs(out_dir, exist_ok=True)
    mask = AddedToken("<mask>", lstrip=True, rstrip=False, special=True, normalized=False)
    with tempfile.TemporaryDirectory() as spm_dir:
        path = os.path.join(spm_dir, XLMRobertaTokenizer.vocab_files_names["vocab_file"])
        with open(path, "wb") as f:
            f.write(spm_model)
        kw = XLMRobertaTokenizer.convert_to_native_format(vocab_file=path)
        tok = XLMRobertaTokenizer(vocab=kw["vocab"], _spm_precompiled_charsmap=kw["_spm_precompiled_charsmap"],
                                  mask_token=mask, model_max_length=MAX_LEN)
        with no_load_warnings("sentencepiece conversion"):
            loaded = XLMRobertaTokenizer.from_pretrained(spm_dir, mask_token=mask, model_max_length=MAX_LEN)
        assert loaded.backend_tokenizer.to_str() == tok.backend_tokenizer.to_str()
    tok.save_pretrained(out_dir)
    assert sorted(os.listdir(out_dir)) == ["tokenizer.json", "tokenizer_config.json"], os.listdir(out_dir)
    saved = json.load(open(os.path.join(out_dir, "tokenizer.json"), encoding="utf-8"))
    for key, want in XLMR_TOKENIZER_JSON.items():
        have = {k: v for k, v in saved[key].items() if k in want}
        assert have == want, (key, saved[key] if key != "model" else have)
    assert [t for t, _ in saved["model"]["vocab"][:4]] == ["<s>", "<pad>", "</s>", "<unk>"]
    assert saved["model"]["vocab"][-1] == ["<mask>", 0.0]
    assert all(isinstance(s, float) for _, s in saved["model"]["vocab"])
    pp = saved["post_processor"]
    assert [next(iter(p.values()))["id"] for p in pp["pair"]] == ["<s>", "A", "</s>", "</s>", "B", "</s>"], pp
    mask_entry = [t for t in saved["added_tokens"] if t["content"] == "<mask>"]
    assert mask_entry and mask_entry[0]["lstrip"] and not mask_entry[0]["rstrip"], saved["added_tokens"]


# What transformers 5 makes of a DeBERTa-v3 spm.model (asserted): white-space
# runs, tabs and newlines to one space, NFC, the right end stripped, no
# charsmap; Metaspace; Unigram with [UNK] at 3; [CLS] A [SEP] B:1 [SEP]:1.
DEBERTA_TOKENIZER_JSON = dict(
    normalizer={"type": "Sequence", "normalizers": [
        {"type": "Replace", "pattern": {"Regex": "\\s{2,}|[\\n\\r\\t]"}, "content": " "},
        {"type": "NFC"},
        {"type": "Strip", "strip_left": False, "strip_right": True}]},
    pre_tokenizer={"type": "Sequence", "pretokenizers": [
        {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True}]},
    model={"type": "Unigram", "unk_id": 3, "byte_fallback": False},
    post_processor={"type": "TemplateProcessing"},
    decoder={"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
)


def save_deberta_tokenizer(spm_model, out_dir):
    """DeBERTa-v3's tokenizer over the trained SentencePiece model, as
    transformers 5 builds it from an spm.model (DebertaV2Tokenizer over the
    pieces, [MASK] added after them): tokenizer.json and
    tokenizer_config.json, constructed from the vocabulary for the reason
    save_unigram_tokenizer gives."""
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory() as spm_dir:
        path = os.path.join(spm_dir, DebertaV2Tokenizer.vocab_files_names["vocab_file"])
        with open(path, "wb") as f:
            f.write(spm_model)
        kw = DebertaV2Tokenizer.convert_to_native_format(vocab_file=path)
        tok = DebertaV2Tokenizer(vocab=kw["vocab"], model_max_length=MAX_LEN)
        with no_load_warnings("sentencepiece conversion"):
            loaded = DebertaV2Tokenizer.from_pretrained(spm_dir, model_max_length=MAX_LEN)
        assert loaded.backend_tokenizer.to_str() == tok.backend_tokenizer.to_str()
    tok.save_pretrained(out_dir)
    assert sorted(os.listdir(out_dir)) == ["tokenizer.json", "tokenizer_config.json"], os.listdir(out_dir)
    saved = json.load(open(os.path.join(out_dir, "tokenizer.json"), encoding="utf-8"))
    for key, want in DEBERTA_TOKENIZER_JSON.items():
        have = {k: v for k, v in saved[key].items() if k in want}
        assert have == want, (key, saved[key] if key != "model" else have)
    assert [t for t, _ in saved["model"]["vocab"][:4]] == ["[PAD]", "[CLS]", "[SEP]", "[UNK]"]
    assert [t["content"] for t in saved["added_tokens"]][-1] == "[MASK]", saved["added_tokens"]


def check_tokenizer_json(out_dir, arch):
    """tokenizers' Tokenizer.from_file(tokenizer.json) alone (what encore
    reads) must encode every case as transformers' tokenizer does."""
    tok = AutoTokenizer.from_pretrained(out_dir)
    rust = RustTokenizer.from_file(os.path.join(out_dir, "tokenizer.json"))
    for c in ARCH_CASES[arch]:
        a, b = c["text"], c["text_pair"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            enc = tok(a, b or None, return_offsets_mapping=True, return_token_type_ids=True)
        r = rust.encode(a, b or None)
        assert (r.ids, r.tokens, r.offsets, r.type_ids) == (
            enc["input_ids"], enc.tokens(), [tuple(o) for o in enc["offset_mapping"]], enc["token_type_ids"]
        ), c["name"]


def write_tokenizer(spec, vocab_tokens, subword, out_dir):
    """subword: {"roberta": train_bpe()'s (vocab, merges), "xlmr": train_unigram()'s model}."""
    if spec.get("arch") == "roberta":
        save_bpe_tokenizer(subword["roberta"], out_dir)
    elif spec.get("arch") == "xlmr":
        save_unigram_tokenizer(subword["xlmr"], out_dir)
    elif spec.get("arch") == "deberta":
        save_deberta_tokenizer(subword["deberta"], out_dir)
    elif spec.get("arch") == "mpnet":
        save_mpnet_tokenizer(vocab_tokens, out_dir)
    else:
        save_tokenizer(spec["tok_cls"], vocab_tokens, out_dir,
                       keep_tokenizer_json=spec.get("keep_tokenizer_json", True))


def write_vocab(tokens, path):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for t in tokens:
            f.write(t + "\n")


# ---------------------------------------------------------------- tokenizers


def save_tokenizer(cls, vocab_tokens, out_dir, keep_tokenizer_json=True, **kw):
    """Save a BERT-style tokenizer in the classic layout.

    transformers 5 builds the tokenizer from an in-memory vocab dict and only
    writes tokenizer.json + tokenizer_config.json, so vocab.txt and
    special_tokens_map.json (the transformers 4 layout) are written here.
    """
    os.makedirs(out_dir, exist_ok=True)
    vocab_path = os.path.join(out_dir, "vocab.txt")
    write_vocab(vocab_tokens, vocab_path)
    vocab = {t: i for i, t in enumerate(vocab_tokens)}
    tok = cls(vocab=vocab, vocab_file=vocab_path, model_max_length=MAX_LEN, **kw)
    tok.save_pretrained(out_dir)
    with open(os.path.join(out_dir, "special_tokens_map.json"), "w", encoding="utf-8") as f:
        json.dump(
            {
                "cls_token": "[CLS]",
                "mask_token": "[MASK]",
                "pad_token": "[PAD]",
                "sep_token": "[SEP]",
                "unk_token": "[UNK]",
            },
            f,
            indent=2,
        )
        f.write("\n")
    if not keep_tokenizer_json:
        os.remove(os.path.join(out_dir, "tokenizer.json"))
    # vocab.txt must survive save_pretrained unchanged
    with open(vocab_path, encoding="utf-8") as f:
        assert f.read().split("\n")[:-1] == vocab_tokens


def mpnet_vocab(vocab_tokens):
    """MPNet's vocabulary layout (microsoft/mpnet-base): <s> <pad> </s> <unk>
    first, BERT's WordPiece vocabulary (its [UNK] the unknown token), <mask>
    last."""
    return ["<s>", "<pad>", "</s>", "<unk>"] + vocab_tokens + ["<mask>"]


def save_mpnet_tokenizer(vocab_tokens, out_dir, max_len=MAX_LEN):
    """transformers' MPNetTokenizer on the shared WordPiece vocabulary, as
    save_pretrained writes it (tokenizer.json: BertNormalizer, WordPiece,
    RobertaProcessing; <mask> strips the space before it), with the
    vocab.txt and special_tokens_map.json that Hub checkpoints carry."""
    os.makedirs(out_dir, exist_ok=True)
    tokens = mpnet_vocab(vocab_tokens)
    tok = MPNetTokenizer(vocab={t: i for i, t in enumerate(tokens)}, model_max_length=max_len)
    tok.save_pretrained(out_dir)
    write_vocab(tokens, os.path.join(out_dir, "vocab.txt"))
    with open(os.path.join(out_dir, "special_tokens_map.json"), "w", encoding="utf-8") as f:
        json.dump({"bos_token": "<s>", "cls_token": "<s>", "eos_token": "</s>", "mask_token": "<mask>",
                   "pad_token": "<pad>", "sep_token": "</s>", "unk_token": "[UNK]"}, f, indent=2)
        f.write("\n")
    post = json.load(open(os.path.join(out_dir, "tokenizer.json"), encoding="utf-8"))["post_processor"]
    assert post["type"] == "RobertaProcessing", post
    assert type(AutoTokenizer.from_pretrained(out_dir)) is MPNetTokenizer


def mpnet_bucket_reference():
    """transformers' MPNet bucket of every relative position from -600 to
    600 (key minus query), past the last bucket at distance 128 each way."""
    from transformers.models.mpnet.modeling_mpnet import MPNetEncoder
    rel = torch.arange(-600, 601)
    return dict(first=-600, buckets=MPNetEncoder.relative_position_bucket(rel).tolist())


def deberta_bucket_reference():
    """transformers' DeBERTa-v2 bucket of every relative position (query
    minus key) from -1100 to 1100, as build_relative_position takes it (float
    arithmetic, then to long), for deberta-v3's settings (256 buckets, 512
    positions), the fixtures' (16, 64) and two others."""
    from transformers.models.deberta_v2.modeling_deberta_v2 import make_log_bucket_position
    rel = torch.arange(-1100, 1101)
    return [dict(buckets=b, max_position=m, first=-1100,
                 values=make_log_bucket_position(rel, b, m).to(torch.long).tolist())
            for b, m in ((256, 512), (16, 64), (64, 1024), (256, 4096))]


def byte_offset(s, char_idx):
    return len(s[:char_idx].encode("utf-8"))


def tokenize_case(tok, case):
    a, b = case["text"], case["text_pair"]
    kw = dict(return_offsets_mapping=True, return_token_type_ids=True, add_special_tokens=True)
    if case["truncation"]:
        kw.update(truncation=True, max_length=MAX_LEN)
    else:
        kw.update(truncation=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        enc = tok(a, b, **kw) if b is not None else tok(a, **kw)
    rec = encoding_record(enc, a, b)
    n = len(rec["ids"])
    if case["too_long"]:
        assert n > MAX_LEN, (case["name"], n)
    elif case["truncation"]:
        assert n == MAX_LEN, (case["name"], n)
    else:
        assert n <= MAX_LEN, (case["name"], n)
    if case["name"] == "exact_64_tokens":
        assert n == MAX_LEN, n
    return rec


def encoding_record(enc, a, b):
    """The fields of a reference case that describe one encoding (made with
    return_offsets_mapping and return_token_type_ids); offsets in bytes."""
    seq_ids = enc.sequence_ids()
    offsets = []
    for (s, e), sid in zip(enc["offset_mapping"], seq_ids):
        if sid is None:
            offsets.append([0, 0])
        else:
            src = a if sid == 0 else b
            offsets.append([byte_offset(src, s), byte_offset(src, e)])
    return dict(
        ids=list(enc["input_ids"]),
        type_ids=list(enc["token_type_ids"]),
        tokens=enc.tokens(),
        offsets=offsets,
        sequence_ids=seq_ids,
        word_ids=[-1 if w is None else w for w in enc.word_ids()],
    )


def model_inputs(tok, case):
    """What the pipeline feeds the model: tokenizer(..., return_tensors='pt')."""
    kw = dict(return_tensors="pt")
    if case["truncation"]:
        kw["truncation"] = True
    a, b = case["text"], case["text_pair"]
    return tok(a, b, **kw) if b is not None else tok(a, **kw)


# ---------------------------------------------------------------- models


def randomize_(model, seed, pad=0):
    """Re-draw every parameter so nothing is trivially 0 or 1 (biases and
    LayerNorm weights included), keeping the [PAD] embedding row at 0 like
    BERT's init."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            lname = name.lower()
            if "layernorm" in lname or "layer_norm" in lname:
                if name.endswith("weight"):
                    p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=g))
                else:
                    p.copy_(0.2 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.2 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(INIT_RANGE * torch.randn(p.shape, generator=g))
                if name.endswith("word_embeddings.weight"):
                    p[pad].zero_()


def bert_config(vocab_size, **kw):
    return BertConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=MAX_LEN,
        type_vocab_size=2,
        hidden_act="gelu",
        layer_norm_eps=1e-12,
        initializer_range=INIT_RANGE,
        pad_token_id=0,
        **kw,
    )


def roberta_config(vocab_size, config_cls=RobertaConfig, **kw):
    # positions start after the padding id (RoBERTa's create_position_ids),
    # so the model holds MAX_LEN + 2 of them for MAX_LEN tokens.  XLM-R
    # (XLMRobertaConfig) is RoBERTa with another tokenizer: the same sizes.
    # MPNet (mpnet_config) has the same positions and sizes, no token types.
    args = dict(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        max_position_embeddings=MAX_LEN + 2,
        hidden_act="gelu",
        layer_norm_eps=1e-5,
        initializer_range=INIT_RANGE,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
    )
    if config_cls is RobertaConfig or config_cls is XLMRobertaConfig:
        args["type_vocab_size"] = 1
    args.update(kw)
    return config_cls(**args)


def mpnet_config(vocab_size, config_cls=MPNetConfig, **kw):
    # RoBERTa's sizes and positions (after padding_idx 1), no token types,
    # and the relative position bias of 32 buckets every layer adds to its
    # scores.
    return roberta_config(vocab_size, config_cls=config_cls, relative_attention_num_buckets=32, **kw)


def electra_config(vocab_size, config_cls=ElectraConfig, **kw):
    # BERT's sizes, with embeddings narrower than the hidden size (16 of 32,
    # as electra-small's 128 of 256), so that embeddings_project runs.
    return config_cls(vocab_size=vocab_size, embedding_size=16, hidden_size=32, num_hidden_layers=2,
                      num_attention_heads=4, intermediate_size=37, max_position_embeddings=MAX_LEN, type_vocab_size=2,
                      hidden_act="gelu", layer_norm_eps=1e-12, initializer_range=INIT_RANGE, pad_token_id=0, **kw)


def deberta_config(vocab_size, config_cls=DebertaV2Config, **kw):
    # deberta-v3-base's settings at BERT's fixture sizes: disentangled
    # attention (both c2p and p2c, keys shared with the content), relative
    # embeddings LayerNorm'd, no absolute positions, no token types, a GELU
    # pooler; 16 position buckets against 64 positions, so that the
    # logarithmic buckets (beyond 8) occur in short texts. A spec's "config"
    # overrides any of these.
    settings = dict(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                    intermediate_size=37, max_position_embeddings=MAX_LEN, type_vocab_size=0,
                    relative_attention=True, position_buckets=16, max_relative_positions=-1,
                    pos_att_type=["p2c", "c2p"], share_att_key=True, norm_rel_ebd="layer_norm",
                    position_biased_input=False, pooler_hidden_size=32, pooler_hidden_act="gelu",
                    hidden_act="gelu", layer_norm_eps=1e-7, initializer_range=INIT_RANGE, pad_token_id=0)
    settings.update(kw)
    return config_cls(**settings)


def distilbert_config(vocab_size, **kw):
    return DistilBertConfig(
        vocab_size=vocab_size,
        dim=32,
        n_layers=2,
        n_heads=4,
        hidden_dim=37,
        max_position_embeddings=MAX_LEN,
        activation="gelu",
        initializer_range=INIT_RANGE,
        pad_token_id=0,
        **kw,
    )


MODEL_SPECS = {
    "tiny-bert-sst": dict(
        kind="cls", arch="bert", dtype=torch.float32, tok_cls=BertTokenizerFast,
        labels=["NEGATIVE", "POSITIVE"], problem_type=None, seed=BASE_SEED + 0,
    ),
    "tiny-distilbert-sst": dict(
        kind="cls", arch="distilbert", dtype=torch.float16, tok_cls=DistilBertTokenizerFast,
        labels=["NEGATIVE", "POSITIVE"], problem_type=None, seed=BASE_SEED + 100,
        keep_tokenizer_json=False,
    ),
    "tiny-bert-multilabel": dict(
        kind="cls", arch="bert", dtype=torch.bfloat16, tok_cls=BertTokenizerFast,
        labels=["joy", "anger", "surprise"], problem_type="multi_label_classification",
        seed=BASE_SEED + 200,
    ),
    "tiny-bert-embed": dict(
        kind="embed", arch="bert", dtype=torch.float32, tok_cls=BertTokenizerFast,
        pooling="mean", seed=BASE_SEED + 300,
    ),
    "tiny-distilbert-embed": dict(
        kind="embed", arch="distilbert", dtype=torch.float32, tok_cls=DistilBertTokenizerFast,
        pooling="cls", seed=BASE_SEED + 400,
    ),
    "tiny-bert-embed-short": dict(
        kind="embed", arch="bert", dtype=torch.float32, tok_cls=BertTokenizerFast,
        pooling="mean", seed=BASE_SEED + 500, max_seq_length=EMBED_LIMIT,
    ),
    # An embedder with prompts in config_sentence_transformers.json (and a
    # default prompt name), for prompt_name, truncate_dim and left truncation.
    "tiny-bert-prompts": dict(
        kind="embed", arch="bert", dtype=torch.float32, tok_cls=BertTokenizerFast,
        pooling="mean", seed=BASE_SEED + 600,
        prompts={"query": "query: ", "passage": "passage: "}, default_prompt_name="query",
    ),
    # A cross-encoder: BertForSequenceClassification with one label, scored
    # with sentence-transformers' CrossEncoder.
    "tiny-bert-rerank": dict(
        kind="rerank", arch="bert", dtype=torch.float32, tok_cls=BertTokenizerFast,
        labels=["LABEL_0"], problem_type=None, seed=BASE_SEED + 700,
    ),
    # Masked-language models for pipeline("fill-mask"): the MLM head tied to
    # the word embeddings.
    "tiny-bert-mlm": dict(kind="mlm", arch="bert", dtype=torch.float32, tok_cls=BertTokenizerFast,
                          seed=BASE_SEED + 800),
    "tiny-distilbert-mlm": dict(kind="mlm", arch="distilbert", dtype=torch.float32,
                                tok_cls=DistilBertTokenizerFast, seed=BASE_SEED + 900),
    # An NLI classifier for pipeline("zero-shot-classification"), its labels in
    # an order of its own (entailment is neither first nor last).
    "tiny-bert-nli": dict(
        kind="nli", arch="bert", dtype=torch.float32, tok_cls=BertTokenizerFast,
        labels=["neutral", "entailment", "contradiction"], problem_type=None, seed=BASE_SEED + 1000,
    ),
    # Per-token heads: token classifiers with CoNLL-style B-/I- labels (in an
    # order of their own) for pipeline("token-classification"), and span
    # heads (qa_outputs) for question answering.
    "tiny-bert-ner": dict(
        kind="tokcls", arch="bert", dtype=torch.float32, tok_cls=BertTokenizerFast,
        labels=["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"],
        seed=BASE_SEED + 1100,
    ),
    "tiny-distilbert-ner": dict(
        kind="tokcls", arch="distilbert", dtype=torch.float32, tok_cls=DistilBertTokenizerFast,
        labels=["B-LOC", "I-LOC", "O", "B-PER", "I-PER", "B-MISC", "I-MISC"], seed=BASE_SEED + 1200,
    ),
    "tiny-bert-qa": dict(kind="qa", arch="bert", dtype=torch.float32, tok_cls=BertTokenizerFast,
                         seed=BASE_SEED + 1300),
    "tiny-distilbert-qa": dict(kind="qa", arch="distilbert", dtype=torch.float32, tok_cls=DistilBertTokenizerFast,
                               seed=BASE_SEED + 1400),
    # RoBERTa: byte-level BPE, positions after the padding id, the
    # classification head on <s> (dense, tanh, out_proj).
    "tiny-roberta-sst": dict(
        kind="cls", arch="roberta", dtype=torch.float32, tok_cls=RobertaTokenizerFast,
        labels=["NEGATIVE", "POSITIVE"], problem_type=None, seed=BASE_SEED + 1500,
    ),
    "tiny-roberta-embed": dict(
        kind="embed", arch="roberta", dtype=torch.float32, tok_cls=RobertaTokenizerFast,
        pooling="mean", seed=BASE_SEED + 1600,
    ),
    # roberta-large-mnli's shape of zero-shot classifier, and a cross-encoder.
    "tiny-roberta-nli": dict(
        kind="nli", arch="roberta", dtype=torch.float32, tok_cls=RobertaTokenizerFast,
        labels=["contradiction", "neutral", "entailment"], problem_type=None, seed=BASE_SEED + 1700,
    ),
    "tiny-roberta-mlm": dict(kind="mlm", arch="roberta", dtype=torch.float32, tok_cls=RobertaTokenizerFast,
                             seed=BASE_SEED + 1900),
    "tiny-roberta-ner": dict(
        kind="tokcls", arch="roberta", dtype=torch.float32, tok_cls=RobertaTokenizerFast,
        labels=["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"],
        seed=BASE_SEED + 2001,  # the first seed whose labels give make_ner_refs.py every case it checks
    ),
    "tiny-roberta-rerank": dict(
        kind="rerank", arch="roberta", dtype=torch.float32, tok_cls=RobertaTokenizerFast,
        labels=["LABEL_0"], problem_type=None, seed=BASE_SEED + 1800,
    ),
    # deepset/roberta-base-squad2's shape of span head: question first, words
    # from the byte-level pre-tokenizer's pieces.
    "tiny-roberta-qa": dict(kind="qa", arch="roberta", dtype=torch.float32, tok_cls=RobertaTokenizerFast,
                            seed=BASE_SEED + 2500),
    # XLM-RoBERTa: RoBERTa's model with a SentencePiece Unigram tokenizer
    # (xlm-roberta-base, paraphrase-multilingual-MiniLM, multilingual-e5).
    "tiny-xlmr-sst": dict(
        kind="cls", arch="xlmr", dtype=torch.float32, tok_cls=XLMRobertaTokenizer,
        labels=["NEGATIVE", "POSITIVE"], problem_type=None, seed=BASE_SEED + 2100,
    ),
    "tiny-xlmr-embed": dict(
        kind="embed", arch="xlmr", dtype=torch.float32, tok_cls=XLMRobertaTokenizer,
        pooling="mean", seed=BASE_SEED + 2200,
    ),
    # DeBERTa-v3: disentangled attention over log-bucketed relative
    # positions, a SentencePiece Unigram tokenizer (deberta-v3-base, its NLI
    # and zero-shot fine-tunes, cross-encoders).
    "tiny-deberta-sst": dict(
        kind="cls", arch="deberta", dtype=torch.float32, tok_cls=DebertaV2Tokenizer,
        labels=["NEGATIVE", "POSITIVE"], problem_type=None, seed=BASE_SEED + 2700,
    ),
    # The other settings DebertaV2Config takes: absolute positions added to
    # the input (position_biased_input), two token types, unbucketed relative
    # positions clamped at max_relative_positions 24, no LayerNorm on the
    # relative embeddings, pos_att_type as a string, one term only (c2p), a
    # tanh pooler.
    "tiny-deberta-v2-sst": dict(
        kind="cls", arch="deberta", dtype=torch.float32, tok_cls=DebertaV2Tokenizer,
        labels=["NEGATIVE", "POSITIVE"], problem_type=None, seed=BASE_SEED + 4500,
        config=dict(position_biased_input=True, type_vocab_size=2, position_buckets=-1, max_relative_positions=24,
                    norm_rel_ebd="none", pos_att_type="c2p", pooler_hidden_act="tanh"),
    ),
    "tiny-deberta-embed": dict(
        kind="embed", arch="deberta", dtype=torch.float32, tok_cls=DebertaV2Tokenizer,
        pooling="mean", seed=BASE_SEED + 2800,
    ),
    # DeBERTa-v3's main uses beyond classification: NLI for the zero-shot
    # pipeline (MoritzLaurer/DeBERTa-v3-base-mnli-fever-anli), a cross-encoder,
    # a token classifier.
    "tiny-deberta-nli": dict(
        kind="nli", arch="deberta", dtype=torch.float32, tok_cls=DebertaV2Tokenizer,
        labels=["entailment", "neutral", "contradiction"], problem_type=None, seed=BASE_SEED + 4100,
    ),
    "tiny-deberta-rerank": dict(
        kind="rerank", arch="deberta", dtype=torch.float32, tok_cls=DebertaV2Tokenizer,
        labels=["LABEL_0"], problem_type=None, seed=BASE_SEED + 4200,
    ),
    "tiny-deberta-qa": dict(kind="qa", arch="deberta", dtype=torch.float32, tok_cls=DebertaV2Tokenizer,
                            seed=BASE_SEED + 4400),
    "tiny-deberta-ner": dict(
        kind="tokcls", arch="deberta", dtype=torch.float32, tok_cls=DebertaV2Tokenizer,
        labels=["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"],
        seed=BASE_SEED + 4301,
    ),
    "tiny-xlmr-mlm": dict(kind="mlm", arch="xlmr", dtype=torch.float32, tok_cls=XLMRobertaTokenizer,
                          seed=BASE_SEED + 2300),
    "tiny-xlmr-ner": dict(
        kind="tokcls", arch="xlmr", dtype=torch.float32, tok_cls=XLMRobertaTokenizer,
        labels=["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"],
        seed=BASE_SEED + 2400,
    ),
    # SPLADE sparse encoders: a masked-language model under
    # sentence-transformers' SparseEncoder (MLMTransformer + SpladePooling),
    # laid out by sentence-transformers itself. naver/splade-v3's settings
    # (max of log(1 + relu)), and the sum / log1p_relu variant.
    "tiny-bert-splade": dict(kind="splade", arch="bert", dtype=torch.float32, tok_cls=BertTokenizerFast,
                             splade=("max", "relu"), seed=BASE_SEED + 2700),
    "tiny-distilbert-splade": dict(kind="splade", arch="distilbert", dtype=torch.float32,
                                   tok_cls=DistilBertTokenizerFast, splade=("sum", "log1p_relu"),
                                   seed=BASE_SEED + 2800),
    # An embedder saved by sentence-transformers 6 itself: its module type
    # names and 1_Pooling's "pooling_mode" (CLS, which is not the default).
    "tiny-bert-embed-st6": dict(
        kind="embed", arch="bert", dtype=torch.float32, tok_cls=BertTokenizerFast,
        pooling="cls", seed=BASE_SEED + 3400, st6=True,
    ),
    # ELECTRA's discriminator (google/electra-*-discriminator fine-tunes,
    # cross-encoder/ms-marco-electra-base): BERT's WordPiece vocabulary and
    # tokenizer, embeddings 16 wide projected to 32, the GELU head.
    "tiny-electra-sst": dict(
        kind="cls", arch="electra", dtype=torch.float32, tok_cls=BertTokenizerFast,
        labels=["NEGATIVE", "POSITIVE"], problem_type=None, seed=BASE_SEED + 3600,
    ),
    "tiny-electra-embed": dict(
        kind="embed", arch="electra", dtype=torch.float32, tok_cls=BertTokenizerFast,
        pooling="mean", seed=BASE_SEED + 3700,
    ),
    "tiny-electra-rerank": dict(
        kind="rerank", arch="electra", dtype=torch.float32, tok_cls=BertTokenizerFast,
        labels=["LABEL_0"], problem_type=None, seed=BASE_SEED + 3800,
    ),
    "tiny-electra-ner": dict(
        kind="tokcls", arch="electra", dtype=torch.float32, tok_cls=BertTokenizerFast,
        labels=["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"],
        seed=BASE_SEED + 3900,
    ),
    "tiny-electra-qa": dict(kind="qa", arch="electra", dtype=torch.float32, tok_cls=BertTokenizerFast,
                            seed=BASE_SEED + 4000),
    # MPNet (all-mpnet-base-v2, multi-qa-mpnet-base): the WordPiece
    # vocabulary under MPNet's special tokens, RoBERTa's positions and heads,
    # a relative position bias in every attention layer.
    "tiny-mpnet-sst": dict(
        kind="cls", arch="mpnet", dtype=torch.float32, tok_cls=MPNetTokenizer,
        labels=["NEGATIVE", "POSITIVE"], problem_type=None, seed=BASE_SEED + 2900,
    ),
    "tiny-mpnet-embed": dict(
        kind="embed", arch="mpnet", dtype=torch.float32, tok_cls=MPNetTokenizer,
        pooling="mean", seed=BASE_SEED + 3000,
    ),
    "tiny-mpnet-mlm": dict(kind="mlm", arch="mpnet", dtype=torch.float32, tok_cls=MPNetTokenizer,
                           seed=BASE_SEED + 3100),
    "tiny-mpnet-ner": dict(
        kind="tokcls", arch="mpnet", dtype=torch.float32, tok_cls=MPNetTokenizer,
        labels=["O", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC", "B-MISC", "I-MISC"],
        seed=BASE_SEED + 3200,
    ),
    "tiny-mpnet-qa": dict(kind="qa", arch="mpnet", dtype=torch.float32, tok_cls=MPNetTokenizer,
                          seed=BASE_SEED + 3300),
    # MPNet on texts of up to 512 tokens: distances past the last relative
    # position bucket (128 tokens each way), which the 64-token fixtures
    # never reach; all-mpnet-base-v2's 514 positions.
    "tiny-mpnet-long": dict(kind="long", arch="mpnet", dtype=torch.float32, tok_cls=MPNetTokenizer,
                            pooling="mean", seed=BASE_SEED + 3500),
    # deepset/xlm-roberta-large-squad2's shape: words are Metaspace's.
    "tiny-xlmr-qa": dict(kind="qa", arch="xlmr", dtype=torch.float32, tok_cls=XLMRobertaTokenizer,
                         seed=BASE_SEED + 2600),
}

# pipeline("fill-mask") calls: several masks, targets in and out of the
# vocabulary (a leading space, other case, several word pieces, none at all,
# two naming one token), top_k above and below the default, accents and CJK.
FILL_MASK_CASES = [
    dict(name="one", text="The film is [MASK] .", kw={}),
    dict(name="one_top1", text="it 's a [MASK] movie", kw=dict(top_k=1)),
    dict(name="start_top10", text="[MASK] acting, wonderful story!", kw=dict(top_k=10)),
    dict(name="punctuation", text="I didn't like it, but it's [MASK]!", kw={}),
    dict(name="two_masks", text="The [MASK] was [MASK].", kw={}),
    dict(name="three_masks_top2", text="[MASK] , [MASK] and [MASK] !", kw=dict(top_k=2)),
    dict(name="targets_vocab", text="The film is [MASK].", kw=dict(targets=["good", "bad", "film"])),
    dict(name="targets_cap_top_k", text="The film is [MASK].", kw=dict(targets=["good", "bad"], top_k=5)),
    dict(name="targets_one_string", text="a [MASK] story", kw=dict(targets="good")),
    dict(name="targets_not_in_vocab", text="The film is [MASK].",
         kw=dict(targets=[" good", "Bad", "unbelievably", "zzqxjv", "good", "  ", "日本"], top_k=10)),
    dict(name="targets_two_masks", text="[MASK] film , [MASK] acting", kw=dict(targets=["good", " bad", "Fine"])),
    dict(name="accents_cjk", text="Café déjà [MASK] 日本 naïve résumé", kw=dict(top_k=3)),
    dict(name="cjk_mask", text="日[MASK]本", kw={}),
]

ZERO_SHOT_TEXT = "The film opens with a long and patient shot of the harbour at dawn."
# pipeline("zero-shot-classification") calls: one and several labels,
# multi_label both ways, a custom template, labels that tie (labels the
# uncased tokenizer cannot tell apart give the same tokens, so the same
# logits, and the pipeline's order shows), labels as one
# comma-separated string, accents and CJK.
ZERO_SHOT_CASES = [
    dict(name="default", text=ZERO_SHOT_TEXT, kw=dict(candidate_labels=["cinema", "sports", "politics", "food"])),
    dict(name="multi_label", text=ZERO_SHOT_TEXT,
         kw=dict(candidate_labels=["cinema", "sports", "politics", "food"], multi_label=True)),
    dict(name="one_label", text=ZERO_SHOT_TEXT, kw=dict(candidate_labels=["cinema"])),
    dict(name="one_label_multi", text=ZERO_SHOT_TEXT, kw=dict(candidate_labels=["cinema"], multi_label=True)),
    dict(name="template", text="it 's a charming and often affecting journey . ",
         kw=dict(candidate_labels=["happy", "sad", "angry"], hypothesis_template="The mood of this review is {}!")),
    dict(name="template_multi", text="it 's a charming and often affecting journey . ",
         kw=dict(candidate_labels=["happy", "sad", "angry"], hypothesis_template="Its topic: {}", multi_label=True)),
    dict(name="tie", text="The plot is dull and the acting is terrible.",
         kw=dict(candidate_labels=["good", "bad", "Good", "film", "BAD", "café", "cafe"])),
    dict(name="tie_multi", text="The plot is dull and the acting is terrible.",
         kw=dict(candidate_labels=["good", "bad", "Good", "film", "BAD", "good"], multi_label=True)),
    dict(name="labels_string", text="I didn't like it, but it's not the worst film I've seen.",
         kw=dict(candidate_labels=" happy, sad,,angry ,")),
    dict(name="accents_cjk", text="Café déjà vu 😀 日本 naïve résumé",
         kw=dict(candidate_labels=["café", "日本", "travel"])),
    # Longer than the model takes: the pipeline cuts only the text
    # (truncation="only_first"), never the hypothesis; with a long
    # hypothesis that differs from cutting the longer of the two.
    dict(name="long_text", text=LONG_SINGLE, kw=dict(candidate_labels=["cinema", "sports"])),
    dict(name="long_text_long_template", text=LONG_SINGLE,
         kw=dict(candidate_labels=["cinema", "sports", "the sea"], multi_label=True,
                 hypothesis_template=LONG_PAIR_B + " All in all, this review is about {}, and nothing else.")),
]

PROMPT_TEXTS = [
    ("short", "What is the capital of France?"),
    ("sentence", "The film opens with a long and patient shot of the harbour at dawn."),
    ("unicode", "Café déjà vu 😀 日本"),
    ("long", LONG_SINGLE),
]
RERANK_QUERY = "Which film is worth seeing?"
RERANK_TEXTS = [
    "This movie was a wonderful, heartfelt delight.",
    "The plot is dull and the acting is terrible.",
    "it 's a charming and often affecting journey . ",
    "I didn't like it, but it's not the worst film I've seen.",
    LONG_SINGLE,
    "Café déjà vu, naïve résumé",
]

TOKENIZER_SPECS = {
    "tok-cased": dict(do_lower_case=False),
    "tok-keep-accents": dict(do_lower_case=True, strip_accents=False),
    "tok-no-chinese": dict(tokenize_chinese_chars=False),
    "tok-strip-cased": dict(do_lower_case=False, strip_accents=True),
}


# The RoBERTa-shaped architectures: config class and model class per kind.
ROBERTA_FAMILY = {
    "roberta": dict(config=RobertaConfig, mlm=RobertaForMaskedLM, tokcls=RobertaForTokenClassification,
                    cls=RobertaForSequenceClassification, base=RobertaModel, qa=RobertaForQuestionAnswering),
    "xlmr": dict(config=XLMRobertaConfig, mlm=XLMRobertaForMaskedLM, tokcls=XLMRobertaForTokenClassification,
                 cls=XLMRobertaForSequenceClassification, base=XLMRobertaModel, qa=XLMRobertaForQuestionAnswering),
    # ELECTRA's discriminator: BERT's network and tokenizer, embeddings
    # projected, a GELU classification head (no fill-mask head)
    "electra": dict(config=ElectraConfig, tokcls=ElectraForTokenClassification, cls=ElectraForSequenceClassification,
                    base=ElectraModel, qa=ElectraForQuestionAnswering, make_config=electra_config, pad=0),
    # DeBERTa-v2/v3: disentangled attention, a SentencePiece tokenizer
    "deberta": dict(config=DebertaV2Config, tokcls=DebertaV2ForTokenClassification,
                    cls=DebertaV2ForSequenceClassification, base=DebertaV2Model, qa=DebertaV2ForQuestionAnswering,
                    make_config=deberta_config, pad=0),
    # MPNet: RoBERTa's positions, heads and mask token, its own attention
    "mpnet": dict(config=MPNetConfig, mlm=MPNetForMaskedLM, tokcls=MPNetForTokenClassification,
                  cls=MPNetForSequenceClassification, base=MPNetModel, qa=MPNetForQuestionAnswering,
                  make_config=mpnet_config),
}


def make_model(spec, vocab_size, seed):
    torch.manual_seed(seed)
    family = ROBERTA_FAMILY.get(spec["arch"])
    if family is not None:
        kind = {"rerank": "cls", "nli": "cls", "embed": "base"}.get(spec["kind"], spec["kind"])
        kw = {}
        if kind in ("tokcls", "cls"):
            labels = spec["labels"]
            kw = dict(num_labels=len(labels), id2label={i: l for i, l in enumerate(labels)},
                      label2id={l: i for i, l in enumerate(labels)})
            if spec.get("problem_type"):
                kw["problem_type"] = spec["problem_type"]
        make_config = family.get("make_config", roberta_config)
        kw.update(spec.get("config", {}))
        model = family[kind](make_config(vocab_size, config_cls=family["config"], **kw))
        randomize_(model, seed, pad=family.get("pad", 1))
        if spec["arch"] == "mpnet":
            # a bias as large as the scores, so that a bias read at the wrong
            # distance or head moves the outputs far past the tolerance
            with torch.no_grad():
                model.base_model.encoder.relative_attention_bias.weight.mul_(5.0)
        model.eval()
        return model
    if spec["kind"] in ("mlm", "splade"):
        model = (BertForMaskedLM(bert_config(vocab_size)) if spec["arch"] == "bert"
                 else DistilBertForMaskedLM(distilbert_config(vocab_size)))
    elif spec["kind"] == "tokcls":
        labels = spec["labels"]
        kw = dict(num_labels=len(labels), id2label={i: l for i, l in enumerate(labels)},
                  label2id={l: i for i, l in enumerate(labels)})
        model = (BertForTokenClassification(bert_config(vocab_size, **kw)) if spec["arch"] == "bert"
                 else DistilBertForTokenClassification(distilbert_config(vocab_size, **kw)))
    elif spec["kind"] == "qa":
        model = (BertForQuestionAnswering(bert_config(vocab_size)) if spec["arch"] == "bert"
                 else DistilBertForQuestionAnswering(distilbert_config(vocab_size)))
    elif spec["kind"] in ("cls", "rerank", "nli"):
        labels = spec["labels"]
        kw = dict(
            num_labels=len(labels),
            id2label={i: l for i, l in enumerate(labels)},
            label2id={l: i for i, l in enumerate(labels)},
        )
        if spec["problem_type"]:
            kw["problem_type"] = spec["problem_type"]
        if spec["arch"] == "bert":
            model = BertForSequenceClassification(bert_config(vocab_size, **kw))
        else:
            model = DistilBertForSequenceClassification(distilbert_config(vocab_size, **kw))
    else:
        if spec["arch"] == "bert":
            model = BertModel(bert_config(vocab_size))
        else:
            model = DistilBertModel(distilbert_config(vocab_size))
    randomize_(model, seed, pad=0)
    model.eval()
    return model


def base_model(model):
    for attr in ("bert", "distilbert", "roberta", "mpnet", "electra", "deberta"):  # XLM-R's call theirs "roberta" too
        if hasattr(model, attr):
            return getattr(model, attr)
    return model


def load_fp32(kind, path):
    cls = {"cls": AutoModelForSequenceClassification, "mlm": AutoModelForMaskedLM}.get(kind, AutoModel)
    model, info = cls.from_pretrained(path, dtype=torch.float32, output_loading_info=True)
    bad = {k: v for k, v in info.items() if v and k != "error_msgs"} if isinstance(info, dict) else {}
    assert not bad, (path, info)
    if isinstance(info, dict) and info.get("error_msgs"):
        raise AssertionError((path, info["error_msgs"]))
    for p in model.parameters():
        assert p.dtype == torch.float32
    model.eval()
    return model


@contextlib.contextmanager
def no_load_warnings(what, allow=()):
    """Fail if loading logs a warning (missing / unexpected / newly
    initialized weights, tokenizer conversion problems, ...)."""
    buf = io.StringIO()
    handler = logging.StreamHandler(buf)
    handler.setLevel(logging.WARNING)
    loggers = [logging.getLogger("transformers"), logging.getLogger("sentence_transformers")]
    old = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_warning()
    for lg in loggers:
        lg.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:
        for lg in loggers:
            lg.removeHandler(handler)
        transformers.logging.set_verbosity(old)
    msgs = [m for m in buf.getvalue().splitlines() if m.strip()]
    msgs += [str(w.message) for w in caught]
    msgs = [m for m in msgs if not any(m.startswith(a) for a in allow)]
    assert not msgs, f"{what}: warnings while loading:\n" + "\n".join(msgs)


def top_labels(model, tok, id2label, cases):
    seen = set()
    with torch.no_grad():
        for c in cases:
            if c["too_long"]:
                continue
            logits = model(**model_inputs(tok, c)).logits[0]
            seen.add(id2label[int(torch.argmax(logits))])
    return seen


def write_st_layout(out_dir, pooling, dim, max_seq_length=MAX_LEN):
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
    ]
    with open(os.path.join(out_dir, "modules.json"), "w", encoding="utf-8") as f:
        json.dump(modules, f, indent=2)
        f.write("\n")
    os.makedirs(os.path.join(out_dir, "1_Pooling"), exist_ok=True)
    pool = {
        "word_embedding_dimension": dim,
        "pooling_mode_cls_token": pooling == "cls",
        "pooling_mode_mean_tokens": pooling == "mean",
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False,
        "include_prompt": True,
    }
    with open(os.path.join(out_dir, "1_Pooling", "config.json"), "w", encoding="utf-8") as f:
        json.dump(pool, f, indent=2)
        f.write("\n")
    with open(os.path.join(out_dir, "sentence_bert_config.json"), "w", encoding="utf-8") as f:
        json.dump({"max_seq_length": max_seq_length, "do_lower_case": False}, f, indent=2)
        f.write("\n")


def floats(t):
    """float32 values -> exact Python floats (json writes repr: round-trips)."""
    if isinstance(t, torch.Tensor):
        t = t.detach().to(torch.float32).cpu().numpy()
    a = np.asarray(t, dtype=np.float32)
    return [float(x) for x in a.reshape(-1)]


# ---------------------------------------------------------------- main


def generator_info():
    return {
        "transformers": transformers.__version__,
        "tokenizers": tokenizers.__version__,
        "torch": torch.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "safetensors": safetensors.__version__,
        "numpy": np.__version__,
        "python": "%d.%d.%d" % sys.version_info[:3],
        "script": "models/make_fixtures.py",
    }


def dump_json(path, obj):
    """JSON with one case per line (small, diff-friendly).  Floats are written
    with repr(), i.e. the shortest string that round-trips the double (every
    value is an exact float32)."""
    def enc(o):
        return json.dumps(o, ensure_ascii=False, allow_nan=False, separators=(",", ":"))

    parts = []
    for k, v in obj.items():
        if k == "cases" or k.endswith("_cases"):
            body = ",\n".join("  " + enc(c) for c in v)
            parts.append(f' {enc(k)}: [\n{body}\n ]')
        else:
            parts.append(f" {enc(k)}: {enc(v)}")
    text = "{\n" + ",\n".join(parts) + "\n}\n"
    assert json.loads(text) == obj
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


def case_header(c):
    return dict(
        name=c["name"],
        text=c["text"],
        text_pair=c["text_pair"],
        truncation=c["truncation"],
        too_long=c["too_long"],
    )


def vocab_size(spec, vocab_tokens, subword):
    if spec.get("arch") == "mpnet":
        return len(mpnet_vocab(vocab_tokens))
    if spec.get("arch") == "roberta":
        return len(subword["roberta"][0])
    if spec.get("arch") == "xlmr":  # the SentencePiece pieces, <pad> and <mask>
        return subword["xlmr_size"]
    if spec.get("arch") == "deberta":  # the pieces and [MASK]
        return subword["deberta_size"]
    return len(vocab_tokens)


def build_classifier(name, spec, vocab_tokens, subword, models_dir):
    out_dir = os.path.join(models_dir, name)
    id2label = dict(enumerate(spec["labels"]))
    for attempt in range(100):
        seed = spec["seed"] + attempt
        shutil.rmtree(out_dir, ignore_errors=True)
        os.makedirs(out_dir)
        write_tokenizer(spec, vocab_tokens, subword, out_dir)
        model = make_model(spec, vocab_size(spec, vocab_tokens, subword), seed)
        model.to(spec["dtype"]).save_pretrained(out_dir)
        tok = AutoTokenizer.from_pretrained(out_dir)
        ref = load_fp32("cls", out_dir)
        seen = top_labels(ref, tok, id2label, cases_for(spec))
        # 2 labels: both must occur as the top label; 3 labels: at least two must.
        if len(seen) >= 2:
            return seed
        print(f"  {name}: seed {seed} gives top labels {sorted(seen)}; trying next seed")
    raise SystemExit(f"{name}: no seed gave varied top labels")


def build_embedder(name, spec, vocab_tokens, subword, models_dir):
    out_dir = os.path.join(models_dir, name)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    write_tokenizer(spec, vocab_tokens, subword, out_dir)
    model = make_model(spec, vocab_size(spec, vocab_tokens, subword), spec["seed"])
    model.save_pretrained(out_dir)
    if spec.get("st6"):
        save_st6_layout(out_dir, spec["pooling"])
    else:
        write_st_layout(out_dir, spec["pooling"], 32, spec.get("max_seq_length", MAX_LEN))
    return spec["seed"]


def save_st6_layout(out_dir, pooling):
    """The directory as sentence-transformers 6 saves it: modules.json with
    its module paths (sentence_transformers.base.modules.transformer...),
    1_Pooling/config.json with "pooling_mode", max_seq_length as the
    tokenizer's model_max_length."""
    from sentence_transformers.models import Pooling
    with tempfile.TemporaryDirectory() as tmp:
        word = Transformer(out_dir, max_seq_length=MAX_LEN)
        st = SentenceTransformer(modules=[word, Pooling(word.get_embedding_dimension(), pooling_mode=pooling)],
                                 device="cpu")
        st.save(tmp)
        shutil.rmtree(out_dir)
        shutil.copytree(tmp, out_dir)
    for f in ("README.md",):  # the model card: a date and versions, nothing encore reads
        if os.path.exists(os.path.join(out_dir, f)):
            os.remove(os.path.join(out_dir, f))
    pool = json.load(open(os.path.join(out_dir, "1_Pooling", "config.json"), encoding="utf-8"))
    assert pool.get("pooling_mode") == pooling and not any(k.startswith("pooling_mode_") for k in pool), pool
    mods = json.load(open(os.path.join(out_dir, "modules.json"), encoding="utf-8"))
    assert mods[1]["type"] != "sentence_transformers.models.Pooling", mods


def reference_classifier(name, spec, out_dir, ref_dir):
    tok = AutoTokenizer.from_pretrained(out_dir)
    if name == "tiny-distilbert-sst":
        assert not os.path.exists(os.path.join(out_dir, "tokenizer.json"))
    model = load_fp32("cls", out_dir)
    labels = spec["labels"]
    with no_load_warnings(name):
        pipe = pipeline("text-classification", model=out_dir, tokenizer=out_dir, device="cpu",
                        dtype=torch.float32)
    assert next(pipe.model.parameters()).dtype == torch.float32
    multilabel = spec["problem_type"] == "multi_label_classification"
    hidden = {}
    cases = []
    for i, c in enumerate(cases_for(spec)):
        rec = case_header(c)
        rec.update(tokenize_case(tok, c))
        if not c["too_long"]:
            inp = model_inputs(tok, c)
            assert inp["input_ids"][0].tolist() == rec["ids"], c["name"]
            with torch.no_grad():
                logits = model(**inp).logits[0]
                hs = base_model(model)(**inp).last_hidden_state[0]
            pin = c["text"] if c["text_pair"] is None else {"text": c["text"], "text_pair": c["text_pair"]}
            kw = {"truncation": True} if c["truncation"] else {}
            p_default = pipe(pin, **kw)
            p_all = pipe(pin, top_k=None, **kw)
            by_label = {d["label"]: d["score"] for d in p_all}
            scores = [by_label[l] for l in labels]
            # cross-check against torch
            expect = torch.sigmoid(logits) if multilabel else torch.softmax(logits, -1)
            assert np.allclose(scores, expect.numpy(), rtol=1e-5, atol=1e-7), (c["name"], scores, expect)
            rec["logits"] = floats(logits)
            rec["scores"] = [float(s) for s in scores]
            rec["pipeline"] = json.dumps(p_default)
            rec["pipeline_top_k_all"] = json.dumps(p_all)
            if len(labels) == 3:
                rec["pipeline_top_k_2"] = json.dumps(pipe(pin, top_k=2, **kw))
            key = f"case_{i}"
            hidden[key] = np.ascontiguousarray(hs.numpy().astype(np.float32))
            assert hidden[key].shape == (len(rec["ids"]), 32)
            rec["hidden"] = key
        cases.append(rec)
    doc = dict(generator=generator_info(), model=name, max_length=MAX_LEN, labels=labels, cases=cases)
    dump_json(os.path.join(ref_dir, name + ".json"), doc)
    safetensors.numpy.save_file(hidden, os.path.join(ref_dir, name + ".hidden.safetensors"))
    return cases


def reference_embedder(name, spec, out_dir, ref_dir):
    tok = AutoTokenizer.from_pretrained(out_dir)
    model = load_fp32("embed", out_dir)
    with no_load_warnings(name):
        st = SentenceTransformer(out_dir, device="cpu")
    assert st.max_seq_length == MAX_LEN
    assert next(st.parameters()).dtype == torch.float32
    hidden = {}
    cases = []
    for i, c in enumerate(cases_for(spec)):
        rec = case_header(c)
        rec.update(tokenize_case(tok, c))
        if not c["too_long"]:
            inp = model_inputs(tok, c)
            assert inp["input_ids"][0].tolist() == rec["ids"], c["name"]
            with torch.no_grad():
                hs = model(**inp).last_hidden_state[0].numpy().astype(np.float32)
            mask = inp["attention_mask"][0].numpy().astype(np.float64)
            mean = ((hs.astype(np.float64) * mask[:, None]).sum(0) / max(mask.sum(), 1e-9)).astype(np.float32)
            cls = hs[0]
            pooled = mean if spec["pooling"] == "mean" else cls
            if c["text_pair"] is None:
                emb = st.encode(c["text"], convert_to_numpy=True)
                embn = st.encode(c["text"], convert_to_numpy=True, normalize_embeddings=True)
                assert emb.shape == (32,) and emb.dtype == np.float32
                assert np.allclose(emb, pooled, rtol=1e-4, atol=1e-5), (c["name"], emb, pooled)
                n = pooled.astype(np.float64)
                n = n / max(np.linalg.norm(n), 1e-12)
                assert np.allclose(embn, n, rtol=1e-4, atol=1e-5), c["name"]
                rec["embedding"] = floats(emb)
                rec["embedding_normalized"] = floats(embn)
            # Pairs: sentence-transformers embeds single texts only, so a pair
            # case carries the pooled hidden states of the pair encoding but no
            # "embedding"/"embedding_normalized".
            rec["embedding_mean"] = floats(mean)
            rec["embedding_cls"] = floats(cls)
            key = f"case_{i}"
            hidden[key] = np.ascontiguousarray(hs)
            assert hidden[key].shape == (len(rec["ids"]), 32)
            rec["hidden"] = key
        cases.append(rec)
    doc = dict(generator=generator_info(), model=name, max_length=MAX_LEN, cases=cases)
    if spec["arch"] == "mpnet":
        doc["mpnet_buckets"] = mpnet_bucket_reference()
    if spec["arch"] == "deberta":
        doc["deberta_buckets"] = deberta_bucket_reference()
    dump_json(os.path.join(ref_dir, name + ".json"), doc)
    safetensors.numpy.save_file(hidden, os.path.join(ref_dir, name + ".hidden.safetensors"))
    return cases


LONG_MAX = 512  # tiny-mpnet-long's tokens per text, all-mpnet-base-v2's


def long_cases():
    """Texts of about 130, 260 and 500 tokens and a pair of about 300, cut
    from LONG_SINGLE and LONG_PAIR_* repeated (each under LONG_MAX)."""
    words = (" ".join([LONG_SINGLE] * 12)).split()
    pair_a, pair_b = " ".join([LONG_PAIR_A] * 4), " ".join([LONG_PAIR_B] * 3)
    return [dict(name="long_130", text=" ".join(words[:100]), text_pair=None),
            dict(name="long_260", text=" ".join(words[:200]), text_pair=None),
            dict(name="long_500", text=" ".join(words[:350]), text_pair=None),
            dict(name="long_pair_300", text=pair_a, text_pair=pair_b)]


def build_and_reference_long(name, spec, vocab_tokens, models_dir, ref_dir):
    """An MPNetModel with 514 positions (tokenizer and sentence-transformers
    limits 512) and its references on long_cases(), in the embedders' format:
    tokens, hidden states, sentence-transformers' embeddings."""
    out_dir = os.path.join(models_dir, name)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    save_mpnet_tokenizer(vocab_tokens, out_dir, max_len=LONG_MAX)
    torch.manual_seed(spec["seed"])
    model = MPNetModel(mpnet_config(len(mpnet_vocab(vocab_tokens)), max_position_embeddings=LONG_MAX + 2))
    randomize_(model, spec["seed"], pad=1)
    with torch.no_grad():
        model.encoder.relative_attention_bias.weight.mul_(5.0)
    model.eval()
    model.save_pretrained(out_dir)
    write_st_layout(out_dir, spec["pooling"], 32, LONG_MAX)
    tok = AutoTokenizer.from_pretrained(out_dir)
    model = load_fp32("embed", out_dir)
    with no_load_warnings(name):
        st = SentenceTransformer(out_dir, device="cpu")
    assert st.max_seq_length == LONG_MAX
    hidden, cases, longest = {}, [], 0
    for i, c in enumerate(long_cases()):
        c = dict(c, truncation=False, too_long=False)
        rec = case_header(c)
        a, b = c["text"], c["text_pair"]
        enc = tok(a, b, return_offsets_mapping=True, return_token_type_ids=True, truncation=False)
        rec.update(encoding_record(enc, a, b))
        n = len(rec["ids"])
        assert 128 < n <= LONG_MAX, (c["name"], n)
        longest = max(longest, n)
        inp = tok(a, b, return_tensors="pt") if b is not None else tok(a, return_tensors="pt")
        with torch.no_grad():
            hs = model(**inp).last_hidden_state[0].numpy().astype(np.float32)
        mean = hs.astype(np.float64).mean(0).astype(np.float32)
        if b is None:
            emb = st.encode(a, convert_to_numpy=True)
            assert np.allclose(emb, mean, rtol=1e-4, atol=1e-5), c["name"]
            rec["embedding"] = floats(emb)
            rec["embedding_normalized"] = floats(st.encode(a, convert_to_numpy=True, normalize_embeddings=True))
        rec["embedding_mean"] = floats(mean)
        rec["embedding_cls"] = floats(hs[0])
        key = f"case_{i}"
        hidden[key] = np.ascontiguousarray(hs)
        rec["hidden"] = key
        cases.append(rec)
    assert longest > 400, longest
    doc = dict(generator=generator_info(), model=name, max_length=LONG_MAX, cases=cases)
    dump_json(os.path.join(ref_dir, name + ".json"), doc)
    safetensors.numpy.save_file(hidden, os.path.join(ref_dir, name + ".hidden.safetensors"))
    return longest


def reference_embed_limit(name, spec, out_dir, ref_dir):
    """sentence-transformers' embeddings of EMBED_LIMIT_CASES for a model
    whose max_seq_length is below the model's limit: each text cut at
    max_seq_length tokens.  Checked here against the pooled hidden states of
    that cut, and shown to differ from an embedding of the text cut at the
    model's limit (so a runtime that cuts at the wrong length fails)."""
    limit = spec["max_seq_length"]
    tok = AutoTokenizer.from_pretrained(out_dir)
    model = load_fp32("embed", out_dir)
    with no_load_warnings(name):
        st = SentenceTransformer(out_dir, device="cpu")
    assert st.max_seq_length == limit, st.max_seq_length
    assert model.config.max_position_embeddings == MAX_LEN and tok.model_max_length == MAX_LEN
    assert next(st.parameters()).dtype == torch.float32
    assert spec["pooling"] == "mean"

    def mean_pool(enc):
        with torch.no_grad():
            hs = model(**enc).last_hidden_state[0].numpy().astype(np.float64)
        mask = enc["attention_mask"][0].numpy().astype(np.float64)
        return ((hs * mask[:, None]).sum(0) / max(mask.sum(), 1e-9)).astype(np.float32)

    cases = []
    n_between = 0
    for case_name, text in EMBED_LIMIT_CASES:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            n_tokens = len(tok(text, truncation=False)["input_ids"])
        ids = st.preprocess([text])["input_ids"][0].tolist()
        assert len(ids) == min(n_tokens, limit), (case_name, n_tokens, len(ids))
        if case_name.startswith("short"):
            assert n_tokens < limit, (case_name, n_tokens)
        elif case_name == "exact_limit":
            assert n_tokens == limit, (case_name, n_tokens)
        elif case_name == "over_both_limits":
            assert n_tokens > MAX_LEN, (case_name, n_tokens)
        else:
            assert limit < n_tokens <= MAX_LEN, (case_name, n_tokens)
            n_between += 1
        emb = st.encode(text, convert_to_numpy=True)
        embn = st.encode(text, convert_to_numpy=True, normalize_embeddings=True)
        assert emb.shape == (32,) and emb.dtype == np.float32
        cut = tok(text, truncation=True, max_length=limit, return_tensors="pt")
        assert cut["input_ids"][0].tolist() == ids, case_name
        record = encoding_record(
            tok(text, truncation=True, max_length=limit, return_offsets_mapping=True, return_token_type_ids=True),
            text, None)
        assert record["ids"] == ids, case_name
        assert np.allclose(emb, mean_pool(cut), rtol=1e-4, atol=1e-5), case_name
        n = emb.astype(np.float64)
        n = n / max(np.linalg.norm(n), 1e-12)
        assert np.allclose(embn, n, rtol=1e-4, atol=1e-5), case_name
        if n_tokens > limit:
            # Cut at the model's limit instead: far from the reference.
            whole = tok(text, truncation=True, max_length=MAX_LEN, return_tensors="pt")
            assert np.abs(mean_pool(whole) - emb).max() > 1e-2, case_name
        # "truncation": cut at embed_max_length (test_tokenizer.cc cuts there).
        rec = dict(name=case_name, text=text, text_pair=None, truncation=n_tokens > limit, too_long=False,
                   n_tokens=n_tokens)
        rec.update(record)
        rec["embedding"] = floats(emb)
        rec["embedding_normalized"] = floats(embn)
        cases.append(rec)
    assert n_between >= 3
    doc = dict(generator=generator_info(), model=name, max_length=MAX_LEN, embed_max_length=limit, cases=cases)
    dump_json(os.path.join(ref_dir, name + ".json"), doc)
    return cases


def write_prompts_config(out_dir, spec):
    cfg = {"prompts": spec["prompts"], "default_prompt_name": spec["default_prompt_name"],
           "similarity_fn_name": "cosine"}
    with open(os.path.join(out_dir, "config_sentence_transformers.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")


def reference_prompts(name, spec, out_dir, ref_dir):
    """sentence-transformers' embeddings with the prompts of
    config_sentence_transformers.json (the default one, a named one, none),
    with truncate_dim, and with the tokenizer truncating on the left; the
    tokenizer's left truncation of the long cases; and tokenizers' decode of
    every case's ids (what TEI's /decode calls)."""
    tok = AutoTokenizer.from_pretrained(out_dir)
    tok_left = AutoTokenizer.from_pretrained(out_dir, truncation_side="left")
    model = load_fp32("embed", out_dir)
    # (sentence-transformers says that the default prompt applies: it is
    # there on purpose.)
    with no_load_warnings(name, allow=("Default prompt name is set to",)):
        st = SentenceTransformer(out_dir, device="cpu")
    # (sentence-transformers 6 adds an empty "document" prompt of its own.)
    assert {k: v for k, v in st.prompts.items() if v} == spec["prompts"], st.prompts
    assert st.default_prompt_name == spec["default_prompt_name"]
    assert st.max_seq_length == MAX_LEN

    def mean_pool(t, text):
        enc = t(text, truncation=True, max_length=MAX_LEN, return_tensors="pt")
        with torch.no_grad():
            hs = model(**enc).last_hidden_state[0].numpy().astype(np.float64)
        return hs.mean(0).astype(np.float32), enc["input_ids"][0].tolist()

    texts = []
    for case_name, text in PROMPT_TEXTS:
        rec = dict(name=case_name, text=text)
        emb_default = st.encode(text, convert_to_numpy=True)
        emb_passage = st.encode(text, prompt_name="passage", convert_to_numpy=True)
        emb_none = st.encode(text, prompt="", convert_to_numpy=True)
        emb_dim = st.encode(text, prompt_name="passage", truncate_dim=16, normalize_embeddings=True,
                            convert_to_numpy=True)
        st.tokenizer.truncation_side = "left"
        emb_left = st.encode(text, prompt_name="passage", convert_to_numpy=True)
        st.tokenizer.truncation_side = "right"
        # Checked against the model on prompt + text, cut as tokenizers cuts it.
        for emb, t, prompt in ((emb_default, tok, "query: "), (emb_passage, tok, "passage: "), (emb_none, tok, ""),
                               (emb_left, tok_left, "passage: ")):
            ref, _ = mean_pool(t, prompt + text)
            assert np.allclose(emb, ref, rtol=1e-4, atol=1e-5), (case_name, prompt)
        assert emb_dim.shape == (16,)
        d = emb_passage[:16].astype(np.float64)
        assert np.allclose(emb_dim, d / np.linalg.norm(d), rtol=1e-4, atol=1e-5), case_name
        _, ids_right = mean_pool(tok, "passage: " + text)
        _, ids_left = mean_pool(tok_left, "passage: " + text)
        if case_name == "long":
            assert ids_left != ids_right and len(ids_left) == MAX_LEN
            assert np.abs(emb_left - emb_passage).max() > 1e-2
        else:
            assert ids_left == ids_right
        rec.update(ids_passage=ids_right, ids_passage_left=ids_left, embedding_default=floats(emb_default),
                   embedding_passage=floats(emb_passage), embedding_none=floats(emb_none),
                   embedding_passage_dim16=floats(emb_dim), embedding_passage_left=floats(emb_left))
        texts.append(rec)
    left = []
    for c in CASES:
        if c["truncation"]:
            rec = case_header(c)
            rec.update(tokenize_case(tok_left, c))
            assert rec["ids"] != tokenize_case(tok, c)["ids"], c["name"]
            left.append(rec)
    # The common case list, tokenized (as every model's reference holds it),
    # with tokenizers' decode of each case's ids.
    decode = []
    backend = tok.backend_tokenizer
    for c in CASES:
        rec = case_header(c)
        rec.update(tokenize_case(tok, c))
        rec.update(skip_special=backend.decode(rec["ids"], skip_special_tokens=True),
                   keep_special=backend.decode(rec["ids"], skip_special_tokens=False))
        decode.append(rec)
    doc = dict(generator=generator_info(), model=name, max_length=MAX_LEN, prompts=spec["prompts"],
               default_prompt_name=spec["default_prompt_name"], texts=texts, left_truncation=left, cases=decode)
    dump_json(os.path.join(ref_dir, name + ".json"), doc)


def reference_rerank(name, spec, out_dir, ref_dir):
    """CrossEncoder.predict (sigmoid, and raw logits) and CrossEncoder.rank
    for one query and RERANK_TEXTS, checked against the model's logits."""
    from sentence_transformers import CrossEncoder
    tok = AutoTokenizer.from_pretrained(out_dir)
    model = load_fp32("cls", out_dir)
    with no_load_warnings(name):
        ce = CrossEncoder(out_dir, device="cpu")
    pairs = [(RERANK_QUERY, t) for t in RERANK_TEXTS]
    scores = ce.predict(pairs, convert_to_numpy=True)
    raw = ce.predict(pairs, activation_fn=torch.nn.Identity(), convert_to_numpy=True)
    ranked = ce.rank(RERANK_QUERY, RERANK_TEXTS)
    logits = []
    for t in RERANK_TEXTS:
        enc = tok(RERANK_QUERY, t, truncation=True, max_length=MAX_LEN, return_tensors="pt")
        with torch.no_grad():
            logits.append(float(model(**enc).logits[0, 0]))
    assert np.allclose(raw, logits, rtol=1e-5, atol=1e-6), (raw, logits)
    assert np.allclose(scores, 1 / (1 + np.exp(-np.array(logits))), rtol=1e-5, atol=1e-7)
    assert len(set(np.round(scores, 4))) == len(scores), scores  # an order to check
    cases = []
    for c in cases_for(spec):
        rec = case_header(c)
        rec.update(tokenize_case(tok, c))
        cases.append(rec)
    doc = dict(generator=generator_info(), model=name, max_length=MAX_LEN, query=RERANK_QUERY, texts=RERANK_TEXTS,
               scores=floats(scores), raw_scores=floats(raw), rank=[int(r["corpus_id"]) for r in ranked], cases=cases)
    dump_json(os.path.join(ref_dir, name + ".json"), doc)


def tokenized_cases(out_dir, spec):
    """The common case list tokenized, as every reference holds it (the
    tokenizer test reads each reference's "cases")."""
    tok = AutoTokenizer.from_pretrained(out_dir)
    out = []
    for c in cases_for(spec):
        rec = case_header(c)
        rec.update(tokenize_case(tok, c))
        out.append(rec)
    return out


def reference_fill_mask(name, spec, out_dir, ref_dir):
    """pipeline("fill-mask") on FILL_MASK_CASES, its output as it returns it."""
    # Targets outside the vocabulary make the pipeline warn (that is the case
    # under test), so warnings are not refused here.
    with no_load_warnings(name):
        pipe = pipeline("fill-mask", model=out_dir, tokenizer=out_dir, device="cpu", dtype=torch.float32)
    assert next(pipe.model.parameters()).dtype == torch.float32
    cases = []
    for c in FILL_MASK_CASES:
        if spec["arch"] in ROBERTA_FAMILY:  # RoBERTa's (XLM-R's) mask token, which takes the space before it
            c = dict(c, text=c["text"].replace("[MASK]", "<mask>"))
        out = pipe(c["text"], **c["kw"])
        rec = dict(name=c["name"], text=c["text"], top_k=c["kw"].get("top_k"), targets=c["kw"].get("targets"),
                   result=out, pipeline=json.dumps(out))
        masks = pipe.tokenizer(c["text"])["input_ids"].count(pipe.tokenizer.mask_token_id)
        assert masks >= 1, c["name"]
        rows = out if masks > 1 else [out]
        for row in rows:
            assert len({round(d["score"], 6) for d in row}) == len(row), (c["name"], row)  # an order to check
        cases.append(rec)
    doc = dict(generator=generator_info(), model=name, max_length=MAX_LEN, mask_token=pipe.tokenizer.mask_token,
               pipeline_cases=cases, cases=tokenized_cases(out_dir, spec))
    dump_json(os.path.join(ref_dir, name + ".json"), doc)


def build_splade(name, spec, vocab_tokens, subword, models_dir):
    """A masked-language model saved by sentence-transformers as a
    SparseEncoder: modules.json, 1_SpladePooling/config.json and the rest as
    SparseEncoder.save writes them (its model card left out)."""
    out_dir = os.path.join(models_dir, name)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    with tempfile.TemporaryDirectory() as base:
        write_tokenizer(spec, vocab_tokens, subword, base)
        make_model(spec, vocab_size(spec, vocab_tokens, subword), spec["seed"]).save_pretrained(base)
        strategy, activation = spec["splade"]
        with no_load_warnings(name):
            enc = SparseEncoder(modules=[Transformer(base, transformer_task="fill-mask", max_seq_length=MAX_LEN),
                                         SpladePooling(pooling_strategy=strategy, activation_function=activation)],
                                device="cpu")
        enc.save(out_dir)
    os.remove(os.path.join(out_dir, "README.md"))
    return out_dir


def reference_splade(name, spec, out_dir, ref_dir):
    """SparseEncoder.encode on each single-text case (cut at MAX_LEN, as it
    cuts), checked against the masked-language model's logits by hand, and
    a batch of them checked against the one-by-one results."""
    tok = AutoTokenizer.from_pretrained(out_dir)
    with no_load_warnings(name):
        enc = SparseEncoder(out_dir, device="cpu")
    assert enc.max_seq_length == MAX_LEN, enc.max_seq_length
    mlm = load_fp32("mlm", out_dir)
    strategy, activation = spec["splade"]
    weights = {}
    cases = []
    texts = []
    for i, c in enumerate(cases_for(spec)):
        rec = case_header(c)
        rec.update(tokenize_case(tok, c))
        if c["text_pair"] is None:
            got = enc.encode([c["text"]], convert_to_tensor=True)[0].to_dense().numpy().astype(np.float32)
            inp = tok(c["text"], truncation=True, max_length=MAX_LEN, return_tensors="pt")
            with torch.no_grad():
                x = torch.log1p(torch.relu(mlm(**inp).logits[0]))
            if activation == "log1p_relu":
                x = torch.log1p(x)
            want = (x.max(0).values if strategy == "max" else x.sum(0)).numpy()
            assert got.shape == (len(tok),) and np.allclose(got, want, rtol=1e-5, atol=1e-5), c["name"]
            assert (got > 0).sum() > 10, c["name"]
            key = f"case_{i}"
            weights[key] = np.ascontiguousarray(got)
            rec["splade"] = key
            rec["splade_ids"] = inp["input_ids"][0].tolist()
            # SparseEncoder.decode: the ten largest weights' tokens, largest first.
            rec["decode_top10"] = [[t, float(w)] for t, w in enc.decode(torch.from_numpy(got), top_k=10)]
            texts.append((key, c["text"]))
        cases.append(rec)
    batch = enc.encode([t for _, t in texts], convert_to_tensor=True, batch_size=len(texts)).to_dense().numpy()
    for (key, _), row in zip(texts, batch):
        assert np.allclose(row, weights[key], rtol=1e-5, atol=1e-5), key
    doc = dict(generator=generator_info(), model=name, max_length=MAX_LEN, pooling_strategy=strategy,
               activation_function=activation, vocab_size=len(tok), cases=cases)
    dump_json(os.path.join(ref_dir, name + ".json"), doc)
    safetensors.numpy.save_file(weights, os.path.join(ref_dir, name + ".splade.safetensors"))


def reference_zero_shot(name, spec, out_dir, ref_dir):
    """pipeline("zero-shot-classification") on ZERO_SHOT_CASES."""
    with no_load_warnings(name):
        pipe = pipeline("zero-shot-classification", model=out_dir, tokenizer=out_dir, device="cpu",
                        dtype=torch.float32)
    assert pipe.entailment_id == spec["labels"].index("entailment")
    # RoBERTa's pair takes four special tokens, and its byte-level BPE more
    # tokens for the long template's hypothesis: that one leaves no room for
    # the text, and the pipeline itself fails on it (an uncut pair longer
    # than the positions), so a RoBERTa model goes without that case.
    zs_cases = [c for c in ZERO_SHOT_CASES
                if not (spec["arch"] in ROBERTA_FAMILY and c["name"] == "long_text_long_template")]
    cases = []
    for c in zs_cases:
        out = pipe(c["text"], **c["kw"])
        rec = dict(name=c["name"], text=c["text"], candidate_labels=c["kw"]["candidate_labels"],
                   hypothesis_template=c["kw"].get("hypothesis_template"), multi_label=c["kw"].get("multi_label"),
                   result=out, pipeline=json.dumps(out))
        cases.append(rec)
    # The long cases are longer than the model takes, and their hypotheses fit.
    for c in zs_cases:
        if c["name"].startswith("long_text"):
            tpl = c["kw"].get("hypothesis_template", "This example is {}.")
            n_text = len(pipe.tokenizer(c["text"])["input_ids"])
            n_hyp = len(pipe.tokenizer(tpl.format(c["kw"]["candidate_labels"][0]))["input_ids"])
            assert n_text + n_hyp - 1 > MAX_LEN and n_hyp < MAX_LEN - 4, (c["name"], n_text, n_hyp)
    if spec["arch"] not in ROBERTA_FAMILY:  # labels only an uncased tokenizer cannot tell apart
        tie = next(c for c in cases if c["name"] == "tie")["result"]["scores"]
        assert len(set(tie)) < len(tie), tie
    doc = dict(generator=generator_info(), model=name, max_length=MAX_LEN, labels=spec["labels"],
               pipeline_cases=cases, cases=tokenized_cases(out_dir, spec))
    dump_json(os.path.join(ref_dir, name + ".json"), doc)


def reference_token_head(name, spec, out_dir, ref_dir):
    """The per-token head's logits on the common cases (the fitting ones, or
    cut where they ask for truncation): the classifier's for a token
    classifier, (start, end) for a span head, as the model computes them."""
    tok = AutoTokenizer.from_pretrained(out_dir)
    auto = AutoModelForTokenClassification if spec["kind"] == "tokcls" else AutoModelForQuestionAnswering
    with no_load_warnings(name):
        model = auto.from_pretrained(out_dir, dtype=torch.float32)
    model.eval()
    assert all(p.dtype == torch.float32 for p in model.parameters())
    cases = []
    for c in cases_for(spec):
        rec = case_header(c)
        rec.update(tokenize_case(tok, c))
        if not c["too_long"]:
            inp = model_inputs(tok, c)
            assert inp["input_ids"][0].tolist() == rec["ids"], c["name"]
            with torch.no_grad():
                out = model(**inp)
            if spec["kind"] == "tokcls":
                logits = out.logits[0]
            else:
                logits = torch.stack([out.start_logits[0], out.end_logits[0]], dim=-1)
            rec["token_logits"] = [floats(row) for row in logits]
        cases.append(rec)
    doc = dict(generator=generator_info(), model=name, max_length=MAX_LEN, head=spec["kind"],
               labels=spec.get("labels"), cases=cases)
    dump_json(os.path.join(ref_dir, name + ".json"), doc)


def reference_tokenizer(name, out_dir, ref_dir):
    tok = AutoTokenizer.from_pretrained(out_dir)
    cases = []
    for c in CASES:
        rec = case_header(c)
        rec.update(tokenize_case(tok, c))
        cases.append(rec)
    doc = dict(generator=generator_info(), model=name, max_length=MAX_LEN, cases=cases)
    dump_json(os.path.join(ref_dir, name + ".json"), doc)
    return cases


def dir_size(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    return total


def main():
    repo_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(repo_root, "tests", "fixtures"))
    ap.add_argument("--only", metavar="NAME", choices=sorted(MODEL_SPECS),
                    help="rebuild only this model and its reference; the other fixtures stay as they are")
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.manual_seed(BASE_SEED)
    np.random.seed(BASE_SEED)
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()

    models_dir = os.path.join(args.out, "models")
    ref_dir = os.path.join(args.out, "reference")
    if args.only:
        os.makedirs(models_dir, exist_ok=True)
        os.makedirs(ref_dir, exist_ok=True)
        for f in (args.only + ".json", args.only + ".hidden.safetensors", args.only + ".splade.safetensors"):
            if os.path.exists(os.path.join(ref_dir, f)):
                os.remove(os.path.join(ref_dir, f))
    else:
        shutil.rmtree(models_dir, ignore_errors=True)
        os.makedirs(models_dir)
        os.makedirs(ref_dir, exist_ok=True)
        for f in os.listdir(ref_dir):
            if f.endswith(".json") or f.endswith(".safetensors"):
                os.remove(os.path.join(ref_dir, f))

    vocab_tokens = train_vocab(repo_root)
    print(f"vocab: {len(vocab_tokens)} tokens")
    bpe = train_bpe(repo_root)
    print(f"byte-level BPE: {len(bpe[0])} tokens, {len(bpe[1])} merges")
    with tempfile.TemporaryDirectory() as bpe_dir:
        save_bpe_tokenizer(bpe, bpe_dir)
        fit_cases("roberta", AutoTokenizer.from_pretrained(bpe_dir))
    unigram = train_unigram(repo_root)
    with tempfile.TemporaryDirectory() as spm_dir:
        save_unigram_tokenizer(unigram, spm_dir)
        check_tokenizer_json(spm_dir, "xlmr")
        xlmr_tok = AutoTokenizer.from_pretrained(spm_dir)
        assert type(xlmr_tok) is XLMRobertaTokenizer, type(xlmr_tok)
        fit_cases("xlmr", xlmr_tok)
    print(f"SentencePiece Unigram: {len(xlmr_tok)} tokens")
    deberta = train_unigram(repo_root, layout="deberta")
    with tempfile.TemporaryDirectory() as spm_dir:
        save_deberta_tokenizer(deberta, spm_dir)
        check_tokenizer_json(spm_dir, "deberta")
        deberta_tok = AutoTokenizer.from_pretrained(spm_dir)
        assert type(deberta_tok) is DebertaV2Tokenizer, type(deberta_tok)
        fit_cases("deberta", deberta_tok)
    subword = {"roberta": bpe, "xlmr": unigram, "xlmr_size": len(xlmr_tok), "deberta": deberta,
               "deberta_size": len(deberta_tok)}

    summary = {}
    for name, spec in MODEL_SPECS.items():
        if args.only and name != args.only:
            continue
        if spec["kind"] in ("tokcls", "qa"):
            out_dir = os.path.join(models_dir, name)
            shutil.rmtree(out_dir, ignore_errors=True)
            os.makedirs(out_dir)
            write_tokenizer(spec, vocab_tokens, subword, out_dir)
            make_model(spec, vocab_size(spec, vocab_tokens, subword), spec["seed"]).save_pretrained(out_dir)
            reference_token_head(name, spec, out_dir, ref_dir)
            summary[name] = f"seed {spec['seed']}, {spec['kind']}"
        elif spec["kind"] in ("mlm", "nli"):
            out_dir = os.path.join(models_dir, name)
            shutil.rmtree(out_dir, ignore_errors=True)
            os.makedirs(out_dir)
            write_tokenizer(spec, vocab_tokens, subword, out_dir)
            make_model(spec, vocab_size(spec, vocab_tokens, subword), spec["seed"]).save_pretrained(out_dir)
            if spec["kind"] == "mlm":
                reference_fill_mask(name, spec, out_dir, ref_dir)
            else:
                reference_zero_shot(name, spec, out_dir, ref_dir)
            summary[name] = f"seed {spec['seed']}, {spec['kind']}"
        elif spec["kind"] == "long":
            longest = build_and_reference_long(name, spec, vocab_tokens, models_dir, ref_dir)
            summary[name] = f"seed {spec['seed']}, {len(long_cases())} texts of up to {longest} tokens"
        elif spec["kind"] == "splade":
            out_dir = build_splade(name, spec, vocab_tokens, subword, models_dir)
            reference_splade(name, spec, out_dir, ref_dir)
            summary[name] = f"seed {spec['seed']}, SPLADE {spec['splade'][0]} / {spec['splade'][1]}"
        elif spec["kind"] == "rerank":
            out_dir = os.path.join(models_dir, name)
            shutil.rmtree(out_dir, ignore_errors=True)
            os.makedirs(out_dir)
            write_tokenizer(spec, vocab_tokens, subword, out_dir)
            make_model(spec, vocab_size(spec, vocab_tokens, subword), spec["seed"]).save_pretrained(out_dir)
            reference_rerank(name, spec, out_dir, ref_dir)
            summary[name] = f"seed {spec['seed']}, cross-encoder"
        elif "prompts" in spec:
            seed = build_embedder(name, spec, vocab_tokens, subword, models_dir)
            write_prompts_config(os.path.join(models_dir, name), spec)
            reference_prompts(name, spec, os.path.join(models_dir, name), ref_dir)
            summary[name] = f"seed {seed}, pooling {spec['pooling']}, prompts {spec['prompts']}"
        elif spec["kind"] == "cls":
            seed = build_classifier(name, spec, vocab_tokens, subword, models_dir)
            cases = reference_classifier(name, spec, os.path.join(models_dir, name), ref_dir)
            seen = {}
            for c in cases:
                if "scores" in c:
                    top = spec["labels"][int(np.argmax(c["scores"]))]
                    seen[top] = seen.get(top, 0) + 1
            if len(spec["labels"]) == 2:
                assert set(seen) == set(spec["labels"]), (name, seen)
            else:
                assert len(seen) >= 2, (name, seen)
            summary[name] = f"seed {seed}, top labels {dict(sorted(seen.items()))}"
        elif "max_seq_length" in spec:
            seed = build_embedder(name, spec, vocab_tokens, subword, models_dir)
            reference_embed_limit(name, spec, os.path.join(models_dir, name), ref_dir)
            summary[name] = f"seed {seed}, pooling {spec['pooling']}, max_seq_length {spec['max_seq_length']}"
        else:
            seed = build_embedder(name, spec, vocab_tokens, subword, models_dir)
            reference_embedder(name, spec, os.path.join(models_dir, name), ref_dir)
            summary[name] = f"seed {seed}, pooling {spec['pooling']}"
    if args.only:
        for name, s in summary.items():
            print(f"  {name}: {s}")
        return

    for name, kw in TOKENIZER_SPECS.items():
        out_dir = os.path.join(models_dir, name)
        save_tokenizer(BertTokenizerFast, vocab_tokens, out_dir, **kw)
        reference_tokenizer(name, out_dir, ref_dir)
        summary[name] = "tokenizer only " + json.dumps(kw)

    # vocab.txt-only (tiny-distilbert-sst) and tokenizer.json (tiny-bert-sst)
    # must tokenize identically: same vocabulary, same settings.
    tok_fields = ("ids", "tokens", "offsets", "sequence_ids", "type_ids")
    a = json.load(open(os.path.join(ref_dir, "tiny-bert-sst.json"), encoding="utf-8"))["cases"]
    b = json.load(open(os.path.join(ref_dir, "tiny-distilbert-sst.json"), encoding="utf-8"))["cases"]
    for ca, cb in zip(a, b):
        assert all(ca[k] == cb[k] for k in tok_fields), ca["name"]

    # ---- summary
    print(f"cases: {len(CASES)} ({sum(c['too_long'] for c in CASES)} too_long, "
          f"{sum(c['truncation'] for c in CASES)} truncated, "
          f"{sum(c['text_pair'] is not None for c in CASES)} pairs)")
    for name, s in summary.items():
        print(f"  {name}: {s}")
    print("files:")
    for sub in ("models", "reference"):
        base = os.path.join(args.out, sub)
        for entry in sorted(os.listdir(base)):
            p = os.path.join(base, entry)
            size = dir_size(p) if os.path.isdir(p) else os.path.getsize(p)
            print(f"  {sub}/{entry}: {size / 1024:.1f} KiB")
    print(f"total tests/fixtures: {dir_size(args.out) / 1024:.1f} KiB")


if __name__ == "__main__":
    main()

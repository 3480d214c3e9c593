#!/usr/bin/env python3
"""Measure the extended grapheme clusters of Hugging Face tokenizers 0.23.3.

    /work/peers-venv/bin/python models/measure_graphemes.py            # measure, print the C tables
    ... models/measure_graphemes.py --fixture tests/fixtures/unicode/graphemes.json
    ... models/measure_graphemes.py --check src/tokenizer/grapheme.c   # the C function, exhaustively

Needs tokenizers 0.23.3, sentencepiece (0.2) with its protobuf module, and the
`regex` module. Offline and deterministic.

tokenizers' Precompiled normalizer (SentencePiece's charsmap; XLM-R) walks
the text by extended grapheme clusters (the Rust crate unicode-segmentation,
1.13.3 in tokenizers 0.23.3) and replaces a cluster shorter than 6 bytes whole
by the map's entry for its first character (the shortest key that is a prefix
of it), dropping the rest of it; longer clusters go character by character.
So with a map that has an entry for every character, the output shows every
cluster under 6 bytes. This script builds such a map (the SentencePiece
trainer with a normalization_rule_tsv: every code point but U+0000 maps to
"Y", except U+0301 -> "Z", Y -> "Z", Z -> "Y", U+0001 -> "#" and # -> "Y";
no character of Unicode is left without an entry but U+0000 and the
surrogates), and measures:

1. Each code point's class (its Grapheme_Cluster_Break, whether it is
   Extended_Pictographic, its Indic_Conjunct_Break). The `regex` module's
   properties (Unicode 18.0) give a first guess; then a battery of probe
   strings around the code point (PROBES below: "a" + c, c + "a", c + U+0301,
   c + U+0301 U+0301, CR/LF, each Hangul jamo type before and after c, emoji
   ZWJ sequences, Devanagari conjuncts) goes through tokenizers, and the
   class kept is one whose clusters (by the rules in segment() below) give
   exactly tokenizers' output on every probe. Where the guess fails, every
   other class is tried; a code point that no class explains stops the
   script. Where several classes explain tokenizers (say Regional_Indicator
   against Other: no cluster with an RI is ever shorter than 6 bytes but a
   lone one), the regex guess stays. The report (stderr) lists both.
2. Which form of rule GB9c tokenizers applies (Unicode 17's, a consonant
   before the linker; or 18's, the linker alone).
3. With --fixture: strings and their cluster lengths for tests/test_grapheme.cc:
   HAND, then random strings of the classes' code points, 600 whose clusters
   tokenizers' output decides alone ("observed": every other way to cut the
   string gives another output) and 200 where it does not (clusters of 6
   bytes or more hide how they would be cut inside). The lengths are
   segment()'s with the measured classes, and tokenizers' output for each
   string (offsets included) must agree, or the script stops. They are not
   the regex module's \X: that is Unicode 18.0, which tokenizers is not
   (see 1 and 2); "regex_lengths" says where \X cuts otherwise.
4. With --check FILE.c: builds FILE.c with a small driver, cuts every probe
   string of every code point with encore_grapheme_len (one batch at a time,
   as callers do: i = 0, then i += len), and compares what the Precompiled
   normalizer would make of those clusters with tokenizers' output; then the
   fixture's strings.

The C range tables go to stdout.
"""

import argparse
import collections
import ctypes
import io
import json
import os
import random
import subprocess
import sys
import tempfile

import regex
import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2
from tokenizers import PreTokenizedString, normalizers

REGEX_GCB = {"Regional_Indicator": "RI"}
OTHER = ("Other", False, "None")

# The characters the probes are made of, with what they are in every Unicode
# since 15.1 (the script checks that tokenizers agrees).
A = "\u0301"      # COMBINING ACUTE ACCENT: Extend
HL, HV, HT = "\u1100", "\u1161", "\u11A8"   # Hangul L, V, T
HLV, HLVT = "\uAC00", "\uAC01"
CP = "\u00A9"     # COPYRIGHT SIGN: Extended_Pictographic, 2 bytes
ZWJ = "\u200D"
KA, VIRAMA = "\u0915", "\u094D"   # DEVANAGARI KA (InCB=Consonant), VIRAMA (InCB=Linker)
SEP = "\u0001"    # a control: a cluster boundary on both sides, whatever is around

# (prefix, suffix) around the probed code point c, and what each shows.
PROBES = [
    ("a", ""),               # GB9, GB9a: c joins the "a" before it
    ("", "a"),               # GB9b: "a" joins c (Prepend)
    ("", A),                 # GB4: U+0301 does not join c (c of 3 bytes or less)
    ("", A + A),             # GB4: U+0301 does not join c (Control, CR, LF; any c)
    ("", "\n"),              # GB3: c is CR
    ("\r", ""),              # GB3: c is LF
    (HL, A), (HV, A), (HT, A), (HLV, A), (HLVT, A),   # GB6-8: c after each jamo type
    ("", HL + A), ("", HV + A), ("", HT + A), ("", HLV + A), ("", HLVT + A),  # and before
    (CP + ZWJ, A),           # GB11: c pictographic after a ZWJ (c of 3 bytes or less)
    (CP + ZWJ, ZWJ + CP + A),  # GB11: c pictographic inside a ZWJ sequence (any c)
    (CP, ZWJ + CP + A),      # GB11: c Extend between the pictograph and its ZWJ
    (CP, CP + A),            # GB11: c is the ZWJ
    (KA + VIRAMA, A),        # GB9c: c a consonant after a linker (3 bytes or less)
    (KA + VIRAMA, VIRAMA + KA + A),  # GB9c: c a consonant inside a conjunct (any c)
    (KA, KA + A),            # GB9c: c a linker
    (KA + VIRAMA, KA + A),   # GB9c: c InCB=Extend after the linker
    (KA, VIRAMA + KA + A),   # GB9c: c InCB=Extend before the linker
]


def code_points():
    return [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]


def utf8_len(c):
    return 1 if c < 0x80 else 2 if c < 0x800 else 3 if c < 0x10000 else 4


# ---- the probe map ----------------------------------------------------------

def rule(c):
    """The probe map's entry for code point c (None: U+0000 has none)."""
    special = {0: None, 0x301: "Z", ord("Y"): "Z", ord("Z"): "Y", 1: "#"}
    return special[c] if c in special else "Y"


def build_charsmap(workdir):
    tsv = os.path.join(workdir, "rules.tsv")
    with open(tsv, "w") as f:
        for c in code_points():
            r = rule(c)
            if r is not None:
                f.write("%X\t%X\n" % (c, ord(r)))
    corpus = os.path.join(workdir, "corpus.txt")
    with open(corpus, "w") as f:
        f.write("hello world\nthe quick brown fox\n")
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(input=corpus, model_writer=model, vocab_size=30,
                                   normalization_rule_tsv=tsv, minloglevel=2,
                                   hard_vocab_limit=False)
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(model.getvalue())
    return proto.normalizer_spec.precompiled_charsmap


# ---- the rules --------------------------------------------------------------

def segment(sigs, gb9c_18=False):
    """Cluster lengths of a string whose code points have classes sigs
    ((gcb, extended_pictographic, incb) each): UAX #29 GB3-GB13, GB9c in
    Unicode 17's form (or 18's: a linker alone before the consonant)."""
    lens = []
    i, n = 0, len(sigs)
    while i < n:
        g, ep, ic = sigs[i]
        ris = 1 if g == "RI" else 0
        pict = ep          # Extended_Pictographic Extend* ends here
        pict_zwj = False   # ... followed by a ZWJ
        conj = ic == "Consonant"  # Consonant [Extend Linker]* ends here
        linked = False     # ... with a Linker in it
        if gb9c_18:
            conj, linked = ic == "Linker", ic == "Linker"
        j = i + 1
        while j < n:
            a, b = sigs[j - 1][0], sigs[j]
            bg, bep, bic = b
            if a == "CR" and bg == "LF":
                join = True                                     # GB3
            elif a in ("Control", "CR", "LF") or bg in ("Control", "CR", "LF"):
                join = False                                    # GB4, GB5
            elif a == "L" and bg in ("L", "V", "LV", "LVT"):
                join = True                                     # GB6
            elif a in ("LV", "V") and bg in ("V", "T"):
                join = True                                     # GB7
            elif a in ("LVT", "T") and bg == "T":
                join = True                                     # GB8
            elif bg in ("Extend", "ZWJ", "SpacingMark") or a == "Prepend":
                join = True                                     # GB9, GB9a, GB9b
            elif bic == "Consonant" and conj and linked:
                join = True                                     # GB9c
            elif a == "ZWJ" and bep and pict_zwj:
                join = True                                     # GB11
            elif a == "RI" and bg == "RI" and ris % 2 == 1:
                join = True                                     # GB12, GB13
            else:
                join = False                                    # GB999
            if not join:
                break
            ris = ris + 1 if bg == "RI" else 0
            pict_zwj = bg == "ZWJ" and pict
            pict = bep or (bg == "Extend" and pict)
            if bic == "Consonant":
                conj, linked = True, False
            elif bic == "Linker" and (conj or gb9c_18):
                conj, linked = True, True
            elif not (bic == "Extend" and conj):
                conj, linked = False, False
            j += 1
        lens.append(j - i)
        i = j
    return lens


def simulate(cps, lens):
    """What the Precompiled normalizer with the probe map makes of cps cut into lens."""
    out = []
    i = 0
    for n in lens:
        g = cps[i:i + n]
        i += n
        if sum(utf8_len(c) for c in g) < 6 and rule(g[0]) is not None:
            out.append(rule(g[0]))
        else:
            out.extend(rule(c) or chr(c) for c in g)
    return "".join(out)


# ---- the regex module's classes ----------------------------------------------

def regex_classes():
    cps = code_points()
    text = "".join(map(chr, cps))

    def members(prop):
        return {ord(ch) for m in regex.finditer(r"\p{%s}+" % prop, text) for ch in m.group()}

    gcb, incb = {}, {}
    for v in ["CR", "LF", "Control", "Extend", "ZWJ", "Regional_Indicator", "Prepend",
              "SpacingMark", "L", "V", "T", "LV", "LVT"]:
        for c in members("Grapheme_Cluster_Break=" + v):
            gcb[c] = REGEX_GCB.get(v, v)
    for v in ["Linker", "Consonant", "Extend"]:
        for c in members("Indic_Conjunct_Break=" + v):
            incb[c] = v
    pict = members("Extended_Pictographic")
    return {c: (gcb.get(c, "Other"), c in pict, incb.get(c, "None")) for c in cps}


# ---- running probes through tokenizers ---------------------------------------

class Tok:
    def __init__(self, charsmap):
        self.norm = normalizers.Precompiled(charsmap)

    def outputs(self, strings):
        """normalize_str of each string (none holds U+0001), in one call:
        U+0001 is a control, a cluster boundary on both sides that resets
        every rule's state, and the only character the map makes "#"."""
        out = self.norm.normalize_str(SEP.join(strings)).split("#")
        assert len(out) == len(strings)
        for k in range(0, len(strings), 997):  # and a sample one by one
            assert out[k] == self.norm.normalize_str(strings[k]), strings[k]
        return out

    def pieces(self, s):
        """(output character, offset of the input character it comes from)."""
        pts = PreTokenizedString(s)
        pts.normalize(lambda n: self.norm.normalize(n))
        pts.split(lambda i, n: [n[j:j + 1] for j in range(len(n.normalized))])
        return [(t, o[0]) for t, o, _ in pts.get_splits("original", "char")]


def simulate_pieces(cps, lens):
    out = []
    i = 0
    for n in lens:
        g = cps[i:i + n]
        if sum(utf8_len(c) for c in g) < 6 and rule(g[0]) is not None:
            out.append((rule(g[0]), i))
        else:
            out.extend((rule(c) or chr(c), i + k) for k, c in enumerate(g))
        i += n
    return out


# ---- 1. the classes ----------------------------------------------------------

def measure_classes(tok, guess, gb9c_18, report):
    # The classes UAX #29 can give a code point (InCB=Consonant is Other,
    # Linker and Extend are Extend or ZWJ, pictographs are Other).
    all_sigs = sorted(C_CLASS) + [OTHER, ("LV", False, "None"), ("LVT", False, "None")]
    const = {ord(ch): guess[ord(ch)] for p in PROBES for ch in p[0] + p[1]}
    cache = {}

    def expected(c, sig):
        key = (sig, utf8_len(c), rule(c))
        if key not in cache:
            row = []
            for pre, suf in PROBES:
                cps = [ord(x) for x in pre] + [c] + [ord(x) for x in suf]
                sigs = [const[x] for x in cps[:len(pre)]] + [sig] + [const[x] for x in cps[len(pre) + 1:]]
                row.append(simulate(cps, segment(sigs, gb9c_18)))
            cache[key] = tuple(row)
        return cache[key]

    measured = {}
    alike = collections.defaultdict(list)  # classes the probes cannot tell apart
    agree = 0
    disagree = []
    cps = code_points()
    chunk = 20000
    for start in range(0, len(cps), chunk):
        part = cps[start:start + chunk]
        batch = [c for c in part if c != 1]
        strings = [pre + chr(c) + suf for c in batch for pre, suf in PROBES]
        outs = tok.outputs(strings)
        got = {c: tuple(outs[k * len(PROBES):(k + 1) * len(PROBES)]) for k, c in enumerate(batch)}
        if 1 in part:  # U+0001 is the separator: alone
            got[1] = tuple(tok.norm.normalize_str(pre + "\x01" + suf) for pre, suf in PROBES)
        for c in part:
            fits = [s for s in all_sigs if expected(c, s) == got[c]]
            if not fits:
                sys.exit("U+%04X: no class explains tokenizers' %r" % (c, got[c]))
            if guess[c] in fits:
                measured[c] = guess[c]
                agree += 1
            else:
                # The nearest to the guess: fewest fields changed, then Other.
                fits.sort(key=lambda s: (sum(x != y for x, y in zip(s, guess[c])), s != OTHER))
                measured[c] = fits[0]
                disagree.append((c, guess[c], fits))
            if len(fits) > 1:
                alike[(measured[c], tuple(s for s in fits if s != measured[c]))].append(c)
    for ch, sig in const.items():
        if measured[ch] != sig:
            sys.exit("a probe character changed class: U+%04X %r -> %r" % (ch, sig, measured[ch]))
    report.append("code points measured: %d (all but the surrogates), %d probes each" %
                  (len(cps), len(PROBES)))
    report.append("the regex module (Unicode 18.0) agrees on %d; tokenizers differs on %d" %
                  (agree, len(disagree)))
    for (sig, others), cs in sorted(alike.items(), key=lambda kv: kv[1][0]):
        report.append("  probes cannot tell %s from %s: %s" % (
            fmt_sig(sig), " or ".join(map(fmt_sig, others)), ranges_str(cs)))
    return measured, disagree


def summarize_disagreements(disagree, report):
    groups = collections.defaultdict(list)
    for c, guess, fits in disagree:
        groups[(guess, fits[0], len(fits))].append(c)
    for (guess, got, nfits), cs in sorted(groups.items(), key=lambda kv: kv[1][0]):
        report.append("  %s: regex %s, tokenizers %s%s" % (
            ranges_str(cs), fmt_sig(guess), fmt_sig(got),
            "" if nfits == 1 else " (or %d other classes alike)" % (nfits - 1)))


def fmt_sig(sig):
    g, ep, ic = sig
    s = g
    if ep:
        s += "+ExtPict"
    if ic != "None":
        s += "+InCB=" + ic
    return s


def ranges_str(cs):
    out = []
    for lo, hi in to_ranges(sorted(cs)):
        out.append("%04X" % lo if lo == hi else "%04X..%04X" % (lo, hi))
    if len(out) > 12:
        return " ".join(out[:12]) + " ... (%d code points)" % len(cs)
    return " ".join(out)


def to_ranges(cs):
    out = []
    for c in cs:
        if out and out[-1][1] == c - 1:
            out[-1][1] = c
        else:
            out.append([c, c])
    return out


# ---- 2. GB9c's form ----------------------------------------------------------

def measure_gb9c_form(tok, guess):
    """Unicode 18 lets a linker with no consonant before it join the next
    consonant. The string: VIRAMA KA U+0301 (both forms agree on the rest)."""
    s = VIRAMA + KA + A
    cps = [ord(x) for x in s]
    sigs = [guess[c] for c in cps]
    got = tok.norm.normalize_str(s)
    forms = [f for f in (False, True) if simulate(cps, segment(sigs, f)) == got]
    if len(forms) != 1:
        sys.exit("GB9c: %r fits %d forms" % (got, len(forms)))
    return forms[0]


# ---- the C tables ------------------------------------------------------------

# The classes of grapheme.c, from a measured (gcb, pictographic, incb).
C_CLASS = {
    ("CR", False, "None"): "GCB_CR",
    ("LF", False, "None"): "GCB_LF",
    ("Control", False, "None"): "GCB_CONTROL",
    ("Extend", False, "Extend"): "GCB_EXTEND",
    ("Extend", False, "None"): "GCB_EXTEND_NOT_INCB",
    ("Extend", False, "Linker"): "GCB_EXTEND_LINKER",
    ("ZWJ", False, "Extend"): "GCB_ZWJ",
    ("RI", False, "None"): "GCB_REGIONAL_INDICATOR",
    ("Prepend", False, "None"): "GCB_PREPEND",
    ("SpacingMark", False, "None"): "GCB_SPACING_MARK",
    ("L", False, "None"): "GCB_L",
    ("V", False, "None"): "GCB_V",
    ("T", False, "None"): "GCB_T",
    ("Other", True, "None"): "GCB_PICTOGRAPHIC",
    ("Other", False, "Consonant"): "GCB_CONSONANT",
}


def hangul_syllable(c):
    return 0xAC00 <= c <= 0xD7A3


def c_tables(measured):
    """The table rows: (lo, hi, class name), Other left out, ASCII and the
    Hangul syllables (LV or LVT by arithmetic) left to the code."""
    rows = []
    for c in sorted(measured):
        sig = measured[c]
        if c < 0x80:
            want = ("CR" if c == 13 else "LF" if c == 10 else
                    "Control" if c < 0x20 or c == 0x7F else "Other", False, "None")
            if sig != want:
                sys.exit("ASCII U+%04X is %r, not what grapheme.c assumes" % (c, sig))
            continue
        if hangul_syllable(c):
            want = ("LV" if (c - 0xAC00) % 28 == 0 else "LVT", False, "None")
            if sig != want:
                sys.exit("Hangul syllable U+%04X is %r" % (c, sig))
            continue
        if sig == OTHER:
            continue
        if sig not in C_CLASS:
            sys.exit("U+%04X: class %r has no C class" % (c, sig))
        name = C_CLASS[sig]
        if rows and rows[-1][2] == name and rows[-1][1] == c - 1:
            rows[-1][1] = c
        else:
            rows.append([c, c, name])
    return rows


def print_tables(rows):
    print("static const grapheme_range GRAPHEME_CLASSES[] = {")
    line = "   "
    for lo, hi, name in rows:
        item = " {0x%X, 0x%X, %s}," % (lo, hi, name)
        if len(line) + len(item) > 100:
            print(line)
            line = "   "
        line += item
    print(line)
    print("};")


# ---- 3. the fixture ----------------------------------------------------------

# Strings of the kinds the rules are about, written out.
HAND = [
    "a\r\nb", "\r\r\n\n", "\n\r", "a\u0301\u0302b", "\u0301a", "\x01\u0301", "\u00ad\u0301",
    "e\u0301\u0323", "\u0915\u093f", "\u0915\u0903", "\u0600\u0661", "\u0600a", "\u0600\n",
    "\u0e01\u0e33", "\u1100\u1161\u11a8", "\u1100\u1100\u1161", "\uac00\u11a8", "\uac01\u11a8",
    "\uac00\u1161", "\uac01\u1161", "\u1161\u1100", "\u11a8\u1161", "\u1100\uac00\u11a8",
    "\U0001f1fa\U0001f1f8\U0001f1eb\U0001f1f7", "\U0001f1fa\U0001f1f8\U0001f1eb",
    "a\U0001f1fa\U0001f1f8\U0001f1eb\U0001f1f7\U0001f1e9", "\U0001f1fa\u0301\U0001f1f8",
    "\U0001f468\u200d\U0001f469\u200d\U0001f467", "\U0001f44d\U0001f3fd", "\U0001f44d\U0001f3fda",
    "\U0001f469\U0001f3fd\u200d\U0001f4bb", "\u2764\ufe0f\u200d\U0001f525", "\u00a9\u200d\u00a9",
    "a\u200d\u00a9", "\u00a9\u0301\u200d\u00a9", "\u00a9\u200d\u200d\u00a9", "\u00a9\u0903\u200d\u00a9",
    "\u0915\u094d\u0937", "\u0915\u094d\u200d\u0937", "\u0915\u094d\u0301\u0937",
    "\u0915\u0301\u094d\u0937", "\u0915\u094d\u094d\u0937", "\u0915\u200c\u094d\u0937",
    "\u0915\u094d\u200c\u0937", "\u0915\u0903\u094d\u0937", "\u094d\u0915", "a\u094d\u0915",
    "\u0915\u094d\u0937\u094d\u0930", "\u0995\u09cd\u09b7", "\u0915\u09cd\u0937",
    "\u0928\u092e\u0938\u094d\u0924\u0947", "\ud55c\uad6d\uc5b4", "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35",
    "caf\u0065\u0301", "\u0627\u0644\u0639\u0631\u0628\u064a\u0629", "\u0061\u200d\u0062",
    "\u200b\u0301", "\ufeff\u0301", "\U000e0001\u0301\u0301", "\U0001d173\u0301\u0301",
    "\U000110bd\u0301", "\U000110bd\u0915", "\U000110bda",
]


def pool_by_class(measured):
    """A few code points of every class and every UTF-8 length, for random strings."""
    rng = random.Random(29)
    by = collections.defaultdict(list)
    for c, sig in measured.items():
        by[(sig, utf8_len(c))].append(c)
    pool = []
    for key in sorted(by, key=lambda k: (str(k[0]), k[1])):
        cs = by[key]
        pool.extend(rng.sample(cs, min(len(cs), 3)))
    pool = [c for c in pool if c != 0]  # a C string cannot hold U+0000
    return pool


def make_fixture(tok, measured, gb9c_18, report):
    """HAND, then random strings: 600 whose clusters tokenizers' output
    decides alone, 200 that it does not (long clusters hide their insides)."""
    rng = random.Random(2923)
    pool = pool_by_class(measured)
    # Weight the probe characters: the classes meet in short runs.
    common = [ord(x) for x in "a\r\n" + A + HL + HV + HT + HLV + HLVT + CP + ZWJ + KA + VIRAMA
              + "\u0600\u0903\u200c\U0001f1e6\U0001f1e7\U0001f600\U0001f3fb\u0001"]
    want = {True: 600, False: 200}
    cases = []
    xdiff = 0
    for k in range(10 ** 6):
        if k < len(HAND):
            text = HAND[k]
        elif want[True] or want[False]:
            n = rng.randint(2, 8)
            text = "".join(chr(rng.choice(common) if rng.random() < 0.5 else rng.choice(pool))
                           for _ in range(n))
        else:
            break
        cps = [ord(x) for x in text]
        lens = segment([measured[c] for c in cps], gb9c_18)
        got = tok.pieces(text)
        if simulate_pieces(cps, lens) != got:
            sys.exit("tokenizers cuts %r otherwise: %r" % (text, got))
        # Observed: no other cut of the string gives tokenizers' output.
        alone = len(cps) <= 12 and not any(
            other != lens and simulate_pieces(cps, other) == got
            for other in (cut(len(cps), mask) for mask in range(1 << (len(cps) - 1))))
        if k >= len(HAND):
            if not want[alone]:
                continue
            want[alone] -= 1
        x = [len(m) for m in regex.findall(r"\X", text)]
        case = {"text": text, "lengths": lens, "observed": alone}
        if x != lens:
            case["regex_lengths"] = x
            xdiff += 1
        cases.append(case)
    observed = sum(case["observed"] for case in cases)
    report.append("fixture: %d strings (%d written out), %d of them cut by tokenizers' output alone; "
                  "regex \\X cuts %d otherwise" % (len(cases), len(HAND), observed, xdiff))
    return cases


def cut(n, mask):
    """Cluster lengths of a string of n code points: bit k of mask is a
    boundary after code point k."""
    lens, last = [], 0
    for k in range(n - 1):
        if mask >> k & 1:
            lens.append(k + 1 - last)
            last = k + 1
    lens.append(n - last)
    return lens


def write_fixture(path, cases, gb9c_18):
    doc = {
        "source": "models/measure_graphemes.py: tokenizers 0.23.3 (unicode-segmentation 1.13.3), "
                  "Precompiled normalizer probes",
        "about": "lengths: the string's extended grapheme clusters in code points, by UAX #29 "
                 "with the classes measured from tokenizers (GB9c in Unicode %s's form); "
                 "tokenizers' output for the string agrees, offsets included. observed: "
                 "tokenizers' output alone decides the lengths (no other cut gives it). "
                 "regex_lengths: where the regex module's \\X (Unicode 18.0) differs."
                 % ("18.0" if gb9c_18 else "17.0"),
        "cases": cases,
    }
    with open(path, "w") as f:
        f.write("{\n")
        for k in ("source", "about"):
            f.write("  %s: %s,\n" % (json.dumps(k), json.dumps(doc[k])))
        f.write('  "cases": [\n')
        for i, case in enumerate(cases):
            f.write("    " + json.dumps(case) + ("," if i + 1 < len(cases) else "") + "\n")
        f.write("  ]\n}\n")


# ---- 4. the C function -------------------------------------------------------

DRIVER = r"""
#include <stddef.h>
#include <stdint.h>
size_t encore_grapheme_len(const uint32_t *cp, size_t n, size_t i);
/* The cluster lengths of cp[0..n) into out; returns their count. */
size_t measure_cut(const uint32_t *cp, size_t n, uint32_t *out) {
    size_t k = 0;
    for (size_t i = 0; i < n; k++) {
        size_t len = encore_grapheme_len(cp, n, i);
        if (len == 0 || i + len > n) return (size_t)-1;
        out[k] = (uint32_t)len;
        i += len;
    }
    return k;
}
"""


def build_c(source, workdir):
    driver = os.path.join(workdir, "driver.c")
    with open(driver, "w") as f:
        f.write(DRIVER)
    lib = os.path.join(workdir, "grapheme.so")
    include = os.path.join(os.path.dirname(os.path.abspath(source)), "..")
    subprocess.check_call(["cc", "-std=c11", "-O2", "-shared", "-fPIC", "-I", include,
                           "-o", lib, source, driver])
    so = ctypes.CDLL(lib)
    so.measure_cut.restype = ctypes.c_size_t
    return so


def c_cut(so, cps):
    arr = (ctypes.c_uint32 * max(1, len(cps)))(*cps)
    out = (ctypes.c_uint32 * max(1, len(cps)))()
    k = so.measure_cut(arr, len(cps), out)
    if k == ctypes.c_size_t(-1).value:
        sys.exit("encore_grapheme_len returned a bad length")
    return list(out[:k])


def check_c(tok, so, cases, report):
    """Every probe of every code point, cut by the C function, against tokenizers."""
    cps_all = code_points()
    total = mismatches = 0
    per_probe = collections.Counter()
    examples = []
    cache = {}
    chunk = 20000
    for start in range(0, len(cps_all), chunk):
        part = [c for c in cps_all[start:start + chunk] if c != 1]
        strings = [pre + chr(c) + suf for c in part for pre, suf in PROBES]
        outs = tok.outputs(strings)
        # One call over the whole batch, as callers use it: i = 0, i += len.
        seq = [ord(x) for x in SEP.join(strings)]
        lens = c_cut(so, seq)
        got = split_lens(seq, lens)
        for k, s in enumerate(strings):
            total += 1
            c = part[k // len(PROBES)]
            key = (k % len(PROBES), utf8_len(c), rule(c), tuple(got[k]))
            if key not in cache:
                cache[key] = simulate([ord(x) for x in s], got[k])
            if cache[key] != outs[k]:
                mismatches += 1
                per_probe[PROBES[k % len(PROBES)]] += 1
                if len(examples) < 10:
                    examples.append((s, got[k], outs[k]))
    report.append("C function: %d probe strings (every code point but U+0001 and the surrogates "
                  "in each of %d probes), %d differ from tokenizers" % (total, len(PROBES), mismatches))
    for p, n in per_probe.items():
        report.append("  probe %r: %d" % (p, n))
    for s, lens, out in examples:
        report.append("  e.g. %r cut %r, tokenizers %r" % (s, lens, out))
    bad = sum(1 for case in cases if c_cut(so, [ord(x) for x in case["text"]]) != case["lengths"])
    report.append("C function on the fixture's %d strings: %d differ" % (len(cases), bad))


def split_lens(seq, lens):
    """Per string of a SEP-joined batch, its cluster lengths (SEP is its own cluster)."""
    out, cur = [], []
    i = 0
    for n in lens:
        if n == 1 and seq[i] == 1:
            out.append(cur)
            cur = []
        else:
            cur.append(n)
        i += n
    out.append(cur)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--fixture", help="write the test strings here (tests/fixtures/unicode/graphemes.json)")
    ap.add_argument("--check", metavar="FILE.c", help="compare encore_grapheme_len of FILE.c with tokenizers")
    args = ap.parse_args()

    report = []
    with tempfile.TemporaryDirectory() as work:
        tok = Tok(build_charsmap(work))
        guess = regex_classes()
        gb9c_18 = measure_gb9c_form(tok, guess)
        report.append("GB9c: Unicode %s's form" % ("18.0" if gb9c_18 else "17.0"))
        measured, disagree = measure_classes(tok, guess, gb9c_18, report)
        summarize_disagreements(disagree, report)
        rows = c_tables(measured)
        print_tables(rows)
        report.append("C table: %d ranges" % len(rows))
        cases = []
        if args.fixture or args.check:
            cases = make_fixture(tok, measured, gb9c_18, report)
        if args.fixture:
            write_fixture(args.fixture, cases, gb9c_18)
        if args.check:
            check_c(tok, build_c(args.check, work), cases, report)
    for line in report:
        print(line, file=sys.stderr)


if __name__ == "__main__":
    main()

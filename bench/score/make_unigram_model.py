"""An XLM-RoBERTa model directory for the SentencePiece Unigram tokenizer
benchmark: a SentencePiece Unigram model trained with the sentencepiece
package itself on SST-2 train sentences (nmt_nfkc normalization, as
xlm-roberta-base's), converted to tokenizer.json by transformers'
XLMRobertaConverter as Hub checkpoints were (fairseq's <s> <pad> </s> <unk>
first, <mask> last, tokenizer_class XLMRobertaTokenizer), and a tiny random
XLMRobertaForSequenceClassification so that encore loads the directory as a
model. Nothing comes from the Hub.

    python bench/score/make_unigram_model.py OUT_DIR [--vocab-size 12000] [--data TSV]
"""
import argparse
import json
import os
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import sentencepiece as spm  # noqa: E402
import torch  # noqa: E402
from transformers import XLMRobertaConfig, XLMRobertaForSequenceClassification  # noqa: E402
from transformers.convert_slow_tokenizer import XLMRobertaConverter  # noqa: E402


class SlowFiles:
    """What XLMRobertaConverter reads off a slow tokenizer."""

    def __init__(self, model_file):
        self.vocab_file = model_file
        self.add_prefix_space = True
        self.legacy = True

    def convert_tokens_to_ids(self, token):
        return {"<s>": 0, "</s>": 2}[token]


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--vocab-size", type=int, default=12000)
    ap.add_argument("--data", default=os.path.join(root, "..", "shared", "data", "sst2", "train.tsv"))
    a = ap.parse_args()
    with open(a.data, encoding="utf-8") as f:
        next(f)
        texts = [line.split("\t")[0] for line in f]
    os.makedirs(a.out, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = os.path.join(tmp, "corpus.txt")
        with open(corpus, "w", encoding="utf-8") as f:
            f.write("\n".join(texts) + "\n")
        spm.SentencePieceTrainer.train(input=corpus, model_prefix=os.path.join(tmp, "spm"), vocab_size=a.vocab_size,
                                       model_type="unigram", normalization_rule_name="nmt_nfkc",
                                       character_coverage=1.0, num_threads=1, minloglevel=2)
        tok = XLMRobertaConverter(SlowFiles(os.path.join(tmp, "spm.model"))).converted()
    tok.save(os.path.join(a.out, "tokenizer.json"))
    n = tok.get_vocab_size()
    with open(os.path.join(a.out, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump({"tokenizer_class": "XLMRobertaTokenizer", "model_max_length": 512, "bos_token": "<s>",
                   "eos_token": "</s>", "unk_token": "<unk>", "sep_token": "</s>", "cls_token": "<s>",
                   "pad_token": "<pad>", "mask_token": "<mask>"}, f, indent=2)
    cfg = XLMRobertaConfig(vocab_size=n, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                           intermediate_size=37, max_position_embeddings=514, type_vocab_size=1, pad_token_id=1,
                           bos_token_id=0, eos_token_id=2, num_labels=2)
    torch.manual_seed(0)
    XLMRobertaForSequenceClassification(cfg).save_pretrained(a.out)
    print(f"{a.out}: {n} pieces, from {len(texts)} texts")


if __name__ == "__main__":
    main()

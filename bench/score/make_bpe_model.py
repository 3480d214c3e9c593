"""A RoBERTa model directory for the byte-level BPE tokenizer benchmark: a
tokenizer trained with Hugging Face tokenizers' BpeTrainer on SST-2 train
sentences (RoBERTa's layout: <s> <pad> </s> <unk> <mask>, ByteLevel
pre-tokenizer, RobertaProcessing, <mask> with lstrip), saved through
transformers' RobertaTokenizerFast, and a tiny random RobertaForSequenceClassification
so that encore loads the directory as a model. Nothing comes from the Hub.

    python bench/score/make_bpe_model.py OUT_DIR [--vocab-size 16000] [--data TSV]
"""
import argparse
import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers  # noqa: E402
from transformers import RobertaConfig, RobertaForSequenceClassification, RobertaTokenizerFast  # noqa: E402


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--vocab-size", type=int, default=16000)
    ap.add_argument("--data", default=os.path.join(root, "..", "shared", "data", "sst2", "train.tsv"))
    a = ap.parse_args()
    with open(a.data, encoding="utf-8") as f:
        next(f)
        texts = [line.split("\t")[0] for line in f]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=a.vocab_size, min_frequency=2,
                                  special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    model = json.loads(tok.to_str())["model"]
    vocab, merges = model["vocab"], [tuple(m) for m in model["merges"]]
    os.makedirs(a.out, exist_ok=True)
    fast = RobertaTokenizerFast(vocab=vocab, merges=merges, model_max_length=512,
                                mask_token=AddedToken("<mask>", lstrip=True, rstrip=False, special=True,
                                                      normalized=False))
    fast.save_pretrained(a.out)
    cfg = RobertaConfig(vocab_size=len(vocab), hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                        intermediate_size=37, max_position_embeddings=514, type_vocab_size=1, pad_token_id=1,
                        bos_token_id=0, eos_token_id=2, num_labels=2)
    torch.manual_seed(0)
    RobertaForSequenceClassification(cfg).save_pretrained(a.out)
    print(f"{a.out}: {len(vocab)} tokens, {len(merges)} merges, from {len(texts)} texts")


if __name__ == "__main__":
    main()

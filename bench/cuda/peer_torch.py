#!/usr/bin/env python3
"""The PyTorch peer of bench_model: the same directory that bench_model wrote
(DistilBERT-shaped, or DeBERTa-v3-base-shaped with --deberta), loaded by transformers in fp16 with attn_implementation
"sdpa", on the same GPU, timed on the same batch x length grid and on the same
mixed-length SST-2 batch (padded to its longest sentence, with an attention
mask, as a PyTorch user would run it). Also checks that PyTorch's logits on
bench_model's parity batch agree with encore's.

    python3 bench/cuda/peer_torch.py MODEL_DIR OUT.jsonl [--quick]

One JSON line per measurement to OUT.jsonl; CUDA events, median of repeats.
"""
import json
import statistics
import sys
import time

import torch
from transformers import AutoModelForSequenceClassification


def time_batch(model, ids, mask, budget_s, max_reps):
    with torch.inference_mode():
        for _ in range(3):
            model(input_ids=ids, attention_mask=mask)
        torch.cuda.synchronize()
        times = []
        begin = time.perf_counter()
        while len(times) < max_reps:
            a = torch.cuda.Event(enable_timing=True)
            b = torch.cuda.Event(enable_timing=True)
            a.record()
            model(input_ids=ids, attention_mask=mask)
            b.record()
            b.synchronize()
            times.append(a.elapsed_time(b))
            if len(times) >= 3 and time.perf_counter() - begin > budget_s:
                break
    return statistics.median(times), min(times), len(times)


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    model_dir, out_path = sys.argv[1], sys.argv[2]
    quick = "--quick" in sys.argv[3:]
    dev = torch.device("cuda")
    model = AutoModelForSequenceClassification.from_pretrained(
        model_dir, dtype=torch.float16, attn_implementation="sdpa").to(dev).eval()
    with open(f"{model_dir}/inputs.json") as f:
        inputs = json.load(f)
    out = open(out_path, "w")
    # What bench_model ran: its model, its special tokens and its grid (older
    # inputs.json files have none of them: DistilBERT's).
    model_name = inputs.get("model", "distilbert")
    cls_id, sep_id = inputs.get("cls", 2), inputs.get("sep", 3)

    def emit(case, batch, length, tokens, t):
        med, lo, reps = t
        row = {"engine": "torch", "model": model_name, "case": case, "precision": "fp16", "attn": "sdpa",
               "batch": batch, "length": length, "tokens": tokens, "ms": med, "min_ms": lo, "reps": reps,
               "seq_per_s": batch / (med * 1e-3), "tokens_per_s": tokens / (med * 1e-3),
               "torch": torch.__version__, "device": torch.cuda.get_device_name()}
        out.write(json.dumps(row) + "\n")
        out.flush()
        print(f"torch  {case:6s} fp16 B={batch:5d} L={length:4d}  {med:9.3f} ms  {row['seq_per_s']:10.0f} seq/s",
              flush=True)

    # Parity with encore on the same weights and tokens.
    ids = torch.tensor(inputs["parity_ids"], device=dev)
    with torch.inference_mode():
        logits = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits.float().cpu().flatten().tolist()
    diff = max(abs(a - b) for a, b in zip(logits, inputs["parity_logits"]))
    out.write(json.dumps({"engine": "torch", "model": model_name, "case": "parity",
                          "max_abs_logit_diff_vs_encore": diff, "torch_logits": logits[:4],
                          "encore_logits": inputs["parity_logits"][:4]}) + "\n")
    print(f"parity: max |torch - encore| logit difference on 8 x 128 = {diff:.3g}", flush=True)

    batches = [1, 64, 1024] if quick else [1, 8, 64, 256, 1024]
    lengths = [128] if quick else [32, 128, 512]
    grid = inputs.get("grid") or [[b, n] for n in lengths for b in batches]
    budget = 0.3 if quick else 1.0
    gen = torch.Generator(device="cpu").manual_seed(7)
    for batch, length in grid:
        ids = torch.randint(5, 1500, (batch, length), generator=gen).to(dev)
        ids[:, 0] = cls_id
        ids[:, -1] = sep_id
        emit("grid", batch, length, batch * length, time_batch(model, ids, torch.ones_like(ids), budget, 500))
        del ids
        torch.cuda.empty_cache()
    mixed = inputs.get("mixed_ids")
    if mixed:
        longest = max(len(m) for m in mixed)
        ids = torch.zeros((len(mixed), longest), dtype=torch.long)
        mask = torch.zeros((len(mixed), longest), dtype=torch.long)
        for i, m in enumerate(mixed):
            ids[i, :len(m)] = torch.tensor(m)
            mask[i, :len(m)] = 1
        emit("sst2", len(mixed), longest, sum(len(m) for m in mixed),
             time_batch(model, ids.to(dev), mask.to(dev), budget * 2, 200))
    out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

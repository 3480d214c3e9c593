#!/usr/bin/env bash
# DeBERTa-v3 classification: encore's pipeline("text-classification") against
# transformers' on a deberta-v3-base-shaped classifier, same directory, same
# texts; one side per process, ROUNDS rounds interleaved, for each thread
# count; writes the section "## DeBERTa-v3 classification: encore against
# transformers" of bench/RESULTS.md.
#
#   ENCORE_PY=python-with-encore  ENCORE_HF_PY=python-with-transformers \
#   bench/deberta/run.sh [THREADS (a list: 1,2)] [ROUNDS]
#
# The tokenizer is tests/fixtures/models/tiny-deberta-sst's; nothing comes
# from the Hugging Face Hub.
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
threads_list=${1:-1,2}
rounds=${2:-2}
texts=${ENCORE_BENCH_TEXTS:-../shared/data/sst2/dev.tsv}
model=build/bench-deberta/model
out=build/bench-deberta/results
hf=${ENCORE_HF_PY:?set ENCORE_HF_PY}
py=${ENCORE_PY:-python3}
[ -f "$model/config.json" ] || "$hf" bench/deberta/bench_deberta.py make --tokenizer tests/fixtures/models/tiny-deberta-sst \
    --out "$model"
. bench/st_rounds.sh
st_rounds bench/deberta/bench_deberta.py "$model" "$out" "$threads_list" "$rounds" "$texts" transformers
"$py" bench/deberta/bench_deberta.py report "$out" \
    "ENCORE_PY=... ENCORE_HF_PY=... bench/deberta/run.sh $threads_list $rounds"

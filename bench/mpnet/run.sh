#!/usr/bin/env bash
# MPNet embeddings: encore's SentenceEncoder against sentence-transformers'
# SentenceTransformer.encode on an all-mpnet-base-v2-shaped model, same
# directory, same texts; one side per process, ROUNDS rounds interleaved, for
# each thread count; writes the section "## MPNet embeddings: encore against
# sentence-transformers" of bench/RESULTS.md.
#
#   ENCORE_PY=python-with-encore  ENCORE_HF_PY=python-with-sentence-transformers \
#   bench/mpnet/run.sh [THREADS (a list: 1,2)] [ROUNDS]
#
# The vocabulary is build/models/all-minilm-l6-v2's (scripts/run.sh
# assembles it); nothing comes from the Hugging Face Hub.
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
threads_list=${1:-1,2}
rounds=${2:-2}
texts=${ENCORE_BENCH_TEXTS:-../shared/data/sst2/dev.tsv}
model=build/bench-mpnet/model
out=build/bench-mpnet/results
hf=${ENCORE_HF_PY:?set ENCORE_HF_PY}
py=${ENCORE_PY:-python3}
[ -f "$model/modules.json" ] || "$hf" bench/mpnet/bench_mpnet.py make --vocab build/models/all-minilm-l6-v2/vocab.txt \
    --out "$model"
. bench/st_rounds.sh
st_rounds bench/mpnet/bench_mpnet.py "$model" "$out" "$threads_list" "$rounds" "$texts"
"$py" bench/mpnet/bench_mpnet.py report "$out" \
    "ENCORE_PY=... ENCORE_HF_PY=... bench/mpnet/run.sh $threads_list $rounds"

#!/usr/bin/env bash
# SPLADE: encore's Session.embed_sparse against sentence-transformers'
# SparseEncoder, same model directory, same texts; one side per process,
# ROUNDS rounds interleaved, for each thread count; writes the section
# "## SPLADE: encore against sentence-transformers" of bench/RESULTS.md.
#
#   ENCORE_PY=python-with-encore  ENCORE_HF_PY=python-with-sentence-transformers \
#   bench/splade/run.sh [THREADS (a list: 1,2)] [ROUNDS]
#
# The model is made from build/models/all-minilm-l6-v2 (scripts/run.sh
# assembles it); nothing comes from the Hugging Face Hub.
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
threads_list=${1:-1,2}
rounds=${2:-2}
texts=${ENCORE_BENCH_TEXTS:-../shared/data/sst2/dev.tsv}
model=build/bench-splade/model
out=build/bench-splade/results
hf=${ENCORE_HF_PY:?set ENCORE_HF_PY}
py=${ENCORE_PY:-python3}
[ -f "$model/modules.json" ] || "$hf" bench/splade/bench_splade.py make --base build/models/all-minilm-l6-v2 --out "$model"
. bench/st_rounds.sh
st_rounds bench/splade/bench_splade.py "$model" "$out" "$threads_list" "$rounds" "$texts"
"$py" bench/splade/bench_splade.py report "$out" \
    "ENCORE_PY=... ENCORE_HF_PY=... bench/splade/run.sh $threads_list $rounds"

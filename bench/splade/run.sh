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
. bench/st_rounds.sh
st_bench splade modules.json sentence-transformers "${1:-1,2}" "${2:-2}" --base build/models/all-minilm-l6-v2

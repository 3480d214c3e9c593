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
. bench/st_rounds.sh
st_bench mpnet modules.json sentence-transformers "${1:-1,2}" "${2:-2}" --vocab build/models/all-minilm-l6-v2/vocab.txt

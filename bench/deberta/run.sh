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
. bench/st_rounds.sh
st_bench deberta config.json transformers "${1:-1,2}" "${2:-2}" --tokenizer tests/fixtures/models/tiny-deberta-sst

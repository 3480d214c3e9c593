#!/usr/bin/env bash
# encore's Python pipeline against transformers' pipeline and optimum's ORT
# pipeline, and Python's per-call overhead over the C library (see
# bench_python.py). Each variant runs in its own process, ROUNDS rounds
# interleaved; bench/python/report.py keeps each cell's best round and writes
# the section "## Python: encore.pipeline against transformers and optimum"
# of bench/RESULTS.md.
#
#   ENCORE_PY=python-with-encore  ENCORE_HF_PY=python-with-torch+transformers \
#   ENCORE_ORT_PY=python-with-optimum+onnxruntime  bench/python/run.sh [THREADS] [ROUNDS]
#
# optimum-onnx 0.1.0 (the newest) needs transformers < 4.58, so ENCORE_ORT_PY
# is a venv of its own with transformers 4.57 (the tokenizer and the exported
# graph are the same for this model). Nothing comes from the Hugging Face Hub.
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
# Sleeping OpenMP threads for every variant (encore's Python package sets it
# itself; the CLI does not), so that spinning does not decide the figures.
export OMP_WAIT_POLICY=passive
threads=${1:-2}
rounds=${2:-2}
model=${ENCORE_BENCH_MODEL:-build/models/encore-sst2-minilm}
texts=${ENCORE_BENCH_TEXTS:-../shared/data/sst2/dev.tsv}
out=build/bench-python/t$threads
mkdir -p "$out"
rm -f "$out"/*.json
for r in $(seq 1 "$rounds"); do
    for v in encore encore-session cli transformers optimum; do
        case $v in
            transformers) py=${ENCORE_HF_PY:?set ENCORE_HF_PY} ;;
            optimum) py=${ENCORE_ORT_PY:?set ENCORE_ORT_PY} ;;
            *) py=${ENCORE_PY:-python3} ;;
        esac
        OMP_NUM_THREADS=$threads "$py" bench/python/bench_python.py --variant "$v" --model "$model" \
            --texts "$texts" --threads "$threads" --json "$out/$v.$r.json"
    done
done
# Python's per-call overhead, where it shows: the same three ways on the tiny
# fixture model (hidden 32, 2 layers), whose forward pass takes microseconds.
mkdir -p "$out/overhead"
rm -f "$out"/overhead/*.json
for r in $(seq 1 "$rounds"); do
    for v in encore encore-session cli; do
        OMP_NUM_THREADS=$threads "${ENCORE_PY:-python3}" bench/python/bench_python.py --variant "$v" \
            --model tests/fixtures/models/tiny-bert-sst --texts "$texts" --threads "$threads" \
            --single-iters 3000 --batch-iters 100 --warmup 50 --json "$out/overhead/$v.$r.json"
    done
done
"${ENCORE_PY:-python3}" bench/python/report.py "$out" "$threads" \
    "ENCORE_PY=... ENCORE_HF_PY=... ENCORE_ORT_PY=... bench/python/run.sh $threads $rounds"

#!/usr/bin/env bash
# bench/serve/run.sh: requests/s and p50/p99 latency of `encore serve` and of
# a minimal Python server around transformers' pipeline on the same model, at
# concurrency 1, 8 and 64, with wrk over loopback, in one run. POST /predict
# with one SST-2 sentence per request (round-robin over the dev set).
#
#   bench/serve/run.sh [MODEL_DIR]
#
# MODEL_DIR defaults to build/models/encore-sst2-minilm when it exists, else
# the tiny fixture tests/fixtures/models/tiny-bert-sst (a smoke run: its
# numbers say nothing about a real model).
# Inputs longer than the model takes are cut on both sides (--auto-truncate,
# truncation=True).
# Environment: ENCORE (default build/encore), PYTHON (a Python with
# transformers and torch; default /work/venv-tools/hf/bin/python), DURATION
# (wrk -d, default 10s), CONCURRENCY (default "1 8 64"), ENCORE_ARGS (more
# `encore serve` options), TEXTS (a TSV whose first column is the text,
# default ../shared/data/sst2/dev.tsv).
#
# Hugging Face text-embeddings-inference itself is not in the comparison: its
# CPU build needs a Rust toolchain and crates (or its Docker image), which
# this machine cannot fetch.
set -euo pipefail
cd "$(dirname "$0")/../.."

MODEL=${1:-}
if [[ -z "$MODEL" ]]; then
  if [[ -f build/models/encore-sst2-minilm/config.json || -f build/models/encore-sst2-minilm/adapter_config.json ]]; then MODEL=build/models/encore-sst2-minilm
  else MODEL=tests/fixtures/models/tiny-bert-sst; fi
fi
ENCORE=${ENCORE:-build/encore}
PYTHON=${PYTHON:-/work/venv-tools/hf/bin/python}
DURATION=${DURATION:-10s}
CONCURRENCY=${CONCURRENCY:-1 8 64}
TEXTS=${TEXTS:-../shared/data/sst2/dev.tsv}
command -v wrk > /dev/null || { echo "run.sh: needs wrk (apt-get install wrk)" >&2; exit 2; }
[[ -x "$ENCORE" ]] || { echo "run.sh: no $ENCORE; build first (cmake --build build)" >&2; exit 2; }

WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2> /dev/null || true; done
  wait 2> /dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# One JSON body per line, from the first column of TEXTS (header skipped).
"$PYTHON" - "$TEXTS" > "$WORK/bodies.jsonl" << 'PY'
import json, sys
texts = []
try:
    with open(sys.argv[1], encoding="utf-8") as f:
        next(f)
        texts = [line.split("\t")[0].strip() for line in f if line.strip()]
except OSError:
    pass
if not texts:
    texts = ["This movie was a wonderful, heartfelt delight.", "The plot is dull and the acting is terrible.",
             "it 's a charming and often affecting journey . "]
for t in texts:
    print(json.dumps({"inputs": t}))
PY
export BODIES="$WORK/bodies.jsonl"

free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ready() {  # url, seconds
  for _ in $(seq 1 $(($2 * 10))); do
    curl -sf -o /dev/null -X POST -H 'Content-Type: application/json' -d '{"inputs": "ready?"}' "$1" && return 0
    sleep 0.1
  done
  echo "run.sh: $1 did not come up" >&2; exit 1
}

ENCORE_PORT=$(free_port)
"$ENCORE" serve --model "$MODEL" --port "$ENCORE_PORT" --auto-truncate --quiet ${ENCORE_ARGS:-} &
PIDS+=($!)
PY_PORT=$(free_port)
HF_HUB_OFFLINE=1 "$PYTHON" bench/serve/hf_server.py "$MODEL" "$PY_PORT" 2> "$WORK/hf_server.log" &
PIDS+=($!)
wait_ready "http://127.0.0.1:$ENCORE_PORT/predict" 60
wait_ready "http://127.0.0.1:$PY_PORT/predict" 300

# Both must give the same top label on the same text before anything is timed.
check='{"inputs": "This movie was a wonderful, heartfelt delight."}'
a=$(curl -s -X POST -H 'Content-Type: application/json' -d "$check" "http://127.0.0.1:$ENCORE_PORT/predict")
b=$(curl -s -X POST -H 'Content-Type: application/json' -d "$check" "http://127.0.0.1:$PY_PORT/predict")
"$PYTHON" - "$a" "$b" << 'PY'
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
top = lambda r: max(r, key=lambda p: p["score"])
ta, tb = top(a), top(b)
assert ta["label"] == tb["label"] and abs(ta["score"] - tb["score"]) < 1e-4, (a, b)
print(f"check: both say {ta['label']} {ta['score']:.6f} / {tb['score']:.6f}", file=sys.stderr)
PY

echo "# bench/serve: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# model: $MODEL; wrk -d $DURATION, POST /predict, one SST-2 sentence per request; $("$PYTHON" -c 'import torch, transformers; print(f"transformers {transformers.__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads)")')"
echo
echo "| server | concurrency | requests/s | p50 | p99 | errors |"
echo "|---|---:|---:|---:|---:|---:|"
for c in $CONCURRENCY; do
  for server in encore python; do
    port=$ENCORE_PORT; name="encore serve"
    [[ $server == python ]] && { port=$PY_PORT; name="python + transformers pipeline"; }
    threads=$((c < 2 ? c : 2))
    wrk -t"$threads" -c"$c" -d"$DURATION" --timeout 30s --latency -s bench/serve/post.lua \
      "http://127.0.0.1:$port/predict" > "$WORK/wrk.txt" 2>&1 || true
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$WORK/wrk.txt")
    p50=$(awk '$1 == "50%" {print $2}' "$WORK/wrk.txt")
    p99=$(awk '$1 == "99%" {print $2}' "$WORK/wrk.txt")
    errors=$(awk '/Non-2xx/ {n += $NF} /Socket errors/ {gsub(",", ""); n += $4 + $6 + $8 + $10} END {print n + 0}' "$WORK/wrk.txt")
    echo "| $name | $c | ${rps:-?} | ${p50:-?} | ${p99:-?} | $errors |"
  done
done

#!/usr/bin/env bash
# bench/triton/run.sh: the encore backend against Triton's Python backend
# running transformers' pipeline (model.py), in one tritonserver 2.51, same
# model, same texts, same settings (max_batch_size 32, the dynamic batcher, one
# instance each): throughput and p50/p99 latency at concurrency 1, 8 and 32
# with perf_analyzer over loopback HTTP, one SST-2 dev sentence per request.
#
#   bench/triton/run.sh [MODEL_DIR]       (default build/models/encore-sst2-minilm)
#
# Needs the release build (build/triton/backends/encore), the venv of
# integrations/triton/tests/run.sh (build/triton-venv: tritonserver and
# perf_analyzer), libb64-0d from Debian for perf_analyzer, and a Python 3.11
# site-packages with torch and transformers for the Python backend
# (TRANSFORMERS_SITE, default /work/venv-fixtures/lib/python3.11/site-packages;
# the Python backend's stub is the wheel's 3.11 one). Environment:
# CONCURRENCY (default "1 8 32"), INTERVAL_MS (perf_analyzer's window, 4000),
# TEXTS (default ../shared/data/sst2/dev.tsv), N_TEXTS (default 256).
# Writes build/triton/bench/*.csv and prints a Markdown table. Each cell is
# perf_analyzer's last 3 windows of INTERVAL_MS with its stability check off
# (--stability-percentage 1000): on a shared 2-core machine the check never
# passes, so the spread shows in p99 instead.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
MODEL=$(cd "${1:-build/models/encore-sst2-minilm}" && pwd)
CONCURRENCY=${CONCURRENCY:-1 8 32}
INTERVAL_MS=${INTERVAL_MS:-4000}
TEXTS=${TEXTS:-../shared/data/sst2/dev.tsv}
N_TEXTS=${N_TEXTS:-256}
TRANSFORMERS_SITE=${TRANSFORMERS_SITE:-/work/venv-fixtures/lib/python3.11/site-packages}
venv="$root/build/triton-venv"
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
tritonserver="$site/pytriton/tritonserver/bin/tritonserver"
[ -x "$tritonserver" ] || { echo "run.sh: no tritonserver; run integrations/triton/tests/run.sh first" >&2; exit 2; }
[ -f "$root/build/triton/backends/encore/libtriton_encore.so" ] || { echo "run.sh: build first" >&2; exit 2; }

out="$root/build/triton/bench"
rm -rf "$out"
mkdir -p "$out/backends/python" "$out/repo/encore/1" "$out/repo/python_transformers/1" "$out/libs"

# Backends: encore as built; Python from the wheel, with its 3.11 stub.
ln -s "$root/build/triton/backends/encore" "$out/backends/encore"
cp "$site/pytriton/tritonserver/backends/python/"{libtriton_python.so,triton_python_backend_utils.py} "$out/backends/python/"
# (a link: the stub finds the wheel's libraries from where it really is)
ln -s "$site/pytriton/tritonserver/python_backend_stubs/3.11/triton_python_backend_stub" "$out/backends/python/"
# The 2.51 stub's triton_python_backend_utils reads BYTES tensors wrongly under
# NumPy 2 (it crashes the stub); the venv's NumPy 1.26 goes first on its path.
mkdir -p "$out/numpy1"
ln -s "$site"/numpy "$site"/numpy.libs "$site"/numpy-1.*.dist-info "$out/numpy1/"
# perf_analyzer wants libcudart.so.12, which the wheel carries under another name.
ln -s "$(ls "$site"/nvidia_pytriton.libs/libcudart-*.so.12*)" "$out/libs/libcudart.so.12"

common='max_batch_size: 32
dynamic_batching { }
instance_group [ { kind: KIND_CPU, count: 1 } ]'
cat > "$out/repo/encore/config.pbtxt" <<EOF
backend: "encore"
$common
parameters { key: "model_directory" value: { string_value: "$MODEL" } }
EOF
cp bench/triton/model.py "$out/repo/python_transformers/1/model.py"
cat > "$out/repo/python_transformers/config.pbtxt" <<EOF
backend: "python"
$common
input [ { name: "TEXT", data_type: TYPE_STRING, dims: [ 1 ] } ]
output [ { name: "SCORES", data_type: TYPE_FP32, dims: [ 2 ] }, { name: "LABEL", data_type: TYPE_STRING, dims: [ 1 ] } ]
parameters { key: "model_directory" value: { string_value: "$MODEL" } }
EOF

# perf_analyzer's input data: the first N_TEXTS dev sentences, one per request.
"$venv/bin/python" - "$TEXTS" "$N_TEXTS" > "$out/texts.json" <<'EOF'
import json, sys
rows = [l.rstrip("\n").split("\t")[0] for l in open(sys.argv[1], encoding="utf-8")][1:int(sys.argv[2]) + 1]
print(json.dumps({"data": [{"TEXT": {"content": [t], "shape": [1]}} for t in rows]}))
EOF

read -r http grpc metrics < <("$venv/bin/python" -c '
import socket
s = [socket.socket() for _ in range(3)]
[x.bind(("127.0.0.1", 0)) for x in s]
print(*[x.getsockname()[1] for x in s])')
BENCH_PYTHON_PATH="$out/numpy1:$TRANSFORMERS_SITE" "$tritonserver" --model-repository="$out/repo" --backend-directory="$out/backends" \
    --http-address=127.0.0.1 --http-port="$http" --grpc-address=127.0.0.1 --grpc-port="$grpc" \
    --metrics-address=127.0.0.1 --metrics-port="$metrics" > "$out/server.log" 2>&1 &
server=$!
trap 'kill -TERM $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
    curl -sf "127.0.0.1:$http/v2/health/ready" > /dev/null && break
    kill -0 $server 2>/dev/null || { cat "$out/server.log" >&2; exit 1; }
    sleep 0.5
done
curl -sf "127.0.0.1:$http/v2/health/ready" > /dev/null || { tail -n 30 "$out/server.log" >&2; exit 1; }

"$venv/bin/python" bench/triton/check.py "127.0.0.1:$http" "$out/texts.json"

echo "| backend | concurrency | inferences/s | p50 | p99 |"
echo "|---|---:|---:|---:|---:|"
for c in $CONCURRENCY; do
    for model in encore python_transformers; do
        LD_LIBRARY_PATH="$out/libs" "$venv/bin/perf_analyzer" -m "$model" -u "127.0.0.1:$http" -i http \
            --input-data "$out/texts.json" --concurrency-range "$c:$c" \
            --measurement-interval "$INTERVAL_MS" --stability-percentage 1000 --max-trials 3 \
            -f "$out/$model-c$c.csv" > "$out/$model-c$c.log" 2>&1 ||
            { echo "run.sh: perf_analyzer failed for $model at $c:" >&2; tail -n 20 "$out/$model-c$c.log" >&2; exit 1; }
        "$venv/bin/python" - "$out/$model-c$c.csv" "$model" "$c" <<'EOF'
import csv, sys
row = next(csv.DictReader(open(sys.argv[1])))
ms = lambda us: f"{float(us) / 1000:.1f} ms"
print(f"| {sys.argv[2]} | {sys.argv[3]} | {float(row['Inferences/Second']):.1f} | "
      f"{ms(row['p50 latency'])} | {ms(row['p99 latency'])} |")
EOF
    done
done

#!/usr/bin/env bash
# bench/device-triton.sh: libtriton_encore.so with KIND_GPU instances inside a
# real tritonserver (2.51.0, from the nvidia-pytriton wheel) on the offline GPU
# host, after bench/device-check.sh has built the backend there:
#   1. unpacks the carried tritonserver (device-prep.sh trims the wheel to the
#      server and the libraries it loads);
#   2. writes a model repository of pairs, each model as a KIND_GPU and as a
#      KIND_CPU instance group: the fixture classifier (fp32 and fp16), the
#      fixture embedding model, and bench_model's DistilBERT-shaped directory
#      when the device check left it;
#   3. starts tritonserver on 127.0.0.1 and runs bench/device_triton.py
#      (GPU against CPU, 32 concurrent clients, metrics, unload/reload,
#      throughput);
#   4. SIGTERM: the server must exit with status 0.
# Writes $OUT/triton.md (the report) and $OUT/triton-server.log.
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
OUT=${OUT:-$PWD/device-out}
mkdir -p "$OUT"
CARRY=${ENCORE_TRITON_CARRY:-$PWD/.devtriton}
BUILD=${ENCORE_DEVICE_BUILD:-build-device}
say() { echo "[device-triton] $*"; }
# shellcheck source=bench/device-env.sh
source bench/device-env.sh

backend=$BUILD/triton/backends/encore/libtriton_encore.so
[ -f "$backend" ] || { say "no $backend: bench/device-check.sh builds it first"; exit 1; }
tt=/tmp/encore-tritonserver
if [ ! -x "$tt/pytriton/tritonserver/bin/tritonserver" ]; then
    [ -f "$CARRY/tritonserver.tar.xz" ] || { say "no $CARRY/tritonserver.tar.xz (bench/device-prep.sh)"; exit 1; }
    mkdir -p "$tt" && tar -xJf "$CARRY/tritonserver.tar.xz" -C "$tt" || exit 1
fi
tritonserver=$tt/pytriton/tritonserver/bin/tritonserver
sst2=${ENCORE_SST2_DEV:-$PWD/.devcarry/sst2-dev.tsv}
[ -f "$sst2" ] || sst2=$CARRY/sst2-dev.tsv

# ---- the model repository: every model as a GPU and a CPU instance group ------
repo=/tmp/encore-triton-repo
rm -rf "$repo"
fixtures=$root/tests/fixtures/models
model() {  # name kind dir max_batch [extra parameters...]
    local name=$1 kind=$2 dir=$3 mb=$4
    shift 4
    mkdir -p "$repo/$name/1"
    {
        echo 'backend: "encore"'
        echo "max_batch_size: $mb"
        echo 'dynamic_batching { max_queue_delay_microseconds: 2000 }'
        echo "instance_group [ { kind: $kind, count: 1 } ]"
        echo "parameters { key: \"model_directory\" value: { string_value: \"$dir\" } }"
        for p in "$@"; do echo "parameters { key: \"${p%%=*}\" value: { string_value: \"${p#*=}\" } }"; done
    } >"$repo/$name/config.pbtxt"
}
# A machine without a GPU (a dry run of this script): Triton refuses KIND_GPU
# there, so ENCORE_TRITON_GPU_KIND=KIND_MODEL asks for the device by parameter.
gpu_kind=${ENCORE_TRITON_GPU_KIND:-KIND_GPU}
gpu_extra=()
[ "$gpu_kind" = KIND_GPU ] || gpu_extra=(device=cuda)
model sst_gpu "$gpu_kind" "$fixtures/tiny-distilbert-sst" 8 precision=fp32 "${gpu_extra[@]}"
model sst_gpu16 "$gpu_kind" "$fixtures/tiny-distilbert-sst" 8 "${gpu_extra[@]}"
model sst_cpu KIND_CPU "$fixtures/tiny-distilbert-sst" 8 threads=4
model embed_gpu "$gpu_kind" "$fixtures/tiny-bert-embed" 8 precision=fp32 normalize=true "${gpu_extra[@]}"
model embed_cpu KIND_CPU "$fixtures/tiny-bert-embed" 8 threads=4 normalize=true
loads=(sst_gpu sst_gpu16 sst_cpu embed_gpu embed_cpu)
distil=/tmp/encore-bench-model
if [ -f "$distil/config.json" ]; then
    model distil_gpu "$gpu_kind" "$distil" 32 "${gpu_extra[@]}"
    model distil_cpu KIND_CPU "$distil" 32 threads=8
    loads+=(distil_gpu distil_cpu)
fi

# ---- the server -------------------------------------------------------------
read -r http grpc metrics < <(python3 - <<'EOF'
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
EOF
)
log=$OUT/triton-server.log
load_args=()
for m in "${loads[@]}"; do load_args+=(--load-model="$m"); done
"$tritonserver" --model-repository="$repo" --backend-directory="$BUILD/triton/backends" \
    --model-control-mode=explicit "${load_args[@]}" \
    --http-address=127.0.0.1 --http-port="$http" --grpc-address=127.0.0.1 --grpc-port="$grpc" \
    --allow-metrics=true --metrics-address=127.0.0.1 --metrics-port="$metrics" --metrics-interval-ms=500 \
    --exit-timeout-secs=20 >"$log" 2>&1 &
server=$!
ready=0
for _ in $(seq 1 120); do
    kill -0 "$server" 2>/dev/null || break
    if python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$http/v2/health/ready', timeout=1)" 2>/dev/null; then
        ready=1
        break
    fi
    sleep 0.5
done
if [ "$ready" != 1 ]; then
    say "tritonserver did not become ready; the end of its log:"
    tail -40 "$log"
    kill -TERM "$server" 2>/dev/null
    exit 1
fi
say "tritonserver ready with ${loads[*]}"
grep -E "encore instance|CUDA|GPU" "$log" | head -20

status=0
PYTHONUNBUFFERED=1 timeout "${ENCORE_TRITON_TIMEOUT:-150}" python3 bench/device_triton.py "$http" "$metrics" "$log" \
    "$sst2" "$OUT/triton.md" || status=1

kill -TERM "$server"
rc=0
wait "$server" || rc=$?
if [ "$rc" -ne 0 ]; then
    say "tritonserver exited with status $rc after SIGTERM"
    echo "- FAIL: tritonserver exited with status $rc after SIGTERM" >>"$OUT/triton.md"
    status=1
else
    say "tritonserver exited 0 after SIGTERM"
    echo "- tritonserver exited with status 0 after SIGTERM" >>"$OUT/triton.md"
fi
exit $status

#!/usr/bin/env bash
# Build encore's container images with podman and run them.
#   docker/test.sh            (as root, or with password-less sudo)
#
# Installs podman, runc and debootstrap when missing, writes the podman
# settings these machines need, makes the base image (docker/base.sh), builds
# docker/Dockerfile (CPU) and docker/Dockerfile.cuda, and runs each image
# with a fixture model mounted: `classify`, then `serve` on a published
# loopback port (/health, /predict against the transformers reference, the
# image's HEALTHCHECK), then SIGTERM, which must end it with status 0; then
# the Python package in the image (encore.pipeline on the same texts, against
# the same reference) and what its runtime stage must not hold (compilers,
# -dev packages, pip). The CUDA image runs the same way on the CPU fallback
# when there is no GPU, and its one-line log is checked, from the binary and
# from the Python package. The CPU image then serves with --model-id,
# pulled from docker/fake_hub.py (a stand-in for the Hub on the loopback).
# Prints the image sizes (the CPU image must stay within 300 MB) and build
# times, also written to build/containers/results.txt.
#
# Exit status: 0 passed; 77 skipped, with a "SKIPPED: <reason>" line, when
# podman cannot run here; anything else failed. Logs: build/containers/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
work=$root/build/containers

skip() {
    echo "SKIPPED: container images: $*"
    exit 77
}
say() { echo "containers: $*"; }

# ---- root, tools, settings ----------------------------------------------------
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
        exec sudo -n --preserve-env=PATH "$0" "$@"
    fi
    skip "rootful podman needs root (or password-less sudo), and this user has neither"
fi
mkdir -p "$work"
missing=()
for p in podman runc debootstrap curl; do
    command -v "$p" >/dev/null || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    command -v apt-get >/dev/null || skip "no apt-get to install ${missing[*]}"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } \
            >"$work/apt.log" 2>&1; then
        tail -5 "$work/apt.log" >&2
        skip "apt-get could not install ${missing[*]} (build/containers/apt.log)"
    fi
fi

# podman's default open-files limit cannot be set without CAP_SYS_RESOURCE,
# and crun refuses these machines' hybrid cgroups: runc with cgroupfs.
cat >"$work/containers.conf" <<'CONF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
export CONTAINERS_CONF=$work/containers.conf
# The same settings for podman run by hand, where nothing is configured yet.
[ -e /etc/containers/containers.conf ] || install -D -m 644 "$work/containers.conf" /etc/containers/containers.conf
if ! podman info >"$work/podman-info.log" 2>&1; then
    skip "podman info fails: $(grep -m1 -i error "$work/podman-info.log" || tail -1 "$work/podman-info.log")"
fi

# ---- base image ------------------------------------------------------------------
base=docker.io/library/debian:bookworm-slim
docker/base.sh "$base"
if ! podman run --rm --network none "$base" true >"$work/podman-run.log" 2>&1; then
    skip "podman cannot start a container here: $(tail -1 "$work/podman-run.log")"
fi

# ---- builds ----------------------------------------------------------------------
# pip inside the builds (scikit-build-core for the Python package's wheel, the
# CUDA toolkit's wheels) trusts what the host trusts (a proxy's CA, say)
# and uses the host's index: a pip.conf mounted for the build only.
{
    echo "[global]"
    echo "cert = /run/encore-host-ca.crt"
    index=$(python3 -m pip config get global.index-url 2>/dev/null || true)
    if [ -n "${PIP_INDEX_URL:-$index}" ]; then echo "index-url = ${PIP_INDEX_URL:-$index}"; fi
} >"$work/pip.conf"
hostca=/etc/ssl/certs/ca-certificates.crt
pipconf=()
[ -r "$hostca" ] && pipconf=(-v "$work/pip.conf:/etc/pip.conf:ro" -v "$hostca:/run/encore-host-ca.crt:ro")
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)

build() {  # build NAME DOCKERFILE TAG [podman build args]
    local name=$1 file=$2 tag=$3
    shift 3
    say "building $tag from $file (log: build/containers/build-$name.log)"
    local t0=$SECONDS
    if ! podman build --pull=never --format docker -f "$file" -t "$tag" \
            --build-arg ENCORE_REVISION="$revision" "$@" . >"$work/build-$name.log" 2>&1; then
        tail -40 "$work/build-$name.log" >&2
        echo "containers: building $tag failed" >&2
        exit 1
    fi
    echo "$name build_s $((SECONDS - t0))" >>"$work/results.txt"
    say "built $tag in $((SECONDS - t0)) s"
}
: >"$work/results.txt"
build cpu docker/Dockerfile localhost/encore:test "${pipconf[@]}"
build cuda docker/Dockerfile.cuda localhost/encore:test-cuda "${pipconf[@]}"

# ---- runs ------------------------------------------------------------------------
fixture=tests/fixtures/models/tiny-distilbert-sst
ref=tests/fixtures/reference/tiny-distilbert-sst.json
mapfile -d '' texts < <(python3 docker/check_outputs.py texts "$ref")
python3 docker/check_outputs.py request "$ref" >"$work/predict-request.json"
container=
cleanup() { [ -z "$container" ] || podman rm -f "$container" >/dev/null 2>&1 || true; }
trap cleanup EXIT

fail() {
    echo "containers: $*" >&2
    [ -z "$container" ] || podman logs "$container" 2>&1 | tail -20 >&2
    exit 1
}

check_image() {  # check_image NAME TAG LOG_REGEX (a line the server must log)
    local name=$1 tag=$2 logline=$3
    python_check "$@"
    local mount=(-v "$root/$fixture:/model:ro")

    # The image's settings: a non-root user, the serve entry point, a health check.
    local user
    user=$(podman image inspect --format '{{.Config.User}} {{.Config.Entrypoint}} {{.Config.Healthcheck.Test}}' "$tag")
    say "$name image: user, entry point, health check: $user"
    case "$user" in 1000:1000\ \[encore-entrypoint\]\ *"/health"*) ;; *) fail "$name: unexpected image settings" ;; esac
    [ "$(podman run --rm --entrypoint id "$tag" -u 2>/dev/null)" = 1000 ] || fail "$name: the container does not run as uid 1000"

    # Without a model it says what to mount, and exits 2.
    local rc=0
    podman run --rm "$tag" >"$work/$name-nomodel.log" 2>&1 || rc=$?
    [ "$rc" = 2 ] && grep -q "mount a model directory" "$work/$name-nomodel.log" ||
        fail "$name: without a model: exit $rc, $(cat "$work/$name-nomodel.log")"

    # classify with the fixture mounted at /model (the image's ENCORE_MODEL).
    podman run --rm --network none "${mount[@]}" "$tag" classify --quiet -- "${texts[@]}" \
        >"$work/$name-classify.jsonl" 2>"$work/$name-classify.log" ||
        fail "$name: classify failed: $(tail -3 "$work/$name-classify.log")"
    python3 docker/check_outputs.py classify "$ref" "$work/$name-classify.jsonl" | sed "s/^/containers: $name /"

    # serve on a published loopback port.
    local port
    port=$(free_port)
    # (serve's options pass through the entry point: one request carries every text.)
    serve_check "$name" "$port" "$logline" -p "127.0.0.1:$port:8080" "${mount[@]}" "$tag" --max-client-batch-size 64
}

# The Python package as a user runs it: python3 in the image, as its user
# (uid 1000), the fixture mounted at /model, the image's environment (the
# CUDA image's ENCORE_DEVICE=cuda). It prints one JSON line per text, which
# must match transformers' pipeline as `encore classify` does (truncation
# on, as the reference had it for its long texts, and as /predict's request
# asks), and one line on stderr saying where it ran.
py_classify='
import json, sys
import encore
pipe = encore.pipeline("text-classification", model="/model")
for result in pipe(sys.argv[1:], truncation=True):
    print(json.dumps(result))
print("encore.pipeline: device %s, has_cuda %s, version %s" % (pipe.device, encore.has_cuda, encore.__version__),
      file=sys.stderr)
'

python_check() {  # python_check NAME TAG LOG_REGEX (the CUDA image: the fallback's line)
    local name=$1 tag=$2 logline=$3 want_cuda=False
    [ "$name" = cuda ] && want_cuda=True
    podman run --rm --network none -v "$root/$fixture:/model:ro" --entrypoint python3 "$tag" \
        -c "$py_classify" "${texts[@]}" >"$work/$name-python.jsonl" 2>"$work/$name-python.log" ||
        fail "$name: the Python package failed: $(tail -5 "$work/$name-python.log")"
    python3 docker/check_outputs.py pipeline "$ref" "$work/$name-python.jsonl" | sed "s/^/containers: $name /"
    # The CPU image: a CPU build, on the CPU, silent. The CUDA image: a CUDA
    # build, on the CPU here (no GPU passed in), with exactly one log line.
    grep -qx "encore.pipeline: device cpu, has_cuda $want_cuda, version .*" "$work/$name-python.log" ||
        fail "$name: the Python package did not run on the CPU, built with has_cuda $want_cuda: $(cat "$work/$name-python.log")"
    # (The lines podman itself logs, time="..." level=..., are not the package's.)
    local lines
    lines=$(grep -v '^time=".*" level=' "$work/$name-python.log" | grep -vc "^encore.pipeline: " || true)
    if [ "$name" = cuda ]; then
        [ "$lines" = 1 ] && grep -Eq "$logline" "$work/$name-python.log" ||
            fail "$name: the Python package's fallback is not one line matching /$logline/: $(cat "$work/$name-python.log")"
    else
        [ "$lines" = 0 ] || fail "$name: the Python package logged: $(cat "$work/$name-python.log")"
    fi
    say "$name Python package: $(grep "^encore.pipeline: " "$work/$name-python.log")$(
        [ "$name" = cuda ] && echo "; log: $(grep -Em1 "$logline" "$work/$name-python.log")")"

    # The runtime stage holds no compiler, no -dev package, no pip, no pip cache.
    podman run --rm --network none --user 0 --entrypoint sh "$tag" -c '
        for c in cc gcc c++ g++ nvcc cmake pip pip3; do
            if command -v "$c"; then echo "has $c"; exit 1; fi
        done
        dev=$(dpkg-query -W -f "\${Package}\n" | grep -e "-dev$") && { echo "has $dev"; exit 1; }
        python3 -c "import pip" 2>/dev/null && { echo "has pip"; exit 1; }
        ls -d /root/.cache/pip /home/encore/.cache/pip 2>/dev/null && exit 1
        exit 0' >"$work/$name-runtime.log" 2>&1 ||
        fail "$name: the runtime stage holds build tools: $(cat "$work/$name-runtime.log")"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

serve_check() {  # serve_check NAME PORT LOG_REGEX PODMAN_RUN_ARGS... (image and its arguments last)
    local name=$1 port=$2 logline=$3 rc
    shift 3
    container=encore-test-$name-$$
    # (podman without systemd logs that it cannot time the health checks: noise here.)
    podman run -d --name "$container" "$@" >/dev/null 2>"$work/$name-run.log" ||
        fail "$name: podman run failed: $(tail -3 "$work/$name-run.log")"
    local up=0
    for _ in $(seq 120); do
        if curl -fsS "http://127.0.0.1:$port/health" >/dev/null 2>&1; then up=1; break; fi
        [ "$(podman inspect --format '{{.State.Running}}' "$container")" = true ] || break
        sleep 0.5
    done
    [ "$up" = 1 ] || fail "$name: /health did not answer on 127.0.0.1:$port"
    curl -fsS "http://127.0.0.1:$port/predict" -H 'Content-Type: application/json' \
        --data-binary "@$work/predict-request.json" >"$work/$name-predict.json" ||
        fail "$name: POST /predict failed"
    python3 docker/check_outputs.py predict "$ref" "$work/$name-predict.json" | sed "s/^/containers: $name /"
    podman healthcheck run "$container" >/dev/null || fail "$name: the image's HEALTHCHECK fails"
    say "$name /health and HEALTHCHECK answer"

    # SIGTERM: drain, exit 0.
    podman kill --signal TERM "$container" >/dev/null
    rc=$(timeout 60 podman wait "$container") || fail "$name: still running 60 s after SIGTERM"
    podman logs "$container" >"$work/$name-serve.log" 2>&1
    [ "$rc" = 0 ] || fail "$name: exit status $rc after SIGTERM"
    grep -q "SIGTERM" "$work/$name-serve.log" || fail "$name: no SIGTERM line in the server's log"
    grep -Eq "$logline" "$work/$name-serve.log" ||
        fail "$name: the server's log lacks /$logline/: $(cat "$work/$name-serve.log")"
    podman rm "$container" >/dev/null 2>&1
    container=
    say "$name serve: SIGTERM, exit 0; log: $(grep -Em1 "$logline" "$work/$name-serve.log")"
}

check_image cpu localhost/encore:test "listening on http://0\.0\.0\.0:8080"
check_image cuda localhost/encore:test-cuda "no usable CUDA device.*running on the CPU"
# On a GPU, encore dlopens libcublas.so.13: the loader must find it, and
# cuBLASLt beside it.
podman run --rm --entrypoint sh localhost/encore:test-cuda -c \
    'ldconfig -p | grep -q "libcublas\.so\.13 (" && ldconfig -p | grep -q "libcublasLt\.so\.13 (" &&
     ! ldd /usr/local/cuda/lib/libcublas.so.13 | grep "not found"' >"$work/cuda-libs.log" 2>&1 ||
    fail "cuda: the loader does not find cuBLAS and cuBLASLt: $(cat "$work/cuda-libs.log")"
say "cuda image: libcublas.so.13 and libcublasLt.so.13 resolve"

# --model-id: the entry point pulls the model (encore pull) into /data, then
# serves it. The Hub is docker/fake_hub.py serving the fixture on the host's
# loopback, which the container shares (--network host).
repo=encore-test/tiny-distilbert-sst
python3 docker/fake_hub.py "$repo" "$fixture" >"$work/hub.port" 2>"$work/hub.log" &
hub_pid=$!
trap 'cleanup; kill "$hub_pid" 2>/dev/null || true' EXIT
for _ in $(seq 50); do [ -s "$work/hub.port" ] && break; sleep 0.1; done
[ -s "$work/hub.port" ] || fail "the stand-in hub did not start: $(cat "$work/hub.log")"
port=$(free_port)
serve_check cpu-model-id "$port" "pulling $repo.*from http://127\.0\.0\.1" --network host \
    -e HF_ENDPOINT="http://127.0.0.1:$(cat "$work/hub.port")" -e PORT="$port" localhost/encore:test \
    --model-id "$repo" --host 127.0.0.1 --max-client-batch-size 64
kill "$hub_pid" 2>/dev/null || true

# ---- sizes -----------------------------------------------------------------------
for t in cpu:localhost/encore:test cuda:localhost/encore:test-cuda; do
    bytes=$(podman image inspect --format '{{.Size}}' "${t#*:}")
    echo "${t%%:*} size_mb $((bytes / 1000000))" >>"$work/results.txt"
    say "${t#*:}: $((bytes / 1000000)) MB"
done
# The CPU image's budget: 300 MB (the runtime stage holds no compiler).
cpu_mb=$(awk '$1 == "cpu" && $2 == "size_mb" {print $3}' "$work/results.txt")
[ "$cpu_mb" -le 300 ] || fail "the CPU image is $cpu_mb MB, over its 300 MB budget"
echo "containers: passed ($(date -u +%F), $(nproc) cores; build/containers/results.txt)"

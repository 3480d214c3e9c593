#!/usr/bin/env bash
# The encore backend inside a real Triton Inference Server.
#
#   integrations/triton/tests/run.sh [BUILD_DIR]      (default: build)
#
# Needs BUILD_DIR built (the encore CLI and triton/backends/encore/
# libtriton_encore.so) and the default model assembled in
# BUILD_DIR/models/encore-sst2-minilm (scripts/test.sh does both). Then:
#   1. a virtual environment BUILD_DIR/triton-venv with nvidia-pytriton 0.7.0
#      (tritonserver 2.51.0 and its libraries), tritonclient and pytest, made
#      once and kept;
#   2. a model repository BUILD_DIR/triton/test-repo: fixture classifier and
#      embedding models, the default model, and two models that must fail to
#      load;
#   3. tritonserver on 127.0.0.1 (free ports, explicit model control);
#   4. test_triton_server.py against it (results compared with the encore CLI);
#   5. SIGTERM, and the server must exit with status 0 after unloading.
# Everything stays on loopback; nothing is fetched from the Hugging Face Hub.
set -euo pipefail
cd "$(dirname "$0")/../../.."
root=$PWD
build=$(cd "${1:-build}" && pwd)
here=integrations/triton/tests

backend="$build/triton/backends/encore/libtriton_encore.so"
[ -x "$build/encore" ] || { echo "run.sh: $build/encore is missing; build first" >&2; exit 1; }
[ -f "$backend" ] || { echo "run.sh: $backend is missing; build first (ENCORE_TRITON=ON)" >&2; exit 1; }
default_model="$build/models/encore-sst2-minilm"
[ -f "$default_model/config.json" ] || [ -f "$default_model/adapter_config.json" ] || {
    echo "run.sh: the default model is missing: python3 models/default/assemble.py --out $default_model" >&2
    exit 1
}

# ---- 1. the virtual environment (cached: remade only when the pins change) ----
venv="$build/triton-venv"
pins=(nvidia-pytriton==0.7.0 "tritonclient[http,grpc]==2.51.0" pytest==9.2.0)
if [ "$(cat "$venv/.encore-pins" 2>/dev/null)" != "${pins[*]}" ]; then
    echo "run.sh: installing ${pins[*]} into $venv"
    rm -rf "$venv"
    # Debian splits venv (ensurepip) out of python3. The wheel's tritonserver
    # needs nothing else from the system: it carries its libraries.
    if ! python3 -c "import ensurepip, venv" 2>/dev/null; then
        SUDO=""
        [ "$(id -u)" -ne 0 ] && SUDO="sudo"
        $SUDO apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
    fi
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "${pins[@]}"
    echo "${pins[*]}" > "$venv/.encore-pins"
fi
site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
tritonserver="$site/pytriton/tritonserver/bin/tritonserver"
[ -x "$tritonserver" ] || { echo "run.sh: no tritonserver in $site/pytriton" >&2; exit 1; }

# ---- 2. the model repository ------------------------------------------------
repo="$build/triton/test-repo"
rm -rf "$repo"
mkdir -p "$repo"
fixtures="$root/tests/fixtures/models"
# A model as Triton users lay it out: the Hugging Face files in the version folder.
mkdir -p "$repo/sst/1" "$repo/embed/1"
cp "$fixtures/tiny-distilbert-sst/"* "$repo/sst/1/"
cp -r "$fixtures/tiny-bert-embed/"* "$repo/embed/1/"
cp "$here/models/sst.pbtxt" "$repo/sst/config.pbtxt"
cp "$here/models/embed.pbtxt" "$repo/embed/config.pbtxt"
# The others name their directory with the model_directory parameter (the
# version folder stays empty).
for m in sst_nobatch sst_cuda minilm splade splade_mlm broken bad_param splade_normalized; do
    mkdir -p "$repo/$m/1"  # Triton wants a version folder, even an empty one
    sed -e "s|@FIXTURES@|$fixtures|g" -e "s|@DEFAULT_MODEL@|$default_model|g" \
        "$here/models/$m.pbtxt" > "$repo/$m/config.pbtxt"
done

# ---- 3. the server ------------------------------------------------------------
read -r http grpc metrics < <("$venv/bin/python" - <<'EOF'
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
for s in socks:
    s.close()
EOF
)
log="$build/triton/server.log"
"$tritonserver" --model-repository="$repo" --backend-directory="$build/triton/backends" \
    --model-control-mode=explicit \
    --load-model=sst --load-model=embed --load-model=sst_nobatch --load-model=sst_cuda --load-model=minilm \
    --load-model=splade --load-model=splade_mlm \
    --http-address=127.0.0.1 --http-port="$http" --grpc-address=127.0.0.1 --grpc-port="$grpc" \
    --allow-metrics=true --metrics-address=127.0.0.1 --metrics-port="$metrics" --metrics-interval-ms=500 \
    --exit-timeout-secs=20 > "$log" 2>&1 &
server=$!
stop_server() { kill -TERM "$server" 2>/dev/null && wait "$server" 2>/dev/null || true; }
trap stop_server EXIT
ready=0
for _ in $(seq 1 120); do
    if ! kill -0 "$server" 2>/dev/null; then
        break
    fi
    if "$venv/bin/python" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$http/v2/health/ready', timeout=1)" 2>/dev/null; then
        ready=1
        break
    fi
    sleep 0.5
done
if [ "$ready" != 1 ]; then
    echo "run.sh: tritonserver did not become ready; its log:" >&2
    cat "$log" >&2
    exit 1
fi

# ---- 4. the tests -----------------------------------------------------------------
junit="$build/triton/pytest-junit.xml"
set +e
ENCORE_TRITON_HTTP="127.0.0.1:$http" ENCORE_TRITON_GRPC="127.0.0.1:$grpc" \
ENCORE_TRITON_METRICS="127.0.0.1:$metrics" ENCORE_TRITON_LOG="$log" ENCORE_TRITON_REPO="$repo" \
ENCORE_BIN="$build/encore" ENCORE_FIXTURES="$fixtures" ENCORE_DEFAULT_MODEL="$default_model" \
    "$venv/bin/python" -m pytest -q -p no:cacheprovider "$here/test_triton_server.py" --junitxml="$junit"
rc=$?
set -e
# pytest's 5 (no tests collected) is a failure like any other non-zero status;
# so is a skipped test.
if [ "$rc" -ne 0 ]; then
    echo "run.sh: pytest failed (exit status $rc); the server's log is $log" >&2
    exit 1
fi
"$venv/bin/python" - "$junit" <<'EOF'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else list(root)
tests = sum(int(s.get("tests", 0)) for s in suites)
skipped = sum(int(s.get("skipped", 0)) for s in suites)
if tests == 0 or skipped:
    sys.exit(f"run.sh: {tests} tests ran, {skipped} skipped: every test must run")
EOF

# ---- 5. a clean exit on SIGTERM -------------------------------------------------------
trap - EXIT
kill -TERM "$server"
status=0
wait "$server" || status=$?
if [ "$status" -ne 0 ]; then
    echo "run.sh: tritonserver exited with status $status after SIGTERM; its log:" >&2
    tail -n 40 "$log" >&2
    exit 1
fi
for m in sst embed minilm; do
    grep -q "successfully unloaded '$m'" "$log" || { echo "run.sh: '$m' was not unloaded at exit" >&2; exit 1; }
done
echo "run.sh: the Triton backend tests passed; tritonserver exited cleanly"

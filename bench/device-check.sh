#!/usr/bin/env bash
# bench/device-check.sh: the GPU check of the CUDA backend, in one command on
# an offline GPU host (the device tool's H200 machine), in about 8 minutes:
#   1. unpacks the carried .deb files into a local prefix (no package
#      registry there) and stubs configure-only pkg-config modules;
#   2. builds the CUDA tests and benchmarks for sm_90 (-Werror);
#   3. runs the GPU tests: the op table (every kernel against its CPU twin),
#      GPU vs CPU sessions on the fixtures, the default model on SST-2 dev
#      when carried, plus compute-sanitizer memcheck/racecheck on a subset;
#   4. runs the kernel harness (GB/s and TFLOP/s against measured ceilings),
#      the DistilBERT-shaped benchmark, and PyTorch fp16 SDPA as the peer;
#   5. writes everything under $OUT (8 files; RESULTS.md is printed last),
#      with the CPU emulation's op table (emulation.log) run alongside.
#
# Before it, here: bash bench/device-prep.sh (fills .devcarry/). Then:
#   run(command="bash bench/device-check.sh", carry=[".devcarry"], timeout_s=600)
# ENCORE_CHECK_QUICK=1 shortens the benchmark grid (about 3 minutes less).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-$PWD/device-out}
mkdir -p "$OUT"
T0=$(date +%s)
elapsed() { echo $(($(date +%s) - T0)); }
say() { echo "[device-check +$(elapsed)s] $*"; }
CARRY=${ENCORE_DEVICE_CARRY:-$PWD/.devcarry}
ROOT=/tmp/encore-devroot
BUILD=build-device
JOBS=$(nproc)
QUICK=${ENCORE_CHECK_QUICK:-0}
status=0

{
    date -u
    nvidia-smi || true
    nvcc --version | tail -2
    cmake --version | head -1
    g++ --version | head -1
    python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'
    grep -E '^(NAME|VERSION)=' /etc/os-release
    ldd --version | head -1
} >"$OUT/device.txt" 2>&1
say "device: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null)"

# ---- 1. libraries ----------------------------------------------------------------
mkdir -p "$ROOT/pc-stubs"
n_debs=0
for deb in "$CARRY"/debs/*.deb; do
    [ -f "$deb" ] || continue
    dpkg -x "$deb" "$ROOT" && n_debs=$((n_debs + 1))
done
say "unpacked $n_debs carried packages into $ROOT"
LIB=$ROOT/usr/lib/x86_64-linux-gnu
export LD_LIBRARY_PATH=$LIB:$LIB/openblas-pthread:${LD_LIBRARY_PATH:-}
export LIBRARY_PATH=$LIB:$LIB/openblas-pthread:${LIBRARY_PATH:-}
export CPATH=$ROOT/usr/include:$ROOT/usr/include/x86_64-linux-gnu:${CPATH:-}
export PKG_CONFIG_LIBDIR=$LIB/pkgconfig:$LIB/openblas-pthread/pkgconfig:$ROOT/usr/share/pkgconfig:$ROOT/pc-stubs
export PKG_CONFIG_SYSROOT_DIR=$ROOT
export PKG_CONFIG_ALLOW_SYSTEM_CFLAGS=1 PKG_CONFIG_ALLOW_SYSTEM_LIBS=1
PKGCONF=$ROOT/usr/bin/pkgconf
[ -x "$PKGCONF" ] || PKGCONF=$(command -v pkg-config || command -v pkgconf || echo pkg-config)

# ---- 2. configure and build -----------------------------------------------------------
sst2=$CARRY/sst2-dev.tsv
model=$CARRY/default-model
cmake_args=(-S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DENCORE_WERROR=ON -DENCORE_CUDA=ON
            -DCMAKE_CUDA_ARCHITECTURES=90 -DCMAKE_PREFIX_PATH="$ROOT/usr" -DPKG_CONFIG_EXECUTABLE="$PKGCONF"
            -DENCORE_SST2_DEV="$sst2" -DENCORE_DEFAULT_MODEL_DIR="$model")
: >"$OUT/build.log"
configured=0
for attempt in 1 2 3 4 5 6; do
    if cmake "${cmake_args[@]}" >>"$OUT/build.log" 2>&1; then
        configured=1
        break
    fi
    # Modules the device-check targets never link (the CLI's libcurl and
    # libcrypto, the server's libmicrohttpd...): a stub lets configure pass.
    missing=$(grep -oE "(No package '[^']+' found|Package '[^']+', required by 'virtual:world', not found)" \
        "$OUT/build.log" | grep -oE "'[^']+'" | grep -v virtual | tr -d "'" | sort -u)
    [ -n "$missing" ] || break
    for m in $missing; do
        [ -f "$ROOT/pc-stubs/$m.pc" ] && continue
        printf 'Name: %s\nDescription: configure-only stub (device check)\nVersion: 99\nLibs:\nCflags:\n' "$m" \
            >"$ROOT/pc-stubs/$m.pc"
        say "stubbed pkg-config module $m"
    done
    rm -f "$BUILD/CMakeCache.txt"
done
if [ "$configured" != 1 ]; then
    say "configure FAILED; see build.log"
    tail -30 "$OUT/build.log"
    exit 1
fi
targets=(test_batching test_cuda_ops test_cuda_e2e test_cuda_sparse bench_kernels bench_model)
if ! cmake --build "$BUILD" -j"$JOBS" --target "${targets[@]}" >>"$OUT/build.log" 2>&1; then
    say "build FAILED; see build.log"
    grep -E "error|Error" "$OUT/build.log" | head -30
    exit 1
fi
say "built ${targets[*]} for sm_90"

# The CPU emulation's op table (tests/emulation), built and run on the host's
# CPUs while the GPU works, so that the report sets the two side by side: a
# case that passes under emulation and fails on the device points at timing,
# the memory model or device math rather than at a kernel's logic.
(
    emu_args=("${cmake_args[@]}" -B "$BUILD-emu" -DENCORE_CUDA_EMULATION=ON)
    cmake "${emu_args[@]}" >"$OUT/emulation.log" 2>&1 &&
        cmake --build "$BUILD-emu" -j"$JOBS" --target test_cuda_ops >>"$OUT/emulation.log" 2>&1 &&
        timeout 240 "$BUILD-emu/tests/test_cuda_ops" --gtest_brief=1 >>"$OUT/emulation.log" 2>&1
    echo "emulation exit: $?" >>"$OUT/emulation.log"
) &
emu_pid=$!

# ---- 3. tests -----------------------------------------------------------------------
export ENCORE_SST2_DEV=$sst2 ENCORE_E2E_MODEL_DIR=$model
filter='Conversion|Batching|Workspace|WeightImage|Device|Fallback|CudaOps|CudaFixture|CudaSession|Splade'
if ctest --test-dir "$BUILD" -R "$filter" -j8 --timeout 300 --output-on-failure >"$OUT/tests.log" 2>&1; then
    say "tests passed: $(grep -E 'tests passed|tests failed' "$OUT/tests.log" | tail -1)"
else
    status=1
    say "tests FAILED: $(grep -E 'tests passed|tests failed' "$OUT/tests.log" | tail -1)"
    grep -E '^\s+[0-9]+ - ' "$OUT/tests.log" | head -20
fi
grep -E 'SST-2 dev' "$OUT/tests.log" | head -3
# Skipped GPU tests mean the GPU was not usable: say so loudly.
skipped=$(grep -c 'Skipped' "$OUT/tests.log" || true)
[ "$skipped" -gt 3 ] && say "WARNING: $skipped tests skipped (no usable GPU?)"
if command -v compute-sanitizer >/dev/null && [ "$(elapsed)" -lt 200 ]; then
    {
        echo "== compute-sanitizer memcheck: mixed-length op cases"
        timeout 150 compute-sanitizer --tool memcheck --error-exitcode 9 "$BUILD/tests/test_cuda_ops" \
            --gtest_filter='*mixed*:-*extreme*:*len512*' --gtest_brief=1
        echo "memcheck exit: $?"
        echo "== compute-sanitizer racecheck: tensor-core and SIMT attention, mixed batch"
        timeout 120 compute-sanitizer --tool racecheck --error-exitcode 9 "$BUILD/tests/test_cuda_ops" \
            --gtest_filter='*attention_tc_fp16_mixed_H12D64:*attention_simt_fp32_mixed_H4D8' --gtest_brief=1
        echo "racecheck exit: $?"
    } >>"$OUT/tests.log" 2>&1
    say "sanitizers: $(grep -E '^(memcheck|racecheck) exit' "$OUT/tests.log" | tr '\n' ' ')"
    grep -qE '^(memcheck|racecheck) exit: [^0]' "$OUT/tests.log" && status=1
fi

# ---- 4. benchmarks --------------------------------------------------------------------
quick=()
[ "$QUICK" = 1 ] && quick=(--quick)
say "kernel harness"
timeout 150 "$BUILD/bench/cuda/bench_kernels" "${quick[@]}" >"$OUT/kernels.md" 2>&1 || { status=1; say "bench_kernels failed"; }
grep -q FAIL "$OUT/kernels.md" && { status=1; say "a kernel failed its validation in the harness"; }
say "model benchmark (encore)"
bench_dir=/tmp/encore-bench-model
timeout 200 "$BUILD/bench/cuda/bench_model" "$bench_dir" "$OUT/encore.jsonl" "$sst2" "${quick[@]}" \
    || { status=1; say "bench_model failed"; }
if [ "$(elapsed)" -lt 470 ]; then
    say "model benchmark (PyTorch fp16 SDPA peer)"
    PYTHONUNBUFFERED=1 timeout $((560 - $(elapsed))) python3 bench/cuda/peer_torch.py "$bench_dir" "$OUT/torch.jsonl" \
        "${quick[@]}" || { status=1; say "peer_torch failed"; }
else
    say "no time left for the PyTorch peer"
fi

# ---- 5. report ----------------------------------------------------------------------
wait "$emu_pid" 2>/dev/null
say "emulation op table: $(grep -E '^\[  (PASSED|FAILED)  \]|emulation exit' "$OUT/emulation.log" | tr '\n' ' ')"
grep -E '^\[  FAILED  \]' "$OUT/tests.log" "$OUT/emulation.log" | sort | head -20
python3 bench/cuda/report.py "$OUT/encore.jsonl" "$OUT/torch.jsonl" "$OUT/kernels.md" >"$OUT/RESULTS.md" 2>&1
say "done in $(elapsed)s, status $status; files in $OUT: $(ls "$OUT" | tr '\n' ' ')"
cat "$OUT/RESULTS.md"
exit $status

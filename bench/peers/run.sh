#!/usr/bin/env bash
# bench/peers/run.sh: encore against its CPU peers, side by side, in one run on
# this machine, on the same model directories and the same texts, in
# interleaved rounds:
#   1. transformers pipeline("text-classification") (PyTorch, fp32),
#   2. ONNX Runtime fp32 on the graph exported with torch.onnx and fused by
#      onnxruntime.transformers' optimizer,
#   3. ONNX Runtime int8: that graph through onnxruntime.quantization's
#      quantize_dynamic (int8 weights),
#   4. encore fp32, bf16 and int8 (encore bench --texts --weights W),
#   5. GPU peers only where a GPU is present (skipped otherwise).
# Every variant first scores the SST-2 dev sentences (fp32 parity with
# transformers, int8/bf16 label agreement and accuracy). Writes the tables,
# ratios, accuracy, the command, the CPU, encore's kernel path and the
# machine's load to its section of bench/RESULTS.md and draws
# bench/cpu_latency.png and bench/cpu_throughput.png (--no-write: neither).
#
#   bench/peers/run.sh [peers.py options]     (bench/peers/run.sh --help)
#
# Environment:
#   ENCORE_PEERS_VENV       the venv to use, created when missing (default build/peers-venv)
#   ENCORE_PEERS_BASE_VENV  an existing venv that already has torch and transformers: its
#                           site-packages are reused (a .pth file), so that only ONNX Runtime
#                           and onnx are downloaded (torch alone is ~1 GB from PyPI)
#   ENCORE_BUILD            encore's build directory (default build; built when encore is missing)
#   ENCORE_CPU_ISA          portable|avx2|avx512: caps encore's CPU kernels (default: the best the
#                           CPU has); the section names the path used
#   ENCORE_CPU_INT8         portable|avx2|avx_vnni|avx512_vnni: caps int8-dynamic's dot products
#                           (avx2: as a CPU without VNNI runs them)
# Nothing is ever downloaded from the Hugging Face Hub: HF_HUB_OFFLINE=1.
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
export PIP_DISABLE_PIP_VERSION_CHECK=1

venv=${ENCORE_PEERS_VENV:-build/peers-venv}
build=${ENCORE_BUILD:-build}

if [ ! -x "$venv/bin/python" ]; then
    echo "peers: creating the venv $venv" >&2
    python3 -m venv "$venv"
fi
if [ -n "${ENCORE_PEERS_BASE_VENV:-}" ]; then
    base_site=$("$ENCORE_PEERS_BASE_VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    own_site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
    echo "$base_site" >"$own_site/encore-peers-base.pth"
fi
if ! "$venv/bin/python" -c 'import torch, transformers, onnxruntime, onnx, onnxscript, peft' 2>/dev/null; then
    echo "peers: installing bench/peers/requirements.txt into $venv (PyPI)" >&2
    "$venv/bin/python" -m pip install -q -r bench/peers/requirements.txt
fi

if [ ! -x "$build/encore" ]; then
    echo "peers: building encore in $build" >&2
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$build" -j"$(nproc)" --target encore >/dev/null
fi

ENCORE_BIN="$build/encore" exec "$venv/bin/python" bench/peers/peers.py "$@"

#!/usr/bin/env bash
# bench/device-all.sh: the whole GPU check in one device-tool call (one
# machine start): bench/device-check.sh (build, GPU tests, kernel and model
# benchmarks against PyTorch, compute-sanitizer with the time left), then
# bench/device-triton.sh (KIND_GPU instances inside tritonserver) on what the
# first built. Both write under $OUT: build.log, tests.log, kernels.md,
# encore.jsonl, torch.jsonl, RESULTS.md, triton.md, triton-server.log (the
# tool's limit is 8 files). The last lines printed are the summary.
#
# Here first: bash bench/device-prep.sh (fills .devcarry/ and .devtriton/).
# Then: run(command="bash bench/device-all.sh", carry=[".devcarry", ".devtriton"], timeout_s=600)
set -uo pipefail
cd "$(dirname "$0")/.."
export OUT=${OUT:-$PWD/device-out}
mkdir -p "$OUT"
T0=$(date +%s)
bash bench/device-check.sh 2>&1 | tee /tmp/encore-device-check.out
check=${PIPESTATUS[0]}
ENCORE_TRITON_TIMEOUT=${ENCORE_TRITON_TIMEOUT:-110} timeout 150 bash bench/device-triton.sh
triton=$?
echo
echo "==== summary ($(($(date +%s) - T0)) s)"
grep -E '^\[device-check' /tmp/encore-device-check.out
echo "device-check exit $check; device-triton exit $triton"
[ -f "$OUT/triton.md" ] && cat "$OUT/triton.md"
[ "$check" = 0 ] && [ "$triton" = 0 ]

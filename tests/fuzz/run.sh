#!/usr/bin/env bash
# Run the libFuzzer harnesses of tests/fuzz under ASan + UBSan.
#
#   tests/fuzz/run.sh SECONDS [HARNESS ...]
#
# Each harness runs SECONDS seconds (all of them when none is named), JOBS at
# a time (default 2), starting from a copy of its seed corpus
# (tests/fuzz/corpus/NAME) that grows in build-fuzz/corpus/NAME across runs.
# Logs go to build-fuzz/logs/NAME.log; an input that crashes a harness, leaks
# or times out is saved in build-fuzz/artifacts/NAME/ (add it to
# tests/fuzz/regressions/NAME/ once fixed: ctest replays it from then on).
# The summary gives each harness's executions and coverage (libFuzzer's cov:
# edges covered, ft: features) and the exit status is 1 when any harness
# found something.
#
# Needs clang (Debian's, with libFuzzer); installs it with apt-get when it is
# missing. BUILD_DIR (default build-fuzz) is where it builds.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [ $# -lt 1 ] || ! [[ $1 =~ ^[0-9]+$ ]]; then
    sed -n '2,18p' "$0" >&2
    exit 2
fi
seconds=$1
shift
all=(safetensors model_load adapter config tokenizer_files tokenize_classify serve_request score_input checkpoint
     token_classify qa splade)
harnesses=("$@")
[ ${#harnesses[@]} -eq 0 ] && harnesses=("${all[@]}")
jobs=${JOBS:-2}
build=${BUILD_DIR:-build-fuzz}

# clang, its libFuzzer runtime (libclang-rt-dev: only recommended by clang,
# so absent where recommends are not installed) and its OpenMP.
have_libfuzzer() {
    command -v clang >/dev/null && command -v clang++ >/dev/null || return 1
    local t
    t=$(mktemp -d)
    printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return 0; }\n' > "$t/f.c"
    clang -fsanitize=fuzzer,address,undefined "$t/f.c" -o "$t/f" 2>/dev/null
    local ok=$?
    rm -rf "$t"
    return $ok
}
if ! have_libfuzzer; then
    echo "fuzz: installing clang with libFuzzer" >&2
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq clang libclang-rt-dev libomp-dev >/dev/null
fi

targets=()
for h in "${harnesses[@]}"; do
    [[ " ${all[*]} " == *" $h "* ]] || { echo "fuzz: no harness '$h' (there are: ${all[*]})" >&2; exit 2; }
    targets+=("fuzz_$h")
done
cmake -S . -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DENCORE_SANITIZE=ON -DENCORE_FUZZ=ON -DENCORE_BUILD_TESTS=OFF -DENCORE_CUDA=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target "${targets[@]}" >/dev/null

dicts() {
    case $1 in
        safetensors) echo json safetensors ;;
        model_load) echo json config safetensors ;;
        adapter) echo json adapter safetensors ;;
        config) echo json config ;;
        tokenizer_files) echo json tokenizer text ;;
        tokenize_classify | token_classify) echo text ;;
        serve_request) echo json serve text ;;
        score_input) echo json score text ;;
        checkpoint) echo json checkpoint ;;
        qa) echo text ;;
        splade) echo json splade ;;
    esac
}
max_len() {
    case $1 in
        model_load) echo 16384 ;;
        tokenizer_files | adapter) echo 65536 ;;
        *) echo 8192 ;;
    esac
}

# The model runs one thread per call: the fuzzers measure encore, not OpenMP.
export OMP_NUM_THREADS=1
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_one() {
    local h=$1 corpus="$build/corpus/$1" dict="$build/dict/$1.dict" log="$build/logs/$1.log"
    mkdir -p "$corpus" "$build/dict" "$build/logs" "$build/artifacts/$h"
    cp -n tests/fuzz/corpus/"$h"/* "$corpus"/ 2>/dev/null || true
    : > "$dict"
    for d in $(dicts "$h"); do cat "tests/fuzz/dict/$d.dict" >> "$dict"; done
    local status=0
    "$build/fuzz_$h" "$corpus" -max_total_time="$seconds" -max_len="$(max_len "$h")" -dict="$dict" \
        -timeout=20 -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$build/artifacts/$h/" \
        >"$log" 2>&1 || status=$?
    echo "$status" > "$build/logs/$h.status"
}

echo "fuzz: ${harnesses[*]}: ${seconds} s each, $jobs at a time (logs in $build/logs)"
running=0
for h in "${harnesses[@]}"; do
    run_one "$h" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait -n || true
        running=$((running - 1))
    fi
done
wait

failed=0
printf '%-18s %12s %8s %8s %8s  %s\n' harness executions cov ft corpus result
for h in "${harnesses[@]}"; do
    log="$build/logs/$h.log"
    status=$(cat "$build/logs/$h.status" 2>/dev/null || echo 1)
    execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | awk '{print $2}')
    last=$(grep -E '^#[0-9]+' "$log" | tail -1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
    corp=$(sed -n 's/.* corp: \([0-9]*\).*/\1/p' <<<"$last")
    result=ok
    if [ "$status" -ne 0 ]; then
        result="FOUND SOMETHING (exit $status): $(grep -m1 -E 'ERROR|runtime error|fuzz check failed|Timeout|leak' "$log" || true)"
        failed=1
    fi
    printf '%-18s %12s %8s %8s %8s  %s\n' "$h" "${execs:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}" "$result"
done
exit $failed

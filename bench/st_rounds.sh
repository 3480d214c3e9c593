# Sourced by the benchmarks that hold encore's Python package to a
# peer in Python (bench/splade/run.sh, bench/mpnet/run.sh, bench/deberta/run.sh):
# st_rounds SCRIPT MODEL OUT THREADS_LIST ROUNDS TEXTS [PEER] runs SCRIPT's
# "run" for encore (with $ENCORE_PY) and PEER (sentence-transformers unless
# named; with $ENCORE_HF_PY), one side per process, the rounds interleaved,
# for each thread count, the results as OUT/<side>.t<threads>.r<round>.json.
st_rounds() {
    local script=$1 model=$2 out=$3 threads_list=$4 rounds=$5 texts=$6 peer=${7:-sentence-transformers}
    local r t v side
    rm -rf "$out"
    mkdir -p "$out"
    for r in $(seq 1 "$rounds"); do
        for t in ${threads_list//,/ }; do
            for v in encore "$peer"; do
                echo "round $r/$rounds: $t threads, $v" >&2
                side=${ENCORE_PY:-python3}
                [ "$v" = encore ] || side=$ENCORE_HF_PY
                OMP_NUM_THREADS=$t "$side" "$script" run --variant "$v" --model "$model" \
                    --texts "$texts" --threads "$t" --json "$out/$v.t$t.r$r.json"
            done
        done
    done
}

# st_bench NAME MARKER PEER THREADS_LIST ROUNDS MAKE_OPTION...: the whole of
# bench/NAME/run.sh, from the repository's root: makes the model with
# bench/NAME/bench_NAME.py make MAKE_OPTION... (unless build/bench-NAME/model
# holds MARKER), runs the rounds against PEER on $ENCORE_BENCH_TEXTS (SST-2
# dev by default), and writes the report. Nothing comes from the Hugging
# Face Hub.
st_bench() {
    local name=$1 marker=$2 peer=$3 threads_list=$4 rounds=$5
    shift 5
    local script=bench/$name/bench_$name.py model=build/bench-$name/model out=build/bench-$name/results
    local texts=${ENCORE_BENCH_TEXTS:-../shared/data/sst2/dev.tsv}
    : "${ENCORE_HF_PY:?set ENCORE_HF_PY}"
    export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
    [ -f "$model/$marker" ] || "$ENCORE_HF_PY" "$script" make "$@" --out "$model"
    st_rounds "$script" "$model" "$out" "$threads_list" "$rounds" "$texts" "$peer"
    "${ENCORE_PY:-python3}" "$script" report "$out" \
        "ENCORE_PY=... ENCORE_HF_PY=... bench/$name/run.sh $threads_list $rounds"
}

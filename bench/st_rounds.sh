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

#!/usr/bin/env bash
# Two encore binaries side by side on the same model and texts, in
# interleaved rounds: the CPU speed of a change measured against the commit
# before it. Prints one line per (binary, case, round) and the best of the
# rounds per case.
#   bench/layout/old_vs_new.sh OLD_ENCORE NEW_ENCORE [MODEL] [ROUNDS]
# Environment: NEW_ISA (ENCORE_CPU_ISA for the new binary only, e.g. avx2 to
# compare like with like against a binary that has no AVX-512 path), WEIGHTS
# (--weights for both, default fp32), SECONDS_PER_CELL (default 3).
set -euo pipefail
old=$1 new=$2
model=${3:-build/models/encore-sst2-minilm}
rounds=${4:-3}
texts=../shared/data/sst2/dev.tsv
declare -A best
cases=("1 1" "1 2" "64 2")
for r in $(seq 1 "$rounds"); do
    for c in "${cases[@]}"; do
        set -- $c
        batch=$1 threads=$2
        for side in old new; do
            bin=$old
            isa=
            if [ $side = new ]; then bin=$new; isa=${NEW_ISA:-}; fi
            seqs=$(ENCORE_CPU_ISA=$isa "$bin" bench --model "$model" --batch "$batch" --texts "$texts" \
                   --threads "$threads" --weights "${WEIGHTS:-fp32}" --seconds "${SECONDS_PER_CELL:-3}" --quiet --json - |
                   python3 -c 'import json,sys; print(json.load(sys.stdin)["cells"][0]["seq_per_s"])')
            echo "round $r batch $batch threads $threads $side: $seqs seq/s"
            key="$batch $threads $side"
            if [ -z "${best[$key]:-}" ] || python3 -c "import sys; sys.exit(0 if $seqs > ${best[$key]} else 1)"; then
                best[$key]=$seqs
            fi
        done
    done
done
echo "best of $rounds rounds (seq/s), new/old:"
for c in "${cases[@]}"; do
    set -- $c
    o=${best["$1 $2 old"]} n=${best["$1 $2 new"]}
    printf 'batch %2s threads %s: old %8.1f new %8.1f ratio %.3f\n' "$1" "$2" "$o" "$n" "$(python3 -c "print($n / $o)")"
done

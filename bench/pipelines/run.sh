#!/usr/bin/env bash
# encore's pipelines against transformers' per task (fill-mask, zero-shot,
# token classification, question answering), same models, same inputs; one
# side per process, ROUNDS rounds interleaved; report.py writes the section
# "## Pipelines: encore against transformers, per task" of bench/RESULTS.md.
#
#   ENCORE_PY=python-with-encore  ENCORE_HF_PY=python-with-torch+transformers \
#   [ENCORE_QA_HF_PY=python-with-transformers-4.57]  bench/pipelines/run.sh [THREADS] [ROUNDS] [TASKS]
#
# transformers 5 has no question-answering pipeline: its side runs with
# ENCORE_QA_HF_PY (transformers 4.57, models/requirements-qa.txt), and the task
# is left out without it. Nothing comes from the Hugging Face Hub.
set -euo pipefail
cd "$(dirname "$0")/../.."
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 OMP_WAIT_POLICY=passive
threads=${1:-2}
rounds=${2:-2}
tasks=${3:-fill-mask,zero-shot-classification,token-classification,question-answering}
texts=${ENCORE_BENCH_TEXTS:-../shared/data/sst2/dev.tsv}
models=build/bench-pipelines/models
out=build/bench-pipelines/t$threads
"${ENCORE_HF_PY:?set ENCORE_HF_PY}" bench/pipelines/make_models.py --base build/models/all-minilm-l6-v2 \
    --out "$models" --tasks "$tasks"
mkdir -p "$out"
rm -f "$out"/*.json
for r in $(seq 1 "$rounds"); do
    for task in ${tasks//,/ }; do
        for v in encore transformers; do
            py=${ENCORE_PY:-python3}
            if [ "$v" = transformers ]; then
                py=$ENCORE_HF_PY
                if [ "$task" = question-answering ]; then
                    py=${ENCORE_QA_HF_PY:-}
                    [ -n "$py" ] || { echo "question-answering: no ENCORE_QA_HF_PY, left out" >&2; continue; }
                fi
            fi
            echo "round $r/$rounds: $task, $v" >&2
            OMP_NUM_THREADS=$threads "$py" bench/pipelines/bench_tasks.py --task "$task" --variant "$v" \
                --model "$models/$task" --texts "$texts" --threads "$threads" --json "$out/$task.$v.$r.json"
        done
    done
done
"${ENCORE_PY:-python3}" bench/pipelines/report.py "$out" \
    "ENCORE_PY=... ENCORE_HF_PY=... ENCORE_QA_HF_PY=... bench/pipelines/run.sh $threads $rounds $tasks"

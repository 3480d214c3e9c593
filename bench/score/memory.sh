#!/usr/bin/env bash
# bench/score/memory.sh: peak RSS of `encore score` on a large synthetic JSONL
# file (SST-2 train sentences repeated, with ids), made in /tmp and removed.
#
#   bench/score/memory.sh [LINES]      LINES default 5,000,000
#
# Environment: BUILD (default build/), MODEL (default the tiny fixture
# tests/fixtures/models/tiny-bert-sst: memory, not speed, is measured), DATA,
# THREADS (model threads, default 1). Needs /usr/bin/time (apt-get install time).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
DATA=${DATA:-$ROOT/../shared/data/sst2/train.tsv}
MODEL=${MODEL:-$ROOT/tests/fixtures/models/tiny-bert-sst}
LINES=${1:-5000000}
WORK=$(mktemp -d /tmp/encore-score-memory.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
tail -n +2 "$DATA" | cut -f1 | awk -v n="$LINES" '
  { gsub(/\\/, "\\\\"); gsub(/"/, "\\\""); s[NR - 1] = $0 }
  END { for (i = 0; i < n; i++) printf "{\"id\": %d, \"text\": \"%s\"}\n", i, s[i % NR] }' > "$WORK/in.jsonl"
echo "input: $LINES lines, $(du -h "$WORK/in.jsonl" | cut -f1)" >&2
/usr/bin/time -v "$BUILD/encore" score --model "$MODEL" --input "$WORK/in.jsonl" --output "$WORK/out.jsonl" \
  --threads "${THREADS:-1}" --progress json 2> "$WORK/err" || true
grep '"event": "summary"' "$WORK/err" | tail -1
grep -E "Maximum resident|Elapsed|Exit status" "$WORK/err"
echo "output lines: $(wc -l < "$WORK/out.jsonl")"

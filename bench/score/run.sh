#!/usr/bin/env bash
# bench/score/run.sh: CPU batch scoring and tokenizer throughput, encore
# against Hugging Face, in one run on one machine, on the same model and the
# same texts (SST-2 train sentences).
#
#   bench/score/run.sh [N]       N: score the first N sentences (default: all 67,349);
#                                the tokenizer always runs on all of them
#
# Environment: BUILD (default build/), MODEL (default build/models/encore-sst2-minilm
# if assembled, else the tiny fixture tests/fixtures/models/tiny-bert-sst),
# DATA (default ../shared/data/sst2/train.tsv), PY (a Python with transformers,
# torch and tokenizers; default /work/venv-tools/hf/bin/python), BATCH_SIZE
# (the pipeline's batch_size, default 32), OUT (default bench/score/RESULTS.md).
#
# Jobs:
#   scoring    `encore score` on the TSV (all cores, then one model thread)
#              against a Python loop over transformers' pipeline with
#              batch_size (torch on all cores); labels compared.
#   tokenizer  encore_model_tokenize (bench/score/tokenize_bench.c) against the
#              Rust fast tokenizer's encode_batch, on one core and on all;
#              the ids of every text must be identical.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# The command as given, environment overrides included, for RESULTS.md.
CMD="bench/score/run.sh${1:+ $1}"
for v in PY BATCH_SIZE DATA MODEL BUILD; do
  if [ -n "${!v:-}" ]; then CMD="$v=${!v#$ROOT/} $CMD"; fi
done
BUILD=${BUILD:-$ROOT/build}
DATA=${DATA:-$ROOT/../shared/data/sst2/train.tsv}
PY=${PY:-/work/venv-tools/hf/bin/python}
BATCH_SIZE=${BATCH_SIZE:-32}
OUT=${OUT:-$ROOT/bench/score/RESULTS.md}
N=${1:-0}
if [ -z "${MODEL:-}" ]; then
  if [ -f "$BUILD/models/encore-sst2-minilm/config.json" ]; then MODEL=$BUILD/models/encore-sst2-minilm
  else MODEL=$ROOT/tests/fixtures/models/tiny-bert-sst; fi
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 TOKENIZERS_PARALLELISM=true
CORES=$(nproc)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
[ -x "$BUILD/encore" ] || { echo "no $BUILD/encore: build first (cmake --build $BUILD)" >&2; exit 2; }

# The texts: the TSV (header + N rows) for encore score, one text a line for the rest.
if [ "$N" -gt 0 ]; then head -n $((N + 1)) "$DATA" > "$WORK/train.tsv"; else cp "$DATA" "$WORK/train.tsv"; fi
tail -n +2 "$WORK/train.tsv" | cut -f1 > "$WORK/texts.txt"
tail -n +2 "$DATA" | cut -f1 > "$WORK/all_texts.txt"
TEXTS=$(wc -l < "$WORK/texts.txt")
ALL_TEXTS=$(wc -l < "$WORK/all_texts.txt")
echo "bench/score: scoring $TEXTS texts, tokenizing $ALL_TEXTS, model $MODEL, $CORES cores" >&2

json() { "$PY" -c "import json,sys; d=json.loads(sys.argv[1]); print(eval(sys.argv[2], {}, d))" "$1" "$2"; }
summary() { grep '"event": "summary"' "$1" | tail -1; }

# ---- scoring -----------------------------------------------------------------
"$BUILD/encore" score --model "$MODEL" --input "$WORK/train.tsv" --text-field sentence \
  --output "$WORK/encore.jsonl" --progress json 2> "$WORK/encore.err" || true
E_ALL=$(summary "$WORK/encore.err")
"$BUILD/encore" score --model "$MODEL" --input "$WORK/train.tsv" --text-field sentence \
  --output "$WORK/encore1.jsonl" --progress json --threads 1 2> "$WORK/encore1.err" || true
E_ONE=$(summary "$WORK/encore1.err")
echo "encore score: $(json "$E_ALL" records_per_s) records/s (all cores), $(json "$E_ONE" records_per_s) (1 model thread)" >&2
H=$("$PY" "$ROOT/bench/score/hf_pipeline.py" "$MODEL" "$WORK/texts.txt" --batch-size "$BATCH_SIZE" \
      --out "$WORK/hf.jsonl" 2> "$WORK/hf.err" | tail -1)
echo "transformers pipeline: $(json "$H" texts_per_s) texts/s" >&2
AGREE=$("$PY" - "$WORK/encore.jsonl" "$WORK/hf.jsonl" <<'EOF'
import json, sys
e = [json.loads(l) for l in open(sys.argv[1])]
h = [json.loads(l) for l in open(sys.argv[2])]
same = sum(a.get("label") == b["label"] for a, b in zip(e, h))
diff = max((abs(a["score"] - b["score"]) for a, b in zip(e, h) if a.get("label") == b["label"]), default=0)
print(f"{same} of {len(h)} labels equal, max |score difference| {diff:.2e}")
EOF
)
echo "agreement: $AGREE" >&2

# ---- tokenizer ---------------------------------------------------------------
cc -O2 -std=c11 -D_GNU_SOURCE -I"$ROOT/include" "$ROOT/bench/score/tokenize_bench.c" -L"$BUILD" -lencore \
   -Wl,-rpath,"$BUILD" -lpthread -o "$WORK/tokenize_bench"
MAXLEN=$("$WORK/tokenize_bench" "$MODEL" "$WORK/all_texts.txt" 1 --repeat 1 | "$PY" -c "import json,sys; print(json.load(sys.stdin)['max_length'])")
T_ONE=$("$WORK/tokenize_bench" "$MODEL" "$WORK/all_texts.txt" 1 --repeat 3 --ids "$WORK/encore.ids")
T_ALL=$("$WORK/tokenize_bench" "$MODEL" "$WORK/all_texts.txt" "$CORES" --repeat 3)
HT_ONE=$(RAYON_NUM_THREADS=1 "$PY" "$ROOT/bench/score/hf_tokenize.py" "$MODEL" "$WORK/all_texts.txt" "$MAXLEN" --ids "$WORK/hf.ids" 2>/dev/null | tail -1)
HT_ALL=$("$PY" "$ROOT/bench/score/hf_tokenize.py" "$MODEL" "$WORK/all_texts.txt" "$MAXLEN" 2>/dev/null | tail -1)
if cmp -s "$WORK/encore.ids" "$WORK/hf.ids"; then IDS="identical for all $ALL_TEXTS texts"
else IDS="DIFFERENT: $(diff "$WORK/encore.ids" "$WORK/hf.ids" | grep -c '^<') of $ALL_TEXTS texts"; fi
echo "tokenizer: encore $(json "$T_ONE" texts_per_s)/s, HF $(json "$HT_ONE" texts_per_s)/s per core; ids $IDS" >&2

# ---- results -----------------------------------------------------------------
ratio() { "$PY" -c "print(f'{float(\"$1\") / float(\"$2\"):.2f}x')"; }
r0() { "$PY" -c "print(f'{float(\"$1\"):,.0f}')"; }
CPU=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
# Keep the memory section (bench/score/memory.sh) of an earlier RESULTS.md.
MEMORY=$([ -f "$OUT" ] && sed -n '/^## Memory/,$p' "$OUT" || true)
{
  echo "# encore score: CPU throughput against Hugging Face"
  echo
  echo "Command: \`$CMD\` ($(date -u +%Y-%m-%d), $CPU, $CORES cores; load average at the end:"\
       "$(cut -d' ' -f1-3 /proc/loadavg), other jobs shared the machine)."
  echo "Model: \`${MODEL#$ROOT/}\`; SST-2 train sentences: $TEXTS scored$([ "$N" -gt 0 ] && echo " (the first $N of $ALL_TEXTS)"), $ALL_TEXTS tokenized."
  echo "transformers $("$PY" -c 'import transformers; print(transformers.__version__)'), torch $("$PY" -c 'import torch; print(torch.__version__)'), tokenizers $("$PY" -c 'import tokenizers; print(tokenizers.__version__)')."
  echo
  echo "| job | encore | Hugging Face | encore / HF |"
  echo "|---|---:|---:|---:|"
  echo "| scoring, texts/s: \`encore score\` (all cores) vs pipeline loop, batch_size $BATCH_SIZE (torch $(json "$H" torch_threads) threads) | $(r0 "$(json "$E_ALL" records_per_s)") | $(r0 "$(json "$H" texts_per_s)") | $(ratio "$(json "$E_ALL" records_per_s)" "$(json "$H" texts_per_s)") |"
  echo "| scoring, texts/s: \`encore score --threads 1\` vs the same pipeline | $(r0 "$(json "$E_ONE" records_per_s)") | $(r0 "$(json "$H" texts_per_s)") | $(ratio "$(json "$E_ONE" records_per_s)" "$(json "$H" texts_per_s)") |"
  echo "| tokenizer, texts/s on 1 core: encore_model_tokenize vs encode_batch (RAYON_NUM_THREADS=1) | $(r0 "$(json "$T_ONE" texts_per_s)") | $(r0 "$(json "$HT_ONE" texts_per_s)") | $(ratio "$(json "$T_ONE" texts_per_s)" "$(json "$HT_ONE" texts_per_s)") |"
  echo "| tokenizer, texts/s on $CORES cores | $(r0 "$(json "$T_ALL" texts_per_s)") | $(r0 "$(json "$HT_ALL" texts_per_s)") | $(ratio "$(json "$T_ALL" texts_per_s)" "$(json "$HT_ALL" texts_per_s)") |"
  echo
  echo "- Token ids (truncation at $MAXLEN): $IDS."
  echo "- Labels, encore vs pipeline: $AGREE."
  echo "- encore score, all cores: $(json "$E_ALL" records) records, $(json "$E_ALL" tokens) tokens in $(json "$E_ALL" wall_s) s; time in stages (busy s, overlapped): $(json "$E_ALL" time_s)."
  echo "- encore score, 1 model thread: $(json "$E_ONE" wall_s) s; $(json "$E_ONE" time_s)."
  echo "- pipeline: $(json "$H" seconds) s after a warm-up; tokenizer times are the best of 3."
  if [ -n "$MEMORY" ]; then printf '\n%s\n' "$MEMORY"; fi
} > "$OUT"
cat "$OUT"

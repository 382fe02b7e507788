#!/usr/bin/env bash
# `gpt2-edge classify` over 1,000 lines beside transformers' float32 text-classification pipeline, in the same run:
#
#   tools/bench/classify.sh [WORK] [ROUNDS]        (WORK default /tmp/gpt2-edge-bench, ROUNDS default 3)
#
# The model is the exact-shape gpt2 (tools/reference/checkpoint.py) with a random 3-label `score` head added
# (GPT2ForSequenceClassification, pad_token_id 50256), run by us as the float32 folder and as an int8 .gqz, and by
# transformers (batch size 1, its pipeline's default, and 32, padded). The lines are sentences of the KJV held-out
# text (John). Runs alternate, ROUNDS rounds at 1 and 2 threads; the median lines/s of each is printed. Needs a
# release build (swift build -c release -Xswiftc -target-cpu -Xswiftc native) and torch + transformers.
set -euo pipefail
cd "$(dirname "$0")/../.."
WORK="${1:-/tmp/gpt2-edge-bench}"; ROUNDS="${2:-3}"
PRODUCTS="${PRODUCTS:-.build/release}"   # the release products (PRODUCTS=.build-native/release after --build-path .build-native)
EDGE="$PRODUCTS/gpt2-edge"; QUANT="$PRODUCTS/gpt2-quant"
[ -x "$EDGE" ] && [ -x "$QUANT" ] || { echo "build first: swift build -c release -Xswiftc -target-cpu -Xswiftc native" >&2; exit 1; }
mkdir -p "$WORK"
folder="$WORK/gpt2-seqcls"
if [ ! -f "$folder/model.safetensors" ]; then
    python3 tools/reference/checkpoint.py --arch gpt2 --out "$folder" >&2
    python3 - "$folder" <<'PY'
import json, sys
import numpy as np
from safetensors.numpy import load_file, save_file
folder = sys.argv[1]
tensors = load_file(folder + "/model.safetensors")
c = tensors["transformer.wte.weight"].shape[1]
tensors["score.weight"] = (np.random.RandomState(7).standard_normal((3, c)) * 0.5).astype(np.float32)
save_file(tensors, folder + "/model.safetensors", metadata={"format": "pt"})
config = json.load(open(folder + "/config.json"))
config.update(architectures=["GPT2ForSequenceClassification"], id2label={"0": "negative", "1": "neutral", "2": "positive"},
              label2id={"negative": 0, "neutral": 1, "positive": 2}, pad_token_id=50256)
json.dump(config, open(folder + "/config.json", "w"), indent=2)
PY
fi
gqz="$WORK/gpt2-seqcls-q8.gqz"
[ -f "$gqz" ] || "$QUANT" convert "$folder" --bits 8 -o "$gqz" -q
lines="$WORK/classify-lines.txt"
python3 - Tests/Fixtures/models/kjv/heldout.txt "$lines" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
sentences = [s.strip() for s in re.split(r"(?<=[.;:?!])\s+", text) if len(s.strip()) > 3]
open(sys.argv[2], "w").write("\n".join(sentences[:1000]) + "\n")
PY
echo "lines: $(wc -l < "$lines"), mean $(awk '{ n += NF } END { printf "%.1f", n / NR }' "$lines") words"

results="$WORK/classify-results.txt"; : > "$results"
ours() {   # model threads name → lines/s
    local start end
    start=$(date +%s.%N)
    "$EDGE" classify -m "$1" -t "$2" -f "$lines" > "$WORK/classify-ours-$3.out"
    end=$(date +%s.%N)
    echo "$(wc -l < "$WORK/classify-ours-$3.out") $start $end" | awk '{ printf "%.1f", $1 / ($3 - $2) }'
}
for round in $(seq "$ROUNDS"); do
    for threads in 1 2; do
        echo "ours-f32 $threads $(ours "$folder" "$threads" f32)" >> "$results"
        echo "ours-q8 $threads $(ours "$gqz" "$threads" q8)" >> "$results"
        for batch in 1 32; do
            python3 tools/bench/classify_hf.py "$folder" "$lines" --threads "$threads" --batch-size "$batch" > "$WORK/classify-hf.json"
            rate=$(python3 -c 'import json,sys; print("%.1f" % json.load(open(sys.argv[1]))["lines_per_second"])' "$WORK/classify-hf.json")
            echo "transformers-b$batch $threads $rate" >> "$results"
        done
        echo "round $round, $threads threads done" >&2
    done
done
# The labels agree with transformers' (its last run, batch 32, against our last runs).
for ours in f32 q8; do
    python3 -c '
import json, sys
theirs = json.load(open(sys.argv[1]))["labels"]; ours = [line.split("\t")[0] for line in open(sys.argv[2])]
same = sum(a == b for a, b in zip(theirs, ours))
print(f"labels: {sys.argv[3]} agrees with transformers on {same} of {len(theirs)} lines")' "$WORK/classify-hf.json" "$WORK/classify-ours-$ours.out" "$ours"
done
echo "median lines/s over $ROUNDS rounds (whole command, including load, for ours; the pipeline call for transformers):"
sort -k1,1 -k2,2n "$results" | awk '{ key = $1 " " $2; v[key] = v[key] " " $3 } END { for (k in v) print k, v[k] }' |
    python3 -c '
import sys, statistics
for line in sorted(sys.stdin):
    name, threads, *values = line.split()
    runs = " ".join(values)
    print(f"{name:18} {threads} thread(s): {statistics.median(map(float, values)):8.1f}   (runs: {runs})")'

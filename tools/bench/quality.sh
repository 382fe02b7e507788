#!/usr/bin/env bash
# The quality table of README.md: for the trained KJV model and its outlier-injected twin, every scheme's file
# size, perplexity on held-out text, change against float32, mean KL(f32 ‖ quantized) and top-1 agreement.
#
#   tools/bench/quality.sh [--chars 40000] [--ctx 128] [--stride 64]
#
# The text is the start of the held-out Gospel of John (never trained on). Needs a release build.
set -euo pipefail
cd "$(dirname "$0")/../.."
CHARS=40000; CTX=128; STRIDE=64
while [ $# -gt 0 ]; do
    case "$1" in
        --chars) CHARS="$2"; shift 2 ;;
        --ctx) CTX="$2"; shift 2 ;;
        --stride) STRIDE="$2"; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 64 ;;
    esac
done
QUANT=.build/release/gpt2-quant
[ -x "$QUANT" ] || { echo "build first: swift build -c release -Xswiftc -target-cpu -Xswiftc native" >&2; exit 1; }
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
head -c "$CHARS" Tests/Fixtures/models/kjv/heldout.txt > "$WORK/text.txt"

row() {   # model label file [eval options] → one table row
    local model=$1 label=$2 file=$3; shift 3
    "$QUANT" eval -m "$file" -f "$WORK/text.txt" --ref "Tests/Fixtures/models/$model" --ctx "$CTX" --stride "$STRIDE" --json "$@" |
        python3 -c '
import json, os, sys
d = json.load(sys.stdin)
size = os.path.getsize(sys.argv[3]) if sys.argv[3].endswith(".gqz") else 0
print("| %s | %s | %s | %.3f | %+.2f%% | %.5f | %.2f%% |" % (sys.argv[1], sys.argv[2], "%.2f MB" % (size / 1e6) if size else "f32",
      d["perplexity"], 100 * d["perplexity_change"], d["mean_kl"], 100 * d["top1_agreement"]))' "$model" "$label" "$file"
}

echo "| model | scheme | file | perplexity | Δ vs f32 | mean KL | top-1 agreement |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for model in kjv kjv-outliers; do
    source="Tests/Fixtures/models/$model"
    row "$model" "float32 (reference)" "$source"
    row "$model" "float32, f16 KV cache" "$source" --cache-type f16
    row "$model" "float32, int8 KV cache" "$source" --cache-type int8
    for variant in "8|int8 g32" "4|int4 g32 (int8 LM head)" "4 --group-size 64|int4 g64" "4 --group-size 128|int4 g128" \
                   "4 --embeddings 4|int4 g32, int4 LM head" "4 --no-channel-scaling|int4 g32, no channel scaling" \
                   "8 --no-channel-scaling|int8 g32, no channel scaling"; do
        options=${variant%%|*}; label=${variant#*|}
        file="$WORK/$model-$(echo "$options" | tr ' ' '_').gqz"
        # shellcheck disable=SC2086
        "$QUANT" convert "$source" --bits $options -o "$file" -q
        row "$model" "$label" "$file"
    done
done

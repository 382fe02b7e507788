#!/usr/bin/env bash
# Builds exact-shape random gpt2 / gpt2-xl checkpoints (tools/reference/checkpoint.py), converts them to int8 and
# int4, and runs `gpt2-edge bench --products` on each at 1 and 2 threads; prints one table with prompt and decode
# tok/s, the read bandwidth measured in the same run, decode's share of the bandwidth ceiling, and how fast the
# matrix products alone stream against that bandwidth (the rest of the gap is attention, norms and waits).
#
#   tools/bench/kernels.sh [--models "gpt2 gpt2-xl"] [--bits "8 4"] [--threads "1 2"] [-p 128] [-n 128] [-r 3] [--work DIR]
#
# Needs a release build (swift build -c release -Xswiftc -target-cpu -Xswiftc native) and python3 with numpy.
# gpt2-xl needs 6.3 GB of disk for the float32 source and 2.5 GB for the two .gqz files.
set -euo pipefail
cd "$(dirname "$0")/../.."
MODELS="gpt2 gpt2-xl"; BITS="8 4"; THREADS="1 2"; PROMPT=128; GEN=128; REPS=3
WORK="${TMPDIR:-/tmp}/gpt2-edge-bench"
while [ $# -gt 0 ]; do
    case "$1" in
        --models) MODELS="$2"; shift 2 ;;
        --bits) BITS="$2"; shift 2 ;;
        --threads) THREADS="$2"; shift 2 ;;
        -p) PROMPT="$2"; shift 2 ;;
        -n) GEN="$2"; shift 2 ;;
        -r) REPS="$2"; shift 2 ;;
        --work) WORK="$2"; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 64 ;;
    esac
done
PRODUCTS="${PRODUCTS:-.build/release}"   # the release products (PRODUCTS=.build-native/release after --build-path .build-native)
EDGE="$PRODUCTS/gpt2-edge"; QUANT="$PRODUCTS/gpt2-quant"
[ -x "$EDGE" ] && [ -x "$QUANT" ] || { echo "build first: swift build -c release -Xswiftc -target-cpu -Xswiftc native" >&2; exit 1; }
mkdir -p "$WORK"

echo "| model | scheme | threads | prompt tok/s (pp$PROMPT) | decode tok/s (tg$GEN) | pp ÷ tg | read GB/s | ceiling tok/s | decode share | products alone | peak RSS |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for model in $MODELS; do
    [ -f "$WORK/$model/model.safetensors" ] || python3 tools/reference/checkpoint.py --arch "$model" --out "$WORK/$model" >&2
    for bits in $BITS; do
        file="$WORK/$model-q$bits.gqz"
        [ -f "$file" ] || "$QUANT" convert "$WORK/$model" --bits "$bits" -o "$file" -q
        for threads in $THREADS; do
            "$EDGE" bench -m "$file" -t "$threads" -p "$PROMPT" -n "$GEN" -r "$REPS" --products --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
pp, tg = d["prompt_tokens_per_second"], d["decode_tokens_per_second"]
print("| %s | %s | %d | %.1f ± %.1f | %.1f ± %.1f | %.1f | %.1f | %.1f | %.0f%% | %.0f%% | %.0f MiB |" % (
    sys.argv[1], d["scheme"], d["threads"], pp["mean"], pp["sd"], tg["mean"], tg["sd"], pp["mean"] / tg["mean"],
    d["read_bandwidth_bytes_per_second"] / 1e9, d["decode_ceiling_tokens_per_second"],
    100 * d["decode_share_of_ceiling"], 100 * d["matrix_products_bytes_per_second"] / d["read_bandwidth_bytes_per_second"],
    d["peak_rss_bytes"] / 2**20))' "$model"
        done
    done
done

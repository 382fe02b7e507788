#!/usr/bin/env bash
# gpt2-edge against llama.cpp on this machine, same checkpoints, same threads, alternating runs.
#
#   tools/bench/llamacpp.sh --llama DIR [--models "gpt2 gpt2-xl"] [--bits "8 4"] [--threads "2"] [-p 128] [-n 128]
#                           [-r 3] [--rounds 3] [--work DIR]
#
# DIR is a llama.cpp source tree (a git clone, or vendor/llama.cpp of the llama-cpp-python sdist from PyPI). The
# script builds its llama-bench and llama-quantize there if build/bin lacks them (tools/bench/llamacpp-build.sh:
# cmake, Release, GGML_NATIVE), converts the exact-shape checkpoints of tools/bench/kernels.sh (same --work; made if
# missing) to f16 GGUF with DIR/convert_hf_to_gguf.py ($PYTHON with torch, numpy and transformers), and quantizes
# them to Q8_0 and Q4_0, the ggml blocks closest to our q8/g32 and q4/g32 (32 weights and one f16 scale a block).
#
# Each round runs `gpt2-edge bench` and then llama-bench on the same model file pair; the table gives the median
# over rounds and the ratio ours ÷ llama.cpp. Decode is measured at the same depth in both: ours decodes after its
# -p prompt, so llama-bench's tg test runs with -d <p>. llama-bench's defaults otherwise (f16 KV cache, weight
# repacking on, its own thread polling).
set -euo pipefail
cd "$(dirname "$0")/../.."
LLAMA=""; MODELS="gpt2 gpt2-xl"; BITS="8 4"; THREADS="2"; PROMPT=128; GEN=128; REPS=3; ROUNDS=3
WORK="${TMPDIR:-/tmp}/gpt2-edge-bench"; PYTHON="${PYTHON:-python3}"
while [ $# -gt 0 ]; do
    case "$1" in
        --llama) LLAMA="$2"; shift 2 ;;
        --models) MODELS="$2"; shift 2 ;;
        --bits) BITS="$2"; shift 2 ;;
        --threads) THREADS="$2"; shift 2 ;;
        -p) PROMPT="$2"; shift 2 ;;
        -n) GEN="$2"; shift 2 ;;
        -r) REPS="$2"; shift 2 ;;
        --rounds) ROUNDS="$2"; shift 2 ;;
        --work) WORK="$2"; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 64 ;;
    esac
done
[ -n "$LLAMA" ] && [ -f "$LLAMA/convert_hf_to_gguf.py" ] || { echo "--llama DIR: a llama.cpp source tree with convert_hf_to_gguf.py" >&2; exit 64; }
PRODUCTS="${PRODUCTS:-.build/release}"   # the release products (PRODUCTS=.build-native/release after --build-path .build-native)
EDGE="$PRODUCTS/gpt2-edge"; QUANT="$PRODUCTS/gpt2-quant"
[ -x "$EDGE" ] && [ -x "$QUANT" ] || { echo "build first: swift build -c release -Xswiftc -target-cpu -Xswiftc native" >&2; exit 1; }
BIN="$(tools/bench/llamacpp-build.sh "$LLAMA" llama-bench llama-quantize)"
mkdir -p "$WORK"

median() { python3 -c 'import statistics, sys; print(statistics.median(float(v) for v in sys.argv[1:]))' "$@"; }

echo "| model | ours | llama.cpp | threads | ours pp$PROMPT | llama.cpp pp$PROMPT | pp ratio | ours tg$GEN | llama.cpp tg$GEN @ d$PROMPT | tg ratio | ours file MiB | llama.cpp file MiB |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
for model in $MODELS; do
    for bits in $BITS; do
        read -r ours theirs <<<"$(tools/bench/model-files.sh "$LLAMA" "$BIN" "$QUANT" "$WORK" "$model" "$bits")"
        type=$([ "$bits" = 8 ] && echo Q8_0 || echo Q4_0)
        for threads in $THREADS; do
            ours_pp=(); ours_tg=(); their_pp=(); their_tg=()
            for _ in $(seq "$ROUNDS"); do
                read -r pp tg <<<"$("$EDGE" bench -m "$ours" -t "$threads" -p "$PROMPT" -n "$GEN" -r "$REPS" --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
print(d["prompt_tokens_per_second"]["mean"], d["decode_tokens_per_second"]["mean"])')"
                ours_pp+=("$pp"); ours_tg+=("$tg")
                pp=$("$BIN/llama-bench" -m "$theirs" -t "$threads" -p "$PROMPT" -n 0 -r "$REPS" -o json 2>/dev/null \
                     | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["avg_ts"])')
                tg=$("$BIN/llama-bench" -m "$theirs" -t "$threads" -p 0 -n "$GEN" -d "$PROMPT" -r "$REPS" -o json 2>/dev/null \
                     | python3 -c 'import json, sys; print(json.load(sys.stdin)[0]["avg_ts"])')
                their_pp+=("$pp"); their_tg+=("$tg")
            done
            python3 -c '
import sys
model, ours, theirs, threads, opp, ppp, otg, ptg, osize, tsize = sys.argv[1:]
opp, ppp, otg, ptg = map(float, (opp, ppp, otg, ptg))
print("| %s | %s | %s | %s | %.0f | %.0f | %.2f | %.1f | %.1f | %.2f | %.0f | %.0f |" % (
    model, ours, theirs, threads, opp, ppp, opp / ppp, otg, ptg, otg / ptg, int(osize) / 2**20, int(tsize) / 2**20))' \
                "$model" "q$bits/g32" "$type" "$threads" "$(median "${ours_pp[@]}")" "$(median "${their_pp[@]}")" \
                "$(median "${ours_tg[@]}")" "$(median "${their_tg[@]}")" "$(stat -c %s "$ours")" "$(stat -c %s "$theirs")"
        done
    done
done

#!/usr/bin/env bash
# What issue 8 asks of a GPU host, in one run: builds the CUDA library and a release gpt2-edge, makes the exact-shape
# gpt2-xl checkpoint and its int8 .gqz, checks GPU logits against the CPU int8 path (the kjv and micro fixtures and
# the gpt2-xl file), then measures gpt2-xl prompt and decode tok/s with `gpt2-edge bench --device cuda` and with
# PyTorch fp16 (tools/cuda/bench-torch.py) on the same GPU, and prints both and their ratio.
#
#   tools/cuda/bench.sh [--model gpt2-xl] [-p 128] [-n 128] [-r 3] [--work DIR]
#
# Needs nvidia-smi and a driver, python3 with numpy, and for the reference torch with CUDA and transformers
# (pip install -r tools/reference/requirements.txt with a CUDA torch wheel). Without torch the reference row is
# left out and says why.
set -euo pipefail
cd "$(dirname "$0")/../.."
MODEL=gpt2-xl; PROMPT=128; GEN=128; REPS=3
WORK="${TMPDIR:-/tmp}/gpt2-edge-bench"
while [ $# -gt 0 ]; do
    case "$1" in
        --model) MODEL="$2"; shift 2 ;;
        -p) PROMPT="$2"; shift 2 ;;
        -n) GEN="$2"; shift 2 ;;
        -r) REPS="$2"; shift 2 ;;
        --work) WORK="$2"; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 64 ;;
    esac
done
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
tools/cuda/build.sh
swift build -c release -Xswiftc -target-cpu -Xswiftc native >&2
EDGE=.build/release/gpt2-edge; QUANT=.build/release/gpt2-quant
mkdir -p "$WORK"
[ -f "$WORK/$MODEL/model.safetensors" ] || python3 tools/reference/checkpoint.py --arch "$MODEL" --out "$WORK/$MODEL" >&2
file="$WORK/$MODEL-q8.gqz"
[ -f "$file" ] || "$QUANT" convert "$WORK/$MODEL" --bits 8 -o "$file" -q

echo "## logits: GPU against the CPU int8 path"
GPT2EDGE_CUDA_CHECK_MODEL="$file" swift test --filter gpuLogitsMatchTheCPUInt8Path 2>&1 \
    | grep -E "agreement|passed|failed|skipped"

echo "## speed: $MODEL, prompt $PROMPT tokens, $GEN decode steps, mean ± sd of $REPS"
echo "| implementation | device | prompt tok/s | decode tok/s |"
echo "| --- | --- | --- | --- |"
row='import json, sys
d = json.load(sys.stdin); pp, tg = d["prompt_tokens_per_second"], d["decode_tokens_per_second"]
print("| %s | %s | %.1f ± %.1f | %.1f ± %.1f |" % (sys.argv[1] or d["implementation"], d["device"], pp["mean"], pp["sd"], tg["mean"], tg["sd"]))
open(sys.argv[2] if len(sys.argv) > 2 else "/dev/null", "w").write(json.dumps([pp["mean"], tg["mean"]]))'
"$EDGE" bench -m "$file" --device cuda -p "$PROMPT" -n "$GEN" -r "$REPS" --json | python3 -c "$row" "gpt2-edge int8 (--device cuda)" "$WORK/edge.json"
if python3 -c "import torch, transformers; assert torch.cuda.is_available()" 2>/dev/null; then
    python3 tools/cuda/bench-torch.py "$WORK/$MODEL" -p "$PROMPT" -n "$GEN" -r "$REPS" | python3 -c "$row" "" "$WORK/torch.json"
    python3 -c 'import json, sys
e, t = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
print("gpt2-edge ÷ PyTorch fp16: prompt %.2f×, decode %.2f×" % (e[0] / t[0], e[1] / t[1]))' "$WORK/edge.json" "$WORK/torch.json"
else
    echo "| PyTorch fp16 | not measured: torch with CUDA and transformers are not installed | | |"
fi

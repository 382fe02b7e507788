#!/usr/bin/env bash
# The model files a side-by-side run with llama.cpp needs, made in WORK when missing, for tools/bench/llamacpp.sh and
# tools/bench/serve.sh:
#
#   tools/bench/model-files.sh LLAMA_DIR LLAMA_BIN QUANT WORK MODEL BITS      → prints "OURS.gqz THEIRS.gguf"
#
# The exact-shape checkpoint WORK/MODEL (tools/reference/checkpoint.py), its f16 GGUF (LLAMA_DIR/convert_hf_to_gguf.py,
# $PYTHON with torch, numpy and transformers), our .gqz at BITS (QUANT convert) and llama.cpp's nearest block
# (llama-quantize: Q8_0 for 8 bits, Q4_0 for 4: 32 weights and one f16 scale a block, like our q8/g32 and q4/g32).
set -euo pipefail
[ $# -eq 6 ] || { echo "usage: $0 LLAMA_DIR LLAMA_BIN QUANT WORK MODEL BITS" >&2; exit 64; }
LLAMA="$1"; BIN="$2"; QUANT="$3"; WORK="$4"; model="$5"; bits="$6"; PYTHON="${PYTHON:-python3}"
cd "$(dirname "$0")/../.."
[ -f "$WORK/$model/model.safetensors" ] || python3 tools/reference/checkpoint.py --arch "$model" --out "$WORK/$model" >&2
f16="$WORK/$model-f16.gguf"
[ -f "$f16" ] || PYTHONPATH="$LLAMA/gguf-py" "$PYTHON" "$LLAMA/convert_hf_to_gguf.py" "$WORK/$model" --outtype f16 --outfile "$f16" >&2
ours="$WORK/$model-q$bits.gqz"; type=$([ "$bits" = 8 ] && echo Q8_0 || echo Q4_0); theirs="$WORK/$model-$type.gguf"
[ -f "$ours" ] || "$QUANT" convert "$WORK/$model" --bits "$bits" -o "$ours" -q
[ -f "$theirs" ] || "$BIN/llama-quantize" "$f16" "$theirs" "$type" >&2
echo "$ours $theirs"

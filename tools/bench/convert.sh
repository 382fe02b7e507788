#!/usr/bin/env bash
# Converts exact-shape random gpt2 / gpt2-xl checkpoints to int8 and int4 and prints one table:
# wall time, peak RSS (/usr/bin/time -v), output size, zstd ratio. Optionally sweeps zstd levels.
#
#   tools/bench/convert.sh [--models "gpt2 gpt2-xl"] [--levels "1 3 9 19"] [--work DIR]
#
# Needs a release build (swift build -c release -Xswiftc -target-cpu -Xswiftc native), python3 with numpy,
# and tools/reference/checkpoint.py (a copy of the shared fixtures' script). gpt2-xl needs 6.3 GB of disk for the source.
set -euo pipefail
cd "$(dirname "$0")/../.."
MODELS="gpt2 gpt2-xl"; LEVELS=""; WORK="${TMPDIR:-/tmp}/gpt2-edge-bench"
while [ $# -gt 0 ]; do
    case "$1" in
        --models) MODELS="$2"; shift 2 ;;
        --levels) LEVELS="$2"; shift 2 ;;
        --work) WORK="$2"; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 64 ;;
    esac
done
MAKE_CHECKPOINT="${MAKE_CHECKPOINT:-tools/reference/checkpoint.py}"
QUANT=.build/release/gpt2-quant
[ -x "$QUANT" ] || { echo "build first: swift build -c release -Xswiftc -target-cpu -Xswiftc native" >&2; exit 1; }
mkdir -p "$WORK"

run() {   # model bits level → one table row
    local model=$1 bits=$2 level=$3 out="$WORK/$1-q$2-l$3.gqz" log="$WORK/time.log"
    /usr/bin/time -v "$QUANT" convert "$WORK/$model" -o "$out" --bits "$bits" --level "$level" -q 2> "$log"
    local wall rss size raw
    wall=$(grep "Elapsed (wall clock)" "$log" | awk '{print $NF}')
    rss=$(grep "Maximum resident set size" "$log" | awk '{print $NF}')
    size=$(stat -c %s "$out")
    raw=$("$QUANT" inspect "$out" --json | python3 -c "import json,sys; d=json.load(sys.stdin); print(sum(t['raw_bytes'] for t in d['tensors']))")
    printf "| %-7s | q%s | %2s | %9s | %8.0f MB | %9.1f MB | %6.3f |\n" "$model" "$bits" "$level" "$wall" "$((rss / 1024))" \
        "$(python3 -c "print($size / 1e6)")" "$(python3 -c "print($raw / $size)")"
    rm -f "$out"
}

echo "| model   | scheme | zstd level | wall | peak RSS | output | raw/stored |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for model in $MODELS; do
    if [ ! -f "$WORK/$model/config.json" ]; then
        python3 "$MAKE_CHECKPOINT" --arch "$model" --out "$WORK/$model" >&2
    fi
    for bits in 8 4; do run "$model" "$bits" 3; done
    for level in $LEVELS; do
        [ "$level" = 3 ] && continue
        for bits in 8 4; do run "$model" "$bits" "$level"; done
    done
done

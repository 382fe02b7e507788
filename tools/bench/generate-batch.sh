#!/usr/bin/env bash
# `generate` with N prompts in one batch against the same prompts one run at a time, in the same session:
#
#   tools/bench/generate-batch.sh MODEL.gqz [N] [NEW_TOKENS] [ROUNDS] [THREADS]     (defaults 8, 64, 3, 2)
#
# Greedy, --ignore-eos, so every sequence generates NEW_TOKENS tokens. Rounds alternate batch and one-at-a-time;
# the medians of the aggregate decode rate (new tokens of all sequences ÷ decode seconds) and of the wall time
# spent after loading (prompt + decode) are printed with their ratio. Needs a release build.
set -euo pipefail
cd "$(dirname "$0")/../.."
MODEL="$1"; N="${2:-8}"; NEW="${3:-64}"; ROUNDS="${4:-3}"; THREADS="${5:-2}"
PRODUCTS="${PRODUCTS:-.build/release}"   # the release products (PRODUCTS=.build-native/release after --build-path .build-native)
EDGE="$PRODUCTS/gpt2-edge"
[ -x "$EDGE" ] || { echo "build first: swift build -c release -Xswiftc -target-cpu -Xswiftc native" >&2; exit 1; }
PROMPTS=("And God said" "In the beginning God created the heaven and the earth." "Blessed are the poor in spirit"
         "The LORD is my shepherd" "And it came to pass" "Now the serpent was more subtil" "Let there be light" "Jesus wept")
args=(); for i in $(seq 0 $((N - 1))); do args+=(-p "${PROMPTS[$((i % 8))]} $i"); done
run() { "$EDGE" generate -m "$MODEL" -t "$THREADS" -n "$NEW" --greedy --ignore-eos --json -q "$@"; }
results=$(mktemp)
for round in $(seq "$ROUNDS"); do
    run "${args[@]}" | python3 -c '
import json, sys
r = json.load(sys.stdin); t = r["timings"]
tokens = sum(len(s["tokens"]) for p in r["prompts"] for s in p["sequences"])
print("batch", t["decode_tokens_per_second"], tokens)' >> "$results"
    for i in $(seq 0 $((N - 1))); do
        run -p "${PROMPTS[$((i % 8))]} $i" | python3 -c '
import json, sys
r = json.load(sys.stdin); t = r["timings"]
print("alone", t["decode_tokens_per_second"], len(r["tokens"]))' >> "$results"
    done
done
python3 - "$results" "$N" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
n = int(sys.argv[2])
batch = [float(r[1]) for r in rows if r[0] == "batch"]
alone = [float(r[1]) for r in rows if r[0] == "alone"]
print(f"{n} prompts in one batch: aggregate decode {statistics.median(batch):.1f} tok/s (median of {len(batch)} runs)")
print(f"one prompt at a time:    decode {statistics.median(alone):.1f} tok/s (median of {len(alone)} runs)")
print(f"batching gain: {statistics.median(batch) / statistics.median(alone):.2f}x")
PY
rm -f "$results"

#!/usr/bin/env bash
# Serving, side by side: `gpt2-edge serve` against llama.cpp's llama-server on the same exact-shape checkpoints, the
# same threads, the same streamed load (tools/serve/loadgen.py), one server at a time, alternating rounds.
#
#   tools/bench/serve.sh --llama DIR [--models "gpt2 gpt2-xl"] [--bits "8"] [--concurrency "1 2 4 8"]
#                        [--duration 15] [--prompt-tokens 64] [--max-tokens 64] [--long-prompt-tokens 1000]
#                        [--long-at 10] [--long-duration 30] [--long-clients 7] [--rounds 2] [--threads 2]
#                        [--parallel 8] [--ctx 1024] [--work DIR] [--out DIR]
#
# DIR is a llama.cpp source tree, as for tools/bench/llamacpp.sh: its llama-server and llama-quantize are built there
# when missing (tools/bench/llamacpp-build.sh), the checkpoints, GGUF files (f16, then Q8_0 / Q4_0) and .gqz files
# (q8 / q4) are made in --work (default $TMPDIR/gpt2-edge-bench, shared with llamacpp.sh and kernels.sh) when missing.
# Needs a release build (swift build -c release -Xswiftc -target-cpu -Xswiftc native); talks to loopback only.
#
# For each model and weights (q8 against Q8_0, q4 against Q4_0) and each round, both servers run in turn (the order
# flips every round), each started fresh and stopped (SIGTERM) after:
#   1. loadgen at every --concurrency level for --duration s each (a request in flight at the end runs to its end);
#   2. the long-prompt run: --long-clients streaming clients for --long-duration s (default --long-at + 20), and
#      --long-at s in, one request with a --long-prompt-tokens prompt. With 8 slots, 7 clients plus the long request
#      fill them all, so the long prompt is prefilled beside seven running streams at once instead of first waiting
#      for a free slot (--long-clients 8 measures that wait too).
# ours:         gpt2-edge serve -m FILE.gqz --parallel 8 -t 2 -c 1024
# llama-server: llama-server -m FILE.gguf -np 8 -t 2 -c 8192 --no-kv-unified -ngl 0 (each of the 8 slots has 1024
#               positions, like ours), its defaults otherwise (continuous batching, prompt cache, f16 KV cache).
#
# Prints markdown tables (medians over rounds): per level, ours against llama-server in aggregate generated tok/s
# and their ratio, TTFT and ITL p50/p99; per model, our single-stream rate and the ratio of the aggregate at the
# largest level to it (the batching gain), and each server's peak RSS; the long-prompt stall for both. Every loadgen result
# (JSON, every request) and server log stays in --out (default $WORK/serve-results/DATE).
#
# Time, on 2 cores, with the defaults (estimated from docs/measurements.md's rates, not yet timed): gpt2 about 100 s
# per server and round; gpt2-xl about 2.5 minutes (each level's last requests, and the long prompt's prefill, add
# to the 15 s per level; llama-server's prefill is the slower); gpt2 + gpt2-xl at q8, 2 rounds: about 16 minutes,
# plus a few the first time for making the files. --rounds 1 halves it; --bits "8 4" doubles it. Each server run
# prints its time to standard error.
set -euo pipefail
cd "$(dirname "$0")/../.."
LLAMA=""; MODELS="gpt2 gpt2-xl"; BITS="8"; CONCURRENCY="1 2 4 8"; DURATION=15; PROMPT=64; GEN=64; LONG_TOKENS=1000
LONG_AT=10; LONG_DURATION=""; LONG_CLIENTS=7; ROUNDS=2; THREADS=2; PARALLEL=8; CTX=1024
WORK="${TMPDIR:-/tmp}/gpt2-edge-bench"; OUT=""; PYTHON="${PYTHON:-python3}"
while [ $# -gt 0 ]; do
    case "$1" in
        --llama) LLAMA="$2"; shift 2 ;;
        --models) MODELS="$2"; shift 2 ;;
        --bits) BITS="$2"; shift 2 ;;
        --concurrency) CONCURRENCY="$2"; shift 2 ;;
        --duration) DURATION="$2"; shift 2 ;;
        --prompt-tokens) PROMPT="$2"; shift 2 ;;
        --max-tokens) GEN="$2"; shift 2 ;;
        --long-prompt-tokens) LONG_TOKENS="$2"; shift 2 ;;
        --long-at) LONG_AT="$2"; shift 2 ;;
        --long-duration) LONG_DURATION="$2"; shift 2 ;;
        --long-clients) LONG_CLIENTS="$2"; shift 2 ;;
        --rounds) ROUNDS="$2"; shift 2 ;;
        --threads) THREADS="$2"; shift 2 ;;
        --parallel) PARALLEL="$2"; shift 2 ;;
        --ctx) CTX="$2"; shift 2 ;;
        --work) WORK="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 64 ;;
    esac
done
LONG_DURATION="${LONG_DURATION:-$((LONG_AT + 20))}"
[ -n "$LLAMA" ] && [ -f "$LLAMA/convert_hf_to_gguf.py" ] || { echo "--llama DIR: a llama.cpp source tree with convert_hf_to_gguf.py" >&2; exit 64; }
[ $((PROMPT + GEN)) -le "$CTX" ] && [ $((LONG_TOKENS + 8)) -le "$CTX" ] || { echo "prompts and max tokens must fit in --ctx $CTX" >&2; exit 64; }
EDGE="${EDGE:-.build/release/gpt2-edge}"; QUANT="${QUANT:-.build/release/gpt2-quant}"  # overridable for trying the script out
[ -x "$EDGE" ] && [ -x "$QUANT" ] || { echo "build first: swift build -c release -Xswiftc -target-cpu -Xswiftc native" >&2; exit 1; }
BIN="$(tools/bench/llamacpp-build.sh "$LLAMA" llama-server llama-quantize)"
mkdir -p "$WORK"
OUT="${OUT:-$WORK/serve-results/$(date +%Y%m%d-%H%M%S)}"; mkdir -p "$OUT"
LOADGEN=(python3 tools/serve/loadgen.py)
echo "serve.sh: results in $OUT; load average now: $(cut -d' ' -f1-3 /proc/loadavg) (run on a quiet machine)" >&2

SERVER_PID=""
stop_server() {
    [ -n "$SERVER_PID" ] || return 0
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 300); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
}
trap stop_server EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# start_server ours|llama FILE LOG: starts it and sets SERVER_PID and SERVER_PORT.
start_server() {
    local which="$1" file="$2" log="$3"
    if [ "$which" = ours ]; then
        "$EDGE" serve -m "$file" --host 127.0.0.1 --port 0 --parallel "$PARALLEL" -t "$THREADS" -c "$CTX" >/dev/null 2>"$log" &
        SERVER_PID=$!
        SERVER_PORT=""
        for _ in $(seq 1200); do  # 120 s
            SERVER_PORT=$(grep -o 'listening on http://[^ ]*' "$log" | head -1 | sed 's|/*$||; s|.*:||' || true)
            [ -n "$SERVER_PORT" ] && break
            kill -0 "$SERVER_PID" 2>/dev/null || { echo "gpt2-edge serve exited:" >&2; cat "$log" >&2; exit 1; }
            sleep 0.1
        done
        [ -n "$SERVER_PORT" ] || { echo "gpt2-edge serve printed no 'listening on' line:" >&2; cat "$log" >&2; exit 1; }
    else
        SERVER_PORT=$(free_port)
        "$BIN/llama-server" -m "$file" --host 127.0.0.1 --port "$SERVER_PORT" -np "$PARALLEL" -t "$THREADS" \
            -c $((CTX * PARALLEL)) --no-kv-unified -ngl 0 --no-webui >/dev/null 2>"$log" &
        SERVER_PID=$!
    fi
}

# run_server ours|llama FILE TAG: one server through both loads; results in $OUT/TAG.{levels,long}.json.
run_server() {
    local which="$1" file="$2" tag="$3" started=$SECONDS
    start_server "$which" "$file" "$OUT/$tag.log"
    "${LOADGEN[@]}" --url "http://127.0.0.1:$SERVER_PORT" --wait 600 --concurrency "$CONCURRENCY" --duration "$DURATION" \
        --prompt-tokens "$PROMPT" --max-tokens "$GEN" --label "$tag" --json "$OUT/$tag.levels.json" >&2 \
        || echo "serve.sh: $tag: some requests failed (see $OUT/$tag.levels.json)" >&2
    "${LOADGEN[@]}" --url "http://127.0.0.1:$SERVER_PORT" --wait 600 --concurrency "$LONG_CLIENTS" \
        --duration "$LONG_DURATION" --prompt-tokens "$PROMPT" --max-tokens "$GEN" --long-prompt-at "$LONG_AT" \
        --long-prompt-tokens "$LONG_TOKENS" --label "$tag long" --json "$OUT/$tag.long.json" >&2 \
        || echo "serve.sh: $tag long: some requests failed (see $OUT/$tag.long.json)" >&2
    grep -E '^VmHWM' "/proc/$SERVER_PID/status" 2>/dev/null | awk '{print $2}' >"$OUT/$tag.rss_kib" || true
    stop_server
    echo "serve.sh: $tag done in $((SECONDS - started)) s" >&2
}

for model in $MODELS; do
    for bits in $BITS; do
        read -r ours theirs <<<"$(tools/bench/model-files.sh "$LLAMA" "$BIN" "$QUANT" "$WORK" "$model" "$bits")"
        for round in $(seq "$ROUNDS"); do
            if [ $((round % 2)) = 1 ]; then order="ours llama"; else order="llama ours"; fi
            for which in $order; do
                if [ "$which" = ours ]; then file="$ours"; else file="$theirs"; fi
                run_server "$which" "$file" "$model-q$bits-$which-r$round"
            done
        done
    done
done

python3 - "$OUT" "$MODELS" "$BITS" "$ROUNDS" <<'EOF'
import json, os, statistics, sys
out, models, bits, rounds = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), int(sys.argv[4])

def load(tag, kind):
    path = os.path.join(out, f"{tag}.{kind}.json")
    return json.load(open(path))["levels"] if os.path.exists(path) else None

def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None

def f(value, digits=1):
    return "–" if value is None else f"{value:.{digits}f}"

def pair(a, b, digits=0):
    return f"{f(a, digits)} / {f(b, digits)}"

print("| model | ours | llama.cpp | clients | ours tok/s | llama-server tok/s | ratio | ours TTFT p50 / p99 ms "
      "| llama-server TTFT p50 / p99 ms | ours ITL p50 / p99 ms | llama-server ITL p50 / p99 ms | errors ours / llama |")
print("|" + " --- |" * 12)
gains, longs = [], []
for model in models:
    for b in bits:
        theirs_type = "Q8_0" if b == "8" else "Q4_0"
        per = {}  # (server, concurrency) -> list of level dicts over rounds
        for which in ("ours", "llama"):
            for r in range(1, rounds + 1):
                for level in load(f"{model}-q{b}-{which}-r{r}", "levels") or []:
                    per.setdefault((which, level["concurrency"]), []).append(level)
                for level in load(f"{model}-q{b}-{which}-r{r}", "long") or []:
                    per.setdefault((which, "long"), []).append(level)
        levels = sorted({c for (_, c) in per if c != "long"})
        stat = lambda which, c, get: med([get(l) for l in per.get((which, c), [])])
        for c in levels:
            o, t = stat("ours", c, lambda l: l["tok_s"]), stat("llama", c, lambda l: l["tok_s"])
            errors = [sum(sum(l["errors"].values()) for l in per.get((w, c), [])) for w in ("ours", "llama")]
            print(f"| {model} | q{b}/g32 | {theirs_type} | {c} | {f(o)} | {f(t)} | {f(o / t if o and t else None, 2)} "
                  f"| {pair(stat('ours', c, lambda l: l['ttft_ms']['p50']), stat('ours', c, lambda l: l['ttft_ms']['p99']))} "
                  f"| {pair(stat('llama', c, lambda l: l['ttft_ms']['p50']), stat('llama', c, lambda l: l['ttft_ms']['p99']))} "
                  f"| {pair(stat('ours', c, lambda l: l['itl_ms']['p50']), stat('ours', c, lambda l: l['itl_ms']['p99']), 1)} "
                  f"| {pair(stat('llama', c, lambda l: l['itl_ms']['p50']), stat('llama', c, lambda l: l['itl_ms']['p99']), 1)} "
                  f"| {errors[0]} / {errors[1]} |")
        if levels:
            top = levels[-1]
            rss = []
            for w in ("ours", "llama"):
                values = []
                for r in range(1, rounds + 1):
                    try:
                        values.append(int(open(os.path.join(out, f"{model}-q{b}-{w}-r{r}.rss_kib")).read()) / 1024)
                    except (OSError, ValueError):
                        pass
                rss.append(med(values))
            gains.append((model, b, top,
                          [(stat(w, 1, lambda l: l["tok_s"]), stat(w, top, lambda l: l["tok_s"])) for w in ("ours", "llama")],
                          rss))
        for which in ("ours", "llama"):
            runs = [l["long"] for l in per.get((which, "long"), []) if l.get("long")]
            if runs:
                longs.append((model, b, which, runs[0]["prompt_tokens"], per[(which, "long")][0]["concurrency"],
                              med([r["ttft_ms"] for r in runs]), med([r["stall_max_ms"] for r in runs]),
                              med([r["stall_p99_ms"] for r in runs]), med([r["itl_p99_outside_ms"] for r in runs]),
                              sum(not r["ok"] for r in runs)))

print()
print("| model | weights | clients | ours single-stream tok/s | ours aggregate | ours aggregate ÷ single | "
      "llama-server single-stream tok/s | llama-server aggregate | llama-server aggregate ÷ single "
      "| peak RSS MiB ours / llama-server |")
print("|" + " --- |" * 10)
for model, b, top, ((o1, on), (t1, tn)), (ours_rss, their_rss) in gains:
    print(f"| {model} | q{b} | {top} | {f(o1)} | {f(on)} | {f(on / o1 if on and o1 else None, 2)} | {f(t1)} | {f(tn)} "
          f"| {f(tn / t1 if tn and t1 else None, 2)} | {pair(ours_rss, their_rss)} |")

print()
print("| model | weights | server | long prompt tokens | beside clients | long-prompt TTFT ms | stall max ms "
      "| stall p99 ms | ITL p99 outside the prefill ms | long request failed |")
print("|" + " --- |" * 10)
for model, b, which, tokens, clients, ttft, smax, sp99, outside, failed in longs:
    print(f"| {model} | q{b} | {'ours' if which == 'ours' else 'llama-server'} | {tokens} | {clients} | {f(ttft, 0)} "
          f"| {f(smax, 0)} | {f(sp99, 0)} | {f(outside, 1)} | {failed} |")
EOF

#!/usr/bin/env bash
# The memory frontier: each model's peak RSS (VmHWM, which counts the binary and its libraries) against its memory
# plan, resident and with --low-memory, and, as root, whether it completes under a hard cgroup cap with a cold page
# cache (so the binary's pages are charged to the run too).
#
#   tools/bench/memory.sh [--rounds N] [--tokens N] MODEL.gqz[=CAP] ...
#   sudo tools/bench/memory.sh builtin=28M gpt2-q4.gqz=64M gpt2-q8.gqz=88M gpt2-xl-q4.gqz=136M   (builtin: no -m)
#
# Each round runs every model in turn (so a slow minute of the shared machine falls on all of them), `generate -p
# "The meaning of life is" -n TOKENS -t 2 --seed 1`, and reads the run's own summary line (peak RSS, decode tok/s)
# and the plan's total (`--dry-run --json`); medians over the rounds. With =CAP and root, each --low-memory run is
# repeated once under `run-capped.sh CAP` after `echo 3 > /proc/sys/vm/drop_caches`. MODES="resident low-memory"
# by default. PRODUCTS=DIR picks another build (default .build/release).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
products=${PRODUCTS:-$here/../../.build/release}
edge=$products/gpt2-edge
rounds=3 tokens=64
while [ $# -gt 0 ]; do
    case $1 in
        --rounds) rounds=$2; shift 2 ;;
        --tokens) tokens=$2; shift 2 ;;
        -*) echo "unknown option $1" >&2; exit 64 ;;
        *) break ;;
    esac
done
[ $# -ge 1 ] || { echo "usage: tools/bench/memory.sh [--rounds N] [--tokens N] MODEL.gqz[=CAP] ..." >&2; exit 64; }
[ -x "$edge" ] || { echo "$edge not built (swift build -c release -Xswiftc -target-cpu -Xswiftc native)" >&2; exit 1; }
modes=${MODES:-resident low-memory}
results=$(mktemp)
trap 'rm -f "$results"' EXIT

flag() { [ "$1" = low-memory ] && echo --low-memory || true; }
# "builtin" stands for the built-in model (no -m).
model_args() { [ "$1" = builtin ] || echo "-m $1"; }
for round in $(seq "$rounds"); do
    for spec in "$@"; do
        model=${spec%%=*}
        for mode in $modes; do
            line=$("$edge" generate $(model_args "$model") $(flag "$mode") -p "The meaning of life is" -n "$tokens" -t 2 --seed 1 2>&1 >/dev/null | tail -n 1)
            peak=$(sed -n 's/.*peak RSS \([0-9.]*\) MiB.*/\1/p' <<<"$line")
            decode=$(sed -n 's/.*decode [0-9]* tok, \([0-9.]*\) tok\/s.*/\1/p' <<<"$line")
            echo "$model $mode $peak $decode" >> "$results"
        done
    done
done

echo "| model | mode | plan | VmHWM (median of $rounds) | plan ÷ measured | decode tok/s | under a cold-cache cap |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for spec in "$@"; do
    model=${spec%%=*} cap=
    [ "$spec" != "$model" ] && cap=${spec#*=}
    for mode in $modes; do
        plan=$("$edge" generate $(model_args "$model") $(flag "$mode") -p "The meaning of life is" -n "$tokens" -t 2 --dry-run --json \
            | python3 -c "import json, sys; print('%.1f' % (json.load(sys.stdin)['total'] / 2**20))")
        read -r peak decode < <(awk -v m="$model" -v o="$mode" '$1 == m && $2 == o { print $3, $4 }' "$results" | python3 -c "
import statistics, sys
rows = [tuple(map(float, l.split())) for l in sys.stdin if l.strip()]
print('%.1f %.2f' % (statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows)))")
        capped="not run"
        if [ -n "$cap" ] && [ "$mode" = low-memory ]; then
            if [ "$(id -u)" = 0 ]; then
                sync; echo 3 > /proc/sys/vm/drop_caches
                set +e
                out=$("$here/run-capped.sh" "$cap" "$edge" generate $(model_args "$model") --low-memory -p "The meaning of life is" -n "$tokens" -t 2 --seed 1 2>&1 >/dev/null)
                status=$?
                set -e
                cgroup=$(sed -n 's/^peak \([0-9.]*\) MiB.*/\1/p' <<<"$out" | tail -n 1)
                if [ $status = 0 ]; then capped="completes under $cap (cgroup peak $cgroup MiB)"; else capped="exit $status under $cap (cgroup peak $cgroup MiB)"; fi
            else
                capped="needs root"
            fi
        fi
        ratio=$(python3 -c "print('%.2f' % ($plan / $peak))")
        echo "| $(basename "$model") | $mode | $plan MiB | $peak MiB | $ratio | $decode | $capped |"
    done
done

#!/usr/bin/env bash
# Coverage-guided fuzzing of the readers of untrusted bytes (Sources/FuzzTargets) with libFuzzer and
# AddressSanitizer. Swift's own checks (integer overflow, bounds, force unwraps) trap in release builds too, so
# any of them that an input reaches is reported as a crash with the input that caused it.
#
#   tools/fuzz/run.sh [--seconds N] [--parallel] [--merge] [TARGET...]
#       targets: gqz gqz-index safetensors config tokenizer vocabulary server-request hub-response (default: all)
#
# Builds gpt2-fuzz into .build/fuzz, then runs each target for N seconds (default 60) starting from its committed
# corpus (tools/fuzz/corpus/TARGET), which is replayed first: a committed input that crashes fails at once.
# --parallel runs the targets at the same time (a long campaign; they share the cores, so compare executions,
# not seconds). New inputs go to .build/fuzz-work/TARGET; --merge then adds to the committed corpus the ones that
# reach coverage it does not. Prints executions, coverage and features per target; on a crash prints the
# reproducer and exits 1.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=60
merge=0
parallel=0
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) seconds="$2"; shift 2 ;;
        --merge) merge=1; shift ;;
        --parallel) parallel=1; shift ;;
        -h|--help) sed -n 2,14p "$0"; exit 0 ;;
        -*) echo "run.sh: unknown option $1" >&2; exit 64 ;;
        *) targets+=("$1"); shift ;;
    esac
done
[ ${#targets[@]} -gt 0 ] || targets=(gqz gqz-index safetensors config tokenizer vocabulary server-request hub-response)
for target in "${targets[@]}"; do
    [ -d "tools/fuzz/corpus/$target" ] || { echo "run.sh: no target $target (no tools/fuzz/corpus/$target)" >&2; exit 64; }
done

# Every Swift module instrumented as -sanitize=fuzzer would (coverage counters, comparison tracing) with
# AddressSanitizer, and libFuzzer linked without its main(): gpt2-fuzz's main calls libFuzzer's driver itself
# (SwiftPM renames an executable's entry point, which libFuzzer's own main() would collide with).
runtime="$(dirname "$(readlink -f "$(command -v swiftc)")")/../lib/clang"
libfuzzer=$(ls "$runtime"/*/lib/linux/libclang_rt.fuzzer_no_main-"$(uname -m)".a 2>/dev/null | head -1)
[ -n "$libfuzzer" ] || { echo "run.sh: this Swift toolchain has no libclang_rt.fuzzer_no_main (looked in $runtime)" >&2; exit 1; }
set +e
swift build -c release --product gpt2-fuzz --scratch-path .build/fuzz \
    -Xswiftc -sanitize=address -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp \
    -Xswiftc -DGPT2EDGE_LIBFUZZER -Xlinker "$libfuzzer" -Xlinker -lstdc++ \
    2>&1 | grep -v "Cannot export local symbol"
built=${PIPESTATUS[0]}
set -e
binary=.build/fuzz/release/gpt2-fuzz
[ "$built" -eq 0 ] && [ -x "$binary" ] || { echo "run.sh: the fuzz build failed" >&2; exit 1; }

# A crash must end the run with its report, not wait on Swift's interactive backtracer.
export SWIFT_BACKTRACE=enable=no
# handle_sigill: a Swift runtime check (overflow, bounds, a negative count) traps with ud2; AddressSanitizer then
# prints the check's name ("Swift runtime failure: ...") and the stack with file and line. Leak checking is off:
# the Swift runtime's metadata caches live for the whole process by design.
export ASAN_OPTIONS="${ASAN_OPTIONS:-handle_sigill=1:detect_leaks=0:symbolize=1}"
# A campaign's binary is a copy: rebuilding while it runs (another run.sh, a merge) cannot replace it underneath.
runner=".build/fuzz-work/gpt2-fuzz.$$"
mkdir -p .build/fuzz-work
cp "$binary" "$runner"
trap 'rm -f "$runner"' EXIT

# fuzz TARGET: runs one target and writes its one-line result (and, on a crash, the report) to .build/fuzz-work/TARGET.result
fuzz() {
    local target="$1"
    local work=".build/fuzz-work/$target" artifacts=".build/fuzz-artifacts/$target/" log=".build/fuzz-work/$target.log"
    local result=".build/fuzz-work/$target.result"
    rm -f "$result"
    # Each target's report is best effort: a grep that finds nothing must not end the job (set -e is on).
    set +e +o pipefail
    mkdir -p "$work" "$artifacts"
    local dictionary=()
    case "$target" in
        gqz) dictionary=(-dict=tools/fuzz/gqz.dict) ;;
        gqz-index|safetensors|config|server-request|vocabulary) dictionary=(-dict=tools/fuzz/json.dict) ;;
        hub-response) dictionary=(-dict=tools/fuzz/hub.dict) ;;
    esac
    echo "== $target: $seconds s from tools/fuzz/corpus/$target ($(ls "tools/fuzz/corpus/$target" | wc -l) inputs)"
    local rc=0
    "$runner" "$target" "$work" "tools/fuzz/corpus/$target" "${dictionary[@]}" \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -artifact_prefix="$artifacts" -print_final_stats=1 >"$log" 2>&1 || rc=$?
    local executions coverage features
    executions=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    coverage=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
    features=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo "?")
    if [ $rc -ne 0 ]; then
        local crash
        crash=$(grep -o "Test unit written to [^ ]*" "$log" | tail -1 | sed 's/Test unit written to //')
        {
            echo "!! $target: exit $rc after ${executions} executions"
            { grep -E "ERROR: AddressSanitizer|ERROR: libFuzzer|Swift runtime failure|Fatal error" "$log" | head -3
              grep -E "^ +#[0-9]+ .* in .*/Sources/" "$log" | head -4; } | sed 's/^ */   /'
            echo "   reproducer: ${crash:-(none written; see $log)}"
            [ -n "${crash:-}" ] && echo "   replay:     $binary $target $crash   (plain build: swift run gpt2-fuzz $target $crash)"
            echo "   full log:   $log"
            echo "$target: CRASH after $executions executions (cov $coverage)"
        } >"$result"
    else
        local added=""
        if [ $merge -eq 1 ]; then
            local before after
            before=$(ls "tools/fuzz/corpus/$target" | wc -l)
            "$runner" "$target" -merge=1 "tools/fuzz/corpus/$target" "$work" >>"$log" 2>&1 \
                || echo "   $target: the merge failed (see $log)" >&2
            after=$(ls "tools/fuzz/corpus/$target" | wc -l)
            added=", $((after - before)) inputs merged into the corpus"
        fi
        echo "$target: $executions executions, cov $coverage, ft $features, no crash$added" >"$result"
    fi
    [ $rc -eq 0 ]
}

status=0
if [ $parallel -eq 1 ]; then
    pids=()
    for target in "${targets[@]}"; do fuzz "$target" & pids+=($!); done
    for pid in "${pids[@]}"; do wait "$pid" || status=1; done
else
    for target in "${targets[@]}"; do fuzz "$target" || status=1; done
fi
echo "== summary ($seconds s each$([ $parallel -eq 1 ] && echo ", ${#targets[@]} at once on $(nproc) cores"))"
for target in "${targets[@]}"; do
    result=".build/fuzz-work/$target.result"
    if grep -q '^!!' "$result"; then grep -v '^[a-z-]*: CRASH' "$result"; fi
    echo "   $(tail -1 "$result")"
done
exit $status

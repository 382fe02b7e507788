#!/usr/bin/env bash
# Scale-out check: two `gpt2-edge serve` instances behind nginx on loopback; one is SIGKILLed mid-run.
#
#   tools/serve/scale-out.sh BINARY [--requests 40] [--concurrency 4] [--max-tokens 64] [--prompt-tokens 16]
#                            [--kill-after K] [--model FILE.gqz] [--keep]
#
# BINARY is a gpt2-edge executable. The script starts `BINARY serve --port 0 --parallel 2` twice (the built-in model
# unless --model), reads each one's port from its `listening on http://HOST:PORT` line, waits for GET /health, and
# starts nginx (nginx -p TMP -c TMP/nginx.conf, generated from tools/serve/nginx.conf: its own port, pid file, logs
# and temporary files in TMP; no root needed) in front of them. tools/serve/loadgen.py then sends --requests
# streamed requests, --concurrency at a time, through nginx; once K of them (default a quarter) have completed, the
# first instance gets SIGKILL. At the end the survivor gets SIGTERM and must exit 0 (the graceful-stop contract).
#
# It reports every failed request (id, error, the instance nginx had sent it to), how many requests each instance
# served before and after the kill (from nginx's access log: $upstream_addr, the request id loadgen sends), and
# whether the survivor took the rest. A stream the killed instance was in the middle of is expected to fail (nginx
# cannot retry once the response has begun); everything else must succeed.
#
# Exit status: 0 when every request that started after the kill succeeded on the survivor, no request in flight on
# the survivor failed, and the survivor stopped cleanly on SIGTERM; 1 otherwise; 2 when the set-up failed.
# Everything started is stopped on exit (trap), and TMP removed unless --keep.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
[ $# -ge 1 ] || { sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 64; }
BINARY="$1"; shift
REQUESTS=40; CONCURRENCY=4; MAX_TOKENS=64; PROMPT_TOKENS=16; KILL_AFTER=""; MODEL=""; KEEP=0
while [ $# -gt 0 ]; do
    case "$1" in
        --requests) REQUESTS="$2"; shift 2 ;;
        --concurrency) CONCURRENCY="$2"; shift 2 ;;
        --max-tokens) MAX_TOKENS="$2"; shift 2 ;;
        --prompt-tokens) PROMPT_TOKENS="$2"; shift 2 ;;
        --kill-after) KILL_AFTER="$2"; shift 2 ;;
        --model) MODEL="$2"; shift 2 ;;
        --keep) KEEP=1; shift ;;
        *) echo "scale-out: unknown option $1" >&2; exit 64 ;;
    esac
done
[ -n "$KILL_AFTER" ] || KILL_AFTER=$(( REQUESTS / 4 ))
[ -x "$BINARY" ] || { echo "scale-out: $BINARY is not an executable" >&2; exit 2; }
command -v nginx >/dev/null || { echo "scale-out: nginx not found (apt-get install nginx-light)" >&2; exit 2; }
BINARY="$(cd "$(dirname "$BINARY")" && pwd)/$(basename "$BINARY")"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/gpt2-edge-scale-out.XXXXXX")"
chmod 755 "$WORK"  # nginx's workers may run as another user when started by root
PIDS=()
NGINX_STARTED=0
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    if [ "$NGINX_STARTED" = 1 ] && [ -f "$WORK/nginx.pid" ]; then
        local nginx_pid; nginx_pid=$(cat "$WORK/nginx.pid")
        kill -QUIT "$nginx_pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$nginx_pid" 2>/dev/null || break; sleep 0.1; done
        kill -TERM "$nginx_pid" 2>/dev/null || true
    fi
    for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ "$KEEP" = 1 ]; then echo "scale-out: kept $WORK" >&2; else rm -rf "$WORK"; fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Starts `BINARY serve --port 0 …` in this shell (so that `wait` gets its exit status) and sets PID_<name>.
start_instance() {
    "$BINARY" serve --port 0 --parallel 2 ${MODEL:+-m "$MODEL"} 2>"$WORK/$1.log" >/dev/null &
    PIDS+=("$!")
    printf -v "PID_$1" %s "$!"
}

# Prints the port of the `listening on http://HOST:PORT` line in $WORK/NAME.log, once it is there (60 s at most).
port_of() {
    local name="$1" pid="$2" port=""
    for _ in $(seq 600); do
        port=$(grep -o 'listening on http://[^ ]*' "$WORK/$name.log" 2>/dev/null | head -1 | sed 's|/*$||; s|.*:||' || true)
        [ -n "$port" ] && { echo "$port"; return 0; }
        kill -0 "$pid" 2>/dev/null || { echo "scale-out: $name exited before listening:" >&2; cat "$WORK/$name.log" >&2; return 2; }
        sleep 0.1
    done
    echo "scale-out: $name printed no 'listening on http://HOST:PORT' line in 60 s:" >&2; cat "$WORK/$name.log" >&2
    return 2
}

wait_health() {
    local port="$1"
    python3 - "$port" <<'EOF'
import sys, time, urllib.request
port = sys.argv[1]
deadline = time.monotonic() + 120
while True:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
            if response.status == 200:
                sys.exit(0)
    except Exception as error:
        last = error
    if time.monotonic() > deadline:
        sys.exit(f"scale-out: /health on port {port} not 200 within 120 s: {last}")
    time.sleep(0.2)
EOF
}

start_instance instance1; start_instance instance2
PID1=$PID_instance1; PID2=$PID_instance2
PORT1=$(port_of instance1 "$PID1") || exit 2
PORT2=$(port_of instance2 "$PID2") || exit 2
wait_health "$PORT1" || exit 2
wait_health "$PORT2" || exit 2
echo "scale-out: instance1 pid $PID1 on 127.0.0.1:$PORT1, instance2 pid $PID2 on 127.0.0.1:$PORT2" >&2

NGINX_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$WORK/tmp"
python3 - "$HERE/nginx.conf" "$WORK/nginx.conf" "$NGINX_PORT" "$PORT1" "$PORT2" <<'EOF'
import re, sys
source, target, listen, *ports = sys.argv[1:]
out, upstreams_written = [], False
for line in open(source):
    if "@UPSTREAMS@" in line:  # the sample's first server line, with its parameters, once per instance
        if not upstreams_written:
            template = line.split("#")[0].rstrip()
            out += [re.sub(r"127\.0\.0\.1:\d+", f"127.0.0.1:{port}", template) + "\n" for port in ports]
            upstreams_written = True
    elif "@LISTEN@" in line:
        out.append(line[: len(line) - len(line.lstrip())] + f"listen 127.0.0.1:{listen};\n")
    else:
        out.append(line)
open(target, "w").write("".join(out))
EOF
nginx -p "$WORK" -e "$WORK/error.log" -c "$WORK/nginx.conf" -t 2>"$WORK/nginx-test.log" \
    || { echo "scale-out: nginx rejected the generated configuration:" >&2; cat "$WORK/nginx-test.log" >&2; exit 2; }
nginx -p "$WORK" -e "$WORK/error.log" -c "$WORK/nginx.conf"
NGINX_STARTED=1
wait_health "$NGINX_PORT" || exit 2
echo "scale-out: nginx on 127.0.0.1:$NGINX_PORT; $REQUESTS requests, $CONCURRENCY at a time; SIGKILL to instance1 after $KILL_AFTER completed" >&2

python3 "$HERE/loadgen.py" --url "http://127.0.0.1:$NGINX_PORT" --concurrency "$CONCURRENCY" --requests "$REQUESTS" \
    --prompt-tokens "$PROMPT_TOKENS" --max-tokens "$MAX_TOKENS" --timeout 120 --json "$WORK/load.json" \
    >"$WORK/loadgen.out" 2>"$WORK/loadgen.err" &
LOADGEN=$!; PIDS+=("$LOADGEN")

# Access-log lines of measured requests (loadgen's warm-up request has a negative id).
completed() { grep -c 'rid=loadgen-[0-9]' "$WORK/access.log" 2>/dev/null || true; }
KILL_TIME=""
while kill -0 "$LOADGEN" 2>/dev/null; do
    if [ "$(completed)" -ge "$KILL_AFTER" ]; then
        DONE_AT_KILL=$(completed)
        KILL_TIME=$(date +%s.%N)  # taken before the kill: a stream it cuts may end before a later clock read
        kill -KILL "$PID1"
        echo "scale-out: SIGKILL to instance1 (pid $PID1) after $DONE_AT_KILL requests completed" >&2
        break
    fi
    sleep 0.05
done
LOADGEN_STATUS=0; wait "$LOADGEN" || LOADGEN_STATUS=$?
[ "$LOADGEN_STATUS" -le 1 ] || { echo "scale-out: loadgen could not run:" >&2; cat "$WORK/loadgen.err" >&2; exit 2; }
[ -n "$KILL_TIME" ] || { echo "scale-out: the run ended before $KILL_AFTER requests completed; nothing was killed" >&2; cat "$WORK/loadgen.err" >&2; exit 1; }

# The survivor must still answer, then stop cleanly on SIGTERM.
SURVIVOR_HEALTH=ok; wait_health "$PORT2" || SURVIVOR_HEALTH=failed
kill -TERM "$PID2"
TERM_STATUS=timeout
for _ in $(seq 300); do  # 30 s
    if ! kill -0 "$PID2" 2>/dev/null; then TERM_STATUS=0; wait "$PID2" || TERM_STATUS=$?; break; fi
    sleep 0.1
done

python3 - "$WORK/load.json" "$WORK/access.log" "$KILL_TIME" "$PORT1" "$PORT2" "$SURVIVOR_HEALTH" "$TERM_STATUS" <<'EOF'
import json, re, sys
load, access, kill_time, port1, port2, survivor_health, term_status = sys.argv[1:]
kill_time = float(kill_time)
killed, survivor = f"127.0.0.1:{port1}", f"127.0.0.1:{port2}"
names = {killed: "instance1 (killed)", survivor: "instance2 (survivor)"}
level = json.load(open(load))["levels"][0]
requests = [r for r in level["requests_detail"] if r["kind"] == "normal"]
served = {}  # request id -> (list of upstreams tried, nginx status, end time)
for line in open(access):
    m = re.search(r"t=([\d.]+) .* (\d{3}) \d+ rt=\S+ upstream=(.*?) ustatus=(.*?) urt=.* rid=loadgen-(\d+)$", line.strip())
    if m:
        # "A, B" when nginx tried A and then B; "A : B" after an internal redirect
        served[int(m.group(5))] = ([u for u in re.split(r"\s*[,:]\s+", m.group(3).strip()) if u],
                                   m.group(2), float(m.group(1)), m.group(4))

def final_upstream(rid):
    tried = served.get(rid, ([], None, None, None))[0]
    return tried[-1] if tried else None

columns = ("completed before the kill", "in flight at the kill, completed", "in flight at the kill, cut",
           "started after the kill")
count = {upstream: dict.fromkeys(columns, 0) for upstream in (killed, survivor)}
problems, expected_failures, failures = [], [], []
started_after = retried = 0
for r in requests:
    start = r["start_unix"]; end = start + (r["end_s"] - r["start_s"])
    tried = served.get(r["id"], ([],))[0]
    upstream = tried[-1] if tried else None
    retried += len(tried) > 1
    phase = "before" if end < kill_time else ("in flight" if start < kill_time else "after")
    column = {"before": columns[0], "in flight": columns[1] if r["ok"] else columns[2], "after": columns[3]}[phase]
    if upstream in count:
        count[upstream][column] += 1
    if phase == "after":
        started_after += 1
        if r["ok"] and upstream != survivor:
            problems.append(f"request {r['id']} started after the kill but nginx logged it on {upstream}")
    if not r["ok"]:
        entry = (f"request {r['id']} ({phase}): {r['error']}: {r['detail']}; nginx sent it to "
                 f"{names.get(upstream, upstream or 'no instance (not in the access log)')}")
        if phase == "in flight" and upstream == killed:
            expected_failures.append(entry)
        else:
            failures.append(entry)

print(f"{len(requests)} requests: {sum(r['ok'] for r in requests)} ok, {len(expected_failures)} cut by the kill, "
      f"{len(failures)} other failures; {started_after} started after the kill, {retried} retried by nginx on "
      f"the other instance")
print("| instance | " + " | ".join(columns) + " |")
print("|" + " --- |" * (len(columns) + 1))
for upstream in (killed, survivor):
    print(f"| {names[upstream]} {upstream} | " + " | ".join(str(count[upstream][c]) for c in columns) + " |")
if started_after == 0:
    problems.append("no request started after the kill: raise --requests or lower --kill-after")
if count[survivor][columns[3]] == 0:
    problems.append("the survivor served nothing after the kill")
if survivor_health != "ok":
    problems.append("the survivor's /health did not answer 200 after the run")
if term_status != "0":
    problems.append(f"the survivor's exit status on SIGTERM: {term_status} (the contract says 0)")
for entry in expected_failures:
    print(f"expected (in flight on the killed instance): {entry}")
for entry in failures:
    print(f"FAILED: {entry}")
for entry in problems:
    print(f"PROBLEM: {entry}")
ok = not failures and not problems
print("scale-out: " + ("PASS: the survivor took the rest" if ok else "FAIL"))
sys.exit(0 if ok else 1)
EOF

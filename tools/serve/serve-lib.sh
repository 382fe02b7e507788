# Sourced (not run) by the scripts in tools/serve: starts `gpt2-edge serve` on loopback, waits for it, stops it.
#
#   . tools/serve/serve-lib.sh
#   trap stop_server_now EXIT
#   start_server BINARY --api-key KEY --parallel 2    # sets SERVER_PID, SERVER_PORT, SERVER_ROOT, SERVER_LOG
#   ...
#   stop_server                                        # SIGTERM, then fails unless it exits 0 within the deadline
#
# The port comes from the server itself (--port 0 and its `listening on http://HOST:PORT` line on standard error),
# so two checks can run side by side.

SERVER_PID=""
SERVER_PORT=""
SERVER_ROOT=""
SERVER_LOG=""
SERVER_START_TIMEOUT="${SERVER_START_TIMEOUT:-60}"   # seconds until /health must answer 200
SERVER_STOP_TIMEOUT="${SERVER_STOP_TIMEOUT:-15}"     # seconds from SIGTERM to exit

# True while the process is alive; an exited child stays a zombie until `wait`, which `kill -0` cannot tell.
server_alive() {
    local state
    state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    case "$state" in Z*) return 1 ;; esac
}

start_server() {
    local binary="$1"; shift
    SERVER_LOG=$(mktemp "${TMPDIR:-/tmp}/gpt2-edge-serve.XXXXXX.log")
    "$binary" serve --host 127.0.0.1 --port 0 "$@" >"$SERVER_LOG" 2>&1 &
    SERVER_PID=$!
    local deadline=$((SECONDS + SERVER_START_TIMEOUT)) line status
    while :; do
        line=$(grep -o 'listening on http://[^ ]*' "$SERVER_LOG" | head -n 1 || true)
        [ -n "$line" ] && break
        if ! server_alive "$SERVER_PID"; then
            echo "server exited before listening; its output:" >&2; sed 's/^/  | /' "$SERVER_LOG" >&2; return 1
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "no 'listening on' line within ${SERVER_START_TIMEOUT} s; output:" >&2; sed 's/^/  | /' "$SERVER_LOG" >&2
            return 1
        fi
        sleep 0.1
    done
    SERVER_ROOT="${line#listening on }"
    SERVER_ROOT="${SERVER_ROOT%/}"
    SERVER_PORT="${SERVER_ROOT##*:}"
    while :; do
        status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$SERVER_ROOT/health" || true)
        [ "$status" = 200 ] && break
        if ! server_alive "$SERVER_PID"; then
            echo "server exited while loading; its output:" >&2; sed 's/^/  | /' "$SERVER_LOG" >&2; return 1
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "/health still answers ${status:-nothing} after ${SERVER_START_TIMEOUT} s" >&2; return 1
        fi
        sleep 0.2
    done
    echo "server $SERVER_PID ready at $SERVER_ROOT (log: $SERVER_LOG)" >&2
}

# SIGTERM, then the exit status within SERVER_STOP_TIMEOUT seconds; a server that outlives it is killed and fails.
stop_server() {
    [ -n "$SERVER_PID" ] || return 0
    local pid="$SERVER_PID" deadline=$((SECONDS + SERVER_STOP_TIMEOUT)) rc
    kill -TERM "$pid" 2>/dev/null || true
    while server_alive "$pid"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "server $pid still running ${SERVER_STOP_TIMEOUT} s after SIGTERM: killed" >&2
            kill -KILL "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
            SERVER_PID=""
            return 1
        fi
        sleep 0.1
    done
    rc=0; wait "$pid" || rc=$?
    SERVER_PID=""
    if [ "$rc" -ne 0 ]; then
        echo "server exited with status $rc after SIGTERM (expected 0); last output:" >&2
        tail -n 20 "$SERVER_LOG" | sed 's/^/  | /' >&2
        return 1
    fi
    echo "server stopped cleanly on SIGTERM (exit 0)" >&2
}

# For an EXIT trap: whatever happened, leave no server behind.
stop_server_now() {
    if [ -n "$SERVER_PID" ] && server_alive "$SERVER_PID"; then
        local tries=50
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        while server_alive "$SERVER_PID" && [ "$tries" -gt 0 ]; do sleep 0.1; tries=$((tries - 1)); done
        if server_alive "$SERVER_PID"; then kill -KILL "$SERVER_PID" 2>/dev/null || true; fi
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=""
}

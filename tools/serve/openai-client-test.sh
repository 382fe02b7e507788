#!/usr/bin/env bash
# The OpenAI API through the real `openai` Python client: starts BINARY serve on loopback with the built-in model
# (--port 0 --api-key TESTKEY --parallel 2), waits for /health, runs tools/serve/openai_client_test.py with pytest,
# then stops the server with SIGTERM and fails unless it exits 0 within 15 s. Extra arguments go to pytest.
#
#   tools/serve/openai-client-test.sh .build/debug/gpt2-edge [-k stream]
set -euo pipefail
BINARY="${1:?usage: tools/serve/openai-client-test.sh BINARY [pytest arguments]}"; shift
BINARY=$(cd "$(dirname "$BINARY")" && pwd)/$(basename "$BINARY")
cd "$(dirname "$0")/../.."
python3 -c 'import openai, pytest' 2>/dev/null ||
    { echo "needs the openai and pytest packages: pip install -r tools/serve/requirements.txt" >&2; exit 1; }

. tools/serve/serve-lib.sh
trap stop_server_now EXIT
API_KEY=TESTKEY
start_server "$BINARY" --api-key "$API_KEY" --parallel 2

failed=0
GPT2EDGE_URL="$SERVER_ROOT/v1" GPT2EDGE_API_KEY="$API_KEY" \
    python3 -m pytest -v -p no:cacheprovider tools/serve/openai_client_test.py "$@" || failed=1
stop_server || failed=1
if [ "$failed" -ne 0 ]; then echo "FAILED (server log: $SERVER_LOG)" >&2; exit 1; fi
rm -f "$SERVER_LOG"
echo "openai client test: all passed"

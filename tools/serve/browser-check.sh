#!/usr/bin/env bash
# The web page in a real browser: starts BINARY serve on loopback with the built-in model and an API key, then
# tools/serve/browser_check.py drives Debian's headless Chromium over the DevTools protocol: types a prompt, sees
# Generate refused without the key, enters the key, checks that #output grows while streaming and ends non-empty
# and that #stats shows tokens/s, checks the key survives a reload and that Stop ends a long run. Saves a
# screenshot to $SCREENSHOT (default /tmp/gpt2-edge-page.png) and prints a description of the page. Stops the
# server with SIGTERM (it must exit 0); Chromium and the server are gone when it returns, whatever happened.
#
#   tools/serve/browser-check.sh .build/debug/gpt2-edge
set -euo pipefail
BINARY="${1:?usage: tools/serve/browser-check.sh BINARY}"
BINARY=$(cd "$(dirname "$BINARY")" && pwd)/$(basename "$BINARY")
cd "$(dirname "$0")/../.."
python3 -c 'import aiohttp' 2>/dev/null ||
    { echo "needs the aiohttp package: pip install -r tools/serve/requirements.txt" >&2; exit 1; }
command -v "${CHROMIUM:-/usr/bin/chromium}" >/dev/null || { echo "needs Chromium: apt install chromium" >&2; exit 1; }

. tools/serve/serve-lib.sh
trap stop_server_now EXIT
API_KEY=PAGEKEY
start_server "$BINARY" --api-key "$API_KEY" --parallel 2

failed=0
python3 tools/serve/browser_check.py --url "$SERVER_ROOT/" --api-key "$API_KEY" \
    --screenshot "${SCREENSHOT:-/tmp/gpt2-edge-page.png}" || failed=1
stop_server || failed=1
if [ "$failed" -ne 0 ]; then echo "FAILED (server log: $SERVER_LOG)" >&2; exit 1; fi
rm -f "$SERVER_LOG"

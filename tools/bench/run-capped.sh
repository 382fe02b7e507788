#!/usr/bin/env bash
# Runs a command under a hard memory limit in its own cgroup (v2 or v1, as Debian mounts them) and reports the
# cgroup's peak memory use. Needs root. Swap is limited too, so going over the cap means being killed, not paging.
#
#   sudo tools/bench/run-capped.sh 256M .build/release/gpt2-edge generate -m gpt2-xl-q4.gqz --low-memory -p "Hello" -n 64
#
# Prints "peak N MiB under a cap of M MiB" on standard error and exits with the command's status
# (137 when the kernel's OOM killer ended it).
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: tools/bench/run-capped.sh SIZE COMMAND [ARGS...]   (SIZE like 256M, 1G)" >&2; exit 64; }
[ "$(id -u)" = 0 ] || { echo "tools/bench/run-capped.sh needs root (it creates a cgroup)" >&2; exit 1; }
size=$1; shift
bytes=$(python3 -c "
import re, sys
m = re.fullmatch(r'([0-9.]+)\s*([KMG]?)(i?B)?', sys.argv[1].strip(), re.I)
if not m: sys.exit('not a size: ' + sys.argv[1])
print(int(float(m.group(1)) * {'': 1, 'K': 1024, 'M': 1024**2, 'G': 1024**3}[m.group(2).upper()]))" "$size")
name="gpt2-edge-capped-$$"
if [ -f /sys/fs/cgroup/cgroup.controllers ]; then          # cgroup v2
    group=/sys/fs/cgroup/$name
    mkdir "$group"
    echo "$bytes" > "$group/memory.max"
    echo 0 > "$group/memory.swap.max" 2>/dev/null || true
    peak_file=$group/memory.peak
else                                                         # cgroup v1
    group=/sys/fs/cgroup/memory/$name
    mkdir "$group"
    echo "$bytes" > "$group/memory.limit_in_bytes"
    echo "$bytes" > "$group/memory.memsw.limit_in_bytes" 2>/dev/null || true
    peak_file=$group/memory.max_usage_in_bytes
fi
cleanup() { rmdir "$group" 2>/dev/null || true; }
trap cleanup EXIT
set +e
sh -c 'echo $$ > "$1/cgroup.procs"; shift; exec "$@"' run-capped "$group" "$@"
status=$?
set -e
peak=$(cat "$peak_file" 2>/dev/null || echo 0)
python3 -c "import sys; print('peak %.1f MiB under a cap of %.1f MiB' % (int(sys.argv[1]) / 2**20, int(sys.argv[2]) / 2**20), file=sys.stderr)" "$peak" "$bytes"
exit $status

#!/usr/bin/env bash
# Runs the aarch64 integer dot product (`sdot`, in Sources/CKernelSupport/include/kernel_support.h) and its plain C
# twin under qemu, against a scalar loop (tools/aarch64/dot-u8s8-test.c). No aarch64 Swift toolchain is needed: the
# Swift loops around the helper are the same on every CPU and are tested natively.
#
#   tools/aarch64/test.sh        # needs gcc-aarch64-linux-gnu and qemu-user (Debian: apt-get install them)
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v aarch64-linux-gnu-gcc > /dev/null && command -v qemu-aarch64 > /dev/null || {
    echo "tools/aarch64/test.sh needs aarch64-linux-gnu-gcc and qemu-aarch64 (apt-get install gcc-aarch64-linux-gnu qemu-user)" >&2
    exit 1
}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for arch in armv8.2-a+dotprod armv8-a; do
    aarch64-linux-gnu-gcc -O2 -static -march="$arch" -Wall -Werror tools/aarch64/dot-u8s8-test.c -o "$out/dot-$arch"
    printf '%-20s ' "$arch:"
    qemu-aarch64 -cpu max "$out/dot-$arch"
done

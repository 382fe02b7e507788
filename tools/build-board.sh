#!/usr/bin/env bash
# The build for a board: gpt2-edge and gpt2-edge-server with the Swift runtime, Foundation, libstdc++ and zstd
# linked into them, so a board needs only libc, libm and libgcc_s (any glibc Linux of the build machine's glibc
# or later), and linked so that fewer of their pages are resident while they run:
#
#   tools/build-board.sh [--native] [--scratch-path DIR] [extra swift build arguments]
#
# --native builds for this machine's CPU (-target-cpu native: the integer dot-product kernels); without it the
# programs run on any CPU of the architecture. The programs land in DIR/release (default .build-board/release); copy
# both to the board, into one folder (`gpt2-edge serve` runs gpt2-edge-server from beside itself).
#
# What the link flags save, measured on the built-in model's `generate --low-memory` (docs/measurements.md):
# - --no-export-dynamic: Swift's static-stdlib link exports every symbol of the program, and the dynamic loader
#   reads that table (0.9 MiB resident) though nothing looks symbols up in a program of ours.
# - lld with -z pack-relative-relocs (DT_RELR, glibc 2.36 or later): the 104,000 relative relocations of a
#   position-independent program are 2.5 MB of table the loader reads at every start; packed they are 20 KB. On an
#   older glibc the programs are linked without it (the loader would refuse DT_RELR) and keep the table.
# - libstdc++ and libzstd from their static archives: only what the programs call, and no symbol tables to read.
set -euo pipefail
cd "$(dirname "$0")/.."

scratch=.build-board
native=()
while [ $# -gt 0 ]; do
    case $1 in
        --native) native=(-Xswiftc -target-cpu -Xswiftc native); shift ;;
        --scratch-path) scratch=$2; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) break ;;
    esac
done

flags=(-c release --static-swift-stdlib --scratch-path "$scratch" -Xlinker --no-export-dynamic)

# DT_RELR needs lld (Swift's toolchain has it) and glibc 2.36 or later where the programs run; this script assumes
# they run on this machine's glibc or a later one.
glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')
if [ -n "$glibc" ] && printf '2.36\n%s\n' "$glibc" | sort -V -C; then
    flags+=(-Xswiftc -use-ld=lld -Xlinker -z -Xlinker pack-relative-relocs)
    echo "glibc $glibc: packed relative relocations (lld, DT_RELR)" >&2
else
    echo "glibc ${glibc:-unknown}: older than 2.36, relocations left unpacked (the loader would refuse DT_RELR)" >&2
fi

# `-lstdc++` and `-lzstd` resolve to the static archives when a folder holding only those comes first on the
# linker's search path.
archives="$scratch/static-archives"
mkdir -p "$archives"
for name in libstdc++.a libzstd.a; do
    # The C compiler's search path finds them where the linker would (Debian's libzstd.pc names the wrong folder).
    archive=$(${CC:-cc} -print-file-name="$name" 2>/dev/null || true)
    if [ -f "$archive" ]; then
        ln -sf "$(readlink -f "$archive")" "$archives/$name"
    else
        echo "no $name here: that library stays shared" >&2
    fi
done
flags+=(-Xlinker -L -Xlinker "$(cd "$archives" && pwd)")

for product in gpt2-edge gpt2-edge-server; do
    swift build "${flags[@]}" "${native[@]}" "$@" --product "$product"
done
out="$scratch/release"
for product in gpt2-edge gpt2-edge-server; do
    echo "$out/$product: $(du -h "$out/$product" | cut -f1), needs: $(ldd "$out/$product" | awk '/=>/ {print $1}' | tr '\n' ' ')" >&2
done

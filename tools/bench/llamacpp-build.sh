#!/usr/bin/env bash
# Builds llama.cpp tools in a source tree, for tools/bench/llamacpp.sh and tools/bench/serve.sh.
#
#   tools/bench/llamacpp-build.sh DIR [TARGET…]      (default targets: llama-bench llama-quantize llama-server)
#
# DIR is a llama.cpp source tree: a git clone, or vendor/llama.cpp of the llama-cpp-python sdist from PyPI
# (`pip download --no-deps --no-binary llama-cpp-python llama-cpp-python`, then unpack it outside this repository).
# Builds in DIR/build (cmake, Release, GGML_NATIVE, no curl / OpenSSL, no tests or examples; the server without its
# web UI, whose assets would be downloaded) only the targets whose binary DIR/build/bin lacks, at nice 19 with
# $JOBS jobs (default: all cores), and prints DIR/build/bin.
set -euo pipefail
[ $# -ge 1 ] && [ -f "$1/CMakeLists.txt" ] || { echo "usage: $0 LLAMA_CPP_DIR [TARGET…]" >&2; exit 64; }
LLAMA="$1"; shift
TARGETS=("$@"); [ ${#TARGETS[@]} -gt 0 ] || TARGETS=(llama-bench llama-quantize llama-server)
BIN="$LLAMA/build/bin"
MISSING=()
for target in "${TARGETS[@]}"; do [ -x "$BIN/$target" ] || MISSING+=("$target"); done
if [ ${#MISSING[@]} -gt 0 ]; then
    echo "building ${MISSING[*]} in $LLAMA/build" >&2
    nice -n 19 cmake -S "$LLAMA" -B "$LLAMA/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DLLAMA_CURL=OFF \
        -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
        -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF >&2
    nice -n 19 cmake --build "$LLAMA/build" --target "${MISSING[@]}" -j "${JOBS:-$(nproc)}" >&2
fi
echo "$BIN"

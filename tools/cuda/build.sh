#!/usr/bin/env bash
# Compiles the optional CUDA int8 path (Sources/CUDAInt8/cuda/*.cu) into .build/cuda/libgpt2edge_cuda.so with nvcc.
# No GPU is needed to build it. nvcc and the CUDA headers come from PyPI (NVIDIA's wheels) into .build/cuda-toolkit
# unless NVCC points at an installed one. The CUDA runtime is linked statically, so the library needs only the
# NVIDIA driver (libcuda.so) at run time; without one, gpt2-edge --device cuda says so and --device auto uses the CPU.
#
#   tools/cuda/build.sh [--arch "80 86 89 90"]
#   tools/cuda/build.sh --emulate  the same sources compiled for the CPU against tools/cuda/emulator, into
#                                  .build/cuda-emulated/libgpt2edge_cuda.so: no nvcc, no GPU; for tests
#   tools/cuda/build.sh --emulate --sanitize
#                                  the same with AddressSanitizer, into .build/cuda-emulated-asan/, to catch
#                                  out-of-bounds device memory accesses; run a program with it as
#                                  LD_PRELOAD=$(cat .build/cuda-emulated-asan/asan-runtime) ASAN_OPTIONS=detect_leaks=0
#                                  GPT2EDGE_CUDA_LIBRARY=.build/cuda-emulated-asan/libgpt2edge_cuda.so gpt2-edge … --device cuda
set -euo pipefail
cd "$(dirname "$0")/../.."
ARCHS="75 80 86 89 90"   # CUDA 13 builds for Turing (7.5) and newer
EMULATE=0
SANITIZE=0
while [ $# -gt 0 ]; do
    case "$1" in
        --arch) ARCHS="$2"; shift 2 ;;
        --emulate) EMULATE=1; shift ;;
        --sanitize) SANITIZE=1; shift ;;
        *) echo "unknown option $1" >&2; exit 64 ;;
    esac
done
[ $SANITIZE = 0 ] || [ $EMULATE = 1 ] || { echo "--sanitize goes with --emulate" >&2; exit 64; }
if [ $EMULATE = 1 ]; then
    CXX=${CXX:-$(command -v c++ || command -v clang++ || true)}
    [ -n "$CXX" ] || { echo "tools/cuda/build.sh --emulate needs a C++ compiler (c++ or clang++)" >&2; exit 1; }
    folder=.build/cuda-emulated; flags=(-O2)
    if [ $SANITIZE = 1 ]; then folder=.build/cuda-emulated-asan; flags=(-O1 -fsanitize=address -fno-omit-frame-pointer); fi
    mkdir -p $folder
    output=$folder/libgpt2edge_cuda.so
    sources=()
    for cu in Sources/CUDAInt8/cuda/*.cu; do
        cpp=$folder/$(basename "$cu" .cu).cpp
        python3 tools/cuda/emulator/rewrite.py "$cu" "$cpp"
        sources+=("$cpp")
    done
    "$CXX" "${flags[@]}" -g -std=c++17 -shared -fPIC -Wall -Wno-unused-function -Wno-sign-compare -I tools/cuda/emulator -I Sources/CUDAInt8/include -o "$output.tmp" "${sources[@]}"
    mv "$output.tmp" "$output"
    if [ $SANITIZE = 1 ]; then   # the runtime a program must preload to use the library (tests read this file)
        rm -f $folder/asan-runtime
        names=(libasan.so); "$CXX" --version | grep -q clang && names=("libclang_rt.asan-$(uname -m).so")   # the compiler's own
        for name in "${names[@]}"; do
            runtime=$("$CXX" -print-file-name="$name")
            if [ -f "$runtime" ]; then echo "$runtime" > $folder/asan-runtime; break; fi
        done
        [ -f $folder/asan-runtime ] || { echo "no AddressSanitizer runtime found beside $CXX" >&2; exit 1; }
    fi
    echo "built $output (CPU emulation); exports: $(nm -D --defined-only "$output" | grep -c ' T g2e_impl_') g2e_impl_* functions" >&2
    exit 0
fi
TOOLKIT=.build/cuda-toolkit
if [ -z "${NVCC:-}" ]; then
    NVCC=$TOOLKIT/nvidia/cu13/bin/nvcc
    if [ ! -x "$NVCC" ]; then
        echo "installing nvcc and the CUDA headers from PyPI into $TOOLKIT" >&2
        python3 -m pip install --quiet --disable-pip-version-check --target "$TOOLKIT" \
            nvidia-cuda-nvcc nvidia-cuda-runtime nvidia-cuda-crt nvidia-cuda-cccl
    fi
fi
mkdir -p .build/cuda
gencode=()
for arch in $ARCHS; do gencode+=(-gencode "arch=compute_$arch,code=sm_$arch"); done
output=.build/cuda/libgpt2edge_cuda.so
"$NVCC" -O3 -std=c++17 -I Sources/CUDAInt8/include -shared -Xcompiler -fPIC -cudart static "${gencode[@]}" -o "$output.tmp" Sources/CUDAInt8/cuda/*.cu
mv "$output.tmp" "$output"
echo "built $output ($(du -h "$output" | cut -f1)); exports: $(nm -D --defined-only "$output" | grep -c ' T g2e_impl_') g2e_impl_* functions" >&2

// A CPU emulation of the CUDA runtime and execution model, only as much of it as Sources/CUDAInt8/cuda uses, so that
// the .cu code runs, unchanged, on a machine without a GPU and its results can be compared with the CPU path.
// tools/cuda/build.sh --emulate rewrites each `kernel<<<grid, block, shared>>>(args)` into `g2e_emu::launch(...)` and
// compiles the sources with the host C++ compiler against this header.
//
// Execution model: blocks run one after another; the threads of a block are fibers (their own stacks, switched by
// hand) that run in turn up to each __syncthreads() or warp shuffle, which therefore act as barriers. Device memory is
// host memory. What it checks that a real GPU would also refuse: more than 1024 threads per block, more than 48 KiB of
// dynamic shared memory, a shuffle that reads a lane that has exited. What it cannot show: speed, races, the memory
// model. Its state (the fibers, the current thread and block, the shared memory) is per OS thread, so launches from
// several threads at once (the test suites run in parallel in one process) do not see each other's fibers.
#pragma once
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <functional>

#include "cuda_fp16.h"

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static thread_local   // blocks run one at a time (per OS thread), so one array serves every block

struct uint3 { unsigned x, y, z; };
struct int4 { int x, y, z, w; };
struct dim3 {
    unsigned x, y, z;
    dim3(unsigned x = 1, unsigned y = 1, unsigned z = 1) : x(x), y(y), z(z) {}
};

// ---------------------------------------------------------------- runtime API

enum cudaError_t { cudaSuccess = 0, cudaErrorInvalidValue = 1, cudaErrorMemoryAllocation = 2, cudaErrorInvalidConfiguration = 9 };
enum cudaMemcpyKind { cudaMemcpyHostToHost, cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice };

struct cudaDeviceProp {
    char name[256];
    int major, minor;
    size_t totalGlobalMem;
};

namespace g2e_emu {
inline thread_local cudaError_t last_error = cudaSuccess;
}

static inline const char *cudaGetErrorString(cudaError_t error) {
    switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    }
    return "unknown error";
}
static inline cudaError_t cudaGetLastError() { cudaError_t e = g2e_emu::last_error; g2e_emu::last_error = cudaSuccess; return e; }
static inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }
static inline cudaError_t cudaGetDeviceCount(int *count) { *count = 1; return cudaSuccess; }
static inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int device) {
    if (device != 0) return cudaErrorInvalidValue;
    snprintf(p->name, sizeof p->name, "CPU emulation (tools/cuda/emulator)");
    p->major = 7; p->minor = 5; p->totalGlobalMem = (size_t)16 << 30;
    return cudaSuccess;
}
template <typename T> static inline cudaError_t cudaMalloc(T **pointer, size_t bytes) {
    *pointer = (T *)malloc(bytes ? bytes : 1);
    return *pointer ? cudaSuccess : cudaErrorMemoryAllocation;
}
static inline cudaError_t cudaFree(void *pointer) { free(pointer); return cudaSuccess; }
static inline cudaError_t cudaMemcpy(void *to, const void *from, size_t bytes, cudaMemcpyKind) { memcpy(to, from, bytes); return cudaSuccess; }
static inline cudaError_t cudaMemset(void *to, int value, size_t bytes) { memset(to, value, bytes); return cudaSuccess; }

// ---------------------------------------------------------------- device intrinsics

static inline float rsqrtf(float x) { return 1.0f / sqrtf(x); }

/// Four signed byte products of a and b, summed, plus c.
static inline int __dp4a(int a, int b, int c) {
    for (int i = 0; i < 4; i++) c += (int)(int8_t)(a >> (8 * i)) * (int)(int8_t)(b >> (8 * i));
    return c;
}

// ---------------------------------------------------------------- fibers

namespace g2e_emu {

/// Saves the callee-saved registers and the stack pointer in *save, then resumes the fiber whose stack pointer is load.
extern "C" void g2e_emu_switch(void **save, void *load);

#if defined(__x86_64__)
__asm__(R"(
    .text
    .hidden g2e_emu_switch
    .globl g2e_emu_switch
    .type g2e_emu_switch, @function
g2e_emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size g2e_emu_switch, .-g2e_emu_switch
)");
constexpr int saved_words = 6;   // then the return address
#elif defined(__aarch64__)
__asm__(R"(
    .text
    .hidden g2e_emu_switch
    .globl g2e_emu_switch
    .type g2e_emu_switch, %function
g2e_emu_switch:
    sub sp, sp, #160
    stp x19, x20, [sp, #0]
    stp x21, x22, [sp, #16]
    stp x23, x24, [sp, #32]
    stp x25, x26, [sp, #48]
    stp x27, x28, [sp, #64]
    stp x29, x30, [sp, #80]
    stp d8, d9, [sp, #96]
    stp d10, d11, [sp, #112]
    stp d12, d13, [sp, #128]
    stp d14, d15, [sp, #144]
    mov x9, sp
    str x9, [x0]
    mov sp, x1
    ldp x19, x20, [sp, #0]
    ldp x21, x22, [sp, #16]
    ldp x23, x24, [sp, #32]
    ldp x25, x26, [sp, #48]
    ldp x27, x28, [sp, #64]
    ldp x29, x30, [sp, #80]
    ldp d8, d9, [sp, #96]
    ldp d10, d11, [sp, #112]
    ldp d12, d13, [sp, #128]
    ldp d14, d15, [sp, #144]
    add sp, sp, #160
    ret
    .size g2e_emu_switch, .-g2e_emu_switch
)");
#else
#error "tools/cuda/emulator switches fibers on x86-64 and aarch64 only"
#endif

constexpr size_t stack_bytes = 64 << 10;
constexpr size_t shared_limit = 48 << 10;

struct Fiber {
    void *sp = nullptr;
    char *stack = nullptr;
    bool done = false;
};

inline thread_local Fiber fibers[1024];
inline thread_local void *scheduler_sp = nullptr;
inline thread_local unsigned current = 0, block_threads = 0;
inline thread_local const std::function<void()> *body = nullptr;
inline thread_local uint3 thread_index, block_index;
inline thread_local dim3 block_dim, grid_dim;
alignas(16) inline thread_local unsigned char dynamic_shared[shared_limit];
inline thread_local float shuffle_slots[1024];

[[noreturn]] static void fiber_entry() {
    (*body)();
    fibers[current].done = true;
    g2e_emu_switch(&fibers[current].sp, scheduler_sp);
    abort();   // a finished fiber is never resumed
}

/// Gives the other threads of the block their turn: every live thread reaches the same point before any goes on.
static inline void yield() { g2e_emu_switch(&fibers[current].sp, scheduler_sp); }

static inline void fail(const char *what) {
    fprintf(stderr, "tools/cuda/emulator: %s (block %u,%u thread %u)\n", what, block_index.x, block_index.y, current);
    abort();
}

static void start(Fiber &fiber) {
    if (!fiber.stack) fiber.stack = (char *)malloc(stack_bytes);
    uintptr_t top = ((uintptr_t)fiber.stack + stack_bytes) & ~(uintptr_t)15;
    void **frame = (void **)top;
#if defined(__x86_64__)
    *--frame = nullptr;                         // fiber_entry's return address: never used
    *--frame = (void *)&fiber_entry;            // where g2e_emu_switch's `ret` goes
    for (int i = 0; i < saved_words; i++) *--frame = nullptr;
#else
    frame -= 20;                                // the 160 bytes g2e_emu_switch restores: x19…x30, d8…d15
    memset(frame, 0, 160);
    frame[11] = (void *)&fiber_entry;           // x30, the link register `ret` jumps to
#endif
    fiber.sp = frame;
    fiber.done = false;
}

static void run_block(unsigned threads) {
    block_threads = threads;
    for (unsigned i = 0; i < threads; i++) start(fibers[i]);
    unsigned live = threads;
    while (live > 0) {
        for (unsigned i = 0; i < threads; i++) {
            if (fibers[i].done) continue;
            current = i;
            thread_index = {i % block_dim.x, (i / block_dim.x) % block_dim.y, i / (block_dim.x * block_dim.y)};
            g2e_emu_switch(&scheduler_sp, fibers[i].sp);
            if (fibers[i].done) live--;
        }
    }
}

struct Config {
    dim3 grid, block;
    size_t shared = 0;
};

/// Runs `kernel` (a call of the __global__ function with its arguments) on every thread of every block of `config`.
static void launch(Config config, const std::function<void()> &kernel) {
    unsigned threads = config.block.x * config.block.y * config.block.z;
    if (threads == 0 || threads > 1024 || config.shared > shared_limit || config.grid.x == 0 || config.grid.y == 0 ||
        config.grid.z == 0 || config.grid.y > 65535 || config.grid.z > 65535) {
        last_error = cudaErrorInvalidConfiguration;
        return;
    }
    body = &kernel;
    block_dim = config.block;
    grid_dim = config.grid;
    for (unsigned z = 0; z < config.grid.z; z++)
        for (unsigned y = 0; y < config.grid.y; y++)
            for (unsigned x = 0; x < config.grid.x; x++) {
                block_index = {x, y, z};
                run_block(threads);
            }
}

}  // namespace g2e_emu

#define threadIdx (g2e_emu::thread_index)
#define blockIdx (g2e_emu::block_index)
#define blockDim (g2e_emu::block_dim)
#define gridDim (g2e_emu::grid_dim)

static inline void __syncthreads() { g2e_emu::yield(); }

/// The value `delta` lanes up in the same warp (the caller's own value past the warp's end), as on the GPU.
template <typename T> static inline T __shfl_down_sync(unsigned, T value, unsigned delta) {
    static_assert(sizeof(T) == 4, "32-bit shuffles only");
    using g2e_emu::current;
    memcpy(&g2e_emu::shuffle_slots[current], &value, 4);
    g2e_emu::yield();
    unsigned source = current + delta;
    T result = value;
    if (current % 32 + delta < 32) {
        if (source >= g2e_emu::block_threads || g2e_emu::fibers[source].done) g2e_emu::fail("__shfl_down_sync reads a lane that has exited");
        memcpy(&result, &g2e_emu::shuffle_slots[source], 4);
    }
    g2e_emu::yield();
    return result;
}

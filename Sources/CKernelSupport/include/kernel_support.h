#ifndef GPT2EDGE_KERNEL_SUPPORT_H
#define GPT2EDGE_KERNEL_SUPPORT_H

#include <stdint.h>

/// Asks the CPU to start loading the cache line at `address` for reading (a hint; never faults).
/// Swift has no prefetch intrinsic; this header-only function inlines into the Kernels loops.
static inline __attribute__((always_inline)) void gpt2edge_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

/// Tells the CPU this thread is in a spin-wait loop (x86 `pause`, ARM `yield`): the loop then uses less power and
/// leaves more of the core to a sibling thread. A hint with no other effect; Swift has no way to say it.
static inline __attribute__((always_inline)) void gpt2edge_spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

/// Nanoseconds the calling thread has spent runnable but waiting for a CPU, i.e. while another thread or process
/// ran in its place (Linux's /proc/thread-self/schedstat); -1 where the system does not say. The thread pool reads it
/// to tell whether another process shares its cores.
int64_t gpt2edge_thread_wait_nanoseconds(void);

/// 1 when the CPU the code is compiled for has a fused multiply-add instruction (x86 with FMA, i.e. a
/// `-target-cpu` of Haswell or later; every aarch64), else 0. Swift sees the same target CPU as this header,
/// and `SIMD.addProduct` on a target without FMA becomes one `fmaf` library call per lane, so the kernels
/// use it only where this is 1 and a multiply then an add elsewhere.
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA) || defined(__aarch64__)
#define GPT2EDGE_HAS_FMA 1
#else
#define GPT2EDGE_HAS_FMA 0
#endif

/// 1 when the CPU the code is compiled for has an integer dot-product instruction: x86 AVX512-VNNI (Ice Lake,
/// Zen 4 and later; `vpdpbusd`, 64 bytes at once) or Arm's dot product (`sdot`: Cortex-A76 and later, so the
/// Raspberry Pi 5 and RK3588 boards, not the Pi 4), else 0. `MatrixKernel.preferred` picks the integer kernels
/// only where this is 1; elsewhere `gpt2edge_dot_u8s8` is the plain C loop below, which the tests still run.
#if defined(__AVX512VNNI__) && defined(__AVX512BW__) && defined(__AVX512F__)
#define GPT2EDGE_HAS_INT8_DOT 1
#define GPT2EDGE_INT8_DOT_VNNI 1
#define GPT2EDGE_INT8_DOT_KIND 1
#elif defined(__aarch64__) && defined(__ARM_FEATURE_DOTPROD)
#define GPT2EDGE_HAS_INT8_DOT 1
#define GPT2EDGE_INT8_DOT_SDOT 1
#define GPT2EDGE_INT8_DOT_KIND 2
#include <arm_neon.h>
#else
#define GPT2EDGE_HAS_INT8_DOT 0
#define GPT2EDGE_INT8_DOT_KIND 0
#endif
// GPT2EDGE_INT8_DOT_KIND names the instruction for Swift (which cannot test a macro's presence):
// 0 the plain C loop, 1 AVX512-VNNI `vpdpbusd`, 2 Arm `sdot`.

/// `accumulator[l] += Σ_k weights[4l + k] · activations[k]` for the 16 Int32 lanes l and k in 0..<4: 64 unsigned
/// weight bytes (four columns of 16 rows) times the same four signed activation bytes in every lane.
/// Swift SIMD cannot name `vpdpbusd` or `sdot` (portable vector code becomes `vpmulld` and shuffles,
/// docs/measurements.md), so these instructions live here; the loops around them are Swift. Pointers, not vectors,
/// because Swift imports C vectors of at most four lanes; after inlining the accumulator stays in a register.
static inline __attribute__((always_inline))
void gpt2edge_dot_u8s8(void *accumulator, const void *weights, int32_t activations) {
#if defined(GPT2EDGE_INT8_DOT_VNNI)
    typedef int32_t lanes __attribute__((vector_size(64), aligned(1)));
    lanes sum = *(const lanes *)accumulator, bytes = *(const lanes *)weights;
    lanes broadcast = { activations, activations, activations, activations, activations, activations, activations, activations,
                        activations, activations, activations, activations, activations, activations, activations, activations };
    *(lanes *)accumulator = __builtin_ia32_vpdpbusd512(sum, bytes, broadcast);
#elif defined(GPT2EDGE_INT8_DOT_SDOT)
    // `sdot` multiplies signed bytes. An unsigned byte w is (w ^ 0x80) + 128 read as signed, so
    // Σ_k w_k · a_k = sdot(w ^ 0x80, a) + 128 · Σ_k a_k; four `sdot`s of 16 bytes cover the 16 lanes.
    int8_t s[4];
    __builtin_memcpy(s, &activations, 4);
    const int32x4_t correction = vdupq_n_s32(128 * (s[0] + s[1] + s[2] + s[3]));
    const int8x16_t broadcast = vreinterpretq_s8_s32(vdupq_n_s32(activations));
    const uint8x16_t flip = vdupq_n_u8(0x80);
    int32_t *sum = (int32_t *)accumulator;
    const uint8_t *u = (const uint8_t *)weights;
    for (int q = 0; q < 4; q++) {
        int8x16_t w = vreinterpretq_s8_u8(veorq_u8(vld1q_u8(u + 16 * q), flip));
        vst1q_s32(sum + 4 * q, vaddq_s32(vdotq_s32(vld1q_s32(sum + 4 * q), w, broadcast), correction));
    }
#else
    int32_t *sum = (int32_t *)accumulator;
    const uint8_t *u = (const uint8_t *)weights;
    int8_t s[4];
    __builtin_memcpy(s, &activations, 4);
    for (int l = 0; l < 16; l++) {
        sum[l] += u[4 * l] * s[0] + u[4 * l + 1] * s[1] + u[4 * l + 2] * s[2] + u[4 * l + 3] * s[3];
    }
#endif
}

#endif

#ifndef GPT2EDGE_KERNEL_SUPPORT_H
#define GPT2EDGE_KERNEL_SUPPORT_H

/// Asks the CPU to start loading the cache line at `address` for reading (a hint; never faults).
/// Swift has no prefetch intrinsic; this header-only function inlines into the Kernels loops.
static inline __attribute__((always_inline)) void gpt2edge_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

/// 1 when the CPU the code is compiled for has a fused multiply-add instruction (x86 with FMA, i.e. a
/// `-target-cpu` of Haswell or later; every aarch64), else 0. Swift sees the same target CPU as this header,
/// and `SIMD.addProduct` on a target without FMA becomes one `fmaf` library call per lane, so the kernels
/// use it only where this is 1 and a multiply then an add elsewhere.
#if defined(__FMA__) || defined(__ARM_FEATURE_FMA) || defined(__aarch64__)
#define GPT2EDGE_HAS_FMA 1
#else
#define GPT2EDGE_HAS_FMA 0
#endif

#endif

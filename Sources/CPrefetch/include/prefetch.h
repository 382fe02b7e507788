#ifndef GPT2EDGE_PREFETCH_H
#define GPT2EDGE_PREFETCH_H

/// Asks the CPU to start loading the cache line at `address` for reading (a hint; never faults).
/// Swift has no prefetch intrinsic; this header-only function inlines into the Kernels loops.
static inline __attribute__((always_inline)) void gpt2edge_prefetch(const void *address) {
    __builtin_prefetch(address, 0, 3);
}

#endif

// glibc's allocator settings for gpt2-edge and gpt2-edge-server (CLISupport/AllocatorSettings.swift says why):
// <malloc.h> is not in Swift's Glibc module.
#pragma once

#if defined(__linux__)
#include <malloc.h>   /* defines __GLIBC__ (through <features.h>) when the C library is glibc */
#endif

/// Allocations of at least `mmap_threshold` bytes get their own mapping; the heap is trimmed only past
/// `trim_threshold` free bytes at its top (setting both turns off glibc's moving thresholds); at most `arenas` heaps
/// serve the threads. Returns 0 where the allocator is not glibc's (nothing changes), 1 when all three were set.
static inline int gpt2edge_set_allocator(int mmap_threshold, int trim_threshold, int arenas) {
#if defined(__GLIBC__)
    return mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1 && mallopt(M_TRIM_THRESHOLD, trim_threshold) == 1
        && mallopt(M_ARENA_MAX, arenas) == 1;
#else
    (void)mmap_threshold; (void)trim_threshold; (void)arenas;
    return 0;
#endif
}

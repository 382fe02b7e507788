// Checks `gpt2edge_dot_u8s8` (Sources/CKernelSupport/include/kernel_support.h) against a scalar loop on random and
// extreme bytes. Built for aarch64 by tools/aarch64/test.sh and run under qemu: with `+dotprod` it runs the `sdot`
// path, without it the plain C loop. Prints which path ran; exits 1 on the first mismatch.
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include "../../Sources/CKernelSupport/include/kernel_support.h"

static uint64_t state = 0x9E3779B97F4A7C15ull;
static uint32_t next(void) { state ^= state << 13; state ^= state >> 7; state ^= state << 17; return (uint32_t)state; }

int main(void) {
    const uint8_t extremes[] = { 0, 1, 127, 128, 129, 255 };
    for (int trial = 0; trial < 20000; trial++) {
        uint8_t weights[64];
        int8_t activations[4];
        int32_t accumulator[16], expected[16];
        for (int i = 0; i < 64; i++) weights[i] = trial < 1000 ? extremes[next() % 6] : (uint8_t)next();
        for (int k = 0; k < 4; k++) activations[k] = trial < 1000 ? (int8_t)extremes[next() % 6] : (int8_t)next();
        for (int l = 0; l < 16; l++) expected[l] = accumulator[l] = (int32_t)(next() % 2000001) - 1000000;
        for (int l = 0; l < 16; l++)
            for (int k = 0; k < 4; k++) expected[l] += weights[4 * l + k] * activations[k];
        int32_t packed;
        memcpy(&packed, activations, 4);
        gpt2edge_dot_u8s8(accumulator, weights, packed);
        for (int l = 0; l < 16; l++) {
            if (accumulator[l] != expected[l]) {
                printf("trial %d lane %d: %d, expected %d\n", trial, l, accumulator[l], expected[l]);
                return 1;
            }
        }
    }
#if defined(GPT2EDGE_INT8_DOT_SDOT)
    printf("sdot path (GPT2EDGE_HAS_INT8_DOT = %d): 20000 random and extreme cases match the scalar loop\n", GPT2EDGE_HAS_INT8_DOT);
#else
    printf("plain C loop (GPT2EDGE_HAS_INT8_DOT = %d): 20000 random and extreme cases match the scalar loop\n", GPT2EDGE_HAS_INT8_DOT);
#endif
    return 0;
}

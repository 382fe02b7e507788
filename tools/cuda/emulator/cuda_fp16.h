// CPU emulation of the part of <cuda_fp16.h> that Sources/CUDAInt8/cuda uses: __half as IEEE binary16 bits.
// Part of tools/cuda/emulator (see cuda_runtime.h there).
#pragma once
#include <stdint.h>
#include <string.h>

struct __half { uint16_t bits; };

static inline float __half2float(__half h) {
    uint32_t sign = (uint32_t)(h.bits & 0x8000) << 16, exponent = (h.bits >> 10) & 0x1f, mantissa = h.bits & 0x3ff, bits;
    if (exponent == 0x1f) {
        bits = sign | 0x7f800000 | (mantissa << 13);                  // infinity, NaN
    } else if (exponent != 0) {
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);    // normal: rebias 15 -> 127
    } else if (mantissa == 0) {
        bits = sign;                                                  // ±0
    } else {                                                          // subnormal: normalize
        int shift = 0;
        while (!(mantissa & 0x400)) { mantissa <<= 1; shift++; }
        bits = sign | ((uint32_t)(113 - shift) << 23) | ((mantissa & 0x3ff) << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

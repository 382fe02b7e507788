/// exp and tanh over 16 lanes at a time, for softmax and the tanh-GELU family. libm's scalar `expf`/`tanhf`
/// were ~4% of gpt2 decode; these are within 2 ulp of them (Cephes' expf polynomial, as ggml and
/// Eigen use), which the kernel tests check against Double references.

/// e^x per lane; lanes below −87.3 give 0, above 88.7 give +∞.
@inline(__always)
func vectorExp(_ x: SIMD16<Float>) -> SIMD16<Float> {
    let clamped = clamp(x, -87.33654, 88.72283)
    // e^x = 2^n · e^r with n = round(x / ln 2) and r = x − n·ln 2 (ln 2 split in two for exactness).
    // Adding 1.5·2^23 rounds to an integer and leaves n in the low mantissa bits (no Float→Int conversion,
    // whose range checks kept the loop scalar).
    let shifted = clamped * 1.442695041 + 12582912.0
    let n = shifted - 12582912.0
    let r = clamped - n * 0.693359375 + n * 2.12194440e-4
    var p = SIMD16<Float>(repeating: 1.9875691500e-4)
    p = p * r + 1.3981999507e-3
    p = p * r + 8.3334519073e-3
    p = p * r + 4.1665795894e-2
    p = p * r + 1.6666665459e-1
    p = p * r + 5.0000001201e-1
    let er = p * (r * r) + r + 1
    // 2^n from its exponent bits: n + 127 shifted into place.
    let bits = (unsafeBitCast(shifted, to: SIMD16<UInt32>.self) &- 0x4B40_0000 &+ 127) &<< 23
    var result = er * unsafeBitCast(bits, to: SIMD16<Float>.self)
    result.replace(with: 0, where: x .< -87.33654)
    result.replace(with: .infinity, where: x .> 88.72283)
    return result
}

/// tanh per lane, as 1 − 2 / (e^{2x} + 1), with |x| > 9 saturated to ±1 (already exact in Float there).
@inline(__always)
func vectorTanh(_ x: SIMD16<Float>) -> SIMD16<Float> {
    let limited = clamp(x, -9, 9)
    let e = vectorExp(2 * limited)
    var result = 1 - 2 / (e + 1)
    // Near 0 the subtraction loses digits; the series x − x³/3 + 2x⁵/15 is exact to Float there.
    let small = (x .< 0.0625) .& (x .> -0.0625)
    let x2 = x * x
    result.replace(with: x * (1 - x2 * (0.33333334 - x2 * 0.13333334)), where: small)
    return result
}

/// Each lane limited to lower…upper: one `vmaxps` and one `vminps` on x86 (the standard library's
/// `pointwiseMin`/`pointwiseMax` stayed out-of-line calls, 2% of prompt processing).
@inline(__always)
func clamp(_ x: SIMD16<Float>, _ lower: Float, _ upper: Float) -> SIMD16<Float> {
    var result = x
    result.replace(with: SIMD16(repeating: upper), where: result .> upper)
    result.replace(with: SIMD16(repeating: lower), where: result .< lower)
    return result
}

/// The sum of the 16 lanes as a tree of adds. The standard library's `sum()` is generic code left out of
/// line (8% of prompt processing when it was used in the 4 × 4 tile).
@inline(__always)
func horizontalSum(_ v: SIMD16<Float>) -> Float {
    var half = SIMD8<Float>()
    for i in 0..<8 { half[i] = v[i] + v[i + 8] }
    var quarter = SIMD4<Float>()
    for i in 0..<4 { quarter[i] = half[i] + half[i + 4] }
    return (quarter[0] + quarter[2]) + (quarter[1] + quarter[3])
}

import CKernelSupport

/// Integer-to-float widening of weight lanes, written as plain lane loops.
///
/// The standard library's `SIMD16<Float>(SIMD16<Int32>(truncatingIfNeeded:))` is generic code that the
/// optimizer leaves as out-of-line calls in the kernels' inner loops (perf showed them at ~13% of decode);
/// these loops inline and vectorize to one sign-extend plus one convert (`vpmovsxbd` + `vcvtdq2ps` on x86,
/// `sxtl` + `scvtf` on ARM).

/// The 16 signed bytes of `q` as floats.
@inline(__always)
func floats(_ q: SIMD16<Int8>) -> SIMD16<Float> {
    var result = SIMD16<Float>()
    for i in 0..<16 { result[i] = Float(q[i]) }
    return result
}

/// The low nibble of each byte, minus 8, as floats (int4 values j of a group).
@inline(__always)
func lowNibbles(_ packed: SIMD16<UInt8>) -> SIMD16<Float> {
    var result = SIMD16<Float>()
    for i in 0..<16 { result[i] = Float(Int32(packed[i] & 0x0F) - 8) }
    return result
}

/// The high nibble of each byte, minus 8, as floats (int4 values j + G/2 of a group).
@inline(__always)
func highNibbles(_ packed: SIMD16<UInt8>) -> SIMD16<Float> {
    var result = SIMD16<Float>()
    for i in 0..<16 { result[i] = Float(Int32(packed[i] >> 4) - 8) }
    return result
}

/// 16 Int32 lanes as floats (`vcvtdq2ps`): the integer kernels' group sums.
@inline(__always)
func floats(_ v: SIMD16<Int32>) -> SIMD16<Float> {
    var result = SIMD16<Float>()
    for i in 0..<16 { result[i] = Float(v[i]) }
    return result
}

/// The low byte of each of 16 Int32 lanes (`vpmovdb`): quantized activations, which fit in a byte. The standard
/// library's `SIMD16<Int8>(truncatingIfNeeded:)` stayed an out-of-line generic call in the quantizing loop.
@inline(__always)
func lowBytes(_ v: SIMD16<Int32>) -> SIMD16<Int8> {
    var result = SIMD16<Int8>()
    for i in 0..<16 { result[i] = Int8(truncatingIfNeeded: v[i]) }
    return result
}

/// 16 half-precision values as floats (`vcvtph2ps` with F16C; a conversion per lane on baseline x86-64).
@inline(__always)
func floats(_ h: SIMD16<Float16>) -> SIMD16<Float> {
    var result = SIMD16<Float>()
    for i in 0..<16 { result[i] = Float(h[i]) }
    return result
}

extension SIMD16 where Scalar == Float {
    /// self += a · b, lane by lane: one fused multiply-add where the target CPU has it (`GPT2EDGE_HAS_FMA`),
    /// a multiply then an add elsewhere (on baseline x86-64, `addProduct` would call `fmaf` for every lane).
    @inline(__always)
    mutating func multiplyAdd(_ a: SIMD16<Float>, _ b: SIMD16<Float>) {
        if targetHasFMA() { addProduct(a, b) } else { self += a * b }
    }
}

/// Whether the target CPU has fused multiply-add (a compile-time constant from kernel_support.h; behind a function
/// so the compiler folds it without reporting the other branch as never executed).
@inline(__always)
func targetHasFMA() -> Bool { GPT2EDGE_HAS_FMA != 0 }

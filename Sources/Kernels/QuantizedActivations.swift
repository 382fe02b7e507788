/// Tokens quantized for the integer kernels, per weight group as llama.cpp's q8_0: scale = max|x| / 127,
/// values x / scale rounded half to even, zero past the last column so partial groups need no tail.
/// `offsetSums[t, g]` = offset · Σ values of the group: what the weights' unsigned storage adds to each
/// group's integer dot product (`QuantizedMatrix.storedOffset`), subtracted once per group.
struct QuantizedActivations {
    /// `tokens × stride` signed bytes; `stride` = whole groups of columns.
    let values: UnsafeMutablePointer<Int8>
    /// `tokens × groups`.
    let scales: UnsafeMutablePointer<Float>
    /// `tokens × groups`.
    let offsetSums: UnsafeMutablePointer<Int32>
    let stride: Int
    let groups: Int

    init(_ x: UnsafeMutablePointer<Float>, tokens: Int, columns: Int, groupSize: Int, offset: Int32, pool: ThreadPool) {
        groups = (columns + groupSize - 1) / groupSize
        stride = groups * groupSize
        values = .allocate(capacity: tokens * stride)
        scales = .allocate(capacity: tokens * groups)
        offsetSums = .allocate(capacity: tokens * groups)
        let (values, scales, offsetSums, stride, groups) = (values, scales, offsetSums, stride, groups)
        let quantize = { (t: Int) in
            for g in 0..<groups {
                let start = g * groupSize, index = t * groups + g
                let (scale, sum) = quantizeGroup(x + t * columns + start, count: min(groupSize, columns - start),
                                                 padTo: groupSize, into: values + t * stride + start)
                scales[index] = scale
                offsetSums[index] = offset &* sum
            }
        }
        if tokens < 8 { for t in 0..<tokens { quantize(t) } } else { pool.parallelFor(tokens, quantize) }
    }

    func deallocate() { values.deallocate(); scales.deallocate(); offsetSums.deallocate() }
}

/// Quantizes `count` floats to `output[0..<count]`, zeros up to `padTo`; returns the scale and Σ of the values.
/// Rounding adds and subtracts 1.5 · 2²³ (half to even, no Float→Int range checks to keep the loop scalar).
@inline(__always)
private func quantizeGroup(_ x: UnsafeMutablePointer<Float>, count: Int, padTo: Int,
                           into output: UnsafeMutablePointer<Int8>) -> (scale: Float, sum: Int32) {
    let input = UnsafeRawPointer(x), magic: Float = 12582912
    var largest: Float = 0
    var i = 0
    if count % 16 == 0 {
        var lanes = SIMD16<Float>()
        while i < count {
            let a = unsafeBitCast(unsafeBitCast(input.loadUnaligned(fromByteOffset: 4 &* i, as: SIMD16<Float>.self), to: SIMD16<UInt32>.self)
                                  & 0x7FFF_FFFF, to: SIMD16<Float>.self)
            lanes.replace(with: a, where: a .> lanes)
            i &+= 16
        }
        for l in 0..<16 where lanes[l] > largest { largest = lanes[l] }
    } else {
        for j in 0..<count where abs(x[j]) > largest { largest = abs(x[j]) }
    }
    let inverse: Float = largest > 0 ? 127 / largest : 0
    var sum: Int32 = 0
    i = 0
    if count % 16 == 0 {
        var sums = SIMD16<Int32>()
        let out = UnsafeMutableRawPointer(output)
        while i < count {
            let v = input.loadUnaligned(fromByteOffset: 4 &* i, as: SIMD16<Float>.self) * inverse + magic
            let q = unsafeBitCast(v, to: SIMD16<Int32>.self) &- 0x4B40_0000
            sums &+= q
            var bytes = SIMD16<Int8>()
            for l in 0..<16 { bytes[l] = Int8(truncatingIfNeeded: q[l]) }
            out.storeBytes(of: bytes, toByteOffset: i, as: SIMD16<Int8>.self)
            i &+= 16
        }
        for l in 0..<16 { sum &+= sums[l] }
    } else {
        for j in 0..<count {
            let q = Int32(bitPattern: (x[j] * inverse + magic).bitPattern) &- 0x4B40_0000
            output[j] = Int8(truncatingIfNeeded: q)
            sum &+= q
        }
    }
    for j in count..<padTo { output[j] = 0 }
    return (largest / 127, sum)
}

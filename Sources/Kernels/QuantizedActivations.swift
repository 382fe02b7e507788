/// One token quantized for the decode kernel, per weight group as llama.cpp's q8_0: scale = max|x| / 127, values
/// x / scale rounded half to even, zero past the last column so partial groups need no tail. `offsetSums[g]` =
/// offset · Σ values of group g: what the weights' unsigned storage adds to each group's integer dot product
/// (`QuantizedMatrix.storedOffset`), subtracted once per group. Prompts use `QuantizedTokenBlocks`.
struct QuantizedActivations {
    /// Signed bytes, whole groups of columns.
    let values: UnsafeMutablePointer<Int8>
    /// One per group.
    let scales: UnsafeMutablePointer<Float>
    /// One per group.
    let offsetSums: UnsafeMutablePointer<Int32>

    init(_ x: UnsafeMutablePointer<Float>, columns: Int, groupSize: Int, offset: Int32) {
        let groups = (columns + groupSize - 1) / groupSize
        values = .allocate(capacity: groups * groupSize)
        scales = .allocate(capacity: groups)
        offsetSums = .allocate(capacity: groups)
        for g in 0..<groups {
            let start = g * groupSize
            let (scale, sum) = quantizeGroup(x + start, count: min(groupSize, columns - start), padTo: groupSize,
                                             into: values + start)
            scales[g] = scale
            offsetSums[g] = offset &* sum
        }
    }

    func deallocate() { values.deallocate(); scales.deallocate(); offsetSums.deallocate() }
}

/// Quantizes `count` floats to `output[0..<count]`, zeros up to `padTo`; returns the scale and Σ of the values.
/// Rounding adds and subtracts 1.5 · 2²³ (half to even, no Float→Int range checks to keep the loop scalar).
/// Whole groups of 16 run in SIMD with tree reductions (half the time of lane-by-lane ones: decode quantizes
/// every matrix's input on one thread while the others wait); other counts take the scalar loop.
@inline(__always)
func quantizeGroup(_ x: UnsafeMutablePointer<Float>, count: Int, padTo: Int,
                           into output: UnsafeMutablePointer<Int8>) -> (scale: Float, sum: Int32) {
    guard count % 16 == 0 else { return quantizeGroupScalar(x, count: count, padTo: padTo, into: output) }
    let input = UnsafeRawPointer(x), magic: Float = 12582912
    var lanes = SIMD16<Float>()
    var i = 0
    while i < count {
        let a = unsafeBitCast(unsafeBitCast(input.loadUnaligned(fromByteOffset: 4 &* i, as: SIMD16<Float>.self), to: SIMD16<UInt32>.self)
                              & 0x7FFF_FFFF, to: SIMD16<Float>.self)
        lanes.replace(with: a, where: a .> lanes)
        i &+= 16
    }
    var m8 = lanes.lowHalf, h8 = lanes.highHalf
    m8.replace(with: h8, where: h8 .> m8)
    var m4 = m8.lowHalf, h4 = m8.highHalf
    m4.replace(with: h4, where: h4 .> m4)
    let largest = max(max(m4[0], m4[1]), max(m4[2], m4[3]))
    let inverse: Float = largest > 0 ? 127 / largest : 0
    var sums = SIMD16<Int32>()
    let out = UnsafeMutableRawPointer(output)
    i = 0
    while i < count {
        let v = input.loadUnaligned(fromByteOffset: 4 &* i, as: SIMD16<Float>.self) * inverse + magic
        let q = unsafeBitCast(v, to: SIMD16<Int32>.self) &- 0x4B40_0000
        sums &+= q
        out.storeBytes(of: lowBytes(q), toByteOffset: i, as: SIMD16<Int8>.self)
        i &+= 16
    }
    let s8 = sums.lowHalf &+ sums.highHalf, s4 = s8.lowHalf &+ s8.highHalf
    for j in count..<padTo { output[j] = 0 }
    return (largest / 127, s4[0] &+ s4[1] &+ s4[2] &+ s4[3])
}

/// `quantizeGroup` one value at a time, for a group cut short by the end of the row.
private func quantizeGroupScalar(_ x: UnsafeMutablePointer<Float>, count: Int, padTo: Int,
                                 into output: UnsafeMutablePointer<Int8>) -> (scale: Float, sum: Int32) {
    var largest: Float = 0
    for j in 0..<count where abs(x[j]) > largest { largest = abs(x[j]) }
    let inverse: Float = largest > 0 ? 127 / largest : 0, magic: Float = 12582912
    var sum: Int32 = 0
    for j in 0..<count {
        let q = Int32(bitPattern: (x[j] * inverse + magic).bitPattern) &- 0x4B40_0000
        output[j] = Int8(truncatingIfNeeded: q)
        sum &+= q
    }
    for j in count..<padTo { output[j] = 0 }
    return (largest / 127, sum)
}

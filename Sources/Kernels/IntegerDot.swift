import CKernelSupport
import Foundation

/// The integer-activation decode path, kept for measurement: the token is quantized per weight group to int8
/// (scale = max|x| / 127, as llama.cpp's q8_0), each group's products accumulate in Int32 lanes, and only the
/// group sum meets the two scales in floating point.
///
/// `tools/README.md` has the comparison: with Swift SIMD on x86 (no `vpdpbusd`/`vpmaddubsw` from portable
/// vector code) the Int32 multiply costs as much as the float FMA it replaces and quantizing the token adds
/// error, so `quantizedLinear` uses the weight-only path. `GPT2EDGE_KERNEL=integer` selects this one for
/// decode, to rerun the comparison (`gpt2-edge bench`).

/// A token quantized per group: Int32 lanes (widened once, so the row loop loads them like floats) and one
/// float scale per group.
struct QuantizedActivations {
    let values: UnsafeMutablePointer<Int32>
    let scales: UnsafeMutablePointer<Float>
    let columns: Int

    /// Quantizes `x[0..<columns]` in groups of `groupSize` (the last group may be partial).
    init(_ x: UnsafeMutablePointer<Float>, columns: Int, groupSize: Int) {
        let groups = (columns + groupSize - 1) / groupSize
        values = .allocate(capacity: groups * groupSize)
        values.initialize(repeating: 0, count: groups * groupSize)
        scales = .allocate(capacity: groups)
        self.columns = columns
        for g in 0..<groups {
            let start = g * groupSize, end = min(columns, start + groupSize)
            var maximum: Float = 0
            for i in start..<end { maximum = max(maximum, abs(x[i])) }
            let scale = maximum / 127
            scales[g] = scale
            let inverse: Float = scale > 0 ? 1 / scale : 0
            for i in start..<end { values[i] = Int32((x[i] * inverse).rounded()) }
        }
    }

    func deallocate() { values.deallocate(); scales.deallocate() }
}

/// Whether decode uses the integer-activation path (`GPT2EDGE_KERNEL=integer`), read once.
let integerActivationsSelected: Bool = getenv("GPT2EDGE_KERNEL").map { String(cString: $0) == "integer" } ?? false

/// `quantizedLinear`'s decode shape on the integer path: each token quantized once, rows split as there.
func integerActivationLinear(input: FloatBuffer, rows: Int, matrix: QuantizedMatrix, bias: FloatBuffer?,
                             output: FloatBuffer, pool: ThreadPool) {
    let inFeatures = matrix.columns, outFeatures = matrix.rows
    let chunk = QuantizedLinearLayout.decodeRowsPerChunk(rows: outFeatures, threads: pool.threadCount)
    for t in 0..<rows {
        let token = QuantizedActivations(input.base + t * inFeatures, columns: inFeatures, groupSize: matrix.groupSize)
        defer { token.deallocate() }
        let out = output.base + t * outFeatures, b = bias?.base
        pool.parallelFor((outFeatures + chunk - 1) / chunk) { c in
            let end = min(outFeatures, (c + 1) * chunk)
            var o = c * chunk
            while o + 4 <= end {
                let sums = integerRowDots(matrix, firstRow: o, x: token)
                for r in 0..<4 { out[o + r] = sums[r] + (b?[o + r] ?? 0) }
                o += 4
            }
            while o < end { out[o] = integerRowDot(matrix, row: o, x: token) + (b?[o] ?? 0); o += 1 }
        }
    }
}

/// Σ_i W[o + r, i] · x[i] for r in 0..<4 with integer products per group (int8 and int4 weights).
@inline(__always)
func integerRowDots(_ matrix: QuantizedMatrix, firstRow o: Int, x: QuantizedActivations) -> SIMD4<Float> {
    let size = matrix.groupSize, half = size / 2
    let groupsPerRow = matrix.groupsPerRow, rowBytes = matrix.rowBytes
    let q = UnsafeRawPointer(matrix.quants + o * rowBytes)
    let scales = matrix.scales + o * groupsPerRow
    let input = UnsafeRawPointer(x.values)
    var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
    let runPerGroup = 4 * size * matrix.bits.rawValue / 8   // the same prefetching as the float path
    let ahead = q + QuantizedLinearLayout.prefetchDistance
    for g in 0..<groupsPerRow {   // the quantized token is zero past `columns`, so a partial group needs no tail
        let start = g &* size
        for line in Swift.stride(from: 0, to: runPerGroup, by: 64) { gpt2edge_prefetch(ahead + (g &* runPerGroup &+ line)) }
        var i0 = SIMD16<Int32>(), i1 = SIMD16<Int32>(), i2 = SIMD16<Int32>(), i3 = SIMD16<Int32>()
        switch matrix.bits {
        case .eight:
            var j = start
            while j < start &+ size {
                let v = input.loadUnaligned(fromByteOffset: 4 &* j, as: SIMD16<Int32>.self)
                i0 &+= integers(q.loadUnaligned(fromByteOffset: j, as: SIMD16<Int8>.self)) &* v
                i1 &+= integers(q.loadUnaligned(fromByteOffset: rowBytes &+ j, as: SIMD16<Int8>.self)) &* v
                i2 &+= integers(q.loadUnaligned(fromByteOffset: 2 &* rowBytes &+ j, as: SIMD16<Int8>.self)) &* v
                i3 &+= integers(q.loadUnaligned(fromByteOffset: 3 &* rowBytes &+ j, as: SIMD16<Int8>.self)) &* v
                j &+= 16
            }
        case .four:
            var k = 0
            while k < half {
                let low = input.loadUnaligned(fromByteOffset: 4 &* (start &+ k), as: SIMD16<Int32>.self)
                let high = input.loadUnaligned(fromByteOffset: 4 &* (start &+ half &+ k), as: SIMD16<Int32>.self)
                let byte = start / 2 &+ k
                let b0 = q.loadUnaligned(fromByteOffset: byte, as: SIMD16<UInt8>.self)
                let b1 = q.loadUnaligned(fromByteOffset: rowBytes &+ byte, as: SIMD16<UInt8>.self)
                let b2 = q.loadUnaligned(fromByteOffset: 2 &* rowBytes &+ byte, as: SIMD16<UInt8>.self)
                let b3 = q.loadUnaligned(fromByteOffset: 3 &* rowBytes &+ byte, as: SIMD16<UInt8>.self)
                i0 &+= lowNibbleIntegers(b0) &* low &+ highNibbleIntegers(b0) &* high
                i1 &+= lowNibbleIntegers(b1) &* low &+ highNibbleIntegers(b1) &* high
                i2 &+= lowNibbleIntegers(b2) &* low &+ highNibbleIntegers(b2) &* high
                i3 &+= lowNibbleIntegers(b3) &* low &+ highNibbleIntegers(b3) &* high
                k &+= 16
            }
        }
        let sx = x.scales[g]
        a0.multiplyAdd(floats(i0), SIMD16(repeating: Float(scales[g]) * sx))
        a1.multiplyAdd(floats(i1), SIMD16(repeating: Float(scales[groupsPerRow &+ g]) * sx))
        a2.multiplyAdd(floats(i2), SIMD16(repeating: Float(scales[2 &* groupsPerRow &+ g]) * sx))
        a3.multiplyAdd(floats(i3), SIMD16(repeating: Float(scales[3 &* groupsPerRow &+ g]) * sx))
    }
    return SIMD4(horizontalSum(a0), horizontalSum(a1), horizontalSum(a2), horizontalSum(a3))
}

/// Σ_i W[o, i] · x[i] for one row, integer products per group.
func integerRowDot(_ matrix: QuantizedMatrix, row o: Int, x: QuantizedActivations) -> Float {
    var sum: Float = 0
    for g in 0..<matrix.groupsPerRow {
        var products: Int32 = 0
        for j in 0..<min(matrix.groupSize, matrix.columns - g * matrix.groupSize) {
            products += Int32(matrix.quant(row: o, group: g, index: j)) * x.values[g * matrix.groupSize + j]
        }
        sum += Float(products) * Float(matrix.scales[o * matrix.groupsPerRow + g]) * x.scales[g]
    }
    return sum
}

@inline(__always)
private func integers(_ q: SIMD16<Int8>) -> SIMD16<Int32> {
    var result = SIMD16<Int32>()
    for i in 0..<16 { result[i] = Int32(q[i]) }
    return result
}

@inline(__always)
private func lowNibbleIntegers(_ packed: SIMD16<UInt8>) -> SIMD16<Int32> {
    var result = SIMD16<Int32>()
    for i in 0..<16 { result[i] = Int32(packed[i] & 0x0F) - 8 }
    return result
}

@inline(__always)
private func highNibbleIntegers(_ packed: SIMD16<UInt8>) -> SIMD16<Int32> {
    var result = SIMD16<Int32>()
    for i in 0..<16 { result[i] = Int32(packed[i] >> 4) - 8 }
    return result
}

@inline(__always)
private func floats(_ v: SIMD16<Int32>) -> SIMD16<Float> {
    var result = SIMD16<Float>()
    for i in 0..<16 { result[i] = Float(v[i]) }
    return result
}

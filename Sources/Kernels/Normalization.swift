import Foundation

/// Layer normalization of each row: `(x − mean) / sqrt(var + epsilon) · gain + bias` (biased variance, as PyTorch).
public func layerNorm(input: FloatBuffer, rows: Int, width: Int, gain: FloatBuffer, bias: FloatBuffer,
                      epsilon: Float, output: FloatBuffer) {
    precondition(input.count >= rows * width && output.count >= rows * width && gain.count == width && bias.count == width)
    let vectorEnd = width / 16 * 16
    for t in 0..<rows {
        let x = input.base + t * width, y = output.base + t * width
        let rx = UnsafeRawPointer(x), ry = UnsafeMutableRawPointer(y)
        let rg = UnsafeRawPointer(gain.base), rb = UnsafeRawPointer(bias.base)
        // Two passes (mean, then squared deviations) in 16 float lanes: the lanes keep each partial sum short,
        // so Float is as accurate here as the Double loop it replaced (the test checks against Double).
        var sums = SIMD16<Float>()
        for i in Swift.stride(from: 0, to: vectorEnd, by: 16) { sums += rx.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self) }
        var sum = Double(horizontalSum(sums))
        for i in vectorEnd..<width { sum += Double(x[i]) }
        let mean = Float(sum / Double(width))
        var squares = SIMD16<Float>()
        for i in Swift.stride(from: 0, to: vectorEnd, by: 16) {
            let d = rx.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self) - mean
            squares.multiplyAdd(d, d)
        }
        var squareSum = Double(horizontalSum(squares))
        for i in vectorEnd..<width { let d = Double(x[i] - mean); squareSum += d * d }
        let inverse = 1 / (Float(squareSum / Double(width)) + epsilon).squareRoot()
        for i in Swift.stride(from: 0, to: vectorEnd, by: 16) {
            let v = rx.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self)
            let normalized = (v - mean) * inverse * rg.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self)
            ry.storeBytes(of: normalized + rb.loadUnaligned(fromByteOffset: 4 * i, as: SIMD16<Float>.self), toByteOffset: 4 * i, as: SIMD16<Float>.self)
        }
        for i in vectorEnd..<width { y[i] = (x[i] - mean) * inverse * gain[i] + bias[i] }
    }
}

/// `values[i] += other[i]` for the first `count` elements (the residual stream).
public func addInPlace(_ values: FloatBuffer, _ other: FloatBuffer, count: Int) {
    precondition(values.count >= count && other.count >= count)
    let a = values.base, b = other.base
    for i in 0..<count { a[i] += b[i] }   // vectorized by the compiler (distinct buffers, no aliasing check needed)
}

/// Copies `count` floats from `source[sourceOffset...]` to `destination[destinationOffset...]`.
public func copy(_ source: FloatBuffer, from sourceOffset: Int, to destination: FloatBuffer, at destinationOffset: Int, count: Int) {
    precondition(sourceOffset >= 0 && sourceOffset + count <= source.count && destinationOffset >= 0 && destinationOffset + count <= destination.count)
    (destination.base + destinationOffset).update(from: source.base + sourceOffset, count: count)
}

/// `output[t] += table[positions[t]]` for every row t: the position embedding added to token rows already in `output`.
public func addPositionEmbeddings(positions: [Int], table: FloatBuffer, width: Int, output: FloatBuffer) {
    precondition(output.count >= positions.count * width)
    for (t, position) in positions.enumerated() {
        precondition(position >= 0 && (position + 1) * width <= table.count)
        let y = output.base + t * width, b = table.base + position * width
        for i in 0..<width { y[i] += b[i] }
    }
}

/// The index of the first of `buffer`'s first `count` values that is NaN or ±infinity; nil when all are finite.
///
/// The forward pass calls it on the residual stream after every block (rows × width values against the
/// block's rows × 12·width² multiply-adds), so the all-finite case is one pass: NaN and infinity are the only
/// floats whose exponent bits are all ones, and the largest exponent field is an integer max the compiler
/// vectorizes. Only when that finds one is the index looked for.
public func firstNonFinite(in buffer: FloatBuffer, count: Int) -> Int? {
    precondition(count >= 0 && count <= buffer.count)
    let values = buffer.base
    var largestExponent: UInt32 = 0
    for i in 0..<count { largestExponent = max(largestExponent, values[i].bitPattern & 0x7F80_0000) }
    guard largestExponent == 0x7F80_0000 else { return nil }
    return (0..<count).first { !values[$0].isFinite }
}

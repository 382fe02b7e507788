/// `output[t, o] = bias[o] + Σ_i input[t, i] · W[o, i]` with W a `QuantizedMatrix`, dequantized on the fly:
/// each group of weights is expanded to floats once and used for up to four tokens, so a prompt reads
/// the quantized weights once per four tokens. Threads split the output rows.
///
/// This is the weight-only path (dequantize, then float FMA); the SIMD-tuned and integer-activation
/// variants belong with the kernel benchmarks.
public func quantizedLinear(input: FloatBuffer, rows: Int, matrix: QuantizedMatrix, bias: FloatBuffer?,
                            output: FloatBuffer, pool: ThreadPool) {
    let inFeatures = matrix.columns, outFeatures = matrix.rows
    precondition(input.count >= rows * inFeatures && output.count >= rows * outFeatures)
    precondition(bias == nil || bias!.count == outFeatures)
    let chunk = 16
    let x = input.base, y = output.base, b = bias?.base
    if rows == 1 {
        // Decode: one token, so no weight reuse to organize; keep one vector accumulator per row and
        // apply each group's scale vectorially, with a single horizontal sum per row.
        pool.parallelFor((outFeatures + chunk - 1) / chunk) { c in
            for o in (c * chunk)..<min(outFeatures, (c + 1) * chunk) {
                y[o] = rowDot(matrix, row: o, x: x) + (b?[o] ?? 0)
            }
        }
        return
    }
    pool.parallelFor((outFeatures + chunk - 1) / chunk) { c in
        for o in (c * chunk)..<min(outFeatures, (c + 1) * chunk) {
            var t0 = 0
            while t0 < rows {
                let block = min(4, rows - t0)
                var sums = SIMD4<Float>()
                for g in 0..<matrix.groupsPerRow {
                    sums += groupDot(matrix, row: o, group: g, x: x, t0: t0, block: block, stride: inFeatures)
                }
                for t in 0..<block { y[(t0 + t) * outFeatures + o] = sums[t] + (b?[o] ?? 0) }
                t0 += block
            }
        }
    }
}

/// Σ_i W[o, i] · x[i] for one token: full groups in SIMD, a partial last group in scalar code.
@inline(__always)
private func rowDot(_ matrix: QuantizedMatrix, row o: Int, x: UnsafeMutablePointer<Float>) -> Float {
    let size = matrix.groupSize, half = size / 2
    let fullGroups = matrix.columns / size
    let rowQuants = UnsafeRawPointer(matrix.quants + o * matrix.rowBytes)
    let scales = matrix.scales + o * matrix.groupsPerRow
    let input = UnsafeRawPointer(x)
    var accumulator = SIMD16<Float>()
    for g in 0..<fullGroups {
        let start = g * size
        var products = SIMD16<Float>()
        switch matrix.bits {
        case .eight:
            for j in Swift.stride(from: 0, to: size, by: 16) {
                let q = rowQuants.loadUnaligned(fromByteOffset: start + j, as: SIMD16<Int8>.self)
                products += SIMD16<Float>(SIMD16<Int32>(truncatingIfNeeded: q)) * input.loadUnaligned(fromByteOffset: 4 * (start + j), as: SIMD16<Float>.self)
            }
        case .four:
            for k in Swift.stride(from: 0, to: half, by: 16) {
                let packed = rowQuants.loadUnaligned(fromByteOffset: start / 2 + k, as: SIMD16<UInt8>.self)
                let low = SIMD16<Float>(SIMD16<Int32>(truncatingIfNeeded: packed & 0x0F) &- 8)
                let high = SIMD16<Float>(SIMD16<Int32>(truncatingIfNeeded: packed &>> 4) &- 8)
                products += low * input.loadUnaligned(fromByteOffset: 4 * (start + k), as: SIMD16<Float>.self)
                products += high * input.loadUnaligned(fromByteOffset: 4 * (start + half + k), as: SIMD16<Float>.self)
            }
        }
        accumulator += products * Float(scales[g])
    }
    var sum = accumulator.sum()
    if fullGroups < matrix.groupsPerRow {
        let g = fullGroups
        var partial: Float = 0
        for j in 0..<(matrix.columns - g * size) { partial += Float(matrix.quant(row: o, group: g, index: j)) * x[g * size + j] }
        sum += partial * Float(scales[g])
    }
    return sum
}

/// The dot products of one weight group with `block` (≤ 4) token rows, as lanes of a SIMD4.
@inline(__always)
private func groupDot(_ matrix: QuantizedMatrix, row o: Int, group g: Int, x: UnsafeMutablePointer<Float>,
                      t0: Int, block: Int, stride: Int) -> SIMD4<Float> {
    let size = matrix.groupSize
    let start = g * size
    let width = min(size, matrix.columns - start)
    let scale = Float(matrix.scales[o * matrix.groupsPerRow + g])
    var result = SIMD4<Float>()
    if width < size {
        // A partial last group: scalar, so nothing past the row's end is read.
        for t in 0..<block {
            var sum: Float = 0
            for j in 0..<width { sum += Float(matrix.quant(row: o, group: g, index: j)) * x[(t0 + t) * stride + start + j] }
            result[t] = sum * scale
        }
        return result
    }
    let rowQuants = UnsafeRawPointer(matrix.quants + o * matrix.rowBytes)
    var accumulators = (SIMD16<Float>(), SIMD16<Float>(), SIMD16<Float>(), SIMD16<Float>())

    /// Adds w0·x[first..<first+16] + w1·x[second..<second+16] of each token to its accumulator.
    @inline(__always)
    func accumulate(_ w0: SIMD16<Float>, _ w1: SIMD16<Float>, first: Int, second: Int) {
        for t in 0..<block {
            let row = UnsafeRawPointer(x + (t0 + t) * stride)
            let product = w0 * row.loadUnaligned(fromByteOffset: 4 * first, as: SIMD16<Float>.self)
                + w1 * row.loadUnaligned(fromByteOffset: 4 * second, as: SIMD16<Float>.self)
            switch t {
            case 0: accumulators.0 += product
            case 1: accumulators.1 += product
            case 2: accumulators.2 += product
            default: accumulators.3 += product
            }
        }
    }

    switch matrix.bits {
    case .eight:
        // Values start + j ..< start + j + 32 are bytes start + j ..< start + j + 32.
        for j in Swift.stride(from: 0, to: size, by: 32) {
            let q0 = rowQuants.loadUnaligned(fromByteOffset: start + j, as: SIMD16<Int8>.self)
            let q1 = rowQuants.loadUnaligned(fromByteOffset: start + j + 16, as: SIMD16<Int8>.self)
            accumulate(SIMD16<Float>(SIMD16<Int32>(truncatingIfNeeded: q0)), SIMD16<Float>(SIMD16<Int32>(truncatingIfNeeded: q1)),
                       first: start + j, second: start + j + 16)
        }
    case .four:
        // Byte k of the group holds value k (low nibble) and value k + size/2 (high nibble).
        let half = size / 2
        for k in Swift.stride(from: 0, to: half, by: 16) {
            let packed = rowQuants.loadUnaligned(fromByteOffset: start / 2 + k, as: SIMD16<UInt8>.self)
            let low = SIMD16<Int32>(truncatingIfNeeded: packed & 0x0F) &- 8
            let high = SIMD16<Int32>(truncatingIfNeeded: packed &>> 4) &- 8
            accumulate(SIMD16<Float>(low), SIMD16<Float>(high), first: start + k, second: start + half + k)
        }
    }
    result = SIMD4(accumulators.0.sum(), accumulators.1.sum(), accumulators.2.sum(), accumulators.3.sum())
    return result * scale
}

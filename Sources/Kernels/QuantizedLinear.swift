import CKernelSupport

/// `output[t, o] = bias[o] + Σ_i input[t, i] · W[o, i]` with W a `QuantizedMatrix`, dequantized on the fly.
///
/// Rows packed for the integer kernels (`matrix.packedRows`, see `MatrixKernel`) go to `integerPanelLinear`;
/// the others take the weight-only float path here. Two shapes of work, both splitting output rows across
/// threads in chunks:
/// - **Decode** (a few tokens): four weight rows at a time are widened to floats in registers and multiplied
///   with the token (`rowDots`), so every quantized byte is read from memory once per token and the four
///   independent accumulations keep several memory streams in flight.
/// - **Prompt** (`rows ≥ gemmThreshold` tokens): the chunk's 16 rows are dequantized once into a float scratch
///   block, then a 4-row × 4-token register-blocked product (`tile`) runs over every token, so the cost of
///   widening is paid once per prompt instead of once per token.
///
/// Both shapes sum each output in the same order (see `rowDots`), so a token's outputs are the same bits whichever
/// shape its call takes: they do not depend on the other tokens of the call.
public func quantizedLinear(input: FloatBuffer, rows: Int, matrix: QuantizedMatrix, bias: FloatBuffer?,
                            output: FloatBuffer, pool: ThreadPool) {
    precondition(input.count >= rows * matrix.columns && output.count >= rows * matrix.rows)
    precondition(bias == nil || bias!.count == matrix.rows)
    if matrix.packedRows > 0 {
        integerPanelLinear(input: input.base, tokens: rows, matrix: matrix, bias: bias?.base, output: output.base, pool: pool)
    }
    if matrix.packedRows < matrix.rows {
        floatLinear(input: input.base, rows: rows, matrix: matrix, firstRow: matrix.packedRows, bias: bias?.base,
                    output: output.base, pool: pool)
    }
}

/// The weight-only path for output rows `firstRow..<matrix.rows`.
private func floatLinear(input x: UnsafeMutablePointer<Float>, rows: Int, matrix: QuantizedMatrix, firstRow: Int,
                         bias b: UnsafeMutablePointer<Float>?, output y: UnsafeMutablePointer<Float>, pool: ThreadPool) {
    let inFeatures = matrix.columns, outFeatures = matrix.rows
    if rows < QuantizedLinearLayout.gemmThreshold {
        let chunk = QuantizedLinearLayout.decodeRowsPerChunk(rows: outFeatures - firstRow, threads: pool.threadCount)
        pool.parallelFor((outFeatures - firstRow + chunk - 1) / chunk) { c in
            let end = min(outFeatures, firstRow + (c + 1) * chunk)
            for t in 0..<rows {
                let token = x + t * inFeatures, out = y + t * outFeatures
                var o = firstRow + c * chunk
                while o + 4 <= end {
                    let sums = rowDots(matrix, firstRow: o, x: token)
                    for r in 0..<4 { out[o + r] = sums[r] + (b?[o + r] ?? 0) }
                    o += 4
                }
                while o < end { out[o] = rowDot(matrix, row: o, x: token) + (b?[o] ?? 0); o += 1 }
            }
        }
        return
    }
    let chunk = QuantizedLinearLayout.promptRowsPerChunk
    pool.parallelFor((outFeatures - firstRow + chunk - 1) / chunk) { c in
        let first = firstRow + c * chunk, count = min(chunk, outFeatures - first)
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: chunk * inFeatures)
        defer { scratch.deallocate() }
        for r in 0..<count { matrix.dequantizeRow(first + r, into: scratch + r * inFeatures) }
        var t = 0
        while t < rows {
            let tokens = min(4, rows - t)
            var r = 0
            while r < count {
                let rowCount = min(4, count - r)
                tile(weights: scratch + r * inFeatures, rowCount: rowCount, x: x + t * inFeatures, tokenCount: tokens,
                     width: inFeatures, output: y + t * outFeatures + first + r, outputStride: outFeatures,
                     bias: b.map { $0 + first + r })
                r += 4
            }
            t += 4
        }
    }
}

/// Work split of `quantizedLinear`.
enum QuantizedLinearLayout {
    /// Output rows per decode work item: long runs of bytes let prefetching pay off (gpt2 int8 at two threads:
    /// 16 rows → 100 tok/s, 256 → 150), but a thread takes one item at a time, and a slowed thread should be
    /// able to take fewer, so each thread gets about four items: between 16 and 256 rows, a multiple of 4.
    static func decodeRowsPerChunk(rows: Int, threads: Int) -> Int {
        min(256, max(16, rows / (4 * threads) / 4 * 4))
    }
    /// Output rows per prompt work item, dequantized into a per-item float scratch block.
    static let promptRowsPerChunk = 16
    /// From this many tokens on, dequantizing a chunk once and running the blocked product beats widening
    /// the weights again for every token.
    static let gemmThreshold = 4
    /// Bytes ahead of the current rows that decode asks the CPU to prefetch.
    static let prefetchDistance = 3072
}

/// Σ_i W[o + r, i] · x[i] for r in 0..<4, summed exactly as `tile` sums the same rows dequantized.
///
/// Each weight is widened and multiplied by its group's scale (an fp16 scale times an int8 or int4 value is exact in
/// float, so this is the dequantized weight, bit for bit), then multiply-added into lane i mod 16 in column order;
/// `horizontalSum` adds the lanes, and the columns after the last multiple of 16 follow one at a time.
///
/// Why this order (determinism across batch composition): a token's outputs must not depend on how many tokens
/// share the call (fewer than `gemmThreshold` come here, more go to `tile`), because the server runs every request
/// in one batched step and a request must get the same logits beside others as alone (BatchIndependenceTests).
/// Summing each group unscaled and scaling the group's sum, as this did before, rounds differently from the prompt
/// path. It saved one multiply per 16 weights here, in a loop mostly bound by memory (decode reads each weight once
/// per token); scaling per group in `tile` instead would cost a multiply-add per group, row and token in a loop
/// bound by arithmetic.
@inline(__always)
private func rowDots(_ matrix: QuantizedMatrix, firstRow o: Int, x: UnsafeMutablePointer<Float>) -> SIMD4<Float> {
    let size = matrix.groupSize, half = size / 2, groupsPerRow = matrix.groupsPerRow
    let vectorColumns = matrix.columns / 16 * 16
    let rowBytes = matrix.rowBytes
    let q = UnsafeRawPointer(matrix.quants + o * rowBytes)
    let scales = matrix.scales + o * groupsPerRow
    let input = UnsafeRawPointer(x)
    var a0 = SIMD16<Float>(), a1 = SIMD16<Float>(), a2 = SIMD16<Float>(), a3 = SIMD16<Float>()
    // Rows are contiguous, so the four rows are one run of bytes; keep the CPU loading well ahead of it.
    let groupBytes = size * matrix.bits.rawValue / 8, runPerGroup = 4 * groupBytes
    let ahead = q + QuantizedLinearLayout.prefetchDistance
    var g = 0, start = 0
    while start < vectorColumns {
        let end = min(start &+ size, vectorColumns)
        for line in Swift.stride(from: 0, to: runPerGroup, by: 64) { gpt2edge_prefetch(ahead + (g &* runPerGroup &+ line)) }
        let s0 = SIMD16<Float>(repeating: Float(scales[g])), s1 = SIMD16<Float>(repeating: Float(scales[groupsPerRow &+ g]))
        let s2 = SIMD16<Float>(repeating: Float(scales[2 &* groupsPerRow &+ g]))
        let s3 = SIMD16<Float>(repeating: Float(scales[3 &* groupsPerRow &+ g]))
        switch matrix.bits {
        case .eight:
            var j = start
            while j < end {
                let v = input.loadUnaligned(fromByteOffset: 4 &* j, as: SIMD16<Float>.self)
                a0.multiplyAdd(floats(q.loadUnaligned(fromByteOffset: j, as: SIMD16<Int8>.self)) * s0, v)
                a1.multiplyAdd(floats(q.loadUnaligned(fromByteOffset: rowBytes &+ j, as: SIMD16<Int8>.self)) * s1, v)
                a2.multiplyAdd(floats(q.loadUnaligned(fromByteOffset: 2 &* rowBytes &+ j, as: SIMD16<Int8>.self)) * s2, v)
                a3.multiplyAdd(floats(q.loadUnaligned(fromByteOffset: 3 &* rowBytes &+ j, as: SIMD16<Int8>.self)) * s3, v)
                j &+= 16
            }
        case .four:
            // Byte k of a group holds column k (low nibble) and column k + size/2 (high nibble): the low nibbles
            // first, then the high ones (the same bytes again, from L1), so each lane meets its columns in order.
            let group = q + start / 2
            var c = start
            while c < min(start &+ half, end) {
                let v = input.loadUnaligned(fromByteOffset: 4 &* c, as: SIMD16<Float>.self), k = c &- start
                a0.multiplyAdd(lowNibbles(group.loadUnaligned(fromByteOffset: k, as: SIMD16<UInt8>.self)) * s0, v)
                a1.multiplyAdd(lowNibbles(group.loadUnaligned(fromByteOffset: rowBytes &+ k, as: SIMD16<UInt8>.self)) * s1, v)
                a2.multiplyAdd(lowNibbles(group.loadUnaligned(fromByteOffset: 2 &* rowBytes &+ k, as: SIMD16<UInt8>.self)) * s2, v)
                a3.multiplyAdd(lowNibbles(group.loadUnaligned(fromByteOffset: 3 &* rowBytes &+ k, as: SIMD16<UInt8>.self)) * s3, v)
                c &+= 16
            }
            while c < end {
                let v = input.loadUnaligned(fromByteOffset: 4 &* c, as: SIMD16<Float>.self), k = c &- start &- half
                a0.multiplyAdd(highNibbles(group.loadUnaligned(fromByteOffset: k, as: SIMD16<UInt8>.self)) * s0, v)
                a1.multiplyAdd(highNibbles(group.loadUnaligned(fromByteOffset: rowBytes &+ k, as: SIMD16<UInt8>.self)) * s1, v)
                a2.multiplyAdd(highNibbles(group.loadUnaligned(fromByteOffset: 2 &* rowBytes &+ k, as: SIMD16<UInt8>.self)) * s2, v)
                a3.multiplyAdd(highNibbles(group.loadUnaligned(fromByteOffset: 3 &* rowBytes &+ k, as: SIMD16<UInt8>.self)) * s3, v)
                c &+= 16
            }
        }
        g &+= 1
        start &+= size
    }
    var sums = SIMD4(horizontalSum(a0), horizontalSum(a1), horizontalSum(a2), horizontalSum(a3))
    for i in vectorColumns..<matrix.columns {
        for r in 0..<4 { sums[r] += dequantized(matrix, row: o + r, column: i) * x[i] }
    }
    return sums
}

/// Σ_i W[o, i] · x[i] for a single row (the rows left over after groups of four), summed as `rowDots` sums each of its rows.
@inline(__always)
private func rowDot(_ matrix: QuantizedMatrix, row o: Int, x: UnsafeMutablePointer<Float>) -> Float {
    let size = matrix.groupSize, half = size / 2
    let vectorColumns = matrix.columns / 16 * 16
    let q = UnsafeRawPointer(matrix.quants + o * matrix.rowBytes)
    let scales = matrix.scales + o * matrix.groupsPerRow
    let input = UnsafeRawPointer(x)
    var accumulator = SIMD16<Float>()
    var g = 0, start = 0
    while start < vectorColumns {
        let end = min(start &+ size, vectorColumns), scale = SIMD16<Float>(repeating: Float(scales[g]))
        switch matrix.bits {
        case .eight:
            for j in Swift.stride(from: start, to: end, by: 16) {
                accumulator.multiplyAdd(floats(q.loadUnaligned(fromByteOffset: j, as: SIMD16<Int8>.self)) * scale,
                                        input.loadUnaligned(fromByteOffset: 4 &* j, as: SIMD16<Float>.self))
            }
        case .four:
            let group = q + start / 2
            for c in Swift.stride(from: start, to: min(start &+ half, end), by: 16) {
                accumulator.multiplyAdd(lowNibbles(group.loadUnaligned(fromByteOffset: c &- start, as: SIMD16<UInt8>.self)) * scale,
                                        input.loadUnaligned(fromByteOffset: 4 &* c, as: SIMD16<Float>.self))
            }
            for c in Swift.stride(from: start &+ half, to: end, by: 16) {
                accumulator.multiplyAdd(highNibbles(group.loadUnaligned(fromByteOffset: c &- start &- half, as: SIMD16<UInt8>.self)) * scale,
                                        input.loadUnaligned(fromByteOffset: 4 &* c, as: SIMD16<Float>.self))
            }
        }
        g &+= 1
        start &+= size
    }
    var sum = horizontalSum(accumulator)
    for i in vectorColumns..<matrix.columns { sum += dequantized(matrix, row: o, column: i) * x[i] }
    return sum
}

/// W[o, i] as `dequantizeRow` writes it, for the columns after the last multiple of 16 (value by value, so nothing
/// past the row's end is read).
@inline(__always)
private func dequantized(_ matrix: QuantizedMatrix, row o: Int, column i: Int) -> Float {
    let group = i / matrix.groupSize
    return matrix.scale(row: o, group: group) * Float(matrix.quant(row: o, group: group, index: i % matrix.groupSize))
}

/// `output[t · outputStride + r] = bias[r] + Σ_i weights[r · width + i] · x[t · width + i]` for up to 4 rows
/// and 4 tokens: sixteen SIMD accumulators, each weight and input vector loaded once per step of 16. `rowDots` and
/// `rowDot` sum in this order too (lane i mod 16 in column order, `horizontalSum`, the last columns one by one):
/// change them together.
@inline(__always)
private func tile(weights w: UnsafeMutablePointer<Float>, rowCount: Int, x: UnsafeMutablePointer<Float>, tokenCount: Int,
                  width: Int, output: UnsafeMutablePointer<Float>, outputStride: Int, bias: UnsafeMutablePointer<Float>?) {
    // Missing rows or tokens repeat the last real one, so the loop body has no branches; their sums are dropped.
    let r1 = min(1, rowCount - 1), r2 = min(2, rowCount - 1), r3 = min(3, rowCount - 1)
    let t1 = min(1, tokenCount - 1), t2 = min(2, tokenCount - 1), t3 = min(3, tokenCount - 1)
    let w0 = UnsafeRawPointer(w), w1 = UnsafeRawPointer(w + r1 * width)
    let w2 = UnsafeRawPointer(w + r2 * width), w3 = UnsafeRawPointer(w + r3 * width)
    let x0 = UnsafeRawPointer(x), x1 = UnsafeRawPointer(x + t1 * width)
    let x2 = UnsafeRawPointer(x + t2 * width), x3 = UnsafeRawPointer(x + t3 * width)
    var a00 = SIMD16<Float>(), a01 = SIMD16<Float>(), a02 = SIMD16<Float>(), a03 = SIMD16<Float>()
    var a10 = SIMD16<Float>(), a11 = SIMD16<Float>(), a12 = SIMD16<Float>(), a13 = SIMD16<Float>()
    var a20 = SIMD16<Float>(), a21 = SIMD16<Float>(), a22 = SIMD16<Float>(), a23 = SIMD16<Float>()
    var a30 = SIMD16<Float>(), a31 = SIMD16<Float>(), a32 = SIMD16<Float>(), a33 = SIMD16<Float>()
    var i = 0
    while i &+ 16 <= width {
        let offset = 4 &* i
        let v0 = x0.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
        let v1 = x1.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
        let v2 = x2.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
        let v3 = x3.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
        var u = w0.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
        a00.multiplyAdd(u, v0); a01.multiplyAdd(u, v1); a02.multiplyAdd(u, v2); a03.multiplyAdd(u, v3)
        u = w1.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
        a10.multiplyAdd(u, v0); a11.multiplyAdd(u, v1); a12.multiplyAdd(u, v2); a13.multiplyAdd(u, v3)
        u = w2.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
        a20.multiplyAdd(u, v0); a21.multiplyAdd(u, v1); a22.multiplyAdd(u, v2); a23.multiplyAdd(u, v3)
        u = w3.loadUnaligned(fromByteOffset: offset, as: SIMD16<Float>.self)
        a30.multiplyAdd(u, v0); a31.multiplyAdd(u, v1); a32.multiplyAdd(u, v2); a33.multiplyAdd(u, v3)
        i &+= 16
    }
    // Lane r·4 + t holds row r · token t (a SIMD value, so no heap allocation per tile).
    var sums = SIMD16<Float>(
        horizontalSum(a00), horizontalSum(a01), horizontalSum(a02), horizontalSum(a03),
        horizontalSum(a10), horizontalSum(a11), horizontalSum(a12), horizontalSum(a13),
        horizontalSum(a20), horizontalSum(a21), horizontalSum(a22), horizontalSum(a23),
        horizontalSum(a30), horizontalSum(a31), horizontalSum(a32), horizontalSum(a33))
    let rowIndex = SIMD4(0, r1, r2, r3), tokenIndex = SIMD4(0, t1, t2, t3)
    while i < width {   // the columns after the last full vector
        for r in 0..<4 { for t in 0..<4 { sums[r * 4 + t] += w[rowIndex[r] * width + i] * x[tokenIndex[t] * width + i] } }
        i += 1
    }
    for r in 0..<rowCount {
        for t in 0..<tokenCount { output[t * outputStride + r] = sums[r * 4 + t] + (bias?[r] ?? 0) }
    }
}

import Foundation

/// Causal multi-head attention of `newTokens` queries over a key/value cache that already holds
/// their keys and values: query t (at position `past + t`) attends to positions 0...past+t.
///
/// Layouts: query row t starts at `queries[t · queryStride]`, head h at `+ h · headDim`; cache row j
/// at `keys[j · cacheStride]` likewise; output row t at `output[t · heads · headDim]`. The offsets
/// select one sequence's rows inside a batch (`queryOffset` and `outputOffset` count floats).
public func causalAttention(queries: FloatBuffer, queryStride: Int, queryOffset: Int = 0, newTokens: Int, past: Int,
                            keys: FloatBuffer, values: FloatBuffer, cacheStride: Int,
                            heads: Int, headDim: Int, scale: Float,
                            output: FloatBuffer, outputOffset: Int = 0, pool: ThreadPool) {
    let total = past + newTokens
    precondition(keys.count >= total * cacheStride && values.count >= total * cacheStride)
    precondition(queryOffset >= 0 && queries.count >= queryOffset + (newTokens - 1) * queryStride + heads * headDim)
    precondition(outputOffset >= 0 && output.count >= outputOffset + newTokens * heads * headDim)
    let q = queries.base + queryOffset, k = keys.base, v = values.base, y = output.base + outputOffset
    pool.parallelFor(heads * newTokens) { item in
        let h = item % heads, t = item / heads
        let visible = past + t + 1
        let query = q + t * queryStride + h * headDim
        let out = y + t * heads * headDim + h * headDim
        withUnsafeTemporaryAllocation(of: Float.self, capacity: (visible + 15) / 16 * 16) { buffer in
            let scores = buffer.baseAddress!
            var maximum = -Float.infinity
            for j in 0..<visible {
                let s = dot(query, k + j * cacheStride + h * headDim, headDim) * scale
                scores[j] = s
                maximum = max(maximum, s)
            }
            // Softmax numerators 16 at a time; the padding lanes are set to −∞ so they add 0.
            for j in visible..<((visible + 15) / 16 * 16) { scores[j] = -.infinity }
            let raw = UnsafeMutableRawPointer(scores)
            var sums = SIMD16<Float>()
            for j in Swift.stride(from: 0, to: visible, by: 16) {
                let e = vectorExp(raw.loadUnaligned(fromByteOffset: 4 * j, as: SIMD16<Float>.self) - maximum)
                raw.storeBytes(of: e, toByteOffset: 4 * j, as: SIMD16<Float>.self)
                sums += e
            }
            out.update(repeating: 0, count: headDim)
            let inverse = 1 / horizontalSum(sums)
            for j in 0..<visible { axpy(scores[j] * inverse, v + j * cacheStride + h * headDim, out, headDim) }
        }
    }
}

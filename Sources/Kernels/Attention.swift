import Foundation

/// Causal multi-head attention of `newTokens` queries over a key/value cache that already holds
/// their keys and values: query t (at position `past + t`) attends to positions 0...past+t.
///
/// Layouts: query row t starts at `queries[queryOffset + t · queryStride]`, head h at `+ h · headDim`;
/// output row t at `output[outputOffset + t · heads · headDim]`. Keys and values are read in whatever
/// precision their storage keeps (float32, float16 or int8), converted on the fly.
public func causalAttention(queries: FloatBuffer, queryStride: Int, queryOffset: Int = 0, newTokens: Int, past: Int,
                            keys: KVStorage, values: KVStorage, heads: Int, headDim: Int, scale: Float,
                            output: FloatBuffer, outputOffset: Int = 0, pool: ThreadPool) {
    let total = past + newTokens
    precondition(keys.capacity >= total && values.capacity >= total && keys.headDim == headDim && values.headDim == headDim)
    precondition(keys.width == heads * headDim && values.width == heads * headDim)
    precondition(queryOffset >= 0 && queries.count >= queryOffset + (newTokens - 1) * queryStride + heads * headDim)
    precondition(outputOffset >= 0 && output.count >= outputOffset + newTokens * heads * headDim)
    let q = queries.base + queryOffset, y = output.base + outputOffset
    pool.parallelFor(heads * newTokens) { item in
        let h = item % heads, t = item / heads
        let visible = past + t + 1
        let query = q + t * queryStride + h * headDim
        let out = y + t * heads * headDim + h * headDim
        withUnsafeTemporaryAllocation(of: Float.self, capacity: (visible + 15) / 16 * 16) { buffer in
            let scores = buffer.baseAddress!
            var maximum = -Float.infinity
            // Each head's keys and values are short runs (128 bytes a position for f16) that the hardware
            // prefetcher meets cold; asking for keys 16 positions ahead and for each value as its key is read
            // made decode attention about 5% faster on gpt2-xl (tools/README.md).
            for j in 0..<min(Attention.keysAhead, visible) { keys.prefetch(position: j, head: h) }
            for j in 0..<visible {
                values.prefetch(position: j, head: h)
                if j &+ Attention.keysAhead < visible { keys.prefetch(position: j &+ Attention.keysAhead, head: h) }
                let s = keys.dot(query, position: j, head: h) * scale
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
            for j in 0..<visible { values.accumulate(scores[j] * inverse, position: j, head: h, into: out) }
        }
    }
}

/// Tuning of `causalAttention`.
enum Attention {
    /// Positions ahead of the current one whose keys are prefetched.
    static let keysAhead = 16
}

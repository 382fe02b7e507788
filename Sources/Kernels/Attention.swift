import Foundation

/// Causal multi-head attention of `newTokens` queries over a key/value cache that already holds
/// their keys and values: query t (at position `past + t`) attends to positions 0...past+t.
///
/// Each query of each head is one work item. A head size of 64 (every GPT-2 size) takes `attendOne64`, which keeps
/// the query and the output in registers; other head sizes take `attendOne`.
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
    if headDim == 64 {
        pool.parallelFor(heads * newTokens) { item in
            let h = item % heads, t = item / heads
            attendOne64(q + t * queryStride + h * 64, position: past + t, head: h, keys: keys, values: values,
                        scale: scale, output: y + t * heads * 64 + h * 64)
        }
    } else {
        pool.parallelFor(heads * newTokens) { item in
            let h = item % heads, t = item / heads
            attendOne(q + t * queryStride + h * headDim, position: past + t, head: h, keys: keys, values: values,
                      headDim: headDim, scale: scale, output: y + t * heads * headDim + h * headDim)
        }
    }
}

/// One query (at `position`) of one head over positions `0...position`, for a head size of 64 (every GPT-2
/// size): the query and the output stay in registers (`Vector64`), keys and values are read once each.
private func attendOne64(_ query: UnsafeMutablePointer<Float>, position: Int, head h: Int, keys: KVStorage, values: KVStorage,
                         scale: Float, output: UnsafeMutablePointer<Float>) {
    let visible = position + 1, padded = (visible + 15) / 16 * 16
    let q = Vector64(query)
    // On the heap, not in a closure-scoped stack buffer: the closure would not inline.
    let scores = UnsafeMutablePointer<Float>.allocate(capacity: padded)
    // Each head's keys and values are short runs (128 bytes a position for f16) that the hardware
    // prefetcher meets cold; asking for keys 16 positions ahead and for each value as its key is read
    // made decode attention about 5% faster on gpt2-xl (tools/README.md).
    for j in 0..<min(Attention.keysAhead, visible) { keys.prefetch(position: j, head: h) }
    var maximum = -Float.infinity
    for j in 0..<visible {
        values.prefetch(position: j, head: h)
        if j &+ Attention.keysAhead < visible { keys.prefetch(position: j &+ Attention.keysAhead, head: h) }
        let s = q.dot(keys.vector64(position: j, head: h)) * scale
        scores[j] = s
        maximum = max(maximum, s)
    }
    let inverse = softmaxNumerators(scores, count: visible, padded: padded, maximum: maximum)
    var o = Vector64.zero
    for j in 0..<visible { o.add(values.vector64(position: j, head: h), times: scores[j]) }
    o.scale(by: inverse)
    o.store(to: output)
    scores.deallocate()
}

/// One query (at `position`) of one head over positions `0...position`, any head size.
private func attendOne(_ query: UnsafeMutablePointer<Float>, position: Int, head h: Int, keys: KVStorage, values: KVStorage,
                       headDim: Int, scale: Float, output out: UnsafeMutablePointer<Float>) {
    let visible = position + 1
    withUnsafeTemporaryAllocation(of: Float.self, capacity: (visible + 15) / 16 * 16) { buffer in
        let scores = buffer.baseAddress!
        var maximum = -Float.infinity
        for j in 0..<visible {
            let s = keys.dot(query, position: j, head: h) * scale
            scores[j] = s
            maximum = max(maximum, s)
        }
        let inverse = softmaxNumerators(scores, count: visible, padded: (visible + 15) / 16 * 16, maximum: maximum)
        out.update(repeating: 0, count: headDim)
        for j in 0..<visible { values.accumulate(scores[j] * inverse, position: j, head: h, into: out) }
    }
}

/// Replaces `scores[0..<count]` by exp(score − maximum), 16 at a time (the padding up to `padded` is set to −∞
/// so it adds 0), and returns 1 / their sum.
@inline(__always)
private func softmaxNumerators(_ scores: UnsafeMutablePointer<Float>, count: Int, padded: Int, maximum: Float) -> Float {
    for j in count..<padded { scores[j] = -.infinity }
    let raw = UnsafeMutableRawPointer(scores)
    var sums = SIMD16<Float>()
    for j in Swift.stride(from: 0, to: count, by: 16) {
        let e = vectorExp(raw.loadUnaligned(fromByteOffset: 4 * j, as: SIMD16<Float>.self) - maximum)
        raw.storeBytes(of: e, toByteOffset: 4 * j, as: SIMD16<Float>.self)
        sums += e
    }
    return 1 / horizontalSum(sums)
}

/// Tuning of `causalAttention`.
enum Attention {
    /// Positions ahead of the current one whose keys are prefetched.
    static let keysAhead = 16
}

import Foundation

/// Causal multi-head attention of `newTokens` queries over a key/value cache that already holds
/// their keys and values: query t (at position `past + t`) attends to positions 0...past+t.
///
/// Each query of each head is one work item. A head size of 64 (every GPT-2 size) takes `attendOne64`, which keeps
/// the query and the output in registers, or for a prompt of `Attention.blockedFrom` tokens or more,
/// `promptAttention64`; other head sizes take `attendOne`.
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
    if headDim == 64 && newTokens >= Attention.blockedFrom {
        promptAttention64(q, queryStride: queryStride, newTokens: newTokens, past: past, keys: keys, values: values,
                          heads: heads, scale: scale, output: y, pool: pool)
    } else if headDim == 64 {
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
    // made decode attention about 5% faster on gpt2-xl (docs/measurements.md).
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

/// Prompt attention for a head size of 64, four queries of one head per work item. Each head's keys are first
/// transposed to float32, 16 positions at a time (`[position / 16][d][position % 16]`), so that a block's scores
/// against 16 keys are 64 multiplies and multiply-adds and 15 adds, a key per lane, with no horizontal sum
/// (per-query attention spends more on each key's horizontal sum than on its 64 products), and every key row of a
/// block is a constant offset from the block's start (with `[d][position]` rows the compiler kept 64 row addresses,
/// and spilled them); the values are then read once for the four queries. Every number of
/// each query's result is computed as `attendOne64` computes it (scores, softmax, weighted values), so a position
/// gets the same bits whether its prompt came in one call or several.
private func promptAttention64(_ q: UnsafeMutablePointer<Float>, queryStride: Int, newTokens: Int, past: Int,
                               keys: KVStorage, values: KVStorage, heads: Int, scale: Float,
                               output y: UnsafeMutablePointer<Float>, pool: ThreadPool) {
    let total = past + newTokens, padded = (total + 15) / 16 * 16
    let transposed = UnsafeMutablePointer<Float>.allocate(capacity: heads * 64 * padded)
    defer { transposed.deallocate() }
    pool.parallelFor(heads) { h in
        let kt = transposed + h * 64 * padded
        for j in 0..<total { keys.vector64(position: j, head: h).store(to: kt + (j / 16) * 1024 + j % 16, stride: 16) }
        let used = total - (padded - 16), lastBlock = kt + (padded - 16) * 64   // keys in the last block, its start
        if used < 16 { for d in 0..<64 { (lastBlock + d * 16 + used).update(repeating: 0, count: 16 - used) } }
    }
    let blocks = (newTokens + 3) / 4
    // The last blocks see the most keys: handed out first, so that no thread is left with a long one at the end.
    pool.parallelFor(heads * blocks) { item in
        let h = item % heads, block = blocks - 1 - item / heads
        attendBlock64(q, queryStride: queryStride, firstToken: 4 * block, count: min(4, newTokens - 4 * block), past: past,
                      head: h, transposedKeys: transposed + h * 64 * padded, values: values,
                      heads: heads, scale: scale, output: y)
    }
}

/// Queries `firstToken ..< firstToken + count` (count ≤ 4) of head `h`; a missing query repeats the last one and
/// is not stored.
private func attendBlock64(_ q: UnsafeMutablePointer<Float>, queryStride: Int, firstToken t0: Int, count: Int, past: Int,
                           head h: Int, transposedKeys kt: UnsafeMutablePointer<Float>, values: KVStorage,
                           heads: Int, scale: Float, output y: UnsafeMutablePointer<Float>) {
    let seen = past + t0 + count, span = (seen + 15) / 16 * 16   // keys any query of the block sees
    let q0 = q + t0 * queryStride + h * 64, q1 = q0 + min(1, count - 1) * queryStride
    let q2 = q0 + min(2, count - 1) * queryStride, q3 = q0 + min(3, count - 1) * queryStride
    let scores = UnsafeMutablePointer<Float>.allocate(capacity: 4 * span)
    defer { scores.deallocate() }
    let raw = UnsafeMutableRawPointer(scores), keysRaw = UnsafeRawPointer(kt)
    for j in Swift.stride(from: 0, to: span, by: 16) {
        // 16 keys' scores, each summed exactly as `Vector64.dot` sums a query and a key in decode (`attendOne64`):
        // the 16 lanes of its products (`lanes(l)`), then its `horizontalSum` tree over them. Determinism across
        // batch composition: a position's attention must not depend on whether its query came in a prompt of 8 or
        // more tokens (this path) or alone, since chunked prefill and prefix reuse split prompts anywhere. One
        // multiply-add chain over all 64 dimensions per key, as this did before, saves these 15 adds per key and
        // query (a quarter more arithmetic in this loop, which also waits on its loads) but rounds differently.
        let k = keysRaw + 4 &* 64 &* j   // the block of keys j ..< j + 16
        @inline(__always) func lanes(_ l: Int) -> BlockScores { productLanes(l, keys: k, q0, q1, q2, q3) }
        let quarter0 = (lanes(0) + lanes(8)) + (lanes(4) + lanes(12))
        let quarter2 = (lanes(2) + lanes(10)) + (lanes(6) + lanes(14))
        let quarter1 = (lanes(1) + lanes(9)) + (lanes(5) + lanes(13))
        let quarter3 = (lanes(3) + lanes(11)) + (lanes(7) + lanes(15))
        let s = (quarter0 + quarter2) + (quarter1 + quarter3)
        raw.storeBytes(of: s.s0 * scale, toByteOffset: 4 &* j, as: SIMD16<Float>.self)
        raw.storeBytes(of: s.s1 * scale, toByteOffset: 4 &* (span &+ j), as: SIMD16<Float>.self)
        raw.storeBytes(of: s.s2 * scale, toByteOffset: 4 &* (2 &* span &+ j), as: SIMD16<Float>.self)
        raw.storeBytes(of: s.s3 * scale, toByteOffset: 4 &* (3 &* span &+ j), as: SIMD16<Float>.self)
    }
    // Causal mask, then each query's numerators over all `span` positions (masked ones give 0).
    var inverses = SIMD4<Float>()
    for b in 0..<4 {
        let row = scores + b * span, visible = past + t0 + min(b, count - 1) + 1
        (row + visible).update(repeating: -.infinity, count: span - visible)
        inverses[b] = softmaxNumerators(row, count: span, padded: span, maximum: maximum(row, count: span))
    }
    var o0 = Vector64.zero, o1 = Vector64.zero, o2 = Vector64.zero, o3 = Vector64.zero
    for j in 0..<seen {
        let v = values.vector64(position: j, head: h)
        o0.add(v, times: scores[j])
        o1.add(v, times: scores[span &+ j])
        o2.add(v, times: scores[2 &* span &+ j])
        o3.add(v, times: scores[3 &* span &+ j])
    }
    for b in 0..<count {
        var o = b == 0 ? o0 : b == 1 ? o1 : b == 2 ? o2 : o3
        o.scale(by: inverses[b])
        o.store(to: y + (t0 + b) * heads * 64 + h * 64)
    }
}

/// One SIMD16 of scores per query of a four-query block, a lane per key.
private struct BlockScores {
    var s0, s1, s2, s3: SIMD16<Float>

    @inline(__always)
    static func + (a: BlockScores, b: BlockScores) -> BlockScores {
        BlockScores(s0: a.s0 + b.s0, s1: a.s1 + b.s1, s2: a.s2 + b.s2, s3: a.s3 + b.s3)
    }
}

/// Lane l of `Vector64.dot`'s products, q[l]·k[l] + q[16+l]·k[16+l] + q[32+l]·k[32+l] + q[48+l]·k[48+l] with its
/// multiply and multiply-adds in its order, for a block of 16 transposed keys at once (dimension d of key i at
/// float `d · 16 + i`) and the four queries of a block.
@inline(__always)
private func productLanes(_ l: Int, keys: UnsafeRawPointer, _ q0: UnsafeMutablePointer<Float>,
                          _ q1: UnsafeMutablePointer<Float>, _ q2: UnsafeMutablePointer<Float>,
                          _ q3: UnsafeMutablePointer<Float>) -> BlockScores {
    var k = keys.loadUnaligned(fromByteOffset: 64 &* l, as: SIMD16<Float>.self)
    var p = BlockScores(s0: SIMD16(repeating: q0[l]) * k, s1: SIMD16(repeating: q1[l]) * k,
                        s2: SIMD16(repeating: q2[l]) * k, s3: SIMD16(repeating: q3[l]) * k)
    for d in Swift.stride(from: l &+ 16, to: 64, by: 16) {
        k = keys.loadUnaligned(fromByteOffset: 64 &* d, as: SIMD16<Float>.self)
        p.s0.multiplyAdd(SIMD16(repeating: q0[d]), k)
        p.s1.multiplyAdd(SIMD16(repeating: q1[d]), k)
        p.s2.multiplyAdd(SIMD16(repeating: q2[d]), k)
        p.s3.multiplyAdd(SIMD16(repeating: q3[d]), k)
    }
    return p
}

/// The largest of `values[0..<count]`, `count` a multiple of 16.
@inline(__always)
private func maximum(_ values: UnsafeMutablePointer<Float>, count: Int) -> Float {
    let raw = UnsafeRawPointer(values)
    var lanes = SIMD16<Float>(repeating: -.infinity)
    for j in Swift.stride(from: 0, to: count, by: 16) {
        let v = raw.loadUnaligned(fromByteOffset: 4 * j, as: SIMD16<Float>.self)
        lanes.replace(with: v, where: v .> lanes)
    }
    var result = -Float.infinity
    for i in 0..<16 { result = max(result, lanes[i]) }
    return result
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
    /// New tokens from which a head size of 64 takes the blocked prompt path (`promptAttention64`).
    static let blockedFrom = 8
}

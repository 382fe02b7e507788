/// `output[t, o] = bias[o] + Σ_i input[t, i] · weight[i, o]` for weights stored [in, out]
/// (Hugging Face Conv1D layout, as GPT-2 checkpoints ship them).
///
/// Threads split the output columns into chunks; within a chunk, up to four tokens share each
/// weight row, so a prompt reads the weights once per four tokens instead of once per token.
public func linearInOut(input: FloatBuffer, rows: Int, inFeatures: Int,
                        weight: FloatBuffer, bias: FloatBuffer?, outFeatures: Int,
                        output: FloatBuffer, pool: ThreadPool) {
    precondition(input.count >= rows * inFeatures && output.count >= rows * outFeatures)
    precondition(weight.count == inFeatures * outFeatures && (bias == nil || bias!.count == outFeatures))
    let chunk = 256
    let chunks = (outFeatures + chunk - 1) / chunk
    let x = input.base, w = weight.base, y = output.base, b = bias?.base
    pool.parallelFor(chunks) { c in
        let start = c * chunk, width = min(chunk, outFeatures - start)
        var t0 = 0
        while t0 < rows {
            let block = min(4, rows - t0)
            for t in t0..<(t0 + block) {
                let row = y + t * outFeatures + start
                if let b { row.update(from: b + start, count: width) } else { row.update(repeating: 0, count: width) }
            }
            for i in 0..<inFeatures {
                let weightRow = w + i * outFeatures + start
                for t in t0..<(t0 + block) {
                    axpy(x[t * inFeatures + i], weightRow, y + t * outFeatures + start, width)
                }
            }
            t0 += block
        }
    }
}

/// `output[t, o] = bias[o] + Σ_i input[t, i] · weight[o, i]` for weights stored [out, in]
/// (the tied embedding used as the LM head). Threads split the output rows.
public func linearOutIn(input: FloatBuffer, rows: Int, inFeatures: Int,
                        weight: FloatBuffer, bias: FloatBuffer?, outFeatures: Int,
                        output: FloatBuffer, pool: ThreadPool) {
    precondition(input.count >= rows * inFeatures && output.count >= rows * outFeatures)
    precondition(weight.count == inFeatures * outFeatures && (bias == nil || bias!.count == outFeatures))
    let chunk = 64
    let chunks = (outFeatures + chunk - 1) / chunk
    let x = input.base, w = weight.base, y = output.base, b = bias?.base
    pool.parallelFor(chunks) { c in
        for o in (c * chunk)..<min(outFeatures, (c + 1) * chunk) {
            let weightRow = w + o * inFeatures
            for t in 0..<rows {
                y[t * outFeatures + o] = dot(x + t * inFeatures, weightRow, inFeatures) + (b?[o] ?? 0)
            }
        }
    }
}

/// y[0..<n] += a · x[0..<n], 16 lanes at a time (fused multiply-add), then a scalar tail.
@inline(__always)
func axpy(_ a: Float, _ x: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    let va = SIMD16<Float>(repeating: a)
    let rx = UnsafeRawPointer(x), ry = UnsafeMutableRawPointer(y)
    var i = 0
    while i &+ 16 <= n {
        var vy = ry.loadUnaligned(fromByteOffset: 4 &* i, as: SIMD16<Float>.self)
        vy.multiplyAdd(va, rx.loadUnaligned(fromByteOffset: 4 &* i, as: SIMD16<Float>.self))
        ry.storeBytes(of: vy, toByteOffset: 4 &* i, as: SIMD16<Float>.self)
        i &+= 16
    }
    while i < n { y[i] += a * x[i]; i += 1 }
}

/// Σ x[i]·y[i] over n elements, in 16 SIMD lanes (fused multiply-add) then a scalar tail.
@inline(__always)
func dot(_ x: UnsafeMutablePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) -> Float {
    let rx = UnsafeRawPointer(x), ry = UnsafeRawPointer(y)
    var accumulator = SIMD16<Float>()
    var i = 0
    while i &+ 16 <= n {
        accumulator.multiplyAdd(rx.loadUnaligned(fromByteOffset: 4 &* i, as: SIMD16<Float>.self),
                               ry.loadUnaligned(fromByteOffset: 4 &* i, as: SIMD16<Float>.self))
        i &+= 16
    }
    var sum = horizontalSum(accumulator)
    while i < n { sum += x[i] * y[i]; i += 1 }
    return sum
}

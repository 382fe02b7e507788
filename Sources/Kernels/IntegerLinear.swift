import CKernelSupport

/// `output[t, o] = bias[o] + Σ_g sw[o, g] · sx[t, g] · Σ_{i ∈ g} w[o, i] · x̂[t, i]` for the packed rows
/// `0..<matrix.packedRows`: the integer path (`MatrixKernel.integer`).
///
/// Each token is quantized per group (`QuantizedActivations`); each 16-row panel is then read once per block of
/// up to four tokens, 64 bytes at a time, and `gpt2edge_dot_u8s8` adds four columns of all 16 rows to one
/// Int32 lane per row and token. Only at the end of a group do the integers meet the two scales in floating
/// point, 16 rows at once, so there is no horizontal sum anywhere. Decode (one token) and prompt blocks share
/// this loop; work items are runs of whole panels.
func integerPanelLinear(input: UnsafeMutablePointer<Float>, tokens: Int, matrix: QuantizedMatrix, bias: UnsafeMutablePointer<Float>?,
                        output: UnsafeMutablePointer<Float>, pool: ThreadPool) {
    let activations = QuantizedActivations(input, tokens: tokens, columns: matrix.columns, groupSize: matrix.groupSize,
                                           offset: matrix.storedOffset, pool: pool)
    defer { activations.deallocate() }
    let height = QuantizedMatrix.panelHeight, panels = matrix.packedRows / height
    let panelsPerItem = tokens < QuantizedLinearLayout.gemmThreshold
        ? max(1, QuantizedLinearLayout.decodeRowsPerChunk(rows: matrix.packedRows, threads: pool.threadCount) / height) : 1
    pool.parallelFor((panels + panelsPerItem - 1) / panelsPerItem) { item in
        for p in (item * panelsPerItem)..<min(panels, (item + 1) * panelsPerItem) {
            var t = 0
            while t < tokens {
                let count = min(4, tokens - t)
                if count == 1 {
                    panelTile(matrix, panel: p, activations, firstToken: t, tokenCount: 1, width: 1, output: output, bias: bias)
                } else {
                    panelTile(matrix, panel: p, activations, firstToken: t, tokenCount: count, width: 4, output: output, bias: bias)
                }
                t += 4
            }
        }
    }
}

/// One panel × `tokenCount` tokens. `width` (1 or 4, a constant at each call site) is how many token
/// accumulators the loop runs; missing tokens repeat the last real one and their sums are dropped.
@inline(__always)
private func panelTile(_ matrix: QuantizedMatrix, panel p: Int, _ x: QuantizedActivations, firstToken t0: Int, tokenCount: Int,
                       width: Int, output: UnsafeMutablePointer<Float>, bias: UnsafeMutablePointer<Float>?) {
    let height = QuantizedMatrix.panelHeight, groupSize = matrix.groupSize, groups = matrix.groupsPerRow
    let quants = UnsafeRawPointer(matrix.quants + p * height * matrix.rowBytes)
    let scales = UnsafeRawPointer(matrix.scales + p * height * groups)
    let groupBytes = matrix.panelGroupBytes
    let t1 = t0 + min(1, tokenCount - 1), t2 = t0 + min(2, tokenCount - 1), t3 = t0 + min(3, tokenCount - 1)
    let x0 = UnsafeRawPointer(x.values + t0 * x.stride), x1 = UnsafeRawPointer(x.values + t1 * x.stride)
    let x2 = UnsafeRawPointer(x.values + t2 * x.stride), x3 = UnsafeRawPointer(x.values + t3 * x.stride)
    var f0 = SIMD16<Float>(), f1 = SIMD16<Float>(), f2 = SIMD16<Float>(), f3 = SIMD16<Float>()
    for g in 0..<groups {
        var i0 = SIMD16<Int32>(), i1 = SIMD16<Int32>(), i2 = SIMD16<Int32>(), i3 = SIMD16<Int32>()
        let w = quants + g &* groupBytes, column = g &* groupSize
        switch matrix.bits {
        case .eight:
            var u = 0
            while u < groupSize / 4 {
                let unit = w + u &* 64, c = column &+ 4 &* u
                if width == 1 {   // two units a step into two sums, so one dot product need not wait for the last
                    gpt2edge_dot_u8s8(&i0, unit, x0.loadUnaligned(fromByteOffset: c, as: Int32.self))
                    gpt2edge_dot_u8s8(&i1, unit + 64, x0.loadUnaligned(fromByteOffset: c &+ 4, as: Int32.self))
                    u &+= 2
                } else {
                    gpt2edge_dot_u8s8(&i0, unit, x0.loadUnaligned(fromByteOffset: c, as: Int32.self))
                    gpt2edge_dot_u8s8(&i1, unit, x1.loadUnaligned(fromByteOffset: c, as: Int32.self))
                    gpt2edge_dot_u8s8(&i2, unit, x2.loadUnaligned(fromByteOffset: c, as: Int32.self))
                    gpt2edge_dot_u8s8(&i3, unit, x3.loadUnaligned(fromByteOffset: c, as: Int32.self))
                    u &+= 1
                }
            }
            if width == 1 { i0 &+= i1 }
        case .four:
            // High nibbles stay in place (16 · q, the byte masked with 0xF0) and go to their own sums, which are a
            // multiple of 16 and are shifted back once per group: no shift per unit.
            var h0 = SIMD16<Int32>(), h1 = SIMD16<Int32>(), h2 = SIMD16<Int32>(), h3 = SIMD16<Int32>()
            var u = 0
            while u < groupSize / 8 {
                let packed = w.loadUnaligned(fromByteOffset: u &* 64, as: SIMD8<UInt64>.self)
                var low = packed & 0x0F0F_0F0F_0F0F_0F0F, high = packed & 0xF0F0_F0F0_F0F0_F0F0
                let c = column &+ 8 &* u
                gpt2edge_dot_u8s8(&i0, &low, x0.loadUnaligned(fromByteOffset: c, as: Int32.self))
                gpt2edge_dot_u8s8(&h0, &high, x0.loadUnaligned(fromByteOffset: c &+ 4, as: Int32.self))
                if width == 4 {
                    gpt2edge_dot_u8s8(&i1, &low, x1.loadUnaligned(fromByteOffset: c, as: Int32.self))
                    gpt2edge_dot_u8s8(&h1, &high, x1.loadUnaligned(fromByteOffset: c &+ 4, as: Int32.self))
                    gpt2edge_dot_u8s8(&i2, &low, x2.loadUnaligned(fromByteOffset: c, as: Int32.self))
                    gpt2edge_dot_u8s8(&h2, &high, x2.loadUnaligned(fromByteOffset: c &+ 4, as: Int32.self))
                    gpt2edge_dot_u8s8(&i3, &low, x3.loadUnaligned(fromByteOffset: c, as: Int32.self))
                    gpt2edge_dot_u8s8(&h3, &high, x3.loadUnaligned(fromByteOffset: c &+ 4, as: Int32.self))
                }
                u &+= 1
            }
            i0 &+= h0 &>> 4
            if width == 4 { i1 &+= h1 &>> 4; i2 &+= h2 &>> 4; i3 &+= h3 &>> 4 }
        }
        let rowScales = floats(scales.loadUnaligned(fromByteOffset: 2 &* height &* g, as: SIMD16<Float16>.self))
        let s0 = t0 &* groups &+ g
        f0.multiplyAdd(floats(i0 &- SIMD16(repeating: x.offsetSums[s0])), rowScales * x.scales[s0])
        if width == 4 {
            let s1 = t1 &* groups &+ g, s2 = t2 &* groups &+ g, s3 = t3 &* groups &+ g
            f1.multiplyAdd(floats(i1 &- SIMD16(repeating: x.offsetSums[s1])), rowScales * x.scales[s1])
            f2.multiplyAdd(floats(i2 &- SIMD16(repeating: x.offsetSums[s2])), rowScales * x.scales[s2])
            f3.multiplyAdd(floats(i3 &- SIMD16(repeating: x.offsetSums[s3])), rowScales * x.scales[s3])
        }
    }
    let first = p * height, outputStride = matrix.rows
    let b = bias.map { UnsafeRawPointer($0 + first).loadUnaligned(as: SIMD16<Float>.self) } ?? SIMD16<Float>()
    for t in 0..<tokenCount {
        let value = t == 0 ? f0 : t == 1 ? f1 : t == 2 ? f2 : f3
        UnsafeMutableRawPointer(output + (t0 + t) * outputStride + first).storeBytes(of: value + b, as: SIMD16<Float>.self)
    }
}

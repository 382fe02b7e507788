import CKernelSupport

/// `output[t, o] = bias[o] + Σ_g sw[o, g] · sx[t, g] · Σ_{i ∈ g} w[o, i] · x̂[t, i]` for the packed rows
/// `0..<matrix.packedRows`: the integer path (`MatrixKernel.integer`).
///
/// Tokens are quantized per group (`QuantizedActivations` for one token, `QuantizedTokenBlocks` for several);
/// each 16-row panel is then read once per token (decode) or per block of four tokens (prompt), 64 bytes at a
/// time, and `gpt2edge_dot_u8s8` adds four columns of all 16 rows to one Int32 lane per row and token. Only at
/// the end of a group do the integers meet the two scales in floating point, 16 rows at once, so there is no
/// horizontal sum anywhere. Work items are runs of whole panels.
func integerPanelLinear(input: UnsafeMutablePointer<Float>, tokens: Int, matrix: QuantizedMatrix, bias: UnsafeMutablePointer<Float>?,
                        output: UnsafeMutablePointer<Float>, pool: ThreadPool) {
    let height = QuantizedMatrix.panelHeight, panels = matrix.packedRows / height
    let panelsPerItem = tokens < QuantizedLinearLayout.gemmThreshold
        ? max(1, QuantizedLinearLayout.decodeRowsPerChunk(rows: matrix.packedRows, threads: pool.threadCount) / height) : 1
    let items = (panels + panelsPerItem - 1) / panelsPerItem
    if tokens == 1 {
        let activations = QuantizedActivations(input, columns: matrix.columns, groupSize: matrix.groupSize,
                                               offset: matrix.storedOffset)
        defer { activations.deallocate() }
        pool.parallelFor(items) { item in
            for p in (item * panelsPerItem)..<min(panels, (item + 1) * panelsPerItem) {
                panelTimesToken(matrix, panel: p, activations, output: output, bias: bias)
            }
        }
    } else {
        let blocks = QuantizedTokenBlocks(input, tokens: tokens, columns: matrix.columns, groupSize: matrix.groupSize,
                                          offset: matrix.storedOffset, pool: pool)
        defer { blocks.deallocate() }
        pool.parallelFor(items) { item in
            for p in (item * panelsPerItem)..<min(panels, (item + 1) * panelsPerItem) {
                for b in 0..<blocks.blocks {
                    panelTimesBlock(matrix, panel: p, blocks, block: b, tokenCount: min(4, tokens - 4 * b), output: output, bias: bias)
                }
            }
        }
    }
}

/// One panel × one token (decode).
@inline(__always)
private func panelTimesToken(_ matrix: QuantizedMatrix, panel p: Int, _ x: QuantizedActivations,
                             output: UnsafeMutablePointer<Float>, bias: UnsafeMutablePointer<Float>?) {
    let height = QuantizedMatrix.panelHeight, groupSize = matrix.groupSize, groups = matrix.groupsPerRow
    let quants = UnsafeRawPointer(matrix.quants + p * height * matrix.rowBytes)
    let scales = UnsafeRawPointer(matrix.scales + p * height * groups)
    let groupBytes = matrix.panelGroupBytes
    let x0 = UnsafeRawPointer(x.values)
    var f0 = SIMD16<Float>()
    for g in 0..<groups {
        var i0 = SIMD16<Int32>(), i1 = SIMD16<Int32>()
        let w = quants + g &* groupBytes, column = g &* groupSize
        switch matrix.bits {
        case .eight:
            // Two units a step into two sums, so one dot product need not wait for the last.
            var u = 0
            while u < groupSize / 4 {
                let unit = w + u &* 64, c = column &+ 4 &* u
                gpt2edge_dot_u8s8(&i0, unit, x0.loadUnaligned(fromByteOffset: c, as: Int32.self))
                gpt2edge_dot_u8s8(&i1, unit + 64, x0.loadUnaligned(fromByteOffset: c &+ 4, as: Int32.self))
                u &+= 2
            }
            i0 &+= i1
        case .four:
            // High nibbles stay in place (16 · q, the byte masked with 0xF0) and go to their own sums, which are a
            // multiple of 16 and are shifted back once per group: no shift per unit.
            var u = 0
            while u < groupSize / 8 {
                let packed = w.loadUnaligned(fromByteOffset: u &* 64, as: SIMD8<UInt64>.self)
                var low = packed & 0x0F0F_0F0F_0F0F_0F0F, high = packed & 0xF0F0_F0F0_F0F0_F0F0
                let c = column &+ 8 &* u
                gpt2edge_dot_u8s8(&i0, &low, x0.loadUnaligned(fromByteOffset: c, as: Int32.self))
                gpt2edge_dot_u8s8(&i1, &high, x0.loadUnaligned(fromByteOffset: c &+ 4, as: Int32.self))
                u &+= 1
            }
            i0 &+= i1 &>> 4
        }
        let rowScales = floats(scales.loadUnaligned(fromByteOffset: 2 &* height &* g, as: SIMD16<Float16>.self))
        f0.multiplyAdd(floats(i0 &- SIMD16(repeating: x.offsetSums[g])), rowScales * x.scales[g])
    }
    let first = p * height
    let b = bias.map { UnsafeRawPointer($0 + first).loadUnaligned(as: SIMD16<Float>.self) } ?? SIMD16<Float>()
    UnsafeMutableRawPointer(output + first).storeBytes(of: f0 + b, as: SIMD16<Float>.self)
}

/// One panel × one block of four tokens (prompt), of which the first `tokenCount` are real.
@inline(__always)
private func panelTimesBlock(_ matrix: QuantizedMatrix, panel p: Int, _ x: QuantizedTokenBlocks, block: Int, tokenCount: Int,
                             output: UnsafeMutablePointer<Float>, bias: UnsafeMutablePointer<Float>?) {
    let height = QuantizedMatrix.panelHeight, groupSize = matrix.groupSize, groups = matrix.groupsPerRow
    let quants = UnsafeRawPointer(matrix.quants + p * height * matrix.rowBytes)
    let scales = UnsafeRawPointer(matrix.scales + p * height * groups)
    let groupBytes = matrix.panelGroupBytes, recordBytes = x.recordBytes, scalesOffset = x.scalesOffset
    var record = x.block(block)
    var f0 = SIMD16<Float>(), f1 = SIMD16<Float>(), f2 = SIMD16<Float>(), f3 = SIMD16<Float>()
    for g in 0..<groups {
        var i0 = SIMD16<Int32>(), i1 = SIMD16<Int32>(), i2 = SIMD16<Int32>(), i3 = SIMD16<Int32>()
        let w = quants + g &* groupBytes
        switch matrix.bits {
        case .eight:
            for u in 0..<groupSize / 4 {
                let unit = w + u &* 64, a = record + u &* 16
                gpt2edge_dot_u8s8(&i0, unit, a.load(as: Int32.self))
                gpt2edge_dot_u8s8(&i1, unit, a.load(fromByteOffset: 4, as: Int32.self))
                gpt2edge_dot_u8s8(&i2, unit, a.load(fromByteOffset: 8, as: Int32.self))
                gpt2edge_dot_u8s8(&i3, unit, a.load(fromByteOffset: 12, as: Int32.self))
            }
        case .four:
            var h0 = SIMD16<Int32>(), h1 = SIMD16<Int32>(), h2 = SIMD16<Int32>(), h3 = SIMD16<Int32>()
            for u in 0..<groupSize / 8 {
                let packed = w.loadUnaligned(fromByteOffset: u &* 64, as: SIMD8<UInt64>.self)
                var low = packed & 0x0F0F_0F0F_0F0F_0F0F, high = packed & 0xF0F0_F0F0_F0F0_F0F0
                let a = record + u &* 32   // columns 8u..<8u+4 for the low nibbles, the next four for the high
                gpt2edge_dot_u8s8(&i0, &low, a.load(as: Int32.self))
                gpt2edge_dot_u8s8(&i1, &low, a.load(fromByteOffset: 4, as: Int32.self))
                gpt2edge_dot_u8s8(&i2, &low, a.load(fromByteOffset: 8, as: Int32.self))
                gpt2edge_dot_u8s8(&i3, &low, a.load(fromByteOffset: 12, as: Int32.self))
                gpt2edge_dot_u8s8(&h0, &high, a.load(fromByteOffset: 16, as: Int32.self))
                gpt2edge_dot_u8s8(&h1, &high, a.load(fromByteOffset: 20, as: Int32.self))
                gpt2edge_dot_u8s8(&h2, &high, a.load(fromByteOffset: 24, as: Int32.self))
                gpt2edge_dot_u8s8(&h3, &high, a.load(fromByteOffset: 28, as: Int32.self))
            }
            i0 &+= h0 &>> 4; i1 &+= h1 &>> 4; i2 &+= h2 &>> 4; i3 &+= h3 &>> 4
        }
        let rowScales = floats(scales.loadUnaligned(fromByteOffset: 2 &* height &* g, as: SIMD16<Float16>.self))
        let s = record + scalesOffset, o = record + (scalesOffset &+ 16)
        f0.multiplyAdd(floats(i0 &- SIMD16(repeating: o.load(as: Int32.self))), rowScales * s.load(as: Float.self))
        f1.multiplyAdd(floats(i1 &- SIMD16(repeating: o.load(fromByteOffset: 4, as: Int32.self))), rowScales * s.load(fromByteOffset: 4, as: Float.self))
        f2.multiplyAdd(floats(i2 &- SIMD16(repeating: o.load(fromByteOffset: 8, as: Int32.self))), rowScales * s.load(fromByteOffset: 8, as: Float.self))
        f3.multiplyAdd(floats(i3 &- SIMD16(repeating: o.load(fromByteOffset: 12, as: Int32.self))), rowScales * s.load(fromByteOffset: 12, as: Float.self))
        record += recordBytes
    }
    let first = p * height, outputStride = matrix.rows, t0 = block * 4
    let b = bias.map { UnsafeRawPointer($0 + first).loadUnaligned(as: SIMD16<Float>.self) } ?? SIMD16<Float>()
    for t in 0..<tokenCount {
        let value = t == 0 ? f0 : t == 1 ? f1 : t == 2 ? f2 : f3
        UnsafeMutableRawPointer(output + (t0 + t) * outputStride + first).storeBytes(of: value + b, as: SIMD16<Float>.self)
    }
}

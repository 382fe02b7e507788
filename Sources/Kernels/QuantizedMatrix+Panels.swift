import Foundation

/// The panel layout of the integer kernels: 16 rows side by side, so one 64-byte load holds four columns of all
/// 16 rows and one `gpt2edge_dot_u8s8` multiplies them with four activation bytes (an Int32 lane per row).
///
/// Panel p is rows 16p ..< 16p + 16 and takes exactly the bytes those rows took, so packing is in place:
/// - quants, group by group, then unit by unit (4 columns for int8, 8 for int4): 16 rows × 4 bytes, row r at
///   byte 4r of the 64. An int8 byte holds q + 128 (unsigned for `vpdpbusd`); int4 byte k of a unit holds
///   column k of the unit in its low nibble and column 4 + k in its high nibble, each as stored (q + 8).
/// - scales: for each group, the 16 rows' fp16 scales side by side (one 32-byte load per group).
/// Rows after the last whole panel stay row-major and take the float path.
extension QuantizedMatrix {
    /// Rows per panel: one Int32 lane each in a 64-byte vector.
    static let panelHeight = 16

    /// Bytes of one group of one panel.
    var panelGroupBytes: Int { Self.panelHeight * groupSize * bits.rawValue / 8 }

    /// How much a stored unsigned value exceeds the signed one: 128 for int8 (after packing), 8 for int4.
    var storedOffset: Int32 { bits == .eight ? 128 : 8 }

    /// Rearranges every whole 16-row panel in place for the integer kernels (`MatrixKernel.integer`): one pass
    /// over the weights, four bytes at a time, panels split across the cores; a second call does nothing.
    public func packForIntegerDot() {
        guard packedRows == 0 else { return }
        let panels = rows / Self.panelHeight
        let workers = min(panels, ProcessInfo.processInfo.activeProcessorCount)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            let height = Self.panelHeight, panelBytes = height * rowBytes
            let rowMajor = UnsafeMutableRawPointer.allocate(byteCount: panelBytes, alignment: 64)
            let rowMajorScales = UnsafeMutablePointer<Float16>.allocate(capacity: height * groupsPerRow)
            defer { rowMajor.deallocate(); rowMajorScales.deallocate() }
            for p in Swift.stride(from: worker, to: panels, by: workers) {
                let panel = UnsafeMutableRawPointer(quants + p * panelBytes)
                rowMajor.copyMemory(from: panel, byteCount: panelBytes)
                for n in 0..<(rowBytes / 4) { panel.storeBytes(of: packedUnit(n, rows: UnsafeRawPointer(rowMajor)), toByteOffset: 64 * n, as: SIMD16<UInt32>.self) }
                let panelScales = scales + p * height * groupsPerRow
                rowMajorScales.update(from: panelScales, count: height * groupsPerRow)
                for r in 0..<height {
                    for g in 0..<groupsPerRow { panelScales[g * height + r] = rowMajorScales[r * groupsPerRow + g] }
                }
            }
        }
        packedRows = panels * Self.panelHeight
    }

    /// Unit n of a panel (units count across groups: each group's follow the previous group's), as 16 words,
    /// one per row, from the panel's row-major copy `rows`.
    @inline(__always)
    private func packedUnit(_ n: Int, rows: UnsafeRawPointer) -> SIMD16<UInt32> {
        var unit = SIMD16<UInt32>()
        switch bits {
        case .eight:
            for r in 0..<Self.panelHeight { unit[r] = rows.loadUnaligned(fromByteOffset: r * rowBytes + 4 * n, as: UInt32.self) ^ 0x8080_8080 }
        case .four:
            // Columns 8u ..< 8u + 8 of group g: all in low nibbles (first half) or all in high ones.
            let half = groupSize / 2, unitsPerGroup = groupSize / 8
            let g = n / unitsPerGroup, column = 8 * (n % unitsPerGroup)
            for r in 0..<Self.panelHeight {
                let bytes = rows.loadUnaligned(fromByteOffset: r * rowBytes + g * half + column % half, as: UInt64.self)
                let nibbles = (column < half ? bytes : bytes >> 4) & 0x0F0F_0F0F_0F0F_0F0F
                unit[r] = UInt32(truncatingIfNeeded: nibbles) | UInt32(truncatingIfNeeded: nibbles >> 32) << 4
            }
        }
        return unit
    }

    /// Value j of group `group` of a packed row, as a signed integer.
    func packedQuant(row: Int, group: Int, index j: Int) -> Int {
        let height = Self.panelHeight
        let panel = quants + (row / height) * height * rowBytes + group * panelGroupBytes + 4 * (row % height)
        switch bits {
        case .eight:
            return Int(panel[(j / 4) * 64 + j % 4]) - 128
        case .four:
            let byte = panel[(j / 8) * 64 + j % 4]
            return Int(j % 8 < 4 ? byte & 0x0F : byte >> 4) - 8
        }
    }

    /// Index in `scales` of a packed row's group scale.
    func packedScaleIndex(row: Int, group: Int) -> Int {
        let height = Self.panelHeight
        return (row / height) * height * groupsPerRow + group * height + row % height
    }
}

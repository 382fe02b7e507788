import Dispatch

/// The panel layout of the integer kernels (formats/GQZ.md §5, `"layout": "panels16"`): 16 rows side by side, so one
/// 64-byte load holds four columns of all 16 rows and one integer dot product multiplies them with four activation
/// bytes (an Int32 lane per row).
///
/// Panel p is rows 16p ..< 16p + 16 of a q8/q4 payload and takes exactly the bytes those rows take in the row-major
/// layout, so the change is in place:
/// - quants, group by group, then unit by unit (4 columns for int8, 8 for int4): 16 rows × 4 bytes, row r at byte 4r
///   of the 64. An int8 byte holds q + 128 (unsigned, for `vpdpbusd`); int4 byte k of a unit holds column k of the unit
///   in its low nibble and column 4 + k in its high nibble, each as stored (q + 8).
/// - scales: for each group, the 16 rows' fp16 scales side by side.
/// Rows after the last whole panel stay row-major.
///
/// ```swift
/// payload.withUnsafeMutableBytes { PanelLayout.pack($0, rows: 768, columns: 2304, scheme: .int8(groupSize: 32)) }
/// ```
public enum PanelLayout {
    /// Rows per panel: one Int32 lane each in a 64-byte vector.
    public static let height = 16

    /// The layout's name in a `.gqz` index.
    public static let name = "panels16"

    /// Rows of a `rows`-row matrix that are in panels (the whole panels).
    public static func packedRows(_ rows: Int) -> Int { rows / height * height }

    /// Rearranges the whole panels of a `rows × columns` q8/q4 payload (§5's row-major layout) into panels, in place;
    /// panels are split across `workers` threads.
    public static func pack(_ payload: UnsafeMutableRawBufferPointer, rows: Int, columns: Int, scheme: WeightScheme, workers: Int = 1) {
        transform(payload, rows: rows, columns: columns, scheme: scheme, workers: workers, packing: true)
    }

    /// The inverse of `pack`: the whole panels back to the row-major layout, in place.
    public static func unpack(_ payload: UnsafeMutableRawBufferPointer, rows: Int, columns: Int, scheme: WeightScheme, workers: Int = 1) {
        transform(payload, rows: rows, columns: columns, scheme: scheme, workers: workers, packing: false)
    }

    private static func transform(_ payload: UnsafeMutableRawBufferPointer, rows: Int, columns: Int, scheme: WeightScheme,
                                  workers: Int, packing: Bool) {
        guard let bits = scheme.bits, let groupSize = scheme.groupSize else { preconditionFailure("only q8/q4 payloads have panels") }
        precondition(payload.count == scheme.payloadBytes(rows: rows, columns: columns))
        let panels = rows / height
        let groups = scheme.groupsPerRow(columns: columns), rowBytes = scheme.quantBytesPerRow(columns: columns)
        guard panels > 0 && rowBytes > 0 else { return }   // no whole panel, or no columns (an empty payload)
        let base = payload.baseAddress!
        let regions = Regions(scales: base.bindMemory(to: UInt16.self, capacity: rows * groups),
                              quants: base + scheme.scaleBytes(rows: rows, columns: columns))
        let workerCount = max(1, min(panels, workers))
        DispatchQueue.concurrentPerform(iterations: workerCount) { worker in
            let panelBytes = height * rowBytes
            let copy = UnsafeMutableRawPointer.allocate(byteCount: panelBytes, alignment: 64)
            let copiedScales = UnsafeMutablePointer<UInt16>.allocate(capacity: height * groups)
            defer { copy.deallocate(); copiedScales.deallocate() }
            for p in Swift.stride(from: worker, to: panels, by: workerCount) {
                let panel = regions.quants + p * panelBytes
                copy.copyMemory(from: panel, byteCount: panelBytes)
                let panelScales = regions.scales + p * height * groups
                copiedScales.update(from: panelScales, count: height * groups)
                if packing {
                    for n in 0..<(rowBytes / 4) {
                        panel.storeBytes(of: packedUnit(n, rows: UnsafeRawPointer(copy), rowBytes: rowBytes, bits: bits, groupSize: groupSize),
                                         toByteOffset: 64 * n, as: SIMD16<UInt32>.self)
                    }
                    for r in 0..<height { for g in 0..<groups { panelScales[g * height + r] = copiedScales[r * groups + g] } }
                } else {
                    if bits == .four { panel.initializeMemory(as: UInt8.self, repeating: 0, count: panelBytes) }
                    for n in 0..<(rowBytes / 4) {
                        unpackUnit(n, from: copy.load(fromByteOffset: 64 * n, as: SIMD16<UInt32>.self), into: panel, rowBytes: rowBytes,
                                   bits: bits, groupSize: groupSize)
                    }
                    for r in 0..<height { for g in 0..<groups { panelScales[r * groups + g] = copiedScales[g * height + r] } }
                }
            }
        }
    }

    /// A payload's scales and quants, shared by the workers (each writes only its own panels).
    private struct Regions: @unchecked Sendable {
        let scales: UnsafeMutablePointer<UInt16>
        let quants: UnsafeMutableRawPointer
    }

    /// Unit n of a panel (units count across groups: each group's follow the previous group's), as 16 words, one per
    /// row, from the panel's row-major bytes `rows`.
    @inline(__always)
    private static func packedUnit(_ n: Int, rows: UnsafeRawPointer, rowBytes: Int, bits: IntegerBits, groupSize: Int) -> SIMD16<UInt32> {
        var unit = SIMD16<UInt32>()
        switch bits {
        case .eight:
            for r in 0..<height { unit[r] = rows.loadUnaligned(fromByteOffset: r * rowBytes + 4 * n, as: UInt32.self) ^ 0x8080_8080 }
        case .four:
            // Columns 8u ..< 8u + 8 of group g: all in low nibbles (first half) or all in high ones.
            let half = groupSize / 2, unitsPerGroup = groupSize / 8
            let g = n / unitsPerGroup, column = 8 * (n % unitsPerGroup)
            for r in 0..<height {
                let bytes = rows.loadUnaligned(fromByteOffset: r * rowBytes + g * half + column % half, as: UInt64.self)
                let nibbles = (column < half ? bytes : bytes >> 4) & 0x0F0F_0F0F_0F0F_0F0F
                unit[r] = UInt32(truncatingIfNeeded: nibbles) | UInt32(truncatingIfNeeded: nibbles >> 32) << 4
            }
        }
        return unit
    }

    /// Writes unit n's 16 words back into the panel's row-major bytes (`rows`; for int4 zeroed first, each unit
    /// filling one nibble of each of its bytes).
    @inline(__always)
    private static func unpackUnit(_ n: Int, from unit: SIMD16<UInt32>, into rows: UnsafeMutableRawPointer, rowBytes: Int, bits: IntegerBits,
                                   groupSize: Int) {
        switch bits {
        case .eight:
            for r in 0..<height { rows.storeBytes(of: unit[r] ^ 0x8080_8080, toByteOffset: r * rowBytes + 4 * n, as: UInt32.self) }
        case .four:
            let half = groupSize / 2, unitsPerGroup = groupSize / 8
            let g = n / unitsPerGroup, column = 8 * (n % unitsPerGroup)
            for r in 0..<height {
                let word = UInt64(unit[r])
                // Back to 8 nibbles, one per byte: columns column ..< column + 4 from the low nibbles, the next 4 from the high.
                let nibbles = (word & 0x0F0F_0F0F) | ((word >> 4) & 0x0F0F_0F0F) << 32
                let offset = r * rowBytes + g * half + column % half
                let old = rows.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
                rows.storeBytes(of: old | (column < half ? nibbles : nibbles << 4), toByteOffset: offset, as: UInt64.self)
            }
        }
    }
}

import WeightFormat

/// A `[rows, columns]` weight matrix in a `.gqz` integer layout (formats/GQZ.md §4), in one 64-byte aligned block:
/// `rows × groupsPerRow` fp16 scales, then each row's quants padded to whole groups, as `WeightScheme` sizes
/// them and `QuantizedGroup` lays out each group.
///
/// `packForIntegerDot()` may rearrange the first `packedRows` rows in place into 16-row panels for the
/// integer kernels (QuantizedMatrix+Panels.swift); `quant`, `scale` and `dequantizeRow` read either layout.
// @unchecked: raw kernel storage, written only by `fill`/`overwrite`/`packForIntegerDot` before (or between) forward passes.
public final class QuantizedMatrix: @unchecked Sendable {

    public let rows: Int
    public let columns: Int
    public let groupSize: Int
    public let bits: IntegerBits
    public let groupsPerRow: Int
    /// Bytes of quants per row.
    public let rowBytes: Int
    /// Size of the whole payload (scales + quants).
    public let byteCount: Int
    let storage: UnsafeMutableRawPointer
    let scales: UnsafeMutablePointer<Float16>
    let quants: UnsafeMutablePointer<UInt8>
    /// Rows `0..<packedRows` are in the panel layout of the integer kernels; the rest are row-major.
    public internal(set) var packedRows = 0

    /// The scheme the payload is stored in.
    public var scheme: WeightScheme { WeightScheme(bits: bits, groupSize: groupSize) }

    /// Allocates the matrix and lets `fill` write its payload bytes (e.g. straight from a decompressor); `packed`: they
    /// are in the panel layout already (a `.gqz` entry stored so), not row-major.
    public init(rows: Int, columns: Int, groupSize: Int, bits: IntegerBits, packed: Bool = false,
                fill: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        precondition(rows > 0 && columns > 0 && groupSize % 32 == 0)
        self.rows = rows
        self.columns = columns
        self.groupSize = groupSize
        self.bits = bits
        let scheme = WeightScheme(bits: bits, groupSize: groupSize)
        groupsPerRow = scheme.groupsPerRow(columns: columns)
        rowBytes = scheme.quantBytesPerRow(columns: columns)
        let scaleBytes = scheme.scaleBytes(rows: rows, columns: columns)
        byteCount = scheme.payloadBytes(rows: rows, columns: columns)
        storage = UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: 64)
        scales = storage.bindMemory(to: Float16.self, capacity: rows * groupsPerRow)
        quants = (storage + scaleBytes).bindMemory(to: UInt8.self, capacity: rows * rowBytes)
        // Every property is set, so if `fill` throws, deinit runs and frees the storage.
        try fill(UnsafeMutableRawBufferPointer(start: storage, count: byteCount))
        if packed { packedRows = PanelLayout.packedRows(rows) }
    }

    deinit { storage.deallocate() }

    /// Lets `fill` rewrite the whole payload in place (layer streaming reuses one matrix for every layer).
    public func overwrite(_ fill: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        packedRows = 0
        try fill(UnsafeMutableRawBufferPointer(start: storage, count: byteCount))
    }

    /// Writes row `row`, dequantized, to `output[offset ..< offset + columns]`.
    public func dequantizeRow(_ row: Int, into output: FloatBuffer, at offset: Int) {
        precondition(row >= 0 && row < rows && offset + columns <= output.count)
        dequantizeRow(row, into: output.base + offset)
    }

    /// Writes row `row`, dequantized, to `y[0 ..< columns]`: whole groups in SIMD, a partial last group value by value.
    func dequantizeRow(_ row: Int, into y: UnsafeMutablePointer<Float>) {
        if row < packedRows {   // an embedding lookup in a packed matrix: one row per token, value by value
            for j in 0..<columns { y[j] = scale(row: row, group: j / groupSize) * Float(quant(row: row, group: j / groupSize, index: j % groupSize)) }
            return
        }
        let q = UnsafeRawPointer(quants + row * rowBytes), out = UnsafeMutableRawPointer(y)
        let fullGroups = columns / groupSize, half = groupSize / 2
        for g in 0..<groupsPerRow {
            let scale = Float(scales[row * groupsPerRow + g]), start = g * groupSize
            guard g < fullGroups else {
                for j in 0..<(columns - start) { y[start + j] = scale * Float(quant(row: row, group: g, index: j)) }
                break
            }
            let s = SIMD16<Float>(repeating: scale)
            switch bits {
            case .eight:
                for j in Swift.stride(from: start, to: start + groupSize, by: 16) {
                    out.storeBytes(of: s * floats(q.loadUnaligned(fromByteOffset: j, as: SIMD16<Int8>.self)), toByteOffset: 4 * j, as: SIMD16<Float>.self)
                }
            case .four:
                for k in Swift.stride(from: 0, to: half, by: 16) {
                    let packed = q.loadUnaligned(fromByteOffset: start / 2 + k, as: SIMD16<UInt8>.self)
                    out.storeBytes(of: s * lowNibbles(packed), toByteOffset: 4 * (start + k), as: SIMD16<Float>.self)
                    out.storeBytes(of: s * highNibbles(packed), toByteOffset: 4 * (start + half + k), as: SIMD16<Float>.self)
                }
            }
        }
    }

    /// One stored value as a signed integer (q for int8, q − 8 for int4).
    @inline(__always)
    func quant(row: Int, group: Int, index j: Int) -> Int {
        if row < packedRows { return packedQuant(row: row, group: group, index: j) }
        return QuantizedGroup.value(bits: bits, bytes: UnsafeBufferPointer(start: quants + row * rowBytes, count: rowBytes),
                                    offset: group * bits.groupBytes(groupSize: groupSize), groupSize: groupSize, index: j)
    }

    /// The scale of one group of one row.
    @inline(__always)
    func scale(row: Int, group: Int) -> Float {
        Float(row < packedRows ? scales[packedScaleIndex(row: row, group: group)] : scales[row * groupsPerRow + group])
    }
}

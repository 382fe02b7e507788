/// A `[rows, columns]` weight matrix in a `.gqz` integer layout (formats/GQZ.md §4), in one 64-byte aligned block:
/// `rows × groupsPerRow` fp16 scales, then each row's quants padded to whole groups (int8, or int4 nibbles
/// with value j of a group in the low half of byte j and value j + G/2 in the high half).
public final class QuantizedMatrix: @unchecked Sendable {
    public enum Bits: Int, Sendable { case eight = 8, four = 4 }

    public let rows: Int
    public let columns: Int
    public let groupSize: Int
    public let bits: Bits
    public let groupsPerRow: Int
    /// Bytes of quants per row.
    public let rowBytes: Int
    /// Size of the whole payload (scales + quants).
    public let byteCount: Int
    let storage: UnsafeMutableRawPointer
    let scales: UnsafeMutablePointer<Float16>
    let quants: UnsafeMutablePointer<UInt8>

    /// Allocates the matrix and lets `fill` write its payload bytes (e.g. straight from a decompressor).
    public init(rows: Int, columns: Int, groupSize: Int, bits: Bits, fill: (UnsafeMutableRawBufferPointer) throws -> Void) rethrows {
        precondition(rows > 0 && columns > 0 && groupSize % 32 == 0)
        self.rows = rows
        self.columns = columns
        self.groupSize = groupSize
        self.bits = bits
        groupsPerRow = (columns + groupSize - 1) / groupSize
        rowBytes = groupsPerRow * groupSize * bits.rawValue / 8
        let scaleBytes = rows * groupsPerRow * 2
        byteCount = scaleBytes + rows * rowBytes
        storage = UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: 64)
        scales = storage.bindMemory(to: Float16.self, capacity: rows * groupsPerRow)
        quants = (storage + scaleBytes).bindMemory(to: UInt8.self, capacity: rows * rowBytes)
        // Every property is set, so if `fill` throws, deinit runs and frees the storage.
        try fill(UnsafeMutableRawBufferPointer(start: storage, count: byteCount))
    }

    deinit { storage.deallocate() }

    /// Writes row `row`, dequantized, to `output[offset ..< offset + columns]`.
    public func dequantizeRow(_ row: Int, into output: FloatBuffer, at offset: Int) {
        precondition(row >= 0 && row < rows && offset + columns <= output.count)
        let y = output.base + offset
        for g in 0..<groupsPerRow {
            let scale = Float(scales[row * groupsPerRow + g])
            for j in 0..<min(groupSize, columns - g * groupSize) {
                y[g * groupSize + j] = scale * Float(quant(row: row, group: g, index: j))
            }
        }
    }

    /// One stored value as a signed integer (q for int8, q − 8 for int4).
    @inline(__always)
    func quant(row: Int, group: Int, index j: Int) -> Int {
        switch bits {
        case .eight:
            return Int(Int8(bitPattern: quants[row * rowBytes + group * groupSize + j]))
        case .four:
            let half = groupSize / 2
            let byte = quants[row * rowBytes + group * half + (j % half)]
            return Int(j < half ? byte & 0x0F : byte >> 4) - 8
        }
    }
}

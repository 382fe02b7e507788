import Dispatch
import WeightFormat

/// Turns a row-major float matrix into a `.gqz` payload and back (the reference dequantize).
///
/// Payload layout (formats/GQZ.md §4): for q8/q4, `rows × groupsPerRow` fp16 scales (little-endian,
/// row by row), then each row's quants padded to whole groups, each group as `QuantizedGroup` packs it.
/// For f32, the floats.
public enum TensorQuantizer {
    /// Quantizes a `rows × columns` matrix given row by row by `row(r, into:)`, which fills a buffer of `columns` floats
    /// (and may be called from several threads at once). `importance` (per column) weights the scale search; nil means uniform.
    public static func quantize(rows: Int, columns: Int, scheme: WeightScheme, search: Bool = true,
                                importance: [Float]? = nil, threads: Int = 1,
                                row: @Sendable (Int, UnsafeMutableBufferPointer<Float>) -> Void) -> [UInt8] {
        precondition(importance == nil || importance!.count == columns)
        var payload = [UInt8](repeating: 0, count: scheme.payloadBytes(rows: rows, columns: columns))
        let rowsPerChunk = max(1, min(64, rows / max(1, threads * 8)))
        let chunks = (rows + rowsPerChunk - 1) / rowsPerChunk
        payload.withUnsafeMutableBytes { bytes in
            // Every row writes only its own scales and quants, so chunks of rows can run concurrently.
            nonisolated(unsafe) let shared = UnsafeMutableRawBufferPointer(start: bytes.baseAddress, count: bytes.count)
            let work = { @Sendable (chunk: Int) in
                var values = [Float](repeating: 0, count: columns)
                for r in (chunk * rowsPerChunk)..<min(rows, (chunk + 1) * rowsPerChunk) {
                    values.withUnsafeMutableBufferPointer { row(r, $0) }
                    values.withUnsafeBufferPointer { quantizeRow(r, $0, rows: rows, scheme: scheme, search: search, importance: importance, into: shared) }
                }
            }
            if threads > 1 { DispatchQueue.concurrentPerform(iterations: chunks, execute: work) } else { (0..<chunks).forEach(work) }
        }
        return payload
    }

    /// Writes row `r`'s scales and quants (or floats) into their places in `payload`.
    private static func quantizeRow(_ r: Int, _ values: UnsafeBufferPointer<Float>, rows: Int, scheme: WeightScheme,
                                    search: Bool, importance: [Float]?, into payload: UnsafeMutableRawBufferPointer) {
        let columns = values.count
        switch scheme {
        case .float32:
            for (c, value) in values.enumerated() {
                payload.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: 4 * (r * columns + c), as: UInt32.self)
            }
        case .int8(let groupSize), .int4(let groupSize):
            let groups = scheme.groupsPerRow(columns: columns)
            let base = rows * groups * 2 + r * scheme.quantBytesPerRow(columns: columns)
            for g in 0..<groups {
                let range = (g * groupSize)..<min(columns, (g + 1) * groupSize)
                let group = UnsafeBufferPointer(rebasing: values[range])
                let (scale, quants) = importance.map { importance in
                    importance.withUnsafeBufferPointer { encode(group, weights: UnsafeBufferPointer(rebasing: $0[range]), scheme: scheme, search: search) }
                } ?? encode(group, weights: nil, scheme: scheme, search: search)
                payload.storeBytes(of: scale.bitPattern.littleEndian, toByteOffset: 2 * (r * groups + g), as: UInt16.self)
                if case .int4 = scheme {
                    var packed = [UInt8](repeating: 0, count: groupSize / 2)
                    QuantizedGroup.packInt4(quants, groupSize: groupSize, into: &packed)
                    for (k, byte) in packed.enumerated() { payload[base + g * groupSize / 2 + k] = byte }
                } else {
                    for (j, q) in quants.enumerated() { payload[base + g * groupSize + j] = q }
                }
            }
        }
    }

    private static func encode(_ group: UnsafeBufferPointer<Float>, weights: UnsafeBufferPointer<Float>?,
                               scheme: WeightScheme, search: Bool) -> (Float16, [UInt8]) {
        if case .int4 = scheme {
            return GroupQuantizer.quantizeInt4(group, weights: weights, search: search)
        }
        let (scale, quants) = GroupQuantizer.quantizeInt8(group, weights: weights, search: search)
        return (scale, quants.map { UInt8(bitPattern: $0) })
    }

    /// The reference dequantize: the `rows × columns` floats a payload stands for.
    public static func dequantize(_ payload: [UInt8], rows: Int, columns: Int, scheme: WeightScheme) -> [Float] {
        precondition(payload.count == scheme.payloadBytes(rows: rows, columns: columns), "payload size does not match \(scheme) [\(rows), \(columns)]")
        var values = [Float](repeating: 0, count: rows * columns)
        payload.withUnsafeBytes { bytes in
            switch scheme {
            case .float32:
                for i in 0..<values.count {
                    values[i] = Float(bitPattern: UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                }
            case .int8(let groupSize), .int4(let groupSize):
                let groups = scheme.groupsPerRow(columns: columns)
                let rowBytes = scheme.quantBytesPerRow(columns: columns)
                let quantStart = rows * groups * 2
                for r in 0..<rows {
                    for c in 0..<columns {
                        let g = c / groupSize, j = c % groupSize
                        let scale = Float(Float16(bitPattern: UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2 * (r * groups + g), as: UInt16.self))))
                        let base = quantStart + r * rowBytes
                        let bits = scheme.bits!
                        let q = Float(QuantizedGroup.value(bits: bits, bytes: bytes, offset: base + g * bits.groupBytes(groupSize: groupSize),
                                                           groupSize: groupSize, index: j))
                        values[r * columns + c] = scale * q
                    }
                }
            }
        }
        return values
    }
}

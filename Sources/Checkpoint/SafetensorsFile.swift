import Foundation

/// One `.safetensors` file, mapped and fully validated when opened: header length, JSON, every dtype and
/// shape, and every byte span (inside the file, sized shape × dtype, not overlapping another).
///
/// ```swift
/// let file = try SafetensorsFile(path: "gpt2/model.safetensors")
/// let wte = try file.floats("wte.weight")     // [Float], converted from F16/BF16 if needed
/// ```
// @unchecked: immutable after init: a read-only mapping and the header parsed from it.
public final class SafetensorsFile: @unchecked Sendable {
    /// Where one tensor's bytes are, as recorded in the header.
    public struct TensorInfo: Sendable, Equatable {
        public let name: String
        public let dtype: TensorDType
        public let shape: [Int]
        /// Absolute byte range in the file.
        public let byteRange: Range<Int>
        public var elementCount: Int { shape.reduce(1, *) }
    }

    /// Headers larger than this are refused, as the reference implementation does.
    public static let maximumHeaderLength = 100_000_000

    public let path: String
    public let tensors: [String: TensorInfo]
    public let metadata: [String: String]
    private let file: MappedFile

    public init(path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else {
            throw CheckpointError.missingFile(path: path, hint: "")
        }
        let file = try MappedFile(path: path)
        self.file = file
        self.path = path
        func invalid(_ reason: String) -> CheckpointError { .invalidSafetensors(path: path, reason: reason) }

        guard file.count >= 8 else { throw invalid("file is \(file.count) bytes, shorter than the 8-byte header length") }
        let headerLength = file.withUnsafeBytes(in: 0..<8) { Int(UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)).clamped(to: UInt64(Int.max))) }
        guard headerLength <= Self.maximumHeaderLength else {
            throw invalid("header length \(headerLength) exceeds the \(Self.maximumHeaderLength)-byte limit")
        }
        guard 8 + headerLength <= file.count else {
            throw invalid("header length \(headerLength) runs past the end of the file (\(file.count) bytes); the file is truncated or not safetensors")
        }
        let headerData = file.withUnsafeBytes(in: 8..<(8 + headerLength)) { Data($0) }
        guard headerData.first == UInt8(ascii: "{"),
              let object = try? JSONSerialization.jsonObject(with: headerData), let header = object as? [String: Any] else {
            throw invalid("the \(headerLength)-byte header is not a JSON object")
        }
        let dataStart = 8 + headerLength
        let dataLength = file.count - dataStart

        var tensors: [String: TensorInfo] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                guard let map = value as? [String: Any] else { throw invalid("__metadata__ is not an object") }
                for (key, item) in map {
                    guard let text = item as? String else { throw invalid("__metadata__ value for \(key) is not a string") }
                    metadata[key] = text
                }
                continue
            }
            guard let entry = value as? [String: Any] else { throw invalid("entry for tensor \(name) is not an object") }
            guard let dtypeName = entry["dtype"] as? String else { throw invalid("tensor \(name) has no dtype") }
            guard let dtype = TensorDType(rawValue: dtypeName) else { throw invalid("tensor \(name) has unknown dtype \(dtypeName)") }
            guard let shapeValues = entry["shape"] as? [Any] else { throw invalid("tensor \(name) has no shape list") }
            var shape: [Int] = []
            var elements = 1
            for dimension in shapeValues {
                guard let number = dimension as? NSNumber, number.doubleValue >= 0, number.doubleValue == number.doubleValue.rounded(), number.doubleValue < 1e15 else {
                    throw invalid("tensor \(name) has a shape entry \(dimension) that is not a non-negative integer")
                }
                let size = number.intValue
                let (product, overflow) = elements.multipliedReportingOverflow(by: size)
                guard !overflow else { throw invalid("tensor \(name) shape \(shapeValues) overflows") }
                elements = product
                shape.append(size)
            }
            guard let offsets = entry["data_offsets"] as? [Any], offsets.count == 2,
                  let begin = (offsets[0] as? NSNumber)?.int64Value, let end = (offsets[1] as? NSNumber)?.int64Value,
                  begin >= 0, end >= begin else {
                throw invalid("tensor \(name) has malformed data_offsets \(entry["data_offsets"] ?? "nil")")
            }
            guard end <= Int64(dataLength) else {
                throw invalid("tensor \(name) spans bytes \(begin)..<\(end) of the data section, but it holds only \(dataLength) bytes (truncated file?)")
            }
            let (bytes, overflow) = elements.multipliedReportingOverflow(by: dtype.byteSize)
            guard !overflow else {
                throw invalid("tensor \(name) has shape \(shape) × \(dtype.rawValue): more bytes than a 64-bit size holds")
            }
            guard Int64(bytes) == end - begin else {
                throw invalid("tensor \(name) has shape \(shape) × \(dtype.rawValue) = \(bytes) bytes, but its span is \(end - begin) bytes")
            }
            tensors[name] = TensorInfo(name: name, dtype: dtype, shape: shape,
                                       byteRange: (dataStart + Int(begin))..<(dataStart + Int(end)))
        }
        let ordered = tensors.values.filter { !$0.byteRange.isEmpty }.sorted { $0.byteRange.lowerBound < $1.byteRange.lowerBound }
        for (previous, next) in zip(ordered, ordered.dropFirst()) where next.byteRange.lowerBound < previous.byteRange.upperBound {
            throw invalid("tensors \(previous.name) and \(next.name) overlap (bytes \(previous.byteRange) and \(next.byteRange))")
        }
        self.tensors = tensors
        self.metadata = metadata
    }

    /// The header entry for `name`, or an error naming the file.
    public func info(_ name: String) throws -> TensorInfo {
        guard let info = tensors[name] else { throw CheckpointError.missingTensor(name: name, path: path) }
        return info
    }

    /// Calls `body` with the raw little-endian bytes of a tensor.
    public func withUnsafeBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        try file.withUnsafeBytes(in: info(name).byteRange, body)
    }

    /// Drops a tensor's pages from memory (after it has been converted); reading it again re-reads the disk.
    public func releasePages(of name: String) {
        if let info = tensors[name] { file.releasePages(in: info.byteRange) }
    }

    /// Reads elements `range` of a tensor as Float into `output`, straight from the mapping (no copy of the
    /// whole tensor): what the converter uses to stream an embedding table row by row.
    /// `info` comes from this file's header and must be a loadable weight (F32, F16, BF16).
    public func readFloats(_ info: TensorInfo, elements range: Range<Int>, into output: UnsafeMutableBufferPointer<Float>) {
        precondition(tensors[info.name] == info && info.dtype.isLoadableWeight, "tensor \(info.name) of \(path) is not a loadable weight")
        precondition(range.lowerBound >= 0 && range.upperBound <= info.elementCount && output.count >= range.count)
        let size = info.dtype.byteSize
        file.withUnsafeBytes(in: (info.byteRange.lowerBound + range.lowerBound * size)..<(info.byteRange.lowerBound + range.upperBound * size)) { raw in
            for i in 0..<range.count {
                switch info.dtype {
                case .f32: output[i] = Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
                case .f16: output[i] = Float(float16Bits: UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)))
                default: output[i] = Float(bitPattern: UInt32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16)
                }
            }
        }
    }

    /// The tensor's values as Float, converted from F16 or BF16 when stored that way.
    public func floats(_ name: String) throws -> [Float] {
        let info = try info(name)
        guard info.dtype.isLoadableWeight else { throw CheckpointError.unsupportedDType(name: name, path: path, dtype: info.dtype.rawValue) }
        var values = [Float](repeating: 0, count: info.elementCount)
        values.withUnsafeMutableBufferPointer { readFloats(info, elements: 0..<info.elementCount, into: $0) }
        return values
    }
}

extension Float {
    /// Converts IEEE half-precision bits without depending on the platform's `Float16` support.
    init(float16Bits bits: UInt16) {
        let sign = UInt32(bits & 0x8000) << 16
        let exponent = Int((bits >> 10) & 0x1F)
        var mantissa = UInt32(bits & 0x3FF)
        if exponent == 0x1F {
            self = Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        } else if exponent != 0 {
            self = Float(bitPattern: sign | UInt32(exponent + 112) << 23 | (mantissa << 13))
        } else if mantissa == 0 {
            self = Float(bitPattern: sign)
        } else {
            var e = 113
            while mantissa & 0x400 == 0 { mantissa <<= 1; e -= 1 }
            self = Float(bitPattern: sign | UInt32(e) << 23 | ((mantissa & 0x3FF) << 13))
        }
    }
}

private extension UInt64 {
    func clamped(to limit: UInt64) -> UInt64 { Swift.min(self, limit) }
}

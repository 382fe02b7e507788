import WeightFormat
/// Constants of the `.gqz` container (formats/GQZ.md §2).
public enum GQZFormat {
    /// "GQZ\0" then CR LF SUB LF (as PNG: catches text-mode transfers).
    public static let magic: [UInt8] = [0x47, 0x51, 0x5A, 0x00, 0x0D, 0x0A, 0x1A, 0x0A]
    /// The version this code writes and the highest it reads.
    public static let version: UInt32 = 1
    /// Bytes before the first payload.
    public static let preambleSize = 40
    /// Index features this reader understands (a file listing others in `required_features` is refused).
    public static let knownFeatures: Set<String> = [taskHeadsFeature]
    /// `required_features` entry of a model without a language-model head (a classifier, a bare GPT2Model): its task is
    /// `metadata.model.config.architectures`, so a reader that knows only language models must refuse it rather than
    /// generate from its tied embedding (formats/GQZ.md §4).
    public static let taskHeadsFeature = "task_heads"
    /// The largest index accepted, compressed or not (a real one is a few hundred KB).
    public static let maximumIndexBytes = 64 << 20
    /// Scheme name of non-numeric payloads (the tokenizer files).
    public static let bytesScheme = "bytes"
}

/// One tensor (or blob) as the index describes it, checked against the file when read.
public struct GQZEntry: Sendable, Equatable {
    public let name: String
    public let shape: [Int]
    /// "f32", "q8", "q4" or "bytes".
    public let scheme: String
    public let groupSize: Int?
    /// Absolute byte offset of the zstd frame.
    public let offset: Int
    public let storedBytes: Int
    public let rawBytes: Int
    public let crc32: UInt32

    /// The tensor's weight scheme; nil for raw bytes (the tokenizer files).
    public var weightScheme: WeightScheme? { WeightScheme(name: scheme, groupSize: groupSize) }
    public var elementCount: Int { shape.reduce(1, *) }
    public var compressionRatio: Double { storedBytes > 0 ? Double(rawBytes) / Double(storedBytes) : 0 }
}

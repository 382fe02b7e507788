import WeightFormat
/// Constants of the `.gqz` container (formats/GQZ.md §2).
public enum GQZFormat {
    /// "GQZ\0" then CR LF SUB LF (as PNG: catches text-mode transfers).
    public static let magic: [UInt8] = [0x47, 0x51, 0x5A, 0x00, 0x0D, 0x0A, 0x1A, 0x0A]
    /// The highest version this code reads. It writes version 1 unless an entry is stored in row frames or in the panel
    /// layout (version 2).
    public static let version: UInt32 = 2
    /// The first version whose entries may be stored in row frames (`frame_rows`, formats/GQZ.md §4) or in the integer
    /// kernels' panel layout (`layout`, §5).
    public static let rowFramesVersion: UInt32 = 2
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
    /// Absolute byte offset of the zstd frame (of the first frame, for a row-framed entry).
    public let offset: Int
    /// Bytes of the frame (of all its frames together, for a row-framed entry).
    public let storedBytes: Int
    /// Bytes of the payload decompressed, in the layout of §5 (a row-framed entry's frames put together).
    public let rawBytes: Int
    /// CRC-32 of the payload in the layout of §5.
    public let crc32: UInt32
    /// Rows per frame when the payload is stored as row frames (version 2); nil when it is one frame.
    public let frameRows: Int?
    /// A row-framed entry's frames in row order, one after another from `offset`; empty when it is one frame.
    public let frames: [Frame]
    /// How a q8/q4 payload's bytes are ordered: §5's row-major layout, or the integer kernels' panels (version 2).
    public let layout: Layout

    /// The byte order of a q8/q4 payload (formats/GQZ.md §5).
    public enum Layout: String, Sendable, Equatable {
        /// Row by row: every scale, then every row's quants (the only layout of version 1).
        case rows
        /// Each whole 16-row panel interleaved for the integer kernels (`PanelLayout`); each row frame by itself.
        case panels16
    }

    /// One frame of a row-framed entry: the payload of rows `rows` alone (their scales, then their quants), compressed.
    public struct Frame: Sendable, Equatable {
        public let rows: Range<Int>
        public let offset: Int
        public let storedBytes: Int
        public let rawBytes: Int
        public let crc32: UInt32
    }

    init(name: String, shape: [Int], scheme: String, groupSize: Int?, offset: Int, storedBytes: Int, rawBytes: Int, crc32: UInt32,
         frameRows: Int? = nil, frames: [Frame] = [], layout: Layout = .rows) {
        self.name = name
        self.shape = shape
        self.scheme = scheme
        self.groupSize = groupSize
        self.offset = offset
        self.storedBytes = storedBytes
        self.rawBytes = rawBytes
        self.crc32 = crc32
        self.frameRows = frameRows
        self.frames = frames
        self.layout = layout
    }

    /// The tensor's weight scheme; nil for raw bytes (the tokenizer files).
    public var weightScheme: WeightScheme? { WeightScheme(name: scheme, groupSize: groupSize) }
    public var elementCount: Int { shape.reduce(1, *) }
    public var compressionRatio: Double { storedBytes > 0 ? Double(rawBytes) / Double(storedBytes) : 0 }
    /// Rows and columns of a two-dimensional tensor (one row for a vector).
    public var rowsAndColumns: (rows: Int, columns: Int) { (shape.count == 2 ? shape[0] : 1, shape.last ?? 0) }
    /// Whether reading the entry needs version 2 (row frames, the panel layout).
    public var needsVersion2: Bool { !frames.isEmpty || layout != .rows }
    /// The largest frame decompressed: the whole payload, or the largest row frame.
    public var largestFrameRawBytes: Int { frames.map(\.rawBytes).max() ?? rawBytes }
}

/// How one tensor's values are stored, in a `.gqz` file and in memory (see formats/GQZ.md §4): the one place
/// the schemes are named ("f32", "q8", "q4") and sized.
///
/// ```swift
/// let scheme = WeightScheme.int4(groupSize: 32)
/// scheme.name            // "q4"
/// scheme.payloadBytes(rows: 768, columns: 2304)
/// ```
public enum WeightScheme: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// Little-endian float32, row-major.
    case float32
    /// Symmetric int8 per group of `groupSize` columns: x ≈ d·q, q ∈ [−127, 127], d an fp16 scale.
    case int8(groupSize: Int)
    /// 4-bit per group: x ≈ d·(q − 8), q ∈ [0, 15], two per byte, d an fp16 scale.
    case int4(groupSize: Int)

    /// Group sizes a file may use; multiples of 32 keep every SIMD unpack whole.
    public static let supportedGroupSizes = [32, 64, 128]

    /// The scheme's name in the file index.
    public var name: String {
        switch self {
        case .float32: return "f32"
        case .int8: return "q8"
        case .int4: return "q4"
        }
    }

    public var groupSize: Int? {
        switch self {
        case .float32: return nil
        case .int8(let size), .int4(let size): return size
        }
    }

    /// Bits of each stored integer, nil for float32.
    public var bits: IntegerBits? {
        switch self {
        case .float32: return nil
        case .int8: return .eight
        case .int4: return .four
        }
    }

    /// The integer scheme of `bits` with groups of `groupSize`.
    public init(bits: IntegerBits, groupSize: Int) {
        self = bits == .eight ? .int8(groupSize: groupSize) : .int4(groupSize: groupSize)
    }

    public var description: String { groupSize.map { "\(name)/g\($0)" } ?? name }

    /// Parses an index entry's scheme name and group size.
    public init?(name: String, groupSize: Int?) {
        switch (name, groupSize) {
        case ("f32", nil): self = .float32
        case ("q8", let size?) where Self.supportedGroupSizes.contains(size): self = .int8(groupSize: size)
        case ("q4", let size?) where Self.supportedGroupSizes.contains(size): self = .int4(groupSize: size)
        default: return nil
        }
    }

    /// Groups per row: the last one may be partial, and is stored padded with zeros.
    public func groupsPerRow(columns: Int) -> Int {
        guard let size = groupSize else { return 0 }
        return (columns + size - 1) / size
    }

    /// Bytes of one row's quantized values (padded to whole groups).
    public func quantBytesPerRow(columns: Int) -> Int {
        switch self {
        case .float32: return 4 * columns
        case .int8(let size): return groupsPerRow(columns: columns) * size
        case .int4(let size): return groupsPerRow(columns: columns) * size / 2
        }
    }

    /// Bytes of the fp16 scales of a `rows × columns` matrix (they come first in its payload).
    public func scaleBytes(rows: Int, columns: Int) -> Int { rows * groupsPerRow(columns: columns) * 2 }

    /// Total payload size: scales (fp16, row by row) then quants, or plain floats.
    public func payloadBytes(rows: Int, columns: Int) -> Int {
        switch self {
        case .float32: return 4 * rows * columns
        case .int8, .int4: return scaleBytes(rows: rows, columns: columns) + rows * quantBytesPerRow(columns: columns)
        }
    }

    /// Where rows `range` of a `rows × columns` payload lie in it: their scales (empty for float32) and their quants.
    /// The two ranges, one after the other, are the payload of those rows alone (a row frame, formats/GQZ.md §4).
    public func byteRanges(ofRows range: Range<Int>, rows: Int, columns: Int) -> (scales: Range<Int>, quants: Range<Int>) {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows)
        let scaleRow = 2 * groupsPerRow(columns: columns), rowBytes = quantBytesPerRow(columns: columns)
        let quantStart = scaleBytes(rows: rows, columns: columns)
        return (scaleRow * range.lowerBound..<scaleRow * range.upperBound,
                quantStart + rowBytes * range.lowerBound..<quantStart + rowBytes * range.upperBound)
    }
}

/// Bits of one stored integer of a quantized scheme.
public enum IntegerBits: Int, Sendable {
    case eight = 8, four = 4

    /// Bytes one group of `groupSize` values takes (its scale is stored apart).
    public func groupBytes(groupSize: Int) -> Int { groupSize * rawValue / 8 }
}

import WeightFormat

/// An index entry as JSON (formats/GQZ.md §4). Decoding checks each value's type, the shape, the scheme, and that
/// `raw_bytes` is the size the scheme gives for the shape; `GQZFile`, which knows the file, then checks where its
/// bytes lie and that `stored_bytes` is a size zstd can produce (in the order the reader always has, so a file
/// with one fault gets the message it always got).
extension GQZEntry: Codable {
    enum CodingKeys: String, CodingKey {
        case name, shape, scheme, offset, crc32
        case groupSize = "group_size"
        case storedBytes = "stored_bytes"
        case rawBytes = "raw_bytes"
        case frameRows = "frame_rows"
        case frames, layout
    }

    /// A row frame as JSON: `{"stored_bytes": …, "crc32": …}` (its rows and offset follow from its place in the list).
    enum FrameKeys: String, CodingKey {
        case storedBytes = "stored_bytes"
        case crc32
    }

    public init(from decoder: any Decoder) throws {
        let position = decoder.codingPath.last?.intValue ?? 0
        guard let json = try? decoder.container(keyedBy: CodingKeys.self) else {
            throw GQZIndexProblem.corrupt("tensor entry \(position) is not an object")
        }
        func value(_ key: CodingKeys) -> JSONValue? { (try? json.decodeIfPresent(JSONValue.self, forKey: key)) ?? nil }
        guard case .string(let name)? = value(.name), !name.isEmpty else {
            throw GQZIndexProblem.corrupt("tensor entry \(position) has no name")
        }
        func invalid(_ reason: String) -> GQZIndexProblem { .invalidEntry(tensor: name, reason: reason) }
        func count(_ key: CodingKeys) throws -> Int {
            let found: JSONValue? = json.contains(key) ? value(key) ?? .null : nil
            guard let found, let count = found.wholeNumber(below: 9e15) else {
                throw invalid("\(key.rawValue) is \(found.map { "\($0)" } ?? "missing"), not a non-negative integer")
            }
            return count
        }
        guard case .array(let dimensions)? = value(.shape), (1...2).contains(dimensions.count) else {
            throw invalid("shape must be a list of 1 or 2 sizes")
        }
        let shape = try dimensions.map { dimension in
            guard let size = dimension.wholeNumber(below: 1e9) else {
                throw invalid("shape \(JSONValue.array(dimensions)) has an entry that is not a size")
            }
            return size
        }
        guard case .string(let scheme)? = value(.scheme) else { throw invalid("no scheme") }
        // A group_size that is present must be a count, even when it is null.
        let groupSize = json.contains(.groupSize) ? try count(.groupSize) : nil
        let offset = try count(.offset), stored = try count(.storedBytes), raw = try count(.rawBytes), crc = try count(.crc32)
        guard crc <= Int(UInt32.max) else { throw invalid("crc32 \(crc) does not fit in 32 bits") }
        let rows = shape.count == 2 ? shape[0] : 1, columns = shape.last!
        let expected: Int
        if scheme == GQZFormat.bytesScheme {
            guard shape.count == 1, groupSize == nil else { throw invalid("a bytes entry has one dimension and no group size") }
            expected = columns
        } else if let known = WeightScheme(name: scheme, groupSize: groupSize) {
            let (product, overflow) = rows.multipliedReportingOverflow(by: columns)
            guard !overflow, product < 1 << 40 else { throw invalid("shape \(shape) is too large") }
            expected = known.payloadBytes(rows: rows, columns: columns)
        } else {
            throw invalid("unknown scheme \(scheme)\(groupSize.map { " with group size \($0)" } ?? "")")
        }
        guard raw == expected else { throw invalid("raw_bytes is \(raw), but \(scheme) \(shape) needs \(expected)") }
        var frameRows: Int?
        var frames: [Frame] = []
        if json.contains(.frameRows) || json.contains(.frames) {
            guard let known = WeightScheme(name: scheme, groupSize: groupSize), shape.count == 2 else {
                throw invalid("only a two-dimensional f32, q8 or q4 tensor can be stored in row frames")
            }
            let rowsPerFrame = try count(.frameRows)
            guard rowsPerFrame >= 1 else { throw invalid("frame_rows is 0") }
            let frameCount = (rows + rowsPerFrame - 1) / rowsPerFrame
            guard case .array(let list)? = value(.frames), list.count == frameCount else {
                throw invalid("frames must list \(frameCount) frames (\(rows) rows, \(rowsPerFrame) a frame)")
            }
            var frameOffset = offset
            for (k, item) in list.enumerated() {
                guard case .object(let fields) = item, let storedBytes = fields[FrameKeys.storedBytes.rawValue]?.wholeNumber(below: 9e15),
                      storedBytes > 0, let frameCRC = fields[FrameKeys.crc32.rawValue]?.wholeNumber(below: 9e15), frameCRC <= Int(UInt32.max) else {
                    throw invalid("frame \(k) needs a stored_bytes above 0 and a 32-bit crc32")
                }
                guard storedBytes <= stored - (frameOffset - offset) else {
                    throw invalid("its frames hold more than its stored_bytes \(stored)")
                }
                let frameRange = (k * rowsPerFrame)..<min(rows, (k + 1) * rowsPerFrame)
                frames.append(Frame(rows: frameRange, offset: frameOffset, storedBytes: storedBytes,
                                    rawBytes: known.payloadBytes(rows: frameRange.count, columns: columns), crc32: UInt32(frameCRC)))
                frameOffset += storedBytes
            }
            guard frameOffset - offset == stored else {
                throw invalid("its frames hold \(frameOffset - offset) bytes, but stored_bytes is \(stored)")
            }
            frameRows = rowsPerFrame
        }
        var layout = Layout.rows
        if json.contains(.layout) {
            guard case .string(let text)? = value(.layout) else { throw invalid("layout is not a string") }
            guard let known = Layout(rawValue: text) else { throw invalid("layout \"\(text)\" is not one of \"rows\", \"panels16\"") }
            if known == .panels16 {
                guard scheme == "q8" || scheme == "q4", shape.count == 2 else { throw invalid("only a two-dimensional q8 or q4 tensor has the panels16 layout") }
                guard (frameRows ?? 16) % 16 == 0 else { throw invalid("a panels16 entry's frame_rows must be a multiple of 16, not \(frameRows!)") }
            }
            layout = known
        }
        self.init(name: name, shape: shape, scheme: scheme, groupSize: groupSize, offset: offset,
                  storedBytes: stored, rawBytes: raw, crc32: UInt32(crc), frameRows: frameRows, frames: frames, layout: layout)
    }

    public func encode(to encoder: any Encoder) throws {
        var json = encoder.container(keyedBy: CodingKeys.self)
        try json.encode(name, forKey: .name)
        try json.encode(shape, forKey: .shape)
        try json.encode(scheme, forKey: .scheme)
        try json.encodeIfPresent(groupSize, forKey: .groupSize)
        try json.encode(offset, forKey: .offset)
        try json.encode(storedBytes, forKey: .storedBytes)
        try json.encode(rawBytes, forKey: .rawBytes)
        try json.encode(Int(crc32), forKey: .crc32)
        if layout != .rows { try json.encode(layout.rawValue, forKey: .layout) }
        if let frameRows {
            try json.encode(frameRows, forKey: .frameRows)
            var list = json.nestedUnkeyedContainer(forKey: .frames)
            for frame in frames {
                var item = list.nestedContainer(keyedBy: FrameKeys.self)
                try item.encode(frame.storedBytes, forKey: .storedBytes)
                try item.encode(Int(frame.crc32), forKey: .crc32)
            }
        }
    }
}

extension JSONValue {
    /// The value as a count: a non-negative whole number below `limit` (`12` or `12.0`; never `true`), else nil.
    func wholeNumber(below limit: Double) -> Int? {
        switch self {
        case .integer(let value): return value >= 0 && Double(value) < limit ? value : nil
        case .number(let value): return value >= 0 && value == value.rounded() && value < limit ? Int(value) : nil
        default: return nil
        }
    }
}

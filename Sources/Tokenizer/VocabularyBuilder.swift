/// Vocabulary entries (spelling, id) collected in file order, then laid out by id into one `TokenTable`.
struct VocabularyBuilder {
    /// A finished vocabulary: every id's bytes, and the special tokens by text.
    struct Vocabulary {
        let table: TokenTable
        let specials: [String: Int]
        let path: String
    }

    let path: String
    /// Each entry's raw bytes, in arrival order.
    private var bytes: [UInt8] = []
    /// (id, start in `bytes`, length) per entry: 12 bytes each.
    private var entries: [(id: Int32, start: Int32, length: Int32)] = []
    private var specials: [String: Int] = [:]
    private var largest = -1

    init(path: String) {
        self.path = path
    }

    /// Adds one entry: a special token (`<|…|>`) as its UTF-8 text, any other token decoded from the byte-level
    /// alphabet it is spelled in.
    mutating func add(_ spelling: String, id: Int) throws {
        let start = bytes.count
        if spelling.hasPrefix("<|") && spelling.hasSuffix("|>") && spelling.count > 4 {
            specials[spelling] = id
            bytes += spelling.utf8
        } else if !ByteLevel.appendBytes(ofSpelling: spelling, to: &bytes) {
            throw TokenizerError.malformedVocabulary(path: path, reason: "token \(spelling.debugDescription) uses characters outside GPT-2's byte-level alphabet")
        }
        guard bytes.count < Int(Int32.max) else {
            throw TokenizerError.malformedVocabulary(path: path, reason: "the tokens' bytes add up to more than 2 GiB")
        }
        entries.append((Int32(id), Int32(start), Int32(bytes.count - start)))
        largest = max(largest, id)
    }

    /// The table by id; every id from 0 to the largest must have exactly one token.
    func finish() throws -> Vocabulary {
        let size = largest + 1
        var entryForID = [Int32](repeating: -1, count: size)
        for (index, entry) in entries.enumerated() {
            guard entryForID[Int(entry.id)] < 0 else {
                throw TokenizerError.malformedVocabulary(path: path, reason: "two tokens have id \(entry.id)")
            }
            entryForID[Int(entry.id)] = Int32(index)
        }
        if let missing = entryForID.firstIndex(of: -1) {
            throw TokenizerError.malformedVocabulary(path: path, reason: "no token has id \(missing) (ids must run 0..<\(size) without gaps)")
        }
        var storage: [UInt8] = []
        storage.reserveCapacity(bytes.count)
        var offsets: [Int32] = [0]
        offsets.reserveCapacity(size + 1)
        for index in entryForID {
            let entry = entries[Int(index)]
            storage += bytes[Int(entry.start)..<Int(entry.start + entry.length)]
            offsets.append(Int32(storage.count))
        }
        return Vocabulary(table: TokenTable(storage: storage, offsets: offsets), specials: specials, path: path)
    }
}

/// merges.txt read over its bytes: one `left right` rule per line in rank order, both spelled in the byte-level
/// alphabet; `#version` lines and empty lines are skipped.
enum MergesText {
    /// Calls `body(left bytes, right bytes, line number)` for each rule.
    static func forEachRule(in text: UnsafeBufferPointer<UInt8>, path: String,
                            _ body: (_ left: [UInt8], _ right: [UInt8], _ line: Int) throws -> Void) throws {
        var left: [UInt8] = [], right: [UInt8] = []
        var start = 0, line = 0
        while start <= text.count {
            line += 1
            var end = start
            while end < text.count && text[end] != 0x0A { end += 1 }
            defer { start = end + 1 }
            // A file saved with CRLF line ends reads as with LF (as Hugging Face's tokenizers and OpenAI's split() do).
            let contentEnd = end > start && text[end - 1] == 0x0D ? end - 1 : end
            let content = UnsafeBufferPointer(rebasing: text[start..<contentEnd])
            if content.isEmpty || content.starts(with: "#version".utf8) { continue }
            guard let space = content.firstIndex(of: 0x20), space > 0, space < content.count - 1,
                  !content[(space + 1)...].contains(0x20) else {
                throw TokenizerError.malformedMerges(path: path, line: line, reason: "expected two tokens separated by one space, got \(String(decoding: content, as: UTF8.self).debugDescription)")
            }
            // Each side's bytes, decoded from the byte-level alphabet into a buffer reused from line to line.
            func decode(_ part: UnsafeBufferPointer<UInt8>, into bytes: inout [UInt8]) throws {
                guard let spelling = String(validating: part, as: UTF8.self) else {
                    throw TokenizerError.malformedMerges(path: path, line: line, reason: "not UTF-8")
                }
                bytes.removeAll(keepingCapacity: true)
                guard ByteLevel.appendBytes(ofSpelling: spelling, to: &bytes) else {
                    throw TokenizerError.malformedMerges(path: path, line: line, reason: "merge \(String(decoding: content, as: UTF8.self)) names a token that is not in the vocabulary")
                }
            }
            try decode(UnsafeBufferPointer(rebasing: content[..<space]), into: &left)
            try decode(UnsafeBufferPointer(rebasing: content[(space + 1)...]), into: &right)
            try body(left, right, line)
        }
    }
}

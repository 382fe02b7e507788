import Foundation

/// GPT-2's byte-level BPE tokenizer, built from `vocab.json` and `merges.txt`.
///
/// ```swift
/// let tokenizer = try GPT2Tokenizer(folder: URL(fileURLWithPath: "gpt2"))
/// tokenizer.encode("Hello world")   // [15496, 995]
/// tokenizer.decode([15496, 995])    // "Hello world"
/// ```
///
/// It reproduces Hugging Face `GPT2TokenizerFast`: no prefix space, no normalization, and
/// `<|endoftext|>` read as the special token 50256 wherever it appears (unless asked not to).
// @unchecked: the tables are `let`s; the one mutable part, the word cache, is read and written under `cacheLock`.
public final class GPT2Tokenizer: @unchecked Sendable {
    /// The raw bytes of each token id.
    public let tokenBytes: TokenTable
    /// Special tokens by text, e.g. `<|endoftext|>` → 50256.
    public let specialTokens: [String: Int]
    /// The end-of-text token id, if the vocabulary has one.
    public var endOfText: Int? { specialTokens["<|endoftext|>"] }
    public var vocabularySize: Int { tokenBytes.count }

    private let idForByte: [Int32]
    /// Ids at or above this are refused (GPT-2 has 50,257 tokens; the table of a vocabulary is allocated by its largest id).
    static let largestID = 10_000_000
    /// (left id << 32 | right id) → (merge rank, merged id).
    private let merges: [UInt64: (rank: Int32, merged: Int32)]
    private let cacheLock = NSLock()
    private var cache: [[UInt8]: [Int32]] = [:]
    /// Words whose merges are remembered (Hugging Face tokenizers keeps 10,000 too); past it the cache starts over.
    static let cacheCapacity = 10_000

    /// Bytes the tokenizer's tables hold (token bytes, merge table, byte map), without the word cache.
    public var residentBytes: Int { tokenBytes.residentBytes + merges.capacity * 17 + 4 * idForByte.count }

    /// Loads `vocab.json` and `merges.txt` from a folder.
    public convenience init(folder: URL) throws {
        try self.init(vocabulary: folder.appendingPathComponent("vocab.json"), merges: folder.appendingPathComponent("merges.txt"))
    }

    /// Loads the two tokenizer files.
    public convenience init(vocabulary vocabularyURL: URL, merges mergesURL: URL) throws {
        try self.init(vocabularyJSON: try Self.read(vocabularyURL), mergesText: try Self.read(mergesURL),
                      source: (vocabularyURL.path, mergesURL.path))
    }

    /// Builds the tokenizer from the contents of vocab.json and merges.txt (e.g. as stored in a .gqz file), reading
    /// both in one pass over their bytes: no JSON tree, no string per line.
    public convenience init(vocabularyJSON vocabularyData: Data, mergesText mergesData: Data, source: (vocabulary: String, merges: String)) throws {
        var builder = VocabularyBuilder(path: source.vocabulary)
        do {
            try vocabularyData.withUnsafeBytes { raw in
                try VocabularyJSON.forEachEntry(in: raw.bindMemory(to: UInt8.self), largestID: Self.largestID) { spelling, id in
                    try builder.add(spelling, id: id)
                }
            }
        } catch let failure as VocabularyJSON.Failure {
            throw TokenizerError.malformedVocabulary(path: source.vocabulary, reason: failure.reason)
        }
        let vocabulary = try builder.finish()
        let tables = try mergesData.withUnsafeBytes { raw in
            try Self.tables(of: vocabulary, mergesText: raw.bindMemory(to: UInt8.self), path: source.merges)
        }
        self.init(vocabulary: vocabulary, idForByte: tables.idForByte, merges: tables.merges)
        Self.returnFreedMemory()
    }

    /// Builds a tokenizer from vocabulary spellings (byte-level alphabet) and merges in rank order.
    public convenience init(spellings: [String: Int], merges mergePairs: [(String, String)],
                            source: (vocabulary: String, merges: String) = ("<memory>", "<memory>")) throws {
        var builder = VocabularyBuilder(path: source.vocabulary)
        // Ids index the table: a negative one, or one so large the table could not be allocated, is refused.
        for (spelling, id) in spellings.sorted(by: { $0.value < $1.value }) {
            guard id >= 0 && id < Self.largestID else {
                throw TokenizerError.malformedVocabulary(path: source.vocabulary, reason: "token \(spelling.debugDescription) has id \(id), not a small non-negative integer")
            }
            try builder.add(spelling, id: id)
        }
        let vocabulary = try builder.finish()
        // As merges.txt would hold them, after its version line (so a merge's line is its rank + 2).
        let text = Array(("#version: 0.2\n" + mergePairs.map { "\($0.0) \($0.1)\n" }.joined()).utf8)
        let tables = try text.withUnsafeBufferPointer { try Self.tables(of: vocabulary, mergesText: $0, path: source.merges) }
        self.init(vocabulary: vocabulary, idForByte: tables.idForByte, merges: tables.merges)
    }

    private init(vocabulary: VocabularyBuilder.Vocabulary, idForByte: [Int32], merges: [UInt64: (rank: Int32, merged: Int32)]) {
        tokenBytes = vocabulary.table
        specialTokens = vocabulary.specials
        self.idForByte = idForByte
        self.merges = merges
    }

    /// The byte map and merge table of a built vocabulary and the text of merges.txt (one `left right` pair per
    /// line, in rank order).
    private static func tables(of vocabulary: VocabularyBuilder.Vocabulary, mergesText: UnsafeBufferPointer<UInt8>,
                               path: String) throws -> (idForByte: [Int32], merges: [UInt64: (rank: Int32, merged: Int32)]) {
        let tokenBytes = vocabulary.table
        let specialIDs = Set(vocabulary.specials.values)
        var idForByte = [Int32](repeating: -1, count: 256)
        for id in tokenBytes.indices where tokenBytes.length(of: id) == 1 && !specialIDs.contains(id) {
            let byte = Int(tokenBytes[id].first!)
            if idForByte[byte] < 0 { idForByte[byte] = Int32(id) }
        }
        if let byte = idForByte.firstIndex(of: -1) {
            throw TokenizerError.malformedVocabulary(path: vocabulary.path, reason: "no token for the single byte 0x\(String(byte, radix: 16))")
        }

        let index = TokenIndex(tokenBytes) { !specialIDs.contains($0) }
        var merges: [UInt64: (rank: Int32, merged: Int32)] = [:]
        merges.reserveCapacity(mergesText.count / 9)   // GPT-2's lines average about 9 bytes
        var rank: Int32 = 0
        var joined: [UInt8] = []
        try MergesText.forEachRule(in: mergesText, path: path) { left, right, line in
            joined.removeAll(keepingCapacity: true)
            joined += left
            joined += right
            guard let leftID = index.id(of: left), let rightID = index.id(of: right), let merged = index.id(of: joined) else {
                throw TokenizerError.malformedMerges(path: path, line: line, reason: "merge \(ByteLevel.spelling(of: left)) \(ByteLevel.spelling(of: right)) names a token that is not in the vocabulary")
            }
            let key = UInt64(UInt32(leftID)) << 32 | UInt64(UInt32(rightID))
            if merges[key] == nil { merges[key] = (rank, merged) }
            rank += 1
        }
        return (idForByte, merges)
    }

    /// Gives the heap that reading the files used and freed back to the system (glibc keeps freed memory otherwise,
    /// and it would stay in the process's resident size for the whole run).
    static func returnFreedMemory() {
        #if os(Linux)
        // malloc_trim is glibc's (not in Swift's Glibc module): looked up, and skipped under another C library.
        typealias Trim = @convention(c) (Int) -> Int32
        if let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "malloc_trim") {
            _ = unsafeBitCast(symbol, to: Trim.self)(0)
        }
        #endif
    }

    // MARK: Encoding

    /// Token ids for `text`; `<|endoftext|>` and other special tokens are matched unless `allowSpecialTokens` is false.
    public func encode(_ text: String, allowSpecialTokens: Bool = true) -> [Int] {
        var ids: [Int] = []
        var utf8 = Array(text.utf8)
        utf8.withUnsafeMutableBufferPointer { buffer in
            let bytes = UnsafeBufferPointer(buffer)
            var segmentStart = 0
            if allowSpecialTokens && !specialTokens.isEmpty {
                var i = 0
                while i < bytes.count {
                    if bytes[i] == UInt8(ascii: "<"), let (length, id) = specialToken(in: bytes, at: i) {
                        encodeOrdinary(UnsafeBufferPointer(rebasing: bytes[segmentStart..<i]), into: &ids)
                        ids.append(id)
                        i += length
                        segmentStart = i
                    } else {
                        i += 1
                    }
                }
            }
            encodeOrdinary(UnsafeBufferPointer(rebasing: bytes[segmentStart...]), into: &ids)
        }
        return ids
    }

    /// The (byte length, id) of the special token at `offset`, if one starts there.
    func specialToken(in bytes: UnsafeBufferPointer<UInt8>, at offset: Int) -> (Int, Int)? {
        for (text, id) in specialTokens {
            let utf8 = text.utf8
            if offset + utf8.count <= bytes.count && zip(utf8, bytes[offset...]).allSatisfy({ $0 == $1 }) {
                return (utf8.count, id)
            }
        }
        return nil
    }

    private func encodeOrdinary(_ bytes: UnsafeBufferPointer<UInt8>, into ids: inout [Int]) {
        PreTokenizer.split(bytes) { range in
            let piece = UnsafeBufferPointer(rebasing: bytes[range])
            if piece.count == 1 {
                ids.append(Int(idForByte[Int(piece[0])]))
                return
            }
            let key = Array(piece)
            cacheLock.lock()
            let cached = cache[key]
            cacheLock.unlock()
            if let cached {
                for id in cached { ids.append(Int(id)) }
                return
            }
            let pieceIDs = bytePairMerge(piece)
            cacheLock.lock()
            if cache.count >= Self.cacheCapacity { cache.removeAll(keepingCapacity: true) }
            cache[key] = pieceIDs
            cacheLock.unlock()
            for id in pieceIDs { ids.append(Int(id)) }
        }
    }

    /// Byte-pair encoding of one piece: repeatedly merge the adjacent pair with the lowest merge rank
    /// (every occurrence, left to right), as GPT-2's reference `bpe()` does.
    private func bytePairMerge(_ piece: UnsafeBufferPointer<UInt8>) -> [Int32] {
        var symbols = piece.map { idForByte[Int($0)] }
        while symbols.count > 1 {
            var bestRank = Int32.max
            var bestMerged: Int32 = -1
            var bestPair: UInt64 = 0
            for k in 0..<(symbols.count - 1) {
                let key = UInt64(UInt32(symbols[k])) << 32 | UInt64(UInt32(symbols[k + 1]))
                if let merge = merges[key], merge.rank < bestRank {
                    bestRank = merge.rank; bestMerged = merge.merged; bestPair = key
                }
            }
            if bestMerged < 0 { break }
            let left = Int32(truncatingIfNeeded: bestPair >> 32), right = Int32(truncatingIfNeeded: bestPair & 0xFFFF_FFFF)
            var merged: [Int32] = []
            merged.reserveCapacity(symbols.count)
            var k = 0
            while k < symbols.count {
                if k + 1 < symbols.count && symbols[k] == left && symbols[k + 1] == right {
                    merged.append(bestMerged); k += 2
                } else {
                    merged.append(symbols[k]); k += 1
                }
            }
            symbols = merged
        }
        return symbols
    }

    // MARK: Decoding

    /// The raw bytes of a token sequence (what a streaming decoder accumulates).
    public func bytes(of ids: [Int]) throws -> [UInt8] {
        var bytes: [UInt8] = []
        for id in ids {
            guard id >= 0 && id < tokenBytes.count else { throw TokenizerError.unknownTokenID(id, vocabularySize: tokenBytes.count) }
            bytes += tokenBytes[id]
        }
        return bytes
    }

    /// Text for `ids`; invalid UTF-8 becomes U+FFFD, one per maximal invalid subpart, as in transformers.
    public func decode(_ ids: [Int]) throws -> String {
        String(decoding: try bytes(of: ids), as: UTF8.self)
    }

    private static func read(_ url: URL) throws -> Data {
        guard FileManager.default.fileExists(atPath: url.path) else { throw TokenizerError.missingFile(path: url.path) }
        do { return try Data(contentsOf: url) } catch {
            throw TokenizerError.unreadableFile(path: url.path, reason: error.localizedDescription)
        }
    }
}

extension GPT2Tokenizer {
    /// How many leading `tokens` have all their bytes within the first `byteCount` bytes of their decoded text: the
    /// tokens left of a generation cut before a stop string (the token the stop string began inside is not one of them).
    public func tokenCount(of tokens: [Int], within byteCount: Int) -> Int {
        var budget = byteCount, count = 0
        for token in tokens {
            let length = tokenBytes.length(of: token)
            guard length <= budget else { break }
            budget -= length
            count += 1
        }
        return count
    }
}

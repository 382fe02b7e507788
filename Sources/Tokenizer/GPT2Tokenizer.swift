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
    public let tokenBytes: [[UInt8]]
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

    /// Loads `vocab.json` and `merges.txt` from a folder.
    public convenience init(folder: URL) throws {
        try self.init(vocabulary: folder.appendingPathComponent("vocab.json"), merges: folder.appendingPathComponent("merges.txt"))
    }

    /// Loads the two tokenizer files.
    public convenience init(vocabulary vocabularyURL: URL, merges mergesURL: URL) throws {
        try self.init(vocabularyJSON: try Self.read(vocabularyURL), mergesText: try Self.read(mergesURL),
                      source: (vocabularyURL.path, mergesURL.path))
    }

    /// Builds the tokenizer from the contents of vocab.json and merges.txt (e.g. as stored in a .gqz file).
    public convenience init(vocabularyJSON vocabularyData: Data, mergesText mergesData: Data, source: (vocabulary: String, merges: String)) throws {
        let vocabularyURL = URL(fileURLWithPath: source.vocabulary), mergesURL = URL(fileURLWithPath: source.merges)
        guard let object = try? JSONSerialization.jsonObject(with: vocabularyData),
              let vocabulary = object as? [String: Any] else {
            throw TokenizerError.malformedVocabulary(path: vocabularyURL.path, reason: "not a JSON object of token → id")
        }
        var spellings: [String: Int] = [:]
        spellings.reserveCapacity(vocabulary.count)
        for (spelling, value) in vocabulary {
            guard let id = value as? Int, id >= 0, id < Self.largestID else {
                throw TokenizerError.malformedVocabulary(path: vocabularyURL.path, reason: "token \(spelling.debugDescription) has id \(value), not a small non-negative integer")
            }
            spellings[spelling] = id
        }
        guard let mergesText = String(data: mergesData, encoding: .utf8) else {
            throw TokenizerError.malformedMerges(path: mergesURL.path, line: 0, reason: "not UTF-8")
        }
        var mergePairs: [(String, String)] = []
        for (index, line) in mergesText.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line.hasPrefix("#version") || line.isEmpty { continue }
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw TokenizerError.malformedMerges(path: mergesURL.path, line: index + 1, reason: "expected two tokens separated by one space, got \(String(line).debugDescription)")
            }
            mergePairs.append((String(parts[0]), String(parts[1])))
        }
        try self.init(spellings: spellings, merges: mergePairs, source: (vocabularyURL.path, mergesURL.path))
    }

    /// Builds a tokenizer from vocabulary spellings (byte-level alphabet) and merges in rank order.
    public init(spellings: [String: Int], merges mergePairs: [(String, String)], source: (vocabulary: String, merges: String) = ("<memory>", "<memory>")) throws {
        // Ids index the table below: a negative one, or one so large the table could not be allocated, is refused.
        if let (spelling, id) = spellings.first(where: { $0.value < 0 || $0.value >= Self.largestID }) {
            throw TokenizerError.malformedVocabulary(path: source.vocabulary, reason: "token \(spelling.debugDescription) has id \(id), not a small non-negative integer")
        }
        let size = (spellings.values.max() ?? -1) + 1
        var tokenBytes = [[UInt8]?](repeating: nil, count: size)
        var specials: [String: Int] = [:]
        for (spelling, id) in spellings {
            if spelling.hasPrefix("<|") && spelling.hasSuffix("|>") && spelling.count > 4 {
                specials[spelling] = id
                tokenBytes[id] = Array(spelling.utf8)
            } else if let bytes = ByteLevel.bytes(ofSpelling: spelling) {
                tokenBytes[id] = bytes
            } else {
                throw TokenizerError.malformedVocabulary(path: source.vocabulary, reason: "token \(spelling.debugDescription) uses characters outside GPT-2's byte-level alphabet")
            }
        }
        if let missing = tokenBytes.firstIndex(where: { $0 == nil }) {
            throw TokenizerError.malformedVocabulary(path: source.vocabulary, reason: "no token has id \(missing) (ids must run 0..<\(size) without gaps)")
        }
        self.tokenBytes = tokenBytes.map { $0! }
        self.specialTokens = specials

        var idForByte = [Int32](repeating: -1, count: 256)
        var idForBytes: [[UInt8]: Int32] = [:]
        idForBytes.reserveCapacity(size)
        let specialIDs = Set(specials.values)
        for (id, bytes) in self.tokenBytes.enumerated() where !specialIDs.contains(id) {
            idForBytes[bytes] = Int32(id)
            if bytes.count == 1 { idForByte[Int(bytes[0])] = Int32(id) }
        }
        if let byte = idForByte.firstIndex(of: -1) {
            throw TokenizerError.malformedVocabulary(path: source.vocabulary, reason: "no token for the single byte 0x\(String(byte, radix: 16))")
        }
        var merges: [UInt64: (rank: Int32, merged: Int32)] = [:]
        merges.reserveCapacity(mergePairs.count)
        for (rank, pair) in mergePairs.enumerated() {
            guard let left = ByteLevel.bytes(ofSpelling: pair.0), let right = ByteLevel.bytes(ofSpelling: pair.1),
                  let leftID = idForBytes[left], let rightID = idForBytes[right], let merged = idForBytes[left + right] else {
                throw TokenizerError.malformedMerges(path: source.merges, line: rank + 2, reason: "merge \(pair.0) \(pair.1) names a token that is not in the vocabulary")
            }
            let key = UInt64(UInt32(leftID)) << 32 | UInt64(UInt32(rightID))
            if merges[key] == nil { merges[key] = (Int32(rank), merged) }
        }
        self.idForByte = idForByte
        self.merges = merges
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
            if cache.count > 200_000 { cache.removeAll(keepingCapacity: true) }
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
            let length = tokenBytes[token].count
            guard length <= budget else { break }
            budget -= length
            count += 1
        }
        return count
    }
}

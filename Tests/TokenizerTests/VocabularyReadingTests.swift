import Foundation
import Testing
import TestSupport
@testable import Tokenizer

/// vocab.json and merges.txt read over their bytes (VocabularyJSON, MergesText) into the compact tables: the same
/// tokens as a JSON decoder reads, every JSON escape, and a clear error for each way the files can be wrong.
@Suite struct VocabularyReadingTests {
    static let merges = Data("#version: 0.2\n".utf8)
    static let bytes: [String] = (0..<256).map { String(ByteLevel.characterForByte[$0]) }

    /// A vocabulary of the 256 single bytes (ids 0…255) plus `extra` entries (JSON text) after them.
    static func vocabulary(_ extra: String = "") -> Data {
        let singles = bytes.enumerated().map { id, spelling in
            let escaped = String(data: try! JSONSerialization.data(withJSONObject: [spelling], options: [.withoutEscapingSlashes]), encoding: .utf8)!
            return "\(escaped.dropFirst().dropLast()): \(id)"
        }
        return Data(("{" + singles.joined(separator: ", ") + extra + "}").utf8)
    }

    static func load(_ vocabulary: Data, _ merges: Data = merges) throws -> GPT2Tokenizer {
        try GPT2Tokenizer(vocabularyJSON: vocabulary, mergesText: merges, source: ("v.json", "m.txt"))
    }

    @Test func theFixtureVocabularyReadsAsAJSONDecoderReadsIt() throws {
        let tokenizer = try GPT2Tokenizer(folder: Fixtures.tokenizerFolder)
        let data = try Data(contentsOf: Fixtures.tokenizerFolder.appendingPathComponent("vocab.json"))
        let decoded = try JSONDecoder().decode([String: Int].self, from: data)
        #expect(tokenizer.vocabularySize == decoded.count)
        for (spelling, id) in decoded {
            #expect(try tokenizer.spelling(of: id) == spelling, "id \(id)")
        }
        // The tables are about the size of their data: 0.5 MB of token bytes and offsets, 2 MB with the merges.
        #expect(tokenizer.tokenBytes.residentBytes < 600_000, "\(tokenizer.tokenBytes.residentBytes)")
        #expect(tokenizer.residentBytes < 4_000_000, "\(tokenizer.residentBytes)")
    }

    @Test func everyJSONEscapeIsDecoded() throws {
        // "é" written raw and as \u00e9, "😀" as a surrogate pair: both spell bytes of the byte-level alphabet.
        let smile = Array("😀".utf8).map { Self.bytes[Int($0)] }.joined()
        let escapedSmile = smile.unicodeScalars.map { String(format: "\\u%04x", $0.value) }.joined()
        let tokenizer = try Self.load(Self.vocabulary(#", "\u0120\u0074": 256, "\#(escapedSmile)": 257, "<|endoftext|>": 258, "a\/b": 259"#))
        #expect(tokenizer.vocabularySize == 260)
        #expect(Array(tokenizer.tokenBytes[256]) == Array(" t".utf8))
        #expect(Array(tokenizer.tokenBytes[257]) == Array("😀".utf8))
        #expect(tokenizer.specialTokens == ["<|endoftext|>": 258])
        #expect(Array(tokenizer.tokenBytes[259]) == Array("a/b".utf8))
        #expect(tokenizer.encode("<|endoftext|>") == [258])
    }

    @Test func malformedVocabulariesAreRefusedWithTheReason() throws {
        func refusal(_ text: String) -> String {
            do { _ = try Self.load(Data(text.utf8)); return "loaded" } catch { return "\(error)" }
        }
        #expect(refusal("[1, 2]").contains("not a JSON object of token → id"))
        #expect(refusal(#"{"a": 1"#).contains("expected , or }"))
        #expect(refusal(#"{"a" 1}"#).contains("expected : after token \"a\""))
        #expect(refusal(#"{"a": "1"}"#).contains(#"token "a" has id "1", not a small non-negative integer"#))
        #expect(refusal(#"{"a": 1.5}"#).contains("has id 1.5"))
        #expect(refusal(#"{"a": 99999999999999999999999}"#).contains("not a small non-negative integer"))
        #expect(refusal(#"{"\ud800": 0}"#).contains("lone surrogate"))
        #expect(refusal(#"{"\q": 0}"#).contains("unknown escape"))
        #expect(refusal("{\"a\u{1}\": 0}").contains("control character"))
        #expect(refusal(#"{"a": 0} x"#).contains("more after the end"))
        #expect(refusal(#"{"é€": 0}"#).contains("outside GPT-2's byte-level alphabet"))
        #expect(refusal(String(decoding: Self.vocabulary(#", "Ġ": 300"#), as: UTF8.self)).contains("no token has id 256"))
        #expect(refusal(String(decoding: Self.vocabulary(#", "Ġt": 5"#), as: UTF8.self)).contains("two tokens have id 5"))
        let notUTF8 = Data([0x7B, 0x22, 0xFF, 0x22, 0x3A, 0x30, 0x7D])   // {"\xFF":0}
        do { _ = try Self.load(notUTF8); Issue.record("loaded") } catch { #expect("\(error)".contains("not UTF-8"), "\(error)") }
    }

    @Test func mergesAreReadLineByLine() throws {
        let vocabulary = Self.vocabulary(#", "Ġt": 256, "Ġth": 257"#)
        let tokenizer = try Self.load(vocabulary, Data("#version: 0.2\nĠ t\nĠt h\n".utf8))
        #expect(tokenizer.encode(" th") == [257])
        // Saved with CRLF line ends: the same rules.
        let crlf = try Self.load(vocabulary, Data("#version: 0.2\r\nĠ t\r\nĠt h\r\n".utf8))
        #expect(crlf.encode(" th") == [257])
        func refusal(_ text: String) -> String {
            do { _ = try Self.load(vocabulary, Data(text.utf8)); return "loaded" } catch { return "\(error)" }
        }
        #expect(refusal("#version: 0.2\nĠ t\nĠtx\n").contains("m.txt, line 3"))
        #expect(refusal("#version: 0.2\nĠ  t\n").contains("expected two tokens separated by one space"))
        #expect(refusal("#version: 0.2\nĠt Ġ\n").contains("names a token that is not in the vocabulary"))
        #expect(refusal("#version: 0.2\né€ t\n").contains("names a token that is not in the vocabulary"))
        var bad = Data("#version: 0.2\n".utf8)
        bad.append(contentsOf: [0xFF, 0x20, 0x74, 0x0A])
        do { _ = try Self.load(vocabulary, bad); Issue.record("loaded") } catch { #expect("\(error)".contains("line 2") && "\(error)".contains("not UTF-8"), "\(error)") }
    }
}

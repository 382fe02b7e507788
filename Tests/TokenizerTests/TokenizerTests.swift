import Foundation
import Testing
import TestSupport
@testable import Tokenizer

@Suite struct TokenizerTests {
    static let tokenizer = try! GPT2Tokenizer(folder: Fixtures.tokenizerFolder)

    @Test func knownIDs() throws {
        let t = Self.tokenizer
        #expect(t.vocabularySize == 50257)
        #expect(t.encode("Hello world") == [15496, 995])
        #expect(t.encode(" the") == [262])
        #expect(t.encode("<|endoftext|>") == [50256])
        #expect(t.encode("<|endoftext|>", allowSpecialTokens: false) == [27, 91, 437, 1659, 5239, 91, 29])
        #expect(t.encode("") == [])
    }

    @Test func everyEncodeCaseMatchesTransformers() throws {
        let cases = try Fixtures.jsonLines(Fixtures.tokenizerFolder.appendingPathComponent("cases.jsonl"))
        #expect(cases.count == 346)
        var failures: [String] = []
        for testCase in cases {
            let text = testCase["text"] as! String
            let expected = (testCase["ids"] as! [Any]).ints
            let got = Self.tokenizer.encode(text)
            if got != expected { failures.append("\(testCase["category"]!): \(text.debugDescription.prefix(80)) → \(got.prefix(12)) expected \(expected.prefix(12))") }
            if let ordinary = testCase["ids_ordinary"] as? [Any] {
                let gotOrdinary = Self.tokenizer.encode(text, allowSpecialTokens: false)
                if gotOrdinary != ordinary.ints { failures.append("ordinary: \(text.debugDescription.prefix(80))") }
            }
            if try Self.tokenizer.decode(expected) != text { failures.append("round trip: \(text.debugDescription.prefix(80))") }
        }
        #expect(failures.isEmpty, "\(failures.count) failures:\n\(failures.prefix(20).joined(separator: "\n"))")
    }

    @Test func everyDecodeCaseMatchesTransformers() throws {
        let cases = try Fixtures.jsonLines(Fixtures.tokenizerFolder.appendingPathComponent("decode_cases.jsonl"))
        #expect(cases.count == 73)
        for testCase in cases {
            let ids = (testCase["ids"] as! [Any]).ints
            let bytes = try Self.tokenizer.bytes(of: ids)
            #expect(bytes.map { String(format: "%02x", $0) }.joined() == testCase["bytes_hex"] as! String)
            #expect(try Self.tokenizer.decode(ids) == testCase["text"] as! String, "\(testCase["category"]!) \(ids)")
        }
    }

    @Test func streamingDecoderNeverSplitsACharacterAndAgreesWithDecode() throws {
        let cases = try Fixtures.jsonLines(Fixtures.tokenizerFolder.appendingPathComponent("decode_cases.jsonl"))
        for testCase in cases {
            let ids = (testCase["ids"] as! [Any]).ints
            var decoder = StreamingDecoder()
            var pieces: [String] = []
            for id in ids { pieces.append(decoder.append(Self.tokenizer.tokenBytes[id])) }
            pieces.append(decoder.finish())
            #expect(pieces.joined() == testCase["text"] as! String, "\(testCase["category"]!) \(ids)")
            if testCase["category"] as! String == "split_char_full" {
                // Valid text split inside characters: no piece may carry a replacement character.
                #expect(!pieces.contains { $0.contains("\u{FFFD}") }, "\(ids)")
            }
        }
    }

    @Test func streamingHoldsBackAnIncompleteCharacter() {
        var decoder = StreamingDecoder()
        #expect(decoder.append([0x48, 0xE2, 0x82]) == "H")   // "H" then 2 of the 3 bytes of "€"
        #expect(decoder.append([0xAC, 0x21]) == "€!")
        #expect(decoder.append([0xF0, 0x9F]) == "")
        #expect(decoder.finish() == "\u{FFFD}")                 // a cut 4-byte sequence: one replacement
    }

    @Test func unknownIDIsAnError() {
        #expect(throws: TokenizerError.unknownTokenID(50257, vocabularySize: 50257)) { try Self.tokenizer.decode([50257]) }
        #expect(throws: TokenizerError.self) { try Self.tokenizer.decode([-1]) }
    }

    /// Ids from the vocabulary that would overflow or exhaust the table they index: refused, never a trap.
    @Test func hugeAndNegativeVocabularyIDsAreRefused() throws {
        let merges = Data("#version: 0.2\n".utf8)
        for value in ["-1", "10000000", "9223372036854775807", "1e300", "2.5"] {
            #expect(throws: TokenizerError.self, "id \(value)") {
                try GPT2Tokenizer(vocabularyJSON: Data("{\"a\": \(value)}".utf8), mergesText: merges, source: ("v.json", "m.txt"))
            }
        }
        #expect(throws: TokenizerError.malformedVocabulary(path: "<memory>", reason: "token \"a\" has id -5, not a small non-negative integer")) {
            try GPT2Tokenizer(spellings: ["a": -5], merges: [])
        }
        #expect(throws: TokenizerError.self) { try GPT2Tokenizer(spellings: ["a": Int.max], merges: []) }
    }

    @Test func missingAndMalformedFilesNameTheFile() throws {
        let dir = try Fixtures.temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(throws: TokenizerError.missingFile(path: dir.appendingPathComponent("vocab.json").path)) {
            try GPT2Tokenizer(folder: dir)
        }
        try Data("[1,2]".utf8).write(to: dir.appendingPathComponent("vocab.json"))
        try Data("#version: 0.2\n".utf8).write(to: dir.appendingPathComponent("merges.txt"))
        #expect(throws: TokenizerError.malformedVocabulary(path: dir.appendingPathComponent("vocab.json").path, reason: "not a JSON object of token → id")) {
            try GPT2Tokenizer(folder: dir)
        }
        try FileManager.default.copyItem(at: Fixtures.tokenizerFolder.appendingPathComponent("vocab.json"), to: dir.appendingPathComponent("v2.json"))
        try Data("#version: 0.2\nĠ t\nbogus\n".utf8).write(to: dir.appendingPathComponent("m2.txt"))
        do {
            _ = try GPT2Tokenizer(vocabulary: dir.appendingPathComponent("v2.json"), merges: dir.appendingPathComponent("m2.txt"))
            Issue.record("expected an error")
        } catch let error as TokenizerError {
            #expect(error.description.contains("m2.txt, line 3"), "\(error)")
        }
    }
}

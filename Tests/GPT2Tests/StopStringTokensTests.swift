import Foundation
import Testing
import TestSupport
@testable import GPT2Edge

/// A run cut by a stop string returns tokens that agree with its text: decoded, they are the text, or the text
/// less the start of the one token inside which the stop string began.
@Suite struct StopStringTokensTests {
    static let model = try! LoadedModel.load(path: Fixtures.local.appendingPathComponent("models/kjv").path, threads: 2)

    static func options(stop: [String] = [], beams: Int = 1) -> GenerationOptions {
        var options = GenerationOptions(maxNewTokens: 24, sampling: SamplingOptions(temperature: 0), ignoreEndOfText: true, stopStrings: stop)
        options.numBeams = beams
        return options
    }

    /// The generated tokens and the text each one adds.
    static func pieces(beams: Int) throws -> (tokens: [Int], texts: [String]) {
        let result = try TextGenerator(model: model).generateSequences(promptTokens: model.tokenizer.encode("And God said"),
                                                                        options: options(beams: beams))[0]
        return (result.tokens, try result.tokens.map { try model.tokenizer.decode([$0]) })
    }

    @Test func tokensEndBeforeTheStopString() throws {
        let beams = 1
        let (tokens, texts) = try Self.pieces(beams: beams)
        // A token whose text is long enough to start a stop string inside it, past the first few.
        let index = try #require(texts.indices.dropFirst(2).first { texts[$0].count >= 3 })
        let before = texts[..<index].joined()
        for (offset, wholeTokens) in [(0, index), (1, index)] {   // at the token's start, and one character into it
            let stopStart = before.count + offset
            let full = texts.joined()
            let stop = String(full.dropFirst(stopStart).prefix(4))
            let result = try TextGenerator(model: Self.model).generateSequences(promptTokens: Self.model.tokenizer.encode("And God said"),
                                                                                 options: Self.options(stop: [stop], beams: beams))[0]
            #expect(result.finishReason == .stopString)
            #expect(result.text == String(full.prefix(stopStart)), "stop \(stop)")
            #expect(result.tokens == Array(tokens.prefix(wholeTokens)), "stop \(stop) at offset \(offset): \(result.tokens)")
            let decoded = try Self.model.tokenizer.decode(result.tokens)
            #expect(result.text.hasPrefix(decoded))
        }
    }

    @Test func beamSearchTokensAgreeWithTheText() throws {
        let (_, texts) = try Self.pieces(beams: 3)
        let full = texts.joined()
        // Stop strings that begin inside tokens of the beams' text; those runs that end at one must agree.
        var stopped = 0
        for start in stride(from: 1, to: min(full.count - 4, 40), by: 3) {
            let stop = String(full.dropFirst(start).prefix(3))
            let result = try TextGenerator(model: Self.model).generateSequences(promptTokens: Self.model.tokenizer.encode("And God said"),
                                                                                 options: Self.options(stop: [stop], beams: 3))[0]
            guard result.finishReason == .stopString else { continue }
            stopped += 1
            #expect(!result.text.contains(stop))
            #expect(result.text.hasPrefix(try Self.model.tokenizer.decode(result.tokens)), "stop \(stop): \(result.tokens)")
        }
        #expect(stopped > 0)
    }
}

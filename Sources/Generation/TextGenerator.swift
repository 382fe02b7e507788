import Foundation
import Tokenizer

/// Runs the decode loop: prompt in one forward pass, then one token at a time through the KV cache,
/// streaming UTF-8-safe text pieces to a callback as they become final. Beam search is in
/// `TextGenerator+BeamSearch.swift`.
public struct TextGenerator<Model: LanguageModel>: Sendable {
    /// The model every request runs on.
    public let model: Model

    public init(model: Model) { self.model = model }

    /// Checks a request without running it: a non-empty prompt that leaves room for a new token, valid options.
    public func validate(promptTokens: [Int], options: GenerationOptions) throws {
        guard !promptTokens.isEmpty else { throw GenerationRequestError.emptyPrompt }
        guard promptTokens.count < model.contextLength else {
            throw GenerationRequestError.promptTooLong(tokens: promptTokens.count, contextLength: model.contextLength)
        }
        do { try options.validate() } catch let error as GenerationOptions.Invalid { throw GenerationRequestError.invalidOption(error.description) }
        if let token = options.endOfTextToken, token < 0 || token >= model.vocabularySize {
            throw GenerationRequestError.invalidOption("end-of-text token \(token) is outside the vocabulary (0..<\(model.vocabularySize))")
        }
    }

    /// The token that ends a sequence for these options.
    func endOfTextToken(_ options: GenerationOptions) -> Int? {
        options.endOfTextToken ?? model.endOfTextToken ?? model.tokenizer.endOfText
    }

    /// Every sequence a request asks for: beam search's best `numReturnSequences` when `numBeams > 1`,
    /// otherwise `numReturnSequences` independent runs (seeds `seed`, `seed + 1`, …), each streamed through
    /// `onText(sequenceIndex, piece)` as it is produced.
    public func generateSequences(promptTokens: [Int], options: GenerationOptions,
                                  onText: (Int, String) -> Void = { _, _ in },
                                  shouldContinue: () -> Bool = { true }) throws -> [GenerationResult] {
        if options.numBeams > 1 { return try beamSearch(promptTokens: promptTokens, options: options, shouldContinue: shouldContinue) }
        var results: [GenerationResult] = []
        for index in 0..<options.numReturnSequences {
            var single = options
            single.sampling.seed = options.sampling.seed &+ UInt64(index)
            let result = try generate(promptTokens: promptTokens, options: single, onText: { onText(index, $0) }, shouldContinue: shouldContinue)
            results.append(result)
            if result.finishReason == .cancelled { break }
        }
        return results
    }

    /// Generates a continuation of `prompt`. `onText` receives each new piece of text as soon as it is
    /// final; return false from `shouldContinue` to stop early (finish reason `cancelled`).
    public func generate(prompt: String, options: GenerationOptions,
                         onText: (String) -> Void = { _ in },
                         shouldContinue: () -> Bool = { true }) throws -> GenerationResult {
        try generate(promptTokens: model.tokenizer.encode(prompt), options: options, onText: onText, shouldContinue: shouldContinue)
    }

    /// Generates a continuation of already tokenized input (greedy or sampled, as `options.sampling` says; one
    /// sequence whatever `numBeams` and `numReturnSequences` say: `generateSequences` honours them).
    public func generate(promptTokens: [Int], options: GenerationOptions,
                         onText: (String) -> Void = { _ in },
                         shouldContinue: () -> Bool = { true }) throws -> GenerationResult {
        try validate(promptTokens: promptTokens, options: options)
        var single = options
        single.numBeams = 1
        single.numReturnSequences = 1
        return try run(rows: [Row(prompt: 0, sequence: 0)], prompts: [promptTokens], options: single,
                       onText: { onText($1) }, shouldContinue: shouldContinue)[0]
    }
}

extension TextGenerator {
    /// The longest prefix of `tokens` whose bytes lie within `text` (a generation cut before a stop string), so
    /// that decoding the tokens gives the text, or the text less the start of one token when the stop string
    /// began inside that token.
    func tokensWithin(_ text: String, of tokens: [Int]) -> [Int] {
        Array(tokens.prefix(model.tokenizer.tokenCount(of: tokens, within: text.utf8.count)))
    }
}

/// Holds back streamed text that might be the start of a stop string, and cuts the output where one appears.
public struct StopStringFilter: Sendable {
    public let stopStrings: [String]
    private var held = ""

    public init(stopStrings: [String]) { self.stopStrings = stopStrings.filter { !$0.isEmpty } }

    /// Adds text; returns what can be released and whether a stop string was found (text before it is released).
    public mutating func push(_ piece: String) -> (String, Bool) {
        guard !stopStrings.isEmpty else { return (piece, false) }
        held += piece
        if let match = stopStrings.compactMap({ held.range(of: $0) }).min(by: { $0.lowerBound < $1.lowerBound }) {
            let released = String(held[..<match.lowerBound])
            held = ""
            return (released, true)
        }
        // Keep the longest suffix that is a prefix of some stop string.
        var keep = 0
        for stop in stopStrings {
            for length in stride(from: min(stop.count - 1, held.count), to: 0, by: -1) where held.hasSuffix(stop.prefix(length)) {
                keep = max(keep, length)
                break
            }
        }
        let released = String(held.dropLast(keep))
        held = String(held.suffix(keep))
        return (released, false)
    }

    /// Releases whatever is held at the end of a run.
    public mutating func flush() -> String {
        defer { held = "" }
        return held
    }
}

/// A problem with the request itself, found before any work is done.
public enum GenerationRequestError: Error, CustomStringConvertible, Equatable {
    case emptyPrompt
    case promptTooLong(tokens: Int, contextLength: Int)
    case invalidOption(String)
    /// One prompt of several (`index` from 0) has this problem.
    indirect case inPrompt(Int, GenerationRequestError)

    public var description: String {
        switch self {
        case .emptyPrompt:
            return "the prompt is empty (it must have at least one token)"
        case .promptTooLong(let tokens, let length):
            return "the prompt is \(tokens) tokens but the model's context holds \(length); shorten it by at least \(tokens - length + 1) tokens to leave room for one new token"
        case .invalidOption(let message):
            return message
        case .inPrompt(let index, let error):
            return "prompt \(index + 1): \(error)"
        }
    }
}

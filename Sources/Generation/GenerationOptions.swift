/// Everything that shapes one generation run, with defaults that match Hugging Face `generate()`
/// where it has one.
public struct GenerationOptions: Sendable, Equatable {
    /// Tokens to generate at most (`max_new_tokens`).
    public var maxNewTokens: Int = 64
    /// How each next token is chosen (greedy or sampled, processors, seed).
    public var sampling: SamplingOptions = SamplingOptions()
    /// Keep going past `<|endoftext|>` instead of stopping there.
    public var ignoreEndOfText: Bool = false
    /// `<|endoftext|>` is suppressed until this many tokens are generated (`min_new_tokens`).
    public var minNewTokens: Int = 0
    /// Stop when the generated text contains one of these; the stop string itself is not returned.
    public var stopStrings: [String] = []
    /// The token that ends a sequence; nil uses the model's `<|endoftext|>` (`eos_token_id`).
    public var endOfTextToken: Int? = nil
    /// Beams kept by beam search (`num_beams`); 1 means no beam search (greedy or sampling, as `sampling` says).
    /// Beam search is deterministic: it uses the repetition penalty, no-repeat n-gram and min-new-tokens rules but
    /// not temperature, top-k/p, min-p or typical-p (transformers' `do_sample=False`).
    public var numBeams: Int = 1
    /// Beam scores are divided by (generated length)^lengthPenalty: > 0 favours longer sequences, < 0 shorter.
    public var lengthPenalty: Float = 1
    /// When beam search stops; see `BeamEarlyStopping`.
    public var earlyStopping: BeamEarlyStopping = .heuristic
    /// Sequences returned (`num_return_sequences`): the best ones of beam search (at most `numBeams`), or
    /// independent samples with seeds `seed`, `seed + 1`, ….
    public var numReturnSequences: Int = 1
    /// When the context (n_positions) fills up: stop with finish reason `length`, or keep the last half of
    /// the tokens and process them again as a new context (llama.cpp's context shift), then go on.
    public var contextShift: Bool = false

    public init(maxNewTokens: Int = 64, sampling: SamplingOptions = SamplingOptions(), ignoreEndOfText: Bool = false, stopStrings: [String] = []) {
        self.maxNewTokens = maxNewTokens
        self.sampling = sampling
        self.ignoreEndOfText = ignoreEndOfText
        self.stopStrings = stopStrings
    }
}

extension GenerationOptions {
    /// An option out of range or two that exclude each other, named in the message.
    public struct Invalid: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    /// Checks what can be checked without a model (the prompt's length and the end-of-text token need one:
    /// `TextGenerator.validate`).
    public func validate() throws {
        func fail(_ message: String) -> Invalid { Invalid(description: message) }
        guard maxNewTokens >= 0 else { throw fail("max new tokens must be ≥ 0, got \(maxNewTokens)") }
        guard minNewTokens >= 0 else { throw fail("min new tokens must be ≥ 0, got \(minNewTokens)") }
        guard minNewTokens <= maxNewTokens else {
            throw fail("min new tokens (\(minNewTokens)) is more than max new tokens (\(maxNewTokens)); the run could never honour it")
        }
        do { try sampling.validate() } catch { throw fail("\(error)") }
        guard numBeams >= 1 else { throw fail("the number of beams must be ≥ 1, got \(numBeams)") }
        guard numReturnSequences >= 1 else { throw fail("the number of returned sequences must be ≥ 1, got \(numReturnSequences)") }
        guard numBeams == 1 || numReturnSequences <= numBeams else {
            throw fail("beam search returns at most --num-beams (\(numBeams)) sequences, asked for \(numReturnSequences)")
        }
        guard lengthPenalty.isFinite else { throw fail("length penalty must be finite, got \(lengthPenalty)") }
        if let empty = stopStrings.firstIndex(where: \.isEmpty) { throw fail("stop string \(empty + 1) is empty; it would match everywhere") }
        if let token = endOfTextToken, token < 0 { throw fail("end-of-text token must be ≥ 0, got \(token)") }
        guard !(numBeams > 1 && contextShift) else { throw fail("context shift works with one sequence at a time, not with beam search") }
    }
}

/// When beam search stops (transformers' `early_stopping`).
public enum BeamEarlyStopping: String, Sendable, Equatable, CaseIterable {
    /// `False`: stop when the best running beam, at its current length, cannot beat the worst finished one.
    case heuristic = "false"
    /// `True`: stop as soon as `numBeams` sequences have finished.
    case whenFull = "true"
    /// `"never"`: stop only when no running beam could beat the finished ones at any length (exact search).
    case never
}

/// Why a generation run ended.
public enum FinishReason: String, Sendable, Equatable {
    /// `maxNewTokens` reached.
    case maxTokens = "max_tokens"
    /// The model produced `<|endoftext|>`.
    case endOfText = "eos"
    /// A stop string appeared.
    case stopString = "stop"
    /// The model's context (n_positions) is full.
    case length = "length"
    /// The caller asked to stop.
    case cancelled = "cancelled"
}

/// What a generation run produced, with its timings.
public struct GenerationResult: Sendable {
    /// The prompt as the model saw it (after any truncation).
    public var promptTokens: [Int]
    /// The generated tokens, without the end-of-text token or a stop string: decoded, they give `text`, except
    /// that when a stop string begins inside a token, that token is left out and its part before the stop string
    /// is in `text` only.
    public var tokens: [Int]
    /// The generated text (the prompt not included), cut before any stop string.
    public var text: String
    /// Why the run ended.
    public var finishReason: FinishReason
    /// Seconds spent on the prompt's forward pass.
    public var promptSeconds: Double
    /// Seconds from the first new token to the end.
    public var decodeSeconds: Double
    /// Beam search's score of the sequence (sum of log-probabilities ÷ length^lengthPenalty); nil when sampling.
    public var score: Float? = nil

    /// Prompt tokens processed per second.
    public var promptTokensPerSecond: Double { promptSeconds > 0 ? Double(promptTokens.count) / promptSeconds : 0 }
    /// Tokens after the first, over the time spent producing them (the first comes from the prompt pass).
    public var decodeTokensPerSecond: Double { decodeSeconds > 0 ? Double(max(tokens.count - 1, 0)) / decodeSeconds : 0 }
}

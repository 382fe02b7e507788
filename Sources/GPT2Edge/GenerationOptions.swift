/// Everything that shapes one generation run, with defaults that match Hugging Face `generate()`
/// where it has one.
public struct GenerationOptions: Sendable, Equatable {
    /// Tokens to generate at most (`max_new_tokens`).
    public var maxNewTokens: Int = 64
    public var sampling: SamplingOptions = SamplingOptions()
    /// Keep going past `<|endoftext|>` instead of stopping there.
    public var ignoreEndOfText: Bool = false
    /// `<|endoftext|>` is suppressed until this many tokens are generated (`min_new_tokens`).
    public var minNewTokens: Int = 0
    /// Stop when the generated text contains one of these; the stop string itself is not returned.
    public var stopStrings: [String] = []

    public init(maxNewTokens: Int = 64, sampling: SamplingOptions = SamplingOptions(), ignoreEndOfText: Bool = false, stopStrings: [String] = []) {
        self.maxNewTokens = maxNewTokens
        self.sampling = sampling
        self.ignoreEndOfText = ignoreEndOfText
        self.stopStrings = stopStrings
    }
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
    public var promptTokens: [Int]
    public var tokens: [Int]
    public var text: String
    public var finishReason: FinishReason
    public var promptSeconds: Double
    public var decodeSeconds: Double

    public var promptTokensPerSecond: Double { promptSeconds > 0 ? Double(promptTokens.count) / promptSeconds : 0 }
    /// Tokens after the first, over the time spent producing them (the first comes from the prompt pass).
    public var decodeTokensPerSecond: Double { decodeSeconds > 0 ? Double(max(tokens.count - 1, 0)) / decodeSeconds : 0 }
}

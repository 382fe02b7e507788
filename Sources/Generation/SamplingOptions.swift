/// How the next token is chosen, with Hugging Face `generate()` meanings and defaults.
///
/// ```swift
/// var options = SamplingOptions(temperature: 0.8, topK: 40, topP: 0.95, seed: 7)
/// ```
/// `temperature == 0` means greedy decoding (argmax, ties to the lowest id), as `do_sample=False`.
public struct SamplingOptions: Sendable, Equatable {
    /// Divides logits before sampling; 0 selects greedy decoding.
    public var temperature: Float
    /// Keep only the k most likely tokens (ties with the k-th are kept); 0 disables.
    public var topK: Int
    /// Keep the smallest set of most likely tokens whose probability reaches p; 1 disables.
    public var topP: Float
    /// Keep tokens whose probability is at least this fraction of the top token's; 0 disables.
    public var minP: Float = 0
    /// Locally typical sampling mass; 1 disables.
    public var typicalP: Float = 1
    /// Never repeat an n-gram of this size; 0 disables.
    public var noRepeatNGramSize: Int = 0
    /// Divide positive logits (multiply negative ones) of every token already in the context; 1 disables.
    public var repetitionPenalty: Float
    /// Seed of the random generator; the same seed gives the same tokens on any thread count.
    public var seed: UInt64

    public init(temperature: Float = 1, topK: Int = 50, topP: Float = 1, repetitionPenalty: Float = 1, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.repetitionPenalty = repetitionPenalty
        self.seed = seed
    }

    /// Greedy decoding.
    public static let greedy = SamplingOptions(temperature: 0)

    /// Whether the next token is the argmax (temperature 0).
    public var isGreedy: Bool { temperature == 0 }

    /// Checks ranges, naming the offending option.
    public func validate() throws {
        func fail(_ message: String) -> SamplingError { SamplingError.invalidOption(message) }
        guard temperature >= 0, temperature.isFinite else { throw fail("temperature must be ≥ 0, got \(temperature)") }
        guard topK >= 0 else { throw fail("top-k must be ≥ 0, got \(topK)") }
        guard topP > 0, topP <= 1 else { throw fail("top-p must be in (0, 1], got \(topP)") }
        guard repetitionPenalty > 0, repetitionPenalty.isFinite else { throw fail("repetition penalty must be > 0, got \(repetitionPenalty)") }
        guard minP >= 0, minP <= 1 else { throw fail("min-p must be in [0, 1], got \(minP)") }
        guard typicalP > 0, typicalP <= 1 else { throw fail("typical-p must be in (0, 1], got \(typicalP)") }
        guard noRepeatNGramSize >= 0 else { throw fail("no-repeat n-gram size must be ≥ 0, got \(noRepeatNGramSize)") }
    }
}

/// A sampling option out of range, named in the message.
public enum SamplingError: Error, CustomStringConvertible, Equatable {
    case invalidOption(String)
    public var description: String {
        switch self { case .invalidOption(let message): return message }
    }
}

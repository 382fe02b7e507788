import CLISupport
import GPT2Edge

// The JSON objects gpt2-edge prints (`jsonText`), one type per object. The keys are a contract: README and
// Tests/CLITests read them. An optional is left out when nil, except `@Nullable` ones, which are null.

/// `generate --json`, and the last line of `--jsonl`: the first sequence, the prompt, the seed and the timings.
struct GenerateReport: Encodable {
    var first: SequenceReport
    var promptTokens: Int
    /// null when nothing was sampled (greedy decoding, beam search).
    @Nullable var seed: UInt64?
    var timings: Timings
    /// Every sequence, when more than one was asked for.
    var sequences: [SequenceReport]?
    /// true on `--jsonl`'s last line.
    var done: Bool?

    enum CodingKeys: String, CodingKey {
        case seed, timings, sequences, done
        case promptTokens = "prompt_tokens"
    }

    /// The first sequence's keys at the top level, then the report's own.
    func encode(to encoder: any Encoder) throws {
        try first.encode(to: encoder)
        var json = encoder.container(keyedBy: CodingKeys.self)
        try json.encode(promptTokens, forKey: .promptTokens)
        try json.encode(_seed, forKey: .seed)
        try json.encode(timings, forKey: .timings)
        try json.encodeIfPresent(sequences, forKey: .sequences)
        try json.encodeIfPresent(done, forKey: .done)
    }

    /// `timings`: load time, both speeds, and the peak resident size.
    struct Timings: Encodable {
        var loadMilliseconds: Double
        var promptTokensPerSecond: Double
        var decodeTokensPerSecond: Double
        var peakResidentBytes: Int

        enum CodingKeys: String, CodingKey {
            case loadMilliseconds = "load_ms"
            case promptTokensPerSecond = "prompt_tokens_per_second"
            case decodeTokensPerSecond = "decode_tokens_per_second"
            case peakResidentBytes = "peak_rss_bytes"
        }
    }
}

/// One generated sequence: its text, its tokens, why it ended, and its beam score when it has one.
struct SequenceReport: Encodable {
    var text: String
    var tokens: [Int]
    var finishReason: String
    var score: Float?

    enum CodingKeys: String, CodingKey {
        case text, tokens, score
        case finishReason = "finish_reason"
    }

    init(_ result: GenerationResult) {
        text = result.text
        tokens = result.tokens
        finishReason = result.finishReason.rawValue
        score = result.score
    }
}

/// A `--jsonl` line for one piece of text as it is generated (`prompt` only when there are several prompts).
struct TextPieceReport: Encodable {
    var prompt: Int? = nil
    var sequence: Int
    var text: String
}

/// `generate --dry-run --json`: the memory plan's keys, what the machine allows, and the verdict.
struct DryRunReport: Encodable {
    var plan: MemoryPlan
    @Nullable var available: Int?
    @Nullable var maxMemory: Int?
    var fits: Bool
    var verdict: String

    enum CodingKeys: String, CodingKey {
        case available, fits, verdict
        case maxMemory = "max_memory"
    }

    func encode(to encoder: any Encoder) throws {
        try plan.encode(to: encoder)
        var json = encoder.container(keyedBy: CodingKeys.self)
        try json.encode(_available, forKey: .available)
        try json.encode(_maxMemory, forKey: .maxMemory)
        try json.encode(fits, forKey: .fits)
        try json.encode(verdict, forKey: .verdict)
    }
}

/// `bench --json`. The CPU's bandwidth figures are null when prompt and decode ran on a GPU; the matrix products'
/// rate is null without `--products`.
struct BenchReport: Encodable {
    var model: String
    var scheme: String
    /// The int8/int4 kernels; null for a float32 model.
    @Nullable var kernel: String?
    var threads: Int
    var device: String
    var promptTokens: Int
    var generatedTokens: Int
    var repetitions: Int
    var promptTokensPerSecond: Spread
    var decodeTokensPerSecond: Spread
    var loadMilliseconds: Double
    var peakResidentBytes: Int
    var weightBytesPerToken: Int
    @Nullable var readBandwidth: Double?
    var readBandwidthPasses: [Double]
    var bandwidthProbe: String
    @Nullable var matrixProductsBandwidth: Double?
    var matrixProductsPasses: [Double]
    @Nullable var decodeCeiling: Double?
    @Nullable var decodeShareOfCeiling: Double?
    /// Streamed runs: what a token decompresses, the passes that loaded it alone, their rate, the tok/s that allows.
    @Nullable var decompressedBytesPerToken: Int?
    var decompressionPassesSeconds: [Double]
    @Nullable var decompressionBytesPerSecond: Double?
    @Nullable var decompressionCeiling: Double?
    @Nullable var decodeShareOfDecompressionCeiling: Double?
    var poolDispatchMicroseconds: Double
    var poolSitOuts: Int
    var memoryPlan: MemoryPlan

    enum CodingKeys: String, CodingKey {
        case model, scheme, kernel, threads, device, repetitions
        case promptTokens = "n_prompt"
        case generatedTokens = "n_gen"
        case promptTokensPerSecond = "prompt_tokens_per_second"
        case decodeTokensPerSecond = "decode_tokens_per_second"
        case loadMilliseconds = "load_ms"
        case peakResidentBytes = "peak_rss_bytes"
        case weightBytesPerToken = "weight_bytes_per_token"
        case readBandwidth = "read_bandwidth_bytes_per_second"
        case readBandwidthPasses = "read_bandwidth_passes_bytes_per_second"
        case bandwidthProbe = "bandwidth_probe"
        case matrixProductsBandwidth = "matrix_products_bytes_per_second"
        case matrixProductsPasses = "matrix_products_passes_bytes_per_second"
        case decompressedBytesPerToken = "decompressed_bytes_per_token"
        case decompressionPassesSeconds = "decompression_passes_seconds"
        case decompressionBytesPerSecond = "decompression_bytes_per_second"
        case decompressionCeiling = "decompression_ceiling_tokens_per_second"
        case decodeShareOfDecompressionCeiling = "decode_share_of_decompression_ceiling"
        case decodeCeiling = "decode_ceiling_tokens_per_second"
        case decodeShareOfCeiling = "decode_share_of_ceiling"
        case poolDispatchMicroseconds = "pool_dispatch_microseconds"
        case poolSitOuts = "pool_sit_outs"
        case memoryPlan = "memory_plan"
    }

    /// Mean and sample standard deviation over the repetitions.
    struct Spread: Encodable {
        var mean: Double
        var sd: Double
    }
}

/// `logits`: the tokens, then each position's log-sum-exp, top tokens and (with `--full`) every logit.
struct LogitsReport: Encodable {
    var tokens: [Int]
    var positions: [Position]

    struct Position: Encodable {
        var position: Int
        var logsumexp: Double
        /// The highest logits, best first.
        var top: [RankedLogit]
        var logits: [Double]?
    }

    /// A `[token id, logit]` pair.
    struct RankedLogit: Encodable {
        var token: Int
        var logit: Double

        func encode(to encoder: any Encoder) throws {
            var pair = encoder.unkeyedContainer()
            try pair.encode(token)
            try pair.encode(logit)
        }
    }
}

/// `tokenize`: the ids and each one's text.
struct TokenizeReport: Encodable {
    var ids: [Int]
    var tokens: [String]
}

/// `tokenize --count`: how much text, how many tokens, and how fast.
struct TokenCountReport: Encodable {
    var bytes: Int
    var tokens: Int
    var seconds: Double
    var megabytesPerSecond: Double

    enum CodingKeys: String, CodingKey {
        case bytes, tokens, seconds
        case megabytesPerSecond = "megabytes_per_second"
    }
}

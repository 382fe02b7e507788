import Generation
import Tokenizer

/// A completions request checked against the model and the server: every prompt as token ids, every option in range.
/// Each problem is a 400 that names the field and the numbers.
struct CompletionParameters: Sendable {
    /// One token list per prompt of the request.
    var prompts: [[Int]]
    /// Choices returned per prompt (`n`).
    var choicesPerPrompt: Int
    /// Choices generated per prompt (`best_of`, at least `n`): the `n` with the highest mean log-probability are returned.
    var generatedPerPrompt: Int
    var maxTokens: Int
    var sampling: SamplingOptions
    /// OpenAI's adjustments to the raw logits, before the Hugging Face processors of `sampling`.
    var presencePenalty: Float
    var frequencyPenalty: Float
    var logitBias: [Int: Float]
    var stopStrings: [String]
    /// Top alternatives reported per token; nil: no logprobs.
    var logprobs: Int?
    var echo: Bool
    var stream: Bool
    var includeUsage: Bool
    var ignoreEndOfText: Bool

    /// The limits a request is checked against.
    struct Limits: Sendable {
        var contextLength: Int
        var vocabularySize: Int
        var slotCount: Int
        var endOfText: Int
    }

    init(_ request: CompletionRequest, tokenizer: GPT2Tokenizer, limits: Limits, randomSeed: () -> UInt64) throws {
        func range<T: Comparable>(_ value: T?, _ name: String, _ bounds: ClosedRange<T>) throws {
            if let value, !bounds.contains(value) {
                throw APIError.invalid("\(name) must be between \(bounds.lowerBound) and \(bounds.upperBound), got \(value)", param: name)
            }
        }
        if request.suffix.map({ !$0.isEmpty }) ?? false {
            throw APIError.invalid("suffix is not supported: GPT-2 only continues text (it has no fill-in-the-middle training)", param: "suffix")
        }

        // Prompts: OpenAI treats a missing or empty prompt as the start of a new document, which for GPT-2 is <|endoftext|>.
        func checked(_ tokens: [Int], index: Int) throws -> [Int] {
            if let bad = tokens.first(where: { $0 < 0 || $0 >= limits.vocabularySize }) {
                throw APIError.invalid("prompt \(index): token id \(bad) is outside the vocabulary (0..<\(limits.vocabularySize))", param: "prompt")
            }
            return tokens.isEmpty ? [limits.endOfText] : tokens
        }
        switch request.prompt ?? .text("") {
        case .text(let text): prompts = [try checked(tokenizer.encode(text), index: 0)]
        case .texts(let texts): prompts = try texts.enumerated().map { try checked(tokenizer.encode($1), index: $0) }
        case .tokens(let tokens): prompts = [try checked(tokens, index: 0)]
        case .tokenLists(let lists): prompts = try lists.enumerated().map { try checked($1, index: $0) }
        }
        guard !prompts.isEmpty else { throw APIError.invalid("prompt is an empty list; give at least one prompt", param: "prompt") }

        maxTokens = request.maxTokens ?? 16
        guard maxTokens >= 0 else { throw APIError.invalid("max_tokens must be ≥ 0, got \(maxTokens)", param: "max_tokens") }
        for (index, prompt) in prompts.enumerated() where prompt.count + maxTokens > limits.contextLength {
            let which = prompts.count > 1 ? "prompt \(index) has" : "the prompt has"
            throw APIError.invalid(
                "this model's context holds \(limits.contextLength) tokens, but \(which) \(prompt.count) tokens and max_tokens asks for "
                + "\(maxTokens) more (\(prompt.count + maxTokens) in all); shorten the prompt or lower max_tokens",
                param: prompt.count >= limits.contextLength ? "prompt" : "max_tokens")
        }

        try range(request.temperature, "temperature", 0...2)
        try range(request.topP, "top_p", 0...1)
        if request.topP == 0 { throw APIError.invalid("top_p must be greater than 0 (1 disables it), got 0", param: "top_p") }
        try range(request.presencePenalty, "presence_penalty", -2...2)
        try range(request.frequencyPenalty, "frequency_penalty", -2...2)
        try range(request.logprobs, "logprobs", 0...5)
        try range(request.minP, "min_p", 0...1)
        try range(request.typicalP, "typical_p", 0...1)
        if request.typicalP == 0 { throw APIError.invalid("typical_p must be greater than 0 (1 disables it), got 0", param: "typical_p") }
        if let topK = request.topK, topK < 0 { throw APIError.invalid("top_k must be ≥ 0 (0 disables it), got \(topK)", param: "top_k") }
        if let penalty = request.repetitionPenalty, !(penalty > 0 && penalty.isFinite) {
            throw APIError.invalid("repetition_penalty must be greater than 0 (1 disables it), got \(penalty)", param: "repetition_penalty")
        }
        if let size = request.noRepeatNgramSize, size < 0 {
            throw APIError.invalid("no_repeat_ngram_size must be ≥ 0 (0 disables it), got \(size)", param: "no_repeat_ngram_size")
        }

        choicesPerPrompt = request.n ?? 1
        try range(choicesPerPrompt, "n", 1...128)
        generatedPerPrompt = request.bestOf ?? choicesPerPrompt
        try range(generatedPerPrompt, "best_of", 1...128)
        guard generatedPerPrompt >= choicesPerPrompt else {
            throw APIError.invalid("best_of (\(generatedPerPrompt)) must be at least n (\(choicesPerPrompt))", param: "best_of")
        }
        stream = request.stream ?? false
        if stream && generatedPerPrompt > choicesPerPrompt {
            throw APIError.invalid("best_of cannot be streamed: the best choices are known only at the end", param: "best_of")
        }
        includeUsage = request.streamOptions?.includeUsage ?? false
        if request.streamOptions != nil && !stream {
            throw APIError.invalid("stream_options is only allowed when stream is true", param: "stream_options")
        }

        stopStrings = request.stop?.strings ?? []
        guard stopStrings.count <= 4 else { throw APIError.invalid("stop takes at most 4 strings, got \(stopStrings.count)", param: "stop") }
        if stopStrings.contains(where: \.isEmpty) { throw APIError.invalid("stop strings must not be empty (one would match everywhere)", param: "stop") }

        logitBias = [:]
        for (key, value) in request.logitBias ?? [:] {
            guard let token = Int(key), token >= 0, token < limits.vocabularySize else {
                throw APIError.invalid("logit_bias key '\(key)' is not a token id in 0..<\(limits.vocabularySize)", param: "logit_bias")
            }
            try range(value, "logit_bias[\(key)]", -100...100)
            logitBias[token] = Float(value)
        }

        var sampling = SamplingOptions(temperature: Float(request.temperature ?? 1), topK: request.topK ?? 0, topP: Float(request.topP ?? 1),
                                       repetitionPenalty: Float(request.repetitionPenalty ?? 1),
                                       seed: request.seed.map { UInt64(bitPattern: $0) } ?? randomSeed())
        sampling.minP = Float(request.minP ?? 0)
        sampling.typicalP = Float(request.typicalP ?? 1)
        sampling.noRepeatNGramSize = request.noRepeatNgramSize ?? 0
        self.sampling = sampling
        presencePenalty = Float(request.presencePenalty ?? 0)
        frequencyPenalty = Float(request.frequencyPenalty ?? 0)
        logprobs = request.logprobs
        echo = request.echo ?? false
        ignoreEndOfText = request.ignoreEos ?? false
    }
}

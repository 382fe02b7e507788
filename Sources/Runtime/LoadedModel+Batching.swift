import GPT2

/// Running many short inputs (lines to classify or embed) through the model: each input is checked against the
/// context, and consecutive inputs are grouped into passes of at most `tokensPerPass` real tokens. GPT-2's rows run
/// on their own tokens only (`PaddedBatch`), so a batch costs what its real tokens cost, whatever their lengths.
extension LoadedModel {
    /// Real tokens per batched pass when the caller does not say: on gpt2 a pass of 512 tokens needs about 6 MiB of
    /// activations (512 × 3072 floats for the MLP) and runs at the prompt speed.
    public static let defaultTokensPerPass = 512

    /// `inputs` checked: none empty, none longer than the context unless `truncate` (then cut to the context, keeping
    /// the start, as transformers' `truncation=True` does). `what` names the inputs in messages ("line").
    public func checkedInputs(_ inputs: [[Int]], truncate: Bool, what: String = "input") throws -> [[Int]] {
        try inputs.enumerated().map { index, tokens in
            guard !tokens.isEmpty else { throw TaskInputError(index: index, reason: "the \(what) is empty (no tokens)") }
            guard tokens.count <= config.contextLength else {
                guard truncate else {
                    throw TaskInputError(index: index, reason: "the \(what) has \(tokens.count) tokens but the model's context holds \(config.contextLength)",
                                         truncation: "keep its first \(config.contextLength)")
                }
                return Array(tokens.prefix(config.contextLength))
            }
            return tokens
        }
    }

    /// Index ranges of `inputs` for passes of at most `tokensPerPass` tokens (an input longer than that runs alone).
    public static func passes(over inputs: [[Int]], tokensPerPass: Int) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        var start = 0, tokens = 0
        for (index, input) in inputs.enumerated() {
            if index > start && tokens + input.count > tokensPerPass {
                ranges.append(start..<index)
                start = index
                tokens = 0
            }
            tokens += input.count
        }
        if start < inputs.count { ranges.append(start..<inputs.count) }
        return ranges
    }

    /// One vector per input: the final hidden states pooled (`GPT2Model.embeddings`), inputs grouped into passes of
    /// `tokensPerPass` tokens. Inputs must be `checkedInputs` (non-empty, within the context).
    public func embeddings(of inputs: [[Int]], pooling: EmbeddingPooling = .mean, normalize: Bool = true,
                           tokensPerPass: Int = LoadedModel.defaultTokensPerPass) throws -> [[Float]] {
        var vectors: [[Float]] = []
        vectors.reserveCapacity(inputs.count)
        for range in Self.passes(over: inputs, tokensPerPass: tokensPerPass) {
            let batch = try PaddedBatch(padding: Array(inputs[range]), side: .right, padID: 0)
            vectors += try network.embeddings(batch, pooling: pooling, normalize: normalize)
        }
        return vectors
    }
}

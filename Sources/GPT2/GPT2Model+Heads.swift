import Foundation
import Kernels

/// The GPT-2 models of transformers besides the language model, computed as transformers computes them at inference
/// (transformers 5.24, `models/gpt2/modeling_gpt2.py`): `GPT2Model`'s hidden states, and the sequence-classification,
/// token-classification, question-answering and multiple-choice heads on them. Every function takes a `PaddedBatch`
/// (either side) and runs each row's real tokens at positions `cumsum(mask) - 1`, all rows in one batched pass;
/// results are given at real positions only.
extension GPT2Model {
    /// The final hidden states (after ln_f) of every real position, and with `allLayers` every layer's, as
    /// transformers' `output_hidden_states` returns them.
    public func hiddenStates(_ batch: PaddedBatch, allLayers: Bool = false) throws -> HiddenStates {
        let c = config.embeddingWidth
        let positions = (0..<batch.count).map { batch.realPositions(row: $0) }
        let items = (0..<batch.count).map { BatchItem(tokens: batch.realTokens(row: $0), cache: makeOnePassCache()) }
        var firstRows: [Int] = []
        var layerStates: [FloatBuffer] = []
        let final: FloatBuffer = try withForwardLock {
            let (residual, first, _) = try runBlocks(items, observer: nil, layerInput: allLayers ? { _, stream in
                let copied = FloatBuffer(count: stream.count)
                copy(stream, from: 0, to: copied, at: 0, count: stream.count)
                layerStates.append(copied)
            } : nil)
            firstRows = first
            let rows = residual.count / c
            layerNorm(input: residual, rows: rows, width: c, gain: weights.finalNormGain, bias: weights.finalNormBias,
                      epsilon: config.layerNormEpsilon, output: residual)
            return residual
        }
        func split(_ buffer: FloatBuffer) -> [[Float]] {
            zip(firstRows, items).map { first, item in buffer.array((first * c)..<((first + item.tokens.count) * c)) }
        }
        let finalRows = split(final)
        let layers: [[[Float]]]? = allLayers ? layerStates.map(split) + [finalRows] : nil
        return HiddenStates(width: c, positions: positions, final: finalRows, layers: layers)
    }

    /// `GPT2ForSequenceClassification`'s pooled logits, one row per batch row: `score` at the rightmost real token
    /// whose id is not the config's `pad_token_id` (transformers' rule since PR #35911, which works for left, right
    /// and no padding; before it, transformers took `(ids != pad).sum(-1) - 1`, right padding only, and in mid-2024 the
    /// token before the first pad, which a pad id inside the text breaks). Without a `pad_token_id` the last real token
    /// (transformers refuses batches then). A row whose every token is the pad id pools its first real token
    /// (transformers' argmax of all zeros: position 0, which is padding when the row is left-padded).
    ///
    /// transformers' rule follows `input_ids`, not the mask: a batch padded with some other id than `pad_token_id`
    /// makes it pool a padding position, whose state is not the text's. That is refused here (`BatchError`, naming
    /// the row, the position and the ids) rather than answered with a state no row has.
    public func classifySequences(_ batch: PaddedBatch) throws -> [SequenceClassification] {
        let head = try weights.head(.sequenceClassification, config: config)
        let pad = config.task.padTokenID
        if let pad {
            for row in 0..<batch.count {
                let ids = batch.inputIDs[row]
                guard let pooled = ids.lastIndex(where: { $0 != pad }), batch.attentionMask[row][pooled] == 0 else { continue }
                throw BatchError(row: row, reason: "position \(pooled) is padding (attention_mask 0) but its id \(ids[pooled]) is not the model's "
                                 + "pad_token_id \(pad), so transformers would pool the padding there; pad with \(pad)")
            }
        }
        let states = try hiddenStates(batch)
        let pooled = (0..<batch.count).map { row -> Int in
            let real = states.positions[row]
            guard let pad else { return real.count - 1 }
            return real.lastIndex { batch.inputIDs[row][$0] != pad } ?? 0
        }
        let logits = apply(head, to: (0..<batch.count).map { states.state(row: $0, index: pooled[$0]) })
        return (0..<batch.count).map { row in
            SequenceClassification(logits: logits[row], pooledPosition: states.positions[row][pooled[row]])
        }
    }

    /// `GPT2ForTokenClassification`'s logits (labels per position) at every real position of each row.
    public func classifyTokens(_ batch: PaddedBatch) throws -> [PositionScores] {
        try scoreEveryPosition(batch, head: weights.head(.tokenClassification, config: config))
    }

    /// `GPT2ForQuestionAnswering`'s start and end logits (2 per position) at every real position of each row.
    public func answerSpanLogits(_ batch: PaddedBatch) throws -> [PositionScores] {
        try scoreEveryPosition(batch, head: weights.head(.questionAnswering, config: config))
    }

    /// `GPT2DoubleHeadsModel`'s `mc_logits`: one value per choice. `choices[b]` holds example b's choices as rows;
    /// `tokenIndices[b][k]` (transformers' `mc_token_ids`) is the padded-row index in choice k whose state is scored,
    /// which must be a real token; nil: each choice's last real token (transformers: the last position of the padded
    /// length, the same for unpadded choices). The summary's projection is followed by `summary_activation`.
    public func scoreChoices(_ choices: [PaddedBatch], tokenIndices: [[Int]]? = nil) throws -> [[Float]] {
        let head = try weights.head(.multipleChoice, config: config)
        let summary = config.task.summary
        guard summary.useProjection, summary.projectionToLabels else {
            throw GPT2HeadError("the multiple-choice head needs summary_use_proj and summary_proj_to_labels true (GPT-2's defaults)")
        }
        guard ["cls_index", "last", "first", "mean"].contains(summary.type) else {
            throw GPT2HeadError("summary_type \(summary.type) is not supported (transformers has not implemented attn either)")
        }
        if let tokenIndices, tokenIndices.count != choices.count {
            throw GPT2HeadError("mc_token_ids has \(tokenIndices.count) rows for \(choices.count) examples")
        }
        // Every choice of every example in one pass.
        let rows = choices.flatMap { example in (0..<example.count).map { (example.inputIDs[$0], example.attentionMask[$0]) } }
        let states = try hiddenStates(PaddedBatch(inputIDs: rows.map(\.0), attentionMask: rows.map(\.1)))
        var summaries: [[Float]] = []
        var flat = 0
        for (example, batch) in choices.enumerated() {
            if let indices = tokenIndices?[example], indices.count != batch.count {
                throw GPT2HeadError("mc_token_ids[\(example)] has \(indices.count) entries for \(batch.count) choices")
            }
            for choice in 0..<batch.count {
                let real = states.positions[flat]
                let index: Int
                switch summary.type {
                case "first": index = 0
                case "mean": index = -1
                case "cls_index" where tokenIndices != nil:
                    let wanted = tokenIndices![example][choice]
                    guard let found = real.firstIndex(of: wanted) else {
                        throw GPT2HeadError("mc_token_ids[\(example)][\(choice)] is \(wanted), which is not a real token of that choice "
                                            + "(its real positions are \(real.first ?? 0)...\(real.last ?? 0))")
                    }
                    index = found
                default: index = real.count - 1
                }
                if index >= 0 {
                    summaries.append(Array(states.state(row: flat, index: index)))
                } else {
                    var mean = [Float](repeating: 0, count: states.width)
                    for i in 0..<real.count { for (j, value) in states.state(row: flat, index: i).enumerated() { mean[j] += value } }
                    summaries.append(mean.map { $0 / Float(real.count) })
                }
                flat += 1
            }
        }
        let projected = try apply(head, to: summaries.map { $0[...] }).map { try Self.summaryActivation(summary.activation, $0[0]) }
        var result: [[Float]] = []
        var next = 0
        for batch in choices {
            result.append(Array(projected[next..<(next + batch.count)]))
            next += batch.count
        }
        return result
    }

    /// Text embeddings: the final hidden states pooled over each row's real tokens (`.mean`, sentence-transformers'
    /// mask-weighted mean) or taken at its last real token (`.last`), optionally scaled to unit length.
    public func embeddings(_ batch: PaddedBatch, pooling: EmbeddingPooling = .mean, normalize: Bool = true) throws -> [[Float]] {
        let states = try hiddenStates(batch)
        return (0..<batch.count).map { row in
            let count = states.positions[row].count
            var vector: [Float]
            switch pooling {
            case .last:
                vector = Array(states.state(row: row, index: count - 1))
            case .mean:
                var sum = [Double](repeating: 0, count: states.width)
                for i in 0..<count { for (j, value) in states.state(row: row, index: i).enumerated() { sum[j] += Double(value) } }
                vector = sum.map { Float($0 / Double(count)) }
            }
            if normalize {
                let norm = vector.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
                if norm > 0 { vector = vector.map { Float(Double($0) / norm) } }   // as torch.nn.functional.normalize (eps 1e-12)
            }
            return vector
        }
    }

    // MARK: - Pieces

    /// `head` on every real position of each row.
    private func scoreEveryPosition(_ batch: PaddedBatch, head: GPT2Head) throws -> [PositionScores] {
        let states = try hiddenStates(batch)
        let c = states.width, width = head.rows
        let total = states.positions.reduce(0) { $0 + $1.count }
        let input = FloatBuffer(states.final.flatMap { $0 })
        let output = FloatBuffer(count: total * width)
        head.weight.apply(input: input, rows: total, bias: head.bias, output: output, pool: pool)
        precondition(input.count == total * c)
        var scores: [PositionScores] = []
        var first = 0
        for positions in states.positions {
            scores.append(PositionScores(positions: positions, width: width,
                                         values: output.array((first * width)..<((first + positions.count) * width))))
            first += positions.count
        }
        return scores
    }

    /// `head` on each of `states` (one n_embd vector each), one row of outputs per state.
    private func apply(_ head: GPT2Head, to states: [ArraySlice<Float>]) -> [[Float]] {
        let input = FloatBuffer(states.flatMap { $0 })
        let output = FloatBuffer(count: states.count * head.rows)
        head.weight.apply(input: input, rows: states.count, bias: head.bias, output: output, pool: pool)
        return (0..<states.count).map { output.array(($0 * head.rows)..<(($0 + 1) * head.rows)) }
    }

    /// transformers' `get_activation` for the summary's activations that a GPT-2 config uses.
    static func summaryActivation(_ name: String?, _ x: Float) throws -> Float {
        switch name {
        case nil, "linear": return x
        case "tanh": return tanh(x)
        case "relu": return max(0, x)
        case "gelu": return 0.5 * x * (1 + erf(x / Float(2).squareRoot()))
        case "gelu_new": return 0.5 * x * (1 + tanh(Float(0.7978845608028654) * (x + 0.044715 * x * x * x)))
        case let other?: throw GPT2HeadError("summary_activation \(other) is not supported (supported: tanh, relu, gelu, gelu_new, linear)")
        }
    }
}

/// One row's sequence classification.
public struct SequenceClassification: Sendable, Equatable {
    /// One logit per label.
    public let logits: [Float]
    /// The padded-row index of the token that was pooled.
    public let pooledPosition: Int
}

/// A head's outputs at every real position of one row.
public struct PositionScores: Sendable, Equatable {
    /// The padded-row index of each real position.
    public let positions: [Int]
    /// Outputs per position (labels; 2 for question answering: start, end).
    public let width: Int
    /// `positions.count × width`.
    public let values: [Float]

    /// The outputs at the `index`-th real position.
    public func scores(at index: Int) -> ArraySlice<Float> { values[(index * width)..<((index + 1) * width)] }
    /// Output `column` at every real position (question answering: 0 start, 1 end).
    public func column(_ column: Int) -> [Float] { stride(from: column, to: values.count, by: width).map { values[$0] } }
}

/// How `embeddings` turns a row's hidden states into one vector.
public enum EmbeddingPooling: String, Sendable, CaseIterable {
    /// The mean over the real tokens (sentence-transformers' mean pooling).
    case mean
    /// The last real token's state (what a causal model has read the whole text by).
    case last
}

/// A batch of token sequences as transformers takes it: `input_ids` and an `attention_mask` of the same length per
/// row, padded on the right, on the left, or not at all.
///
/// GPT-2's positions are absolute, so a row runs on its real tokens only (mask 1), at positions `cumsum(mask) - 1`,
/// exactly as transformers' `generate` prepares left-padded rows: every row gives what it gives alone, whichever
/// side it was padded on.
///
/// ```swift
/// let batch = PaddedBatch(padding: [[464, 3290], [40]], side: .left, padID: 50256)
/// batch.inputIDs        // [[464, 3290], [50256, 40]]
/// batch.attentionMask   // [[1, 1], [0, 1]]
/// ```
public struct PaddedBatch: Sendable, Equatable {
    public let inputIDs: [[Int]]
    public let attentionMask: [[Int]]

    public enum PaddingSide: String, Sendable, CaseIterable { case left, right }

    /// A batch given as ids and mask; throws `BatchError` naming the row when the two disagree in shape, the mask
    /// holds anything but 0 and 1, or a row has no real token.
    public init(inputIDs: [[Int]], attentionMask: [[Int]]) throws {
        guard !inputIDs.isEmpty else { throw GPT2Model.BatchError(row: 0, reason: "the batch has no rows") }
        guard inputIDs.count == attentionMask.count else {
            throw GPT2Model.BatchError(row: min(inputIDs.count, attentionMask.count),
                                       reason: "\(inputIDs.count) rows of tokens but \(attentionMask.count) rows of mask")
        }
        for (row, (ids, mask)) in zip(inputIDs, attentionMask).enumerated() {
            guard ids.count == mask.count else { throw GPT2Model.BatchError(row: row, reason: "\(ids.count) tokens but \(mask.count) mask entries") }
            if let bad = mask.first(where: { $0 != 0 && $0 != 1 }) {
                throw GPT2Model.BatchError(row: row, reason: "attention_mask values must be 0 or 1, got \(bad)")
            }
            guard mask.contains(1) else { throw GPT2Model.BatchError(row: row, reason: "no real tokens (mask is all 0)") }
        }
        self.inputIDs = inputIDs
        self.attentionMask = attentionMask
    }

    /// `sequences` padded with `padID` to the longest one, on `side`. Every sequence needs at least one token.
    public init(padding sequences: [[Int]], side: PaddingSide = .right, padID: Int) throws {
        let length = sequences.map(\.count).max() ?? 0
        var ids: [[Int]] = [], mask: [[Int]] = []
        for sequence in sequences {
            let padding = length - sequence.count
            switch side {
            case .right:
                ids.append(sequence + Array(repeating: padID, count: padding))
                mask.append(Array(repeating: 1, count: sequence.count) + Array(repeating: 0, count: padding))
            case .left:
                ids.append(Array(repeating: padID, count: padding) + sequence)
                mask.append(Array(repeating: 0, count: padding) + Array(repeating: 1, count: sequence.count))
            }
        }
        try self.init(inputIDs: ids, attentionMask: mask)
    }

    /// Rows in the batch.
    public var count: Int { inputIDs.count }

    /// The padded-row indices of row `row`'s real tokens (mask 1), in order.
    public func realPositions(row: Int) -> [Int] { attentionMask[row].indices.filter { attentionMask[row][$0] == 1 } }

    /// Row `row`'s real tokens, in order: what the model runs.
    public func realTokens(row: Int) -> [Int] { realPositions(row: row).map { inputIDs[row][$0] } }

    /// Real tokens in the whole batch.
    public var realTokenCount: Int { attentionMask.reduce(0) { $0 + $1.reduce(0, +) } }
}

/// The hidden states of a padded batch at its real positions (transformers' `last_hidden_state` and, on request,
/// `hidden_states`), row by row.
public struct HiddenStates: Sendable {
    /// Values per position (n_embd).
    public let width: Int
    /// Per row, the padded-row index of each real position, in order.
    public let positions: [[Int]]
    /// Per row, `positions.count × width` floats: the final hidden states, after ln_f.
    public let final: [[Float]]
    /// With `allLayers`, n_layer + 1 entries as transformers' `hidden_states`: the embeddings (wte + wpe), the input of
    /// each later block, and the last block's output after ln_f (equal to `final`); each per row like `final`.
    public let layers: [[[Float]]]?

    /// Row `row`'s final hidden state at its `index`-th real position.
    public func state(row: Int, index: Int) -> ArraySlice<Float> { final[row][(index * width)..<((index + 1) * width)] }
}

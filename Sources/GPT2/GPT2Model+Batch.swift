extension GPT2Model {
    /// Why a padded batch was refused.
    public struct BatchError: Error, CustomStringConvertible, Equatable {
        public let row: Int
        public let reason: String
        public var description: String { "batch row \(row): \(reason)" }
    }

    /// Logits of every real position of a padded batch (left, right or no padding), one array per row
    /// (`real length × vocab`).
    ///
    /// Each row's real tokens (mask 1) run on their own cache at positions `cumsum(mask) - 1`, so a row's result is
    /// exactly what it would be alone: what transformers gives for right padding under its causal mask, and for left
    /// padding when given `position_ids` from the mask, as its `generate` does. All rows go through one batched pass.
    public func forward(paddedBatch: [[Int]], attentionMask: [[Int]]) throws -> [[Float]] {
        try forward(PaddedBatch(inputIDs: paddedBatch, attentionMask: attentionMask))
    }

    /// `forward(paddedBatch:attentionMask:)` for a `PaddedBatch`.
    public func forward(_ batch: PaddedBatch) throws -> [[Float]] {
        let items = (0..<batch.count).map { BatchItem(tokens: batch.realTokens(row: $0), cache: makeOnePassCache()) }
        return try forward(batch: items, logits: .allPositions)
    }
}

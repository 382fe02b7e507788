extension GPT2Model {
    /// Why a padded batch was refused.
    public struct BatchError: Error, CustomStringConvertible, Equatable {
        public let row: Int
        public let reason: String
        public var description: String { "batch row \(row): \(reason)" }
    }

    /// Logits of every real position of a right-padded batch, one array per row (`length × vocab`).
    ///
    /// Each row's real tokens (mask 1, which must come first) run on their own cache, so a row's result is
    /// exactly what it would be alone, which is what transformers gives for right padding under a causal mask.
    /// All rows go through one batched pass.
    public func forward(paddedBatch: [[Int]], attentionMask: [[Int]]) throws -> [[Float]] {
        guard paddedBatch.count == attentionMask.count else {
            throw BatchError(row: min(paddedBatch.count, attentionMask.count), reason: "\(paddedBatch.count) rows of tokens but \(attentionMask.count) rows of mask")
        }
        let items = try zip(paddedBatch, attentionMask).enumerated().map { row, pair in
            let (tokens, mask) = pair
            guard tokens.count == mask.count else { throw BatchError(row: row, reason: "\(tokens.count) tokens but \(mask.count) mask entries") }
            let length = mask.firstIndex(of: 0) ?? mask.count
            guard length > 0 else { throw BatchError(row: row, reason: "no real tokens (mask is all 0)") }
            guard mask[length...].allSatisfy({ $0 == 0 }), mask[..<length].allSatisfy({ $0 == 1 }) else {
                throw BatchError(row: row, reason: "mask \(mask) is not right padding (1s then 0s); left padding is not supported")
            }
            return BatchItem(tokens: Array(tokens[..<length]), cache: KVCache(config: config))
        }
        return try forward(batch: items, logits: .allPositions)
    }
}

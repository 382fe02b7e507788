/// One sequence's forward passes: on the GPU when the model has one attached (`LoadedModel.accelerator`), else
/// through a CPU KV cache in the model's cache precision.
///
/// ```swift
/// var sequence = ModelSequence(model: model)
/// var logits = try sequence.forward(promptIDs)
/// logits = try sequence.forward([nextID])
/// ```
public struct ModelSequence {
    public let model: LoadedModel
    private var cache: KVCache
    /// Positions processed so far.
    public private(set) var positions = 0

    /// An empty sequence (the GPU's KV cache, when there is one, is emptied too).
    public init(model: LoadedModel) {
        self.model = model
        cache = model.network.makeCache()
        model.accelerator?.reset()
    }

    /// Runs `tokens` after the sequence so far; returns the last position's logits.
    public mutating func forward(_ tokens: [Int]) throws -> [Float] {
        let logits = try model.accelerator.map { try $0.forward(tokens: tokens) } ?? model.network.forward(tokens: tokens, cache: cache)
        positions += tokens.count
        return logits
    }

    /// Starts again from position 0.
    public mutating func restart() { self = ModelSequence(model: model) }
}

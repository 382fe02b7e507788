import GPT2
import Generation

/// One sequence's state, owned by one request: a CPU KV cache in the model's cache precision, or the GPU's device
/// cache when the model has a GPU (`LoadedModel.accelerator`) and no other sequence holds it.
///
/// ```swift
/// let sequence = try model.makeSequence()
/// var logits = try model.forward(sequence, promptIDs)
/// logits = try model.forward(sequence, [nextID])
/// ```
public final class ModelSequence: LanguageModelSequence {
    enum Place {
        case cpu(KVCache)
        /// Holds the GPU's one device cache until this sequence is released.
        case gpu(CUDAModel)
    }

    let place: Place
    /// Positions processed so far.
    public internal(set) var positions = 0

    init(place: Place) { self.place = place }

    deinit { if case .gpu(let gpu) = place { gpu.endSequence() } }

    /// The CPU KV cache, when the sequence runs on the CPU.
    public var cache: KVCache? {
        if case .cpu(let cache) = place { return cache }
        return nil
    }

    /// Forgets every position after the first `length`, so that the sequence continues from there (a server reusing
    /// the prefix a new prompt shares with the last one; GPT-2's absolute positions allow a prefix, not a shift).
    public func truncate(to length: Int) throws {
        guard length >= 0 && length <= positions else {
            throw SequenceError.outOfRange("cannot keep \(length) positions of a sequence that holds \(positions)")
        }
        guard let cache else { throw CUDAModel.Unavailable.unsupported("a GPU sequence cannot be truncated") }
        cache.truncate(to: length)
        positions = length
    }

    /// A sequence asked for positions it does not hold.
    public enum SequenceError: Error, CustomStringConvertible {
        case outOfRange(String)
        public var description: String { switch self { case .outOfRange(let message): return message } }
    }

    /// An independent sequence holding the same positions (CPU sequences only: the GPU has one device cache).
    public func fork() throws -> ModelSequence {
        guard let cache else { throw CUDAModel.Unavailable.unsupported("a GPU sequence cannot be forked (beam search runs on the CPU)") }
        let copy = ModelSequence(place: .cpu(cache.copy()))
        copy.positions = positions
        return copy
    }
}

extension LoadedModel: LanguageModel {
    public var contextLength: Int { config.contextLength }
    public var vocabularySize: Int { config.vocabularySize }
    public var endOfTextToken: Int? { config.endOfTextToken }

    /// An empty sequence: on the GPU for `.single` when the model has one and no other sequence holds it, else on
    /// the CPU.
    public func makeSequence(_ use: SequenceUse) throws -> ModelSequence {
        if use == .single, let accelerator, accelerator.beginSequence() { return ModelSequence(place: .gpu(accelerator)) }
        return ModelSequence(place: .cpu(network.makeCache()))
    }

    /// One sequence's part of a batched step: its new tokens, and whether every one of them gets logits (scoring a
    /// prompt) or only the last.
    public struct Step {
        public var sequence: ModelSequence
        public var tokens: [Int]
        public var allPositions: Bool
        public init(sequence: ModelSequence, tokens: [Int], allPositions: Bool = false) {
            self.sequence = sequence
            self.tokens = tokens
            self.allPositions = allPositions
        }
    }

    /// Runs every step in one batched pass on the CPU (CPU sequences only); each result holds the logits of the step's
    /// last position, or of all its positions, row after row, when `allPositions`.
    public func forward(steps: [Step]) throws -> [[Float]] {
        let items = try steps.map { step -> GPT2Model.BatchItem in
            guard let cache = step.sequence.cache else {
                throw CUDAModel.Unavailable.unsupported("a GPU sequence runs alone, not in a batch with others")
            }
            return GPT2Model.BatchItem(tokens: step.tokens, cache: cache, logits: step.allPositions ? .allPositions : .lastPosition)
        }
        let logits = try network.forward(batch: items)
        for step in steps { step.sequence.positions += step.tokens.count }
        return logits
    }

    /// Runs every step in one batched pass on the CPU, or a single GPU sequence's step on the GPU.
    public func forward(_ steps: [(sequence: ModelSequence, tokens: [Int])]) throws -> [[Float]] {
        if steps.count == 1, case .gpu(let gpu) = steps[0].sequence.place {
            let logits = try gpu.forward(tokens: steps[0].tokens)
            steps[0].sequence.positions += steps[0].tokens.count
            return [logits]
        }
        return try forward(steps: steps.map { Step(sequence: $0.sequence, tokens: $0.tokens) })
    }
}

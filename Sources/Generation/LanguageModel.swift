import Tokenizer

/// What the decode loop needs from a model: logits for new tokens on a sequence that one request owns.
///
/// The model is shared by every caller and does not change; each sequence (its KV cache and position) belongs
/// to one request. `TextGenerator` is written against this protocol alone, so it runs on any backend, and
/// tests can drive it with a small fake.
///
/// ```swift
/// var sequence = try model.makeSequence()
/// var logits = try model.forward([(sequence, promptIDs)])[0]
/// logits = try model.forward([(sequence, [nextID])])[0]
/// ```
public protocol LanguageModel: Sendable {
    /// One sequence's state: the positions processed so far and what the model keeps of them.
    associatedtype Sequence: LanguageModelSequence

    /// The model's tokenizer (text in, token bytes out).
    var tokenizer: GPT2Tokenizer { get }
    /// Positions a sequence can hold (n_positions, or less when the caller limited it).
    var contextLength: Int { get }
    /// Logits per position.
    var vocabularySize: Int { get }
    /// The end-of-text token the model's files name (eos_token_id), if any; else the tokenizer's `<|endoftext|>`.
    var endOfTextToken: Int? { get }

    /// An empty sequence. `.batched` asks for one that `forward` may run beside others and that can be forked
    /// (beam search); `.single` lets the model pick its fastest place for one sequence (a GPU, say).
    func makeSequence(_ use: SequenceUse) throws -> Sequence

    /// Runs each sequence's new tokens after its positions so far, all of them in one batched pass (each weight
    /// is read once per step, not once per sequence), and returns each sequence's last-position logits.
    func forward(_ steps: [(sequence: Sequence, tokens: [Int])]) throws -> [[Float]]
}

/// What a sequence is for, when it is made (see `LanguageModel.makeSequence`).
public enum SequenceUse: Sendable { case single, batched }

/// A sequence's state, owned by one request (not shared between threads).
public protocol LanguageModelSequence: AnyObject {
    /// Positions processed so far.
    var positions: Int { get }
    /// An independent sequence holding the same positions (a beam that continues in two directions).
    func fork() throws -> Self
}

extension LanguageModel {
    /// An empty sequence for one request.
    public func makeSequence() throws -> Sequence { try makeSequence(.single) }

    /// Runs `tokens` after `sequence`'s positions; returns the last position's logits.
    public func forward(_ sequence: Sequence, _ tokens: [Int]) throws -> [Float] {
        try forward([(sequence, tokens)])[0]
    }
}

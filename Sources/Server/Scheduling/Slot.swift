import Runtime

/// One of the server's `--parallel` sequences: a KV cache that a running choice owns while it generates, and that
/// keeps what it holds afterwards, so the next prompt that starts the same way skips that prefix.
final class Slot {
    let id: Int
    /// Made on first use; replaced when a request with `n > 1` forks its prompt into this slot.
    var sequence: ModelSequence?
    /// The tokens the cache holds, in order (position i holds tokens[i]).
    var tokens: [Int] = []
    var isBusy = false
    /// When it was last released, in scheduler steps (the least recently used free slot is overwritten first).
    var releasedAtStep = 0

    init(id: Int) { self.id = id }

    /// How many leading tokens of `prompt` this slot's cache already holds.
    func sharedPrefix(with prompt: [Int]) -> Int {
        var count = 0
        while count < tokens.count && count < prompt.count && tokens[count] == prompt[count] { count += 1 }
        return count
    }
}

/// What `GET /slots` shows of a slot.
public struct SlotStatus: Codable, Sendable, Equatable {
    public enum State: String, Codable, Sendable { case idle, prefill, decode }
    public var id: Int
    public var state: State
    /// The request the slot works for, while busy.
    public var requestID: String?
    public var promptTokens: Int?
    /// Prompt tokens taken from the slot's cache instead of being computed (prefix reuse).
    public var cachedPromptTokens: Int?
    public var generatedTokens: Int?
    /// Positions the slot's KV cache holds now (kept after a request, for the next one's prefix).
    public var cacheTokens: Int
    /// Positions a slot can hold (`--ctx-size`).
    public var contextLength: Int

    enum CodingKeys: String, CodingKey {
        case id, state
        case requestID = "request_id"
        case promptTokens = "prompt_tokens"
        case cachedPromptTokens = "cached_prompt_tokens"
        case generatedTokens = "generated_tokens"
        case cacheTokens = "cache_tokens"
        case contextLength = "n_ctx"
    }
}

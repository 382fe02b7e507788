/// A text's embedding: the final hidden states pooled into one vector (`GPT2Model.embeddings`).
///
/// ```swift
/// let vectors = try model.embed(["And Jesus wept.", "God is love."])
/// vectors[0].embedding.count   // n_embd
/// ```
public struct TextEmbedding: Sendable, Equatable, Codable {
    /// The text's position among those given.
    public var index: Int
    /// n_embd values; unit length unless asked not to normalize.
    public var embedding: [Float]
    /// Tokens pooled (after truncation).
    public var tokens: Int
    /// Whether the text was cut to the context.
    public var truncated: Bool

    public init(index: Int, embedding: [Float], tokens: Int, truncated: Bool) {
        (self.index, self.embedding, self.tokens, self.truncated) = (index, embedding, tokens, truncated)
    }
}

/// A span of a context that answers a question, as transformers' question-answering pipeline returns it
/// (transformers 4.x; version 5 removed the pipeline and kept the model): the text, its probability, and where it is.
///
/// ```swift
/// let answer = try model.answer(question: "Where did Peter go?", context: "Peter went to Jerusalem and Galilee.")
/// answer.answer   // " went" (the kjv-qa fixture's answer: its head is random)
/// answer.start    // 5: character offsets into the context
/// ```
public struct Answer: Sendable, Equatable, Codable {
    /// The context's characters from `start` to `end`.
    public var answer: String
    /// p(start) · p(end), each a softmax over the context's tokens (summed over spans that give the same text).
    public var score: Double
    /// Character offsets into the context (Unicode scalars, as Python `str` indices). With word alignment they are
    /// the whole words around the span's first and last tokens, leading space included.
    public var start: Int
    public var end: Int
    /// The span's first and last token, as positions in the model's input (the question's tokens come first).
    public var startToken: Int
    public var endToken: Int
    /// Whether the context was cut to fit the model's context after the question.
    public var truncated: Bool

    enum CodingKeys: String, CodingKey {
        case answer, score, start, end, truncated
        case startToken = "start_token"
        case endToken = "end_token"
    }

    public init(answer: String, score: Double, start: Int, end: Int, startToken: Int, endToken: Int, truncated: Bool = false) {
        (self.answer, self.score, self.start, self.end) = (answer, score, start, end)
        (self.startToken, self.endToken, self.truncated) = (startToken, endToken, truncated)
    }
}

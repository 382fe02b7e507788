/// One choice of a multiple-choice question, scored by `GPT2DoubleHeadsModel`'s multiple-choice head.
///
/// ```swift
/// let scores = try model.chooseAmong(context: "And", choices: [" Jesus wept", " God said"])   // the kjv-double fixture
/// scores.first(where: \.best)?.choice   // " God said"
/// scores.map(\.probability)             // [0.133, 0.867]
/// ```
public struct ChoiceScore: Sendable, Equatable, Codable {
    /// The choice's position among those given.
    public var index: Int
    /// The choice's text.
    public var choice: String
    /// `mc_logits`: the head's value at the choice's last token.
    public var logit: Float
    /// Softmax of the logits over the choices.
    public var probability: Double
    /// Whether this is the most probable choice (the first of equals).
    public var best: Bool
    /// Tokens of context and choice the model read.
    public var tokens: Int

    public init(index: Int, choice: String, logit: Float, probability: Double, best: Bool, tokens: Int) {
        (self.index, self.choice, self.logit, self.probability, self.best, self.tokens) = (index, choice, logit, probability, best, tokens)
    }
}

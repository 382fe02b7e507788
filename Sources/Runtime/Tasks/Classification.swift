import Foundation
import GPT2

/// One text's sequence classification: every label with its score, best first, and the pooled logits, as
/// transformers' text-classification pipeline reports them with `top_k=None`.
///
/// ```swift
/// let result = try model.classify(["And Jesus answered and said unto them"])[0]   // the kjv-genre verse classifier
/// result.label     // "Gospels and Acts"
/// result.score     // 0.991
/// result.scores    // every label, best first
/// ```
public struct Classification: Sendable, Equatable, Codable {
    /// The best label (`scores[0]`).
    public var label: String
    /// Its score.
    public var score: Double
    /// Every label, best first (equal scores in label order, as the pipeline's stable sort leaves them).
    public var scores: [LabelScore]
    /// The pooled logits, in label order.
    public var logits: [Float]
    /// How the logits became scores.
    public var scoring: ClassificationScoring
    /// Tokens the model read (after truncation).
    public var tokens: Int
    /// Whether the text was cut to the context.
    public var truncated: Bool

    /// A label and its score.
    public struct LabelScore: Sendable, Equatable, Codable {
        public var label: String
        public var score: Double
        /// The label's id (its row in the head, its key in `id2label`).
        public var id: Int

        public init(label: String, score: Double, id: Int) {
            self.label = label
            self.score = score
            self.id = id
        }
    }

    enum CodingKeys: String, CodingKey {
        case label, score, scores, logits, tokens, truncated
        case scoring = "function_to_apply"
    }

    /// The classification of `logits` with `labels` (the config's names), scored by `scoring`.
    public init(logits: [Float], labels: (Int) -> String, scoring: ClassificationScoring, tokens: Int, truncated: Bool) {
        let values = scoring.scores(logits)
        let ranked = values.indices.sorted { values[$0] > values[$1] || (values[$0] == values[$1] && $0 < $1) }
        scores = ranked.map { LabelScore(label: labels($0), score: values[$0], id: $0) }
        label = scores[0].label
        score = scores[0].score
        self.logits = logits
        self.scoring = scoring
        self.tokens = tokens
        self.truncated = truncated
    }

    /// The same classification with only the `count` best labels in `scores` (the pipeline's `top_k`).
    public func keepingTop(_ count: Int) -> Classification {
        var copy = self
        copy.scores = Array(scores.prefix(max(1, count)))
        return copy
    }
}

/// How a classifier's logits become scores: transformers' `function_to_apply` of the text-classification pipeline.
public enum ClassificationScoring: String, Sendable, Equatable, Codable, CaseIterable {
    /// exp(x) / Σ exp: one label is true (single-label classification, more than one label).
    case softmax
    /// 1 / (1 + exp(-x)) per label: labels are independent (multi-label classification, or a single label).
    case sigmoid
    /// The logits themselves (regression).
    case none

    /// The pipeline's default for a head of `labelCount` labels: none for `problem_type` regression; sigmoid for
    /// multi-label classification or one label; softmax for single-label classification or more than one label.
    /// (The order is the pipeline's: a single-label problem with one label gets the sigmoid.)
    public static func `default`(for task: GPT2TaskConfig, labelCount: Int) -> ClassificationScoring {
        if task.problemType == .regression { return .none }
        if task.problemType == .multiLabel || labelCount == 1 { return .sigmoid }
        return .softmax
    }

    /// The scores of `logits` (computed in double precision; transformers computes in float32, within 1e-7).
    public func scores(_ logits: [Float]) -> [Double] {
        let values = logits.map(Double.init)
        switch self {
        case .none: return values
        case .sigmoid: return values.map { 1 / (1 + exp(-$0)) }
        case .softmax:
            let largest = values.max() ?? 0
            let exps = values.map { exp($0 - largest) }
            let sum = exps.reduce(0, +)
            return exps.map { $0 / sum }
        }
    }
}

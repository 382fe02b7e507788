import Kernels

/// The task heads a GPT-2 checkpoint can carry besides the language-model head, as transformers names them. Each is
/// an `nn.Linear` on the final hidden states (after ln_f), stored [out, in] like the kernels want, always float32:
/// a 3-label head on gpt2-xl is 4,800 weights (19 KB), under 0.001% of the model, and it is the last step before
/// the decision, so quantizing it would save nothing and cost accuracy.
public enum GPT2HeadKind: String, Sendable, CaseIterable {
    /// `GPT2ForSequenceClassification`: `score`, no bias; one row per label, pooled at one position.
    case sequenceClassification = "GPT2ForSequenceClassification"
    /// `GPT2ForTokenClassification`: `classifier`, with bias; one row per label, every position.
    case tokenClassification = "GPT2ForTokenClassification"
    /// `GPT2ForQuestionAnswering`: `qa_outputs`, with bias; two rows (start and end logits), every position.
    case questionAnswering = "GPT2ForQuestionAnswering"
    /// `GPT2DoubleHeadsModel`'s `multiple_choice_head.summary`, with bias; one row, at each choice's `mc_token_ids`.
    case multipleChoice = "GPT2DoubleHeadsModel"

    /// The weight's tensor name (canonical: without `transformer.`).
    public var weightName: String {
        switch self {
        case .sequenceClassification: return "score.weight"
        case .tokenClassification: return "classifier.weight"
        case .questionAnswering: return "qa_outputs.weight"
        case .multipleChoice: return "multiple_choice_head.summary.weight"
        }
    }

    /// The bias's tensor name, for the heads that have one.
    public var biasName: String? {
        switch self {
        case .sequenceClassification: return nil
        case .tokenClassification: return "classifier.bias"
        case .questionAnswering: return "qa_outputs.bias"
        case .multipleChoice: return "multiple_choice_head.summary.bias"
        }
    }

    /// Every tensor name of the head.
    public var tensorNames: [String] { [weightName] + (biasName.map { [$0] } ?? []) }

    /// "sequence-classification head" and the like, for messages.
    public var displayName: String {
        switch self {
        case .sequenceClassification: return "sequence-classification head (score)"
        case .tokenClassification: return "token-classification head (classifier)"
        case .questionAnswering: return "question-answering head (qa_outputs)"
        case .multipleChoice: return "multiple-choice head (multiple_choice_head)"
        }
    }

    /// The head whose tensor this is, if any.
    public static func owning(tensor name: String) -> GPT2HeadKind? { allCases.first { $0.tensorNames.contains(name) } }

    /// The rows a head must have for `config`, when fixed (question answering: 2; multiple choice: 1), else nil.
    public func requiredRows(for config: GPT2Config) -> Int? {
        switch self {
        case .questionAnswering: return 2
        case .multipleChoice: return 1
        case .sequenceClassification, .tokenClassification: return config.task.labels?.count
        }
    }
}

/// One head's weights: `rows` outputs from the `embeddingWidth` final hidden state.
public struct GPT2Head: Sendable {
    public var kind: GPT2HeadKind
    /// [rows, C], float32.
    public var weight: WeightMatrix
    public var bias: FloatBuffer?
    /// Outputs per position: labels, 2 for question answering, 1 for multiple choice.
    public var rows: Int { weight.outFeatures }

    public init(kind: GPT2HeadKind, weight: WeightMatrix, bias: FloatBuffer?) {
        self.kind = kind
        self.weight = weight
        self.bias = bias
    }
}

/// A head the model does not have, or one whose config it cannot honour.
public struct GPT2HeadError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }

    /// "this model has no question-answering head; its architectures are GPT2LMHeadModel".
    public static func missing(_ kind: GPT2HeadKind, config: GPT2Config) -> GPT2HeadError {
        GPT2HeadError("this model has no \(kind.displayName); its architectures are \(config.task.architecturesDescription) "
                      + "(a checkpoint saved from transformers' \(kind.rawValue) carries one)")
    }

    /// The language-model head is missing (a classifier, or a bare GPT2Model).
    public static func noLanguageModelHead(config: GPT2Config) -> GPT2HeadError {
        GPT2HeadError("this model has no language-model head; its architectures are \(config.task.architecturesDescription), "
                      + "so it cannot predict tokens (generate, logits, serve and eval need GPT2LMHeadModel or GPT2DoubleHeadsModel)")
    }
}

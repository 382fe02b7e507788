import Foundation
import GPT2
import Runtime

/// Accuracy of a sequence classifier on labelled texts, and with a reference model (usually the float32 folder it was
/// converted from) how often the two agree and how far their pooled logits are apart: what `gpt2-quant eval --labels`
/// reports, to measure what quantization did to a classifier.
///
/// ```swift
/// let report = try ClassifierEvaluator(model: int8, reference: float32).evaluate([("And Jesus wept.", "Gospels and Acts")])
/// report.accuracy   // 1.0
/// ```
public struct ClassifierEvaluator {
    public let model: LoadedModel
    public let reference: LoadedModel?

    public init(model: LoadedModel, reference: LoadedModel? = nil) {
        self.model = model
        self.reference = reference
    }

    public struct Report: Codable, Sendable {
        public struct ClassCount: Codable, Sendable {
            public var label: String
            public var examples: Int
            public var correct: Int
        }
        public var examples: Int
        public var correct: Int
        public var accuracy: Double
        public var perClass: [ClassCount]
        /// The reference's accuracy on the same examples, with a reference.
        public var referenceAccuracy: Double?
        /// Examples where both models predict the same label.
        public var agreement: Double?
        /// The largest difference between the two models' pooled logits.
        public var maxLogitDifference: Float?
        /// Texts cut to the context (with `truncate`).
        public var truncated: Int

        enum CodingKeys: String, CodingKey {
            case examples, correct, accuracy, agreement, truncated
            case perClass = "per_class"
            case referenceAccuracy = "reference_accuracy"
            case maxLogitDifference = "max_logit_difference"
        }
    }

    /// Why labelled data cannot be evaluated.
    public struct DataError: Error, CustomStringConvertible, Equatable {
        public let description: String
    }

    /// Classifies every text (in passes of `tokensPerPass` tokens) and counts the predictions equal to its label
    /// (a name of the model's `id2label`). `progress(done, total)` after each pass.
    public func evaluate(_ examples: [(text: String, label: String)], truncate: Bool = false,
                         tokensPerPass: Int = LoadedModel.defaultTokensPerPass,
                         progress: (Int, Int) -> Void = { _, _ in }) throws -> Report {
        guard !examples.isEmpty else { throw DataError(description: "no labelled examples") }
        let head = try model.network.weights.head(.sequenceClassification, config: model.config)
        let labels = (0..<head.rows).map { model.config.task.label($0) }
        let labelIndex = Dictionary(labels.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        let wanted = try examples.enumerated().map { index, example -> Int in
            guard let label = labelIndex[example.label] else {
                throw DataError(description: "example \(index + 1): label \"\(example.label)\" is not one of the model's labels (\(labels.joined(separator: ", ")))")
            }
            return label
        }
        let encoded = examples.map { model.tokenizer.encode($0.text) }
        let inputs = try model.checkedInputs(encoded, truncate: truncate, what: "text")
        let truncated = zip(encoded, inputs).filter { $0.count != $1.count }.count
        let predicted = try logits(of: model, inputs, tokensPerPass: tokensPerPass, progress: progress)
        let referenceLogits = try reference.map { try logits(of: $0, inputs, tokensPerPass: tokensPerPass) { _, _ in } }

        func argmax(_ values: [Float]) -> Int { values.indices.max { values[$0] < values[$1] }! }
        let choices = predicted.map(argmax)
        var perClass = labels.map { Report.ClassCount(label: $0, examples: 0, correct: 0) }
        for (choice, label) in zip(choices, wanted) {
            perClass[label].examples += 1
            if choice == label { perClass[label].correct += 1 }
        }
        let correct = zip(choices, wanted).filter { $0 == $1 }.count
        var report = Report(examples: examples.count, correct: correct, accuracy: Double(correct) / Double(examples.count),
                            perClass: perClass, truncated: truncated)
        if let referenceLogits {
            let referenceChoices = referenceLogits.map(argmax)
            report.referenceAccuracy = Double(zip(referenceChoices, wanted).filter { $0 == $1 }.count) / Double(examples.count)
            report.agreement = Double(zip(referenceChoices, choices).filter { $0 == $1 }.count) / Double(examples.count)
            report.maxLogitDifference = zip(referenceLogits, predicted).map { zip($0, $1).map { abs($0 - $1) }.max() ?? 0 }.max()
        }
        return report
    }

    /// Pooled logits of every input, in passes.
    private func logits(of model: LoadedModel, _ inputs: [[Int]], tokensPerPass: Int, progress: (Int, Int) -> Void) throws -> [[Float]] {
        var all: [[Float]] = []
        let pad = model.config.task.padTokenID ?? 0
        for range in LoadedModel.passes(over: inputs, tokensPerPass: tokensPerPass) {
            let batch = try PaddedBatch(padding: Array(inputs[range]), side: .right, padID: pad)
            all += try model.network.classifySequences(batch).map(\.logits)
            progress(range.upperBound, inputs.count)
        }
        return all
    }
}

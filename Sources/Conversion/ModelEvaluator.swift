import Foundation
import GPT2
import Generation
import Runtime

/// Perplexity of a model on a text with a sliding window, and, against a reference model, how far its next-token
/// distributions are from the reference's: what a quantized file costs.
///
/// The windows are those of Hugging Face's perplexity guide: windows of `contextLength` tokens starting every
/// `stride` tokens; each window scores only the tokens the previous one did not (the first window scores all
/// but its first token), and each window's mean loss is weighted by its scored-token count minus one, as the
/// guide's code does (`num_valid_tokens - batch_size`), so the result equals that code's output exactly.
/// Logits are computed `chunk` positions at a time through the KV cache, so memory stays at
/// chunk × vocabulary floats even for 1024-token windows.
public struct ModelEvaluator {
    public let model: LoadedModel
    public let reference: LoadedModel?

    public init(model: LoadedModel, reference: LoadedModel? = nil) {
        self.model = model
        self.reference = reference
    }

    /// What an evaluation measured.
    public struct Report: Sendable {
        /// exp(weighted mean negative log-likelihood), as the guide computes it.
        public var perplexity: Double
        /// Tokens scored (over all windows).
        public var scoredTokens: Int
        public var windows: Int
        /// The reference model's perplexity on the same windows, when there is one.
        public var referencePerplexity: Double?
        /// Mean and largest KL(reference ‖ model) per scored position, in nats.
        public var meanKL: Double?
        public var maxKL: Double?
        /// Share of scored positions where both pick the same most likely token.
        public var top1Agreement: Double?
        /// Mean share of the reference's five most likely tokens that are among the model's five.
        public var top5Overlap: Double?
        /// Largest |logit − reference logit| over every scored position and token.
        public var maxLogitError: Double?
    }

    public enum EvaluationError: Error, CustomStringConvertible, Equatable {
        case textTooShort(tokens: Int)
        case invalidWindow(String)
        case vocabularyMismatch(model: Int, reference: Int)

        public var description: String {
            switch self {
            case .textTooShort(let tokens): return "the text has \(tokens) token(s); at least 2 are needed to score one"
            case .invalidWindow(let message): return message
            case .vocabularyMismatch(let model, let reference):
                return "the model's vocabulary has \(model) tokens but the reference's has \(reference); they must be the same model family"
            }
        }
    }

    /// Evaluates on `tokens` with windows of `contextLength` (at most the model's) every `stride` tokens.
    /// `progress(done, total)` counts scored tokens.
    public func evaluate(tokens: [Int], contextLength: Int? = nil, stride: Int? = nil, chunk: Int = 64,
                         progress: (Int, Int) -> Void = { _, _ in }) throws -> Report {
        guard tokens.count >= 2 else { throw EvaluationError.textTooShort(tokens: tokens.count) }
        let window = contextLength ?? model.config.contextLength
        let step = stride ?? max(1, window / 2)
        guard window >= 2, window <= model.config.contextLength else {
            throw EvaluationError.invalidWindow("the window must be between 2 and the model's context (\(model.config.contextLength)), got \(window)")
        }
        if let reference, window > reference.config.contextLength {
            throw EvaluationError.invalidWindow("the window (\(window)) is longer than the reference's context (\(reference.config.contextLength))")
        }
        guard step >= 1, step <= window else { throw EvaluationError.invalidWindow("the stride must be between 1 and the window (\(window)), got \(step)") }
        if let reference, reference.config.vocabularySize != model.config.vocabularySize {
            throw EvaluationError.vocabularyMismatch(model: model.config.vocabularySize, reference: reference.config.vocabularySize)
        }

        var statistics = Statistics()
        var weightedLoss = 0.0, weightedReferenceLoss = 0.0, weight = 0
        var previousEnd = 0, windows = 0, totalScored = 0
        var begin = 0
        while begin < tokens.count {
            let end = min(begin + window, tokens.count)
            let targetCount = end - previousEnd
            let ids = Array(tokens[begin..<end])
            // Positions p predict ids[p + 1]; those with p + 1 ≥ ids.count − targetCount are scored.
            let firstScored = max(ids.count - targetCount, 1) - 1
            let cache = model.network.makeCache(), referenceCache = reference?.network.makeCache()
            var loss = 0.0, referenceLoss = 0.0, scored = 0
            var start = 0
            while start < ids.count - 1 {
                let piece = Array(ids[start..<min(start + chunk, ids.count - 1)])
                let logits = try model.network.forward(tokens: piece, cache: cache, logits: .allPositions)
                let referenceLogits = try referenceCache.map { try reference!.network.forward(tokens: piece, cache: $0, logits: .allPositions) }
                let vocabulary = model.config.vocabularySize
                for offset in 0..<piece.count where start + offset >= firstScored {
                    let target = ids[start + offset + 1]
                    let row = logits[(offset * vocabulary)..<((offset + 1) * vocabulary)]
                    loss -= Self.logSoftmax(row, at: target)
                    if let referenceLogits {
                        let referenceRow = referenceLogits[(offset * vocabulary)..<((offset + 1) * vocabulary)]
                        referenceLoss -= Self.logSoftmax(referenceRow, at: target)
                        statistics.add(model: row, reference: referenceRow)
                    }
                    scored += 1
                }
                start += piece.count
            }
            windows += 1
            totalScored += scored
            let guideWeight = (end - previousEnd) - 1   // the guide's num_valid_tokens − batch_size
            weightedLoss += loss / Double(scored) * Double(guideWeight)
            weightedReferenceLoss += referenceLoss / Double(scored) * Double(guideWeight)
            weight += guideWeight
            progress(end, tokens.count)
            previousEnd = end
            if end == tokens.count { break }
            begin += step
        }
        var report = Report(perplexity: exp(weightedLoss / Double(weight)), scoredTokens: totalScored, windows: windows)
        if reference != nil {
            report.referencePerplexity = exp(weightedReferenceLoss / Double(weight))
            report.meanKL = statistics.klSum / Double(statistics.positions)
            report.maxKL = statistics.maxKL
            report.top1Agreement = Double(statistics.sameTop1) / Double(statistics.positions)
            report.top5Overlap = statistics.top5Sum / Double(statistics.positions)
            report.maxLogitError = statistics.maxLogitError
        }
        return report
    }

    /// log softmax(row)[target], in Double.
    static func logSoftmax(_ row: ArraySlice<Float>, at target: Int) -> Double {
        Double(row[row.startIndex + target]) - LogitsProcessors.logSumExp(row)
    }

    /// Running comparison of the model's and the reference's distributions.
    struct Statistics {
        var positions = 0
        var klSum = 0.0, maxKL = 0.0
        var sameTop1 = 0
        var top5Sum = 0.0
        var maxLogitError = 0.0

        mutating func add(model: ArraySlice<Float>, reference: ArraySlice<Float>) {
            let p = Self.logProbabilities(reference), q = Self.logProbabilities(model)
            var kl = 0.0
            for i in p.indices where p[i] > -.infinity { kl += Foundation.exp(p[i]) * (p[i] - q[i]) }
            klSum += kl
            maxKL = max(maxKL, kl)
            let modelTop = Self.top(model, 5), referenceTop = Self.top(reference, 5)
            if modelTop.first == referenceTop.first { sameTop1 += 1 }
            top5Sum += Double(Set(modelTop).intersection(referenceTop).count) / Double(referenceTop.count)
            for (a, b) in zip(model, reference) { maxLogitError = max(maxLogitError, Double(abs(a - b))) }
            positions += 1
        }

        static func logProbabilities(_ row: ArraySlice<Float>) -> [Double] {
            let shift = LogitsProcessors.logSumExp(row)
            return row.map { Double($0) - shift }
        }

        /// Indices (from 0) of the k largest values, largest first; ties to the lower index.
        static func top(_ row: ArraySlice<Float>, _ k: Int) -> [Int] {
            LogitsProcessors.largestIndices(Array(row), count: k)
        }
    }
}
